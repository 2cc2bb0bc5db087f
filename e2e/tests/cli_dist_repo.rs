//! `koji dist-repo` through the stock CLI: a real build, signed with a throwaway gpg key
//! (`rpmsign`), its signatures imported (`koji import-sig`), a dist repo made with
//! `--write-signed-rpms`, and `dnf install` from it with gpgcheck on and the key. Bad paths:
//! missing signatures without `--allow-missing-signatures` (the task fails naming the RPM,
//! no READY repo), what kkoji does not do (`--multilib`, `--delta-rpms`), an unknown tag and
//! a user without the `dist-repo` permission. The tests run in order on one farm: the
//! build of the first is the content of the others.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kkoji_e2e::builds::{Spec, add_target, make_srpm};
use kkoji_e2e::cli::run_with_timeout;
use kkoji_e2e::{Farm, Output};

kkoji_e2e::serial_farm_main!(
    dist_repo_refusals,
    unsigned_rpms_fail_the_task_unless_allowed,
    signed_repo_installs_with_gpgcheck,
);

const TAG: &str = "dr-f40";
const PKG: &str = "drfoo";
const TASK_TIMEOUT: Duration = Duration::from_secs(600);

/// The build every test uses: `drfoo-1.0-1` in `dr-f40` (a comps group names it).
fn ensure_build(farm: &Farm) {
    if farm.topdir().join("packages").join(PKG).is_dir() {
        return;
    }
    add_target(farm, TAG, &[PKG]);
    farm.koji(&["add-group", TAG, "drgroup"]).ok();
    farm.koji(&["add-group-pkg", TAG, "drgroup", PKG]).ok();
    let dir = farm.work_dir("dr-srpm");
    make_srpm(&dir, PKG, Spec::Noarch);
    let out = farm.koji_in_for(
        &dir,
        TASK_TIMEOUT,
        &["build", "--wait", TAG, "drfoo-1.0-1.src.rpm"],
    );
    assert!(
        out.status == Some(0),
        "build failed:\n{out}\n{}",
        farm.builder_log_tail(40)
    );
}

/// `koji dist-repo --wait ARGS…` (its own timeout: a task and its subtasks run).
fn dist_repo(farm: &Farm, args: &[&str]) -> Output {
    let mut all = vec!["dist-repo", "--wait"];
    all.extend_from_slice(args);
    farm.koji_in_for(&farm.root().join("home"), TASK_TIMEOUT, &all)
}

/// The dist repos of the tag in `state` (0 INIT, 1 READY, 4 PROBLEM): getRepo's newest.
fn newest_dist_repo(farm: &Farm, state: i64) -> serde_json::Value {
    farm.call_json(&["getRepo", TAG, &format!("state={state}"), "dist=True"])
}

fn dist_repo_refusals(farm: &Farm) {
    ensure_build(farm);
    // an unknown tag: the CLI's own check
    dist_repo(farm, &["dr-nosuch", "abcd1234", "--arch", "x86_64"])
        .fails_with(2)
        .stderr_has("No such tag: dr-nosuch");
    // the hub's check, for a client that does not look first
    farm.koji(&[
        "call",
        "--python",
        "distRepo",
        "'dr-nosuch'",
        "[]",
        "arch=['x86_64']",
    ])
    .fails_with(1)
    .stderr_has("dr-nosuch");
    // multilib: the CLI uploads the config, the hub refuses before writing anything
    let conf = farm.work_dir("dr-ml").join("multilib.conf");
    fs::write(&conf, "[multilib]\npackages = *\n").unwrap();
    let conf = conf.to_string_lossy().into_owned();
    dist_repo(
        farm,
        &[
            TAG,
            "abcd1234",
            "--arch",
            "x86_64",
            "--arch",
            "i686",
            "--multilib",
            &conf,
        ],
    )
    .fails_with(1)
    .stderr_has("kkoji does not make multilib dist repos (--multilib)");
    // delta RPMs against an existing repo id (any repo: the hub refuses the option itself)
    farm.koji(&[
        "call",
        "--python",
        "distRepo",
        "'dr-f40'",
        "['abcd1234']",
        "arch=['x86_64']",
        "delta=[1]",
    ])
    .fails_with(1)
    .stderr_has("kkoji does not make delta RPMs (--delta-rpms)");
    // no permission
    farm.koji_as(
        "dr-mallory",
        &["dist-repo", TAG, "abcd1234", "--arch", "x86_64"],
    )
    .fails_with(1)
    .stderr_has("dist-repo permission required");
    // nothing of the refused calls was left behind
    assert!(newest_dist_repo(farm, 0).is_null());
    assert!(
        !farm.topdir().join("repos-dist").join(TAG).exists(),
        "a refused dist-repo left files"
    );
}

fn unsigned_rpms_fail_the_task_unless_allowed(farm: &Farm) {
    ensure_build(farm);
    let out = dist_repo(farm, &[TAG, "abcd1234", "--arch", "x86_64"]);
    assert!(
        out.status != Some(0),
        "an unsigned dist repo passed:\n{out}"
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("Unsigned packages found: drfoo-1.0-1.noarch"),
        "the failure does not name the unsigned RPM:\n{out}"
    );
    assert!(
        newest_dist_repo(farm, 1).is_null(),
        "a READY dist repo exists"
    );
    let problem = newest_dist_repo(farm, 4);
    let id = problem["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no PROBLEM dist repo: {problem}"));
    assert_eq!(problem["dist"], true, "{problem}");

    // allowed: the primary copies go in, the layout is Koji's
    let out = dist_repo(
        farm,
        &[
            TAG,
            "abcd1234",
            "--arch",
            "x86_64",
            "--with-src",
            "--allow-missing-signatures",
        ],
    );
    assert!(
        out.status == Some(0),
        "dist-repo --allow-missing-signatures failed:\n{out}\n{}",
        farm.builder_log_tail(40)
    );
    assert!(
        out.stdout.contains("Creating dist repo for tag dr-f40"),
        "{out}"
    );
    let ready = newest_dist_repo(farm, 1);
    let rid = ready["id"].as_i64().expect("a READY dist repo");
    assert!(rid > id);
    let top = farm
        .topdir()
        .join("repos-dist")
        .join(TAG)
        .join(rid.to_string());
    for f in [
        "x86_64/Packages/d/drfoo-1.0-1.noarch.rpm",
        "x86_64/repodata/repomd.xml",
        "x86_64/kojipkgs",
        "x86_64/pkglist",
        "src/Packages/d/drfoo-1.0-1.src.rpm",
        "src/repodata/repomd.xml",
        "groups/comps.xml",
        "repo.json",
    ] {
        assert!(top.join(f).is_file(), "{f} missing under {}", top.display());
    }
    assert_eq!(
        fs::read_link(farm.topdir().join("repos-dist").join(TAG).join("latest")).unwrap(),
        PathBuf::from(rid.to_string())
    );
    // the repo's own record, as `koji repoinfo` prints it
    farm.koji(&["repoinfo", &rid.to_string()])
        .ok()
        .stdout_has("Dist repo?: yes")
        .stdout_has("State: READY");
    // dnf sees the package and the group (gpgcheck is off only for this unsigned look)
    let list = dnf_query(
        &top.join("x86_64"),
        &["repoquery", "--qf", "%{name}-%{version}"],
    );
    assert!(list.contains("drfoo-1.0"), "{list}");
    let groups = dnf_query(&top.join("x86_64"), &["group", "list", "--hidden"]);
    assert!(groups.contains("drgroup"), "{groups}");
    // and a dnf with gpgcheck on refuses what it cannot verify
    let (gnupg, _, pubkey) = gpg_key(farm, "dr-refuse");
    drop(gnupg);
    let out = dnf_install(farm, &top.join("x86_64"), &pubkey, "dr-unsigned");
    assert!(
        out.status != Some(0),
        "dnf installed an unsigned RPM with gpgcheck on:\n{out}"
    );
}

fn signed_repo_installs_with_gpgcheck(farm: &Farm) {
    ensure_build(farm);
    let (gnupg, keyid, pubkey) = gpg_key(farm, "dr-sign");
    // sign copies of the built RPMs and import their signatures
    let work = farm.work_dir("dr-signed");
    let bdir = farm.topdir().join("packages/drfoo/1.0/1");
    for (arch, file) in [
        ("noarch", "drfoo-1.0-1.noarch.rpm"),
        ("src", "drfoo-1.0-1.src.rpm"),
    ] {
        let copy = work.join(file);
        fs::copy(bdir.join(arch).join(file), &copy).unwrap();
        let mut cmd = Command::new("rpmsign");
        cmd.arg("--addsign")
            .arg("--define")
            .arg("_gpg_name kkoji-dist-repo@example.invalid")
            .arg("--define")
            .arg(format!("_gpg_path {}", gnupg.display()))
            .arg("--define")
            .arg(format!("__gpg {}", gpg_bin()))
            .arg(&copy)
            .env("GNUPGHOME", &gnupg);
        let out = run_with_timeout(cmd, Duration::from_secs(120));
        assert!(out.status == Some(0), "rpmsign failed:\n{out}");
        farm.koji(&["import-sig", &copy.to_string_lossy()]).ok();
    }
    let out = dist_repo(
        farm,
        &[
            TAG,
            &keyid,
            "--arch",
            "x86_64",
            "--with-src",
            "--write-signed-rpms",
        ],
    );
    assert!(
        out.status == Some(0),
        "signed dist-repo failed:\n{out}\n{}",
        farm.builder_log_tail(40)
    );
    let ready = newest_dist_repo(farm, 1);
    let rid = ready["id"].as_i64().expect("a READY dist repo");
    let arch_dir = farm
        .topdir()
        .join("repos-dist")
        .join(TAG)
        .join(rid.to_string())
        .join("x86_64");
    let kojipkgs: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(arch_dir.join("kojipkgs")).unwrap()).unwrap();
    assert_eq!(
        kojipkgs["drfoo-1.0-1.noarch.rpm"]["sigkey"], keyid,
        "{kojipkgs}"
    );
    let out = dnf_install(farm, &arch_dir, &pubkey, "dr-signed");
    assert!(
        out.status == Some(0),
        "dnf install with gpgcheck from the dist repo failed:\n{out}"
    );
}

/// Where gpg is: rpm's macros may name a gpg2 this system does not have.
fn gpg_bin() -> String {
    ["/usr/bin/gpg", "/bin/gpg", "/usr/local/bin/gpg"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("gpg")
        .to_string()
}

/// A throwaway signing key: (GNUPGHOME, Koji's key id — the last 8 hex digits, lowercase —,
/// the exported public key file).
fn gpg_key(farm: &Farm, name: &str) -> (PathBuf, String, PathBuf) {
    let home = farm.work_dir(&format!("{name}-gnupg"));
    fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let params = home.join("params");
    fs::write(
        &params,
        "%no-protection\nKey-Type: RSA\nKey-Length: 2048\nName-Real: kkoji dist-repo test\n\
         Name-Email: kkoji-dist-repo@example.invalid\nExpire-Date: 0\n%commit\n",
    )
    .unwrap();
    let gpg = |args: &[&str]| {
        let mut cmd = Command::new("gpg");
        cmd.arg("--batch").args(args).env("GNUPGHOME", &home);
        let out = run_with_timeout(cmd, Duration::from_secs(120));
        assert!(out.status == Some(0), "gpg {args:?} failed:\n{out}");
        out
    };
    gpg(&["--gen-key", &params.to_string_lossy()]);
    let listing = gpg(&["--with-colons", "--list-keys"]);
    let long = listing
        .lines()
        .iter()
        .find_map(|l| l.strip_prefix("pub:"))
        .and_then(|rest| rest.split(':').nth(3))
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| panic!("no key id in:\n{listing}"));
    let keyid = long[long.len() - 8..].to_string();
    let pubkey = home.join("key.asc");
    gpg(&[
        "--armor",
        "--output",
        &pubkey.to_string_lossy(),
        "--export",
        "kkoji-dist-repo@example.invalid",
    ]);
    (home, keyid, pubkey)
}

/// `dnf install drfoo` into a throwaway installroot from the repo at `repo`, gpgcheck on
/// and the public key given; only this repo (an empty reposdir of its own).
fn dnf_install(farm: &Farm, repo: &Path, pubkey: &Path, name: &str) -> Output {
    let root = farm.work_dir(&format!("{name}-root"));
    let reposdir = farm.work_dir(&format!("{name}-repos"));
    fs::write(
        reposdir.join("dist.repo"),
        format!(
            "[dist]\nname=kkoji dist repo\nbaseurl=file://{}\nenabled=1\ngpgcheck=1\n\
             repo_gpgcheck=0\ngpgkey=file://{}\n",
            repo.display(),
            pubkey.display()
        ),
    )
    .unwrap();
    let conf = reposdir.join("dnf.conf");
    fs::write(&conf, "[main]\ngpgcheck=1\nlocalpkg_gpgcheck=1\n").unwrap();
    let mut cmd = Command::new("dnf");
    cmd.arg("-y")
        .arg(format!("--config={}", conf.display()))
        .arg(format!("--setopt=reposdir={}", reposdir.display()))
        .arg(format!("--installroot={}", root.display()))
        .arg("--releasever=40")
        .arg("--disableplugin=*")
        .arg("--setopt=install_weak_deps=False")
        .args(["install", PKG])
        .env("LC_ALL", "C.UTF-8");
    run_with_timeout(cmd, Duration::from_secs(300))
}

/// `dnf -q ARGS` against one repo directory without signature checks (for looking only).
fn dnf_query(repo: &Path, args: &[&str]) -> String {
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
        .arg(format!("--repofrompath=kk,file://{}", repo.display()))
        .arg("--repo=kk")
        .arg("--setopt=kk.gpgcheck=0")
        .args(args)
        .env("LC_ALL", "C.UTF-8");
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(out.status == Some(0), "dnf {args:?}:\n{out}");
    out.stdout
}
