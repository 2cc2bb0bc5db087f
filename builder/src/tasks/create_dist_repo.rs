//! `createdistrepo`: one arch of a dist repo. Picks each RPM of the tag (latest builds or
//! all, through inheritance or not, at the repo's event) in the copy signed with the most
//! preferred of the asked keys, reads the RPMs straight from the topdir (as kojid does
//! over NFS), writes the repodata for `Packages/<first letter>/<rpm>` and uploads it with
//! `kojipkgs` (what was chosen, for the hub to check), `pkglist` and `repo_manifest`.
//!
//! An RPM without a signature by any asked key fails the task, naming the RPMs, unless
//! `--allow-missing-signatures` (the unsigned primary copy goes in) or
//! `--skip-missing-signatures` (it is left out); a signed copy that was never written
//! fails it too (`--write-signed-rpms` asks the hub to write them first).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use kkoji_repodata::{
    Groups, MetaCache, OnBadRpm, ReadOptions, ReadPackagesOptions, RpmFile, WriteOptions,
};
use koji_protocol::{Struct, Value};

use crate::hub::{OpenedTask, get_i64, get_str, get_truthy};
use crate::probe::on_thread;
use crate::taskdir::TaskDir;
use crate::tasks::context::{
    TaskCtx, TaskError, TaskHandles, generic, param, param_error, param_i64, param_str,
};
use crate::tasks::dist_repo::canon_arch;
use crate::tasks::files::upload_one;
use crate::tasks::repos::{FS_TIMEOUT, REPO_INIT, repo_state_name, safe_component};

/// The RPM arches that go into a repo for `arch` (kojid's compat table; noarch with
/// every binary arch, only sources in `src`).
pub fn rpm_arches(arch: &str) -> Vec<&str> {
    let list: &[&str] = match arch {
        "src" => return vec!["src"],
        "i386" => &["athlon", "i686", "i586", "i486", "i386"],
        "x86_64" => &["amd64", "ia32e", "x86_64"],
        "ppc64" => &["ppc64p7", "ppc64pseries", "ppc64iseries", "ppc64"],
        "armhfp" => &["armv7hl", "armv7hnl"],
        "arm" => &[
            "arm",
            "armv4l",
            "armv4tl",
            "armv5tel",
            "armv5tejl",
            "armv6l",
            "armv7l",
        ],
        "sparc" => &["sparcv9v", "sparcv9", "sparcv8", "sparc"],
        "sparc64" => &["sparc64v", "sparc64"],
        "alpha" => &["alphaev6", "alphaev56", "alphaev5", "alpha"],
        other => return vec![other, "noarch"],
    };
    let mut v = list.to_vec();
    v.push("noarch");
    v
}

/// The most preferred of `wanted` (earlier is better) among `available`.
pub fn pick_key<'a>(wanted: &[String], available: &[&'a str]) -> Option<&'a str> {
    wanted.iter().find_map(|w| {
        available
            .iter()
            .find(|a| a.eq_ignore_ascii_case(w))
            .copied()
    })
}

/// One RPM of the tag with the signature keys it has (from listTaggedRPMS rpmsigs=True).
#[derive(Debug, Clone)]
pub struct TaggedRpm {
    pub info: Value,
    pub keys: Vec<String>,
}

/// Folds listTaggedRPMS's one-record-per-signature answer into one entry per RPM id.
pub fn by_rpm(records: &[Value]) -> Result<BTreeMap<i64, TaggedRpm>, String> {
    let mut out: BTreeMap<i64, TaggedRpm> = BTreeMap::new();
    for r in records {
        let id = get_i64(r, "id").ok_or("listTaggedRPMS: an rpm without id")?;
        let e = out.entry(id).or_insert_with(|| TaggedRpm {
            info: r.clone(),
            keys: Vec::new(),
        });
        if let Some(k) = get_str(r, "sigkey").filter(|k| !k.is_empty()) {
            e.keys.push(k.to_ascii_lowercase());
        }
    }
    Ok(out)
}

fn nvra(r: &Value) -> Result<String, String> {
    let f = |k: &str| get_str(r, k).ok_or_else(|| format!("listTaggedRPMS: an rpm without {k}"));
    let (n, v, rel, a) = (f("name")?, f("version")?, f("release")?, f("arch")?);
    for (what, s) in [("name", n), ("version", v), ("release", rel), ("arch", a)] {
        if s.is_empty() || s.starts_with('.') || s.contains('/') || s.contains('\0') {
            return Err(format!("invalid rpm {what}: {s:?}"));
        }
    }
    Ok(format!("{n}-{v}-{rel}.{a}"))
}

/// A wire value as JSON (`kojipkgs` carries the RPM records as the hub sent them).
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
        other => serde_json::Value::String(format!("{other:?}")),
    }
}

/// Runs a blocking job, giving up when the task is canceled.
async fn blocking<T: Send + 'static>(
    h: &TaskHandles,
    what: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, TaskError> {
    let job = tokio::task::spawn_blocking(f);
    tokio::select! {
        r = job => r.map_err(|e| generic(format!("{what}: {e}")))?.map_err(generic),
        _ = h.cancel.cancelled() => Err(TaskError::Canceled),
    }
}

/// One RPM going into the repo.
struct Chosen {
    file: String,
    path: PathBuf,
    info: Value,
}

pub(crate) async fn run(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
) -> Result<Value, TaskError> {
    let id = task.id;
    let tag = param(task, 0, "tag")?.clone();
    let repo_id = param_i64(task, 1, "repo_id")?;
    let arch = canon_arch(param_str(task, 2, "arch")?).to_owned();
    safe_component("arch", &arch)?;
    let keys: Vec<String> = match param(task, 3, "keys")? {
        Value::Array(a) => a
            .iter()
            .map(|k| k.as_str().map(str::to_ascii_lowercase))
            .collect::<Option<_>>()
            .ok_or_else(|| param_error("createdistrepo: keys must be strings"))?,
        _ => return Err(param_error("createdistrepo: keys must be a list")),
    };
    let opts = param(task, 4, "opts")?.clone();
    let flag = |k: &str| get_truthy(&opts, k);
    // Koji's defaults when an option is absent: latest and inherit on
    let on_unless_false = |k: &str| opts.get(k).is_none_or(|v| v.is_nil() || v.is_truthy());

    let rinfo = ctx
        .hub
        .call("repoInfo", vec![Value::Int(repo_id), Value::Bool(true)])
        .await?;
    let state = get_i64(&rinfo, "state").unwrap_or(-1);
    if state != REPO_INIT {
        return Err(generic(format!(
            "Repo {repo_id} not in INIT state (got {})",
            repo_state_name(state)
        )));
    }
    let tag_name = get_str(&rinfo, "tag_name")
        .ok_or_else(|| generic(format!("repoInfo({repo_id}) has no tag_name")))?
        .to_owned();
    safe_component("tag name", &tag_name)?;
    let topdir = ctx.cfg.topdir.clone();
    let repo_top = topdir
        .join("repos-dist")
        .join(&tag_name)
        .join(repo_id.to_string());
    let comps = repo_top.join("groups").join("comps.xml");

    let mut kw = Struct::new();
    kw.insert(
        "event".into(),
        opts.get("event").cloned().unwrap_or(Value::Nil),
    );
    kw.insert(
        "arch".into(),
        Value::Array(rpm_arches(&arch).into_iter().map(Value::from).collect()),
    );
    kw.insert("latest".into(), Value::Bool(on_unless_false("latest")));
    kw.insert("inherit".into(), Value::Bool(on_unless_false("inherit")));
    kw.insert("rpmsigs".into(), Value::Bool(true));
    let answer = ctx.hub.call_kw("listTaggedRPMS", vec![tag], kw).await?;
    let (rpms, builds) = match answer.as_array() {
        Some([Value::Array(r), Value::Array(b)]) => (r.clone(), b.clone()),
        _ => return Err(generic("listTaggedRPMS did not return [rpms, builds]")),
    };
    let mut build_dirs: HashMap<i64, PathBuf> = HashMap::new();
    for b in &builds {
        let nvr = get_str(b, "nvr").unwrap_or("?");
        if get_truthy(b, "draft") {
            return Err(TaskError::Fault(koji_protocol::Fault::new(
                koji_protocol::codes::BUILD,
                format!("Draft build: {nvr} is not allowed"),
            )));
        }
        let (Some(bid), Some(n), Some(v), Some(r)) = (
            get_i64(b, "id"),
            get_str(b, "name"),
            get_str(b, "version"),
            get_str(b, "release"),
        ) else {
            return Err(generic("listTaggedRPMS: a build without id or NVR"));
        };
        for s in [n, v, r] {
            safe_component("build NVR part", s)?;
        }
        // a build on another volume: vol/<name>/packages/... (as Koji's pathinfo.build)
        let base = match get_str(b, "volume_name") {
            None | Some("DEFAULT") => topdir.clone(),
            Some(vol) => {
                safe_component("volume name", vol)?;
                topdir.join("vol").join(vol)
            }
        };
        build_dirs.insert(bid, base.join("packages").join(n).join(v).join(r));
    }
    let tagged = by_rpm(&rpms).map_err(generic)?;

    let dir = TaskDir::new(&ctx.cfg.work_dir, id);
    let root = dir.root().to_path_buf();
    let r2 = root.clone();
    on_thread("prepare task dir", FS_TIMEOUT, move || {
        let _ = std::fs::remove_dir_all(&r2);
        std::fs::create_dir_all(r2.join("repo"))
            .map_err(|e| format!("cannot create {}: {e}", r2.display()))
    })
    .await
    .map_err(generic)?;
    let upload_path = dir.upload_path();
    let outcome = make_arch(
        ctx,
        h,
        id,
        &root,
        &upload_path,
        &arch,
        &keys,
        &opts,
        tagged,
        &build_dirs,
        comps,
        flag("write_signed_rpms"),
    )
    .await;
    let d2 = dir.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || d2.remove()).await {
        tracing::warn!(task = id, "cannot remove {}: {e}", dir.root().display());
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn make_arch(
    ctx: &TaskCtx,
    h: &TaskHandles,
    id: i64,
    root: &Path,
    upload_path: &str,
    arch: &str,
    keys: &[String],
    opts: &Value,
    tagged: BTreeMap<i64, TaggedRpm>,
    build_dirs: &HashMap<i64, PathBuf>,
    comps: PathBuf,
    write_signed: bool,
) -> Result<Value, TaskError> {
    let skip_missing = get_truthy(opts, "skip_missing_signatures");
    let allow_missing = get_truthy(opts, "allow_missing_signatures");

    if write_signed {
        let mut log = String::new();
        for (rid, t) in &tagged {
            let avail: Vec<&str> = t.keys.iter().map(String::as_str).collect();
            let Some(key) = pick_key(keys, &avail) else {
                continue;
            };
            let shown = nvra(&t.info).map_err(generic)?;
            match ctx
                .hub
                .call(
                    "host.writeSignedRPM",
                    vec![Value::Int(*rid), Value::from(key)],
                )
                .await
            {
                Ok(_) => log.push_str(&format!("Signed RPM {shown} is written with {key} key.\n")),
                Err(e) => log.push_str(&format!(
                    "FAILED: Signed RPM {shown} is not written with {key} key, error: {}\n",
                    e.fault()
                        .map_or_else(|| e.to_string(), |f| f.string.clone())
                )),
            }
        }
        if !log.is_empty() {
            let p = root.join("written_signed_rpms.log");
            std::fs::write(&p, log).map_err(|e| generic(format!("{}: {e}", p.display())))?;
            upload_one(ctx, upload_path, &p).await?;
        }
    }

    let mut chosen: Vec<Chosen> = Vec::new();
    let mut fs_missing: Vec<String> = Vec::new();
    let mut sig_missing: Vec<(String, Vec<String>)> = Vec::new();
    for t in tagged.values() {
        let file = format!("{}.rpm", nvra(&t.info).map_err(generic)?);
        let rarch = get_str(&t.info, "arch").unwrap_or_default();
        let bid = get_i64(&t.info, "build_id").unwrap_or(-1);
        let bdir = build_dirs
            .get(&bid)
            .ok_or_else(|| generic(format!("{file}: its build is not among the tagged builds")))?;
        let avail: Vec<&str> = t.keys.iter().map(String::as_str).collect();
        let mut info = t.info.clone();
        let path = match pick_key(keys, &avail) {
            Some(key) => {
                if let Value::Struct(m) = &mut info {
                    m.insert("sigkey".into(), Value::from(key));
                }
                bdir.join("data")
                    .join("signed")
                    .join(key)
                    .join(rarch)
                    .join(&file)
            }
            None => {
                sig_missing.push((file.trim_end_matches(".rpm").to_owned(), t.keys.clone()));
                if skip_missing {
                    continue;
                }
                if let Value::Struct(m) = &mut info {
                    m.insert("sigkey".into(), Value::Nil);
                }
                bdir.join(rarch).join(&file)
            }
        };
        let p = path.clone();
        if on_thread("stat rpm", FS_TIMEOUT, move || Ok(p.is_file()))
            .await
            .map_err(generic)?
        {
            chosen.push(Chosen { file, path, info });
        } else {
            fs_missing.push(path.display().to_string());
        }
    }
    if !fs_missing.is_empty() {
        fs_missing.sort();
        let p = root.join("missing_files.log");
        let text = format!(
            "Some rpm files were missing.\nMost likely, you want to create these signed copies \
             (koji write-signed-rpm, or dist-repo --write-signed-rpms).\n\nMissing files:\n{}\n",
            fs_missing.join("\n")
        );
        std::fs::write(&p, text).map_err(|e| generic(format!("{}: {e}", p.display())))?;
        upload_one(ctx, upload_path, &p).await?;
        let names: Vec<&str> = fs_missing
            .iter()
            .map(|f| f.rsplit('/').next().unwrap_or(f))
            .collect();
        return Err(generic(format!(
            "Packages missing from the filesystem: {}. See missing_files.log.",
            names.join(", ")
        )));
    }
    if !sig_missing.is_empty() {
        sig_missing.sort();
        let p = root.join("missing_signatures.log");
        let mut text = String::from("Some rpms were missing requested signatures.\n");
        if skip_missing {
            text.push_str(
                "The skip_missing_signatures option was specified, so these files were excluded.\n",
            );
        }
        text.push_str(&format!(
            "Requested keys: {}\n\n# RPM name: available keys\n",
            keys.join(" ")
        ));
        for (n, avail) in &sig_missing {
            text.push_str(&format!("{n}: {}\n", avail.join(" ")));
        }
        std::fs::write(&p, text).map_err(|e| generic(format!("{}: {e}", p.display())))?;
        upload_one(ctx, upload_path, &p).await?;
        if !skip_missing && !allow_missing {
            let names: Vec<&str> = sig_missing.iter().map(|(n, _)| n.as_str()).collect();
            let wanted = if keys.is_empty() {
                "(no keys given)".to_owned()
            } else {
                keys.join(", ")
            };
            return Err(generic(format!(
                "Unsigned packages found: {} have no signature by {wanted} \
                 (--allow-missing-signatures takes the unsigned copies). See missing_signatures.log.",
                names.join(", ")
            )));
        }
    }
    tracing::info!(
        task = id,
        arch,
        rpms = chosen.len(),
        unsigned = sig_missing.len(),
        "dist repo packages chosen"
    );

    // repodata for Packages/<first letter>/<file>, read from where the RPMs are
    let repo = root.join("repo");
    let mut files = Vec::with_capacity(chosen.len());
    let mut kojipkgs = serde_json::Map::new();
    let mut pkglist = String::new();
    for c in &chosen {
        let letter = c.file.chars().next().unwrap_or('_').to_ascii_lowercase();
        let href = format!("Packages/{letter}/{}", c.file);
        pkglist.push_str(&href);
        pkglist.push('\n');
        files.push(RpmFile {
            path: c.path.clone(),
            location_href: href,
        });
        kojipkgs.insert(c.file.clone(), json_of(&c.info));
    }
    let cache_dir = ctx.cfg.work_dir.join("repodata-cache");
    let compression = ctx.cfg.repo_compression.to_repodata();
    let label = format!("dist repo ({arch})");
    let (r2, empty) = (repo.clone(), chosen.is_empty());
    let names = blocking(h, "writing repodata", move || {
        let cache = MetaCache::open(&cache_dir)
            .map_err(|e| format!("metadata cache {}: {e}", cache_dir.display()))?;
        let ropts = ReadPackagesOptions {
            cache: Some(&cache),
            read: ReadOptions::default(),
            on_bad_rpm: OnBadRpm::Fail,
            ..ReadPackagesOptions::default()
        };
        let pkgs =
            kkoji_repodata::read_packages(&files, &ropts).map_err(|e| format!("{label}: {e}"))?;
        let wopts = WriteOptions {
            compression,
            groups: comps.is_file().then_some(Groups::File(comps)),
            revision: None,
            chunk_cache: None,
        };
        kkoji_repodata::write_repo(&r2, &pkgs, &wopts)
            .map_err(|e| format!("{label}: writing repodata: {e}"))?;
        let datadir = r2.join("repodata");
        if empty {
            std::fs::write(
                datadir.join("EMPTY_REPO"),
                "This repo is empty because its tag has no content for this arch\n",
            )
            .map_err(|e| format!("{}: {e}", datadir.display()))?;
        }
        let mut names = Vec::new();
        for ent in std::fs::read_dir(&datadir)
            .map_err(|e| format!("cannot list {}: {e}", datadir.display()))?
        {
            let ent = ent.map_err(|e| format!("cannot list {}: {e}", datadir.display()))?;
            if ent.path().is_file()
                && let Some(n) = ent.file_name().to_str()
            {
                names.push(n.to_owned());
            }
        }
        names.sort();
        Ok(names)
    })
    .await?;

    let kp = repo.join("kojipkgs");
    let pl = repo.join("pkglist");
    let mf = root.join("repo_manifest");
    let mut manifest: Vec<String> = names.iter().map(|n| format!("repodata/{n}")).collect();
    manifest.push("kojipkgs".into());
    manifest.push("pkglist".into());
    let kp_text = serde_json::to_string_pretty(&kojipkgs).map_err(|e| generic(e.to_string()))?;
    let mf_text = serde_json::to_string_pretty(&manifest).map_err(|e| generic(e.to_string()))?;
    std::fs::write(&kp, kp_text).map_err(|e| generic(format!("{}: {e}", kp.display())))?;
    std::fs::write(&pl, pkglist).map_err(|e| generic(format!("{}: {e}", pl.display())))?;
    std::fs::write(&mf, mf_text).map_err(|e| generic(format!("{}: {e}", mf.display())))?;
    let data_upload = format!("{upload_path}/repodata");
    for n in &names {
        if h.cancel.is_cancelled() {
            return Err(TaskError::Canceled);
        }
        upload_one(ctx, &data_upload, &repo.join("repodata").join(n)).await?;
    }
    upload_one(ctx, upload_path, &kp).await?;
    upload_one(ctx, upload_path, &pl).await?;
    upload_one(ctx, upload_path, &mf).await?;
    tracing::info!(
        task = id,
        arch,
        files = manifest.len(),
        "dist repo arch uploaded"
    );
    Ok(Value::Nil)
}

#[cfg(test)]
mod tests {
    use super::*;
    use koji_protocol::kstruct;

    #[test]
    fn compat_arches() {
        assert_eq!(rpm_arches("src"), vec!["src"]);
        assert_eq!(
            rpm_arches("x86_64"),
            vec!["amd64", "ia32e", "x86_64", "noarch"]
        );
        assert_eq!(rpm_arches("aarch64"), vec!["aarch64", "noarch"]);
        assert!(rpm_arches("i386").contains(&"i686"));
    }

    #[test]
    fn keys_are_picked_by_preference() {
        let wanted = vec!["aaaa".to_string(), "bbbb".to_string()];
        assert_eq!(pick_key(&wanted, &["bbbb", "aaaa"]), Some("aaaa"));
        assert_eq!(pick_key(&wanted, &["cccc", "BBBB"]), Some("BBBB"));
        assert_eq!(pick_key(&wanted, &["cccc"]), None);
        assert_eq!(pick_key(&[], &["cccc"]), None);
    }

    #[test]
    fn one_entry_per_rpm_with_its_keys() {
        let rec = |id: i64, key: Value| {
            kstruct! {"id" => id, "name" => "foo", "version" => "1", "release" => "1",
            "arch" => "noarch", "sigkey" => key}
        };
        let m = by_rpm(&[
            rec(1, Value::from("AAAA")),
            rec(1, Value::from("bbbb")),
            rec(2, Value::Nil),
        ])
        .unwrap();
        assert_eq!(m[&1].keys, vec!["aaaa", "bbbb"]);
        assert!(m[&2].keys.is_empty());
        assert_eq!(nvra(&m[&2].info).unwrap(), "foo-1-1.noarch");
        assert!(
            nvra(&kstruct! {"name" => "../x", "version" => "1", "release" => "1", "arch" => "a"})
                .is_err()
        );
    }
}
