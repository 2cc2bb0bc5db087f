//! Users, channels and storage volumes as an admin changes them, against a hub on a
//! throwaway PostgreSQL over real TLS: who may, what the next read shows, the faults for
//! unknown users, channels, builds and volumes, and that a refused call changes nothing —
//! neither rows nor files.

mod common;

use common::{Farm, fault, host, int, kw, rpmbuild, upload};
use koji_protocol::client::KojiClient;
use koji_protocol::{Value, codes, encode_response, kstruct};

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

async fn channel(c: &KojiClient, name: &str) -> Value {
    c.call("getChannel", vec![name.into()]).await.unwrap()
}

async fn channels(c: &KojiClient) -> Vec<Value> {
    c.call("listChannels", vec![])
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .to_vec()
}

async fn user(c: &KojiClient, name: &str) -> Value {
    c.call("getUser", vec![name.into()]).await.unwrap()
}

fn principals(u: &Value) -> Vec<String> {
    u.get("krb_principals")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

fn mapping(old: Option<&str>, new: Option<&str>) -> Value {
    kstruct! {
        "old" => old.map_or(Value::Nil, Value::from),
        "new" => new.map_or(Value::Nil, Value::from),
    }
}

#[tokio::test]
async fn channels_added_edited_enabled_and_disabled() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let packager = farm.user("packager");
    packager.ssl_login().await.unwrap();

    let id = admin
        .call_kw(
            "addChannel",
            vec!["c-new".into()],
            kw(&[("description", "new builders".into())]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let ch = channel(&admin, "c-new").await;
    assert_eq!(int(&ch, "id"), id);
    assert_eq!(s(&ch, "description").as_deref(), Some("new builders"));
    assert_eq!(ch.get("enabled").and_then(Value::as_bool), Some(true));

    // refusals: duplicate, bad name, not an admin — the channel list stays as it was
    let before = channels(&admin).await;
    let (code, msg) = fault(admin.call("addChannel", vec!["c-new".into()]).await);
    assert_eq!(code, codes::GENERIC);
    assert_eq!(msg, format!("channel c-new already exists (id={id})"));
    let (code, msg) = fault(admin.call("addChannel", vec!["bad name!".into()]).await);
    assert_eq!(code, codes::NAME_VALIDATION, "{msg}");
    let (code, msg) = fault(packager.call("addChannel", vec!["c-mine".into()]).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    assert_eq!(before, channels(&admin).await);

    // edit: rename, description, comment; the same values again change nothing
    let edit = kw(&[
        ("name", "c-renamed".into()),
        ("description", "renamed builders".into()),
        ("comment", "moved racks".into()),
    ]);
    let changed = admin
        .call_kw("editChannel", vec!["c-new".into()], edit.clone())
        .await
        .unwrap();
    assert_eq!(changed, Value::Bool(true));
    assert_eq!(channel(&admin, "c-new").await, Value::Nil);
    let ch = channel(&admin, "c-renamed").await;
    assert_eq!(int(&ch, "id"), id);
    assert_eq!(s(&ch, "description").as_deref(), Some("renamed builders"));
    assert_eq!(s(&ch, "comment").as_deref(), Some("moved racks"));
    let again = admin
        .call_kw("editChannel", vec!["c-renamed".into()], edit)
        .await
        .unwrap();
    assert_eq!(again, Value::Bool(false));

    let before = channels(&admin).await;
    let (code, msg) = fault(
        admin
            .call_kw(
                "editChannel",
                vec!["c-renamed".into()],
                kw(&[("name", "default".into()), ("comment", "x".into())]),
            )
            .await,
    );
    assert_eq!(code, codes::GENERIC);
    assert!(
        msg.starts_with("channel default already exists (id="),
        "{msg}"
    );
    let (code, msg) = fault(
        admin
            .call_kw(
                "editChannel",
                vec!["nosuch".into()],
                kw(&[("comment", "x".into())]),
            )
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such channel: nosuch")
    );
    let (code, _) = fault(
        packager
            .call_kw(
                "editChannel",
                vec!["c-renamed".into()],
                kw(&[("comment", "mine".into())]),
            )
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    assert_eq!(before, channels(&admin).await);

    // disable with a comment; enable without one keeps it
    admin
        .call_kw(
            "disableChannel",
            vec!["c-renamed".into()],
            kw(&[("comment", "maintenance".into())]),
        )
        .await
        .unwrap();
    let ch = channel(&admin, "c-renamed").await;
    assert_eq!(ch.get("enabled").and_then(Value::as_bool), Some(false));
    assert_eq!(s(&ch, "comment").as_deref(), Some("maintenance"));
    let enabled_only = admin
        .call_kw("listChannels", vec![], kw(&[("enabled", true.into())]))
        .await
        .unwrap();
    assert!(
        !enabled_only
            .as_array()
            .unwrap()
            .iter()
            .any(|c| s(c, "name").as_deref() == Some("c-renamed"))
    );
    // a disabled channel takes no new host
    let _h = host(&farm, &admin, "c-host", &["x86_64"], 2.0).await;
    let (code, msg) = fault(
        admin
            .call(
                "addHostToChannel",
                vec!["c-host".into(), "c-renamed".into()],
            )
            .await,
    );
    assert_eq!(code, codes::GENERIC);
    assert!(msg.contains("disabled"), "{msg}");
    admin
        .call("enableChannel", vec!["c-renamed".into()])
        .await
        .unwrap();
    let ch = channel(&admin, "c-renamed").await;
    assert_eq!(ch.get("enabled").and_then(Value::as_bool), Some(true));
    assert_eq!(s(&ch, "comment").as_deref(), Some("maintenance"));

    let before = channels(&admin).await;
    let (code, msg) = fault(admin.call("disableChannel", vec!["nosuch".into()]).await);
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such channel: nosuch")
    );
    let (code, _) = fault(
        packager
            .call("disableChannel", vec!["c-renamed".into()])
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    assert_eq!(before, channels(&admin).await);
}

#[tokio::test]
async fn edit_user_renames_and_changes_principals() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let packager = farm.user("packager");
    packager.ssl_login().await.unwrap();
    let uid = admin
        .call_kw(
            "createUser",
            vec!["alice".into()],
            kw(&[("krb_principal", "alice@EXAMPLE.COM".into())]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();

    admin
        .call(
            "editUser",
            vec![
                "alice".into(),
                "alice2".into(),
                Value::Array(vec![
                    mapping(Some("alice@EXAMPLE.COM"), Some("alice2@EXAMPLE.COM")),
                    mapping(None, Some("alice@OTHER.ORG")),
                ]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(user(&admin, "alice").await, Value::Nil);
    let u = user(&admin, "alice2").await;
    assert_eq!(int(&u, "id"), uid);
    let mut p = principals(&u);
    p.sort();
    assert_eq!(p, ["alice2@EXAMPLE.COM", "alice@OTHER.ORG"]);
    // a principal names the user too
    assert_eq!(int(&user(&admin, "alice@OTHER.ORG").await, "id"), uid);

    // refusals change nothing: name taken, conflicting, existing and missing principals,
    // an unknown user, a caller who is not an admin
    let before = user(&admin, "alice2").await;
    let cases: Vec<(Vec<Value>, String)> = vec![
        (
            vec!["alice2".into(), "kojiadmin".into()],
            "Name kojiadmin already taken by user".into(),
        ),
        (
            vec![
                "alice2".into(),
                Value::Nil,
                Value::Array(vec![
                    mapping(None, Some("x@EXAMPLE.COM")),
                    mapping(Some("x@EXAMPLE.COM"), None),
                ]),
            ],
            "There are some conflicts between added and removed Kerberos principals: x@EXAMPLE.COM"
                .into(),
        ),
        (
            vec![
                "alice2".into(),
                "alice3".into(),
                Value::Array(vec![mapping(None, Some("alice@OTHER.ORG"))]),
            ],
            "Cannot add existing Kerberos principals: alice@OTHER.ORG".into(),
        ),
        (
            vec![
                "alice2".into(),
                "alice3".into(),
                Value::Array(vec![mapping(Some("gone@EXAMPLE.COM"), None)]),
            ],
            "Cannot remove non-existent Kerberos principals: gone@EXAMPLE.COM".into(),
        ),
        (
            vec!["nobody".into(), "somebody".into()],
            "No such user: 'nobody'".into(),
        ),
    ];
    for (args, want) in cases {
        let (code, msg) = fault(admin.call("editUser", args.clone()).await);
        assert_eq!(code, codes::GENERIC, "{args:?}: {msg}");
        assert!(msg.starts_with(&want), "{args:?}: {msg}");
        assert_eq!(before, user(&admin, "alice2").await, "{args:?}");
    }
    let (code, msg) = fault(
        admin
            .call("editUser", vec!["alice2".into(), "bad name!".into()])
            .await,
    );
    assert_eq!(code, codes::NAME_VALIDATION, "{msg}");
    let (code, _) = fault(
        packager
            .call("editUser", vec!["alice2".into(), "mallory".into()])
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    assert_eq!(before, user(&admin, "alice2").await);

    // removing the last principal
    admin
        .call(
            "editUser",
            vec![
                uid.into(),
                Value::Nil,
                Value::Array(vec![
                    mapping(Some("alice2@EXAMPLE.COM"), None),
                    mapping(Some("alice@OTHER.ORG"), None),
                ]),
            ],
        )
        .await
        .unwrap();
    assert!(principals(&user(&admin, "alice2").await).is_empty());
}

async fn volumes(c: &KojiClient) -> Vec<String> {
    c.call("listVolumes", vec![])
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(v, "name").unwrap())
        .collect()
}

async fn next_task(h: &KojiClient) -> i64 {
    let got = h
        .call("host.waitTasks", vec![Value::Double(10.0)])
        .await
        .unwrap();
    let list = got.as_array().unwrap().to_vec();
    assert_eq!(list.len(), 1, "expected one assigned task: {got:?}");
    let id = list[0].get("id").and_then(Value::as_i64).unwrap();
    h.call("host.openTask", vec![id.into()]).await.unwrap();
    id
}

fn task_dir(t: i64) -> String {
    format!("tasks/{}/{}", t % 10000, t)
}

/// A COMPLETE build `vol-1.0-1` made the way a builder makes one; its id.
async fn complete_build(farm: &Farm, admin: &KojiClient) -> i64 {
    admin
        .call_kw(
            "createTag",
            vec!["v-build".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    admin
        .call("createTag", vec!["v-dest".into()])
        .await
        .unwrap();
    admin
        .call(
            "createBuildTarget",
            vec!["v-target".into(), "v-build".into(), "v-dest".into()],
        )
        .await
        .unwrap();
    admin
        .call(
            "packageListAdd",
            vec!["v-dest".into(), "vol".into(), "kojiadmin".into()],
        )
        .await
        .unwrap();
    let b = host(farm, admin, "v-builder", &["x86_64"], 4.0).await;
    b.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let (srpm, rpms) = rpmbuild(farm.dir.path(), "vol", true, "true");
    let src = upload(admin, "cli-build/1.vol", &srpm).await;
    let task = admin
        .call("build", vec![src.as_str().into(), "v-target".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(next_task(&b).await, task);
    let build_id = b
        .call(
            "host.initBuild",
            vec![kstruct! { "name" => "vol", "version" => "1.0", "release" => "1", "task_id" => task }],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let child = b
        .call_kw(
            "host.subtask",
            vec!["buildArch".into(), Value::Array(vec![]), task.into()],
            kw(&[("label", "noarch".into()), ("arch", "noarch".into())]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    b.call("host.taskSetWait", vec![task.into(), Value::Nil])
        .await
        .unwrap();
    assert_eq!(next_task(&b).await, child);
    let cdir = task_dir(child);
    let mut names = Vec::new();
    for f in &rpms {
        names.push(Value::String(upload(&b, &cdir, f).await));
    }
    let child_srpm = upload(&b, &cdir, &srpm).await;
    std::fs::write(farm.path("build.log"), "log\n").unwrap();
    let log = upload(&b, &cdir, &farm.path("build.log")).await;
    b.call(
        "host.closeTask",
        vec![child.into(), encode_response(&Value::Nil).into()],
    )
    .await
    .unwrap();
    b.call(
        "host.completeBuild",
        vec![
            task.into(),
            build_id.into(),
            child_srpm.as_str().into(),
            Value::Array(names),
            Value::Nil,
            Value::Struct(kw(&[("noarch", Value::Array(vec![log.as_str().into()]))])),
        ],
    )
    .await
    .unwrap();
    build_id
}

async fn build_volume(c: &KojiClient, id: i64) -> (i64, String) {
    let b = c.call("getBuild", vec![id.into()]).await.unwrap();
    (int(&b, "volume_id"), s(&b, "volume_name").unwrap())
}

#[tokio::test]
async fn volumes_added_listed_and_builds_moved() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let packager = farm.user("packager");
    packager.ssl_login().await.unwrap();
    let top = farm.path("koji");
    assert_eq!(volumes(&admin).await, ["DEFAULT"]);

    // a volume needs its directory first; nothing is recorded without it
    let (code, msg) = fault(admin.call("addVolume", vec!["v1".into()]).await);
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "please create the volume directory first")
    );
    assert_eq!(volumes(&admin).await, ["DEFAULT"]);
    std::fs::create_dir_all(top.join("vol/v1")).unwrap();
    let (code, _) = fault(packager.call("addVolume", vec!["v1".into()]).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    assert_eq!(volumes(&admin).await, ["DEFAULT"]);
    let v1 = admin.call("addVolume", vec!["v1".into()]).await.unwrap();
    assert_eq!(s(&v1, "name").as_deref(), Some("v1"));
    assert_eq!(volumes(&admin).await, ["DEFAULT", "v1"]);
    // its toplink leads back to the topdir
    assert_eq!(
        std::fs::canonicalize(top.join("vol/v1/toplink")).unwrap(),
        std::fs::canonicalize(&top).unwrap()
    );
    let (code, msg) = fault(admin.call("addVolume", vec!["v1".into()]).await);
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "volume v1 already exists")
    );
    assert_eq!(
        admin.call("getVolume", vec!["v1".into()]).await.unwrap(),
        v1
    );
    assert_eq!(
        admin
            .call("getVolume", vec![int(&v1, "id").into()])
            .await
            .unwrap(),
        v1
    );
    assert_eq!(
        admin
            .call("getVolume", vec!["nosuch".into()])
            .await
            .unwrap(),
        Value::Nil
    );
    let (code, msg) = fault(
        admin
            .call("getVolume", vec!["nosuch".into(), true.into()])
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such volume: nosuch")
    );

    // a build moves to v1; its usual path still shows the files
    let build = complete_build(&farm, &admin).await;
    assert_eq!(
        build_volume(&admin, build).await,
        (0, "DEFAULT".to_string())
    );
    let usual = top.join("packages/vol/1.0/1");
    let srpm_rel = "src/vol-1.0-1.src.rpm";
    let content = std::fs::read(usual.join(srpm_rel)).unwrap();
    let (code, _) = fault(
        packager
            .call("changeBuildVolume", vec![build.into(), "v1".into()])
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED);
    admin
        .call(
            "changeBuildVolume",
            vec![build.into(), int(&v1, "id").into()],
        )
        .await
        .unwrap();
    assert_eq!(
        build_volume(&admin, build).await,
        (int(&v1, "id"), "v1".to_string())
    );
    let moved = top.join("vol/v1/packages/vol/1.0/1");
    assert!(moved.join(srpm_rel).is_file());
    assert!(
        std::fs::symlink_metadata(&usual)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(usual.join(srpm_rel)).unwrap(), content);

    // refusals leave the build where it is
    let (code, msg) = fault(
        admin
            .call("changeBuildVolume", vec![build.into(), "v1".into()])
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "Build vol-1.0-1 already on volume v1")
    );
    let (code, msg) = fault(
        admin
            .call("changeBuildVolume", vec![build.into(), "nosuch".into()])
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such volume: nosuch")
    );
    let (code, msg) = fault(
        admin
            .call(
                "changeBuildVolume",
                vec!["nosuch-1-1".into(), "DEFAULT".into()],
            )
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "No such build: 'nosuch-1-1'")
    );
    std::fs::create_dir_all(top.join("vol/v2")).unwrap();
    admin.call("addVolume", vec!["v2".into()]).await.unwrap();
    std::fs::remove_file(top.join("vol/v2/toplink")).unwrap();
    std::fs::remove_dir(top.join("vol/v2")).unwrap();
    let (code, msg) = fault(
        admin
            .call("changeBuildVolume", vec![build.into(), "v2".into()])
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (codes::GENERIC, "Directory entry missing for volume v2")
    );
    assert_eq!(build_volume(&admin, build).await.1, "v1");
    assert!(moved.join(srpm_rel).is_file());
    assert!(!top.join("vol/v2").exists());

    // a volume on a file system of its own (tmpfs, where the test may mount): the files
    // are copied across and the link follows them
    if let Some(_mounted) = Tmpfs::mount(&top.join("vol/v3")) {
        admin.call("addVolume", vec!["v3".into()]).await.unwrap();
        admin
            .call("changeBuildVolume", vec![build.into(), "v3".into()])
            .await
            .unwrap();
        assert_eq!(build_volume(&admin, build).await.1, "v3");
        assert!(!moved.exists());
        assert_eq!(
            std::fs::read(top.join("vol/v3/packages/vol/1.0/1").join(srpm_rel)).unwrap(),
            content
        );
        assert_eq!(std::fs::read(usual.join(srpm_rel)).unwrap(), content);
        admin
            .call("changeBuildVolume", vec![build.into(), "v1".into()])
            .await
            .unwrap();
        assert!(!top.join("vol/v3/packages/vol/1.0/1").exists());
        assert_eq!(std::fs::read(moved.join(srpm_rel)).unwrap(), content);
    }

    // and back to DEFAULT: a real directory again, the link gone
    admin
        .call("changeBuildVolume", vec![build.into(), "DEFAULT".into()])
        .await
        .unwrap();
    assert_eq!(
        build_volume(&admin, build).await,
        (0, "DEFAULT".to_string())
    );
    assert!(std::fs::symlink_metadata(&usual).unwrap().is_dir());
    assert_eq!(std::fs::read(usual.join(srpm_rel)).unwrap(), content);
    assert!(!moved.exists());
}

/// A tmpfs mounted for the test (root only), unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "kkoji-test-vol"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cannot mount a tmpfs (not root?): the cross-file-system move is not tested");
            return None;
        }
        Some(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
