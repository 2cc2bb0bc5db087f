//! Builds between tags through a real hub over real TLS: tagBuild makes a task a builder
//! runs (here the test plays the builder), untagBuild, moves, untagged builds, references,
//! the history of tagging, tag snapshots (clone-tag), and every refusal: no permission,
//! unknown tag or build, a locked tag, a package not listed or blocked, a build not
//! complete — each a Koji fault that leaves the database as it was.

mod common;

use common::{Farm, fault, host, int, kw, upload};
use koji_protocol::client::KojiClient;
use koji_protocol::{Value, codes, encode_response, kstruct};
use std::path::{Path, PathBuf};

/// Builds `name-1.0-REL` (noarch) with rpmbuild; returns (srpm, rpm).
fn rpmbuild(dir: &Path, name: &str, release: &str) -> (PathBuf, PathBuf) {
    let top = dir.join(format!("rpmbuild-{name}-{release}"));
    for d in ["SPECS", "SOURCES", "BUILD", "RPMS", "SRPMS", "BUILDROOT"] {
        std::fs::create_dir_all(top.join(d)).unwrap();
    }
    let spec = format!(
        "Name: {name}\nVersion: 1.0\nRelease: {release}\nSummary: t\nLicense: MIT\nBuildArch: noarch\n\n\
         %description\nt\n\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
         echo {release} > %{{buildroot}}/usr/share/{name}/v\n\n%files\n/usr/share/{name}/v\n"
    );
    let spec_path = top.join("SPECS").join(format!("{name}.spec"));
    std::fs::write(&spec_path, spec).unwrap();
    let out = std::process::Command::new("rpmbuild")
        .arg("-ba")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(&spec_path)
        .output()
        .expect("rpmbuild");
    assert!(
        out.status.success(),
        "rpmbuild: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nvr = format!("{name}-1.0-{release}");
    (
        top.join("SRPMS").join(format!("{nvr}.src.rpm")),
        top.join("RPMS/noarch").join(format!("{nvr}.noarch.rpm")),
    )
}

/// The next task assigned to the host, opened: (id, method, params).
async fn next_task(h: &KojiClient) -> (i64, String, Vec<Value>) {
    let got = h
        .call("host.waitTasks", vec![Value::Double(10.0)])
        .await
        .unwrap();
    let list = got.as_array().unwrap().to_vec();
    assert_eq!(list.len(), 1, "expected one assigned task: {got:?}");
    let id = int(&list[0], "id");
    h.call("host.openTask", vec![id.into()]).await.unwrap();
    let info = h
        .call("getTaskInfo", vec![id.into(), true.into()])
        .await
        .unwrap();
    let method = info
        .get("method")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    let params = info
        .get("request")
        .and_then(Value::as_array)
        .unwrap()
        .to_vec();
    (id, method, params)
}

/// A farm with a target (`t-build` → `dest`), `dest` listing foo and bar, a ready
/// builder `b1`.
struct Setup {
    farm: Farm,
    admin: KojiClient,
    b1: KojiClient,
    n: std::sync::atomic::AtomicU32,
}

impl Setup {
    async fn new() -> Setup {
        let farm = Farm::start().await;
        let admin = farm.admin().await;
        admin
            .call_kw(
                "createTag",
                vec!["t-build".into()],
                kw(&[("arches", "x86_64".into())]),
            )
            .await
            .unwrap();
        admin.call("createTag", vec!["dest".into()]).await.unwrap();
        admin
            .call(
                "createBuildTarget",
                vec!["t-target".into(), "t-build".into(), "dest".into()],
            )
            .await
            .unwrap();
        for p in ["foo", "bar"] {
            admin
                .call(
                    "packageListAdd",
                    vec!["dest".into(), p.into(), "kojiadmin".into()],
                )
                .await
                .unwrap();
        }
        let b1 = host(&farm, &admin, "b1", &["x86_64"], 4.0).await;
        b1.call("host.updateHost", vec![0.0.into(), true.into()])
            .await
            .unwrap();
        Setup {
            farm,
            admin,
            b1,
            n: 0.into(),
        }
    }

    /// A COMPLETE, untagged build `name-1.0-REL` owned by the admin, made as a builder
    /// makes one (build task, initBuild, completeBuild); returns its id.
    async fn build(&self, name: &str, release: &str) -> i64 {
        let id = self.start_build(name, release).await;
        let (task, srpm, rpm) = id;
        let dir = format!("tasks/{}/{}", task % 10000, task);
        let s = upload(&self.b1, &dir, &srpm).await;
        let r = upload(&self.b1, &dir, &rpm).await;
        let build_id = self.init(task, name, release).await;
        self.b1
            .call(
                "host.completeBuild",
                vec![
                    task.into(),
                    build_id.into(),
                    s.as_str().into(),
                    Value::Array(vec![r.as_str().into()]),
                ],
            )
            .await
            .unwrap();
        self.b1
            .call(
                "host.closeTask",
                vec![task.into(), encode_response(&Value::Nil).into()],
            )
            .await
            .unwrap();
        build_id
    }

    /// The build task of `name-1.0-REL`, opened by b1: (task, srpm, rpm).
    async fn start_build(&self, name: &str, release: &str) -> (i64, PathBuf, PathBuf) {
        let (srpm, rpm) = rpmbuild(self.farm.dir.path(), name, release);
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let src = upload(&self.admin, &format!("cli-build/{n}.up"), &srpm).await;
        let task = self
            .admin
            .call("build", vec![src.as_str().into(), "t-target".into()])
            .await
            .unwrap()
            .as_i64()
            .unwrap();
        let (got, method, _) = next_task(&self.b1).await;
        assert_eq!((got, method.as_str()), (task, "build"));
        (task, srpm, rpm)
    }

    async fn init(&self, task: i64, name: &str, release: &str) -> i64 {
        self.b1
            .call("host.initBuild", vec![kstruct! { "name" => name, "version" => "1.0", "release" => release, "task_id" => task }])
            .await
            .unwrap()
            .as_i64()
            .unwrap()
    }

    /// Plays the builder for the next task, a tagBuild: host.tagBuild with the task's
    /// parameters, host.tagNotification, then close (or fail). The hub's answer to
    /// host.tagBuild.
    async fn run_tag_task(&self, expect: i64) -> Result<(), (i32, String)> {
        let (id, method, p) = next_task(&self.b1).await;
        assert_eq!((id, method.as_str()), (expect, "tagBuild"));
        let owner = int(
            &self.b1.call("getTaskInfo", vec![id.into()]).await.unwrap(),
            "owner",
        );
        let r = self
            .b1
            .call_kw(
                "host.tagBuild",
                vec![id.into(), p[0].clone(), p[1].clone()],
                kw(&[("force", p[2].clone()), ("fromtag", p[3].clone())]),
            )
            .await;
        let (ok, msg) = match &r {
            Ok(_) => (true, String::new()),
            Err(koji_protocol::client::ClientError::Fault(f)) => (false, f.to_string()),
            Err(e) => panic!("host.tagBuild: {e}"),
        };
        self.b1
            .call(
                "host.tagNotification",
                vec![
                    ok.into(),
                    p[0].clone(),
                    p[3].clone(),
                    p[1].clone(),
                    owner.into(),
                    false.into(),
                    msg.as_str().into(),
                ],
            )
            .await
            .unwrap();
        match r {
            Ok(_) => {
                self.b1
                    .call(
                        "host.closeTask",
                        vec![id.into(), encode_response(&Value::Nil).into()],
                    )
                    .await
                    .unwrap();
                Ok(())
            }
            Err(e) => {
                let f = fault::<Value>(Err(e));
                let fv = koji_protocol::Fault::new(f.0, f.1.clone()).to_value();
                self.b1
                    .call(
                        "host.failTask",
                        vec![id.into(), encode_response(&fv).into()],
                    )
                    .await
                    .unwrap();
                Err(f)
            }
        }
    }

    /// NVRs `listTagged` shows for the tag, newest tagging first.
    async fn tagged(&self, tag: &str) -> Vec<String> {
        nvrs(
            &self
                .admin
                .call("listTagged", vec![tag.into()])
                .await
                .unwrap(),
        )
    }
}

fn nvrs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| b.get("nvr").and_then(Value::as_str).unwrap().to_string())
        .collect()
}

/// Rows of the tables a tag operation could change.
async fn db_dump(farm: &Farm) -> Vec<String> {
    let url = farm.hub.hub.config.database_url.clone().unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut out = Vec::new();
    for t in [
        "build",
        "tag",
        "tag_config",
        "tag_extra",
        "tag_listing",
        "tag_packages",
        "tag_package_owners",
        "tag_notification",
        "task",
        "events",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT row_to_json(x)::text FROM {t} x ORDER BY 1"
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        out.push(format!("{t}: {rows:?}"));
    }
    pool.close().await;
    out
}

/// The tag notifications recorded for a build: (ok, tag, from, user, host, msg).
async fn notifications(
    farm: &Farm,
    build: i64,
) -> Vec<(bool, Option<i32>, Option<i32>, i32, Option<i32>, String)> {
    let url = farm.hub.hub.config.database_url.clone().unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT is_successful, tag_id, from_id, user_id, host_id, failure_msg FROM tag_notification \
         WHERE build_id = $1 ORDER BY id",
    )
    .bind(i32::try_from(build).unwrap())
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

#[track_caller]
fn assert_fault(got: (i32, String), code: i32, text: &str) {
    assert_eq!(got.0, code, "{}", got.1);
    assert!(got.1.contains(text), "{:?} lacks {text:?}", got.1);
}

#[tokio::test]
async fn tag_move_untag_through_tasks_and_history() {
    let s = Setup::new().await;
    let admin = &s.admin;
    let foo1 = s.build("foo", "1").await;
    let foo2 = s.build("foo", "2").await;
    let dest = int(
        &admin.call("getTag", vec!["dest".into()]).await.unwrap(),
        "id",
    );
    admin.call("createTag", vec!["other".into()]).await.unwrap();
    admin
        .call(
            "packageListAdd",
            vec!["other".into(), "foo".into(), "kojiadmin".into()],
        )
        .await
        .unwrap();
    let other = int(
        &admin.call("getTag", vec!["other".into()]).await.unwrap(),
        "id",
    );

    // both builds are untagged
    let untagged = admin.call("untaggedBuilds", vec![]).await.unwrap();
    assert_eq!(
        untagged,
        Value::Array(vec![
            kstruct! { "id" => foo1, "name" => "foo", "version" => "1.0", "release" => "1" },
            kstruct! { "id" => foo2, "name" => "foo", "version" => "1.0", "release" => "2" },
        ])
    );
    let count = admin
        .call_kw(
            "untaggedBuilds",
            vec!["foo".into()],
            kw(&[("queryOpts", kstruct! { "countOnly" => true })]),
        )
        .await
        .unwrap();
    assert_eq!(count, Value::Int(2));
    let newest = admin
        .call_kw(
            "untaggedBuilds",
            vec![],
            kw(&[("queryOpts", kstruct! { "order" => "-id", "limit" => 1 })]),
        )
        .await
        .unwrap();
    assert_eq!(int(&newest.as_array().unwrap()[0], "id"), foo2);
    assert_eq!(
        admin
            .call("untaggedBuilds", vec!["nosuch".into()])
            .await
            .unwrap(),
        Value::Array(vec![])
    );

    // tagBuild makes a tagBuild task (priority 10, Koji's parameters) …
    let t1 = admin
        .call("tagBuild", vec!["dest".into(), "foo-1.0-1".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let info = admin
        .call("getTaskInfo", vec![t1.into(), true.into()])
        .await
        .unwrap();
    assert_eq!(info.get("method").and_then(Value::as_str), Some("tagBuild"));
    assert_eq!(int(&info, "priority"), 10);
    assert_eq!(
        info.get("request"),
        Some(&Value::Array(vec![
            dest.into(),
            foo1.into(),
            false.into(),
            Value::Nil
        ]))
    );
    // … and nothing is tagged until a builder runs it
    assert!(s.tagged("dest").await.is_empty());
    s.run_tag_task(t1).await.unwrap();
    assert_eq!(s.tagged("dest").await, ["foo-1.0-1"]);
    let t2 = admin
        .call("tagBuild", vec!["dest".into(), foo2.into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    s.run_tag_task(t2).await.unwrap();
    assert_eq!(s.tagged("dest").await, ["foo-1.0-2", "foo-1.0-1"]);
    assert_eq!(
        admin.call("untaggedBuilds", vec![]).await.unwrap(),
        Value::Array(vec![])
    );

    // tagging again: the hub accepts the request, the task fails as Koji's does
    let again = admin
        .call("tagBuild", vec!["dest".into(), "foo-1.0-1".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let before = db_dump(&s.farm).await;
    assert_fault(
        s.run_tag_task(again).await.unwrap_err(),
        codes::TAG,
        "build foo-1.0-1 already tagged (dest)",
    );
    let after = db_dump(&s.farm).await;
    // only the task's own row and the failure notice changed
    for (b, a) in before.iter().zip(&after) {
        if !(b.starts_with("task:") || b.starts_with("tag_notification:")) {
            assert_eq!(b, a);
        }
    }

    // moveBuild: out of dest, into other, in one step
    let mv = admin
        .call(
            "moveBuild",
            vec!["dest".into(), "other".into(), "foo-1.0-1".into()],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    s.run_tag_task(mv).await.unwrap();
    assert_eq!(s.tagged("dest").await, ["foo-1.0-2"]);
    assert_eq!(s.tagged("other").await, ["foo-1.0-1"]);

    // untagBuild: no task; strict refuses a build not in the tag
    admin
        .call("untagBuild", vec!["other".into(), "foo-1.0-1".into()])
        .await
        .unwrap();
    assert!(s.tagged("other").await.is_empty());
    let before = db_dump(&s.farm).await;
    assert_fault(
        fault(
            admin
                .call("untagBuild", vec!["other".into(), "foo-1.0-1".into()])
                .await,
        ),
        codes::TAG,
        "build foo-1.0-1 not in tag other",
    );
    assert_eq!(before, db_dump(&s.farm).await);
    admin
        .call_kw(
            "untagBuild",
            vec!["other".into(), "foo-1.0-1".into()],
            kw(&[("strict", false.into())]),
        )
        .await
        .unwrap();

    // every tag operation left a notification: tag, failed re-tag, move, untag
    let kojiadmin = int(&admin.call("getLoggedInUser", vec![]).await.unwrap(), "id");
    let b1_host = int(
        &s.b1.call("getHost", vec!["b1".into()]).await.unwrap(),
        "id",
    );
    let uid = i32::try_from(kojiadmin).unwrap();
    let hid = Some(i32::try_from(b1_host).unwrap());
    let (d, o) = (
        Some(i32::try_from(dest).unwrap()),
        Some(i32::try_from(other).unwrap()),
    );
    let got = notifications(&s.farm, foo1).await;
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[0], (true, d, None, uid, hid, String::new()));
    assert!(!got[1].0 && got[1].5.contains("already tagged"), "{got:?}");
    assert_eq!(got[2], (true, o, d, uid, hid, String::new()));
    assert_eq!(got[3], (true, None, o, uid, None, String::new()));
    // as Koji, a non-strict untagBuild that found nothing to untag still reports success
    assert_eq!(got[4], got[3]);

    // the history of tagging, as koji untag-build and list-history read it
    let h = admin
        .call_kw(
            "queryHistory",
            vec![],
            kw(&[("tag", "dest".into()), ("package", "foo".into())]),
        )
        .await
        .unwrap();
    let rows = h.get("tag_listing").and_then(Value::as_array).unwrap();
    assert_eq!(rows.len(), 2, "{h:?}");
    assert_eq!(rows[0].get("name").and_then(Value::as_str), Some("foo"));
    assert_eq!(rows[0].get("release").and_then(Value::as_str), Some("1"));
    assert_eq!(
        rows[0].get("active"),
        Some(&Value::Nil),
        "moved out: revoked"
    );
    assert_eq!(
        rows[0].get("revoker_name").and_then(Value::as_str),
        Some("kojiadmin")
    );
    assert_eq!(rows[1].get("active"), Some(&Value::Bool(true)));
    assert_eq!(
        rows[1].get("tag.name").and_then(Value::as_str),
        Some("dest")
    );
    let active = admin
        .call_kw(
            "queryHistory",
            vec![],
            kw(&[
                ("tag", "dest".into()),
                ("active", true.into()),
                ("pkg", "ignored".into()),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        active
            .get("tag_listing")
            .and_then(Value::as_array)
            .map(<[Value]>::len),
        Some(1)
    );
    let (code, msg) = fault(
        admin
            .call_kw(
                "queryHistory",
                vec![Value::Array(vec!["nosuch".into()])],
                kw(&[]),
            )
            .await,
    );
    assert_fault((code, msg), codes::GENERIC, "No such history table: nosuch");

    // references: foo-1.0-2 is in dest; foo-1.0-1 is in no tag any more
    let refs = admin
        .call("buildReferences", vec!["foo-1.0-2".into()])
        .await
        .unwrap();
    assert_eq!(
        refs.get("tags"),
        Some(&Value::Array(vec![
            kstruct! { "tag_id" => dest, "name" => "dest" }
        ]))
    );
    assert_eq!(refs.get("last_used"), Some(&Value::Nil));
    assert_eq!(refs.get("images"), Some(&Value::Array(vec![])));
    let lazy = admin
        .call_kw(
            "buildReferences",
            vec![foo2.into()],
            kw(&[("lazy", true.into())]),
        )
        .await
        .unwrap();
    assert!(lazy.get("rpms").is_none(), "lazy stops at tags: {lazy:?}");
    let none = admin
        .call("buildReferences", vec![foo1.into()])
        .await
        .unwrap();
    assert_eq!(none.get("tags"), Some(&Value::Array(vec![])));
    let left = admin.call("untaggedBuilds", vec![]).await.unwrap();
    assert_eq!(
        left,
        Value::Array(vec![
            kstruct! { "id" => foo1, "name" => "foo", "version" => "1.0", "release" => "1" }
        ])
    );
}

#[tokio::test]
async fn refusals_are_koji_faults_and_change_nothing() {
    let s = Setup::new().await;
    let admin = &s.admin;
    let foo = s.build("foo", "1").await;
    let baz = s.build("baz", "1").await;
    // a build still BUILDING
    let (task, _, _) = s.start_build("bar", "1").await;
    s.init(task, "bar", "1").await;
    let packager = s.farm.user("packager");
    packager.ssl_login().await.unwrap();
    admin
        .call_kw(
            "createTag",
            vec!["locked".into()],
            kw(&[("locked", true.into())]),
        )
        .await
        .unwrap();
    admin
        .call_kw(
            "createTag",
            vec!["needs-repo".into()],
            kw(&[("perm", "repo".into())]),
        )
        .await
        .unwrap();
    admin.call("createTag", vec!["blk".into()]).await.unwrap();
    for t in ["locked", "needs-repo", "blk"] {
        admin
            .call(
                "packageListAdd",
                vec![t.into(), "foo".into(), "kojiadmin".into()],
            )
            .await
            .unwrap();
    }
    admin
        .call("packageListBlock", vec!["blk".into(), "foo".into()])
        .await
        .unwrap();
    // foo-1.0-1 is in dest, for the untag probes
    admin
        .call("tagBuildBypass", vec!["dest".into(), foo.into()])
        .await
        .unwrap();
    let anon = s.farm.anon();

    let before = db_dump(&s.farm).await;
    let probes: Vec<(
        &str,
        Result<Value, koji_protocol::client::ClientError>,
        i32,
        &str,
    )> = vec![
        (
            "anonymous",
            anon.call("tagBuild", vec!["dest".into(), "foo-1.0-1".into()])
                .await,
            codes::AUTH,
            "",
        ),
        (
            "unknown tag",
            admin
                .call("tagBuild", vec!["nosuch".into(), "foo-1.0-1".into()])
                .await,
            codes::GENERIC,
            "No such tagInfo: 'nosuch'",
        ),
        (
            "unknown build",
            admin
                .call("tagBuild", vec!["dest".into(), "foo-9-9".into()])
                .await,
            codes::GENERIC,
            "No such build: 'foo-9-9'",
        ),
        (
            "unknown fromtag",
            admin
                .call_kw(
                    "tagBuild",
                    vec!["dest".into(), "foo-1.0-1".into()],
                    kw(&[("fromtag", "gone".into())]),
                )
                .await,
            codes::GENERIC,
            "No such entry in table tag: gone",
        ),
        (
            "not complete",
            admin
                .call("tagBuild", vec!["dest".into(), "bar-1.0-1".into()])
                .await,
            codes::TAG,
            "build bar-1.0-1 not complete: state BUILDING",
        ),
        (
            "locked tag",
            admin
                .call("tagBuild", vec!["locked".into(), "foo-1.0-1".into()])
                .await,
            codes::ACTION_NOT_ALLOWED,
            "tag is locked",
        ),
        (
            "tag's permission (admins too, without force)",
            admin
                .call("tagBuild", vec!["needs-repo".into(), "foo-1.0-1".into()])
                .await,
            codes::ACTION_NOT_ALLOWED,
            "tag requires repo permission",
        ),
        (
            "package not listed",
            admin
                .call("tagBuild", vec!["dest".into(), "baz-1.0-1".into()])
                .await,
            codes::TAG,
            "Package baz not in list for dest",
        ),
        (
            "package blocked",
            admin
                .call("tagBuild", vec!["blk".into(), "foo-1.0-1".into()])
                .await,
            codes::TAG,
            "Package foo blocked in blk",
        ),
        (
            "move into a tag that blocks the package",
            packager
                .call(
                    "moveBuild",
                    vec!["dest".into(), "blk".into(), "foo-1.0-1".into()],
                )
                .await,
            codes::TAG,
            "Package foo blocked in blk",
        ),
        (
            "policy: tag",
            packager
                .call("tagBuild", vec!["dest".into(), "foo-1.0-1".into()])
                .await,
            codes::ACTION_NOT_ALLOWED,
            "policy violation (tag): tagging a build needs the tag permission",
        ),
        (
            "policy: untag",
            packager
                .call("untagBuild", vec!["dest".into(), "foo-1.0-1".into()])
                .await,
            codes::ACTION_NOT_ALLOWED,
            "policy violation (tag): untagging",
        ),
        (
            "force is for admins",
            packager
                .call_kw(
                    "untagBuild",
                    vec!["dest".into(), "foo-1.0-1".into()],
                    kw(&[("force", true.into())]),
                )
                .await,
            codes::ACTION_NOT_ALLOWED,
            "policy violation (tag)",
        ),
        (
            "untag from a locked tag",
            admin
                .call("untagBuild", vec!["locked".into(), "foo-1.0-1".into()])
                .await,
            codes::ACTION_NOT_ALLOWED,
            "tag is locked",
        ),
        (
            "bypass needs the tag permission",
            packager
                .call("tagBuildBypass", vec!["dest".into(), baz.into()])
                .await,
            codes::ACTION_NOT_ALLOWED,
            "tag permission required",
        ),
        (
            "massTag needs the tag permission",
            packager
                .call(
                    "massTag",
                    vec!["dest".into(), Value::Array(vec![baz.into()])],
                )
                .await,
            codes::ACTION_NOT_ALLOWED,
            "tag permission required",
        ),
        (
            "snapshotTag needs the tag permission",
            packager
                .call("snapshotTag", vec!["dest".into(), "copy".into()])
                .await,
            codes::ACTION_NOT_ALLOWED,
            "tag permission required",
        ),
        (
            "moveAllBuilds: package not in the destination",
            admin
                .call(
                    "moveAllBuilds",
                    vec!["dest".into(), "t-build".into(), "foo".into()],
                )
                .await,
            codes::TAG,
            "Package foo not in list for tag t-build",
        ),
        (
            "moveAllBuilds: unknown package",
            admin
                .call(
                    "moveAllBuilds",
                    vec!["dest".into(), "blk".into(), "nopkg".into()],
                )
                .await,
            codes::GENERIC,
            "No such entry in table package: nopkg",
        ),
        (
            "an id beyond 32 bits",
            admin
                .call("tagBuild", vec!["dest".into(), (1i64 << 40).into()])
                .await,
            codes::PARAMETER,
            "out of range",
        ),
    ];
    for (what, got, code, text) in probes {
        let f = fault(got);
        assert_eq!(f.0, code, "{what}: {}", f.1);
        assert!(f.1.contains(text), "{what}: {:?} lacks {text:?}", f.1);
    }
    assert_eq!(
        before,
        db_dump(&s.farm).await,
        "a refusal changed something"
    );

    // a builder holding a task of the admin meets the same rules: the tag was locked
    // after the request was made
    let t = admin
        .call("tagBuild", vec!["dest".into(), "foo-1.0-1".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    admin
        .call_kw(
            "editTag2",
            vec!["dest".into()],
            kw(&[("locked", true.into())]),
        )
        .await
        .unwrap();
    assert_fault(
        s.run_tag_task(t).await.unwrap_err(),
        codes::ACTION_NOT_ALLOWED,
        "tag is locked",
    );
    admin
        .call_kw(
            "editTag2",
            vec!["dest".into()],
            kw(&[("locked", false.into())]),
        )
        .await
        .unwrap();

    // the package's owner in the tag passes the policy; an admin's force lists a package
    admin
        .call_kw(
            "packageListAdd",
            vec!["dest".into(), "foo".into()],
            kw(&[("owner", "packager".into()), ("update", true.into())]),
        )
        .await
        .unwrap();
    packager
        .call("untagBuild", vec!["dest".into(), "foo-1.0-1".into()])
        .await
        .unwrap();
    let t = admin
        .call_kw(
            "tagBuild",
            vec!["dest".into(), "baz-1.0-1".into()],
            kw(&[("force", true.into())]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let listed = admin
        .call_kw("listPackages", vec![], kw(&[("tagID", "dest".into())]))
        .await
        .unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.get("package_name").and_then(Value::as_str) == Some("baz")),
        "force listed baz: {listed:?}"
    );
    s.run_tag_task(t).await.unwrap();
    assert_eq!(s.tagged("dest").await, ["baz-1.0-1"]);
    // the admin forces a locked tag open
    let t = admin
        .call_kw(
            "tagBuild",
            vec!["locked".into(), "foo-1.0-1".into()],
            kw(&[("force", true.into())]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    s.run_tag_task(t).await.unwrap();
    assert_eq!(s.tagged("locked").await, ["foo-1.0-1"]);

    // the policy as builders ask for it
    let uid = int(
        &packager.call("getLoggedInUser", vec![]).await.unwrap(),
        "id",
    );
    let deny = s
        .b1
        .call(
            "host.checkPolicy",
            vec![
                "tag".into(),
                kstruct! { "user_id" => uid, "operation" => "tag", "tag" => "locked", "build" => baz },
            ],
        )
        .await
        .unwrap();
    assert_eq!(deny.as_array().unwrap()[0], Value::Bool(false), "{deny:?}");
    let allow = s
        .b1
        .call(
            "host.checkPolicy",
            vec![
                "tag".into(),
                kstruct! { "user_id" => uid, "operation" => "untag", "fromtag" => "dest", "build" => foo },
            ],
        )
        .await
        .unwrap();
    assert_eq!(allow.as_array().unwrap()[0], Value::Bool(true), "{allow:?}");
}

#[tokio::test]
async fn move_all_builds_chains_dependant_tasks() {
    let s = Setup::new().await;
    let admin = &s.admin;
    let foo1 = s.build("foo", "1").await;
    let foo2 = s.build("foo", "2").await;
    admin.call("createTag", vec!["other".into()]).await.unwrap();
    admin
        .call(
            "packageListAdd",
            vec!["other".into(), "foo".into(), "kojiadmin".into()],
        )
        .await
        .unwrap();
    admin
        .call(
            "massTag",
            vec![
                "dest".into(),
                Value::Array(vec!["foo-1.0-1".into(), "foo-1.0-2".into()]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(s.tagged("dest").await, ["foo-1.0-2", "foo-1.0-1"]);
    let (dest, other) = (
        int(
            &admin.call("getTag", vec!["dest".into()]).await.unwrap(),
            "id",
        ),
        int(
            &admin.call("getTag", vec!["other".into()]).await.unwrap(),
            "id",
        ),
    );
    let ids = admin
        .call(
            "moveAllBuilds",
            vec!["dest".into(), "other".into(), "foo".into()],
        )
        .await
        .unwrap();
    let ids: Vec<i64> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    // oldest first, each waiting for the one before
    for (i, (id, build)) in ids.iter().zip([foo1, foo2]).enumerate() {
        let t = admin
            .call("getTaskInfo", vec![(*id).into(), true.into()])
            .await
            .unwrap();
        assert_eq!(
            t.get("method").and_then(Value::as_str),
            Some("dependantTask")
        );
        let wait: Vec<Value> = if i == 0 { vec![] } else { vec![ids[0].into()] };
        assert_eq!(
            t.get("request"),
            Some(&Value::Array(vec![
                Value::Array(wait),
                Value::Array(vec![Value::Array(vec![
                    "tagBuild".into(),
                    Value::Array(vec![other.into(), build.into(), false.into(), dest.into()]),
                    kstruct! { "priority" => 15 },
                ])]),
            ])),
        );
    }
}

#[tokio::test]
async fn snapshots_copy_a_tag_as_clone_tag_does() {
    let s = Setup::new().await;
    let admin = &s.admin;
    s.build("foo", "1").await;
    s.build("foo", "2").await;
    s.build("bar", "1").await;
    s.build("foo", "3").await;
    admin
        .call_kw(
            "createTag",
            vec!["base".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    admin
        .call_kw(
            "createTag",
            vec!["src".into()],
            kw(&[
                ("parent", "base".into()),
                ("arches", "x86_64 aarch64".into()),
                ("extra", kstruct! { "mock.package_manager" => "dnf" }),
            ]),
        )
        .await
        .unwrap();
    for (t, p) in [("src", "foo"), ("base", "bar"), ("src", "baz")] {
        admin
            .call(
                "packageListAdd",
                vec![t.into(), p.into(), "kojiadmin".into()],
            )
            .await
            .unwrap();
    }
    admin
        .call("packageListBlock", vec!["src".into(), "baz".into()])
        .await
        .unwrap();
    admin
        .call("tagBuildBypass", vec!["src".into(), "foo-1.0-1".into()])
        .await
        .unwrap();
    let mid = int(&admin.call("getLastEvent", vec![]).await.unwrap(), "id");
    admin
        .call("tagBuildBypass", vec!["src".into(), "foo-1.0-2".into()])
        .await
        .unwrap();
    admin
        .call("tagBuildBypass", vec!["base".into(), "bar-1.0-1".into()])
        .await
        .unwrap();

    // all builds, inherited ones too
    admin
        .call_kw(
            "snapshotTag",
            vec!["src".into(), "copy-all".into()],
            kw(&[("latest_only", false.into())]),
        )
        .await
        .unwrap();
    assert_eq!(
        s.tagged("copy-all").await,
        ["foo-1.0-2", "foo-1.0-1", "bar-1.0-1"]
    );
    let copy = admin.call("getTag", vec!["copy-all".into()]).await.unwrap();
    assert_eq!(
        copy.get("arches").and_then(Value::as_str),
        Some("x86_64 aarch64")
    );
    assert_eq!(
        copy.get("extra"),
        Some(&kstruct! { "mock.package_manager" => "dnf" })
    );
    let pkgs = admin
        .call_kw("listPackages", vec![], kw(&[("tagID", "copy-all".into())]))
        .await
        .unwrap();
    let mut listed: Vec<(String, bool)> = pkgs
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p.get("package_name")
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string(),
                p.get("blocked").is_some_and(Value::is_truthy),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("bar".to_string(), false),
            ("baz".to_string(), true),
            ("foo".to_string(), false)
        ]
    );
    // no inheritance is copied
    assert_eq!(
        admin
            .call("getInheritanceData", vec!["copy-all".into()])
            .await
            .unwrap(),
        Value::Array(vec![])
    );

    // latest only, own builds only, as of the event before foo-1.0-2 was tagged
    admin
        .call_kw(
            "snapshotTag",
            vec!["src".into(), "copy-old".into()],
            kw(&[
                ("inherit_builds", false.into()),
                ("event", mid.into()),
                ("config", false.into()),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(s.tagged("copy-old").await, ["foo-1.0-1"]);
    let old = admin.call("getTag", vec!["copy-old".into()]).await.unwrap();
    assert_eq!(old.get("arches").and_then(Value::as_str), Some(""));

    // snapshotTagModify: copy-old becomes src again (latest only); with remove, what src
    // lacks goes
    admin
        .call(
            "tagBuildBypass",
            vec!["copy-old".into(), "bar-1.0-1".into()],
        )
        .await
        .unwrap();
    admin
        .call_kw(
            "snapshotTagModify",
            vec!["src".into(), "copy-old".into()],
            kw(&[("inherit_builds", false.into()), ("remove", true.into())]),
        )
        .await
        .unwrap();
    assert_eq!(s.tagged("copy-old").await, ["foo-1.0-2"]);
    let old = admin.call("getTag", vec!["copy-old".into()]).await.unwrap();
    assert_eq!(
        old.get("arches").and_then(Value::as_str),
        Some("x86_64 aarch64")
    );
    // without remove, the destination's extra builds stay, before the source's
    admin
        .call(
            "tagBuildBypass",
            vec!["copy-old".into(), "foo-1.0-3".into()],
        )
        .await
        .unwrap();
    admin
        .call_kw(
            "snapshotTagModify",
            vec!["copy-all".into(), "copy-old".into()],
            kw(&[
                ("latest_only", false.into()),
                ("inherit_builds", false.into()),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        s.tagged("copy-old").await,
        ["foo-1.0-2", "foo-1.0-1", "bar-1.0-1", "foo-1.0-3"]
    );

    // refusals
    admin
        .call_kw(
            "editTag2",
            vec!["src".into()],
            kw(&[("locked", true.into())]),
        )
        .await
        .unwrap();
    let before = db_dump(&s.farm).await;
    assert_fault(
        fault(
            admin
                .call("snapshotTag", vec!["src".into(), "copy-locked".into()])
                .await,
        ),
        codes::GENERIC,
        "Source tag is locked, use force to copy",
    );
    assert_fault(
        fault(
            admin
                .call("snapshotTag", vec!["dest".into(), "copy-all".into()])
                .await,
        ),
        codes::GENERIC,
        "Target tag already exists",
    );
    assert_fault(
        fault(
            admin
                .call_kw(
                    "snapshotTag",
                    vec!["dest".into(), "x".into()],
                    kw(&[("pkgs", false.into())]),
                )
                .await,
        ),
        codes::PARAMETER,
        "builds can't be used without pkgs",
    );
    assert_fault(
        fault(
            admin
                .call("snapshotTagModify", vec!["src".into(), "copy-old".into()])
                .await,
        ),
        codes::GENERIC,
        "Source or destination tag is locked, use force to copy",
    );
    assert_fault(
        fault(
            admin
                .call("snapshotTag", vec!["nosuch".into(), "y".into()])
                .await,
        ),
        codes::GENERIC,
        "No such tagInfo: 'nosuch'",
    );
    assert_eq!(
        before,
        db_dump(&s.farm).await,
        "a refusal changed something"
    );
    // force copies a locked tag
    admin
        .call_kw(
            "snapshotTag",
            vec!["src".into(), "copy-locked".into()],
            kw(&[("force", true.into())]),
        )
        .await
        .unwrap();
    let locked = admin
        .call("getTag", vec!["copy-locked".into()])
        .await
        .unwrap();
    assert_eq!(locked.get("locked"), Some(&Value::Bool(true)));
}
