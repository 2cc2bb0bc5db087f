//! RPM signatures: addRPMSig (`import-sig`), queryRPMSigs (`list-signed`,
//! `download-build --key`, `prune-signed-copies`), writeSignedRPM (`write-signed-rpm`),
//! renameRPMSig (`rename-sig`), deleteRPMSig (`remove-sig`).

use super::common::{QueryOpts, paged_value, rpm_ref};
use crate::ctx::Ctx;
use crate::domain::builds::{self, RpmRef};
use crate::domain::signatures::{self, RpmSig, SIG_ORDER};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::registry::Registry;
use crate::signature::Args;
use base64::Engine;
use koji_protocol::{Value, kstruct};

/// The signature methods, as one block of the method table.
pub fn register(r: &mut Registry) {
    r.add(
        "addRPMSig",
        "an_rpm, data, sigkey=None",
        "Store a signature header (base64) for an rpm; the key id is read from it. [sign]",
        handler!(add_rpm_sig),
    );
    r.add(
        "queryRPMSigs",
        "rpm_id=None, sigkey=None, queryOpts=None",
        "Signatures of RPMs: rpm_id, sigkey, sighash.",
        handler!(query_rpm_sigs),
    );
    r.add(
        "writeSignedRPM",
        "an_rpm, sigkey, force=False",
        "Write a signed copy of an rpm from its stored signature header. [sign]",
        handler!(write_signed_rpm),
    );
    r.add(
        "renameRPMSig",
        "rpminfo, oldkey, newkey",
        "File an rpm's signature under another key id. [admin]",
        handler!(rename_rpm_sig),
    );
    r.add(
        "deleteRPMSig",
        "rpminfo, sigkey=None, all_sigs=False",
        "Delete an rpm's signature(s) and signed copies. [admin]",
        handler!(delete_rpm_sig),
    );
}

fn sig_value(s: RpmSig) -> Value {
    kstruct! {
        "rpm_id" => s.rpm_id,
        "sigkey" => s.sigkey,
        "sighash" => s.sighash,
    }
}

fn shown(v: &Value) -> String {
    crate::pyrepr::repr(v)
}

/// addRPMSig(an_rpm, data)
async fn add_rpm_sig(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("sign").await?;
    let r = rpm_ref(a.val(0))?;
    let data = match a.val(1) {
        Value::String(s) => {
            let clean: String = s.chars().filter(|ch| !ch.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|_| HubError::generic("Invalid signature data: not base64"))?
        }
        Value::Base64(b) => b.clone(),
        other => {
            return Err(HubError::parameter(format!(
                "Invalid signature data: {}",
                crate::pyrepr::repr(other)
            )));
        }
    };
    let label = a.opt_str(2)?.map(str::to_string);
    signatures::add(c, &r, &shown(a.val(0)), &data, label.as_deref()).await?;
    Ok(Value::Nil)
}

/// queryRPMSigs(rpm_id=None, sigkey=None, queryOpts=None): an RPM named otherwise than by
/// id that does not exist has no signatures.
async fn query_rpm_sigs(c: &mut Ctx, a: Args) -> HResult<Value> {
    let qo = QueryOpts::parse(a.val(2), SIG_ORDER)?;
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rpm = match a.val(0) {
        Value::Nil => None,
        Value::Int(_) => match rpm_ref(a.val(0))? {
            RpmRef::Id(id) => Some(id),
            RpmRef::Nvra(_) => None,
        },
        v => match builds::find_rpm(c, &rpm_ref(v)?).await? {
            Some(r) => Some(r.id),
            None => return Ok(Value::Array(vec![])),
        },
    };
    let sigkey = a.opt_str(1)?;
    let rows = signatures::query(c, rpm, sigkey, &page).await?;
    Ok(paged_value(rows, sig_value))
}

/// writeSignedRPM(an_rpm, sigkey, force=False)
async fn write_signed_rpm(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("sign").await?;
    let r = rpm_ref(a.val(0))?;
    let key = a.str(1)?.to_string();
    signatures::write_signed(c, &r, &shown(a.val(0)), &key, a.truthy(2)).await?;
    Ok(Value::Nil)
}

/// deleteRPMSig(rpminfo, sigkey=None, all_sigs=False): admin only (`sign` is not enough).
async fn delete_rpm_sig(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let r = rpm_ref(a.val(0))?;
    let key = a.opt_str(1)?.map(str::to_string);
    signatures::delete(c, &r, &shown(a.val(0)), key.as_deref(), a.truthy(2)).await?;
    Ok(Value::Nil)
}

/// renameRPMSig(rpminfo, oldkey, newkey): admin only.
async fn rename_rpm_sig(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let r = rpm_ref(a.val(0))?;
    let (old, new) = (a.str(1)?.to_string(), a.str(2)?.to_string());
    signatures::rename(c, &r, &shown(a.val(0)), &old, &new).await?;
    Ok(Value::Nil)
}
