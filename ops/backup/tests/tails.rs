//! Files that only grow between runs (build logs being written) are stored as their
//! appended bytes — tail records — and restored by chaining the parts: exact at every point,
//! never used when the old bytes changed, checked by `verify` record by record.

mod common;

use common::*;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use kkoji_backup::manifest;

fn append(p: &Path, data: &[u8]) {
    let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(data).unwrap();
}

/// (files_stored, tails_stored, bytes_stored) of every run, oldest first.
fn stored(root: &Path, tree: &Path) -> Vec<(u64, u64, u64)> {
    json(&kb(root, tree, &["list", "--json"]).ok())
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["files_stored"].as_u64().unwrap(),
                v["tails_stored"].as_u64().unwrap(),
                v["bytes_stored"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn restore_at(root: &Path, tree: &Path, run: &str, target: &Path) {
    kb(
        root,
        tree,
        &[
            "restore",
            "--at",
            run,
            "--tree-into",
            target.to_str().unwrap(),
        ],
    )
    .ok();
}

#[test]
fn a_log_growing_over_three_incrementals_restores_exactly_at_every_point() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    let log = tree.join("work/tasks/7/7/build.log");
    write(&log, &noise(1, 20_000));
    // A second name of the growing log, and a neighbour that never changes.
    fs::hard_link(&log, tree.join("work/build.log.link")).unwrap();
    write(&tree.join("work/tasks/7/7/root.log"), &noise(2, 5_000));
    kb(&root, &tree, &["run"]).ok();
    let mut points = vec![snapshot(&tree, &no_skip)];

    // The last growth is larger than what a restore keeps in memory (8 MiB): streamed.
    let grows = [3_000usize, 1, 9 << 20];
    for (i, n) in grows.iter().enumerate() {
        append(&log, &noise(10 + i as u64, *n));
        if i == 1 {
            // The mode changes too: the part chain carries on, the metadata is the new one.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&log, fs::Permissions::from_mode(0o640)).unwrap();
        }
        set_mtime(&log, 1_700_000_000 + i as i64, 123_000 + i as u32);
        if i == 2 {
            // A large new file in a new directory: streamed too.
            write(&tree.join("work/tasks/8/8/big.log"), &noise(20, 9 << 20));
        }
        kb(&root, &tree, &["run"]).ok();
        points.push(snapshot(&tree, &no_skip));
    }

    let listed = runs(&root, &tree);
    let kinds: Vec<&str> = listed.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds, ["full", "incremental", "incremental", "incremental"]);
    // Each incremental stored the log once, as exactly the bytes appended.
    let st = stored(&root, &tree);
    for (i, n) in grows.iter().enumerate().take(2) {
        assert_eq!(st[i + 1], (1, 1, *n as u64), "run {}: {st:?}", i + 1);
    }
    assert_eq!(st[3], (2, 1, 2 * (9 << 20)), "run 3: {st:?}");
    kb(&root, &tree, &["verify"]).ok();

    for (i, ((run, _), expected)) in listed.iter().zip(&points).enumerate() {
        let target = dir.path().join(format!("restore-{i}"));
        restore_at(&root, &tree, run, &target);
        assert_same(
            &format!("restore at run {run}"),
            expected,
            &snapshot(&target, &no_skip),
        );
    }
    // A subtree holding only the hard link's second name: it comes back as a copy with
    // the chained content.
    let target = dir.path().join("sub");
    kb(
        &root,
        &tree,
        &[
            "restore",
            "--tree-into",
            target.to_str().unwrap(),
            "--path",
            "work/tasks",
        ],
    )
    .ok();
    assert_eq!(
        fs::read(target.join("work/tasks/7/7/build.log")).unwrap(),
        fs::read(&log).unwrap()
    );
    // --force over an older restore replaces the chained file.
    let target = dir.path().join("restore-1");
    kb(
        &root,
        &tree,
        &[
            "restore",
            "--tree-into",
            target.to_str().unwrap(),
            "--force",
        ],
    )
    .ok();
    assert_eq!(
        fs::read(target.join("work/tasks/7/7/build.log")).unwrap(),
        fs::read(&log).unwrap()
    );

    // Retention keeping only the newest run keeps every run holding one of its parts.
    let conf = dir.path().join("keep1.toml");
    fs::write(
        &conf,
        "[retention]\nkeep_last = 1\nkeep_weekly = 0\nkeep_monthly = 0\n",
    )
    .unwrap();
    let mut c = std::process::Command::new(bin());
    c.arg("-c")
        .arg(&conf)
        .arg("--backup-root")
        .arg(&root)
        .arg("--scratch-tree")
        .arg(&tree)
        .arg("prune");
    output(c.output().unwrap()).ok();
    assert_eq!(runs(&root, &tree).len(), 4);
    let target = dir.path().join("after-prune");
    restore_at(&root, &tree, &listed[3].0, &target);
    assert_same("after prune", &points[3], &snapshot(&target, &no_skip));
}

#[test]
fn a_grown_file_whose_old_bytes_changed_is_stored_whole() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    let log = tree.join("build.log");
    let mut content = noise(1, 30_000);
    write(&log, &content);
    kb(&root, &tree, &["run"]).ok();
    // Rewritten with one early byte different and more at the end (same inode).
    content[100] ^= 0xff;
    content.extend_from_slice(&noise(2, 4_000));
    fs::write(&log, &content).unwrap();
    kb(&root, &tree, &["run"]).ok();
    // Shorter than before: stored whole.
    content.truncate(10_000);
    fs::write(&log, &content).unwrap();
    kb(&root, &tree, &["run"]).ok();
    let st = stored(&root, &tree);
    assert_eq!(st[1], (1, 0, 34_000), "{st:?}");
    assert_eq!(st[2], (1, 0, 10_000), "{st:?}");
    kb(&root, &tree, &["verify"]).ok();
    let target = dir.path().join("restored");
    kb(
        &root,
        &tree,
        &["restore", "--tree-into", target.to_str().unwrap()],
    )
    .ok();
    assert_eq!(fs::read(target.join("build.log")).unwrap(), content);
}

/// Decompressed bytes of a run's archive.
fn tar_bytes(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::Decoder::new(fs::File::open(path).unwrap())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn verify_names_a_flipped_byte_in_a_tail_record_and_restore_refuses_it() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    let log = tree.join("logs/build.log");
    write(&log, &noise(1, 20_000));
    kb(&root, &tree, &["run"]).ok();
    let tail = noise(99, 5_000);
    append(&log, &tail);
    kb(&root, &tree, &["run"]).ok();
    let listed = runs(&root, &tree);
    let run = &listed[1].0;
    let mut m = manifest::read(&root, run).unwrap();
    assert_eq!(m.tails_stored, 1);
    let archive = root.join(&m.archive.path);

    // The tail record's bytes are in the archive, and the whole file's are not.
    let mut tar = tar_bytes(&archive);
    let at = tar
        .windows(tail.len())
        .position(|w| w == tail.as_slice())
        .expect("the appended bytes are in the incremental archive");
    assert!(tar.len() < 20_000, "the old 20,000 bytes were stored again");
    // Flip one byte of the record and re-pack the archive so that its own checksum in the
    // manifest still matches: only the record's checksum can catch it.
    tar[at + 1234] ^= 0x01;
    let packed = zstd::encode_all(&tar[..], 3).unwrap();
    fs::write(&archive, &packed).unwrap();
    m.archive.size = packed.len() as u64;
    m.archive.blake3 = blake3::hash(&packed).to_hex().to_string();
    manifest::write(&root, &m).unwrap();

    let r = kb(&root, &tree, &["verify"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains(&format!(
            "{}: the tail record of logs/build.log does not match its checksum",
            m.archive.path
        )),
        "{}",
        r.text()
    );
    let t = dir.path().join("restored");
    let r = kb(
        &root,
        &tree,
        &["restore", "--tree-into", t.to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains(&m.archive.path) && r.stderr.contains("logs/build.log"),
        "{}",
        r.text()
    );

    // A flipped byte in the compressed archive itself is named by the archive's checksum.
    let mut bytes = fs::read(&archive).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&archive, &bytes).unwrap();
    let r = kb(&root, &tree, &["verify"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr
            .contains(&format!("{}: checksum mismatch", m.archive.path)),
        "{}",
        r.text()
    );
}

#[test]
fn older_manifests_are_read_and_unknown_formats_refused_by_name() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("a.log"), &noise(1, 3_000));
    kb(&root, &tree, &["run"]).ok();
    write(&tree.join("b.log"), b"second");
    kb(&root, &tree, &["run"]).ok();
    let listed = runs(&root, &tree);
    // A chain written by the previous version (format 2: no parts) restores as before.
    for (run, _) in &listed {
        let mut m = manifest::read(&root, run).unwrap();
        m.format = 2;
        manifest::write(&root, &m).unwrap();
    }
    kb(&root, &tree, &["verify"]).ok();
    let t = dir.path().join("restored");
    kb(
        &root,
        &tree,
        &["restore", "--tree-into", t.to_str().unwrap()],
    )
    .ok();
    assert_same(
        "format 2 chain",
        &snapshot(&tree, &no_skip),
        &snapshot(&t, &no_skip),
    );
    // One from a newer version is refused with the file and the format named.
    let mut m = manifest::read(&root, &listed[1].0).unwrap();
    m.format = 99;
    manifest::write(&root, &m).unwrap();
    let r = kb(&root, &tree, &["verify"]);
    assert_eq!(r.code, 1, "{}", r.text());
    let name = format!("{}.manifest.json.zst", listed[1].0);
    assert!(
        r.stderr.contains(&name) && r.stderr.contains("unknown format 99"),
        "{}",
        r.text()
    );
    let t = dir.path().join("restored-99");
    let r = kb(
        &root,
        &tree,
        &["restore", "--tree-into", t.to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.stderr.contains("unknown format 99"), "{}", r.text());
}
