//! RPMs built elsewhere (`koji import`): createEmptyBuild and importRPM.

use super::builds::{build_value, rpm_value};
use crate::ctx::Ctx;
use crate::domain::imports;
use crate::domain::users::{self, UserRef};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::registry::Registry;
use crate::signature::{Args, value_ident};
use koji_protocol::Value;

/// The import methods, as one block of the method table.
pub fn register(r: &mut Registry) {
    r.add(
        "createEmptyBuild",
        "name, version, release, epoch, owner=None, draft=False",
        "Create a COMPLETE build without files (for imports); returns its id. [admin]",
        handler!(create_empty_build),
    );
    r.add(
        "importRPM",
        "path, basename, sigkey=None",
        "Import an uploaded RPM (work/<path>/<basename>) into its build. [admin]",
        handler!(import_rpm),
    );
}

/// An epoch as a client sends it: None, an int, or the digits of one.
fn epoch(v: &Value) -> HResult<Option<i32>> {
    let n = match v {
        Value::Nil => return Ok(None),
        Value::Int(n) => *n,
        Value::String(s) if s.is_empty() || s == "None" => return Ok(None),
        Value::String(s) => s
            .parse::<i64>()
            .map_err(|_| HubError::parameter(format!("Invalid epoch: {s:?}")))?,
        other => {
            return Err(HubError::parameter(format!(
                "Invalid epoch: {}",
                crate::pyrepr::repr(other)
            )));
        }
    };
    i32::try_from(n)
        .ok()
        .filter(|e| *e >= 0)
        .map(Some)
        .ok_or_else(|| HubError::parameter(format!("Invalid epoch: {n}")))
}

/// createEmptyBuild(name, version, release, epoch, owner=None, draft=False)
async fn create_empty_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    if a.truthy(5) {
        return Err(HubError::generic("kkoji does not make draft builds"));
    }
    let (name, version, release) = (a.str(0)?, a.str(1)?, a.str(2)?);
    let (name, version, release) = (name.to_string(), version.to_string(), release.to_string());
    let ep = epoch(a.val(3))?;
    let owner = match a.val(4) {
        Value::Nil => None,
        v => {
            let ident = match v {
                Value::Struct(s) => s
                    .get("id")
                    .or_else(|| s.get("name"))
                    .map(|x| value_ident(x, "owner"))
                    .transpose()?
                    .ok_or_else(|| HubError::generic("Invalid owner: need id or name"))?,
                other => value_ident(other, "owner")?,
            };
            let shown = crate::pyrepr::repr(v);
            Some(users::require_user(c, &UserRef::Ident(ident), &shown).await?)
        }
    };
    let id = imports::create_empty_build(c, &name, &version, &release, ep, owner).await?;
    Ok(Value::Int(i64::from(id)))
}

/// importRPM(path, basename): the rpm record, with its build under `build`.
async fn import_rpm(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let dir = a.str(0)?.to_string();
    let base = a.str(1)?.to_string();
    let sigkey = a.opt_str(2)?.map(str::to_string);
    let (rpm, build) = imports::import_rpm(c, &dir, &base, sigkey.as_deref()).await?;
    let mut v = rpm_value(&rpm);
    if let Value::Struct(m) = &mut v {
        m.insert("build".into(), build_value(&build));
    }
    Ok(v)
}
