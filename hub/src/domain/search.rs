//! `koji search`: Koji's glob (case-insensitive, `*` and `?`), regexp and exact matching.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::storage::search as store;
use crate::storage::{Page, Paged};

pub use crate::storage::search::{Kind, Match, SEARCH_ORDER};

/// The search types Koji knows but kkoji has nothing of: they answer no rows.
pub const EMPTY_KINDS: &[&str] = &["maven", "win", "file"];

/// Ids and names of `kind` matching `terms`. A regular expression PostgreSQL cannot
/// compile is the caller's error (ParameterError), not the database's.
pub async fn search(
    c: &mut Ctx,
    kind: Kind,
    how: Match,
    terms: &str,
    page: &Page,
) -> HResult<Paged<(i32, String)>> {
    // empty terms are refused by the handler, before the type (Koji's order)
    if terms.len() > 1000 {
        return Err(HubError::parameter("search pattern too long"));
    }
    let pattern = match how {
        Match::Like => super::glob_to_like(terms),
        Match::Regex | Match::Exact => terms.to_string(),
    };
    match store::search(c.db().await?, kind, how, &pattern, page).await {
        Ok(rows) => Ok(rows),
        // PostgreSQL's own verdict on the pattern: the caller's error, not the database's
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(INVALID_REGEX) => Err(
            HubError::parameter(format!("Invalid regular expression: {terms}")),
        ),
        Err(e) => Err(e.into()),
    }
}

/// SQLSTATE invalid_regular_expression.
const INVALID_REGEX: &str = "2201B";
