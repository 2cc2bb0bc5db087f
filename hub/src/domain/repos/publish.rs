//! A repo's files: `host.repoInit` writes `repos/<tag>/<id>/` (`repo.json`, and per arch
//! `pkglist`, `blocklist` and the `toplink` link) for the createrepo tasks; `host.repoDone`
//! moves each arch's uploaded repodata into place, marks the repo READY and moves `latest`.
//! Every file is replaced by rename, so a reader sees the old or the new, never half.

use super::events::last_change;
use super::{Opts, opts_store, state};
use crate::ctx::Ctx;
use crate::domain::tags::canon_arch;
use crate::domain::{Named, builds, get, groups, packages, tags};
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::repos as store;
use crate::topdir;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The repo's directory: `repos/<tag>/<id>`.
pub fn repo_dir(topdir: &Path, tag_name: &str, id: i32) -> PathBuf {
    topdir.join("repos").join(tag_name).join(id.to_string())
}

/// The tag's repo options and the overrides that differ from them (Koji's get_repo_opts).
async fn repo_opts_for(c: &mut Ctx, tag: i32, over: Option<&Opts>) -> HResult<(Opts, Opts)> {
    let mut opts: Opts = super::OPT_KEYS
        .iter()
        .map(|k| (k.to_string(), false))
        .collect();
    if let Some(t) = tags::get_tag(c, &Ident::Id(tag), None).await? {
        if let Some(v) = t.extra.get("repo.opts") {
            opts.extend(super::convert_opts(v, false)?);
        } else if let Some(v) = t.extra.get("with_debuginfo") {
            opts.insert("debuginfo".into(), v.is_truthy());
        }
    }
    // kkoji builds no Maven artifacts
    opts.insert("maven".into(), false);
    let mut custom = Opts::new();
    if let Some(o) = over {
        for (k, v) in o {
            if opts.get(k) != Some(v) {
                custom.insert(k.clone(), *v);
            }
        }
        opts.extend(custom.clone());
    }
    Ok((opts, custom))
}

fn is_debuginfo(name: &str) -> bool {
    name.ends_with("-debuginfo") || name.ends_with("-debugsource") || name.contains("-debuginfo-")
}

/// One RPM of a repo: where it sits under topdir and which arches list it.
struct RepoRpm {
    href: String,
    arch: String,
}

/// The RPMs of the latest builds of the tag at `event` (inheritance, filters, blocked
/// packages left out).
async fn repo_rpms(
    c: &mut Ctx,
    tag: i32,
    event: i64,
    opts: &Opts,
    blocked: &HashSet<String>,
) -> HResult<Vec<RepoRpm>> {
    let tagged = builds::tagged(c, tag, Some(event), true, None, true).await?;
    let mut ids = Vec::new();
    let mut nvr = BTreeMap::new();
    for t in &tagged {
        let b = &t.build;
        if blocked.contains(&b.name) {
            continue;
        }
        ids.push(b.id);
        nvr.insert(b.id, (b.name.clone(), b.version.clone(), b.release.clone()));
    }
    let rows = crate::storage::builds::internal_rpm_files(c.db().await?, &ids).await?;
    let with_src = opts.get("src").copied().unwrap_or(false);
    let with_debug = opts.get("debuginfo").copied().unwrap_or(false);
    let mut out = Vec::new();
    for (bid, name, version, release, arch) in rows {
        if arch == "src" && !with_src {
            continue;
        }
        if is_debuginfo(&name) && !with_debug {
            continue;
        }
        let Some((bn, bv, br)) = nvr.get(&bid) else {
            continue;
        };
        let href =
            format!("toplink/packages/{bn}/{bv}/{br}/{arch}/{name}-{version}-{release}.{arch}.rpm");
        out.push(RepoRpm { href, arch });
    }
    Ok(out)
}

/// Write a file atomically (temp file in the same directory, then rename).
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, data)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The detail (with its absolute path) goes to the log; the caller learns what failed.
fn io_fault(what: &str, path: &Path, e: std::io::Error) -> HubError {
    tracing::error!(path = %path.display(), error = %e, "cannot {what} a repo file");
    HubError::generic(format!("cannot {what} a repo file: {}", e.kind()))
}

/// Koji's repo_init: the repo row (INIT) at `event` (default: now) and its directory with
/// per-arch package lists for the createrepo tasks. Returns (repo id, event).
pub async fn init(
    c: &mut Ctx,
    tag: &Ident,
    task_id: Option<i32>,
    event: Option<i64>,
    over: Option<&Opts>,
) -> HResult<(i32, i64)> {
    let (tag_id, tag_name) = get(c, Named::Tag, tag).await?;
    // the name becomes a directory under repos/: one plain component, nothing else
    if tag_name.contains('/') || tag_name == "." || tag_name == ".." {
        return Err(HubError::generic(format!(
            "tag name {tag_name:?} cannot be a repo directory name"
        )));
    }
    let event = match event {
        Some(e) => e,
        None => c.event().await?,
    };
    let (opts, custom) = repo_opts_for(c, tag_id, over).await?;
    let begin = last_change(c, tag_id, Some(event), true).await?;
    c.mark_write();
    let id = store::insert(
        c.db().await?,
        event,
        tag_id,
        &opts_store(&opts),
        &opts_store(&custom),
        task_id,
        begin,
    )
    .await?;
    let arches = tags::repo_arches(c, tag_id, Some(event)).await?;
    let blocked = packages::blocked_names(c, tag_id, Some(event)).await?;
    let rpms = repo_rpms(c, tag_id, event, &opts, &blocked).await?;
    let dir = repo_dir(&c.hub().config.topdir, &tag_name, id);
    let mut lists: BTreeMap<&str, Vec<&str>> =
        arches.iter().map(|a| (a.as_str(), Vec::new())).collect();
    for r in &rpms {
        let target = canon_arch(&r.arch);
        for (a, list) in lists.iter_mut() {
            if r.arch == "noarch" || r.arch == "src" || *a == target {
                list.push(&r.href);
            }
        }
    }
    let mut blocked_sorted: Vec<&String> = blocked.iter().collect();
    blocked_sorted.sort();
    let blocklist: String = blocked_sorted.iter().map(|b| format!("{b}\n")).collect();
    for (arch, list) in &lists {
        let adir = dir.join(arch);
        std::fs::create_dir_all(&adir).map_err(|e| io_fault("create", &adir, e))?;
        let link = adir.join("toplink");
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink("../../../..", &link)
                .map_err(|e| io_fault("create", &link, e))?;
        }
        let body: String = list.iter().map(|l| format!("{l}\n")).collect();
        let p = adir.join("pkglist");
        write_atomic(&p, body.as_bytes()).map_err(|e| io_fault("write", &p, e))?;
        let p = adir.join("blocklist");
        write_atomic(&p, blocklist.as_bytes()).map_err(|e| io_fault("write", &p, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| io_fault("create", &dir, e))?;
    // the tag's comps groups as of the repo's event, which every arch's repodata carries
    // (mock installs a buildroot's `build` / `srpm-build` group from it)
    let comps = groups::comps_xml(&groups::for_repo(c, tag_id, event).await?, true);
    let gdir = dir.join("groups");
    std::fs::create_dir_all(&gdir).map_err(|e| io_fault("create", &gdir, e))?;
    let p = gdir.join("comps.xml");
    write_atomic(&p, comps.as_bytes()).map_err(|e| io_fault("write", &p, e))?;
    let json = serde_json::json!({
        "id": id,
        "tag": tag_name,
        "tag_id": tag_id,
        "task_id": task_id,
        "event_id": event,
        "opts": opts,
        "custom_opts": custom,
        "arches": arches,
    });
    let p = dir.join("repo.json");
    write_atomic(&p, json.to_string().as_bytes()).map_err(|e| io_fault("write", &p, e))?;
    tracing::info!(repo = id, tag = %tag_name, event, rpms = rpms.len(), arches = ?arches, "repo initialized");
    Ok((id, event))
}

/// What a createrepo task uploaded for one arch: its upload dir (under work/) and the
/// files there that make up `repodata/`.
pub struct ArchUpload {
    pub arch: String,
    pub upload_path: String,
    pub files: Vec<String>,
}

/// Koji's repo_done: moves each arch's uploaded repodata into place (all or nothing per
/// arch: assembled beside it, then renamed), marks the repo READY (or EXPIRED), moves the
/// tag's `latest` link when this is its newest repo, and fulfils waiting requests.
pub async fn done(c: &mut Ctx, repo_id: i32, data: &[ArchUpload], expire: bool) -> HResult<()> {
    let Some(repo) = super::get(c, repo_id).await? else {
        return Err(HubError::generic(format!("No such repo: {repo_id}")));
    };
    if repo.row.state != state::INIT {
        return Err(HubError::generic(format!(
            "Repo {repo_id} not in INIT state"
        )));
    }
    if repo.row.dist {
        // a dist repo's arches were moved into place by host.distRepoMove
        if !data.is_empty() {
            return Err(HubError::generic(format!(
                "Repo {repo_id} is a dist repo: its files come through host.distRepoMove"
            )));
        }
        return super::dist::done(c, &repo).await;
    }
    let topdir = c.hub().config.topdir.clone();
    let tree = crate::safefs::Tree::open(&topdir)?;
    let own_arches = tags::repo_arches(c, repo.row.tag_id, Some(repo.row.create_event)).await?;
    let repo_rel = Path::new("repos")
        .join(&repo.row.tag_name)
        .join(repo_id.to_string());
    // everything is checked before anything is touched: one bad arch changes nothing
    let mut plan = Vec::new();
    for ArchUpload {
        arch,
        upload_path,
        files,
    } in data
    {
        if !own_arches.iter().any(|a| a == arch) {
            return Err(HubError::generic(format!(
                "Repo {repo_id} has no arch {arch:?} (its arches: {})",
                own_arches.join(" ")
            )));
        }
        let up = topdir::clean_relative(upload_path)?;
        let mut inputs = Vec::new();
        for name in files {
            let name_clean = topdir::clean_relative(name)?;
            let rel = up.join(&name_clean);
            let input = tree.host_input(&rel.to_string_lossy(), std::slice::from_ref(&up))?;
            if input.moved_to.is_some() {
                return Err(HubError::generic(format!("Not a regular file: {name}")));
            }
            inputs.push((name_clean, input));
        }
        plan.push((repo_rel.join(arch), inputs));
    }
    for (adir, inputs) in plan {
        let adir_fd = tree
            .dir(Some(&adir))
            .map_err(|e| io_fault("open", &adir, e.into()))?;
        let _ = std::fs::remove_dir_all(topdir.join(&adir).join(".repodata.new"));
        let staging = adir.join(".repodata.new");
        for (name, input) in &inputs {
            let dst = staging.join(name);
            let (dparent, dname) = (
                dst.parent().unwrap_or(&staging),
                dst.file_name().unwrap_or_default(),
            );
            let dfd = tree
                .mkdirs(dparent)
                .map_err(|e| io_fault("create", dparent, e.into()))?;
            // linked, not moved: if anything below fails (a full disk, the commit), the
            // uploads are still there for the task's retry of repoDone
            let (sparent, sname) = (
                input.rel.parent().unwrap_or(Path::new(".")),
                input.rel.file_name().unwrap_or_default(),
            );
            let sfd = tree
                .dir(Some(sparent))
                .map_err(|e| io_fault("open", sparent, e.into()))?;
            if nix::unistd::linkat(&sfd, sname, &dfd, dname, nix::fcntl::AtFlags::empty()).is_err()
            {
                let mut out = nix::fcntl::openat(
                    &dfd,
                    dname,
                    nix::fcntl::OFlag::O_WRONLY
                        | nix::fcntl::OFlag::O_CREAT
                        | nix::fcntl::OFlag::O_EXCL
                        | nix::fcntl::OFlag::O_NOFOLLOW
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::from_bits_truncate(0o644),
                )
                .map(std::fs::File::from)
                .map_err(|e| io_fault("copy", &dst, e.into()))?;
                let mut src = &input.file;
                std::io::copy(&mut src, &mut out).map_err(|e| io_fault("copy", &dst, e))?;
            }
        }
        nix::sys::stat::mkdirat(
            &adir_fd,
            ".repodata.new",
            nix::sys::stat::Mode::from_bits_truncate(0o755),
        )
        .or_else(|e| {
            if e == nix::errno::Errno::EEXIST {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|e| io_fault("create", &staging, e.into()))?;
        let final_dir = topdir.join(&adir).join("repodata");
        if std::fs::symlink_metadata(&final_dir).is_ok() {
            let old = topdir.join(&adir).join(".repodata.old");
            let _ = std::fs::remove_dir_all(&old);
            nix::fcntl::renameat(&adir_fd, "repodata", &adir_fd, ".repodata.old")
                .map_err(|e| io_fault("replace", &final_dir, e.into()))?;
            let _ = std::fs::remove_dir_all(&old);
        }
        nix::fcntl::renameat(&adir_fd, ".repodata.new", &adir_fd, "repodata")
            .map_err(|e| io_fault("rename", &staging, e.into()))?;
    }
    let new_state = if expire { state::EXPIRED } else { state::READY };
    super::set_state(c, repo_id, new_state, None).await?;
    if !expire {
        let newer =
            store::newer_ready_exists(c.db().await?, repo.row.tag_id, repo.row.create_event)
                .await?;
        if !newer && repo.custom_opts.is_empty() {
            let tagdir = topdir.join("repos").join(&repo.row.tag_name);
            let tmp = tagdir.join(format!(".latest-{repo_id}"));
            let _ = std::fs::remove_file(&tmp);
            if let Err(e) = std::os::unix::fs::symlink(repo_id.to_string(), &tmp)
                .and_then(|()| std::fs::rename(&tmp, tagdir.join("latest")))
            {
                // the link is a convenience for humans and mirrors; the repo is usable anyway
                tracing::warn!(repo = repo_id, error = %e, "cannot update the latest link");
            }
        }
        super::queue::fulfil_requests(c, &repo).await?;
    }
    tracing::info!(repo = repo_id, tag = %repo.row.tag_name, state = super::state_name(new_state), "repo done");
    Ok(())
}
