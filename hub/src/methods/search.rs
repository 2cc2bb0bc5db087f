//! `search(terms, type, matchType, queryOpts=None)`: what `koji search` calls.

use super::common::{QueryOpts, paged_value};
use crate::ctx::Ctx;
use crate::domain::search::{self, EMPTY_KINDS, Kind, Match, SEARCH_ORDER};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::registry::Registry;
use crate::signature::Args;
use koji_protocol::{Value, kstruct};

async fn search_call(c: &mut Ctx, a: Args) -> HResult<Value> {
    let terms = a.str(0)?.to_string();
    let kind = a.str(1)?.to_string();
    let how = match a.val(2).as_str() {
        Some("glob") => Match::Like,
        Some("regexp") => Match::Regex,
        // as Koji: anything else is an exact match
        _ => Match::Exact,
    };
    let qo = QueryOpts::parse(a.val(3), SEARCH_ORDER)?;
    if terms.is_empty() {
        return Err(HubError::generic("empty search terms"));
    }
    let Some(kind) = Kind::parse(&kind) else {
        if EMPTY_KINDS.contains(&kind.as_str()) {
            // kkoji holds no maven or Windows archives (and Koji no longer searches files)
            return Ok(qo.apply(Vec::new(), 0));
        }
        return Err(HubError::generic(format!("No such search type: {kind}")));
    };
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = search::search(c, kind, how, &terms, &page).await?;
    Ok(paged_value(
        rows,
        |(id, name)| kstruct! { "id" => id, "name" => name },
    ))
}

pub fn register(r: &mut Registry) {
    r.add(
        "search",
        "terms, type, matchType, queryOpts=None",
        "Ids and names of packages, builds, tags, targets, users, hosts or rpms matching terms \
         (matchType: glob, regexp, or exact for anything else).",
        handler!(search_call),
    );
}
