//! RPM imports and signatures against a hub on a throwaway PostgreSQL over real TLS: real
//! RPMs from rpmbuild, signed by rpmsign with a throwaway gpg key; what is stored, the signed
//! copy written from it, and the bad paths (missing permission, unknown rpm, a signature
//! header of another package, a bad key) each refused with nothing changed.

mod common;

use common::{Farm, fault, int, kw, rpmbuild, upload};
use koji_protocol::client::KojiClient;
use koji_protocol::{Value, codes};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A throwaway signing key in its own GNUPGHOME; returns Koji's key id (last 8 hex digits).
fn gen_key(home: &Path) -> String {
    std::fs::create_dir_all(home).unwrap();
    let mut perms = std::fs::metadata(home).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
    std::fs::set_permissions(home, perms).unwrap();
    let params = home.join("params");
    std::fs::write(
        &params,
        "%no-protection\nKey-Type: RSA\nKey-Length: 2048\nName-Real: kkoji test signer\n\
         Name-Email: signer@kkoji.invalid\nExpire-Date: 0\n%commit\n",
    )
    .unwrap();
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--gen-key"])
        .arg(&params)
        .output()
        .expect("gpg (install gnupg)");
    assert!(
        out.status.success(),
        "gpg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--with-colons", "--list-keys"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let long = text
        .lines()
        .find(|l| l.starts_with("pub:"))
        .and_then(|l| l.split(':').nth(4))
        .expect("a public key")
        .to_ascii_lowercase();
    long[long.len() - 8..].to_string()
}

/// A signed copy of `rpm` made by rpmsign (the original is left as it is).
fn sign(home: &Path, rpm: &Path, out_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(out_dir).unwrap();
    let dest = out_dir.join(rpm.file_name().unwrap());
    std::fs::copy(rpm, &dest).unwrap();
    let out = Command::new("rpmsign")
        .env("GNUPGHOME", home)
        .arg("--define")
        .arg("_gpg_name signer@kkoji.invalid")
        .arg("--define")
        .arg(format!("_gpg_path {}", home.display()))
        .arg("--define")
        .arg(format!("__gpg {}", gpg_bin()))
        .arg("--addsign")
        .arg(&dest)
        .output()
        .expect("rpmsign (install rpm)");
    assert!(
        out.status.success(),
        "rpmsign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dest
}

/// Where gpg is: rpm's macros may name a gpg2 this system does not have.
fn gpg_bin() -> String {
    ["/usr/bin/gpg", "/bin/gpg", "/usr/local/bin/gpg"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("gpg")
        .to_string()
}

fn sighdr(rpm: &Path) -> Vec<u8> {
    let mut f = std::fs::File::open(rpm).unwrap();
    kkoji_hub::rpmsig::read_parts(&mut f).unwrap().sighdr
}

fn b64(data: &[u8]) -> Value {
    use base64::Engine;
    Value::String(base64::engine::general_purpose::STANDARD.encode(data))
}

async fn sigs(c: &KojiClient, rpm: i64) -> Vec<(String, String)> {
    c.call_kw("queryRPMSigs", vec![], kw(&[("rpm_id", rpm.into())]))
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(int(s, "rpm_id"), rpm);
            (
                s.get("sigkey").and_then(Value::as_str).unwrap().to_string(),
                s.get("sighash")
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

async fn import(
    c: &KojiClient,
    dir: &str,
    file: &Path,
) -> Result<Value, koji_protocol::client::ClientError> {
    upload(c, dir, file).await;
    let base = file.file_name().unwrap().to_string_lossy().into_owned();
    c.call("importRPM", vec![dir.into(), base.into()]).await
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

#[tokio::test]
async fn imported_rpms_get_signatures_and_signed_copies() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let signer = farm.user("signer");
    signer.ssl_login().await.unwrap();
    let packager = farm.user("packager");
    packager.ssl_login().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let (srpm, rpms) = rpmbuild(work.path(), "sigpkg", true, "true");
    let rpm = rpms[0].clone();
    let gnupg = work.path().join("gnupg");
    let key = gen_key(&gnupg);
    let signed = sign(&gnupg, &rpm, &work.path().join("signed"));
    let signed_srpm = sign(&gnupg, &srpm, &work.path().join("signed"));

    // imports: only an admin; the source RPM makes the build, the binary joins it
    let base = rpm.file_name().unwrap().to_string_lossy().into_owned();
    upload(&packager, "cli-import/p", &rpm).await;
    let (code, msg) = fault(
        packager
            .call(
                "importRPM",
                vec!["cli-import/p".into(), base.as_str().into()],
            )
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    let (_, msg) = fault(import(&admin, "cli-import/a", &rpm).await);
    assert_eq!(msg, "No such build", "a binary rpm needs its build");
    let src = import(&admin, "cli-import/b", &srpm).await.unwrap();
    assert_eq!(src.get("arch").and_then(Value::as_str), Some("src"));
    let bin = import(&admin, "cli-import/c", &rpm).await.unwrap();
    let rpm_id = int(&bin, "id");
    let build = admin
        .call("getBuild", vec!["sigpkg-1.0-1".into()])
        .await
        .unwrap();
    assert_eq!(int(&build, "state"), 1, "COMPLETE");
    let bdir = farm.path("koji/packages/sigpkg/1.0/1");
    assert_eq!(
        std::fs::read(bdir.join(format!("noarch/{base}"))).unwrap(),
        std::fs::read(&rpm).unwrap()
    );
    assert!(
        sigs(&admin, rpm_id).await.is_empty(),
        "an unsigned import has no signature"
    );
    let (_, msg) = fault(import(&admin, "cli-import/d", &rpm).await);
    assert!(msg.contains("already imported"), "{msg}");

    // addRPMSig: the `sign` permission, the key id read from the header
    let hdr = sighdr(&signed);
    let (code, msg) = fault(
        packager
            .call("addRPMSig", vec![rpm_id.into(), b64(&hdr)])
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    assert!(msg.contains("sign permission required"), "{msg}");
    admin
        .call("grantPermission", vec!["signer".into(), "sign".into()])
        .await
        .unwrap();

    // a header made for another package (the source RPM's) is refused, nothing stored
    let other = sighdr(&signed_srpm);
    let (code, msg) = fault(
        signer
            .call("addRPMSig", vec![rpm_id.into(), b64(&other)])
            .await,
    );
    assert_eq!(code, codes::GENERIC);
    assert!(msg.contains("sigpkg-1.0-1.noarch"), "{msg}");
    assert!(
        msg.starts_with("wrong md5 for sigpkg-1.0-1.noarch"),
        "{msg}"
    );
    // garbage and headers that are not signature headers
    let (_, msg) = fault(
        signer
            .call("addRPMSig", vec![rpm_id.into(), b64(b"not a header")])
            .await,
    );
    assert!(msg.contains("Invalid signature header"), "{msg}");
    let (_, msg) = fault(
        signer
            .call("addRPMSig", vec![rpm_id.into(), "%%%".into()])
            .await,
    );
    assert!(msg.contains("not base64"), "{msg}");
    // the unsigned header of the RPM itself: nothing to file under a key
    let (_, msg) = fault(
        signer
            .call("addRPMSig", vec![rpm_id.into(), b64(&sighdr(&rpm))])
            .await,
    );
    assert!(msg.contains("carries no signature"), "{msg}");
    let (_, msg) = fault(
        signer
            .call("addRPMSig", vec!["nosuch-1-1.noarch".into(), b64(&hdr)])
            .await,
    );
    assert!(msg.starts_with("No such rpm"), "{msg}");
    assert!(
        sigs(&admin, rpm_id).await.is_empty(),
        "refusals stored nothing"
    );
    assert!(!bdir.join("data/sigcache").exists());

    signer
        .call(
            "addRPMSig",
            vec![base.trim_end_matches(".rpm").into(), b64(&hdr)],
        )
        .await
        .unwrap();
    assert_eq!(
        sigs(&admin, rpm_id).await,
        vec![(key.clone(), md5_hex(&hdr))]
    );
    let cached = bdir.join(format!("data/sigcache/{key}/noarch/{base}.sig"));
    assert_eq!(std::fs::read(&cached).unwrap(), hdr);
    let (_, msg) = fault(
        signer
            .call("addRPMSig", vec![rpm_id.into(), b64(&hdr)])
            .await,
    );
    assert_eq!(
        msg,
        format!("Signature already exists for package sigpkg-1.0-1.noarch, key {key}")
    );
    // by key, across RPMs
    let by_key = admin
        .call_kw(
            "queryRPMSigs",
            vec![],
            kw(&[("sigkey", key.to_uppercase().into())]),
        )
        .await
        .unwrap();
    assert_eq!(by_key.as_array().unwrap().len(), 1);
    let none = admin
        .call_kw(
            "queryRPMSigs",
            vec![],
            kw(&[("rpm_id", "nosuch-1-1.noarch".into())]),
        )
        .await
        .unwrap();
    assert_eq!(none.as_array().unwrap().len(), 0);

    // getRPMHeaders with sigkey: the stored header's signature packet
    let h = admin
        .call_kw(
            "getRPMHeaders",
            vec![],
            kw(&[
                ("rpmID", rpm_id.into()),
                (
                    "headers",
                    Value::Array(vec!["rsaheader".into(), "name".into()]),
                ),
                ("sigkey", key.as_str().into()),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(h.get("name").and_then(Value::as_str), Some("sigpkg"));
    let Some(Value::Base64(packet)) = h.get("rsaheader") else {
        panic!("no rsaheader in {h:?}");
    };
    assert_eq!(kkoji_hub::rpmsig::key_id(packet).unwrap(), key);
    let unsigned = admin
        .call_kw(
            "getRPMHeaders",
            vec![],
            kw(&[
                ("rpmID", rpm_id.into()),
                ("headers", Value::Array(vec!["rsaheader".into()])),
            ]),
        )
        .await
        .unwrap();
    assert!(
        unsigned.get("rsaheader").is_none(),
        "the file itself is unsigned"
    );

    // writeSignedRPM: what rpmsign wrote, byte for byte
    let (code, _) = fault(
        packager
            .call("writeSignedRPM", vec![rpm_id.into(), key.as_str().into()])
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    let (_, msg) = fault(
        signer
            .call("writeSignedRPM", vec![rpm_id.into(), "deadbeef".into()])
            .await,
    );
    assert_eq!(
        msg,
        "No cached signature for package sigpkg-1.0-1.noarch, key deadbeef"
    );
    let (_, msg) = fault(
        signer
            .call("writeSignedRPM", vec![rpm_id.into(), "../../x".into()])
            .await,
    );
    assert!(msg.starts_with("Invalid signature key"), "{msg}");
    signer
        .call(
            "writeSignedRPM",
            vec![rpm_id.into(), key.to_uppercase().into()],
        )
        .await
        .unwrap();
    let copy = bdir.join(format!("data/signed/{key}/noarch/{base}"));
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&signed).unwrap()
    );
    // a symlink planted where the copy goes is not followed
    let outside = work.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::remove_dir_all(bdir.join("data/signed")).unwrap();
    std::os::unix::fs::symlink(&outside, bdir.join("data/signed")).unwrap();
    let (code, msg) = fault(
        signer
            .call_kw(
                "writeSignedRPM",
                vec![rpm_id.into(), key.as_str().into()],
                kw(&[("force", true.into())]),
            )
            .await,
    );
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert!(
        !msg.contains(&*farm.dir.path().to_string_lossy()),
        "no server path: {msg}"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    std::fs::remove_file(bdir.join("data/signed")).unwrap();
    signer
        .call("writeSignedRPM", vec![rpm_id.into(), key.as_str().into()])
        .await
        .unwrap();
    assert!(copy.exists());

    // deleteRPMSig: admin only; the copy goes, the header is set aside
    let (code, _) = fault(
        signer
            .call_kw(
                "deleteRPMSig",
                vec![rpm_id.into()],
                kw(&[("sigkey", key.as_str().into())]),
            )
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    let (_, msg) = fault(admin.call("deleteRPMSig", vec![rpm_id.into()]).await);
    assert_eq!(msg, "No signature specified");
    let (_, msg) = fault(
        admin
            .call_kw(
                "deleteRPMSig",
                vec![rpm_id.into()],
                kw(&[("sigkey", "0badc0de".into())]),
            )
            .await,
    );
    assert_eq!(
        msg,
        "sigpkg-1.0-1.noarch has no matching signatures to delete"
    );
    assert_eq!(sigs(&admin, rpm_id).await.len(), 1);
    admin
        .call_kw(
            "deleteRPMSig",
            vec![rpm_id.into()],
            kw(&[("all_sigs", true.into())]),
        )
        .await
        .unwrap();
    assert!(sigs(&admin, rpm_id).await.is_empty());
    assert!(!copy.exists());
    assert!(!cached.exists());
    assert!(
        cached
            .with_file_name(format!("{base}.sig.{}.save", md5_hex(&hdr)))
            .exists()
    );
    // and it can be imported again
    signer
        .call("addRPMSig", vec![rpm_id.into(), b64(&hdr)])
        .await
        .unwrap();
    assert_eq!(sigs(&admin, rpm_id).await.len(), 1);

    // renameRPMSig: admin only; row, header and copy move to the new key
    signer
        .call("writeSignedRPM", vec![rpm_id.into(), key.as_str().into()])
        .await
        .unwrap();
    let args = |old: &str, new: &str| vec![Value::Int(rpm_id), old.into(), new.into()];
    let (code, _) = fault(signer.call("renameRPMSig", args(&key, "0badc0de")).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    let (_, msg) = fault(
        admin
            .call("renameRPMSig", args("12345678", "0badc0de"))
            .await,
    );
    assert_eq!(
        msg,
        "No signature with key 12345678 for sigpkg-1.0-1.noarch"
    );
    let (_, msg) = fault(admin.call("renameRPMSig", args(&key, "not/hex")).await);
    assert!(msg.starts_with("Invalid signature key"), "{msg}");
    let (_, msg) = fault(admin.call("renameRPMSig", args(&key, &key)).await);
    assert!(msg.contains("already exists"), "{msg}");
    assert_eq!(
        sigs(&admin, rpm_id).await,
        vec![(key.clone(), md5_hex(&hdr))]
    );
    admin
        .call("renameRPMSig", args(&key, "0BADC0DE"))
        .await
        .unwrap();
    assert_eq!(
        sigs(&admin, rpm_id).await,
        vec![("0badc0de".to_string(), md5_hex(&hdr))]
    );
    assert!(!copy.exists() && !cached.exists());
    let renamed = bdir.join(format!("data/signed/0badc0de/noarch/{base}"));
    assert_eq!(
        std::fs::read(&renamed).unwrap(),
        std::fs::read(&signed).unwrap()
    );
    assert_eq!(
        std::fs::read(bdir.join(format!("data/sigcache/0badc0de/noarch/{base}.sig"))).unwrap(),
        hdr
    );

    // addRPMSig with sigkey files the header under that label
    let (_, msg) = fault(
        signer
            .call_kw(
                "addRPMSig",
                vec![rpm_id.into(), b64(&hdr)],
                kw(&[("sigkey", "../../etc".into())]),
            )
            .await,
    );
    assert!(msg.starts_with("Invalid signature key"), "{msg}");
    signer
        .call_kw(
            "addRPMSig",
            vec![rpm_id.into(), b64(&hdr)],
            kw(&[("sigkey", "AbCd0001".into())]),
        )
        .await
        .unwrap();
    assert_eq!(sigs(&admin, rpm_id).await.len(), 2);
}

#[tokio::test]
async fn empty_builds_and_signed_imports() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let packager = farm.user("packager");
    packager.ssl_login().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let (_srpm, rpms) = rpmbuild(work.path(), "elsewhere", true, "true");
    let gnupg = work.path().join("gnupg");
    let key = gen_key(&gnupg);
    let signed = sign(&gnupg, &rpms[0], &work.path().join("signed"));

    let args = || -> Vec<Value> { vec!["elsewhere".into(), "1.0".into(), "1".into(), Value::Nil] };
    let (code, _) = fault(packager.call("createEmptyBuild", args()).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    assert_eq!(
        admin
            .call("getBuild", vec!["elsewhere-1.0-1".into()])
            .await
            .unwrap(),
        Value::Nil
    );
    let id = admin.call("createEmptyBuild", args()).await.unwrap();
    let b = admin.call("getBuild", vec![id.clone()]).await.unwrap();
    assert_eq!(int(&b, "state"), 1);
    assert_eq!(
        b.get("owner_name").and_then(Value::as_str),
        Some("kojiadmin")
    );
    let (_, msg) = fault(admin.call("createEmptyBuild", args()).await);
    assert!(msg.starts_with("Build already exists"), "{msg}");
    let (_, msg) = fault(
        admin
            .call(
                "createEmptyBuild",
                vec!["bad/name".into(), "1".into(), "1".into(), Value::Nil],
            )
            .await,
    );
    assert!(!msg.is_empty());

    // a signed RPM keeps the signature it came with
    let rpm = import(&admin, "cli-import/s", &signed).await.unwrap();
    let rpm_id = int(&rpm, "id");
    let got = sigs(&admin, rpm_id).await;
    assert_eq!(got, vec![(key.clone(), md5_hex(&sighdr(&signed)))]);
    let rpms = admin.call("listRPMs", vec![id]).await.unwrap();
    assert_eq!(rpms.as_array().unwrap().len(), 1);

    // a file whose name is not its NVRA
    let renamed = work.path().join("renamed.noarch.rpm");
    std::fs::copy(&signed, &renamed).unwrap();
    let (_, msg) = fault(import(&admin, "cli-import/r", &renamed).await);
    assert!(msg.starts_with("bad filename: renamed.noarch.rpm"), "{msg}");
    let (_, msg) = fault(
        admin
            .call(
                "importRPM",
                vec!["cli-import/none".into(), "x-1-1.noarch.rpm".into()],
            )
            .await,
    );
    assert!(msg.starts_with("No such file"), "{msg}");
    let (_, msg) = fault(
        admin
            .call("importRPM", vec!["../../etc".into(), "passwd".into()])
            .await,
    );
    assert!(
        !msg.contains(&*farm.dir.path().to_string_lossy()),
        "no server path: {msg}"
    );
}
