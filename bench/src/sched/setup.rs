//! Preparing the farm for the scheduling benchmark, as the admin: a build target, one tiny
//! uploaded SRPM (every task is a scratch `build` of it), and the builder hosts with their
//! certificates.

use anyhow::{Context, bail};
use koji_protocol::{KojiClient, Struct, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const BUILD_TAG: &str = "bench-build";
pub const DEST_TAG: &str = "bench-dest";
pub const TARGET: &str = "bench-target";
/// Builder hosts are `sched-builder-001`, ...
pub const HOST_PREFIX: &str = "sched-builder";
const PACKAGE: &str = "kkoji-bench-light";
/// Names per getHost/addHost multiCall.
const HOST_BATCH: usize = 100;

pub fn host_name(i: usize) -> String {
    format!("{HOST_PREFIX}-{:03}", i + 1)
}

/// The parameters of one light task: `build(src, target, {scratch: True})`.
pub fn build_params(src: &str) -> Vec<Value> {
    let mut opts = Struct::new();
    opts.insert("scratch".into(), Value::Bool(true));
    vec![
        Value::String(src.into()),
        Value::String(TARGET.into()),
        Value::Struct(opts),
    ]
}

/// Creates the tags and the target unless they exist.
pub async fn ensure_target(admin: &KojiClient) -> anyhow::Result<()> {
    for (tag, arches) in [(BUILD_TAG, Some("x86_64")), (DEST_TAG, None)] {
        let found = admin
            .call("getTag", vec![Value::String(tag.into())])
            .await
            .with_context(|| format!("getTag({tag})"))?;
        if found.is_nil() {
            let mut kw = Struct::new();
            if let Some(a) = arches {
                kw.insert("arches".into(), Value::String(a.into()));
            }
            admin
                .call_kw("createTag", vec![Value::String(tag.into())], kw)
                .await
                .with_context(|| format!("createTag({tag})"))?;
        }
    }
    let target = admin
        .call("getBuildTarget", vec![Value::String(TARGET.into())])
        .await
        .context("getBuildTarget")?;
    if target.is_nil() {
        admin
            .call(
                "createBuildTarget",
                vec![
                    Value::String(TARGET.into()),
                    Value::String(BUILD_TAG.into()),
                    Value::String(DEST_TAG.into()),
                ],
            )
            .await
            .context("createBuildTarget")?;
    }
    Ok(())
}

/// Builds a minimal noarch SRPM with `rpmbuild -bs` in `dir`; returns its path.
pub async fn make_srpm(dir: &Path) -> anyhow::Result<PathBuf> {
    let specs = dir.join("SPECS");
    std::fs::create_dir_all(&specs).with_context(|| format!("creating {}", specs.display()))?;
    let spec = specs.join(format!("{PACKAGE}.spec"));
    std::fs::write(
        &spec,
        format!(
            "Name: {PACKAGE}\nVersion: 1.0\nRelease: 1\nSummary: A light task for kkoji-bench\n\
             License: MIT\nBuildArch: noarch\n\n%description\nSubmitted by kkoji-bench sched; \
             never built.\n\n%files\n"
        ),
    )
    .with_context(|| format!("writing {}", spec.display()))?;
    let child = tokio::process::Command::new("rpmbuild")
        .arg("-bs")
        .arg("--define")
        .arg(format!("_topdir {}", dir.display()))
        .arg(&spec)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .context("rpmbuild -bs took more than 60 s")?
        .context("cannot run rpmbuild (install the rpm-build package)")?;
    if !out.status.success() {
        bail!(
            "rpmbuild -bs failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let srpm = dir.join("SRPMS").join(format!("{PACKAGE}-1.0-1.src.rpm"));
    if !srpm.is_file() {
        bail!("rpmbuild -bs did not write {}", srpm.display());
    }
    Ok(srpm)
}

/// Uploads `file` to `dir` (one raw chunk, then checkUpload); returns the `src` for build().
pub async fn upload(admin: &KojiClient, dir: &str, file: &Path) -> anyhow::Result<String> {
    let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("the SRPM path has no file name")?;
    let size = data.len();
    let r = admin
        .raw_upload(dir, &name, 0, bytes::Bytes::from(data), true)
        .await
        .context("rawUpload of the SRPM")?;
    if r.get("size").and_then(Value::as_i64) != Some(size as i64) {
        bail!("rawUpload answered {r:?} for {size} bytes");
    }
    let chk = admin
        .call(
            "checkUpload",
            vec![Value::String(dir.into()), Value::String(name.clone())],
        )
        .await
        .context("checkUpload of the SRPM")?;
    if chk.get("size").and_then(Value::as_i64) != Some(size as i64) {
        bail!("checkUpload answered {chk:?} for {size} bytes");
    }
    Ok(format!("{dir}/{name}"))
}

/// Adds the hosts that do not exist yet (arches x86_64 and noarch). Returns how many were
/// created.
pub async fn ensure_hosts(admin: &KojiClient, names: &[String]) -> anyhow::Result<usize> {
    let mut created = 0;
    for chunk in names.chunks(HOST_BATCH) {
        let calls = chunk
            .iter()
            .map(|n| ("getHost".to_string(), vec![Value::String(n.clone())]))
            .collect();
        let found = admin.multicall(calls).await.context("multiCall(getHost)")?;
        let mut missing = Vec::new();
        for (name, r) in chunk.iter().zip(found) {
            match r {
                Ok(Value::Nil) => missing.push(name.clone()),
                Ok(_) => {}
                Err(f) => bail!("getHost({name}): {f}"),
            }
        }
        if missing.is_empty() {
            continue;
        }
        let arches = Value::Array(vec![
            Value::String("x86_64".into()),
            Value::String("noarch".into()),
        ]);
        let calls = missing
            .iter()
            .map(|n| {
                (
                    "addHost".to_string(),
                    vec![Value::String(n.clone()), arches.clone()],
                )
            })
            .collect();
        let added = admin.multicall(calls).await.context("multiCall(addHost)")?;
        for (name, r) in missing.iter().zip(added) {
            if let Err(f) = r {
                bail!("addHost({name}): {f}");
            }
            created += 1;
        }
    }
    Ok(created)
}

/// Host certificates (certificate + key PEM, as a koji `cert =` file) issued by the farm CA
/// in `certs_dir`. CPU-bound: call it from a blocking thread.
pub fn issue_identities(certs_dir: &Path, names: &[String]) -> anyhow::Result<Vec<Vec<u8>>> {
    let ca = kkoji_certs::load_ca(certs_dir)
        .with_context(|| format!("loading the farm CA from {}", certs_dir.display()))?;
    names
        .iter()
        .map(|n| {
            let issued = ca
                .issue_host(n, 30)
                .with_context(|| format!("issuing a host certificate for {n}"))?;
            let mut pem = issued.cert_pem.into_bytes();
            if !pem.ends_with(b"\n") {
                pem.push(b'\n');
            }
            pem.extend_from_slice(issued.key_pem.as_bytes());
            Ok(pem)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_params() {
        assert_eq!(host_name(0), "sched-builder-001");
        assert_eq!(host_name(199), "sched-builder-200");
        let p = build_params("kkoji-bench/x/a.src.rpm");
        assert_eq!(p.len(), 3);
        assert_eq!(p[1], Value::String(TARGET.into()));
        assert_eq!(p[2].get("scratch"), Some(&Value::Bool(true)));
    }
}
