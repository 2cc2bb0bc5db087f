//! Name rules of Koji: what may be stored as a tag/target/host/user name or an arch.

use crate::error::HResult;
use koji_protocol::{Fault, codes};

fn name_error(what: &str, name: &str) -> crate::error::HubError {
    Fault::new(
        codes::NAME_VALIDATION,
        format!("Name {name} does not match {what}"),
    )
    .into()
}

/// Internal names (tags, targets, external repos, packages, channels).
pub fn check_internal(name: &str) -> HResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(name_error("RegexNameInternal", name))
    }
}

pub fn check_user(name: &str) -> HResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(name_error("RegexUserName", name))
    }
}

/// Accepts comma and/or space separated arches and returns them space-joined, as Koji
/// stores and returns them.
pub fn parse_arches(text: &str) -> HResult<String> {
    let arches: Vec<&str> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|a| !a.is_empty())
        .collect();
    for a in &arches {
        if !a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Fault::generic(format!("Invalid architecture: {a}")).into());
        }
    }
    Ok(arches.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arches_normalized() {
        assert_eq!(
            parse_arches("x86_64, noarch  i686").unwrap(),
            "x86_64 noarch i686"
        );
        assert!(parse_arches("x86_64;rm").is_err());
    }

    #[test]
    fn internal_names() {
        assert!(check_internal("f40-build").is_ok());
        assert!(check_internal("bad name").is_err());
        assert!(check_internal("").is_err());
        assert!(check_user("alice@EXAMPLE.COM").is_ok());
    }
}
