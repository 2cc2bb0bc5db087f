//! Full and incremental runs over a changing tree; a restore at every point of the chain is
//! exact (content, modes, owners, mtimes, symlinks, hard links, empty dirs), RPMs excluded.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn is_rpm(p: &str) -> bool {
    p.ends_with(".rpm")
}

/// The scratch tree of a farm in miniature.
fn populate(tree: &Path) {
    write(&tree.join("work/tasks/1/1/build.log"), b"building foo\n");
    write(&tree.join("work/tasks/1/1/root.log"), &noise(1, 200_000));
    write(
        &tree.join("work/tasks/1/1/foo-1.0-1.x86_64.rpm"),
        &noise(2, 100_000),
    );
    write(&tree.join("work/tasks/2/2/mock_output.log"), b"mock\n");
    fs::create_dir_all(tree.join("work/tasks/3/3")).unwrap(); // empty dir
    fs::create_dir_all(tree.join("empty/deeper")).unwrap();
    write(
        &tree.join("repos/f40/7/x86_64/pkglist"),
        b"toplink/packages/foo\n",
    );
    std::os::unix::fs::symlink("../../../..", tree.join("repos/f40/7/x86_64/toplink")).unwrap();
    std::os::unix::fs::symlink("7", tree.join("repos/f40/latest")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dangling", tree.join("dangling")).unwrap();
    // A hard link pair and a triple.
    write(&tree.join("links/a"), b"shared content");
    fs::hard_link(tree.join("links/a"), tree.join("links/b")).unwrap();
    write(&tree.join("links/t1"), &noise(3, 5000));
    fs::hard_link(tree.join("links/t1"), tree.join("work/t2")).unwrap();
    fs::hard_link(tree.join("links/t1"), tree.join("work/tasks/t3")).unwrap();
    // Modes, owners, odd mtimes.
    let secret = tree.join("work/secret.key");
    write(&secret, b"k");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let exe = tree.join("work/run.sh");
    write(&exe, b"#!/bin/sh\n");
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(tree.join("empty"), fs::Permissions::from_mode(0o2770)).unwrap();
    if is_root() {
        std::os::unix::fs::lchown(tree.join("work/tasks/2"), Some(1234), Some(4321)).unwrap();
        std::os::unix::fs::lchown(
            tree.join("work/tasks/2/2/mock_output.log"),
            Some(65534),
            Some(100),
        )
        .unwrap();
        std::os::unix::fs::lchown(tree.join("repos/f40/latest"), Some(42), Some(43)).unwrap();
    }
    set_mtime(
        &tree.join("work/tasks/1/1/build.log"),
        1_000_000_000,
        123_456_789,
    );
    set_mtime(&tree.join("repos/f40/latest"), 1_500_000_000, 5);
    // A FIFO is skipped with a note.
    nix::unistd::mkfifo(
        &tree.join("work/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
}

fn skip(p: &str) -> bool {
    is_rpm(p) || p == "work/fifo"
}

#[test]
fn incremental_chain_restores_every_point_exactly() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    fs::create_dir(&tree).unwrap();
    populate(&tree);
    let mut points = Vec::new();

    let r = kb(&root, &tree, &["run"]).ok();
    assert!(
        r.stderr.contains("work/fifo: a FIFO; skipped"),
        "{}",
        r.text()
    );
    points.push(snapshot(&tree, &skip));

    // 2: add, change (same size, new content), chmod, delete, a file replaced by a
    // directory, a directory replaced by a file, a new hard link to an unchanged file.
    write(&tree.join("work/tasks/4/4/build.log"), b"new task\n");
    write(&tree.join("work/tasks/1/1/build.log"), b"building bar\n");
    fs::set_permissions(
        tree.join("work/secret.key"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    fs::remove_file(tree.join("work/tasks/2/2/mock_output.log")).unwrap();
    fs::remove_file(tree.join("work/run.sh")).unwrap();
    write(&tree.join("work/run.sh/inside"), b"now a directory\n");
    fs::remove_dir_all(tree.join("empty/deeper")).unwrap();
    write(&tree.join("empty/deeper"), b"now a file\n");
    fs::hard_link(tree.join("links/a"), tree.join("links/c")).unwrap();
    write(
        &tree.join("work/tasks/4/4/bar-2.0-1.noarch.rpm"),
        b"excluded",
    );
    kb(&root, &tree, &["run"]).ok();
    points.push(snapshot(&tree, &skip));

    // 3: delete a subtree, turn a symlink into a file, grow a big file, remove a hard link.
    fs::remove_dir_all(tree.join("work/tasks/1")).unwrap();
    fs::remove_file(tree.join("repos/f40/latest")).unwrap();
    write(&tree.join("repos/f40/latest"), b"not a link any more");
    write(&tree.join("work/tasks/4/4/root.log"), &noise(9, 300_000));
    fs::remove_file(tree.join("links/b")).unwrap();
    kb(&root, &tree, &["run"]).ok();
    points.push(snapshot(&tree, &skip));

    let listed = runs(&root, &tree);
    let kinds: Vec<&str> = listed.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds, ["full", "incremental", "incremental"]);
    // An incremental run stores only what changed.
    let list = json(&kb(&root, &tree, &["list", "--json"]).ok());
    let stored: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["files_stored"].as_u64().unwrap())
        .collect();
    // Two build.logs (new, changed), secret.key (chmod), run.sh/inside, empty/deeper, and
    // links/a (a new name changes its inode's ctime); root.log and the t1 triple are not.
    assert_eq!(stored[1], 6, "{list:#}");
    // An incremental manifest records only the changes (the tree has ~30 entries).
    let changed = list[1]["changed_entries"].as_u64().unwrap();
    assert!(
        changed < list[1]["entries"].as_u64().unwrap() && changed > 6,
        "{list:#}"
    );
    kb(&root, &tree, &["verify"]).ok();

    // A restore of run `at` (of the subtree `path`) into `target`, which must succeed.
    let restore_at = |at: &str, target: &Path, path: Option<&str>| {
        let mut args = vec!["restore", "--at", at, "--tree-into"];
        args.push(target.to_str().unwrap());
        if let Some(p) = path {
            args.extend(["--path", p]);
        }
        kb(&root, &tree, &args).ok();
    };
    for (i, ((run, _), expected)) in listed.iter().zip(&points).enumerate() {
        let target = dir.path().join(format!("restore-{i}"));
        restore_at(run, &target, None);
        assert_same(
            &format!("restore at run {run}"),
            expected,
            &snapshot(&target, &no_skip),
        );
    }

    // A subtree of an older point.
    let target = dir.path().join("sub");
    restore_at(&listed[0].0, &target, Some("work/tasks/1"));
    let expected: std::collections::BTreeMap<_, _> = points[0]
        .iter()
        .filter(|(k, _)| k.starts_with("work/tasks/1/") || *k == "work/tasks/1")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let got: std::collections::BTreeMap<_, _> = snapshot(&target, &no_skip)
        .into_iter()
        .filter(|(k, _)| k.starts_with("work/tasks/1"))
        .collect();
    assert_same("subtree restore", &expected, &got);
    assert!(target.join("work/tasks/1/1/build.log").is_file());
    assert!(!target.join("work/tasks/2").exists());

    // A subtree holding two hard links whose first name (links/t1) lies outside it: each
    // gets the content, with its metadata.
    let target = dir.path().join("sub-links");
    restore_at(&listed[0].0, &target, Some("work"));
    let got = snapshot(&target, &no_skip);
    for name in ["work/t2", "work/tasks/t3"] {
        assert_eq!(
            fs::read(target.join(name)).unwrap(),
            noise(3, 5000),
            "{name}"
        );
        let (g, w) = (&got[name], &points[0][name]);
        assert_eq!(
            (g.mode, g.uid, g.gid, g.mtime),
            (w.mode, w.uid, w.gid, w.mtime),
            "{name}"
        );
    }
    assert!(!target.join("links").exists());

    // A non-empty target is refused without --force, and overwritten with it.
    let target = dir.path().join("restore-2");
    let r = kb(
        &root,
        &tree,
        &[
            "restore",
            "--at",
            &listed[1].0,
            "--tree-into",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains("is not empty") && r.stderr.contains("--force"),
        "{}",
        r.text()
    );
    kb(
        &root,
        &tree,
        &[
            "restore",
            "--at",
            &listed[1].0,
            "--tree-into",
            target.to_str().unwrap(),
            "--force",
        ],
    )
    .ok();
    let got = snapshot(&target, &no_skip);
    // --force overwrites what the backup has; it does not delete what it lacks.
    for (k, v) in &points[1] {
        assert_eq!(got.get(k), Some(v), "{k} after restore --force");
    }

    // --at a date: the last run at or before it.
    let far = kb(
        &root,
        &tree,
        &[
            "restore",
            "--at",
            "2001-01-01",
            "--tree-into",
            dir.path().join("x").to_str().unwrap(),
        ],
    );
    assert_eq!(far.code, 1);
    assert!(
        far.stderr.contains("no backup at or before"),
        "{}",
        far.text()
    );
    let today = chrono_today();
    let t = dir.path().join("by-date");
    let r = kb(
        &root,
        &tree,
        &[
            "restore",
            "--at",
            &today,
            "--tree-into",
            t.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(r.stderr.contains(&listed[2].0), "{}", r.text());
}

fn chrono_today() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn full_after_days_and_full_flag_start_new_chains() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("a"), b"a");
    kb(&root, &tree, &["run"]).ok();
    kb(&root, &tree, &["run"]).ok();
    kb(&root, &tree, &["run", "--full"]).ok();
    let st = json(&kb(&root, &tree, &["status", "--json"]).ok());
    assert!(
        st["next_run"].as_str().unwrap().starts_with("incremental"),
        "{st:#}"
    );
    // With full_after_days = 0 every run is full.
    let st = json(
        &kb(
            &root,
            &tree,
            &["--full-after-days", "0", "status", "--json"],
        )
        .ok(),
    );
    assert!(
        st["next_run"].as_str().unwrap().starts_with("full"),
        "{st:#}"
    );
    kb(&root, &tree, &["--full-after-days", "0", "run"]).ok();
    let kinds: Vec<String> = runs(&root, &tree).into_iter().map(|(_, k)| k).collect();
    assert_eq!(kinds, ["full", "incremental", "full", "full"]);
    assert_eq!(st["runs"], 3);
}

#[test]
fn a_restore_into_a_setgid_directory_keeps_the_backed_up_owners_and_modes() {
    // New entries under a setgid directory inherit its group (and directories its setgid
    // bit): the restore must set them back rather than trust what a new file gets.
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    fs::create_dir(&tree).unwrap();
    populate(&tree);
    kb(&root, &tree, &["run"]).ok();
    let target = dir.path().join("sgid");
    fs::create_dir(&target).unwrap();
    if is_root() {
        std::os::unix::fs::lchown(&target, None, Some(4321)).unwrap();
    }
    fs::set_permissions(&target, fs::Permissions::from_mode(0o2775)).unwrap();
    kb(
        &root,
        &tree,
        &["restore", "--tree-into", target.to_str().unwrap()],
    )
    .ok();
    assert_same(
        "restore into a setgid directory",
        &snapshot(&tree, &skip),
        &snapshot(&target, &no_skip),
    );
}
