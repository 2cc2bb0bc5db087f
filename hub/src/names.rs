//! Name rules of Koji: what may be stored as a tag/target/host/user name or an arch.

use crate::error::{HResult, HubError};

fn name_error(what: &str, name: &str) -> crate::error::HubError {
    HubError::Name(format!("Name {name} does not match {what}"))
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

/// A Kerberos principal for a user (Koji checks it against the same RegexUserName).
pub fn check_principal(principal: &str) -> HResult<()> {
    check_user(principal).map_err(|_| {
        HubError::Name(format!(
            "Kerberos principal {principal} does not match RegexUserName value"
        ))
    })
}

/// Why an RPM name, version, release or arch may not be stored or used in a path (Koji's
/// `check_NVRA` rules plus the character sets RPM itself allows): these strings become
/// directory and file names under the topdir, so no `/`, no leading `.`, nothing exotic.
pub fn nvra_problem(name: &str, version: &str, release: &str, arch: &str) -> Option<String> {
    let part = |what: &str, v: &str, extra: &str| -> Option<String> {
        if v.is_empty() || v.len() > 256 {
            return Some(format!("invalid {what}: empty or too long"));
        }
        if v.starts_with('.') || v.starts_with('-') {
            return Some(format!(
                "invalid {what} {v:?}: may not start with '.' or '-'"
            ));
        }
        if !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        {
            return Some(format!(
                "invalid {what} {v:?}: characters outside [A-Za-z0-9{extra}]"
            ));
        }
        None
    };
    part("name", name, "_.+-")
        .or_else(|| part("version", version, "._+~^"))
        .or_else(|| part("release", release, "._+~^"))
        .or_else(|| part("arch", arch, "_"))
}

/// [`nvra_problem`] as a fault, for NVRs that come in as call arguments.
pub fn check_nvr(name: &str, version: &str, release: &str) -> HResult<()> {
    match nvra_problem(name, version, release, "noarch") {
        Some(p) => Err(HubError::Name(p)),
        None => Ok(()),
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
            return Err(HubError::generic(format!("Invalid architecture: {a}")));
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

    #[test]
    fn nvras_follow_koji() {
        assert!(nvra_problem("foo-bar", "1.2~rc1", "1.fc40", "x86_64").is_none());
        assert!(nvra_problem("../../x", "1", "1", "src").is_some());
        assert!(nvra_problem(".hidden", "1", "1", "src").is_some());
        assert!(nvra_problem("a", "1/2", "1", "src").is_some());
        assert!(nvra_problem("a", "1", "1/..", "src").is_some());
        assert!(nvra_problem("a", "1-2", "1", "src").is_some());
        assert!(nvra_problem("a", "1", "1", "x86.64").is_some());
        assert!(nvra_problem("a", "..", "1", "src").is_some());
    }
}
