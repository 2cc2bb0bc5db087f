//! Imports and signatures through the stock koji CLI: `import` (`--test`, `--create-build`)
//! of RPMs built elsewhere, then `buildinfo`; `import-sig` of a copy signed by rpmsign with a
//! throwaway gpg key, `list-signed`, `write-signed-rpm` (the file it writes passes `rpm -K`
//! against the key), `download-build --key`, `remove-sig`; and the bad paths (no permission,
//! unknown rpm, a signature of a rebuilt package with the same NVRA, an unknown key). All tests
//! share one farm; each uses its own package names.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kkoji_e2e::builds::make_noarch_rpm;
use kkoji_e2e::cli::run_with_timeout;
use kkoji_e2e::{Farm, Output};

kkoji_e2e::shared_farm_main!(
    import_with_create_build_then_buildinfo,
    import_sig_write_signed_and_verify,
    signature_commands_refuse_bad_requests,
);

const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs a local tool (gpg, rpmsign, rpm), asserting success.
#[track_caller]
fn tool(cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = run_with_timeout(cmd, TOOL_TIMEOUT);
    assert!(out.status == Some(0), "{shown} failed:\n{out}");
    out
}

/// Where gpg is: rpm's macros may name a gpg2 this system does not have.
fn gpg_bin() -> String {
    ["/usr/bin/gpg", "/bin/gpg", "/usr/local/bin/gpg"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("gpg")
        .to_string()
}

/// A throwaway signing key in `home` (a fresh GNUPGHOME); returns (Koji's key id: the last
/// 8 hex digits, the armored public key file).
fn gen_key(home: &Path) -> (String, PathBuf) {
    fs::create_dir_all(home).unwrap();
    let mut perms = fs::metadata(home).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
    fs::set_permissions(home, perms).unwrap();
    let params = home.join("params");
    fs::write(
        &params,
        "%no-protection\nKey-Type: RSA\nKey-Length: 2048\nName-Real: kkoji e2e signer\n\
         Name-Email: e2e-signer@kkoji.invalid\nExpire-Date: 0\n%commit\n",
    )
    .unwrap();
    let mut cmd = Command::new(gpg_bin());
    cmd.env("GNUPGHOME", home)
        .args(["--batch", "--gen-key"])
        .arg(&params);
    tool(cmd);
    let mut cmd = Command::new(gpg_bin());
    cmd.env("GNUPGHOME", home)
        .args(["--batch", "--with-colons", "--list-keys"]);
    let out = tool(cmd);
    let long = out
        .stdout
        .lines()
        .find(|l| l.starts_with("pub:"))
        .and_then(|l| l.split(':').nth(4))
        .expect("a public key")
        .to_ascii_lowercase();
    let public = home.join("public.asc");
    let mut cmd = Command::new(gpg_bin());
    cmd.env("GNUPGHOME", home)
        .args(["--batch", "--armor", "--output"])
        .arg(&public)
        .args(["--export", "e2e-signer@kkoji.invalid"]);
    tool(cmd);
    (long[long.len() - 8..].to_string(), public)
}

/// A copy of `rpm` in `out_dir` signed by rpmsign with the key in `home`.
fn sign(home: &Path, rpm: &Path, out_dir: &Path) -> PathBuf {
    fs::create_dir_all(out_dir).unwrap();
    let dest = out_dir.join(rpm.file_name().unwrap());
    fs::copy(rpm, &dest).unwrap();
    let mut cmd = Command::new("rpmsign");
    cmd.env("GNUPGHOME", home)
        .arg("--define")
        .arg("_gpg_name e2e-signer@kkoji.invalid")
        .arg("--define")
        .arg(format!("_gpg_path {}", home.display()))
        .arg("--define")
        .arg(format!("__gpg {}", gpg_bin()))
        .arg("--addsign")
        .arg(&dest);
    tool(cmd);
    dest
}

/// `rpm -K` of `file` against a fresh rpm database holding only `public`.
fn rpm_k(dir: &Path, public: &Path, file: &Path) -> Output {
    let db = dir.join("rpmdb");
    if !db.exists() {
        fs::create_dir_all(&db).unwrap();
        let mut cmd = Command::new("rpm");
        cmd.arg("--dbpath").arg(&db).arg("--import").arg(public);
        tool(cmd);
    }
    let mut cmd = Command::new("rpm");
    cmd.arg("--dbpath").arg(&db).arg("-K").arg(file);
    run_with_timeout(cmd, TOOL_TIMEOUT)
}

fn topdir_arg(farm: &Farm) -> String {
    format!("--topdir={}", farm.topdir().display())
}

fn query_sigs(farm: &Farm, nvra: &str) -> serde_json::Value {
    let rpm = farm.call_json(&["getRPM", nvra]);
    let id = rpm["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("getRPM {nvra}: {rpm}"));
    farm.call_json(&["queryRPMSigs", &format!("rpm_id={id}")])
}

fn import_with_create_build_then_buildinfo(farm: &Farm) {
    let dir = farm.work_dir("sig-import");
    let rpm = make_noarch_rpm(&dir, "e2eimp");
    let path = rpm.display().to_string();

    // no build, no SRPM: the CLI aborts without --create-build
    farm.koji(&["import", &path])
        .ok()
        .stdout_is("Missing build or srpm: e2eimp-1.0-1\nAborting import\n");
    // --test: says what it would do, changes nothing
    farm.koji(&["import", "--test", "--create-build", &path])
        .ok()
        .stdout_is(&format!(
            "Missing build or srpm: e2eimp-1.0-1\n\
             Test mode -- would have created empty build: e2eimp-1.0-1\n\
             Test mode -- skipping import for {path}\n"
        ));
    assert!(farm.call_json(&["getBuild", "e2eimp-1.0-1"]).is_null());
    // only an admin imports
    farm.koji_as("e2e-importer", &["import", "--create-build", &path])
        .fails_with(1)
        .stderr_has("admin permission required");
    assert!(farm.call_json(&["getBuild", "e2eimp-1.0-1"]).is_null());

    farm.koji(&["import", "--create-build", &path])
        .ok()
        .stdout_is(&format!(
            "Missing build or srpm: e2eimp-1.0-1\nCreating empty build: e2eimp-1.0-1\n\
             uploading {path}... done\nimporting {path}... done\n"
        ));
    let info = farm.koji(&["buildinfo", "e2eimp-1.0-1"]).ok();
    info.stdout_has("BUILD: e2eimp-1.0-1 [")
        .stdout_has("State: COMPLETE")
        .stdout_has("e2eimp-1.0-1.noarch.rpm");
    let stored = farm
        .topdir()
        .join("packages/e2eimp/1.0/1/noarch/e2eimp-1.0-1.noarch.rpm");
    assert_eq!(fs::read(&stored).unwrap(), fs::read(&rpm).unwrap());
    // a second import of the same file is noticed by the CLI
    farm.koji(&["import", &path])
        .ok()
        .stdout_is(&format!("RPM already imported: {path}\nSkipping import\n"));
}

fn import_sig_write_signed_and_verify(farm: &Farm) {
    let dir = farm.work_dir("sig-sign");
    let rpm = make_noarch_rpm(&dir, "e2esig");
    let (key, public) = gen_key(&dir.join("gnupg"));
    let signed = sign(&dir.join("gnupg"), &rpm, &dir.join("signed"));
    let signed_path = signed.display().to_string();
    farm.koji(&["import", "--create-build", &rpm.display().to_string()])
        .ok();

    // the file as imported is unsigned; the signed copy carries the key
    let before = rpm_k(&dir, &public, &rpm);
    assert!(!before.stdout.contains("signatures OK"), "{before}");
    let after = rpm_k(&dir, &public, &signed);
    assert!(after.stdout.contains("signatures OK"), "{after}");

    farm.koji(&["import-sig", &rpm.display().to_string()])
        .ok()
        .stdout_is(&format!("Skipping unsigned package: {}\n", rpm.display()));
    farm.koji(&["import-sig", &signed_path])
        .ok()
        .stdout_is(&format!(
            "Importing signature [key {key}] from {signed_path}...\nWriting signed copy\n"
        ));
    let sigs = query_sigs(farm, "e2esig-1.0-1.noarch");
    assert_eq!(sigs.as_array().map(Vec::len), Some(1), "{sigs}");
    // buildinfo lists the keys beside each RPM
    farm.koji(&["buildinfo", "e2esig-1.0-1"])
        .ok()
        .stdout_has(&format!("e2esig-1.0-1.noarch.rpm\tSignatures: {key}\n"));
    assert_eq!(sigs[0]["sigkey"], key.as_str(), "{sigs}");
    farm.koji(&["import-sig", &signed_path])
        .ok()
        .stdout_is(&format!("Signature already imported: {signed_path}\n"));

    let copy = farm.topdir().join(format!(
        "packages/e2esig/1.0/1/data/signed/{key}/noarch/e2esig-1.0-1.noarch.rpm"
    ));
    farm.koji(&[&topdir_arg(farm), "list-signed", "--build", "e2esig-1.0-1"])
        .ok()
        .stdout_is(&format!("{}\n", copy.display()));
    // written again from the stored header (the copy is replaced atomically)
    fs::remove_file(&copy).unwrap();
    farm.koji(&["write-signed-rpm", &key.to_uppercase(), "e2esig-1.0-1"])
        .ok()
        .stdout_is("[1/1] e2esig-1.0-1.noarch\n");
    let k = rpm_k(&dir, &public, &copy);
    assert!(
        k.status == Some(0) && k.stdout.contains("digests signatures OK"),
        "rpm -K of the written copy:\n{k}"
    );
    assert_eq!(fs::read(&copy).unwrap(), fs::read(&signed).unwrap());
    farm.koji(&["write-signed-rpm", "--all", &key])
        .ok()
        .stdout_is("[1/1] e2esig-1.0-1.noarch\n");

    // download-build --key fetches the signed copy over topurl
    let down = farm.work_dir("sig-download");
    farm.koji_in(&down, &["download-build", "--key", &key, "e2esig-1.0-1"])
        .ok();
    let got = down.join("e2esig-1.0-1.noarch.rpm");
    assert_eq!(fs::read(&got).unwrap(), fs::read(&signed).unwrap());

    // prune-signed-copies: a build latest in no tag loses its signed copies
    let size = fs::metadata(&copy).unwrap().len();
    let prune = |test: bool| {
        let top = topdir_arg(farm);
        let mut args = vec![top.as_str(), "prune-signed-copies", "--days", "0"];
        if test {
            args.push("--test");
        }
        args.extend(["--build", "e2esig-1.0-1"]);
        farm.koji(&args).ok()
    };
    prune(true)
        .stdout_has(&format!(
            "Would have unlinked: {}
",
            copy.display()
        ))
        .stdout_has(&format!("--- Grand Totals ---\nFiles: 1\nBytes: {size}\n"));
    assert!(copy.exists(), "--test removes nothing");
    prune(false).stdout_is(&format!("--- Grand Totals ---\nFiles: 1\nBytes: {size}\n"));
    assert!(!copy.exists());

    // remove-sig: the signature and its copy are gone
    farm.koji(&["remove-sig", "--sigkey", &key, "e2esig-1.0-1.noarch"])
        .ok()
        .stdout_empty();
    assert_eq!(
        query_sigs(farm, "e2esig-1.0-1.noarch"),
        serde_json::json!([])
    );
    assert!(!copy.exists());
    farm.koji(&[&topdir_arg(farm), "list-signed", "--build", "e2esig-1.0-1"])
        .ok()
        .stdout_empty();
    // and the signature can come back
    farm.koji(&["import-sig", &signed_path]).ok();
    assert_eq!(
        query_sigs(farm, "e2esig-1.0-1.noarch")
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // rename-sig: the signature and its copy are filed under the new key
    farm.koji(&["rename-sig", "e2esig-1.0-1.noarch", &key, "0badc0de"])
        .ok()
        .stdout_empty();
    let sigs = query_sigs(farm, "e2esig-1.0-1.noarch");
    assert_eq!(sigs[0]["sigkey"], "0badc0de", "{sigs}");
    let renamed = farm
        .topdir()
        .join("packages/e2esig/1.0/1/data/signed/0badc0de/noarch/e2esig-1.0-1.noarch.rpm");
    farm.koji(&[&topdir_arg(farm), "list-signed", "--build", "e2esig-1.0-1"])
        .ok()
        .stdout_is(&format!("{}\n", renamed.display()));
    farm.koji(&["rename-sig", "e2esig-1.0-1.noarch", &key, "0badc0de"])
        .fails_with(1)
        .stderr_has("A signature with key 0badc0de already exists for e2esig-1.0-1.noarch");
    farm.koji(&["rename-sig", "e2esig-1.0-1.noarch", &key, "12345678"])
        .fails_with(1)
        .stderr_has(&format!(
            "No signature with key {key} for e2esig-1.0-1.noarch"
        ));
}

/// `NAME-1.0-1.noarch.rpm` rebuilt from a different spec: same NVRA, other content.
fn rebuilt_rpm(dir: &Path, name: &str) -> PathBuf {
    let top = dir.join("rebuild");
    for d in ["SPECS", "SOURCES", "BUILD", "RPMS", "SRPMS"] {
        fs::create_dir_all(top.join(d)).unwrap();
    }
    let spec = top.join("SPECS").join(format!("{name}.spec"));
    fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: rebuilt elsewhere\nLicense: MIT\n\
             BuildArch: noarch\n\n%description\nA different build of the same NVRA.\n\n%install\n\
             mkdir -p %{{buildroot}}/usr/share/{name}\n\
             echo rebuilt > %{{buildroot}}/usr/share/{name}/other\n\n%files\n/usr/share/{name}/other\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new("rpmbuild");
    cmd.arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(&spec);
    tool(cmd);
    top.join("RPMS/noarch")
        .join(format!("{name}-1.0-1.noarch.rpm"))
}

fn signature_commands_refuse_bad_requests(farm: &Farm) {
    let dir = farm.work_dir("sig-bad");
    let rpm = make_noarch_rpm(&dir, "e2ebad");
    let gnupg = dir.join("gnupg");
    let (key, _public) = gen_key(&gnupg);
    let signed = sign(&gnupg, &rpm, &dir.join("signed"));
    let signed_path = signed.display().to_string();

    // an RPM the hub does not know
    farm.koji(&["import-sig", &signed_path])
        .ok()
        .stdout_is("No such rpm in system: e2ebad-1.0-1.noarch\n");
    farm.koji(&["import", "--create-build", &rpm.display().to_string()])
        .ok();

    // without the sign permission
    farm.koji_as("e2e-nosign", &["import-sig", &signed_path])
        .fails_with(1)
        .stderr_has("sign permission required");
    assert_eq!(
        query_sigs(farm, "e2ebad-1.0-1.noarch"),
        serde_json::json!([])
    );

    // a signed rebuild with the same NVRA: its header does not match the imported RPM
    let other = sign(
        &gnupg,
        &rebuilt_rpm(&dir, "e2ebad"),
        &dir.join("signed-other"),
    );
    let out = farm
        .koji(&["import-sig", &other.display().to_string()])
        .fails_with(1)
        .stderr_has("wrong md5 for e2ebad-1.0-1.noarch");
    assert!(
        !out.stderr.contains(&*farm.topdir().to_string_lossy()),
        "no server path in the fault:\n{out}"
    );
    assert_eq!(
        query_sigs(farm, "e2ebad-1.0-1.noarch"),
        serde_json::json!([])
    );
    assert!(
        !farm
            .topdir()
            .join("packages/e2ebad/1.0/1/data/sigcache")
            .exists(),
        "nothing written for a refused header"
    );

    // a key with no stored signature, an unknown rpm, no key at all
    farm.koji(&["write-signed-rpm", &key, "e2ebad-1.0-1"])
        .fails_with(1)
        .stderr_has(&format!(
            "No cached signature for package e2ebad-1.0-1.noarch, key {key}"
        ));
    farm.koji(&["write-signed-rpm", &key, "nosuch-1.0-1"])
        .fails_with(1)
        .stderr_has("No such rpm or build: nosuch-1.0-1");
    farm.koji(&["remove-sig", "--sigkey", &key, "e2ebad-1.0-1.noarch"])
        .fails_with(1)
        .stderr_has(
            "Signature removal failed: e2ebad-1.0-1.noarch has no matching signatures to delete",
        );
    farm.koji(&["remove-sig", "--sigkey", &key, "nosuch-1.0-1.noarch"])
        .fails_with(1)
        .stderr_has("No such rpm in system: nosuch-1.0-1.noarch");

    // remove-sig needs admin, not only sign
    farm.koji_as("e2e-signer", &["hello"]).ok();
    farm.koji(&["grant-permission", "sign", "e2e-signer"]).ok();
    farm.koji_as("e2e-signer", &["import-sig", &signed_path])
        .ok()
        .stdout_has(&format!("Importing signature [key {key}]"));
    farm.koji_as(
        "e2e-signer",
        &["remove-sig", "--all", "e2ebad-1.0-1.noarch"],
    )
    .fails_with(1)
    .stderr_has("Signature removal failed: admin permission required");
    assert_eq!(
        query_sigs(farm, "e2ebad-1.0-1.noarch")
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
