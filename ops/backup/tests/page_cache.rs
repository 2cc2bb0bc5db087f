//! A restore writes the tree to disk and does not keep it in the page cache: on the hub, a
//! restored scratch tree of many GB would otherwise push out what the machine is using.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Bytes of these files in the page cache, by util-linux's `fincore`.
fn cached_bytes(files: &[std::path::PathBuf]) -> u64 {
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--raw", "--output", "RES"])
        .args(files)
        .output()
        .expect("fincore (util-linux) runs");
    assert!(
        out.status.success(),
        "fincore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse::<u64>().expect("a byte count"))
        .sum()
}

fn on_tmpfs(p: &Path) -> bool {
    nix::sys::statfs::statfs(p)
        .map(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        .unwrap_or(false)
}

#[test]
fn a_restored_tree_is_on_disk_and_not_left_in_the_page_cache() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    let mut total = 0u64;
    for i in 0..300u64 {
        let data = noise(i, 64 << 10);
        total += u64::try_from(data.len()).unwrap();
        write(&tree.join(format!("logs/{}/{i}.log", i % 7)), &data);
    }
    // Larger than what a restore keeps in memory: written as it is read from the archive.
    let big = noise(999, 9 << 20);
    total += u64::try_from(big.len()).unwrap();
    write(&tree.join("big/image.bin"), &big);
    kb(&root, &tree, &["run"]).ok();

    let target = dir.path().join("restored");
    kb(
        &root,
        &tree,
        &["restore", "--tree-into", target.to_str().unwrap()],
    )
    .ok();
    if on_tmpfs(&target) {
        // tmpfs keeps files only in memory: nothing to drop; the page cache part needs a
        // disk filesystem.
        eprintln!("{} is on tmpfs: page cache not checked", target.display());
        assert_same(
            "restored tree",
            &snapshot(&tree, &no_skip),
            &snapshot(&target, &no_skip),
        );
        return;
    }
    let mut files: Vec<std::path::PathBuf> = (0..300u64)
        .map(|i| target.join(format!("logs/{}/{i}.log", i % 7)))
        .collect();
    files.push(target.join("big/image.bin"));
    let cached = cached_bytes(&files);
    assert!(
        cached < total / 10,
        "{cached} of the {total} restored bytes are still in the page cache"
    );
    // The control: reading the restored files (as the comparison below does) brings them
    // back into the cache, and fincore sees that.
    assert_same(
        "restored tree",
        &snapshot(&tree, &no_skip),
        &snapshot(&target, &no_skip),
    );
    assert!(cached_bytes(&files) > total / 2);
}
