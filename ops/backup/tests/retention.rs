//! `prune` keeps exactly what the policy says, plus every run a kept run needs; `--dry-run`
//! only tells. (Weekly/monthly buckets over real calendar time are covered by the unit tests
//! of `prune::decide`; runs here all happen today.)

mod common;

use common::*;
use std::fs;

#[test]
fn prune_keeps_the_policy_and_never_breaks_a_chain() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    let conf = dir.path().join("backup.toml");
    fs::write(
        &conf,
        "[retention]\nkeep_last = 1\nkeep_weekly = 0\nkeep_monthly = 0\n",
    )
    .unwrap();
    let kbc = |args: &[&str]| {
        let mut c = std::process::Command::new(bin());
        c.arg("-c")
            .arg(&conf)
            .arg("--backup-root")
            .arg(&root)
            .arg("--scratch-tree")
            .arg(&tree);
        output(c.args(args).output().unwrap())
    };
    write(&tree.join("f0"), b"0");
    kbc(&["run"]).ok(); // 1 full
    write(&tree.join("f1"), b"1");
    kbc(&["run"]).ok(); // 2 incr
    write(&tree.join("f2"), b"2");
    kbc(&["run"]).ok(); // 3 incr
    // The newest run needs the whole chain: nothing may go.
    let d = json(&kbc(&["prune", "--json"]).ok());
    assert_eq!(d["remove"].as_array().unwrap().len(), 0, "{d:#}");
    assert_eq!(runs(&root, &tree).len(), 3);

    kbc(&["run", "--full"]).ok(); // 4 full
    write(&tree.join("f4"), b"4");
    fs::remove_file(tree.join("f0")).unwrap();
    kbc(&["run"]).ok(); // 5 incr on 4
    let all: Vec<String> = runs(&root, &tree).into_iter().map(|(r, _)| r).collect();
    assert_eq!(all.len(), 5);

    let dry = kbc(&["prune", "--dry-run"]).ok();
    for r in &all[..3] {
        assert!(
            dry.stdout.contains(&format!("would remove  {r}")),
            "{}",
            dry.text()
        );
    }
    assert!(
        dry.stdout
            .contains(&format!("keep    {}  (needed by {})", all[3], all[4])),
        "{}",
        dry.text()
    );
    assert_eq!(runs(&root, &tree).len(), 5, "--dry-run removed something");

    let r = kbc(&["prune"]).ok();
    assert!(
        r.stdout.contains(&format!("removed  {}", all[0])),
        "{}",
        r.text()
    );
    let left: Vec<String> = runs(&root, &tree).into_iter().map(|(r, _)| r).collect();
    assert_eq!(left, all[3..]);
    // Only the kept runs' files are left.
    let mut files = names(&root.join("ephemeral"));
    files.retain(|f| !all[3..].iter().any(|r| f.starts_with(&format!("{r}."))));
    assert_eq!(files, Vec::<String>::new());
    kbc(&["verify"]).ok();
    let t = dir.path().join("restored");
    kbc(&["restore", "--tree-into", t.to_str().unwrap()]).ok();
    assert_same(
        "after prune",
        &snapshot(&tree, &no_skip),
        &snapshot(&t, &no_skip),
    );
}
