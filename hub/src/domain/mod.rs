//! The hub's rules, below the XML-RPC handlers and above the SQL: what a tag inherits, when
//! a build may be tagged, how tasks move, how repos are requested, made and published. A
//! domain function takes the call's [`Ctx`] (its transaction, event and caller) and plain
//! values, and returns records or a [`HubError`] kind; it knows nothing of argument binding,
//! XML-RPC values as answers, or faults on the wire (`methods/` does that), and nothing of
//! background loops (`background/` calls it). Its SQL is in `storage/`.

pub mod buildroots;
pub mod builds;
pub mod channels;
pub mod events;
pub mod external_repos;
pub mod groups;
pub mod history;
pub mod hosts;
pub mod imports;
pub mod notifications;
pub mod packages;
pub mod policy;
pub mod repos;
pub mod scheduler;
pub mod search;
pub mod sessions;
pub mod signatures;
pub mod tagging;
pub mod tags;
pub mod targets;
pub mod task_admin;
pub mod tasks;
pub mod uploads;
pub mod users;
pub mod volumes;

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage;

pub use crate::storage::{Named, Page, Paged};

/// (id, name) of a row named by id or name, or None.
pub async fn find(c: &mut Ctx, kind: Named, ident: &Ident) -> HResult<Option<(i32, String)>> {
    Ok(storage::find(c.db().await?, kind, ident).await?)
}

/// Like [`find`], failing with Koji's "No such …" GenericError.
pub async fn get(c: &mut Ctx, kind: Named, ident: &Ident) -> HResult<(i32, String)> {
    find(c, kind, ident)
        .await?
        .ok_or_else(|| no_such(kind, ident))
}

pub fn no_such(kind: Named, ident: &Ident) -> HubError {
    HubError::generic(format!("No such {}: {}", kind.what(), ident))
}

/// A glob pattern as SQL LIKE (fnmatch subset: `*`, `?`).
pub fn glob_to_like(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert_eq!(glob_to_like("f4*-build"), "f4%-build");
        assert_eq!(glob_to_like("a_b?"), "a\\_b_");
    }
}
