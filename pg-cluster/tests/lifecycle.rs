//! Cluster lifecycle against the real PostgreSQL binaries.

use std::path::Path;

use kkoji_pgcluster::{Cluster, ClusterConfig, ClusterError, TestCluster};
use sqlx::{Connection, PgConnection};

async fn scalar_i32(url: &str, sql: &'static str) -> i32 {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let v: i32 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    v
}

#[tokio::test]
async fn init_start_connect_create_database_stop() {
    // unstarted(): we drive init/start ourselves, but keep TestCluster's
    // cleanup (Drop + watchdog) so no postmaster outlives the test.
    let tc = TestCluster::unstarted().unwrap();
    let cluster = tc.cluster();
    let cfg = cluster.config();
    let socket_file = cfg.socket_path();
    let log_dir = cfg.data_dir.join("log");

    assert!(!cluster.initialized());
    cluster.init().await.unwrap();
    assert!(cluster.initialized());
    assert!(!cluster.is_running().await.unwrap());

    cluster.start().await.unwrap();
    assert!(cluster.is_running().await.unwrap());
    assert!(socket_file.exists());

    let url = cluster.url("postgres");
    assert!(url.contains("host=/tmp/"), "{url}");
    assert_eq!(scalar_i32(&url, "SELECT 1").await, 1);

    cluster.create_database("app").await.unwrap();
    cluster.create_database("app").await.unwrap(); // idempotent
    assert!(cluster.database_exists("app").await.unwrap());
    let mut conn = PgConnection::connect(&cluster.url("app")).await.unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(name, "app");
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(listen, "");
    conn.close().await.unwrap();

    cluster.drop_database("app").await.unwrap();
    cluster.drop_database("app").await.unwrap(); // absent is fine
    assert!(!cluster.database_exists("app").await.unwrap());

    cluster.stop().await.unwrap();
    assert!(!cluster.is_running().await.unwrap());
    assert!(cluster.postmaster_pid().is_none());
    cluster.stop().await.unwrap(); // not running is fine

    // The server log went to data_dir/log via the logging collector.
    assert!(std::fs::read_dir(log_dir).unwrap().next().is_some());

    // A stopped cluster starts again.
    cluster.start().await.unwrap();
    assert_eq!(scalar_i32(&cluster.url("postgres"), "SELECT 1").await, 1);
}

#[tokio::test]
async fn start_twice_is_idempotent() {
    let tc = TestCluster::start().await.unwrap();
    let c = tc.cluster();
    let pid = c.postmaster_pid().unwrap();
    c.start().await.unwrap();
    c.start().await.unwrap();
    assert_eq!(c.postmaster_pid(), Some(pid));
    assert_eq!(scalar_i32(&c.url("postgres"), "SELECT 1").await, 1);
}

#[tokio::test]
async fn start_after_kill_9_recovers_data() {
    let tc = TestCluster::start().await.unwrap();
    let c = tc.cluster();
    let url = tc.fresh_database().await.unwrap();
    {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (v int)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (42)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    let pid = c.postmaster_pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Wait until the postmaster is gone (it may linger as our grandchild's
    // zombie only briefly: pg_ctl daemonized it, init reaps it).
    for _ in 0..100 {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The stale pid file is still there.
    assert_eq!(c.postmaster_pid(), Some(pid));
    assert!(!c.is_running().await.unwrap());

    c.start().await.unwrap();
    let new_pid = c.postmaster_pid().unwrap();
    assert_ne!(new_pid, pid);
    assert_eq!(scalar_i32(&url, "SELECT v FROM t").await, 42);
}

#[test]
fn missing_binaries_are_reported() {
    let empty = tempfile::tempdir().unwrap();
    let mut cfg = ClusterConfig::new("/tmp/kkpg-unused/data", "/tmp/kkpg-unused/sock");
    cfg.bin_dir = Some(empty.path().to_path_buf());
    match Cluster::new(cfg) {
        Err(e @ ClusterError::BinariesNotFound(_)) => {
            let msg = e.to_string();
            assert!(msg.contains(&empty.path().display().to_string()), "{msg}");
            assert!(msg.contains("initdb") && msg.contains("pg_ctl"), "{msg}");
        }
        other => panic!("expected BinariesNotFound, got {other:?}"),
    }
}

#[test]
fn socket_path_too_long_is_rejected() {
    let long = Path::new("/tmp").join("s".repeat(100));
    let cfg = ClusterConfig::new("/tmp/kkpg-unused/data", &long);
    match Cluster::new(cfg) {
        Err(ClusterError::SocketPathTooLong(p)) => {
            assert_eq!(p, long.join(".s.PGSQL.5432"));
        }
        other => panic!("expected SocketPathTooLong, got {other:?}"),
    }
    // Exactly at the limit is accepted.
    let fits = Path::new("/tmp").join("s".repeat(107 - "/tmp/".len() - "/.s.PGSQL.5432".len()));
    assert_eq!(fits.join(".s.PGSQL.5432").as_os_str().len(), 107);
    assert!(Cluster::new(ClusterConfig::new("/tmp/kkpg-unused/data", fits)).is_ok());
}

/// Stops a cluster not managed by `TestCluster` even when an assertion fails.
struct StopOnDrop<'a>(&'a Cluster);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.stop_immediate_blocking();
    }
}

/// The hub's embedded layout (STATE/pgdata + STATE/pgsocket) with the
/// durable settings.
#[tokio::test]
async fn embedded_layout_under_state_dir() {
    use std::os::unix::fs::PermissionsExt;
    let state = tempfile::Builder::new()
        .prefix("kkpg-state")
        .tempdir_in("/tmp")
        .unwrap();
    // The postgres user must traverse it whatever the umask.
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cfg = ClusterConfig::under_state_dir(state.path());
    cfg.port = 54321;
    let cluster = Cluster::new(cfg).unwrap();
    let _guard = StopOnDrop(&cluster);
    cluster.start().await.unwrap(); // initializes on first start
    let mut conn = PgConnection::connect(&cluster.url("postgres"))
        .await
        .unwrap();
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(fsync, "on");
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(user, "kkoji");
    conn.close().await.unwrap();
    assert!(state.path().join("pgsocket/.s.PGSQL.54321").exists());
    cluster.stop().await.unwrap();
}

/// As root, PostgreSQL runs as `postgres`, which cannot reach a state dir
/// inside a 0700 root-owned directory: that must be a clear error, not a
/// confusing initdb failure.
#[tokio::test]
async fn untraversable_parent_is_a_clear_error_when_root() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let private = tempfile::Builder::new()
        .prefix("kkpg-priv")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let cluster = Cluster::new(ClusterConfig::under_state_dir(private.path())).unwrap();
    let _guard = StopOnDrop(&cluster);
    match cluster.start().await {
        Err(ClusterError::Io { path, source }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
            assert!(path.starts_with(private.path()));
            let msg = source.to_string();
            assert!(
                msg.contains("postgres") && msg.contains("traversable"),
                "{msg}"
            );
        }
        other => panic!("expected a permission error, got {other:?}"),
    }
}
