//! `queryHistory`: the versions of every versioned table, with the columns and names Koji's
//! history shows for each (the stock CLI's `list-history` prints from those keys). Each
//! table is described once below; the query is assembled from those constants and binds
//! every value the caller gave.

use super::{Conn, Page, Paged, Result, load_value};
use crate::ident::Ident;
use chrono::{DateTime, Utc};
use koji_protocol::{Struct, Value};
use sqlx::Row;

/// How a selected column becomes a wire value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Int,
    BigInt,
    Bool,
    Text,
    Float,
    /// kkoji's stored free-form value (XML-RPC text), shown as Koji stores it: JSON text.
    JsonText,
    /// kkoji's stored free-form value, shown as the value itself (Koji's JSONB column).
    Value,
}

/// One selected column: SQL expression, the answer's key, its type.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub expr: &'static str,
    pub alias: &'static str,
    pub kind: Col,
}

const fn f(expr: &'static str, alias: &'static str, kind: Col) -> Field {
    Field { expr, alias, kind }
}

/// The table-specific filters of queryHistory (each applies to some tables only; a table a
/// given filter does not apply to is left out of the answer, as Koji does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Tag,
    Build,
    Package,
    User,
    Permission,
    Host,
    Channel,
    ExternalRepo,
    BuildTarget,
    Group,
    Cg,
    Xkey,
}

/// A versioned table as queryHistory reads it.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// False for a table Koji has and kkoji does not (its history is always empty).
    pub present: bool,
    /// Columns after the common ones, in Koji's order.
    pub fields: &'static [Field],
    /// Joins for the names (after the common joins).
    pub joins: &'static str,
    /// Filters that apply, each with its clause (`?` is the bound value).
    pub filters: &'static [(Filter, &'static str)],
    /// Default order after create_event: the table's key columns.
    pub key: &'static str,
}

impl Table {
    pub fn applies(&self, filter: Filter) -> bool {
        self.filters.iter().any(|(f, _)| *f == filter)
    }

    /// The answer's keys a caller may order by, with their SQL expressions.
    pub fn order_columns(&self) -> Vec<(&'static str, &'static str)> {
        COMMON
            .iter()
            .chain(self.fields)
            .map(|f| (f.alias, f.expr))
            .collect()
    }
}

/// Columns every versioned table answers first (`T` is the table's alias).
const COMMON: &[Field] = &[
    f("T.active", "active", Col::Bool),
    f("T.create_event", "create_event", Col::BigInt),
    f("T.revoke_event", "revoke_event", Col::BigInt),
    f("T.creator_id", "creator_id", Col::Int),
    f("T.revoker_id", "revoker_id", Col::Int),
    f("creator.name", "creator_name", Col::Text),
    f("revoker.name", "revoker_name", Col::Text),
    f("date_part('epoch', ev1.time)", "create_ts", Col::Float),
    f("date_part('epoch', ev2.time)", "revoke_ts", Col::Float),
];

/// Lookups in big tables (events, builds) are LATERAL subqueries the planner may not flatten
/// (`OFFSET 0`): one index probe per selected row, whatever the planner estimates. A
/// selective question (one tag's history) must not hash a whole table it touches a
/// thousandth of; that plan won on a 100k-build farm and took 40 ms.
const COMMON_JOINS: &str = "JOIN LATERAL (SELECT e.time FROM events e WHERE e.id = T.create_event OFFSET 0) ev1 ON TRUE \
     LEFT JOIN LATERAL (SELECT e.time FROM events e WHERE e.id = T.revoke_event OFFSET 0) ev2 ON TRUE \
     LEFT JOIN users creator ON creator.id = T.creator_id \
     LEFT JOIN users revoker ON revoker.id = T.revoker_id";

/// Every history table Koji knows, in Koji's (sorted) order.
pub static TABLES: &[Table] = &[
    Table {
        name: "build_target_config",
        present: true,
        fields: &[
            f("T.build_target_id", "build_target_id", Col::Int),
            f("build_target.name", "build_target.name", Col::Text),
            f("T.build_tag", "build_tag", Col::Int),
            f("build_tag.name", "build_tag.name", Col::Text),
            f("T.dest_tag", "dest_tag", Col::Int),
            f("dest_tag.name", "dest_tag.name", Col::Text),
        ],
        joins: "LEFT JOIN build_target ON build_target.id = T.build_target_id \
                LEFT JOIN tag build_tag ON build_tag.id = T.build_tag \
                LEFT JOIN tag dest_tag ON dest_tag.id = T.dest_tag",
        // Koji's --tag matches the destination tag only here (its last tag join wins)
        filters: &[
            (Filter::BuildTarget, "T.build_target_id = ?"),
            (Filter::Tag, "T.dest_tag = ?"),
        ],
        key: "T.build_target_id",
    },
    Table {
        name: "cg_users",
        present: false,
        fields: &[],
        joins: "",
        filters: &[(Filter::User, "FALSE"), (Filter::Cg, "FALSE")],
        key: "",
    },
    Table {
        name: "external_repo_config",
        present: true,
        fields: &[
            f("T.external_repo_id", "external_repo_id", Col::Int),
            f("external_repo.name", "external_repo.name", Col::Text),
            f("T.url", "url", Col::Text),
        ],
        joins: "LEFT JOIN external_repo ON external_repo.id = T.external_repo_id",
        filters: &[(Filter::ExternalRepo, "T.external_repo_id = ?")],
        key: "T.external_repo_id",
    },
    Table {
        name: "external_repo_data",
        present: true,
        fields: &[
            f("T.external_repo_id", "external_repo_id", Col::Int),
            f("external_repo.name", "external_repo.name", Col::Text),
            f("T.data", "data", Col::Value),
        ],
        joins: "LEFT JOIN external_repo ON external_repo.id = T.external_repo_id",
        filters: &[(Filter::ExternalRepo, "T.external_repo_id = ?")],
        key: "T.external_repo_id",
    },
    Table {
        name: "group_config",
        present: true,
        fields: &[
            f("T.group_id", "group_id", Col::Int),
            f("groups.name", "group.name", Col::Text),
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
            f("T.blocked", "blocked", Col::Bool),
            f("T.exported", "exported", Col::Bool),
            f("T.display_name", "display_name", Col::Text),
            f("T.is_default", "is_default", Col::Bool),
            f("T.uservisible", "uservisible", Col::Bool),
            f("T.description", "description", Col::Text),
            f("T.langonly", "langonly", Col::Text),
            f("T.biarchonly", "biarchonly", Col::Bool),
        ],
        joins: "JOIN groups ON groups.id = T.group_id LEFT JOIN tag ON tag.id = T.tag_id",
        filters: &[
            (Filter::Group, "T.group_id = ?"),
            (Filter::Tag, "T.tag_id = ?"),
        ],
        key: "T.group_id, T.tag_id",
    },
    Table {
        name: "group_package_listing",
        present: true,
        fields: &[
            f("T.group_id", "group_id", Col::Int),
            f("groups.name", "group.name", Col::Text),
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
            f("T.package", "package", Col::Text),
            f("T.blocked", "blocked", Col::Bool),
            f("T.type", "type", Col::Text),
            f("T.basearchonly", "basearchonly", Col::Bool),
            f("T.requires", "requires", Col::Text),
        ],
        joins: "JOIN groups ON groups.id = T.group_id LEFT JOIN tag ON tag.id = T.tag_id",
        filters: &[
            (Filter::Group, "T.group_id = ?"),
            (Filter::Tag, "T.tag_id = ?"),
            // an RPM name here, not a package row: Koji compares the text
            (Filter::Package, "T.package = ?"),
        ],
        key: "T.group_id, T.tag_id, T.package",
    },
    Table {
        name: "group_req_listing",
        present: true,
        fields: &[
            f("T.group_id", "group_id", Col::Int),
            f("groups.name", "group.name", Col::Text),
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
            f("T.req_id", "req_id", Col::Int),
            f("req.name", "req.name", Col::Text),
            f("T.blocked", "blocked", Col::Bool),
            f("T.type", "type", Col::Text),
            f("T.is_metapkg", "is_metapkg", Col::Bool),
        ],
        joins: "JOIN groups ON groups.id = T.group_id LEFT JOIN tag ON tag.id = T.tag_id \
                LEFT JOIN groups req ON req.id = T.req_id",
        // Koji's --group matches the required group here (its last groups join wins)
        filters: &[
            (Filter::Group, "T.req_id = ?"),
            (Filter::Tag, "T.tag_id = ?"),
        ],
        key: "T.group_id, T.tag_id, T.req_id",
    },
    Table {
        name: "host_channels",
        present: true,
        fields: &[
            f("T.host_id", "host_id", Col::Int),
            f("host.name", "host.name", Col::Text),
            f("T.channel_id", "channel_id", Col::Int),
            f("channels.name", "channels.name", Col::Text),
        ],
        joins: "LEFT JOIN host ON host.id = T.host_id \
                LEFT JOIN channels ON channels.id = T.channel_id",
        filters: &[
            (Filter::Host, "T.host_id = ?"),
            (Filter::Channel, "T.channel_id = ?"),
        ],
        key: "T.host_id, T.channel_id",
    },
    Table {
        name: "host_config",
        present: true,
        fields: &[
            f("T.host_id", "host_id", Col::Int),
            f("host.name", "host.name", Col::Text),
            f("T.arches", "arches", Col::Text),
            f("T.capacity", "capacity", Col::Float),
            f("T.description", "description", Col::Text),
            f("T.comment", "comment", Col::Text),
            f("T.enabled", "enabled", Col::Bool),
        ],
        joins: "LEFT JOIN host ON host.id = T.host_id",
        filters: &[(Filter::Host, "T.host_id = ?")],
        key: "T.host_id",
    },
    Table {
        name: "tag_config",
        present: true,
        fields: &[
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
            f("T.arches", "arches", Col::Text),
            f("T.perm_id", "perm_id", Col::Int),
            f("permission.name", "permission.name", Col::Text),
            f("T.locked", "locked", Col::Bool),
            f("T.maven_support", "maven_support", Col::Bool),
            f("T.maven_include_all", "maven_include_all", Col::Bool),
        ],
        joins: "LEFT JOIN tag ON tag.id = T.tag_id \
                LEFT JOIN permissions permission ON permission.id = T.perm_id",
        filters: &[
            (Filter::Tag, "T.tag_id = ?"),
            (Filter::Permission, "T.perm_id = ?"),
        ],
        key: "T.tag_id",
    },
    Table {
        name: "tag_external_repos",
        present: true,
        fields: &[
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
            f("T.external_repo_id", "external_repo_id", Col::Int),
            f("external_repo.name", "external_repo.name", Col::Text),
            f("T.priority", "priority", Col::Int),
            f("T.merge_mode", "merge_mode", Col::Text),
            f("T.arches", "arches", Col::Text),
        ],
        joins: "LEFT JOIN tag ON tag.id = T.tag_id \
                LEFT JOIN external_repo ON external_repo.id = T.external_repo_id",
        filters: &[
            (Filter::Tag, "T.tag_id = ?"),
            (Filter::ExternalRepo, "T.external_repo_id = ?"),
        ],
        key: "T.tag_id, T.external_repo_id",
    },
    Table {
        name: "tag_extra",
        present: true,
        fields: &[
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
            f("T.key", "key", Col::Text),
            f("T.value", "value", Col::JsonText),
        ],
        joins: "LEFT JOIN tag ON tag.id = T.tag_id",
        filters: &[(Filter::Tag, "T.tag_id = ?"), (Filter::Xkey, "T.key = ?")],
        key: "T.tag_id, T.key",
    },
    Table {
        name: "tag_inheritance",
        present: true,
        fields: &[
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
            f("T.parent_id", "parent_id", Col::Int),
            f("parent.name", "parent.name", Col::Text),
            f("T.priority", "priority", Col::Int),
            f("T.maxdepth", "maxdepth", Col::Int),
            f("T.intransitive", "intransitive", Col::Bool),
            f("T.noconfig", "noconfig", Col::Bool),
            f("T.pkg_filter", "pkg_filter", Col::Text),
        ],
        joins: "LEFT JOIN tag ON tag.id = T.tag_id LEFT JOIN tag parent ON parent.id = T.parent_id",
        // either end of the line
        filters: &[(Filter::Tag, "(T.tag_id = ? OR T.parent_id = ?)")],
        key: "T.tag_id, T.parent_id",
    },
    Table {
        name: "tag_listing",
        present: true,
        fields: &[
            f("T.build_id", "build_id", Col::Int),
            f("build.name", "name", Col::Text),
            f("build.version", "version", Col::Text),
            f("build.release", "release", Col::Text),
            f("build.epoch", "epoch", Col::Int),
            f("build.state", "build.state", Col::Int),
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
        ],
        joins: "JOIN LATERAL (SELECT p.name, b.version, b.release, b.epoch, b.state, b.pkg_id \
                  FROM build b JOIN package p ON p.id = b.pkg_id WHERE b.id = T.build_id OFFSET 0) build ON TRUE \
                LEFT JOIN tag ON tag.id = T.tag_id",
        filters: &[
            (Filter::Build, "T.build_id = ?"),
            (Filter::Package, "build.pkg_id = ?"),
            (Filter::Tag, "T.tag_id = ?"),
        ],
        key: "T.build_id, T.tag_id",
    },
    Table {
        name: "tag_package_owners",
        present: true,
        fields: &[
            f("T.package_id", "package_id", Col::Int),
            f("package.name", "package.name", Col::Text),
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
            f("T.owner", "owner", Col::Int),
            f("owner.name", "owner.name", Col::Text),
        ],
        joins: "LEFT JOIN package ON package.id = T.package_id \
                LEFT JOIN tag ON tag.id = T.tag_id LEFT JOIN users owner ON owner.id = T.owner",
        // Koji's --user matches the owner here
        filters: &[
            (Filter::Package, "T.package_id = ?"),
            (Filter::Tag, "T.tag_id = ?"),
            (Filter::User, "T.owner = ?"),
        ],
        key: "T.package_id, T.tag_id",
    },
    Table {
        name: "tag_packages",
        present: true,
        fields: &[
            f("T.package_id", "package_id", Col::Int),
            f("package.name", "package.name", Col::Text),
            f("T.tag_id", "tag_id", Col::Int),
            f("tag.name", "tag.name", Col::Text),
            f("T.blocked", "blocked", Col::Bool),
            f("T.extra_arches", "extra_arches", Col::Text),
        ],
        joins: "LEFT JOIN package ON package.id = T.package_id LEFT JOIN tag ON tag.id = T.tag_id",
        filters: &[
            (Filter::Package, "T.package_id = ?"),
            (Filter::Tag, "T.tag_id = ?"),
        ],
        key: "T.package_id, T.tag_id",
    },
    Table {
        name: "user_groups",
        present: false,
        fields: &[],
        joins: "",
        filters: &[(Filter::User, "FALSE")],
        key: "",
    },
    Table {
        name: "user_perms",
        present: true,
        fields: &[
            f("T.user_id", "user_id", Col::Int),
            f("users.name", "user.name", Col::Text),
            f("T.perm_id", "perm_id", Col::Int),
            f("permission.name", "permission.name", Col::Text),
        ],
        joins: "LEFT JOIN users ON users.id = T.user_id \
                LEFT JOIN permissions permission ON permission.id = T.perm_id",
        filters: &[
            (Filter::User, "T.user_id = ?"),
            (Filter::Permission, "T.perm_id = ?"),
        ],
        key: "T.user_id, T.perm_id",
    },
];

/// The table Koji calls `name`, if Koji has one.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// A bound value of a filter.
#[derive(Debug, Clone)]
pub enum Arg {
    Id(Option<i32>),
    Text(String),
}

/// The filters of one query, already resolved to ids (what applies to the table is picked
/// here).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub filters: Vec<(Filter, Arg)>,
    /// Some(true): current rows; Some(false): revoked ones.
    pub active: Option<bool>,
    pub editor: Option<i32>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub after_event: Option<i64>,
    pub before_event: Option<i64>,
}

/// A value bound to the statement.
enum Bind {
    Int(Option<i32>),
    BigInt(i64),
    Text(String),
    Time(DateTime<Utc>),
}

/// Versions of `t` matching `q` (the caller checked that every filter applies), one page.
pub async fn versions(
    db: &mut Conn,
    t: &'static Table,
    q: &Query,
    page: &Page,
) -> Result<Paged<Struct>> {
    let mut binds: Vec<Bind> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    // extra (flag) columns: expression and key
    let mut flags: Vec<(String, &'static str)> = Vec::new();
    let next = |binds: &mut Vec<Bind>, b: Bind| {
        binds.push(b);
        format!("${}", binds.len())
    };
    for (filter, arg) in &q.filters {
        let Some((_, clause)) = t.filters.iter().find(|(f, _)| f == filter) else {
            continue;
        };
        let p = next(
            &mut binds,
            match arg {
                Arg::Id(i) => Bind::Int(*i),
                Arg::Text(s) => Bind::Text(s.clone()),
            },
        );
        clauses.push(clause.replace('?', &p));
    }
    match q.active {
        Some(true) => clauses.push("T.active IS TRUE".into()),
        Some(false) => clauses.push("T.active IS NULL".into()),
        None => {}
    }
    if let Some(e) = q.editor {
        let p = next(&mut binds, Bind::Int(Some(e)));
        clauses.push(format!("(T.creator_id = {p} OR T.revoker_id = {p})"));
        flags.push((format!("(creator.id = {p})"), "_created_by"));
        flags.push((format!("(revoker.id = {p})"), "_revoked_by"));
    }
    if let Some(a) = q.after {
        let p = next(&mut binds, Bind::Time(a));
        clauses.push(format!("(ev1.time > {p} OR ev2.time > {p})"));
        flags.push((format!("(ev1.time > {p})"), "_created_after"));
        flags.push((format!("(ev2.time > {p})"), "_revoked_after"));
    }
    if let Some(a) = q.after_event {
        let p = next(&mut binds, Bind::BigInt(a));
        clauses.push(format!("(T.create_event > {p} OR T.revoke_event > {p})"));
        flags.push((format!("(T.create_event > {p})"), "_created_after_event"));
        flags.push((format!("(T.revoke_event > {p})"), "_revoked_after_event"));
    }
    if let Some(b) = q.before {
        let p = next(&mut binds, Bind::Time(b));
        clauses.push(format!("(ev1.time < {p} OR ev2.time < {p})"));
        flags.push((format!("(ev1.time < {p})"), "_created_before"));
        flags.push((format!("(ev2.time < {p})"), "_revoked_before"));
    }
    if let Some(b) = q.before_event {
        let p = next(&mut binds, Bind::BigInt(b));
        clauses.push(format!("(T.create_event < {p} OR T.revoke_event < {p})"));
        flags.push((format!("(T.create_event < {p})"), "_created_before_event"));
        flags.push((format!("(T.revoke_event < {p})"), "_revoked_before_event"));
    }
    let fields: Vec<&Field> = COMMON.iter().chain(t.fields).collect();
    let mut cols: Vec<String> = fields
        .iter()
        .map(|f| format!("{} AS \"{}\"", f.expr, f.alias))
        .collect();
    cols.extend(flags.iter().map(|(e, k)| format!("{e} AS \"{k}\"")));
    let wh = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let base = format!(
        "SELECT {} FROM {} T {} {}{}",
        cols.join(", "),
        t.name,
        COMMON_JOINS,
        t.joins,
        wh
    );
    // `T` is the table's alias in the constants above; no value is ever spliced in
    let sql = page.sql(&base, &format!("T.create_event, {}", t.key));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = match b {
            Bind::Int(i) => query.bind(i),
            Bind::BigInt(i) => query.bind(i),
            Bind::Text(s) => query.bind(s),
            Bind::Time(t) => query.bind(t),
        };
    }
    // columns are read by position (fields, then flags, as selected above): a history answer
    // can be 100,000 rows, and a lookup by name hashes every column name of every row
    page.fetch(db, query, |r| {
        let mut m = Struct::with_capacity(fields.len() + flags.len());
        for (i, f) in fields.iter().enumerate() {
            m.insert(f.alias.to_string(), column(r, i, f.kind)?);
        }
        for (j, (_, k)) in flags.iter().enumerate() {
            let v: Option<bool> = r.try_get(fields.len() + j)?;
            m.insert((*k).to_string(), v.map_or(Value::Nil, Value::Bool));
        }
        Ok(m)
    })
    .await
}

/// Generic plans for the rest of this transaction's history queries. PostgreSQL keeps
/// re-planning them (its custom plan for one tag looks a hair cheaper than the generic one,
/// which is the same plan), and planning the tag_listing query cost 1-2 ms of each
/// `list-history --tag`. Every history filter is an equality on an id, so one plan fits all
/// values. Only inside a transaction (`SET LOCAL`); [`default_plans`] ends it.
pub async fn prefer_generic_plans(db: &mut Conn) -> Result<()> {
    sqlx::raw_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        .execute(db)
        .await?;
    Ok(())
}

/// Back to PostgreSQL's own choice for what else the transaction runs (a multicall's next
/// entries).
pub async fn default_plans(db: &mut Conn) -> Result<()> {
    sqlx::raw_sql("SET LOCAL plan_cache_mode TO DEFAULT")
        .execute(db)
        .await?;
    Ok(())
}

/// The id of the comps group named by `ident` (groups are not among [`super::Named`]: only
/// history looks them up by id or name).
pub async fn group_id(db: &mut Conn, ident: &Ident) -> Result<Option<i32>> {
    let q = match ident {
        Ident::Id(i) => sqlx::query_scalar("SELECT id FROM groups WHERE id = $1").bind(*i),
        Ident::Name(n) => {
            sqlx::query_scalar("SELECT id FROM groups WHERE name = $1").bind(n.clone())
        }
    };
    q.fetch_optional(db).await
}

/// Column `k` of a row as the wire value Koji sends for it.
fn column(r: &sqlx::postgres::PgRow, k: usize, kind: Col) -> Result<Value> {
    Ok(match kind {
        Col::Int => r
            .try_get::<Option<i32>, _>(k)?
            .map_or(Value::Nil, |i| Value::Int(i64::from(i))),
        Col::BigInt => r
            .try_get::<Option<i64>, _>(k)?
            .map_or(Value::Nil, Value::Int),
        Col::Bool => r
            .try_get::<Option<bool>, _>(k)?
            .map_or(Value::Nil, Value::Bool),
        Col::Text => r
            .try_get::<Option<String>, _>(k)?
            .map_or(Value::Nil, Value::String),
        Col::Float => r
            .try_get::<Option<f64>, _>(k)?
            .map_or(Value::Nil, Value::Double),
        Col::Value => r
            .try_get::<Option<String>, _>(k)?
            .map_or(Value::Nil, |s| load_value(&s)),
        Col::JsonText => r
            .try_get::<Option<String>, _>(k)?
            .map_or(Value::Nil, |s| Value::String(json_text(&load_value(&s)))),
    })
}

/// A value as JSON text (how Koji stores a tag's extra values, and shows them in history).
fn json_text(v: &Value) -> String {
    fn json(v: &Value) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            Value::Nil => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Double(d) => J::from(*d),
            Value::String(s) | Value::DateTime(s) => J::String(s.clone()),
            Value::Base64(b) => J::String(String::from_utf8_lossy(b).into_owned()),
            Value::Array(a) => J::Array(a.iter().map(json).collect()),
            Value::Struct(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), json(v))).collect()),
        }
    }
    json(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_known_once_and_sorted() {
        let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert!(table("tag_listing").is_some());
        assert!(table("nope").is_none());
    }

    #[test]
    fn extra_values_read_as_koji_stores_them() {
        assert_eq!(json_text(&Value::String("x".into())), "\"x\"");
        assert_eq!(json_text(&Value::Int(3)), "3");
        assert_eq!(json_text(&Value::Bool(true)), "true");
    }
}
