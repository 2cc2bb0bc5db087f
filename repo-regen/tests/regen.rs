//! kkoji-repo-regen against a real hub: requests for stale tags, expiry and deletion with
//! tiny lifetimes, pruning, external repo change detection, and the binary's exit codes.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Farm, Upstream, age_dir, host, int, kw, ready_repo, repo_state, repomd, touch_tag};
use koji_protocol::{KojiClient, Value, kstruct};

const READY: i64 = 1;
const EXPIRED: i64 = 2;
const DELETED: i64 = 3;

async fn active_requests(c: &KojiClient) -> Vec<Value> {
    let clauses = Value::Array(vec![Value::Array(vec![
        "active".into(),
        "=".into(),
        true.into(),
    ])]);
    c.call("repo.queryQueue", vec![clauses])
        .await
        .unwrap()
        .into_array()
        .unwrap()
}

async fn target(admin: &KojiClient, name: &str, arches: &str) -> String {
    let build = format!("{name}-build");
    let dest = format!("{name}-dest");
    admin
        .call_kw(
            "createTag",
            vec![build.as_str().into()],
            kw(&[("arches", arches.into())]),
        )
        .await
        .unwrap();
    admin
        .call("createTag", vec![dest.as_str().into()])
        .await
        .unwrap();
    admin
        .call(
            "createBuildTarget",
            vec![name.into(), build.as_str().into(), dest.as_str().into()],
        )
        .await
        .unwrap();
    build
}

#[tokio::test]
async fn stale_tags_get_one_request_each() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let cert = farm.regen_user(&admin).await;
    let build = target(&admin, "rq", "x86_64").await;
    admin
        .call_kw(
            "createTag",
            vec!["rq-auto".into()],
            kw(&[("extra", kstruct! { "repo.auto" => true })]),
        )
        .await
        .unwrap();
    admin
        .call("createTag", vec!["rq-plain".into()])
        .await
        .unwrap();

    let rep = farm.daemon(&cert, "").run_once().await.unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    let mut requested = rep.requested.clone();
    requested.sort();
    assert_eq!(requested, vec!["rq-auto".to_owned(), build.clone()]);

    let reqs = active_requests(&admin).await;
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    for r in &reqs {
        let tag = r.get("tag_name").and_then(Value::as_str).unwrap();
        let last = admin
            .call("tagLastChangeEvent", vec![tag.into()])
            .await
            .unwrap();
        assert_eq!(r.get("min_event"), Some(&last), "{r:?}");
        // priority=5 is relative to the default (20), as in Koji and the hub's own
        // auto requests
        assert_eq!(int(r, "priority"), 25, "{r:?}");
    }

    // the requests are active: a second pass asks for nothing new
    let rep = farm.daemon(&cert, "").run_once().await.unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    assert!(rep.requested.is_empty(), "{:?}", rep.requested);
    assert_eq!(active_requests(&admin).await.len(), 2);
}

#[tokio::test]
async fn failed_requests_back_off_until_the_tag_changes() {
    // the hub gives up on a request after its first failed task
    let farm = Farm::start_with("[repos]\nretries = 0").await;
    let admin = farm.admin().await;
    let cert = farm.regen_user(&admin).await;
    let build = target(&admin, "bo", "x86_64").await;
    let rep = farm.daemon(&cert, "").run_once().await.unwrap();
    assert_eq!(rep.requested, vec![build.clone()]);
    let reqs = active_requests(&admin).await;
    let task = int(&reqs[0], "task_id");
    admin.call("cancelTask", vec![task.into()]).await.unwrap();
    admin.call("repo.checkQueue", vec![]).await.unwrap();
    assert!(active_requests(&admin).await.is_empty());

    // same tag event: not requested again, reported as backing off
    let rep = farm.daemon(&cert, "").run_once().await.unwrap();
    assert!(rep.requested.is_empty(), "{rep:?}");
    assert_eq!(rep.backing_off, vec![build.clone()]);

    // the tag changed: a new request at once
    touch_tag(&admin, &build, "fixed").await;
    let rep = farm.daemon(&cert, "").run_once().await.unwrap();
    assert_eq!(rep.requested, vec![build.clone()], "{rep:?}");
    assert!(rep.backing_off.is_empty());
}

#[tokio::test]
async fn rate_limit_holds_back_requests() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let cert = farm.regen_user(&admin).await;
    target(&admin, "rl1", "x86_64").await;
    target(&admin, "rl2", "x86_64").await;
    target(&admin, "rl3", "x86_64").await;
    // one request at a time: the hub's queue pass gives it a (FREE) newRepo task, which
    // counts against max_repo_tasks until it finishes
    let rep = farm
        .daemon(&cert, "max_repo_tasks = 1")
        .run_once()
        .await
        .unwrap();
    assert_eq!(rep.requested.len(), 1, "{rep:?}");
    assert_eq!(rep.rate_limited.len(), 2, "{rep:?}");
    let rep = farm
        .daemon(&cert, "max_repo_tasks = 1")
        .run_once()
        .await
        .unwrap();
    assert!(rep.requested.is_empty(), "{rep:?}");
    assert_eq!(rep.rate_limited.len(), 2, "{rep:?}");
}

#[tokio::test]
async fn expiry_and_deletion_keep_the_newest_and_referenced_repos() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let cert = farm.regen_user(&admin).await;
    // not a build tag: no requests interfere
    admin
        .call_kw(
            "createTag",
            vec!["rx".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    let h = host(&farm, &admin, "rxhost").await;
    // a file the repos' toplink reaches: removal must never follow it
    let pkg = farm.topdir().join("packages/keep/1/1/x86_64/keep.rpm");
    std::fs::create_dir_all(pkg.parent().unwrap()).unwrap();
    std::fs::write(&pkg, "rpm").unwrap();

    let r1 = ready_repo(&h, "rx").await;
    touch_tag(&admin, "rx", "a").await;
    let r2 = ready_repo(&h, "rx").await;
    touch_tag(&admin, "rx", "b").await;
    let r3 = ready_repo(&h, "rx").await;
    let dir = |id: i64| farm.topdir().join(format!("repos/rx/{id}"));
    assert!(dir(r1).join("x86_64/toplink").symlink_metadata().is_ok());
    // r2 is used by a buildroot
    let br = h
        .call("host.newBuildRoot", vec![r2.into(), "x86_64".into()])
        .await
        .unwrap();

    let extra = "repo_lifetime_secs = 0\ndeleted_repo_lifetime_secs = 0";
    let rep = farm.daemon(&cert, extra).run_once().await.unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    let mut expired = rep.expired.clone();
    expired.sort();
    assert_eq!(expired, vec![r1, r2]);
    assert_eq!(repo_state(&admin, r3).await, READY, "newest was expired");

    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let rep = farm.daemon(&cert, extra).run_once().await.unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    assert_eq!(rep.deleted, vec![r1]);
    assert_eq!(rep.kept_referenced, vec![r2]);
    assert_eq!(repo_state(&admin, r1).await, DELETED);
    assert_eq!(repo_state(&admin, r2).await, EXPIRED);
    assert_eq!(repo_state(&admin, r3).await, READY);
    assert!(!dir(r1).exists(), "deleted repo's directory is still there");
    assert!(
        !farm
            .topdir()
            .join(format!("repos/rx/.deleting-{r1}"))
            .exists()
    );
    assert!(dir(r2).is_dir() && dir(r3).is_dir());
    assert!(pkg.exists(), "removal followed toplink");

    // the buildroot is retired: r2 goes too
    h.call("host.setBuildRootState", vec![br, 3.into()])
        .await
        .unwrap();
    let rep = farm.daemon(&cert, extra).run_once().await.unwrap();
    assert_eq!(rep.deleted, vec![r2], "{rep:?}");
    assert!(!dir(r2).exists());

    // a tag whose newest repo was expired by hand keeps it: it is all the tag has
    admin.call("repoExpire", vec![r3.into()]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let rep = farm.daemon(&cert, extra).run_once().await.unwrap();
    assert!(rep.deleted.is_empty(), "{rep:?}");
    assert_eq!(repo_state(&admin, r3).await, EXPIRED);
    assert!(dir(r3).is_dir());
    assert!(pkg.exists());
}

#[tokio::test]
async fn stray_and_deleted_directories_are_pruned() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let cert = farm.regen_user(&admin).await;
    admin
        .call_kw(
            "createTag",
            vec!["px".into()],
            kw(&[("arches", "x86_64".into())]),
        )
        .await
        .unwrap();
    let h = host(&farm, &admin, "pxhost").await;
    let gone = ready_repo(&h, "px").await;
    let live = ready_repo(&h, "px").await;
    // DELETED on the hub, directory left behind (a removal that never happened)
    admin
        .call("repo.setState", vec![gone.into(), DELETED.into()])
        .await
        .unwrap();
    let tagdir = farm.topdir().join("repos/px");
    let stray_tag = farm.topdir().join("repos/no-such-tag");
    for d in ["999999/x86_64", "999998", "notes", ".deleting-77/x"] {
        std::fs::create_dir_all(tagdir.join(d)).unwrap();
    }
    std::fs::create_dir_all(stray_tag.join("888888")).unwrap();
    // a symlinked tag dir to somewhere else is never entered
    let outside = farm.dir.path().join("outside");
    std::fs::create_dir_all(outside.join("777777")).unwrap();
    age_dir(&outside.join("777777"), 10_000);
    std::os::unix::fs::symlink(&outside, farm.topdir().join("repos/linked")).unwrap();
    for d in [
        tagdir.join("999999"),
        tagdir.join(gone.to_string()),
        tagdir.join(live.to_string()),
        stray_tag.join("888888"),
    ] {
        age_dir(&d, 10_000);
    }

    let rep = farm
        .daemon(&cert, "prune_grace_secs = 3600")
        .run_once()
        .await
        .unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    let mut pruned: Vec<String> = rep
        .pruned
        .iter()
        .map(|p| {
            p.strip_prefix(farm.topdir().join("repos"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    pruned.sort();
    let mut want = vec![
        "no-such-tag/888888".to_owned(),
        "px/.deleting-77".to_owned(),
        "px/999999".to_owned(),
        format!("px/{gone}"),
    ];
    want.sort();
    assert_eq!(pruned, want);
    for kept in [
        tagdir.join(live.to_string()),
        tagdir.join("999998"),
        tagdir.join("notes"),
        tagdir.join("latest"),
        outside.join("777777"),
    ] {
        assert!(
            kept.symlink_metadata().is_ok(),
            "{} removed",
            kept.display()
        );
    }
    assert!(!tagdir.join("999999").exists());
    assert!(!tagdir.join(gone.to_string()).exists());
}

#[tokio::test]
async fn external_repo_changes_are_detected() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let cert = farm.regen_user(&admin).await;
    let build = target(&admin, "ex", "x86_64").await;
    let up = Upstream::start("/f40/x86_64/repodata/repomd.xml", &repomd(1_700_000_000));
    let url = format!("http://127.0.0.1:{}/f40/$arch/", up.port);
    let erepo = admin
        .call(
            "createExternalRepo",
            vec!["upstream".into(), url.as_str().into()],
        )
        .await
        .unwrap();
    let erepo_id = int(&erepo, "id");
    admin
        .call(
            "addExternalRepoToTag",
            vec![build.as_str().into(), "upstream".into(), 10.into()],
        )
        .await
        .unwrap();
    let last_change = || async {
        admin
            .call("tagLastChangeEvent", vec![build.as_str().into()])
            .await
            .unwrap()
            .as_i64()
            .unwrap()
    };
    let stored = || async {
        admin
            .call("repo.getExternalRepoData", vec![erepo_id.into()])
            .await
            .unwrap()
    };
    let before = last_change().await;
    let extra = "external_check_secs = 0";

    let rep = farm.daemon(&cert, extra).run_once().await.unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    assert_eq!(rep.external_updated, vec![(erepo_id, 1_700_000_000)]);
    assert_eq!(int(&stored().await, "max_ts"), 1_700_000_000);
    let after = last_change().await;
    assert!(after > before, "tag did not change: {before} -> {after}");

    // unchanged upstream: nothing written
    let rep = farm.daemon(&cert, extra).run_once().await.unwrap();
    assert!(rep.external_updated.is_empty(), "{rep:?}");
    assert_eq!(last_change().await, after);

    // new upstream content
    up.set_body(&repomd(1_700_000_500));
    let rep = farm.daemon(&cert, extra).run_once().await.unwrap();
    assert_eq!(rep.external_updated, vec![(erepo_id, 1_700_000_500)]);

    // a truncated repomd.xml is a warning naming the URL, and no change
    let body = repomd(1_700_009_999);
    up.set_body(&body[..body.len() - 20]);
    let rep = farm.daemon(&cert, extra).run_once().await.unwrap();
    assert!(rep.external_updated.is_empty(), "{rep:?}");
    let want_url = format!(
        "http://127.0.0.1:{}/f40/x86_64/repodata/repomd.xml",
        up.port
    );
    assert!(
        rep.warnings.iter().any(|w| w.contains(&want_url)),
        "{:?}",
        rep.warnings
    );
    assert_eq!(int(&stored().await, "max_ts"), 1_700_000_500);

    // an unreachable upstream likewise
    drop(up);
    let rep = farm.daemon(&cert, extra).run_once().await.unwrap();
    assert!(rep.external_updated.is_empty());
    assert!(
        rep.warnings.iter().any(|w| w.contains(&want_url)),
        "{:?}",
        rep.warnings
    );
    assert_eq!(int(&stored().await, "max_ts"), 1_700_000_500);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kkoji-repo-regen"))
}

#[tokio::test]
async fn binary_exit_codes() {
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let cert = farm.regen_user(&admin).await;
    let dir = farm.dir.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let run = |args: &[&str], cfg: &Path| {
        let mut c = bin();
        c.arg("--config").arg(cfg).args(args);
        c.env("KKOJI_LOG", "info");
        let out = c.output().expect("run kkoji-repo-regen");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let good = write("good.toml", &farm.config_text(&cert, ""));

    let (code, err) = tokio::task::spawn_blocking({
        let good = good.clone();
        move || run(&["--once"], &good)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("pass done"), "{err}");

    let (code, err) = run(&["check"], &good);
    assert_eq!(code, Some(0), "{err}");

    let bad = write("bad.toml", &farm.config_text(&cert, "repo_lifetime = 5"));
    let (code, err) = run(&["--once"], &bad);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("repo_lifetime"),
        "{err}"
    );

    // a user without the repo permission cannot run it
    let nobody = farm.user_bundle("nobody");
    let noperm = write("noperm.toml", &farm.config_text(&nobody, ""));
    let (code, err) = tokio::task::spawn_blocking(move || run(&["--once"], &noperm))
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("repo"), "{err}");
}

#[tokio::test]
async fn daemon_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let farm = Farm::start().await;
    let admin = farm.admin().await;
    let cert = farm.regen_user(&admin).await;
    let cfg = farm.dir.path().join("daemon.toml");
    std::fs::write(&cfg, farm.config_text(&cert, "interval_secs = 1")).unwrap();
    let mut child = bin()
        .arg("--config")
        .arg(&cfg)
        .env("KKOJI_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    // bounded: a daemon that never logs a pass is killed after two minutes
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            for _ in 0..1200 {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        })
    };
    let (code, log) = tokio::task::spawn_blocking(move || {
        let mut log = String::new();
        let mut passes = 0;
        let mut signalled = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            log.push_str(&line);
            log.push('\n');
            if line.contains("pass done") {
                passes += 1;
            }
            if passes >= 2 && !signalled {
                signalled = true;
                let st = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .unwrap();
                assert!(st.success());
            }
        }
        let status = child.wait().unwrap();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (status.code(), log)
    })
    .await
    .unwrap();
    let _ = watchdog.join();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("stopping"), "{log}");
}
