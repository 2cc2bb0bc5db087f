//! The database half of a run, against a real PostgreSQL (a throwaway cluster): dump,
//! verify (`pg_restore --list`), drill, restore into a database and into a hub state dir,
//! corruption caught by verify, and the errors an operator meets first.

mod common;

use common::*;
use kkoji_backup::db;
use kkoji_pgcluster::TestCluster;
use std::fs;
use std::path::Path;

static CLUSTER: tokio::sync::OnceCell<TestCluster> = tokio::sync::OnceCell::const_new();

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn cluster() -> &'static TestCluster {
    rt().block_on(async {
        CLUSTER
            .get_or_try_init(TestCluster::start)
            .await
            .expect("start test cluster")
    })
}

fn fresh_db() -> String {
    rt().block_on(cluster().fresh_database())
        .expect("create database")
}

fn sql(url: &str, s: &str) -> Vec<Vec<String>> {
    db::query_rows(None, url, s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// The tables the drill counts, with a few rows.
fn hub_like(url: &str) {
    sql(
        url,
        "CREATE TABLE users (id int, name text); INSERT INTO users VALUES (1, 'kojiadmin'), (2, 'alice');
         CREATE TABLE host (id int); INSERT INTO host VALUES (1);
         CREATE TABLE tag (id int, name text); INSERT INTO tag VALUES (1, 'f40'), (2, 'f40-build'), (3, 'f41');
         CREATE TABLE build (id int); CREATE TABLE task (id int); INSERT INTO task SELECT generate_series(1, 50);",
    );
}

fn count(url: &str, table: &str) -> i64 {
    db::query_count(None, url, &format!("SELECT count(*) FROM {table}")).unwrap()
}

fn db_name(url: &str) -> String {
    url.split('/')
        .nth(3)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn dump_verify_drill_and_restore_into_a_database_and_a_state_dir() {
    let url = fresh_db();
    hub_like(&url);
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("work/tasks/1/1/build.log"), b"log");
    let r = kb(&root, &tree, &["--db-url", &url, "run"]).ok();
    let list = json(&kb(&root, &tree, &["list", "--json"]).ok());
    let run = list[0]["run"].as_str().unwrap().to_owned();
    let dump = list[0]["dump"].as_str().unwrap().to_owned();
    assert_eq!(
        dump,
        format!("postgres/{}_{run}.dump", db_name(&url)),
        "{}",
        r.text()
    );
    assert!(root.join(&dump).is_file());

    // The drill restores into a throwaway cluster of its own and counts rows.
    let v = json(&kb(&root, &tree, &["verify", "--drill", "--json"]).ok());
    assert_eq!(v["ok"], true, "{v:#}");
    let counts: Vec<(String, i64)> = serde_json::from_value(v["drill_counts"].clone()).unwrap();
    assert_eq!(
        counts,
        [
            ("users", 2),
            ("host", 1),
            ("tag", 3),
            ("build", 0),
            ("task", 50)
        ]
        .map(|(t, n)| (t.to_owned(), n))
    );
    let st = json(&kb(&root, &tree, &["status", "--json"]).ok());
    assert_eq!(st["last_verify"]["drill"], true);
    assert_eq!(st["last_verify"]["ok"], true);
    assert_eq!(st["last_run"]["run"], run.as_str());

    // Changes after the backup are undone by a restore into the same database.
    sql(&url, "DELETE FROM task; DROP TABLE tag;");
    let r = kb(&root, &tree, &["restore", "--db-into-url", &url]).ok();
    assert!(r.stdout.contains("database restored"), "{}", r.text());
    assert_eq!(count(&url, "task"), 50);
    assert_eq!(count(&url, "tag"), 3);

    // A new embedded cluster in a hub state dir.
    let state = dir.path().join("state");
    kb(
        &root,
        &tree,
        &[
            "restore",
            "--at",
            &run,
            "--db-into-state-dir",
            state.to_str().unwrap(),
        ],
    )
    .ok();
    let rt = rt();
    let c = kkoji_pgcluster::Cluster::new(kkoji_pgcluster::ClusterConfig::under_state_dir(&state))
        .unwrap();
    assert!(
        !rt.block_on(c.is_running()).unwrap(),
        "the restore leaves the cluster stopped for the hub"
    );
    rt.block_on(c.start()).unwrap();
    let n = count(&c.url("kkoji"), "users");
    rt.block_on(c.stop()).unwrap();
    assert_eq!(n, 2);
}

#[test]
fn a_flipped_byte_and_a_truncated_dump_are_named_by_verify() {
    let url = fresh_db();
    hub_like(&url);
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("big.log"), &noise(7, 300_000));
    kb(&root, &tree, &["--db-url", &url, "run"]).ok();
    write(&tree.join("new.log"), b"second run");
    kb(&root, &tree, &["--db-url", &url, "run"]).ok();
    kb(&root, &tree, &["verify"]).ok();
    let list = json(&kb(&root, &tree, &["list", "--json"]).ok());
    let archive = list[0]["archive"].as_str().unwrap().to_owned();
    let dump = list[1]["dump"].as_str().unwrap().to_owned();
    let mut bytes = fs::read(root.join(&archive)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(root.join(&archive), &bytes).unwrap();
    let d = fs::read(root.join(&dump)).unwrap();
    fs::write(root.join(&dump), &d[..d.len() / 2]).unwrap();

    let r = kb(&root, &tree, &["verify"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains(&format!("{archive}: checksum mismatch")),
        "{}",
        r.text()
    );
    assert!(
        r.stderr.contains(&format!("{dump}: ")) && r.stderr.contains("truncated"),
        "{}",
        r.text()
    );
    // Verifying the second run checks its chain: the first run's archive is part of it.
    let r = kb(&root, &tree, &["verify", list[1]["run"].as_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.stderr.contains(&archive), "{}", r.text());
    let st = kb(&root, &tree, &["status"]).ok();
    assert!(st.stdout.contains("FAILED"), "{}", st.text());
    // A restore of the damaged file refuses rather than writing wrong bytes.
    let t = dir.path().join("restored");
    let r = kb(
        &root,
        &tree,
        &["restore", "--tree-into", t.to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.stderr.contains(&archive), "{}", r.text());
}

#[test]
fn a_missing_pg_dump_and_a_wrong_database_are_clear_errors_and_leave_nothing() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    write(&tree.join("a.log"), b"a");
    let empty_bin = dir.path().join("no-postgres-here");
    fs::create_dir(&empty_bin).unwrap();
    let url = fresh_db();
    let nothing_left = |root: &Path| {
        assert!(runs(root, &tree).is_empty());
        assert_eq!(names(&root.join("postgres")), Vec::<String>::new());
        assert_eq!(names(&root.join("ephemeral")), Vec::<String>::new());
    };

    let r = kb(
        &root,
        &tree,
        &[
            "--db-url",
            &url,
            "--pg-bin-dir",
            empty_bin.to_str().unwrap(),
            "run",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.stderr.contains("pg_dump not found"), "{}", r.text());
    assert!(
        r.stderr.contains(empty_bin.to_str().unwrap()),
        "{}",
        r.text()
    );
    nothing_left(&root);

    let wrong = url.replace(&db_name(&url), "no_such_db");
    let r = kb(&root, &tree, &["--db-url", &wrong, "run"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.stderr.contains("pg_dump of postgres://"), "{}", r.text());
    assert!(
        r.stderr.contains("\"no_such_db\" does not exist"),
        "{}",
        r.text()
    );
    nothing_left(&root);

    // No server at that address (a port nothing listens on any more).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("postgres://kkoji@127.0.0.1:{port}/koji");
    let r = kb(&root, &tree, &["--db-url", &nowhere, "run"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains(&format!("pg_dump of {nowhere} failed"))
            && r.stderr.contains("Connection refused"),
        "{}",
        r.text()
    );
    nothing_left(&root);

    let r = kb(
        &root,
        &tree,
        &["--db-state-dir", dir.path().to_str().unwrap(), "run"],
    );
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains("no embedded PostgreSQL cluster here"),
        "{}",
        r.text()
    );
    nothing_left(&root);
}

/// The backup disk fills up on a run with a database: while archiving the tree (the dump
/// fitted and is removed again: without its manifest it is no backup) and, with a database
/// bigger than the disk, while dumping. Each a clear error; no file is left behind.
#[test]
fn a_full_backup_disk_leaves_neither_dump_nor_archive() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let url = fresh_db();
    hub_like(&url);
    let dir = tempdir();
    let tree = dir.path().join("tree");
    let root = dir.path().join("backups");
    for i in 0..3 {
        write(&tree.join(format!("big{i}")), &noise(200 + i, 1 << 20));
    }
    let _tmpfs = Tmpfs::mount(&root, "1m");
    let nothing_left = || {
        assert!(runs(&root, &tree).is_empty());
        assert_eq!(names(&root.join("postgres")), Vec::<String>::new());
        assert_eq!(names(&root.join("ephemeral")), Vec::<String>::new());
        assert!(!root.join(".kkoji-backup.lock").exists());
    };

    let r = kb(&root, &tree, &["--db-url", &url, "run"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains("writing the archive") && r.stderr.contains("No space left on device"),
        "{}",
        r.text()
    );
    assert!(
        r.stderr
            .contains("removed: the run failed before its manifest was written"),
        "{}",
        r.text()
    );
    nothing_left();

    // About 2 MiB of dump (hex text compresses to about half).
    sql(
        &url,
        "CREATE TABLE blob AS SELECT md5(random()::text) || md5(random()::text) AS t
         FROM generate_series(1, 60000)",
    );
    fs::remove_dir_all(&tree).unwrap();
    write(&tree.join("small.log"), b"x");
    let r = kb(&root, &tree, &["--db-url", &url, "run"]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.stderr.contains("writing the dump")
            && r.stderr
                .contains(&root.join("postgres").display().to_string())
            && r.stderr.contains("No space left on device"),
        "{}",
        r.text()
    );
    nothing_left();
}
