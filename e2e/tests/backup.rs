//! kkoji-backup on a real farm: a build done and a repo made, the runbooks' own commands
//! (docs/runbooks/backup.md, restore-drill.md) back it up and drill it; then the scratch
//! tree is wiped and the database dropped, the restore runbooks (restore-scratch.md,
//! restore-database.md) bring both back, the hub starts on them, and the koji CLI answers
//! as before. The tree must be identical except the excluded RPMs.
//!
//! Runbook convention: every ```sh block is run (all blocks of a runbook in one bash, in
//! order); ```sh hub-running blocks only once the hub is up again; ```text blocks are for
//! people (service control) and not run.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kkoji_e2e::builds::{Spec, add_target, created_task, make_srpm, watched_task};
use kkoji_e2e::cli::{run_with_timeout, venv_dir};
use kkoji_e2e::{Farm, Output};

kkoji_e2e::isolated_main!(backup_wipe_restore_round_trip);

const BUILD_TIMEOUT: Duration = Duration::from_secs(240);

fn backup_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_e2e-kkoji-backup"))
}

fn runbook_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runbooks")
}

/// The `sh` blocks of a runbook whose tag (the word after `sh`) is `tag`.
fn runbook_script(name: &str, tag: &str) -> String {
    let path = runbook_dir().join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut script = String::new();
    // None: outside any block; Some(true): in a block to run; Some(false): in another block.
    let mut block: Option<bool> = None;
    let mut blocks = 0;
    for line in text.lines() {
        if let Some(info) = line.strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => {
                    let mut words = info.split_whitespace();
                    let run = words.next() == Some("sh") && words.next().unwrap_or("") == tag;
                    blocks += usize::from(run);
                    Some(run)
                }
            };
            continue;
        }
        if block == Some(true) {
            script.push_str(line);
            script.push('\n');
        }
    }
    assert!(blocks > 0, "{name} has no ```sh {tag} block");
    script
}

/// A directory with `kkoji-backup` and a `koji` that talks to this farm as the admin.
fn tool_dir(farm: &Farm) -> PathBuf {
    let dir = farm.root().join("runbook-bin");
    if !dir.exists() {
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(backup_bin(), dir.join("kkoji-backup")).unwrap();
        let koji = dir.join("koji");
        fs::write(
            &koji,
            format!(
                "#!/bin/sh\nexec {} -c {} -p kkoji \"$@\"\n",
                venv_dir().join("bin/koji").display(),
                farm.koji_conf().display()
            ),
        )
        .unwrap();
        fs::set_permissions(&koji, fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn run_runbook(farm: &Farm, name: &str, tag: &str, config: &Path) -> Output {
    let script = runbook_script(name, tag);
    let path = format!(
        "{}:{}",
        tool_dir(farm).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("HOME", farm.root().join("home"))
        .env("KKOJI_BACKUP_CONFIG", config)
        .env("SCRATCH", farm.topdir())
        .env("KKOJI_STATE", farm.state_dir())
        .env("KKOJI_LOG", "info")
        .current_dir(farm.root().join("home"));
    let out = run_with_timeout(cmd, Duration::from_secs(300));
    assert!(
        out.status == Some(0),
        "runbook {name} ({tag:?} blocks) failed:\n--- script\n{script}\n--- output\n{out}"
    );
    out
}

/// What users see, before and after: hosts, tags, the tagged build, the task, its logs.
fn answers(farm: &Farm, parent: i64, child: i64, tag: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let hosts = farm.koji(&["list-hosts", "--quiet"]).ok();
    m.insert("list-hosts".into(), hosts.first_columns().join(" "));
    m.insert("list-tags".into(), farm.koji(&["list-tags"]).ok().stdout);
    m.insert(
        "list-tagged".into(),
        farm.koji(&["list-tagged", "--quiet", tag]).ok().stdout,
    );
    for id in [parent, child] {
        // RPMs are excluded from the backup (as with the old duplicity job), so task output
        // lists lose them; everything else must be as before.
        let info = farm.koji(&["taskinfo", "-v", &id.to_string()]).ok().stdout;
        let kept: Vec<&str> = info
            .lines()
            .filter(|l| {
                !l.ends_with(".rpm")
                    && !l.starts_with("  No outputs reported")
                    && !l.starts_with("[1] Not all tasks")
            })
            .collect();
        m.insert(format!("taskinfo {id}"), kept.join("\n"));
    }
    let n = farm.root().join("work").read_dir().unwrap().count();
    let dl = farm.work_dir(&format!("logs-{n}"));
    farm.koji_in(&dl, &["download-logs", &child.to_string()])
        .ok();
    let mut files = Vec::new();
    collect_files(&dl, &dl, &mut files);
    assert!(!files.is_empty(), "download-logs fetched nothing");
    for (rel, content) in files {
        m.insert(format!("download-logs {rel}"), content);
    }
    m
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.push((
                rel,
                String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned(),
            ));
        }
    }
    out.sort();
}

type Snap = BTreeMap<String, (String, u32, u32, u32, i64, i64, Option<u64>)>;

/// Path → (kind+content or target, mode, uid, gid, mtime, mtime_nsec, hard-link group).
fn snapshot(root: &Path) -> Snap {
    let mut out = Snap::new();
    let mut inodes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    snap_walk(root, root, &mut out, &mut inodes);
    for (ino, names) in inodes {
        if names.len() > 1 {
            for n in names {
                if let Some(v) = out.get_mut(&n) {
                    v.6 = Some(ino);
                }
            }
        }
    }
    // Inode numbers differ after a restore: name groups by their first member instead.
    let mut group_name: BTreeMap<u64, String> = BTreeMap::new();
    for (k, v) in &out {
        if let Some(g) = v.6 {
            group_name.entry(g).or_insert_with(|| k.clone());
        }
    }
    out.into_iter()
        .map(|(k, mut v)| {
            if let Some(g) = v.6 {
                v.0.push_str(&format!(" linked-with {}", group_name[&g]));
                v.6 = Some(0);
            }
            (k, v)
        })
        .collect()
}

fn snap_walk(root: &Path, dir: &Path, out: &mut Snap, inodes: &mut BTreeMap<u64, Vec<String>>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        if rel.ends_with(".rpm") {
            continue;
        }
        let m = fs::symlink_metadata(&p).unwrap();
        let what = if m.file_type().is_symlink() {
            format!("symlink {}", fs::read_link(&p).unwrap().display())
        } else if m.is_dir() {
            // Empty but for excluded RPMs counts as empty: those are not restored.
            let empty = fs::read_dir(&p)
                .unwrap()
                .flatten()
                .all(|e| e.file_name().to_string_lossy().ends_with(".rpm"));
            format!("dir{}", if empty { " (empty)" } else { "" })
        } else {
            if m.nlink() > 1 {
                inodes.entry(m.ino()).or_default().push(rel.clone());
            }
            format!("file {}", blake(&fs::read(&p).unwrap()))
        };
        let mode = if m.file_type().is_symlink() {
            0
        } else {
            m.mode() & 0o7777
        };
        out.insert(
            rel,
            (
                what,
                mode,
                m.uid(),
                m.gid(),
                m.mtime(),
                m.mtime_nsec(),
                None,
            ),
        );
        if m.is_dir() {
            snap_walk(root, &p, out, inodes);
        }
    }
}

/// A cheap content fingerprint (FNV-1a) — enough to tell files apart in a test.
fn blake(b: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}:{}", b.len())
}

fn backup_round_trip_kb(config: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(backup_bin());
    cmd.arg("-c").arg(config).args(args);
    run_with_timeout(cmd, Duration::from_secs(300))
}

fn backup_wipe_restore_round_trip() {
    let mut farm = Farm::start();
    // A build done (its buildArch logs in work/tasks, the build in packages/) and a repo made.
    add_target(&farm, "bk-f40", &["bkfoo"]);
    let dir = farm.work_dir("srpm");
    make_srpm(&dir, "bkfoo", Spec::Noarch);
    let out = farm.koji_in_for(
        &dir,
        BUILD_TIMEOUT,
        &["build", "--wait", "bk-f40", "bkfoo-1.0-1.src.rpm"],
    );
    assert!(
        out.status == Some(0),
        "build failed:\n{out}\n{}",
        farm.builder_log_tail(40)
    );
    let parent = created_task(&out);
    let child = watched_task(&out, "buildArch (bkfoo-1.0-1.src.rpm, noarch)");
    farm.koji_in_for(
        &dir,
        BUILD_TIMEOUT,
        &["regen-repo", "--wait", "bk-f40-build"],
    )
    .ok();
    // What an operator's scratch tree also holds: an empty dir, a hard link, odd modes.
    let topdir = farm.topdir();
    fs::create_dir_all(topdir.join("work/ops/empty")).unwrap();
    fs::write(topdir.join("work/ops/notes.txt"), "keep me\n").unwrap();
    fs::hard_link(
        topdir.join("work/ops/notes.txt"),
        topdir.join("work/ops/notes.link"),
    )
    .unwrap();
    fs::set_permissions(
        topdir.join("work/ops/notes.txt"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();

    let backups = farm.root().join("backups");
    let config = farm.root().join("backup.toml");
    fs::write(
        &config,
        format!(
            "backup_root = \"{}\"\nscratch_tree = \"{}\"\n[database]\nstate_dir = \"{}\"\n[drill]\nkoji_topdir = \".\"\n",
            backups.display(),
            topdir.display(),
            farm.state_dir().display()
        ),
    )
    .unwrap();
    let before = answers(&farm, parent, child, "bk-f40");

    // The backup runbook, with the hub running.
    let out = run_runbook(&farm, "backup.md", "", &config);
    assert!(out.stdout.contains("(full)"), "{out}");
    assert!(out.stdout.contains("verified 1 run(s): OK"), "{out}");
    // The drill: the database answers and every path it names is in the restored tree.
    let out = run_runbook(&farm, "restore-drill.md", "", &config);
    assert!(
        out.stdout.contains("drill of") && out.stdout.contains("OK"),
        "{out}"
    );
    assert!(out.stdout.contains("drill: task: "), "{out}");
    assert!(
        out.stdout.contains("paths named by the database checked"),
        "{out}"
    );
    assert!(
        out.stdout.contains("last verify:") && out.stdout.contains("drill"),
        "{out}"
    );

    // A second, incremental run with the hub stopped (kkoji-backup starts the embedded
    // PostgreSQL for the dump and stops it again).
    farm.stop();
    let expected = snapshot(&topdir);
    assert!(
        expected.values().any(|v| v.0.starts_with("symlink")),
        "the farm tree has symlinks"
    );
    assert!(expected.values().any(|v| v.0 == "dir (empty)"));
    assert!(expected.values().any(|v| v.0.contains("linked-with")));
    let out = backup_round_trip_kb(&config, &["run"]);
    assert!(out.status == Some(0), "{out}");
    assert!(out.stdout.contains("(incremental on "), "{out}");
    assert!(out.stderr.contains("not running; starting it"), "{out}");
    assert!(
        farm.running_postmasters().is_empty(),
        "kkoji-backup left PostgreSQL running"
    );

    // Disaster: the scratch tree and the database are gone.
    fs::remove_dir_all(&topdir).unwrap();
    fs::remove_dir_all(farm.state_dir().join("pgdata")).unwrap();

    run_runbook(&farm, "restore-scratch.md", "", &config);
    run_runbook(&farm, "restore-database.md", "", &config);
    let got = snapshot(&topdir);
    for (k, v) in &expected {
        assert_eq!(got.get(k), Some(v), "{k} after the restore");
    }
    for k in got.keys() {
        assert!(expected.contains_key(k), "{k} restored but was not there");
    }

    farm.start_again();
    let out = run_runbook(&farm, "restore-database.md", "hub-running", &config);
    assert!(out.stdout.contains("bk-f40"), "{out}");
    let after = answers(&farm, parent, child, "bk-f40");
    for (k, v) in &before {
        assert_eq!(
            after.get(k),
            Some(v),
            "`koji {k}` answers differently after the restore"
        );
    }
}
