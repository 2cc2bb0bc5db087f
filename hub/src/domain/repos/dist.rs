//! Dist repos (`koji dist-repo`): a published, signed yum repo of a tag under
//! `repos-dist/<tag>/<id>/<arch>/` (Koji's layout: `Packages/<first letter>/<rpm>`,
//! `repodata/`, `kojipkgs`, `pkglist`), with `groups/comps.xml` beside the arches.
//!
//! The split of work is Koji's, so the stock kojid can make them too: [`init`] writes the
//! row (INIT, `dist`) and the directories, a builder's `createdistrepo` subtasks choose
//! the RPMs (signed copies by key preference) and write each arch's repodata, and
//! [`move_arch`] (host.distRepoMove) checks what they chose against the database and links
//! the RPMs into place. `host.repoDone` then marks the repo READY and moves `latest`.
//!
//! Dist repos are snapshots somebody asked for: nothing expires, deletes or regenerates
//! them as build repos (the queue, end events and kkoji-repo-regen all skip `dist`).

use super::state;
use crate::ctx::Ctx;
use crate::domain::tags::canon_arch;
use crate::domain::{Named, get, groups, signatures};
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::dist_repos as dstore;
use crate::storage::repos as store;
use crate::topdir;
use koji_protocol::{Struct, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `repos-dist/<tag>/<id>` relative to the topdir.
pub fn rel_dir(tag_name: &str, id: i32) -> PathBuf {
    Path::new("repos-dist").join(tag_name).join(id.to_string())
}

/// What kkoji does not do in a dist repo, as a fault naming the feature (checked before
/// anything is written, so a refused call leaves nothing behind).
pub fn refuse_unsupported(opts: &Struct) -> HResult<()> {
    let set = |k: &str| opts.get(k).is_some_and(Value::is_truthy);
    if set("multilib") {
        return Err(HubError::generic(
            "kkoji does not make multilib dist repos (--multilib)",
        ));
    }
    if set("delta") {
        return Err(HubError::generic(
            "kkoji does not make delta RPMs (--delta-rpms)",
        ));
    }
    if set("zck") || set("zck_dict_dir") {
        return Err(HubError::generic(
            "kkoji does not write zchunk repodata (--zck)",
        ));
    }
    if set("split_debuginfo") {
        return Err(HubError::generic(
            "kkoji does not split debuginfo into separate dist repos (--split-debuginfo)",
        ));
    }
    match opts.get("volume") {
        None | Some(Value::Nil) => {}
        Some(Value::String(v)) if v == "DEFAULT" => {}
        Some(v) => {
            return Err(HubError::generic(format!(
                "kkoji writes dist repos on the DEFAULT volume only (--volume {})",
                crate::pyrepr::repr(v)
            )));
        }
    }
    Ok(())
}

/// The signing keys of a request: lowercase hex key ids, as rpmsigs stores them.
pub fn check_keys(keys: &[String]) -> HResult<Vec<String>> {
    keys.iter()
        .map(|k| {
            let k = k.to_ascii_lowercase();
            if k.is_empty() || k.len() > 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
                Err(HubError::parameter(format!(
                    "Invalid signing key id: {k:?}"
                )))
            } else {
                Ok(k)
            }
        })
        .collect()
}

/// An arch becomes a directory name: letters, digits and `_` only.
fn valid_arch(a: &str) -> bool {
    !a.is_empty() && a.len() <= 64 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The arches of a request (`arch` option, canonical, deduplicated, sorted).
fn arches_of(opts: &Struct) -> HResult<Vec<String>> {
    let list = match opts.get("arch") {
        Some(Value::Array(a)) => a,
        _ => {
            return Err(HubError::parameter(
                "dist repo options need an arch list ('arch')",
            ));
        }
    };
    let mut out = BTreeSet::new();
    for v in list {
        let a = v
            .as_str()
            .ok_or_else(|| HubError::parameter("arches must be strings"))?;
        if !valid_arch(a) {
            return Err(HubError::parameter(format!("Invalid arch: {a:?}")));
        }
        out.insert(canon_arch(a).to_string());
    }
    if out.is_empty() {
        return Err(HubError::generic("No arches specified"));
    }
    Ok(out.into_iter().collect())
}

fn io_fault(what: &str, path: &Path, e: std::io::Error) -> HubError {
    tracing::error!(path = %path.display(), error = %e, "cannot {what} a dist repo file");
    HubError::generic(format!("cannot {what} a dist repo file: {}", e.kind()))
}

/// Write a file atomically (temp file in the same directory, fsync, rename).
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// What [`init`] made.
pub struct Init {
    pub repo_id: i32,
    pub event: i64,
    pub tag_name: String,
}

/// Koji's dist_repo_init: the INIT dist repo row at the asked event (default: now), its
/// arch directories, `groups/comps.xml` (the uploaded `--comps` file, else the tag's own
/// groups when it has any) and `repo.json`.
pub async fn init(c: &mut Ctx, tag: &Ident, keys: &[String], opts: &Struct) -> HResult<Init> {
    let (tag_id, tag_name) = get(c, Named::Tag, tag).await?;
    if tag_name.contains('/') || tag_name == "." || tag_name == ".." {
        return Err(HubError::generic(format!(
            "tag name {tag_name:?} cannot be a repo directory name"
        )));
    }
    refuse_unsupported(opts)?;
    let arches = arches_of(opts)?;
    let event = match opts.get("event") {
        None | Some(Value::Nil) => c.event().await?,
        Some(v) => {
            let e = v
                .as_i64()
                .ok_or_else(|| HubError::parameter("event must be an int"))?;
            crate::domain::events::require(c, e).await?;
            e
        }
    };
    // the --comps upload is read before anything is written
    let comps = match opts.get("comps") {
        None | Some(Value::Nil) => None,
        Some(Value::String(rel)) => {
            let tree = crate::safefs::Tree::open(&c.hub().config.topdir)?;
            // relative to work/, where `koji dist-repo --comps` uploaded it
            let input = tree.upload_input(rel)?;
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut &input.file, &mut data)
                .map_err(|e| io_fault("read", &input.rel, e))?;
            Some(data)
        }
        Some(_) => return Err(HubError::parameter("comps must be a path")),
    };
    let comps = match comps {
        Some(d) => Some(d),
        None => {
            let g = groups::for_repo(c, tag_id, event).await?;
            (!g.is_empty()).then(|| groups::comps_xml(&g, false).into_bytes())
        }
    };
    c.mark_write();
    let repo_id = store::insert_dist(c.db().await?, event, tag_id).await?;
    let dir = c.hub().config.topdir.join(rel_dir(&tag_name, repo_id));
    for a in &arches {
        let p = dir.join(a);
        std::fs::create_dir_all(&p).map_err(|e| io_fault("create", &p, e))?;
    }
    if let Some(data) = comps {
        let g = dir.join("groups");
        std::fs::create_dir_all(&g).map_err(|e| io_fault("create", &g, e))?;
        let p = g.join("comps.xml");
        write_atomic(&p, &data).map_err(|e| io_fault("write", &p, e))?;
    }
    let mut task_opts = serde_json::Map::new();
    for (k, v) in opts {
        task_opts.insert(k.clone(), json_of(v));
    }
    let json = serde_json::json!({
        "id": repo_id,
        "tag": tag_name,
        "tag_id": tag_id,
        "keys": keys,
        "volume": serde_json::Value::Null,
        "task_opts": task_opts,
    });
    let p = dir.join("repo.json");
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    write_atomic(&p, text.as_bytes()).map_err(|e| io_fault("write", &p, e))?;
    tracing::info!(repo = repo_id, tag = %tag_name, event, ?arches, ?keys, "dist repo initialized");
    Ok(Init {
        repo_id,
        event,
        tag_name,
    })
}

/// A wire value as JSON (repo.json records the request as it was made).
fn json_of(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Double(d) => serde_json::Value::from(*d),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(json_of).collect()),
        Value::Struct(s) => {
            serde_json::Value::Object(s.iter().map(|(k, v)| (k.clone(), json_of(v))).collect())
        }
        other => serde_json::Value::String(crate::pyrepr::repr(other)),
    }
}

/// The task that makes the repo: a failed or canceled one puts it in PROBLEM.
pub async fn set_task(c: &mut Ctx, repo: i32, task: i32) -> HResult<()> {
    c.mark_write();
    Ok(store::set_task(c.db().await?, repo, task).await?)
}

/// The signature keys of each of `rpms` (listTaggedRPMS with `rpmsigs`).
pub async fn sigkeys_of(c: &mut Ctx, rpms: &[i32]) -> HResult<Vec<(i32, String)>> {
    Ok(dstore::sigkeys_of(c.db().await?, rpms).await?)
}

/// One RPM a createdistrepo task chose, as its `kojipkgs` file names it.
struct Chosen {
    file: String,
    src: PathBuf,
}

fn field_i64(m: &serde_json::Map<String, serde_json::Value>, k: &str) -> Option<i64> {
    m.get(k).and_then(serde_json::Value::as_i64)
}

fn field_str<'a>(m: &'a serde_json::Map<String, serde_json::Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(serde_json::Value::as_str)
}

/// host.distRepoMove: the arch's uploaded files (`repo_manifest` names them; repodata,
/// `kojipkgs`, `pkglist`) go under `repos-dist/<tag>/<id>/<arch>/`, and every RPM of
/// `kojipkgs` — checked against the database, its signature key against rpmsigs — is
/// linked (or copied across file systems) into `Packages/<first letter>/`. Everything is
/// checked before anything is written.
pub async fn move_arch(c: &mut Ctx, repo_id: i32, upload: &Path, arch: &str) -> HResult<()> {
    let Some(repo) = super::get(c, repo_id).await? else {
        return Err(HubError::generic(format!("No such repo: {repo_id}")));
    };
    if !repo.row.dist {
        return Err(HubError::generic(format!(
            "Repo {repo_id} is not a dist repo"
        )));
    }
    if repo.row.state != state::INIT {
        return Err(HubError::generic(format!(
            "Repo is in state: {}",
            super::state_name(repo.row.state)
        )));
    }
    let arch = canon_arch(arch).to_string();
    if !valid_arch(&arch) {
        return Err(HubError::parameter(format!("Invalid arch: {arch:?}")));
    }
    let topdir = c.hub().config.topdir.clone();
    let arch_rel = rel_dir(&repo.row.tag_name, repo_id).join(&arch);
    let tree = crate::safefs::Tree::open(&topdir)?;
    if !tree.is_dir(&arch_rel) {
        return Err(HubError::generic(format!(
            "Repo arch directory missing: {arch}"
        )));
    }
    let read_json = |name: &str| -> HResult<serde_json::Value> {
        let rel = upload.join(name);
        let input = tree
            .host_input(&rel.to_string_lossy(), &[upload.to_path_buf()])
            .map_err(|_| HubError::generic(format!("Missing {name} file")))?;
        if input.moved_to.is_some() {
            return Err(HubError::generic(format!("Not a regular file: {name}")));
        }
        serde_json::from_reader(&input.file)
            .map_err(|e| HubError::generic(format!("{name} is not valid JSON: {e}")))
    };
    let manifest = read_json("repo_manifest")?;
    let kojipkgs = read_json("kojipkgs")?;
    let files: Vec<PathBuf> = manifest
        .as_array()
        .ok_or_else(|| HubError::generic("repo_manifest must be a list of files"))?
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| HubError::generic("repo_manifest must be a list of files"))
                .and_then(topdir::clean_relative)
        })
        .collect::<HResult<_>>()?;
    let mut inputs = Vec::with_capacity(files.len());
    for f in &files {
        if f.starts_with("Packages") {
            return Err(HubError::generic(format!(
                "uploaded file may not go under Packages/: {}",
                f.display()
            )));
        }
        let rel = upload.join(f);
        let input = tree
            .host_input(&rel.to_string_lossy(), &[upload.to_path_buf()])
            .map_err(|_| HubError::generic(format!("uploaded file missing: {}", f.display())))?;
        if input.moved_to.is_some() {
            return Err(HubError::generic(format!(
                "Not a regular file: {}",
                f.display()
            )));
        }
        inputs.push((f.clone(), input));
    }
    let pkgs = kojipkgs
        .as_object()
        .ok_or_else(|| HubError::generic("kojipkgs must be a dict"))?;
    let mut chosen = Vec::with_capacity(pkgs.len());
    for (file, info) in pkgs {
        let bad = |why: &str| HubError::generic(format!("kojipkgs entry {file}: {why}"));
        let m = info.as_object().ok_or_else(|| bad("not a dict"))?;
        let id = field_i64(m, "id")
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| bad("no rpm id"))?;
        let Some(rpm) = crate::storage::builds::rpm_by_id(c.db().await?, id).await? else {
            return Err(bad("no such rpm"));
        };
        let Some(build_id) = rpm.build_id else {
            return Err(bad("the rpm belongs to no build"));
        };
        let same = field_str(m, "name") == Some(&rpm.name)
            && field_str(m, "version") == Some(&rpm.version)
            && field_str(m, "release") == Some(&rpm.release)
            && field_str(m, "arch") == Some(&rpm.arch)
            && field_str(m, "payloadhash") == Some(&rpm.payloadhash)
            && field_i64(m, "size") == Some(rpm.size)
            && field_i64(m, "build_id") == Some(i64::from(build_id))
            && field_i64(m, "epoch") == rpm.epoch.map(i64::from);
        if !same {
            return Err(bad("does not match the database"));
        }
        let nvra = format!("{}-{}-{}.{}", rpm.name, rpm.version, rpm.release, rpm.arch);
        if *file != format!("{nvra}.rpm") {
            return Err(bad("the file name is not the rpm's"));
        }
        let Some(build) = crate::storage::builds::get(c.db().await?, build_id).await? else {
            return Err(bad("no such build"));
        };
        // on the build's volume, as the signatures code files them
        let src = match field_str(m, "sigkey").filter(|k| !k.is_empty()) {
            None => topdir.join(signatures::rpm_rel(&build, &rpm)),
            Some(key) => {
                let key = key.to_ascii_lowercase();
                if !dstore::has_sig(c.db().await?, id, &key).await? {
                    return Err(bad(&format!("no signature with key {key}")));
                }
                topdir.join(signatures::signed_rel(&build, &rpm, &key))
            }
        };
        chosen.push(Chosen {
            file: file.clone(),
            src,
        });
    }
    let arch_dir = topdir.join(&arch_rel);
    for ch in &chosen {
        let letter = ch.file.chars().next().unwrap_or('_').to_ascii_lowercase();
        let dst = arch_dir
            .join("Packages")
            .join(letter.to_string())
            .join(&ch.file);
        if std::fs::symlink_metadata(&dst).is_ok() {
            return Err(HubError::generic(format!(
                "File already in repo: {}",
                ch.file
            )));
        }
        if !ch.src.is_file() {
            return Err(HubError::generic(format!(
                "rpm file missing: {}",
                ch.src.strip_prefix(&topdir).unwrap_or(&ch.src).display()
            )));
        }
    }
    // the uploaded files: copied from the descriptors opened above (small metadata)
    for (f, input) in &inputs {
        let dst = arch_dir.join(f);
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p).map_err(|e| io_fault("create", p, e))?;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut &input.file, &mut data)
            .map_err(|e| io_fault("read", &input.rel, e))?;
        write_atomic(&dst, &data).map_err(|e| io_fault("write", &dst, e))?;
    }
    for ch in &chosen {
        let letter = ch.file.chars().next().unwrap_or('_').to_ascii_lowercase();
        let ddir = arch_dir.join("Packages").join(letter.to_string());
        std::fs::create_dir_all(&ddir).map_err(|e| io_fault("create", &ddir, e))?;
        let dst = ddir.join(&ch.file);
        if let Err(e) = std::fs::hard_link(&ch.src, &dst) {
            if e.raw_os_error() != Some(nix::libc::EXDEV) {
                return Err(io_fault("link", &dst, e));
            }
            let tmp = ddir.join(format!(".{}.part", ch.file));
            std::fs::copy(&ch.src, &tmp)
                .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|()| std::fs::rename(&tmp, &dst))
                .map_err(|e| io_fault("copy", &dst, e))?;
        }
    }
    tracing::info!(repo = repo_id, arch = %arch, files = inputs.len(), rpms = chosen.len(), "dist repo arch moved into place");
    Ok(())
}

/// host.repoDone for a dist repo: its arches are already in place (distRepoMove); the
/// repo becomes READY and `repos-dist/<tag>/latest` points at it unless a newer dist repo
/// of the tag is READY already. No build repo request is fulfilled by it.
pub async fn done(c: &mut Ctx, repo: &super::Repo) -> HResult<()> {
    let repo_id = repo.row.id;
    super::set_state(c, repo_id, state::READY, None).await?;
    let newer = store::newer_ready_dist_exists(
        c.db().await?,
        repo.row.tag_id,
        repo_id,
        repo.row.create_event,
    )
    .await?;
    if !newer {
        let tagdir = c
            .hub()
            .config
            .topdir
            .join("repos-dist")
            .join(&repo.row.tag_name);
        let tmp = tagdir.join(format!(".latest-{repo_id}"));
        let _ = std::fs::remove_file(&tmp);
        if let Err(e) = std::os::unix::fs::symlink(repo_id.to_string(), &tmp)
            .and_then(|()| std::fs::rename(&tmp, tagdir.join("latest")))
        {
            tracing::warn!(repo = repo_id, error = %e, "cannot update the dist repo latest link");
        }
    }
    tracing::info!(repo = repo_id, tag = %repo.row.tag_name, "dist repo done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use koji_protocol::kstruct;

    fn s(v: Value) -> Struct {
        match v {
            Value::Struct(s) => s,
            _ => unreachable!(),
        }
    }

    #[test]
    fn refusals_name_the_feature() {
        let e = |v: Value| refuse_unsupported(&s(v)).unwrap_err().to_string();
        assert!(e(kstruct! {"multilib" => "work/x/multilib.conf"}).contains("multilib"));
        assert!(e(kstruct! {"delta" => vec![Value::Int(3)]}).contains("delta RPMs"));
        assert!(e(kstruct! {"zck" => true}).contains("zchunk"));
        assert!(e(kstruct! {"split_debuginfo" => true}).contains("debuginfo"));
        assert!(e(kstruct! {"volume" => "other"}).contains("DEFAULT volume"));
        // the CLI's defaults pass
        refuse_unsupported(&s(kstruct! {
            "multilib" => Value::Nil, "delta" => Value::Array(vec![]), "zck" => false,
            "split_debuginfo" => false, "volume" => Value::Nil,
        }))
        .unwrap();
    }

    #[test]
    fn keys_and_arches() {
        assert_eq!(
            check_keys(&["ABCD1234".into()]).unwrap(),
            vec!["abcd1234".to_string()]
        );
        assert!(check_keys(&["xyz".into()]).is_err());
        assert!(check_keys(&["".into()]).is_err());
        let a = arches_of(&s(kstruct! {"arch" => vec![
            Value::from("x86_64"), Value::from("i686"), Value::from("x86_64"), Value::from("src"),
        ]}))
        .unwrap();
        assert_eq!(a, vec!["i386", "src", "x86_64"]);
        assert!(arches_of(&s(kstruct! {"arch" => Value::Array(vec![])})).is_err());
        assert!(arches_of(&s(kstruct! {"arch" => vec![Value::from("../x")]})).is_err());
    }
}
