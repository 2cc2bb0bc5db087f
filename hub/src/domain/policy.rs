//! Named policies, as Koji's hub evaluates them for builders (`host.assertPolicy`,
//! `host.checkPolicy`, `host.evalPolicy`). kkoji has no policy language yet: each known policy
//! is one fixed rule, the same rule the hub itself applies where it checks that policy
//! (`build` from an SRPM, SCM sources). A policy that is not known here behaves as Koji's
//! default `MissingPolicyOk = True`: allowed, with the reason "missing policy".

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use koji_protocol::{Struct, Value};

/// The outcome of a policy: `allow` or `deny`, with a reason a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allow: bool,
    pub reason: String,
}

impl Verdict {
    /// The action string Koji's `evalPolicy` returns ("allow", "deny <reason>").
    pub fn action(&self) -> String {
        let word = if self.allow { "allow" } else { "deny" };
        if self.reason.is_empty() {
            word.to_string()
        } else {
            format!("{word} {}", self.reason)
        }
    }
}

/// The user a policy is about: `user_id` in the data, else the caller (Koji's
/// `policy_get_user`).
async fn policy_user(c: &mut Ctx, data: &Struct) -> HResult<Option<i32>> {
    match data.get("user_id") {
        // an id no user can have is nobody (denied), never some other user
        Some(Value::Int(id)) => Ok(i32::try_from(*id).ok()),
        Some(Value::Nil) | None => Ok(c.user_id()),
        Some(_) => Err(HubError::parameter("policy data user_id must be an int")),
    }
}

async fn user_has(c: &mut Ctx, user: i32, perms: &[&str]) -> HResult<bool> {
    super::users::has_any_perm(c, user, perms).await
}

/// Evaluate policy `name` on `data`; None when kkoji has no such policy.
pub async fn evaluate(c: &mut Ctx, name: &str, data: &Struct) -> HResult<Option<Verdict>> {
    let allow = |reason: &str| Verdict {
        allow: true,
        reason: reason.to_string(),
    };
    let deny = |reason: &str| Verdict {
        allow: false,
        reason: reason.to_string(),
    };
    Ok(Some(match name {
        "build_rpm" => allow(""),
        "build_from_srpm" => match policy_user(c, data).await? {
            Some(u) if user_has(c, u, &["admin", "build"]).await? => allow(""),
            _ => deny("non-scratch builds from an SRPM require the build permission"),
        },
        "build_from_repo_id" => match policy_user(c, data).await? {
            Some(u) if user_has(c, u, &["admin"]).await? => allow(""),
            _ => deny("only admins may build from a repo id"),
        },
        "build_from_scm" => deny("building from SCM is not enabled on this hub"),
        // kkoji's fixed `tag` rule (see domain/tagging.rs)
        "tag" => match policy_user(c, data).await? {
            Some(u) => match super::tagging::policy_rule_for_data(c, u, data).await? {
                Some(Ok(())) => allow(""),
                Some(Err(reason)) => deny(&reason),
                None => deny("unknown tag operation"),
            },
            None => deny("no user"),
        },
        _ => return Ok(None),
    }))
}

/// Koji's `check_policy`: the verdict, a missing policy allowed; with `strict` a denial is
/// ActionNotAllowed "policy violation (NAME): REASON".
pub async fn check(c: &mut Ctx, name: &str, data: &Struct, strict: bool) -> HResult<Verdict> {
    let v = evaluate(c, name, data).await?.unwrap_or(Verdict {
        allow: true,
        reason: "missing policy".into(),
    });
    if !v.allow && strict {
        let mut msg = format!("policy violation ({name})");
        if !v.reason.is_empty() {
            msg.push_str(": ");
            msg.push_str(&v.reason);
        }
        return Err(HubError::not_allowed(msg));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::Verdict;

    #[test]
    fn actions_read_as_koji_writes_them() {
        let a = Verdict {
            allow: true,
            reason: String::new(),
        };
        assert_eq!(a.action(), "allow");
        let d = Verdict {
            allow: false,
            reason: "no SCM".into(),
        };
        assert_eq!(d.action(), "deny no SCM");
    }
}
