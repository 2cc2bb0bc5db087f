//! Helpers shared by the integration tests: running the real binary, building trees, and
//! comparing a restored tree with the original (content, modes, owners, mtimes, symlinks,
//! hard links, empty dirs).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kkoji-backup"))
}

pub struct Res {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Res {
    pub fn ok(self) -> Res {
        assert_eq!(self.code, 0, "expected success:\n{}", self.text());
        self
    }
    pub fn text(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn output(o: Output) -> Res {
    Res {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `kkoji-backup --backup-root ROOT --scratch-tree TREE ARGS…` with no config file.
pub fn kb(root: &Path, tree: &Path, args: &[&str]) -> Res {
    output(
        cmd(root, tree)
            .args(args)
            .output()
            .expect("run kkoji-backup"),
    )
}

pub fn cmd(root: &Path, tree: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--config")
        .arg(empty_config())
        .arg("--backup-root")
        .arg(root)
        .arg("--scratch-tree")
        .arg(tree)
        .env("KKOJI_LOG", "info");
    c
}

/// A config file with nothing in it (so /etc/kkoji/backup.toml of the machine never counts).
pub fn empty_config() -> PathBuf {
    let p = std::env::temp_dir().join("kkoji-backup-test-empty.toml");
    if !p.exists() {
        fs::write(&p, "# empty\n").expect("write empty config");
    }
    p
}

pub fn json(r: &Res) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", r.text()))
}

/// The finished runs as `list --json` shows them: (run, kind).
pub fn runs(root: &Path, tree: &Path) -> Vec<(String, String)> {
    let r = kb(root, tree, &["list", "--json"]).ok();
    json(&r)
        .as_array()
        .expect("array")
        .iter()
        .map(|v| {
            (
                v["run"].as_str().unwrap_or_default().to_owned(),
                v["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A temp dir others (the `postgres` user, `nobody`) can traverse.
pub fn tempdir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("kkbk-")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    d
}

pub fn write(p: &Path, content: &[u8]) {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).expect("mkdir");
    }
    fs::write(p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

/// Deterministic bytes that zstd cannot shrink much.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

pub fn set_mtime(p: &Path, secs: i64, nsec: u32) {
    let t = filetime::FileTime::from_unix_time(secs, nsec);
    filetime::set_symlink_file_times(p, t, t).expect("set mtime");
}

#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Node {
    Dir,
    File {
        content: Vec<u8>,
        link_group: Option<String>,
    },
    Symlink(String),
}

#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Meta {
    pub node: Node,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: (i64, i64),
}

/// Everything a restore must bring back, by relative path. Hard links are shown as the
/// first path (sorted) of their inode group. `skip` filters paths out (excluded RPMs).
pub fn snapshot(root: &Path, skip: &dyn Fn(&str) -> bool) -> BTreeMap<String, Meta> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    walk(root, root, &mut out, &mut inodes, skip);
    for (_, names) in inodes {
        if names.len() > 1 {
            let first = names.iter().min().cloned();
            for n in &names {
                if let Some(Meta {
                    node: Node::File { link_group, .. },
                    ..
                }) = out.get_mut(n)
                {
                    *link_group = first.clone();
                }
            }
        }
    }
    out
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, Meta>,
    inodes: &mut BTreeMap<(u64, u64), Vec<String>>,
    skip: &dyn Fn(&str) -> bool,
) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    names.sort();
    for p in names {
        let rel = p
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        if skip(&rel) {
            continue;
        }
        let m = fs::symlink_metadata(&p).expect("lstat");
        let node = if m.is_dir() {
            Node::Dir
        } else if m.file_type().is_symlink() {
            Node::Symlink(fs::read_link(&p).expect("readlink").display().to_string())
        } else if m.is_file() {
            if m.nlink() > 1 {
                inodes
                    .entry((m.dev(), m.ino()))
                    .or_default()
                    .push(rel.clone());
            }
            Node::File {
                content: fs::read(&p).expect("read"),
                link_group: None,
            }
        } else {
            continue;
        };
        out.insert(
            rel,
            Meta {
                node: node.clone(),
                mode: if matches!(node, Node::Symlink(_)) {
                    0
                } else {
                    m.mode() & 0o7777
                },
                uid: m.uid(),
                gid: m.gid(),
                mtime: (m.mtime(), m.mtime_nsec()),
            },
        );
        if m.is_dir() {
            walk(root, &p, out, inodes, skip);
        }
    }
}

/// Asserts two snapshots are equal, naming the first difference.
pub fn assert_same(what: &str, expected: &BTreeMap<String, Meta>, got: &BTreeMap<String, Meta>) {
    for (k, v) in expected {
        match got.get(k) {
            None => panic!("{what}: {k} missing from the restored tree"),
            Some(g) if g != v => {
                let short = |m: &Meta| match &m.node {
                    Node::File {
                        content,
                        link_group,
                    } => format!(
                        "file {} bytes link_group {link_group:?} mode {:o} uid {} gid {} mtime {:?}",
                        content.len(),
                        m.mode,
                        m.uid,
                        m.gid,
                        m.mtime
                    ),
                    other => format!(
                        "{other:?} mode {:o} uid {} gid {} mtime {:?}",
                        m.mode, m.uid, m.gid, m.mtime
                    ),
                };
                panic!(
                    "{what}: {k} differs:\n  expected {}\n  restored {}{}",
                    short(v),
                    short(g),
                    if matches!((&v.node, &g.node), (Node::File { content: a, .. }, Node::File { content: b, .. }) if a != b)
                    {
                        " (content differs)"
                    } else {
                        ""
                    }
                );
            }
            Some(_) => {}
        }
    }
    for k in got.keys() {
        assert!(
            expected.contains_key(k),
            "{what}: {k} restored but was not in the tree"
        );
    }
}

pub fn no_skip(_: &str) -> bool {
    false
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Files in `dir` (names), sorted; none if it does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A tmpfs of `size` (mount's syntax: `1m`) on `dir` until dropped: a backup disk that
/// fills up. Needs root.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(dir).expect("mkdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "kkbk-full"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
