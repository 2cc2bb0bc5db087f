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

    /// (FROM clause, id expression, name expression).
    fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Package => ("package x", "x.id", "x.name"),
            Kind::Build => (
                "build b JOIN package p ON p.id = b.pkg_id",
                "b.id",
                "p.name || '-' || b.version || '-' || b.release",
            ),
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
                "x.name || '-' || x.version || '-' || x.release || '.' || x.arch || '.rpm'",
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
    let op = match how {
        Match::Like => "ILIKE",
        Match::Regex => "~*",
        Match::Exact => "=",
    };
    let base = format!(
        "SELECT * FROM (SELECT {id} AS id, {name} AS name FROM {from}) s WHERE s.name {op} $1"
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(page.sql(&base, "id"))).bind(pattern.to_string());
    page.fetch(db, q, |r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .await
}
