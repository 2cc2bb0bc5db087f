//! Issue 16's probes, through a real hub over real TLS: a builder host or a packager tries
//! to reach files, builds and tags that are not theirs. Each probe must fail with a clear
//! fault and leave the topdir and the database exactly as they were.

mod common;

use common::{Farm, fault, host, kw, rpmbuild, upload};
use koji_protocol::client::KojiClient;
use koji_protocol::{Struct, Value, codes, encode_response, kstruct};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

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
    for f in ["src/foo-1.0-1.src.rpm", "x86_64/foo-1.0-1.x86_64.rpm"] {
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

/// A TLS connection without a client certificate, for requests the client library would
/// never send.
async fn raw_tls(farm: &Farm) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    raw_tls_to(farm, farm.hub.addr).await.unwrap()
}

async fn raw_tls_to(
    farm: &Farm,
    addr: std::net::SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(&farm.ca_pem()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
}

/// Finding 6: a body dribbled byte by byte is cut off by the body timeout (the connection
/// closes), and an upload without a session is answered without its body being read.
#[tokio::test]
async fn slow_and_anonymous_bodies_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let farm = Farm::start_with(|c| c.limits.body_timeout_secs = 2.0).await;
    let s = raw_tls(&farm).await;
    let (mut rd, mut wr) = tokio::io::split(s);
    wr.write_all(
        b"POST /kojihub HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n<",
    )
    .await
    .unwrap();
    let dribble = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            if wr.write_all(b" ").await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    // the hub answers and closes; a generous deadline only guards against a hang
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        rd.read_to_end(&mut got),
    )
    .await
    .expect("the hub kept a dribbling connection open");
    dribble.abort();
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("did not arrive in time"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );

    // an anonymous 63 MiB upload: refused from the headers; the hub closes the connection
    // instead of reading the body
    let before = snapshot(farm.dir.path());
    let mut s = raw_tls(&farm).await;
    let len = 63usize << 20;
    s.write_all(format!(
        "POST /kojihub?filename=a.rpm&filepath=cli-build/x&offset=0 HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
    ).as_bytes())
    .await
    .unwrap();
    let (mut rd, mut wr) = tokio::io::split(s);
    let sender = tokio::spawn(async move {
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..63 {
            if wr.write_all(&chunk).await.is_err() {
                return false;
            }
        }
        true
    });
    let mut got = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        rd.read_to_end(&mut got),
    )
    .await
    .expect("the hub kept the anonymous upload open");
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("logged-in to upload"), "{text}");
    let _ = sender.await;
    assert_eq!(
        before,
        snapshot(farm.dir.path()),
        "an anonymous upload changed files"
    );
}

/// Finding 6: one address may hold only so many connections; a slot is given back when a
/// connection ends.
#[tokio::test]
async fn connections_per_address_are_limited() {
    use tokio::io::AsyncReadExt;
    let farm = Farm::start_with(|c| c.limits.max_connections_per_addr = 2).await;
    let a = tokio::net::TcpStream::connect(farm.hub.addr).await.unwrap();
    let b = tokio::net::TcpStream::connect(farm.hub.addr).await.unwrap();
    // the listen queue is accepted in order: a and b hold the two slots
    let anon = farm.anon();
    let mut c = tokio::net::TcpStream::connect(farm.hub.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(std::time::Duration::from_secs(60), c.read(&mut buf))
        .await
        .expect("the third connection was neither refused nor served");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    drop((a, b));
    // with the slots given back, calls work again
    let mut ok = false;
    for _ in 0..100 {
        if anon.call("hello", vec![]).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "calls did not work again after the connections closed");
}

/// Findings 7 and 11: checkUpload needs a login; a chunk may not start past the end of the
/// file; the per-upload cap holds; no absolute path or SQL in faults.
#[tokio::test]
async fn uploads_cannot_grow_files_or_be_hashed_anonymously() {
    let farm = Farm::start_with(|c| {
        c.limits.max_upload_chunk = 4096;
        c.limits.max_upload_size = 8192;
    })
    .await;
    let admin = farm.admin().await;
    let packager = setup_target(&farm, &admin).await;
    let chunk = bytes::Bytes::from(vec![7u8; 4096]);
    packager
        .raw_upload("cli-build/u1", "f.bin", 0, chunk.clone(), false)
        .await
        .unwrap();
    let before = state(&farm).await;
    let (_, msg) = fault(
        farm.anon()
            .call(
                "checkUpload",
                vec!["cli-build/u1".into(), "f.bin".into(), "sha256".into()],
            )
            .await,
    );
    assert!(msg.contains("Not logged in"), "{msg}");
    for (name, off, over) in [
        ("f.bin", 1i64 << 40, false),
        ("f.bin", 1i64 << 34, true),
        ("new.bin", 1i64 << 30, false),
    ] {
        let (_, msg) = fault(
            packager
                .raw_upload("cli-build/u1", name, off, chunk.clone(), over)
                .await,
        );
        assert!(msg.contains("Invalid upload offset"), "{msg}");
    }
    let (_, msg) = fault(
        packager
            .raw_upload("cli-build/u1", "f.bin", 4096, vec![1u8; 4097].into(), false)
            .await,
    );
    assert!(msg.contains("too long"), "{msg}");
    assert_same(&before, &state(&farm).await, "upload probes");
    packager
        .raw_upload("cli-build/u1", "f.bin", 4096, chunk.clone(), false)
        .await
        .unwrap();
    let (_, msg) = fault(
        packager
            .raw_upload("cli-build/u1", "f.bin", 8192, chunk.clone(), false)
            .await,
    );
    assert!(msg.contains("Upload too large"), "{msg}");
    assert!(
        !msg.contains(&farm.dir.path().display().to_string()),
        "{msg}"
    );
    assert_eq!(
        std::fs::metadata(farm.path("koji/work/cli-build/u1/f.bin"))
            .unwrap()
            .len(),
        8192
    );
    // a logged-in owner gets the digest
    let chk = packager
        .call(
            "checkUpload",
            vec!["cli-build/u1".into(), "f.bin".into(), "sha256".into()],
        )
        .await
        .unwrap();
    assert_eq!(chk.get("size").and_then(Value::as_i64), Some(8192));
    // a non-finite time never reaches SQL
    let (code, msg) = fault(
        farm.anon()
            .call(
                "listTasks",
                vec![Value::Struct(kw(&[(
                    "createdBefore",
                    Value::Double(f64::INFINITY),
                )]))],
            )
            .await,
    );
    assert_eq!(code, codes::PARAMETER, "{msg}");
    assert!(!msg.contains("column"), "{msg}");
}

/// Findings 8 and 9: listTasks pages in SQL under the server's cap; a priority that would
/// wrap is refused and makes no task.
#[tokio::test]
async fn task_lists_are_capped_and_priorities_checked() {
    let farm = Farm::start_with(|c| c.limits.max_list_rows = 3).await;
    let admin = farm.admin().await;
    let packager = setup_target(&farm, &admin).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            admin
                .call(
                    "makeTask",
                    vec!["sleep".into(), Value::Array(vec![1.into()])],
                )
                .await
                .unwrap()
                .as_i64()
                .unwrap(),
        );
    }
    let anon = farm.anon();
    let ids_of = |v: Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t.get("id").and_then(Value::as_i64).unwrap())
            .collect()
    };
    let page = anon
        .call(
            "listTasks",
            vec![
                Value::Nil,
                Value::Struct(kw(&[("limit", 2.into()), ("offset", 1.into())])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids_of(page), ids[1..3].to_vec());
    let all = anon.call("listTasks", vec![]).await.unwrap();
    assert_eq!(ids_of(all), ids[..3].to_vec(), "the server cap holds");
    let n = anon
        .call(
            "listTasks",
            vec![Value::Nil, Value::Struct(kw(&[("countOnly", true.into())]))],
        )
        .await
        .unwrap();
    assert_eq!(n.as_i64(), Some(5));

    let (srpm, _) = rpmbuild(farm.dir.path(), "foo", true, "true");
    let src = upload(&packager, "cli-build/p", &srpm).await;
    let before = state(&farm).await;
    for p in [4_294_967_196i64, i64::MAX] {
        let (code, msg) = fault(
            packager
                .call(
                    "build",
                    vec![
                        src.as_str().into(),
                        "t-target".into(),
                        Value::Struct(kw(&[("scratch", true.into())])),
                        p.into(),
                    ],
                )
                .await,
        );
        assert_eq!(code, codes::PARAMETER, "{msg}");
        assert!(msg.contains("out of range"), "{msg}");
    }
    assert_same(&before, &state(&farm).await, "priority probes");
}

/// Finding 8 for every list call: limit, offset, order and countOnly are done by the
/// database under the server's cap, and an order field the listing does not offer (SQL
/// text included) is a ParameterError.
#[tokio::test]
async fn every_list_call_pages_under_the_cap() {
    let farm = Farm::start_with(|c| c.limits.max_list_rows = 3).await;
    let admin = farm.admin().await;
    for i in 0..5 {
        let t = format!("cap-tag-{i}");
        admin
            .call("createTag", vec![t.as_str().into()])
            .await
            .unwrap();
        admin
            .call(
                "packageListAdd",
                vec![
                    t.as_str().into(),
                    format!("cap-pkg-{i}").into(),
                    "kojiadmin".into(),
                ],
            )
            .await
            .unwrap();
        admin
            .call("createUser", vec![format!("cap-user-{i}").into()])
            .await
            .unwrap();
    }
    let anon = farm.anon();
    let names = |v: &Value, key: &str| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t.get(key).and_then(Value::as_str).unwrap().to_string())
            .collect()
    };
    let opts = |pairs: &[(&str, Value)]| Value::Struct(kw(pairs));
    // (method, args before queryOpts, the name field, how many rows exist at least)
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        (
            "listTags",
            vec![Value::Nil, Value::Nil, true.into()],
            "name",
        ),
        ("listPackages", vec![Value::Nil; 7], "package_name"),
        ("listUsers", vec![0.into(), Value::Nil], "name"),
    ];
    for (method, pre, field) in cases {
        let with = |q: Value| {
            let mut a = pre.clone();
            a.push(q);
            a
        };
        let all = anon.call(method, with(Value::Nil)).await.unwrap();
        assert_eq!(
            all.as_array().unwrap().len(),
            3,
            "{method}: the server cap holds"
        );
        let n = anon
            .call(method, with(opts(&[("countOnly", true.into())])))
            .await
            .unwrap()
            .as_i64()
            .unwrap();
        assert!(n >= 5, "{method}: countOnly counts past the cap, got {n}");
        let desc = anon
            .call(
                method,
                with(opts(&[
                    ("order", format!("-{field}").into()),
                    ("limit", 2.into()),
                ])),
            )
            .await
            .unwrap();
        let desc = names(&desc, field);
        assert_eq!(desc.len(), 2, "{method}");
        assert!(desc[0] > desc[1], "{method}: descending order {desc:?}");
        let second = anon
            .call(
                method,
                with(opts(&[
                    ("order", format!("-{field}").into()),
                    ("limit", 1.into()),
                    ("offset", 1.into()),
                ])),
            )
            .await
            .unwrap();
        assert_eq!(
            names(&second, field),
            desc[1..].to_vec(),
            "{method}: offset"
        );
        for bad in [
            opts(&[("order", "name; DROP TABLE tag".into())]),
            opts(&[("order", "no_such_field".into())]),
            opts(&[("limit", (-1).into())]),
            opts(&[("offset", "1".into())]),
        ] {
            let (code, msg) = fault(anon.call(method, with(bad)).await);
            assert_eq!(code, codes::PARAMETER, "{method}: {msg}");
            assert!(!msg.contains("syntax"), "{method}: {msg}");
        }
    }
}

/// `search` binds its pattern (SQL in a pattern is just text to match), pages under the
/// cap, and refuses what it cannot search with a clear fault.
#[tokio::test]
async fn search_patterns_are_data() {
    let farm = Farm::start_with(|c| c.limits.max_list_rows = 2).await;
    let admin = farm.admin().await;
    for t in ["srch-a", "srch-b", "srch-c", "Srch_d"] {
        admin.call("createTag", vec![t.into()]).await.unwrap();
    }
    let anon = farm.anon();
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r.get("name").and_then(Value::as_str).unwrap().to_string())
            .collect()
    };
    let search =
        |terms: &str, how: &str, opts: Value| vec![terms.into(), "tag".into(), how.into(), opts];
    let all = |o: &str| Value::Struct(kw(&[("order", o.into())]));
    // glob is case-insensitive; `_` is a literal; the cap holds
    let got = names(
        anon.call("search", search("srch*", "glob", all("name")))
            .await
            .unwrap(),
    );
    assert_eq!(got, ["Srch_d", "srch-a"]);
    let got = names(
        anon.call("search", search("srch?d", "glob", Value::Nil))
            .await
            .unwrap(),
    );
    assert_eq!(got, ["Srch_d"]);
    let got = names(
        anon.call("search", search("srch-a%", "glob", Value::Nil))
            .await
            .unwrap(),
    );
    assert!(got.is_empty(), "% is not a wildcard in a glob: {got:?}");
    let n = anon
        .call(
            "search",
            search(
                "^srch",
                "regexp",
                Value::Struct(kw(&[("countOnly", true.into())])),
            ),
        )
        .await
        .unwrap();
    assert_eq!(n.as_i64(), Some(4));
    let got = names(
        anon.call("search", search("x' OR '1'='1", "exact", Value::Nil))
            .await
            .unwrap(),
    );
    assert!(got.is_empty(), "{got:?}");
    let (code, msg) = fault(anon.call("search", search("(", "regexp", Value::Nil)).await);
    assert_eq!(code, codes::PARAMETER, "{msg}");
    let (code, msg) = fault(
        anon.call("search", vec!["x".into(), "volume".into(), "glob".into()])
            .await,
    );
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert!(msg.contains("No such search type: volume"), "{msg}");
    let (_, msg) = fault(anon.call("search", search("", "glob", Value::Nil)).await);
    assert!(msg.contains("empty search terms"), "{msg}");
    let got = anon
        .call("search", vec!["x*".into(), "win".into(), "glob".into()])
        .await
        .unwrap();
    assert_eq!(got, Value::Array(vec![]));
}

/// The hub's resident high-water mark, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Finding 6, measured: the hub binary (a child process on the test farm's database and
/// certificates) gets 16 unauthenticated 63 MiB bodies at once, uploads and calls; its
/// resident peak stays under 100 MiB.
#[tokio::test]
async fn unauthenticated_bodies_do_not_grow_the_hub() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let farm = Farm::start().await;
    let cfg = &farm.hub.hub.config;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let state_dir = farm.path("child-state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let toml = format!(
        "listen = \"127.0.0.1:{port}\"\nstate_dir = {:?}\ndatabase_url = {:?}\ntopdir = {:?}\n\
         [tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n[db]\nmax_connections = 4\n",
        state_dir.display().to_string(),
        cfg.database_url.clone().unwrap(),
        cfg.topdir.display().to_string(),
        cfg.tls.cert.display().to_string(),
        cfg.tls.key.display().to_string(),
        cfg.tls.client_ca.display().to_string(),
    );
    let conf = farm.path("child-hub.toml");
    std::fs::write(&conf, toml).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kkoji-hub"))
        .arg("serve")
        .arg("--config")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut up = false;
    for _ in 0..600 {
        if raw_tls_to(&farm, addr).await.is_ok() {
            up = true;
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the hub exited");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "the child hub never listened");
    let len = 63usize << 20;
    let mut jobs = Vec::new();
    for i in 0..16 {
        let s = raw_tls_to(&farm, addr).await.unwrap();
        let head = if i % 2 == 0 {
            format!(
                "POST /kojihub?filename=a{i}.rpm&filepath=cli-build/m{i}&offset=0 HTTP/1.1\r\n\
                 Host: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
            )
        } else {
            format!(
                "POST /kojihub HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n\
                 Content-Length: {len}\r\n\r\n"
            )
        };
        jobs.push(tokio::spawn(async move {
            let (mut rd, mut wr) = tokio::io::split(s);
            let writer = tokio::spawn(async move {
                let chunk = vec![b' '; 1 << 20];
                let _ = wr.write_all(head.as_bytes()).await;
                for _ in 0..63 {
                    if wr.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
            });
            let mut got = Vec::new();
            let _ = rd.read_to_end(&mut got).await;
            writer.abort();
            String::from_utf8_lossy(&got).into_owned()
        }));
    }
    for j in jobs {
        let text = tokio::time::timeout(std::time::Duration::from_secs(300), j)
            .await
            .expect("the hub did not answer a body")
            .unwrap();
        assert!(
            text.contains("logged-in to upload") || text.contains("Request too long"),
            "{text}"
        );
    }
    let peak = peak_rss_kib(pid);
    eprintln!("hub resident peak: {} KiB", peak);
    assert!(
        peak < 100 * 1024,
        "the hub peaked at {} MiB resident",
        peak / 1024
    );
    child.kill().await.unwrap();
}

/// Issue 11: an id the database cannot hold (2^32 + 1, which a cast to i32 turns into 1)
/// is a ParameterError wherever a call takes one, and changes nothing, though task 1,
/// build 1 and tag 1 exist.
#[tokio::test]
async fn ids_beyond_32_bits_are_refused_and_change_nothing() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let tag = admin.call("createTag", vec!["base".into()]).await.unwrap();
    assert_eq!(tag.as_i64(), Some(1));
    let h = host(&farm, &admin, "b1", &["noarch"], 4.0).await;
    h.call("host.updateHost", vec![0.0.into(), true.into()])
        .await
        .unwrap();
    let task = admin
        .call("makeTask", vec!["sleep".into(), Value::Array(vec![])])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(task, 1);
    assert_eq!(next_task(&h).await, task);
    let build = h
        .call(
            "host.initBuild",
            vec![
                kstruct! { "name" => "foo", "version" => "1", "release" => "1", "task_id" => task },
            ],
        )
        .await
        .unwrap();
    assert_eq!(build.as_i64(), Some(1));

    let wide = (1i64 << 32) + 1;
    assert_eq!(
        wide as i32, 1,
        "the number a cast would turn into an existing id"
    );
    let events_before = admin.call("getLastEvent", vec![]).await.unwrap();
    let before = state(&farm).await;
    let by_id = kstruct! { "id" => wide };
    for (method, args) in [
        ("cancelTask", vec![Value::Int(wide)]),
        ("getTaskInfo", vec![Value::Int(wide)]),
        (
            "getTaskInfo",
            vec![Value::Array(vec![Value::Int(1), Value::Int(wide)])],
        ),
        ("getBuild", vec![Value::Int(wide)]),
        ("getBuild", vec![by_id.clone()]),
        ("getTag", vec![Value::Int(wide)]),
        ("getTag", vec![by_id.clone()]),
    ] {
        let (code, msg) = fault(admin.call(method, args.clone()).await);
        assert_eq!(code, codes::PARAMETER, "{method}{args:?}: {msg}");
        assert!(msg.contains("out of range: 4294967297"), "{method}: {msg}");
    }
    // strict lookups too, where a miss would have been a GenericError
    let (code, _) = fault(
        admin
            .call_kw(
                "getTaskInfo",
                vec![Value::Int(wide)],
                kw(&[("strict", true.into())]),
            )
            .await,
    );
    assert_eq!(code, codes::PARAMETER);
    assert_same(&before, &state(&farm).await, "ids beyond 32 bits");
    assert_eq!(
        admin.call("getLastEvent", vec![]).await.unwrap(),
        events_before,
        "no event was created"
    );
    let t = admin.call("getTaskInfo", vec![1.into()]).await.unwrap();
    assert_eq!(
        t.get("state").and_then(Value::as_i64),
        Some(1),
        "task 1 is still OPEN"
    );
}

/// Issue 11: a call that hits a database error answers with a fault naming the call, never
/// SQL text, table names or paths (the detail goes to the hub's log), in a multicall too;
/// a write that failed leaves nothing behind.
#[tokio::test]
async fn database_errors_reach_the_client_without_sql_text() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    admin.call("createTag", vec!["t1".into()]).await.unwrap();
    let url = farm.hub.hub.config.database_url.clone().unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE tag_config RENAME TO tag_config_moved_away")
        .execute(&pool)
        .await
        .unwrap();
    let leaks = |msg: &str| {
        [
            "tag_config",
            "relation",
            "SELECT",
            "INSERT",
            "moved_away",
            "/",
        ]
        .iter()
        .any(|w| msg.contains(w))
    };
    let (code, msg) = fault(admin.call("listTags", vec![]).await);
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert_eq!(
        msg,
        "listTags failed: internal database error (see the hub log)"
    );
    let (code, msg) = fault(
        admin
            .call_kw("getTag", vec!["t1".into()], kw(&[("event", 1.into())]))
            .await,
    );
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert!(msg.starts_with("getTag failed") && !leaks(&msg), "{msg}");
    let (code, msg) = fault(admin.call("createTag", vec!["t2".into()]).await);
    assert_eq!(code, codes::GENERIC, "{msg}");
    assert!(msg.starts_with("createTag failed") && !leaks(&msg), "{msg}");
    let out = admin
        .multicall(vec![
            ("getAPIVersion".into(), vec![]),
            ("listTags".into(), vec![]),
        ])
        .await
        .unwrap();
    assert!(out[0].is_ok(), "{out:?}");
    match &out[1] {
        Err(f) => {
            assert_eq!(f.code, codes::GENERIC);
            assert!(
                f.string.starts_with("listTags failed") && !leaks(&f.string),
                "{f:?}"
            );
        }
        Ok(v) => panic!("listTags answered {v:?} without its table"),
    }
    sqlx::query("ALTER TABLE tag_config_moved_away RENAME TO tag_config")
        .execute(&pool)
        .await
        .unwrap();
    let t2: Option<i32> = sqlx::query_scalar("SELECT id FROM tag WHERE name = 't2'")
        .fetch_optional(&pool)
        .await
        .unwrap();
    assert_eq!(t2, None, "the failed createTag left its tag row behind");
    pool.close().await;
}
