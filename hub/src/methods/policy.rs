//! `host.assertPolicy`, `host.checkPolicy`, `host.evalPolicy`: builders ask the hub whether
//! a task may proceed (the stock kojid asks `build_from_srpm`, `build_rpm`,
//! `build_from_repo_id` and `build_from_scm`). The rules are in [`crate::policy`].

use super::host_api::verify;
use crate::ctx::Ctx;
use crate::domain::policy;
use crate::error::{HResult, HubError};
use crate::signature::Args;
use koji_protocol::{Struct, Value};

fn data(a: &Args, i: usize) -> HResult<Struct> {
    match a.val(i) {
        Value::Struct(s) => Ok(s.clone()),
        Value::Nil => Ok(Struct::new()),
        _ => Err(HubError::parameter("policy data must be a dict")),
    }
}

/// host.assertPolicy(name, data, default='deny'): None, or ActionNotAllowed.
pub async fn assert_policy(c: &mut Ctx, a: Args) -> HResult<Value> {
    verify(c).await?;
    let name = a.str(0)?.to_string();
    policy::check(c, &name, &data(&a, 1)?, true).await?;
    Ok(Value::Nil)
}

/// host.checkPolicy(name, data, default='deny', strict=False) -> [allowed, reason]
pub async fn check_policy(c: &mut Ctx, a: Args) -> HResult<Value> {
    verify(c).await?;
    let name = a.str(0)?.to_string();
    let v = policy::check(c, &name, &data(&a, 1)?, a.truthy(3)).await?;
    Ok(Value::Array(vec![
        Value::Bool(v.allow),
        Value::String(v.reason),
    ]))
}

/// host.evalPolicy(name, data) -> the action ("allow", "deny REASON"); an unknown policy is a
/// GenericError, as in Koji.
pub async fn eval_policy(c: &mut Ctx, a: Args) -> HResult<Value> {
    verify(c).await?;
    let name = a.str(0)?.to_string();
    match policy::evaluate(c, &name, &data(&a, 1)?).await? {
        Some(v) => Ok(Value::String(v.action())),
        None => Err(HubError::generic(format!("no such policy: {name}"))),
    }
}
