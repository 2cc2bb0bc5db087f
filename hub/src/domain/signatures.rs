//! RPM signatures: a signer's header kept beside the build (`import-sig`), the signed copy
//! written from it (`write-signed-rpm`), and their removal (`remove-sig`).
//!
//! Koji's layout, relative to a build's directory (`packages/<n>/<v>/<r>`, or the same
//! under `vol/<volume>/` for a build on another volume):
//! `data/sigcache/<key>/<arch>/<nvra>.rpm.sig` holds the header and
//! `data/signed/<key>/<arch>/<nvra>.rpm` the copy. Rows first, files last, and every file
//! reached through [`safefs`] (no symlink under the topdir is followed).

use crate::ctx::Ctx;
use crate::domain::builds::{self, Build, BuildRef, Rpm, RpmRef};
use crate::error::{HResult, HubError};
use crate::rpmsig::{self, Parts, SigError, SigFacts};
use crate::safefs::{self, at};
use crate::storage::signatures as store;
use crate::storage::volumes::DEFAULT_NAME;
use crate::storage::{Page, Paged};
use md5::{Digest, Md5};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub use crate::storage::signatures::{RpmSig, SIG_ORDER};

/// A build's directory relative to the topdir, on the volume its files are on.
pub fn build_rel(b: &Build) -> PathBuf {
    let base = if b.volume_name == DEFAULT_NAME {
        PathBuf::new()
    } else {
        Path::new("vol").join(&b.volume_name)
    };
    base.join("packages")
        .join(&b.name)
        .join(&b.version)
        .join(&b.release)
}

fn nvra(r: &Rpm) -> String {
    format!("{}-{}-{}.{}", r.name, r.version, r.release, r.arch)
}

/// `<arch>/<nvra>.rpm`, Koji's `pathinfo.rpm`.
fn rpm_file(r: &Rpm) -> PathBuf {
    Path::new(&r.arch).join(format!("{}.rpm", nvra(r)))
}

/// The RPM itself, relative to the topdir.
pub fn rpm_rel(b: &Build, r: &Rpm) -> PathBuf {
    build_rel(b).join(rpm_file(r))
}

/// Where the signature header made with `key` is kept, relative to the topdir.
pub fn sighdr_rel(b: &Build, r: &Rpm, key: &str) -> PathBuf {
    build_rel(b)
        .join("data/sigcache")
        .join(key)
        .join(&r.arch)
        .join(format!("{}.rpm.sig", nvra(r)))
}

/// Where the copy signed with `key` is written, relative to the topdir.
pub fn signed_rel(b: &Build, r: &Rpm, key: &str) -> PathBuf {
    build_rel(b).join("data/signed").join(key).join(rpm_file(r))
}

/// A key id as Koji files it: lower-case hex, 1 to 64 digits.
pub fn check_key(key: &str) -> HResult<String> {
    let k = key.to_ascii_lowercase();
    if k.is_empty() || k.len() > 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HubError::generic(format!(
            "Invalid signature key: {}",
            crate::pyrepr::repr(&koji_protocol::Value::from(key))
        )));
    }
    Ok(k)
}

/// The internal RPM named by `r` and its build; "No such rpm" or "Not an internal rpm".
pub async fn internal_rpm(c: &mut Ctx, r: &RpmRef, shown: &str) -> HResult<(Rpm, Build)> {
    let rpm = builds::find_rpm(c, r)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such rpm: {shown}")))?;
    let Some(build_id) = rpm.build_id.filter(|_| rpm.external_repo_id == 0) else {
        return Err(HubError::generic(format!(
            "Not an internal rpm: {shown} (from an external repo)"
        )));
    };
    let b = builds::require(c, &BuildRef::Id(build_id), &build_id.to_string()).await?;
    Ok((rpm, b))
}

fn tree(c: &Ctx) -> HResult<safefs::Tree> {
    safefs::Tree::open(&c.hub().config.topdir)
}

/// Lead, signature header and main header of an imported RPM's file.
fn rpm_parts(tree: &safefs::Tree, b: &Build, r: &Rpm) -> HResult<Parts> {
    let rel = rpm_rel(b, r);
    let mut f = tree
        .file(&rel)
        .map_err(|_| HubError::generic(format!("Missing rpm file for {}", nvra(r))))?;
    rpmsig::read_parts(&mut f).map_err(|e| {
        tracing::error!(path = %rel.display(), error = %e, "unreadable imported rpm");
        HubError::generic(format!("Unreadable rpm file for {}", nvra(r)))
    })
}

fn sig_refusal(r: &Rpm, e: SigError) -> HubError {
    match e {
        SigError::Bad(m) => {
            HubError::generic(format!("Invalid signature header for {}: {m}", nvra(r)))
        }
        SigError::Io(e) => {
            tracing::error!(rpm = %nvra(r), error = %e, "reading a signature header");
            HubError::generic(format!("cannot read the signature header of {}", nvra(r)))
        }
    }
}

fn fs_error(what: &str, rel: &Path, e: nix::errno::Errno) -> HubError {
    tracing::error!(path = %rel.display(), error = %e, "{what}");
    HubError::generic(format!("{what} failed"))
}

/// Write `data` as the file `rel` (directories made), replacing what was there.
fn write_file(tree: &safefs::Tree, rel: &Path, data: &[u8]) -> HResult<()> {
    let (dir, name) = split(rel);
    let d = tree
        .mkdirs(dir)
        .map_err(|e| fs_error("writing the signature header", rel, e))?;
    at::replace_with(&d, name, &mut |f| std::io::Write::write_all(f, data))
        .map_err(|e| fs_error("writing the signature header", rel, e))
}

fn split(rel: &Path) -> (&Path, &OsStr) {
    (
        rel.parent().unwrap_or(Path::new("")),
        rel.file_name().unwrap_or(OsStr::new(".")),
    )
}

/// What the signature header says, checked against the RPM it is for.
pub fn check_header(parts: &Parts, r: &Rpm, sighdr: &[u8]) -> HResult<SigFacts> {
    let new = rpmsig::facts(parts, sighdr).map_err(|e| sig_refusal(r, e))?;
    let own = rpmsig::facts(parts, &parts.sighdr).map_err(|e| sig_refusal(r, e))?;
    // Koji's check: the header's MD5 of header and payload is the RPM's payloadhash
    if let Some(m) = &new.md5
        && !r.payloadhash.starts_with("sha256::")
        && *m != r.payloadhash
    {
        return Err(HubError::generic(format!("wrong md5 for {}: {m}", nvra(r))));
    }
    rpmsig::check_same_package(&own, &new).map_err(|m| {
        HubError::generic(format!("Signature header does not match {}: {m}", nvra(r)))
    })?;
    Ok(new)
}

/// Record a signer's header for an RPM and keep it under `data/sigcache/` (addRPMSig).
/// A header without a signature is refused: kkoji keeps no "unsigned" entries.
/// With `label`, the signature is filed under that key id instead of the one read from the
/// header (Koji 1.36.1's `--sigkey`: one key, several kinds of signature).
pub async fn add(
    c: &mut Ctx,
    r: &RpmRef,
    shown: &str,
    sighdr: &[u8],
    label: Option<&str>,
) -> HResult<String> {
    let label = label.map(check_key).transpose()?;
    let (rpm, b) = internal_rpm(c, r, shown).await?;
    let tree = tree(c)?;
    if !tree.is_dir(&build_rel(&b)) {
        return Err(HubError::generic(format!(
            "No such directory for build {}",
            b.nvr()
        )));
    }
    let parts = rpm_parts(&tree, &b, &rpm)?;
    let facts = check_header(&parts, &rpm, sighdr)?;
    let Some(key) = label.or(facts.key) else {
        return Err(HubError::generic(format!(
            "The signature header for {} carries no signature",
            nvra(&rpm)
        )));
    };
    store_header(c, &tree, &b, &rpm, &key, sighdr).await?;
    Ok(key)
}

/// The row, then the file (a failed write fails the call, which rolls the row back).
async fn store_header(
    c: &mut Ctx,
    tree: &safefs::Tree,
    b: &Build,
    rpm: &Rpm,
    key: &str,
    sighdr: &[u8],
) -> HResult<()> {
    let sighash = hex::encode(Md5::digest(sighdr));
    c.mark_write();
    store::insert(c.db().await?, rpm.id, key, &sighash)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => HubError::generic(format!(
                "Signature already exists for package {}, key {key}",
                nvra(rpm)
            )),
            _ => HubError::Db(e),
        })?;
    write_file(tree, &sighdr_rel(b, rpm, key), sighdr)?;
    tracing::info!(rpm = %nvra(rpm), key, "signature imported");
    Ok(())
}

/// The signature an RPM file carries, read before it is imported: (key, header bytes),
/// None when it is not signed. Koji records the header an imported RPM came with.
pub fn own_signature(file: &std::fs::File, what: &str) -> HResult<Option<(String, Vec<u8>)>> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    let parts = f
        .seek(SeekFrom::Start(0))
        .map_err(SigError::Io)
        .and_then(|_| rpmsig::read_parts(&mut f))
        .and_then(|p| rpmsig::facts(&p, &p.sighdr).map(|facts| (facts, p)));
    match parts {
        Ok((facts, p)) => Ok(facts.key.map(|k| (k, p.sighdr))),
        Err(SigError::Bad(m)) => Err(HubError::generic(format!(
            "Invalid signature header in {what}: {m}"
        ))),
        Err(SigError::Io(e)) => {
            tracing::error!(file = what, error = %e, "reading an upload");
            Err(HubError::generic(format!("cannot read {what}")))
        }
    }
}

/// Record the signature an imported RPM came with (see [`own_signature`]).
pub async fn add_own(c: &mut Ctx, b: &Build, rpm: &Rpm, key: &str, sighdr: &[u8]) -> HResult<()> {
    let tree = tree(c)?;
    store_header(c, &tree, b, rpm, key, sighdr).await
}

/// queryRPMSigs: an RPM's signatures and/or a key's.
pub async fn query(
    c: &mut Ctx,
    rpm: Option<i32>,
    sigkey: Option<&str>,
    page: &Page,
) -> HResult<Paged<RpmSig>> {
    let key = sigkey.map(str::to_ascii_lowercase);
    Ok(store::query(c.db().await?, rpm, key.as_deref(), page).await?)
}

/// The stored signature header of an RPM for `key`, if one is on record (for dist-repo and
/// getRPMHeaders): its bytes as kept under `data/sigcache/`.
pub async fn stored_header(
    c: &mut Ctx,
    b: &Build,
    rpm: &Rpm,
    key: &str,
) -> HResult<Option<Vec<u8>>> {
    let key = key.to_ascii_lowercase();
    if store::sighash(c.db().await?, rpm.id, &key).await?.is_none() {
        return Ok(None);
    }
    let rel = sighdr_rel(b, rpm, &key);
    let tree = tree(c)?;
    let (dir, name) = split(&rel);
    let d = tree
        .dir(Some(dir))
        .map_err(|e| fs_error("reading the signature header", &rel, e))?;
    at::read(&d, name)
        .map(Some)
        .map_err(|e| fs_error("reading the signature header", &rel, e))
}

/// What the signature header of an RPM says: the one stored for `key`, or (None) the one
/// the RPM file carries. None when no header is on record for that key.
pub async fn header_facts(
    c: &mut Ctx,
    b: &Build,
    rpm: &Rpm,
    key: Option<&str>,
) -> HResult<Option<SigFacts>> {
    let stored = match key {
        Some(k) => match stored_header(c, b, rpm, k).await? {
            Some(h) => Some(h),
            None => return Ok(None),
        },
        None => None,
    };
    let tree = tree(c)?;
    let parts = rpm_parts(&tree, b, rpm)?;
    let hdr = stored.as_deref().unwrap_or(&parts.sighdr);
    rpmsig::facts(&parts, hdr)
        .map(Some)
        .map_err(|e| sig_refusal(rpm, e))
}

/// writeSignedRPM: the RPM with the stored header for `key` spliced in, written under
/// `data/signed/<key>/` (atomically). An existing copy is kept unless `force`.
pub async fn write_signed(
    c: &mut Ctx,
    r: &RpmRef,
    shown: &str,
    key: &str,
    force: bool,
) -> HResult<()> {
    let key = check_key(key)?;
    let (rpm, b) = internal_rpm(c, r, shown).await?;
    let Some(sighdr) = stored_header(c, &b, &rpm, &key).await? else {
        return Err(HubError::generic(format!(
            "No cached signature for package {}, key {key}",
            nvra(&rpm)
        )));
    };
    let tree = tree(c)?;
    let out = signed_rel(&b, &rpm, &key);
    let src_rel = rpm_rel(&b, &rpm);
    let what = nvra(&rpm);
    tokio::task::spawn_blocking(move || -> HResult<()> {
        let (dir, name) = split(&out);
        let d = tree
            .mkdirs(dir)
            .map_err(|e| fs_error("writing the signed copy", &out, e))?;
        if !force && at::stat(&d, name).is_ok_and(|st| at::is_file(&st)) {
            return Ok(());
        }
        let mut src = tree
            .file(&src_rel)
            .map_err(|_| HubError::generic(format!("Missing rpm file for {what}")))?;
        let mut failure = None;
        let written = at::replace_with(&d, name, &mut |f| {
            let mut w = std::io::BufWriter::new(f);
            let res = rpmsig::splice(&mut src, &sighdr, &mut w)
                .and_then(|_| std::io::Write::flush(&mut w).map_err(SigError::Io));
            res.map_err(|e| {
                let io = std::io::Error::other(e.to_string());
                failure = Some(e);
                io
            })
        });
        match (written, failure) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(SigError::Bad(m))) => Err(HubError::generic(format!(
                "cannot write a signed copy of {what}: {m}"
            ))),
            (Err(e), _) => Err(fs_error("writing the signed copy", &out, e)),
        }
    })
    .await
    .map_err(|e| HubError::generic(format!("writing the signed copy failed: {e}")))??;
    tracing::info!(rpm = %nvra(&rpm), key, "signed copy written");
    Ok(())
}

/// deleteRPMSig: forget an RPM's signature(s) for one key or all; the signed copies are
/// removed and each header is kept aside as `<file>.<sighash>.save`, as Koji does.
pub async fn delete(
    c: &mut Ctx,
    r: &RpmRef,
    shown: &str,
    key: Option<&str>,
    all: bool,
) -> HResult<()> {
    let key = match (all, key) {
        (true, _) => None,
        (false, Some(k)) if !k.is_empty() => Some(k.to_ascii_lowercase()),
        (false, _) => return Err(HubError::generic("No signature specified")),
    };
    let (rpm, b) = internal_rpm(c, r, shown).await?;
    let found = store::query(
        c.db().await?,
        Some(rpm.id),
        key.as_deref(),
        &Page::default(),
    )
    .await?
    .into_rows();
    if found.is_empty() {
        return Err(HubError::generic(format!(
            "{} has no matching signatures to delete",
            nvra(&rpm)
        )));
    }
    let keys: Vec<String> = found.iter().map(|s| s.sigkey.clone()).collect();
    c.mark_write();
    store::delete(c.db().await?, rpm.id, &keys).await?;
    let tree = tree(c)?;
    for s in &found {
        let rel = signed_rel(&b, &rpm, &s.sigkey);
        let (dir, name) = split(&rel);
        if let Ok(d) = tree.dir(Some(dir)) {
            at::remove(&d, name).map_err(|e| fs_error("removing the signed copy", &rel, e))?;
        }
    }
    for s in &found {
        let rel = sighdr_rel(&b, &rpm, &s.sigkey);
        let (dir, name) = split(&rel);
        let Ok(d) = tree.dir(Some(dir)) else {
            tracing::warn!(path = %rel.display(), "missing signature header");
            continue;
        };
        let save = format!("{}.{}.save", name.to_string_lossy(), s.sighash);
        match at::rename_noreplace(&d, name, OsStr::new(&save)) {
            Ok(()) => {}
            Err(nix::errno::Errno::ENOENT) => {
                tracing::warn!(path = %rel.display(), "missing signature header");
            }
            // the same header was set aside before (an earlier deletion of the same header)
            Err(nix::errno::Errno::EEXIST) => {
                at::remove(&d, name)
                    .map_err(|e| fs_error("removing the signature header", &rel, e))?;
            }
            Err(e) => return Err(fs_error("setting the signature header aside", &rel, e)),
        }
    }
    tracing::warn!(rpm = %nvra(&rpm), keys = ?keys, "signatures deleted");
    Ok(())
}

/// renameRPMSig: file an RPM's signature under another key id: the row, then the stored
/// header and the signed copy (if any) moved to the new key's directories.
pub async fn rename(c: &mut Ctx, r: &RpmRef, shown: &str, old: &str, new: &str) -> HResult<()> {
    let (old, new) = (check_key(old)?, check_key(new)?);
    let (rpm, b) = internal_rpm(c, r, shown).await?;
    let db = c.db().await?;
    if store::sighash(db, rpm.id, &new).await?.is_some() {
        return Err(HubError::generic(format!(
            "A signature with key {new} already exists for {}",
            nvra(&rpm)
        )));
    }
    c.mark_write();
    if !store::rename(c.db().await?, rpm.id, &old, &new).await? {
        return Err(HubError::generic(format!(
            "No signature with key {old} for {}",
            nvra(&rpm)
        )));
    }
    let tree = tree(c)?;
    for (from, to, required) in [
        (sighdr_rel(&b, &rpm, &old), sighdr_rel(&b, &rpm, &new), true),
        (
            signed_rel(&b, &rpm, &old),
            signed_rel(&b, &rpm, &new),
            false,
        ),
    ] {
        let (fdir, fname) = split(&from);
        let Ok(fd) = tree.dir(Some(fdir)) else {
            if required {
                tracing::warn!(path = %from.display(), "missing signature header");
            }
            continue;
        };
        if at::stat(&fd, fname).is_err() {
            continue;
        }
        let (tdir, tname) = split(&to);
        let td = tree
            .mkdirs(tdir)
            .map_err(|e| fs_error("renaming the signature", &to, e))?;
        at::move_noreplace(&fd, fname, &td, tname)
            .map_err(|e| fs_error("renaming the signature", &to, e))?;
    }
    tracing::warn!(rpm = %nvra(&rpm), old, new, "signature renamed");
    Ok(())
}
