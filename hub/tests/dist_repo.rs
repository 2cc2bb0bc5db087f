//! Dist repos at the protocol level: distRepo's permission and refusals (nothing written),
//! the repo row and tree it makes, and host.distRepoMove / host.repoDone as a simulated
//! builder (real TLS, real host cert) calls them: kojipkgs checked against the database and
//! rpmsigs, the RPM hard-linked under Packages/<letter>/, READY and `latest`, and never a
//! build repo.

mod common;

use common::{Farm, fault, host, int, kw, rpmbuild, upload};
use koji_protocol::client::KojiClient;
use koji_protocol::{Value, codes};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

async fn dist_repo(
    c: &KojiClient,
    tag: &str,
    keys: &[&str],
    extra: &[(&str, Value)],
) -> Result<Value, koji_protocol::client::ClientError> {
    let mut k = kw(&[("arch", Value::Array(vec!["x86_64".into()]))]);
    for (n, v) in extra {
        k.insert((*n).to_string(), v.clone());
    }
    let keys = Value::Array(keys.iter().map(|s| (*s).into()).collect());
    c.call_kw("distRepo", vec![tag.into(), keys], k).await
}

async fn newest_dist(c: &KojiClient, tag: &str, state: i64) -> Value {
    c.call_kw(
        "getRepo",
        vec![tag.into()],
        kw(&[("state", state.into()), ("dist", true.into())]),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn requests_are_checked_before_anything_is_written() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    admin
        .call_kw(
            "createTag",
            vec!["dt".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    let user = farm.user("packager");
    user.ssl_login().await.unwrap();

    let (code, msg) = fault(dist_repo(&user, "dt", &["abcd1234"], &[]).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    assert!(msg.contains("dist-repo permission required"), "{msg}");
    for (opt, v, feature) in [
        (
            "multilib",
            Value::from("cli-dist-repo/x/ml.conf"),
            "multilib",
        ),
        ("delta", Value::Array(vec![1.into()]), "delta RPMs"),
        ("zck", true.into(), "zchunk"),
        ("split_debuginfo", true.into(), "split debuginfo"),
        ("volume", "other".into(), "DEFAULT volume"),
    ] {
        let (_, msg) = fault(dist_repo(&admin, "dt", &["abcd1234"], &[(opt, v)]).await);
        assert!(msg.contains(feature), "{opt}: {msg}");
        assert!(msg.starts_with("kkoji "), "{opt}: {msg}");
    }
    let (code, msg) = fault(dist_repo(&admin, "dt", &["not-a-key"], &[]).await);
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let (_, msg) = fault(dist_repo(&admin, "dt-nosuch", &["abcd1234"], &[]).await);
    assert!(msg.contains("dt-nosuch"), "{msg}");
    assert!(newest_dist(&admin, "dt", 0).await.is_nil());
    assert!(!farm.path("koji/repos-dist/dt").exists());

    // with the permission: an INIT dist repo of its own task, and no build repo
    admin
        .call(
            "grantPermission",
            vec!["packager".into(), "dist-repo".into()],
        )
        .await
        .unwrap();
    let task = dist_repo(&user, "dt", &["ABCD1234"], &[]).await.unwrap();
    let task = task.as_i64().unwrap();
    let info = admin
        .call_kw(
            "getTaskInfo",
            vec![task.into()],
            kw(&[("request", true.into())]),
        )
        .await
        .unwrap();
    assert_eq!(info.get("method").and_then(Value::as_str), Some("distRepo"));
    let repo = newest_dist(&admin, "dt", 0).await;
    assert_eq!(repo.get("dist"), Some(&Value::Bool(true)));
    assert_eq!(int(&repo, "task_id"), task);
    let rid = int(&repo, "id");
    let dir = farm.path(&format!("koji/repos-dist/dt/{rid}"));
    assert!(dir.join("x86_64").is_dir());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("repo.json")).unwrap()).unwrap();
    assert_eq!(json["keys"], serde_json::json!(["abcd1234"]));
    // no --comps and a tag without groups: no comps file
    assert!(!dir.join("groups").exists());
    // --comps: the file the CLI uploaded under work/ is the repo's comps
    let local = tempfile::tempdir().unwrap();
    let comps = local.path().join("comps.xml");
    let text = "<?xml version=\"1.0\"?>\n<comps><group><id>dtg</id></group></comps>\n";
    std::fs::write(&comps, text).unwrap();
    upload(&user, "cli-dist-repo/u1", &comps).await;
    dist_repo(
        &user,
        "dt",
        &["abcd1234"],
        &[("comps", "cli-dist-repo/u1/comps.xml".into())],
    )
    .await
    .unwrap();
    let rid2 = int(&newest_dist(&admin, "dt", 0).await, "id");
    assert!(rid2 > rid);
    assert_eq!(
        std::fs::read_to_string(farm.path(&format!("koji/repos-dist/dt/{rid2}/groups/comps.xml")))
            .unwrap(),
        text
    );
    // a comps path outside work/ is refused
    let (_, msg) = fault(
        dist_repo(
            &user,
            "dt",
            &["abcd1234"],
            &[("comps", "../hub.toml".into())],
        )
        .await,
    );
    assert!(msg.contains("Invalid path"), "{msg}");
    assert!(
        admin
            .call_kw("getRepo", vec!["dt".into()], kw(&[("state", 0.into())]))
            .await
            .unwrap()
            .is_nil(),
        "a dist repo is not a build repo"
    );
}

/// Writes `name` with `text` in `dir` and uploads it into the task dir `up`.
async fn put(h: &KojiClient, dir: &Path, up: &str, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    upload(h, up, &p).await;
}

#[tokio::test]
async fn dist_repo_move_checks_what_the_builder_chose() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    admin
        .call_kw(
            "createTag",
            vec!["dm".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    // a build: the source RPM makes it, the binary joins it
    let work = tempfile::tempdir().unwrap();
    let (srpm, rpms) = rpmbuild(work.path(), "dmpkg", true, "true");
    for (i, f) in [&srpm, &rpms[0]].into_iter().enumerate() {
        let d = format!("cli-import/dm{i}");
        upload(&admin, &d, f).await;
        let base = f.file_name().unwrap().to_string_lossy().into_owned();
        admin
            .call("importRPM", vec![d.into(), base.into()])
            .await
            .unwrap();
    }
    let rpm = admin
        .call("getRPM", vec!["dmpkg-1.0-1.noarch".into()])
        .await
        .unwrap();

    let h = host(&farm, &admin, "disthost", &["x86_64"], 4.0).await;
    admin
        .call(
            "addHostToChannel",
            vec!["disthost".into(), "createrepo".into()],
        )
        .await
        .unwrap();
    h.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let task = dist_repo(&admin, "dm", &["abcd1234"], &[]).await.unwrap();
    let tid = task.as_i64().unwrap();
    let mut offered = false;
    for _ in 0..10 {
        let got = h
            .call("host.waitTasks", vec![Value::Double(5.0)])
            .await
            .unwrap();
        if got
            .as_array()
            .is_some_and(|a| a.iter().any(|t| int(t, "id") == tid))
        {
            offered = true;
            break;
        }
    }
    assert!(offered, "the distRepo task was not offered");
    h.call("host.openTask", vec![tid.into()]).await.unwrap();
    let rid = int(&newest_dist(&admin, "dm", 0).await, "id");
    let up = format!("tasks/{}/{tid}", tid % 10000);
    let local = work.path().join("up");
    std::fs::create_dir_all(&local).unwrap();
    let entry = |size: i64, sigkey: Value| {
        serde_json::json!({"dmpkg-1.0-1.noarch.rpm": {
            "id": int(&rpm, "id"), "name": "dmpkg", "version": "1.0", "release": "1",
            "arch": "noarch", "epoch": null, "size": size,
            "payloadhash": rpm.get("payloadhash").and_then(Value::as_str).unwrap(),
            "build_id": int(&rpm, "build_id"),
            "sigkey": match sigkey { Value::String(s) => serde_json::json!(s), _ => serde_json::Value::Null },
        }})
        .to_string()
    };
    put(
        &h,
        &local,
        &up,
        "pkglist",
        "Packages/d/dmpkg-1.0-1.noarch.rpm\n",
    )
    .await;
    put(
        &h,
        &local,
        &up,
        "repo_manifest",
        r#"["pkglist", "kojipkgs"]"#,
    )
    .await;
    let mv = || {
        h.call(
            "host.distRepoMove",
            vec![rid.into(), up.as_str().into(), "x86_64".into()],
        )
    };
    let pkgdir = farm.path(&format!("koji/repos-dist/dm/{rid}/x86_64/Packages"));

    // a size that is not the database's, a key the RPM has no signature with
    put(
        &h,
        &local,
        &up,
        "kojipkgs",
        &entry(int(&rpm, "size") + 1, Value::Nil),
    )
    .await;
    let (_, msg) = fault(mv().await);
    assert!(msg.contains("does not match the database"), "{msg}");
    put(
        &h,
        &local,
        &up,
        "kojipkgs",
        &entry(int(&rpm, "size"), "abcd1234".into()),
    )
    .await;
    let (_, msg) = fault(mv().await);
    assert!(msg.contains("no signature with key abcd1234"), "{msg}");
    // a manifest naming a file that was not uploaded
    put(
        &h,
        &local,
        &up,
        "kojipkgs",
        &entry(int(&rpm, "size"), Value::Nil),
    )
    .await;
    put(
        &h,
        &local,
        &up,
        "repo_manifest",
        r#"["pkglist", "kojipkgs", "repodata/repomd.xml"]"#,
    )
    .await;
    let (_, msg) = fault(mv().await);
    assert!(msg.contains("uploaded file missing"), "{msg}");
    assert!(!pkgdir.exists(), "a refused move wrote files");

    // the unsigned primary copy, as --allow-missing-signatures chooses it
    put(
        &h,
        &local,
        &up,
        "repo_manifest",
        r#"["pkglist", "kojipkgs"]"#,
    )
    .await;
    mv().await.unwrap();
    let linked = pkgdir.join("d/dmpkg-1.0-1.noarch.rpm");
    let primary = farm.path("koji/packages/dmpkg/1.0/1/noarch/dmpkg-1.0-1.noarch.rpm");
    assert_eq!(
        std::fs::metadata(&linked).unwrap().ino(),
        std::fs::metadata(&primary).unwrap().ino(),
        "the RPM is a hard link of the primary copy"
    );
    assert!(
        linked
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("kojipkgs")
            .is_file()
    );
    let (_, msg) = fault(mv().await);
    assert!(msg.contains("File already in repo"), "{msg}");

    // another host's call is refused
    let other = host(&farm, &admin, "otherhost", &["x86_64"], 4.0).await;
    let (code, msg) = fault(
        other
            .call(
                "host.distRepoMove",
                vec![rid.into(), up.as_str().into(), "x86_64".into()],
            )
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");

    h.call(
        "host.repoDone",
        vec![rid.into(), Value::Struct(Default::default())],
    )
    .await
    .unwrap();
    let ready = newest_dist(&admin, "dm", 1).await;
    assert_eq!(int(&ready, "id"), rid);
    assert_eq!(
        std::fs::read_link(farm.path("koji/repos-dist/dm/latest")).unwrap(),
        std::path::PathBuf::from(rid.to_string())
    );
    assert!(
        admin
            .call("getRepo", vec!["dm".into()])
            .await
            .unwrap()
            .is_nil(),
        "a READY dist repo is not the tag's build repo"
    );
}
