//! What goes wrong in real life: a run killed mid-archive, a second run at once, unreadable
//! files, a full backup disk, broken configs. Each ends with a clear message and nothing
//! that looks finished but is not.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

#[test]
fn sigkill_mid_archive_leaves_nothing_finished_and_the_next_run_succeeds() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("small"), b"first");
    kb(&root, &tree, &["run"]).ok();
    // Enough incompressible data that the archive is still being written when we look.
    // (One 4 MiB block repeated: farther apart than zstd's window, so it does not shrink.)
    let block = noise(5, 4 << 20);
    let file: Vec<u8> = block.iter().copied().cycle().take(16 << 20).collect();
    for i in 0..12 {
        write(&tree.join(format!("big/{i}")), &file);
    }
    let mut child = cmd(&root, &tree)
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let eph = root.join("ephemeral");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = None;
    while Instant::now() < deadline {
        let partial = names(&eph)
            .into_iter()
            .find(|n| n.ends_with(".tar.zst.tmp"))
            .filter(|n| {
                fs::metadata(eph.join(n))
                    .map(|m| m.len() > 0)
                    .unwrap_or(false)
            });
        if partial.is_some() {
            seen = partial;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let seen = seen.expect("the archive of the second run was never seen being written");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        eph.join(&seen).exists(),
        "the killed run's partial archive {seen} should still be there to be ignored"
    );
    // The dead run's lock file is still there too.
    assert!(root.join(".kkoji-backup.lock").exists());

    // list and verify see only the first run.
    let listed = runs(&root, &tree);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let v = kb(&root, &tree, &["verify", "--json"]).ok();
    assert_eq!(json(&v)["runs"].as_array().unwrap().len(), 1);

    // The next run takes over the stale lock, removes the leftover and succeeds.
    let r = kb(&root, &tree, &["run"]).ok();
    assert!(r.stderr.contains("taking over the lock"), "{}", r.text());
    assert!(
        r.stderr.contains("leftover of an interrupted run"),
        "{}",
        r.text()
    );
    assert!(!eph.join(&seen).exists());
    assert_eq!(runs(&root, &tree).len(), 2);
    kb(&root, &tree, &["verify"]).ok();
    let t = dir.path().join("restored");
    kb(
        &root,
        &tree,
        &["restore", "--tree-into", t.to_str().unwrap()],
    )
    .ok();
    assert_same(
        "after crash",
        &snapshot(&tree, &no_skip),
        &snapshot(&t, &no_skip),
    );
}

/// A run killed after its archive was renamed but before its manifest was written leaves a
/// finished-looking archive (and dump) that no run owns: the next run removes them, and
/// leaves alone the files of a run whose manifest is there but unreadable, and files whose
/// names are not the tool's.
#[test]
fn archives_without_a_manifest_are_removed_by_the_next_run() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("a"), b"a");
    kb(&root, &tree, &["run"]).ok();
    let eph = root.join("ephemeral");
    let pg = root.join("postgres");
    let orphan_archive = eph.join("20200101-000000.incr.tar.zst");
    let orphan_dump = pg.join("koji_db_20200101-000000.dump");
    let foreign = eph.join("notes.tar.zst");
    // A run whose manifest cannot be read: its archive stays for verify to report.
    let broken_manifest = eph.join("20200102-000000.manifest.json.zst");
    let broken_archive = eph.join("20200102-000000.full.tar.zst");
    for p in [
        &orphan_archive,
        &orphan_dump,
        &foreign,
        &broken_manifest,
        &broken_archive,
    ] {
        fs::write(p, b"not what it seems").unwrap();
    }
    let r = kb(&root, &tree, &["run"]).ok();
    for gone in [&orphan_archive, &orphan_dump] {
        assert!(!gone.exists(), "{} was left", gone.display());
        assert!(
            r.stderr.contains(&gone.display().to_string()),
            "no note of {}: {}",
            gone.display(),
            r.text()
        );
    }
    for kept in [&foreign, &broken_manifest, &broken_archive] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
    // The two real runs are intact.
    fs::remove_file(&broken_manifest).unwrap();
    fs::remove_file(&broken_archive).unwrap();
    assert_eq!(runs(&root, &tree).len(), 2);
    kb(&root, &tree, &["verify"]).ok();
}

#[test]
fn a_second_run_at_once_is_refused() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("a"), b"a");
    fs::create_dir_all(&root).unwrap();
    // This test process is alive: its pid in the lock means a run in progress.
    fs::write(
        root.join(".kkoji-backup.lock"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    let r = kb(&root, &tree, &["run"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains(&format!(
            "another kkoji-backup (pid {})",
            std::process::id()
        )),
        "{}",
        r.text()
    );
    let r = kb(&root, &tree, &["prune"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(runs(&root, &tree).is_empty());
}

#[test]
fn unreadable_files_are_reported_and_the_rest_is_backed_up() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("ok/a.log"), b"fine");
    write(&tree.join("locked.log"), b"secret");
    write(&tree.join("closed/inner.log"), b"hidden");
    write(&tree.join("zzz.log"), b"after the bad ones");
    fs::set_permissions(tree.join("locked.log"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(tree.join("closed"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::create_dir_all(&root).unwrap();
    let mut c = cmd(&root, &tree);
    c.arg("run");
    // Root reads everything: run as `nobody`, owning the tree and the backup root.
    let bin_copy = dir.path().join("kkoji-backup");
    if is_root() {
        for p in [
            &tree,
            &root,
            &tree.join("ok"),
            &tree.join("ok/a.log"),
            &tree.join("zzz.log"),
        ] {
            std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
        }
        fs::copy(bin(), &bin_copy).unwrap();
        let mut c2 = std::process::Command::new(&bin_copy);
        c2.arg("--config")
            .arg(empty_config())
            .arg("--backup-root")
            .arg(&root)
            .arg("--scratch-tree")
            .arg(&tree)
            .arg("run")
            .uid(65534)
            .gid(65534);
        c = c2;
    }
    let r = output(c.output().unwrap());
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains("locked.log: Permission denied"),
        "{}",
        r.text()
    );
    assert!(
        r.stderr.contains("closed: Permission denied"),
        "{}",
        r.text()
    );
    assert!(
        r.stderr.contains("2 path(s) could not be backed up"),
        "{}",
        r.text()
    );
    // The run is complete for everything else.
    let list = json(&kb(&root, &tree, &["list", "--json"]).ok());
    assert_eq!(list[0]["errors"], 2, "{list:#}");
    let t = dir.path().join("restored");
    kb(
        &root,
        &tree,
        &["restore", "--tree-into", t.to_str().unwrap()],
    )
    .ok();
    assert_eq!(fs::read(t.join("ok/a.log")).unwrap(), b"fine");
    assert_eq!(fs::read(t.join("zzz.log")).unwrap(), b"after the bad ones");
    assert!(!t.join("locked.log").exists());
    fs::set_permissions(tree.join("closed"), fs::Permissions::from_mode(0o755)).unwrap();
}

/// A tmpfs of 1 MiB as the backup root; the tree does not fit.
#[test]
fn a_full_backup_disk_is_a_clear_error_and_leaves_no_partial_file() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("small.log"), b"x");
    for i in 0..3 {
        write(&tree.join(format!("big{i}")), &noise(100 + i, 1 << 20));
    }
    let _tmpfs = Tmpfs::mount(&root, "1m");
    let r = kb(&root, &tree, &["run"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.stderr.contains("No space left on device"), "{}", r.text());
    assert!(r.stderr.contains("writing the archive"), "{}", r.text());
    assert_eq!(
        r.stderr.matches("No space left on device").count(),
        1,
        "said once: {}",
        r.text()
    );
    assert_eq!(names(&root.join("ephemeral")), Vec::<String>::new());
    assert!(runs(&root, &tree).is_empty());
    assert!(!root.join(".kkoji-backup.lock").exists());
}

#[test]
fn config_errors_name_file_and_key_and_exit_2() {
    let dir = tempdir();
    let conf = dir.path().join("backup.toml");
    fs::write(
        &conf,
        "backup_root = \"/srv/b\"\n[retention]\nkeep_lats = 3\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        output(
            std::process::Command::new(bin())
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let c = conf.to_str().unwrap();
    let r = run(&["-c", c, "check-config"]);
    assert_eq!(r.code, 2, "{}", r.text());
    assert!(
        r.stderr.contains(c) && r.stderr.contains("keep_lats"),
        "{}",
        r.text()
    );
    fs::write(&conf, "[database]\nurl = \"mysql://db/koji\"\n").unwrap();
    let r = run(&["-c", c, "run"]);
    assert_eq!(r.code, 2, "{}", r.text());
    assert!(
        r.stderr.contains(&format!("{c}: key `database.url`")),
        "{}",
        r.text()
    );
    let r = run(&["-c", "/nonexistent/backup.toml", "status"]);
    assert_eq!(r.code, 2, "{}", r.text());
    assert!(
        r.stderr.contains("/nonexistent/backup.toml: cannot read"),
        "{}",
        r.text()
    );
    fs::write(
        &conf,
        "backup_root = \"/srv/backups\"\nscratch_tree = \"/srv/tmp\"\nexclude = [\"**/*.rpm\", \"**/*.iso\"]\n\
         full_after_days = 28\n[database]\nstate_dir = \"/var/lib/kkoji\"\n[retention]\nkeep_last = 2\n",
    )
    .unwrap();
    let r = run(&["-c", c, "check-config"]);
    assert!(
        r.stdout.contains("/srv/backups") && r.stdout.contains("28 days"),
        "{}",
        r.text()
    );
    assert!(
        r.stdout.contains("embedded cluster of /var/lib/kkoji"),
        "{}",
        r.text()
    );
}
