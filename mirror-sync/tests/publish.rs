//! What readers and operators see of the published trees: a reader looping over
//! repomd.xml and every package during syncs never misses a file; `--dry-run` writes
//! nothing; a repo that left the config keeps every file until `prune` names it; an
//! mrepo.conf (and an mrepo-made directory) is taken over in place.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

fn write_config(path: &Path, www: &Path, repos: &[(&str, String)]) {
    let mut s = format!("www_dir = \"{}\"\nretries = 0\n", www.display());
    for (name, url) in repos {
        s.push_str(&format!(
            "\n[[repo]]\ndist = \"test\"\nrepo = \"{name}\"\narches = [\"noarch\"]\nurls = [\"{url}\"]\n"
        ));
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn reader_never_sees_a_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let up = Upstream::new(tmp.path().join("up/plain"), false);
    up.set(&["alpha-1.0"]);
    let server = Server::start(&tmp.path().join("up"));
    let www = tmp.path().join("www");
    let config = tmp.path().join("m.toml");
    write_config(&config, &www, &[("plain", server.url("plain/"))]);
    mirror_ok(&config, &["sync"]);
    let dest = www.join("test-noarch/RPMS.plain");

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::new(Mutex::new(std::collections::BTreeSet::<usize>::new()));
    let reader = {
        let (stop, errors, seen, dest) = (stop.clone(), errors.clone(), seen.clone(), dest.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let opts = kkoji_repodata::RepoReadOptions {
                    filelists: true,
                    other: true,
                };
                match kkoji_repodata::read_repo_with(&dest, &opts) {
                    Err(e) => errors.lock().unwrap().push(format!("metadata: {e}")),
                    Ok(pkgs) => {
                        for p in &pkgs {
                            if let Err(e) = std::fs::File::open(dest.join(&p.location_href)) {
                                errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("{}: {e}", p.location_href));
                            }
                        }
                        seen.lock().unwrap().insert(pkgs.len());
                    }
                }
            }
        })
    };
    let states: [&[&str]; 4] = [
        &["alpha-1.0", "beta-1.0"],
        &["alpha-1.1", "beta-1.0"],
        &["alpha-1.1", "beta-1.0", "gamma-1.0"],
        &["alpha-1.1", "gamma-1.0", "delta-1.0"],
    ];
    for st in states {
        up.set(st);
        mirror_ok(&config, &["sync"]);
    }
    // every package ever published is kept (no --delete): 5 in the last generation
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.lock().unwrap().contains(&5) {
        assert!(
            Instant::now() < deadline,
            "the reader never saw the last tree"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        seen.lock().unwrap().len() >= 2,
        "the reader saw only one generation"
    );
}

#[test]
fn dry_run_writes_nothing_and_an_unconfigured_repo_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let a = Upstream::new(root.join("up/a"), false);
    let b = Upstream::new(root.join("up/b"), false);
    a.set(&["alpha-1.0", "beta-1.0"]);
    b.set(&["gamma-1.0"]);
    let server = Server::start(&root.join("up"));
    let www = root.join("www");
    let both = root.join("both.toml");
    let only_a = root.join("a.toml");
    write_config(
        &both,
        &www,
        &[("a", server.url("a/")), ("b", server.url("b/"))],
    );
    write_config(&only_a, &www, &[("a", server.url("a/"))]);

    // never synced: a dry run plans the download and creates nothing, not even www_dir
    let out = mirror_ok(&both, &["sync", "--dry-run"]);
    assert!(
        out.contains("test-noarch-a: would download 2 packages"),
        "{out}"
    );
    assert!(!www.exists(), "{out}");

    mirror_ok(&both, &["sync"]);
    a.set(&["alpha-1.1", "gamma-1.0"]);
    let before = tree_hash(&www);
    server.take_requests();
    let out = mirror_ok(&both, &["sync", "--dry-run", "--delete"]);
    // gamma is already in the pool (repo b has the same file): only alpha-1.1 to fetch
    assert!(
        out.contains("test-noarch-a: would download 1 packages"),
        "{out}"
    );
    assert!(out.contains("+ gamma-1.0-1.noarch"), "{out}");
    assert!(
        out.contains("~ alpha-1.0-1.noarch -> alpha-1.1-1.noarch"),
        "{out}"
    );
    assert!(out.contains("- beta-1.0-1.noarch"), "{out}");
    assert!(out.contains("metadata changes"), "{out}");
    assert!(out.contains("test-noarch-b: unchanged"), "{out}");
    assert!(rpm_requests(&server.take_requests()).is_empty());
    assert_eq!(before, tree_hash(&www), "a dry run changed the tree");

    // b leaves the config: its files stay, whatever else happens
    let b_dest = www.join("test-noarch/RPMS.b");
    let b_files = tree_hash(&www.join("test-noarch"))
        .into_iter()
        .filter(|(k, _)| k.contains("RPMS.b"))
        .collect::<Vec<_>>();
    mirror_ok(&only_a, &["sync", "--delete"]);
    let b_after = tree_hash(&www.join("test-noarch"))
        .into_iter()
        .filter(|(k, _)| k.contains("RPMS.b"))
        .collect::<Vec<_>>();
    assert_eq!(b_files, b_after);
    assert_eq!(repoquery(&b_dest), ["gamma-1.0-1.noarch"]);
    let st = mirror_ok(&only_a, &["status"]);
    assert!(st.contains("test-noarch-b (not configured)"), "{st}");

    // prune only what is named, and never a configured repo
    let o = mirror(&only_a, &["prune", "test-noarch-a"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("still in"), "{}", text(&o));
    mirror_ok(&only_a, &["prune", "test-noarch-b"]);
    assert!(!b_dest.exists());
    assert_eq!(
        repoquery(&www.join("test-noarch/RPMS.a")),
        ["alpha-1.1-1.noarch", "gamma-1.0-1.noarch"]
    );
    // gamma is shared by a and b in the pool: still there for a
    assert!(
        www.join("test-noarch/RPMS.a")
            .join(Upstream::href("gamma-1.0"))
            .is_file()
    );
}

#[test]
fn mrepo_conf_and_an_mrepo_directory_are_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let up = Upstream::new(root.join("up/fedora/1/noarch/os"), false);
    up.set(&["alpha-1.0", "beta-1.0"]);
    let server = Server::start(&root.join("up"));
    let www = root.join("external-repos/www");
    // what mrepo left: a real directory with the packages and metadata
    let dest: PathBuf = www.join("fedora1-noarch/RPMS.os");
    std::fs::create_dir_all(dest.join("Packages")).unwrap();
    for p in ["alpha-1.0", "beta-1.0"] {
        std::fs::copy(up.dir.join(Upstream::href(p)), dest.join(Upstream::href(p))).unwrap();
    }
    let conf = root.join("mrepo.conf");
    std::fs::write(
        &conf,
        format!(
            "### mrepo.conf as in the farm runbook\n[main]\nsrcdir = {root}/external-repos/src\n\
             wwwdir = {www}\nconfdir = {root}/mrepo.conf.d\narch = noarch\nmailto = root@localhost\n\n\
             [fedora1]\nname = Fedora $release ($arch)\nrelease = 1\narch = noarch\n\
             os = {url}fedora/$release/$arch/os/\n",
            root = root.display(),
            www = www.display(),
            url = server.url(""),
        ),
    )
    .unwrap();
    let o = std::process::Command::new(bin())
        .arg("--mrepo-conf")
        .arg(&conf)
        .arg("sync")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // the packages mrepo had were taken over, not downloaded again
    assert!(
        rpm_requests(&server.take_requests()).is_empty(),
        "{}",
        text(&o)
    );
    assert!(
        std::fs::symlink_metadata(&dest)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        repoquery(&dest),
        ["alpha-1.0-1.noarch", "beta-1.0-1.noarch"]
    );
    // the old directory is kept aside for the operator
    let kept: Vec<_> = std::fs::read_dir(www.join("fedora1-noarch/.RPMS.os.trees"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("mrepo-"))
        .collect();
    assert_eq!(kept.len(), 1);
}
