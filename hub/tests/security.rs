//! Issue 16's probes, through a real hub over real TLS: a builder host or a packager tries
//! to reach files, builds and tags that are not theirs. Each probe must fail with a clear
//! fault and leave the topdir and the database exactly as they were.

mod common;

use common::{Farm, host, rpmbuild, upload};
use koji_protocol::client::{ClientError, KojiClient};
use koji_protocol::{Struct, Value, codes, encode_response, kstruct};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

fn fault<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (i32, String) {
    match r {
        Err(ClientError::Fault(f)) => (f.code, f.string),
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn kw(pairs: &[(&str, Value)]) -> Struct {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Every entry under `root` (and its parent, where an escape would land): kind, content
/// hash or link target.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else {
                hex::encode(Sha256::digest(std::fs::read(&p).unwrap()))
            };
            out.insert(rel, what);
        }
    }
    out
}

/// The rows a probe could change.
async fn db_dump(farm: &Farm) -> Vec<String> {
    let url = farm.hub.hub.config.database_url.clone().unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut out = Vec::new();
    for t in [
        "build",
        "rpminfo",
        "tag_listing",
        "buildroot",
        "repo",
        "task",
        "package",
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

struct State(BTreeMap<String, String>, Vec<String>);

async fn state(farm: &Farm) -> State {
    State(snapshot(farm.dir.path()), db_dump(farm).await)
}

fn assert_same(before: &State, after: &State, what: &str) {
    assert_eq!(before.0, after.0, "{what}: the file tree changed");
    assert_eq!(before.1, after.1, "{what}: the database changed");
}

/// Tags, a target and a logged-in packager with the `build` permission.
async fn setup_target(farm: &Farm, admin: &KojiClient) -> KojiClient {
    let packager = farm.user("packager");
    packager.ssl_login().await.unwrap();
    admin
        .call_kw(
            "createTag",
            vec!["t-build".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    admin
        .call("createTag", vec!["t-dest".into()])
        .await
        .unwrap();
    admin
        .call_kw(
            "createTag",
            vec!["t-locked".into()],
            kw(&[("locked", true.into())]),
        )
        .await
        .unwrap();
    admin
        .call(
            "createBuildTarget",
            vec!["t-target".into(), "t-build".into(), "t-dest".into()],
        )
        .await
        .unwrap();
    admin
        .call(
            "packageListAdd",
            vec!["t-dest".into(), "foo".into(), "kojiadmin".into()],
        )
        .await
        .unwrap();
    admin
        .call_kw(
            "grantPermission",
            vec!["packager".into(), "build".into()],
            kw(&[("create", true.into())]),
        )
        .await
        .unwrap();
    packager
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

/// Findings 1, 4 and 5: a second builder names a finished task's files, a user's upload
/// dir, a directory, another host's task; a host forces a tag.
#[tokio::test]
async fn hosts_act_only_on_their_own_tasks_and_files() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let packager = setup_target(&farm, &admin).await;
    let b1 = host(&farm, &admin, "b1", &["x86_64"], 4.0).await;
    b1.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let b2 = host(&farm, &admin, "b2", &["x86_64"], 4.0).await;
    let (srpm, rpms) = rpmbuild(farm.dir.path(), "foo", false, "true");
    let src = upload(&packager, "cli-build/1.abc", &srpm).await;
    let task = packager
        .call("build", vec![src.as_str().into(), "t-target".into()])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(next_task(&b1).await, task);

    // finding 4: another host may not start, fail or get a buildroot for b1's task
    let before = state(&farm).await;
    let (code, msg) = fault(b2.call("host.initBuild", vec![kstruct! { "name" => "foo", "version" => "1.0", "release" => "1", "task_id" => task }]).await);
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    assert!(msg.contains("does not hold task"), "{msg}");
    let build_id = b1
        .call("host.initBuild", vec![kstruct! { "name" => "foo", "version" => "1.0", "release" => "1", "task_id" => task }])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let before_fail = state(&farm).await;
    let (code, msg) = fault(
        b2.call("host.failBuild", vec![task.into(), build_id.into()])
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    // names that would become paths are refused even from the holding host
    let (code, msg) = fault(b1.call("host.initBuild", vec![kstruct! { "name" => "x/../../OUT", "version" => "1", "release" => "1", "task_id" => task }]).await);
    assert_eq!(code, codes::NAME_VALIDATION, "{msg}");
    let (code, msg) = fault(b1.call("host.initBuild", vec![kstruct! { "name" => "foo", "version" => "1", "release" => "../1", "task_id" => task }]).await);
    assert_eq!(code, codes::NAME_VALIDATION, "{msg}");
    assert_same(
        &before_fail,
        &state(&farm).await,
        "failBuild/initBuild probes",
    );
    drop(before);

    // b1 completes the build from its subtask's outputs
    let child = b1
        .call_kw(
            "host.subtask",
            vec!["buildArch".into(), Value::Array(vec![]), task.into()],
            kw(&[("label", "x86_64".into()), ("arch", "x86_64".into())]),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    b1.call("host.taskSetWait", vec![task.into(), Value::Nil])
        .await
        .unwrap();
    assert_eq!(next_task(&b1).await, child);
    let cdir = task_dir(child);
    let mut names = Vec::new();
    for f in &rpms {
        names.push(Value::String(upload(&b1, &cdir, f).await));
    }
    let child_srpm = upload(&b1, &cdir, &srpm).await;
    std::fs::write(farm.path("build.log"), "log\n").unwrap();
    let log = upload(&b1, &cdir, &farm.path("build.log")).await;
    b1.call(
        "host.closeTask",
        vec![child.into(), encode_response(&Value::Nil).into()],
    )
    .await
    .unwrap();
    b1.call(
        "host.completeBuild",
        vec![
            task.into(),
            build_id.into(),
            child_srpm.as_str().into(),
            Value::Array(names.clone()),
            Value::Nil,
            Value::Struct(kw(&[("x86_64", Value::Array(vec![log.as_str().into()]))])),
        ],
    )
    .await
    .unwrap();
    assert!(
        farm.path("koji/packages/foo/1.0/1/src/foo-1.0-1.src.rpm")
            .is_file()
    );

    // finding 5: b1 holds the task of a non-admin: force does not open a locked tag, and
    // a tag that does not list the package stays closed
    let before = state(&farm).await;
    let (code, msg) = fault(
        b1.call(
            "host.tagBuild",
            vec![task.into(), "t-locked".into(), build_id.into(), true.into()],
        )
        .await,
    );
    assert_eq!(code, codes::TAG, "{msg}");
    assert!(msg.contains("locked"), "{msg}");
    let (code, msg) = fault(
        b1.call(
            "host.tagBuild",
            vec![task.into(), "t-build".into(), build_id.into(), true.into()],
        )
        .await,
    );
    assert_eq!(code, codes::TAG, "{msg}");
    assert!(msg.contains("not in list"), "{msg}");
    assert_same(&before, &state(&farm).await, "forced tagBuild");
    b1.call(
        "host.closeTask",
        vec![task.into(), encode_response(&Value::Nil).into()],
    )
    .await
    .unwrap();

    // finding 1: b2, holding a scratch task of its own, names the finished task's links,
    // the packager's upload dir and directories
    b1.call("host.updateHost", vec![0.0.into(), false.into()])
        .await
        .unwrap();
    b2.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let src2 = upload(&packager, "cli-build/2.abc", &srpm).await;
    let t2 = packager
        .call_kw(
            "build",
            vec![
                src2.as_str().into(),
                "t-target".into(),
                Value::Struct(kw(&[("scratch", true.into())])),
            ],
            Struct::new(),
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(next_task(&b2).await, t2);
    let own = upload(&b2, &task_dir(t2), &srpm).await;
    let before = state(&farm).await;
    let probes: Vec<(Value, Value, Value)> = vec![
        // the finished task's symlinks to the released packages
        (
            child_srpm.as_str().into(),
            Value::Array(names.clone()),
            Value::Nil,
        ),
        // the packager's upload directory named as a log
        (
            own.as_str().into(),
            Value::Array(vec![]),
            Value::Struct(kw(&[(
                "x86_64",
                Value::Array(vec!["cli-build/2.abc".into()]),
            )])),
        ),
        // the packager's upload itself
        (src2.as_str().into(), Value::Array(vec![]), Value::Nil),
        // its own work dir, whole
        (
            own.as_str().into(),
            Value::Array(vec![]),
            Value::Struct(kw(&[("x86_64", Value::Array(vec![task_dir(t2).into()]))])),
        ),
        // an arch key that is a path
        (
            own.as_str().into(),
            Value::Array(vec![]),
            Value::Struct(kw(&[(
                "../../../packages",
                Value::Array(vec![own.as_str().into()]),
            )])),
        ),
    ];
    for (s, r, l) in probes {
        let (code, msg) = fault(
            b2.call(
                "host.moveBuildToScratch",
                vec![t2.into(), s.clone(), r.clone(), l.clone()],
            )
            .await,
        );
        assert!(
            code == codes::ACTION_NOT_ALLOWED || code == codes::PARAMETER,
            "{code} {msg}"
        );
        assert!(
            !msg.contains(&farm.dir.path().display().to_string()),
            "absolute path in {msg}"
        );
    }
    // completeBuild of someone else's build from b2's task is refused too
    let (code, msg) = fault(
        b2.call(
            "host.completeBuild",
            vec![
                t2.into(),
                build_id.into(),
                own.as_str().into(),
                Value::Array(vec![]),
            ],
        )
        .await,
    );
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert_same(&before, &state(&farm).await, "moveBuildToScratch probes");
    // the released build is still served
    for f in ["src/foo-1.0-1.src.rpm"] {
        assert!(farm.path("koji/packages/foo/1.0/1").join(f).is_file());
    }
    // and b2's own file is accepted
    b2.call(
        "host.moveBuildToScratch",
        vec![t2.into(), own.as_str().into(), Value::Array(vec![])],
    )
    .await
    .unwrap();
    assert!(
        farm.path(&format!(
            "koji/scratch/packager/task_{t2}/foo-1.0-1.src.rpm"
        ))
        .is_file()
    );
}

/// Replace every occurrence of `from` in `data` by `to` (same length: header offsets hold).
fn patch(data: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    n
}

/// A source RPM with distinctive name, version and release strings to patch.
fn source_rpm(dir: &Path) -> std::path::PathBuf {
    let top = dir.join("rpmbuild-crafted");
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    let spec = top.join("SPECS/zzslashzz.spec");
    std::fs::write(
        &spec,
        "Name: zzslashzz\nVersion: 7qver7\nRelease: 9qrel9\nSummary: probe\nLicense: MIT\n\
         BuildArch: noarch\n\n%description\nprobe\n\n%files\n",
    )
    .unwrap();
    let out = std::process::Command::new("rpmbuild")
        .arg("-bs")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    top.join("SRPMS/zzslashzz-7qver7-9qrel9.src.rpm")
}

/// Finding 2: an SRPM whose header Name or Release holds a `/` is refused at build().
#[tokio::test]
async fn crafted_srpm_names_are_refused_at_build() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let packager = setup_target(&farm, &admin).await;
    let orig = std::fs::read(source_rpm(farm.dir.path())).unwrap();
    for (i, (from, to)) in [
        (&b"zzslashzz"[..], &b"../../OUT"[..]),
        (&b"7qver7"[..], &b"7/ver7"[..]),
        (&b"9qrel9"[..], &b"9/../9"[..]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut data = orig.clone();
        assert!(patch(&mut data, from, to) > 0);
        let f = farm.path(&format!("crafted-{i}.src.rpm"));
        std::fs::write(&f, &data).unwrap();
        let src = upload(&packager, &format!("cli-build/c{i}"), &f).await;
        let before = state(&farm).await;
        let (code, msg) = fault(
            packager
                .call_kw(
                    "build",
                    vec![
                        src.as_str().into(),
                        "t-target".into(),
                        Value::Struct(kw(&[("scratch", true.into())])),
                    ],
                    Struct::new(),
                )
                .await,
        );
        assert_eq!(code, codes::GENERIC, "{msg}");
        assert!(msg.contains("refused header"), "{msg}");
        assert_same(&before, &state(&farm).await, "crafted SRPM");
    }
    assert!(!farm.dir.path().join("OUT-1.0-1.src.rpm").exists());
}

/// Finding 3: repoDone arch keys are the repo's own arches, never paths through `toplink`;
/// newBuildRoot names only a task the host holds.
#[tokio::test]
async fn repo_done_writes_only_the_repos_own_arches() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    setup_target(&farm, &admin).await;
    let h = host(&farm, &admin, "repohost", &["x86_64"], 4.0).await;
    admin
        .call(
            "addHostToChannel",
            vec!["repohost".into(), "createrepo".into()],
        )
        .await
        .unwrap();
    h.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let other = host(&farm, &admin, "other", &["x86_64"], 4.0).await;
    admin
        .call("repo.request", vec!["t-build".into()])
        .await
        .unwrap();
    // the hub turns the request into a newRepo task by itself
    let mut tid = None;
    for _ in 0..10 {
        let got = h
            .call("host.waitTasks", vec![Value::Double(5.0)])
            .await
            .unwrap();
        if let Some(t) = got.as_array().and_then(|a| a.first()) {
            tid = t.get("id").and_then(Value::as_i64);
            break;
        }
    }
    let tid = tid.expect("a newRepo task");
    h.call("host.openTask", vec![tid.into()]).await.unwrap();
    let r = h
        .call_kw(
            "host.repoInit",
            vec!["t-build".into()],
            kw(&[("task_id", tid.into())]),
        )
        .await
        .unwrap();
    let repo_id = r.as_array().unwrap()[0].as_i64().unwrap();
    let dir = task_dir(tid);
    std::fs::write(farm.path("repomd.xml"), "<repomd/>\n").unwrap();
    upload(&h, &dir, &farm.path("repomd.xml")).await;
    std::fs::create_dir_all(farm.path("koji/packages/foo/1/1")).unwrap();
    let before = state(&farm).await;
    for key in [
        "x86_64/toplink/packages/foo/1/1",
        "../x86_64",
        "i686",
        "noarch",
    ] {
        let data = Value::Struct(kw(&[(
            key,
            Value::Array(vec![
                dir.as_str().into(),
                Value::Array(vec!["repomd.xml".into()]),
            ]),
        )]));
        let (code, msg) = fault(h.call("host.repoDone", vec![repo_id.into(), data]).await);
        assert_eq!(code, codes::GENERIC, "{key}: {msg}");
        assert!(msg.contains("has no arch"), "{msg}");
    }
    // a host that does not hold the newRepo task may not finish its repo
    let data = Value::Struct(kw(&[(
        "x86_64",
        Value::Array(vec![
            dir.as_str().into(),
            Value::Array(vec!["repomd.xml".into()]),
        ]),
    )]));
    let (code, msg) = fault(
        other
            .call("host.repoDone", vec![repo_id.into(), data.clone()])
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    let (code, msg) = fault(
        other
            .call(
                "host.newBuildRoot",
                vec![repo_id.into(), "x86_64".into(), tid.into()],
            )
            .await,
    );
    assert_eq!(code, codes::ACTION_NOT_ALLOWED, "{msg}");
    assert_same(&before, &state(&farm).await, "repoDone probes");
    assert!(!farm.path("koji/packages/foo/1/1/repodata").exists());
    // the real thing still works
    h.call("host.repoDone", vec![repo_id.into(), data])
        .await
        .unwrap();
    assert!(
        farm.path(&format!(
            "koji/repos/t-build/{repo_id}/x86_64/repodata/repomd.xml"
        ))
        .is_file()
    );
}
