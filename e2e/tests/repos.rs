//! Buildroot repos end to end: the stock koji CLI (`regen-repo`, `wait-repo`, `repoinfo`,
//! `build`), the farm's local builder running newRepo/createrepo, `kkoji-repo-regen` doing
//! kojira's job, dnf reading what was generated (compared with createrepo_c on the same
//! RPMs), external repos served over HTTP on loopback, and the bad paths (corrupt RPM,
//! unreachable or truncated upstream) that must leave the previous repo usable.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kkoji_e2e::builds::{Spec, make_noarch_rpm, make_srpm, wait_for};
use kkoji_e2e::cli::run_with_timeout;
use kkoji_e2e::{Farm, Output};

// one at a time: kkoji-repo-regen acts on every tag of the farm
kkoji_e2e::serial_farm_main!(
    regen_and_wait_repo_give_a_repo_dnf_reads_like_createrepo_c,
    repo_regen_refreshes_the_build_tag_and_build_requires_resolve,
    external_repo_is_merged_and_upstream_changes_make_a_new_repo,
    corrupt_rpm_and_bad_upstreams_leave_the_previous_repo,
    expiry_and_deletion_keep_the_newest_repo,
);

const BUILD_TIMEOUT: Duration = Duration::from_secs(240);
const REPO_TIMEOUT: Duration = Duration::from_secs(180);

/// Tags `NAME` (destination) and `NAME-build` (arches x86_64, inheriting `NAME`, as a Fedora
/// build tag inherits its release tag), the target `NAME`, and `packages` listed in `NAME`.
fn repo_target(farm: &Farm, name: &str, packages: &[&str]) {
    let build_tag = format!("{name}-build");
    farm.koji(&["add-tag", name]).ok();
    farm.koji(&["add-tag", &build_tag, "--arches", "x86_64"])
        .ok();
    farm.koji(&["add-tag-inheritance", &build_tag, name]).ok();
    farm.koji(&["add-target", name, &build_tag, name]).ok();
    for p in packages {
        farm.koji(&["add-pkg", "--owner", "kojiadmin", name, p])
            .ok();
    }
}

/// A noarch package whose spec has extra preamble lines (e.g. `BuildRequires: foo`).
fn srpm_with(dir: &Path, name: &str, preamble: &str) -> PathBuf {
    let top = dir.join("rpmbuild");
    fs::create_dir_all(top.join("SPECS")).unwrap();
    let spec = top.join("SPECS").join(format!("{name}.spec"));
    fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: kkoji repo test {name}\nLicense: MIT\n\
             BuildArch: noarch\n{preamble}\n%description\nA kkoji repo test package.\n\n%build\n\
             echo building {name}\n\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
             echo hello > %{{buildroot}}/usr/share/{name}/hello.txt\n\n%files\n/usr/share/{name}/hello.txt\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new("rpmbuild");
    cmd.arg("-bs")
        .arg("--nodeps")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(&spec)
        .env("HOME", dir);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(out.status == Some(0), "rpmbuild -bs {name}:\n{out}");
    let file = format!("{name}-1.0-1.src.rpm");
    let dest = dir.join(&file);
    fs::copy(top.join("SRPMS").join(&file), &dest).unwrap();
    dest
}

/// `koji build --wait TARGET SRPM` from the SRPM's directory.
fn build(farm: &Farm, target: &str, srpm: &Path) -> Output {
    farm.koji_in_for(
        srpm.parent().unwrap(),
        BUILD_TIMEOUT,
        &[
            "build",
            "--wait",
            target,
            srpm.file_name().unwrap().to_str().unwrap(),
        ],
    )
}

#[track_caller]
fn build_ok(farm: &Farm, target: &str, srpm: &Path) {
    let out = build(farm, target, srpm);
    assert!(
        out.status == Some(0),
        "build failed:\n{out}\n{}",
        farm.builder_log_tail(60)
    );
}

/// `Got repo N` of regen-repo/wait-repo output.
#[track_caller]
fn got_repo(out: &Output) -> i64 {
    out.lines()
        .iter()
        .find_map(|l| l.trim().strip_prefix("Got repo "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Got repo N` line:\n{out}"))
}

fn regen_wait(farm: &Farm, tag: &str) -> Output {
    farm.koji_in_for(
        &farm.root().join("home"),
        REPO_TIMEOUT,
        &["regen-repo", "--wait", tag],
    )
}

fn repo_info(farm: &Farm, id: i64) -> serde_json::Value {
    farm.call_json(&["repoInfo", &id.to_string()])
}

fn repo_state(farm: &Farm, id: i64) -> i64 {
    repo_info(farm, id)["state"].as_i64().unwrap_or(-1)
}

/// The newest repo of `tag` in any state, by the repo.query API.
fn newest_repo(farm: &Farm, tag: &str) -> serde_json::Value {
    let v = farm.call_json(&[
        "repo.query",
        &format!("[[\"tag_name\", \"=\", \"{tag}\"]]"),
        "--kwargs",
        "{\"opts\": {\"order\": \"-id\", \"limit\": 1}}",
    ]);
    v.as_array()
        .and_then(|a| a.first().cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// Every repo of `tag` (id, state, problem), for failure messages.
fn repos_of(farm: &Farm, tag: &str) -> String {
    let v = farm.call_json(&[
        "repo.query",
        &format!("[[\"tag_name\", \"=\", \"{tag}\"]]"),
        "--kwargs",
        "{\"fields\": [\"id\", \"state\", \"create_event\", \"task_id\", \"problem\"]}",
    ]);
    format!("repos of {tag}: {v}")
}

fn arch_dir(farm: &Farm, tag: &str, id: i64) -> PathBuf {
    farm.topdir()
        .join("repos")
        .join(tag)
        .join(id.to_string())
        .join("x86_64")
}

/// `dnf repoquery ARGS` against one repository directory (or URL), sorted lines.
fn dnf_repoquery(repo: &str, args: &[&str]) -> Vec<String> {
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("dnf.conf");
    fs::write(&conf, "[main]\n").unwrap();
    let mut cmd = Command::new("dnf");
    cmd.arg("-q")
        .arg(format!("--config={}", conf.display()))
        .arg("--setopt=reposdir=/dev/null")
        .arg(format!("--installroot={}", root.path().display()))
        .arg("--releasever=40")
        .arg("--disableplugin=*")
        .arg(format!("--repofrompath=kk,{repo}"))
        .arg("--repo=kk")
        .arg("--setopt=kk.gpgcheck=0")
        .arg("repoquery")
        .args(args)
        .env("LC_ALL", "C.UTF-8");
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(
        out.status == Some(0),
        "dnf repoquery {args:?} on {repo}:\n{out}"
    );
    let mut lines: Vec<String> = out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// A loopback HTTP server for a directory (`python3 -m http.server`), stopped when dropped.
struct HttpDir {
    child: Child,
    port: u16,
}

impl HttpDir {
    fn serve(dir: &Path) -> HttpDir {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        wait_for("the loopback HTTP server", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        HttpDir { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for HttpDir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn createrepo_c(dir: &Path) {
    let mut cmd = Command::new("createrepo_c");
    cmd.arg("--no-database").arg(dir);
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(
        out.status == Some(0),
        "createrepo_c {}:\n{out}",
        dir.display()
    );
}

/// The user kkoji-repo-regen logs in as (permission `repo`), once per farm.
fn regen_conf(farm: &Farm, name: &str, extra: &str) -> PathBuf {
    let cert = farm.ca_dir().join("users").join("kojira.pem");
    if !cert.exists() {
        farm.koji(&["add-user", "kojira"]).ok();
        farm.koji(&["grant-permission", "repo", "kojira"]).ok();
        farm.user_conf("kojira");
    }
    let conf = farm.conf_path(&format!("repo-regen-{name}.toml"));
    fs::write(
        &conf,
        format!(
            "hub = {:?}\nca = {:?}\ncert = {:?}\ntopdir = {:?}\nexternal_check_secs = 0\n{extra}",
            farm.server_url(),
            farm.ca_cert().display().to_string(),
            cert.display().to_string(),
            farm.topdir().display().to_string(),
        ),
    )
    .unwrap();
    conf
}

/// One pass of `kkoji-repo-regen --once`; its log is returned for assertions.
fn regen_once(conf: &Path) -> Output {
    let bin = kkoji_e2e::farm::hub_bin().with_file_name("e2e-kkoji-repo-regen");
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(conf)
        .arg("--once")
        .env("RUST_LOG", "info");
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(out.status == Some(0), "repo-regen --once failed:\n{out}");
    out
}

fn regen_and_wait_repo_give_a_repo_dnf_reads_like_createrepo_c(farm: &Farm) {
    repo_target(farm, "rp1", &["rp1foo"]);
    let dir = farm.work_dir("rp1");
    let srpm = make_srpm(&dir, "rp1foo", Spec::Noarch);
    build_ok(farm, "rp1", &srpm);

    let out = regen_wait(farm, "rp1-build");
    assert!(
        out.status == Some(0),
        "regen-repo:\n{out}\n{}",
        farm.builder_log_tail(60)
    );
    let id = got_repo(&out);
    let out = farm
        .koji(&["wait-repo", "rp1-build", "--build", "rp1foo-1.0-1"])
        .ok();
    assert_eq!(got_repo(&out), id);
    // the authenticated request path of wait-repo gives the same repo
    let out = farm.koji(&["wait-repo", "--request", "rp1-build"]).ok();
    assert_eq!(got_repo(&out), id);
    // the direct task path (`--make-task`: newRepo, watched like any task)
    let out = farm.koji_in_for(
        &farm.root().join("home"),
        REPO_TIMEOUT,
        &["regen-repo", "--make-task", "--wait", "rp1-build"],
    );
    assert!(out.status == Some(0), "regen-repo --make-task:\n{out}");
    out.clone()
        .stdout_has("Regenerating repo for tag: rp1-build")
        .stdout_has("newRepo (rp1-build)")
        .stdout_has("completed successfully");
    let info = farm.koji(&["repoinfo", &id.to_string()]).ok();
    info.clone()
        .stdout_has("State: READY")
        .stdout_has("Tag name: rp1-build");

    let adir = arch_dir(farm, "rp1-build", id);
    let ours = file_url(&adir);
    let nevra = ["--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}"];
    assert_eq!(dnf_repoquery(&ours, &nevra), vec!["rp1foo-0:1.0-1.noarch"]);
    // the `latest` link points at it
    let latest = farm.topdir().join("repos/rp1-build/latest/x86_64");
    assert_eq!(
        dnf_repoquery(&file_url(&latest), &nevra),
        vec!["rp1foo-0:1.0-1.noarch"]
    );

    // createrepo_c over the very same RPMs: same packages, versions and dependencies
    let copy = farm.work_dir("rp1-createrepo");
    for line in fs::read_to_string(adir.join("pkglist")).unwrap().lines() {
        let src = adir.join(line);
        fs::copy(&src, copy.join(src.file_name().unwrap())).unwrap();
    }
    createrepo_c(&copy);
    let theirs = file_url(&copy);
    for q in [
        &nevra[..],
        &["--provides", "rp1foo"][..],
        &["--requires", "rp1foo"][..],
        &["-l", "rp1foo"][..],
        &[
            "--whatprovides",
            "/usr/share/rp1foo/hello.txt",
            "--qf",
            "%{name}",
        ][..],
    ] {
        assert_eq!(dnf_repoquery(&ours, q), dnf_repoquery(&theirs, q), "{q:?}");
    }

    // dnf installs the package from the generated repo
    let root = farm.work_dir("rp1-installroot");
    let conf = root.join("dnf.conf");
    fs::write(&conf, "[main]\n").unwrap();
    let mut cmd = Command::new("dnf");
    cmd.arg("-y")
        .arg(format!("--config={}", conf.display()))
        .arg("--setopt=reposdir=/dev/null")
        .arg(format!("--installroot={}", root.join("root").display()))
        .arg("--releasever=40")
        .arg("--disableplugin=*")
        .arg(format!("--repofrompath=kk,{ours}"))
        .arg("--repo=kk")
        .arg("--setopt=kk.gpgcheck=0")
        .args(["install", "rp1foo"])
        .env("LC_ALL", "C.UTF-8");
    let out = run_with_timeout(cmd, Duration::from_secs(180));
    assert!(out.status == Some(0), "dnf install:\n{out}");
    assert_eq!(
        fs::read_to_string(root.join("root/usr/share/rp1foo/hello.txt")).unwrap(),
        "hello\n"
    );

    // blocked in the build tag (it is inherited from rp1): the next repo leaves it out
    farm.koji(&["block-pkg", "rp1-build", "rp1foo"]).ok();
    let blocked = got_repo(&regen_wait(farm, "rp1-build").ok());
    assert!(blocked > id);
    let adir = arch_dir(farm, "rp1-build", blocked);
    assert_eq!(fs::read_to_string(adir.join("pkglist")).unwrap(), "");
    assert_eq!(
        fs::read_to_string(adir.join("blocklist")).unwrap(),
        "rp1foo\n"
    );
    assert!(dnf_repoquery(&file_url(&adir), &["--qf", "%{name}"]).is_empty());
}

fn repo_regen_refreshes_the_build_tag_and_build_requires_resolve(farm: &Farm) {
    repo_target(farm, "rp2", &["rp2base", "rp2app", "rp2bad"]);
    let conf = regen_conf(farm, "rp2", "");
    let dir = farm.work_dir("rp2");
    build_ok(farm, "rp2", &make_srpm(&dir, "rp2base", Spec::Noarch));

    // repo-regen notices that rp2-build changed (rp2base was tagged into its parent) and
    // requests a repo; the builder makes it; an anonymous wait-repo sees it
    let log = regen_once(&conf);
    assert!(
        log.stdout.contains("rp2-build") || log.stderr.contains("rp2-build"),
        "repo-regen did not mention the stale tag:\n{log}"
    );
    let out = farm.koji_in_for(
        &farm.root().join("home"),
        REPO_TIMEOUT,
        &[
            "wait-repo",
            "--no-request",
            "rp2-build",
            "--build",
            "rp2base-1.0-1",
        ],
    );
    assert!(
        out.status == Some(0),
        "wait-repo:\n{out}\n{}",
        farm.builder_log_tail(60)
    );
    let id = got_repo(&out);
    assert_eq!(
        dnf_repoquery(
            &file_url(&arch_dir(farm, "rp2-build", id)),
            &["--qf", "%{name}"]
        ),
        vec!["rp2base"]
    );

    // a build that BuildRequires the first package resolves it from that repo
    let app = srpm_with(
        &farm.work_dir("rp2app"),
        "rp2app",
        "BuildRequires: rp2base >= 1.0",
    );
    build_ok(farm, "rp2", &app);
    // one that BuildRequires something no package provides fails, saying what is missing
    let bad = srpm_with(
        &farm.work_dir("rp2bad"),
        "rp2bad",
        "BuildRequires: rp2-nowhere",
    );
    let out = build(farm, "rp2", &bad);
    assert!(
        out.status != Some(0),
        "a build with an unmet BuildRequires passed:\n{out}"
    );
    assert!(
        out.stdout.contains("rp2-nowhere") || out.stderr.contains("rp2-nowhere"),
        "the failure does not name the missing dependency:\n{out}"
    );
}

fn external_repo_is_merged_and_upstream_changes_make_a_new_repo(farm: &Farm) {
    repo_target(farm, "rp3", &[]);
    let up = farm.work_dir("rp3-upstream");
    let pkgs = farm.work_dir("rp3-pkgs");
    fs::copy(
        make_noarch_rpm(&pkgs, "rp3ext"),
        up.join("rp3ext-1.0-1.noarch.rpm"),
    )
    .unwrap();
    fs::copy(
        make_noarch_rpm(&pkgs, "rp3blocked"),
        up.join("rp3blocked-1.0-1.noarch.rpm"),
    )
    .unwrap();
    createrepo_c(&up);
    let http = HttpDir::serve(&up);
    farm.koji(&[
        "add-external-repo",
        "-t",
        "rp3-build",
        "rp3-upstream",
        &http.url(),
    ])
    .ok();
    // a package blocked in the tag stays out in koji merge mode
    farm.koji(&["add-pkg", "--owner", "kojiadmin", "rp3", "rp3blocked"])
        .ok();
    farm.koji(&["block-pkg", "rp3", "rp3blocked"]).ok();

    let out = regen_wait(farm, "rp3-build");
    assert!(
        out.status == Some(0),
        "regen-repo:\n{out}\n{}",
        farm.builder_log_tail(60)
    );
    let first = got_repo(&out);
    let ours = file_url(&arch_dir(farm, "rp3-build", first));
    assert_eq!(dnf_repoquery(&ours, &["--qf", "%{name}"]), vec!["rp3ext"]);
    // the external package is fetched from upstream (xml:base; dnf 4's --location ignores it)
    let base = dnf_repoquery(&ours, &["--qf", "%{name} %{baseurl} %{location}"]);
    assert_eq!(
        base,
        vec![format!(
            "rp3ext {} rp3ext-1.0-1.noarch.rpm",
            http.url().trim_end_matches('/')
        )]
    );

    // upstream changes; repo-regen notices and a new repo has the new package
    let conf = regen_conf(farm, "rp3", "");
    regen_once(&conf);
    fs::copy(
        make_noarch_rpm(&pkgs, "rp3new"),
        up.join("rp3new-1.0-1.noarch.rpm"),
    )
    .unwrap();
    // repomd timestamps have one-second resolution
    std::thread::sleep(Duration::from_millis(1100));
    createrepo_c(&up);
    let log = regen_once(&conf);
    let second = wait_for("a new rp3-build repo", REPO_TIMEOUT, || {
        let r = newest_repo(farm, "rp3-build");
        let id = r["id"].as_i64().unwrap_or(0);
        if id > first && r["state"].as_i64() == Some(1) {
            Ok(id)
        } else {
            Err(format!("newest: {r}\nregen log:\n{log}"))
        }
    });
    assert_eq!(
        dnf_repoquery(
            &file_url(&arch_dir(farm, "rp3-build", second)),
            &["--qf", "%{name}"]
        ),
        vec!["rp3ext", "rp3new"]
    );
}

fn corrupt_rpm_and_bad_upstreams_leave_the_previous_repo(farm: &Farm) {
    repo_target(farm, "rp4", &["rp4pkg"]);
    let dir = farm.work_dir("rp4");
    build_ok(farm, "rp4", &make_srpm(&dir, "rp4pkg", Spec::Noarch));
    let good = got_repo(&regen_wait(farm, "rp4-build").ok());
    let latest = farm.topdir().join("repos/rp4-build/latest");

    // the tagged RPM gets corrupted on disk: the new repo goes to PROBLEM naming the file
    let rpm = farm
        .topdir()
        .join("packages/rp4pkg/1.0/1/noarch/rp4pkg-1.0-1.noarch.rpm");
    let bytes = fs::read(&rpm).unwrap();
    fs::write(&rpm, &bytes[..bytes.len() / 2]).unwrap();
    // a change of the tag so that a new repo is due
    farm.koji(&["add-pkg", "--owner", "kojiadmin", "rp4", "rp4other"])
        .ok();
    let out = regen_wait(farm, "rp4-build");
    assert!(
        out.status != Some(0),
        "a repo with a corrupt RPM was made:\n{out}"
    );
    let bad = newest_repo(farm, "rp4-build");
    assert_eq!(bad["state"].as_i64(), Some(4), "{bad}");
    let problem = bad["problem"].as_str().unwrap_or("");
    assert!(problem.contains("rp4pkg-1.0-1.noarch.rpm"), "{problem}");
    assert_eq!(repo_state(farm, good), 1, "{}", repos_of(farm, "rp4-build"));
    assert_eq!(
        fs::read_link(&latest).unwrap(),
        PathBuf::from(good.to_string()),
        "{}",
        repos_of(farm, "rp4-build")
    );
    fs::write(&rpm, &bytes).unwrap();

    // an unreachable upstream: PROBLEM naming the URL, previous repo still READY
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}/", closed.local_addr().unwrap().port());
    drop(closed);
    farm.koji(&["add-external-repo", "-t", "rp4-build", "rp4-dead", &dead])
        .ok();
    let out = regen_wait(farm, "rp4-build");
    assert!(
        out.status != Some(0),
        "a repo with an unreachable upstream was made:\n{out}"
    );
    let bad = newest_repo(farm, "rp4-build");
    assert_eq!(bad["state"].as_i64(), Some(4), "{bad}");
    assert!(
        bad["problem"].as_str().unwrap_or("").contains(&dead),
        "{bad}"
    );
    assert_eq!(repo_state(farm, good), 1);
    farm.koji(&["remove-external-repo", "rp4-dead", "rp4-build"])
        .ok();

    // a truncated upstream repomd.xml
    let up = farm.work_dir("rp4-upstream");
    fs::copy(
        make_noarch_rpm(&farm.work_dir("rp4-pkgs"), "rp4ext"),
        up.join("rp4ext-1.0-1.noarch.rpm"),
    )
    .unwrap();
    createrepo_c(&up);
    let md = up.join("repodata/repomd.xml");
    let text = fs::read_to_string(&md).unwrap();
    fs::write(&md, &text[..text.len() / 2]).unwrap();
    let http = HttpDir::serve(&up);
    farm.koji(&[
        "add-external-repo",
        "-t",
        "rp4-build",
        "rp4-trunc",
        &http.url(),
    ])
    .ok();
    let out = regen_wait(farm, "rp4-build");
    assert!(
        out.status != Some(0),
        "a repo with a truncated upstream was made:\n{out}"
    );
    let bad = newest_repo(farm, "rp4-build");
    assert_eq!(bad["state"].as_i64(), Some(4), "{bad}");
    assert!(
        bad["problem"].as_str().unwrap_or("").contains("repomd.xml"),
        "{bad}"
    );
    assert_eq!(repo_state(farm, good), 1, "{}", repos_of(farm, "rp4-build"));
    assert_eq!(
        fs::read_link(&latest).unwrap(),
        PathBuf::from(good.to_string()),
        "{}",
        repos_of(farm, "rp4-build")
    );
    assert!(
        !dnf_repoquery(&file_url(&latest.join("x86_64")), &["--qf", "%{name}"]).is_empty(),
        "the previous repo is no longer readable"
    );
}

fn expiry_and_deletion_keep_the_newest_repo(farm: &Farm) {
    repo_target(farm, "rp5", &[]);
    let mut ids = Vec::new();
    for i in 0..3 {
        // each repo follows a change of the tag
        farm.koji(&[
            "add-pkg",
            "--owner",
            "kojiadmin",
            "rp5",
            &format!("rp5p{i}"),
        ])
        .ok();
        ids.push(got_repo(&regen_wait(farm, "rp5-build").ok()));
    }
    let newest = *ids.last().unwrap();
    let conf = regen_conf(
        farm,
        "rp5",
        "repo_lifetime_secs = 0\ndeleted_repo_lifetime_secs = 0\nprune_grace_secs = 0\n",
    );
    // a stray directory nobody knows
    let stray = farm.topdir().join("repos/rp5-build/999999");
    fs::create_dir_all(stray.join("x86_64")).unwrap();
    // pass 1 expires, pass 2 deletes (state changes are seen a pass later)
    let log1 = regen_once(&conf);
    let log2 = regen_once(&conf);
    for old in &ids[..2] {
        assert_eq!(repo_state(farm, *old), 3, "repo {old}:\n{log1}\n{log2}");
        assert!(
            !farm
                .topdir()
                .join(format!("repos/rp5-build/{old}"))
                .exists(),
            "the directory of deleted repo {old} is still there"
        );
    }
    assert_eq!(repo_state(farm, newest), 1, "{log1}\n{log2}");
    assert!(
        arch_dir(farm, "rp5-build", newest)
            .join("repodata/repomd.xml")
            .exists()
    );
    assert!(
        !stray.exists(),
        "the stray directory was not pruned:\n{log1}\n{log2}"
    );
}
