//! The runbooks' command blocks (```sh in docs/runbooks/*.md) run against a real farm, in
//! order, each with `bash -euo pipefail`: a runbook whose commands drifted from the tools
//! fails here. The environment the runbooks promise: `$KOJI` (the stock CLI as the admin),
//! `$CERTS` (the farm's CA directory), `$WORK` (scratch), `$HUB_URL`, `$TOPDIR`,
//! `$RUNBOOK_ROOT` (the repository) and the kkoji binaries on `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kkoji_e2e::Farm;

kkoji_e2e::isolated_main!(runbook_command_blocks_run_against_a_farm);

/// The ```sh blocks of a Markdown file (also indented ones inside list items).
fn sh_blocks(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for line in md.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start();
        match &mut cur {
            None if t == "```sh" => cur = Some((indent, String::new())),
            Some(_) if t == "```" => {
                if let Some((_, b)) = cur.take() {
                    out.push(b);
                }
            }
            Some((ind, b)) => {
                b.push_str(line.get(*ind..).unwrap_or(t));
                b.push('\n');
            }
            None => {}
        }
    }
    assert!(cur.is_none(), "unterminated ```sh block");
    out
}

/// A directory with the kkoji binaries under their installed names.
fn bin_dir(farm: &Farm) -> PathBuf {
    let dir = farm.work_dir("runbook-bin");
    let target = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let link = |name: &str, to: &Path| {
        assert!(
            to.exists(),
            "{} is missing: build the workspace first (`cargo build --workspace`, as scripts/test.sh does)",
            to.display()
        );
        std::os::unix::fs::symlink(to, dir.join(name)).unwrap();
    };
    link(
        "kkoji-builder",
        Path::new(env!("CARGO_BIN_EXE_e2e-kkoji-builder")),
    );
    for n in ["kkoji-certs", "kkoji-rc-local", "kkoji-ops"] {
        link(n, &target.join(n));
    }
    dir
}

fn runbook_command_blocks_run_against_a_farm() {
    let farm = Farm::start_with(&["--no-builder"]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bin = bin_dir(&farm);
    let work = farm.work_dir("runbooks");
    let koji = format!(
        "{} -c {} -p kkoji",
        kkoji_e2e::cli::koji_bin().display(),
        farm.koji_conf().display()
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    // certificates last: it rotates the farm's CA
    for doc in [
        "install-hub.md",
        "add-builder.md",
        "boot.md",
        "certificates.md",
    ] {
        let md = std::fs::read_to_string(root.join("docs/runbooks").join(doc)).unwrap();
        let blocks = sh_blocks(&md);
        assert!(!blocks.is_empty(), "{doc} has no sh blocks");
        for (i, block) in blocks.iter().enumerate() {
            let mut cmd = Command::new("bash");
            cmd.args(["-euo", "pipefail", "-c", block])
                .env("PATH", &path)
                .env("KOJI", &koji)
                .env("CERTS", farm.ca_dir())
                .env("WORK", &work)
                .env("HUB_URL", farm.server_url())
                .env("TOPDIR", farm.topdir())
                .env("RUNBOOK_ROOT", root)
                .env("HOME", farm.root().join("home"))
                .current_dir(&work);
            let out = kkoji_e2e::cli::run_with_timeout(cmd, Duration::from_secs(120));
            assert!(
                out.status == Some(0),
                "{doc} block {} failed:\n{block}\n{out}",
                i + 1
            );
            ran += 1;
        }
    }
    // what the blocks did is visible on the farm
    let out = farm.koji(&["hostinfo", "builder02"]);
    assert!(out.status == Some(0), "{out}");
    assert!(out.stdout.contains("Capacity: 4.0"), "{out}");
    assert!(farm.ca_dir().join("hosts/builder02.pem").exists());
    assert!(farm.ca_dir().join("old-cas").is_dir());
    assert!(ran >= 12, "only {ran} blocks ran");
}
