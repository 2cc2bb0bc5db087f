//! `search`: ids and names of one kind of thing matching a pattern, the way Koji matches
//! them (a build by its NVR, an RPM by its file name, tags and targets that exist now).

use super::{Conn, Page, Paged, Result};
use sqlx::Row;

/// What is searched, and how its name reads in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Package,
    Build,
    Tag,
    Target,
    User,
    Host,
    Rpm,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "package" => Kind::Package,
            "build" => Kind::Build,
            "tag" => Kind::Tag,
            "target" => Kind::Target,
            "user" => Kind::User,
            "host" => Kind::Host,
            "rpm" => Kind::Rpm,
            _ => return None,
        })
    }

    /// (FROM clause, id expression, name expression). Each name expression is the one
    /// migration 0011 indexes lowered (text_pattern_ops), so a glob with a literal prefix
    /// is a range scan of that index; a build's NVR is kept on its row for that.
    fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Package => ("package x", "x.id", "x.name"),
            Kind::Build => ("build x", "x.id", "x.nvr"),
            Kind::Tag => (
                "tag x JOIN tag_config c ON c.tag_id = x.id AND c.active",
                "x.id",
                "x.name",
            ),
            Kind::Target => (
                "build_target x JOIN build_target_config c ON c.build_target_id = x.id AND c.active",
                "x.id",
                "x.name",
            ),
            Kind::User => ("users x", "x.id", "x.name"),
            Kind::Host => ("host x", "x.id", "x.name"),
            Kind::Rpm => (
                "rpminfo x",
                "x.id",
                "(x.name || '-' || x.version || '-' || x.release || '.' || x.arch || '.rpm')",
            ),
        }
    }
}

/// How the pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// A LIKE pattern (already translated from the glob), case-insensitive.
    Like,
    /// A POSIX regular expression, case-insensitive.
    Regex,
    Exact,
}

/// Ordering by the answer's two fields.
pub const SEARCH_ORDER: &[(&str, &str)] = &[("id", "id"), ("name", "name")];

/// Rows `{id, name}` of `kind` whose name matches `pattern`; one page.
pub async fn search(
    db: &mut Conn,
    kind: Kind,
    how: Match,
    pattern: &str,
    page: &Page,
) -> Result<Paged<(i32, String)>> {
    let (from, id, name) = kind.sql();
    // ILIKE as lower() LIKE lower(): the same match, in the form the indexes answer; an
    // exact match also compares the lowered text first, for the same reason
    let cond = match how {
        Match::Like => format!("lower({name}) LIKE lower($1)"),
        Match::Regex => format!("{name} ~* $1"),
        Match::Exact => format!("lower({name}) = lower($1) AND {name} = $1"),
    };
    let base = format!("SELECT {id} AS id, {name} AS name FROM {from} WHERE {cond}");
    let q = sqlx::query(sqlx::AssertSqlSafe(page.sql(&base, "id"))).bind(pattern.to_string());
    page.fetch(db, q, |r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .await
}
