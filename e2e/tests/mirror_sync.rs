//! kkoji-mirror-sync registering a mirrored repo with the hub, following
//! docs/runbooks/external-repos.md: after a sync with `[hub]` configured,
//! `koji list-external-repos --tag T` shows the repo and a kkoji repo of T (made by the
//! farm's builder) merges its packages; a second sync with nothing changed changes nothing.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kkoji_e2e::builds::make_noarch_rpm;
use kkoji_e2e::cli::run_with_timeout;
use kkoji_e2e::{Farm, Output};

kkoji_e2e::shared_farm_main!(sync_registers_and_a_tag_repo_merges_the_mirror);

const REPO_TIMEOUT: Duration = Duration::from_secs(180);

fn mirror(conf: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_e2e-kkoji-mirror-sync"));
    cmd.arg("-c").arg(conf).args(args).env("KKOJI_LOG", "warn");
    run_with_timeout(cmd, Duration::from_secs(120))
}

fn createrepo_c(dir: &Path) {
    let mut cmd = Command::new("createrepo_c");
    cmd.arg("-q").arg("--no-database").arg(dir);
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(out.status == Some(0), "createrepo_c:\n{out}");
}

fn sync_registers_and_a_tag_repo_merges_the_mirror(farm: &Farm) {
    farm.koji(&["add-tag", "ms1-build", "--arches", "x86_64"])
        .ok();
    let up = farm.work_dir("ms1-upstream");
    let pkgs = farm.work_dir("ms1-pkgs");
    fs::copy(
        make_noarch_rpm(&pkgs, "ms1ext"),
        up.join("ms1ext-1.0-1.noarch.rpm"),
    )
    .unwrap();
    createrepo_c(&up);
    let www = farm.work_dir("ms1-www");
    let conf = farm.work_dir("ms1-conf").join("mirror-sync.toml");
    fs::write(
        &conf,
        format!(
            "www_dir = {www:?}\n\n[hub]\nserver = {server:?}\ncert = {cert:?}\nserverca = {ca:?}\n\n\
             [[repo]]\ndist = \"ms1\"\nrepo = \"os\"\narches = [\"x86_64\"]\nurls = [\"file://{up}/\"]\n\n\
             [repo.register]\nname = \"ms1-mirror\"\ntags = [\"ms1-build\"]\npriority = 5\nmerge_mode = \"simple\"\n",
            www = www.display().to_string(),
            server = farm.server_url(),
            cert = farm.admin_cert().display().to_string(),
            ca = farm.ca_cert().display().to_string(),
            up = up.display(),
        ),
    )
    .unwrap();
    let out = mirror(&conf, &["sync"]);
    assert!(out.status == Some(0), "sync:\n{out}");

    let url = format!("file://{}/ms1-$arch/RPMS.os/", www.display());
    let listing = farm
        .koji(&["list-external-repos", "--tag", "ms1-build"])
        .ok();
    let row = listing.expect_row("5");
    assert_eq!(row, ["5", "ms1-mirror", "simple", &url], "{listing}");

    // nothing changed: registration changes nothing, so the tag's content (what
    // kkoji-repo-regen watches) has no newer event
    let before = farm.call_json(&["tagLastChangeEvent", "ms1-build"]);
    let out = mirror(&conf, &["sync"]);
    assert!(out.status == Some(0), "second sync:\n{out}");
    assert!(out.stdout.contains("ms1-x86_64-os: unchanged"), "{out}");
    let after = farm.call_json(&["tagLastChangeEvent", "ms1-build"]);
    assert!(before.is_i64(), "{before}");
    assert_eq!(before, after);

    // a changed priority / merge mode in the config is applied to the existing link
    let text = fs::read_to_string(&conf).unwrap();
    fs::write(
        &conf,
        text.replace("priority = 5", "priority = 7")
            .replace("merge_mode = \"simple\"", "merge_mode = \"koji\""),
    )
    .unwrap();
    let out = mirror(&conf, &["sync"]);
    assert!(out.status == Some(0), "third sync:\n{out}");
    let listing = farm
        .koji(&["list-external-repos", "--tag", "ms1-build"])
        .ok();
    let row = listing.expect_row("7");
    assert_eq!(row, ["7", "ms1-mirror", "koji", &url], "{listing}");

    // the farm's builder makes a repo of the tag that merges the mirror
    let out = farm.koji_in_for(
        &farm.root().join("home"),
        REPO_TIMEOUT,
        &["regen-repo", "--wait", "ms1-build"],
    );
    assert!(
        out.status == Some(0),
        "regen-repo:\n{out}\n{}",
        farm.builder_log_tail(60)
    );
    let id: i64 = out
        .lines()
        .iter()
        .find_map(|l| l.trim().strip_prefix("Got repo "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Got repo N`:\n{out}"));
    let arch_dir = farm.topdir().join(format!("repos/ms1-build/{id}/x86_64"));
    let cache = farm.work_dir("ms1-dnf-cache");
    let mut cmd = Command::new("dnf");
    cmd.arg("-q")
        .arg("--disablerepo=*")
        .arg(format!("--repofrompath=r,file://{}", arch_dir.display()))
        .arg("--enablerepo=r")
        .arg("--setopt=reposdir=/nonexistent")
        .arg(format!("--setopt=cachedir={}", cache.display()))
        .arg("--releasever=1")
        .args(["repoquery", "--qf", "%{name}"]);
    let q = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(q.status == Some(0), "repoquery:\n{q}");
    assert_eq!(q.lines(), ["ms1ext"], "{q}");
}
