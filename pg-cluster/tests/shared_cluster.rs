//! The intended test pattern: one cluster per test binary, shared through a
//! static, and a fresh database per test.

use kkoji_pgcluster::TestCluster;
use sqlx::{Connection, PgConnection};

static CLUSTER: tokio::sync::OnceCell<TestCluster> = tokio::sync::OnceCell::const_new();

async fn cluster() -> &'static TestCluster {
    CLUSTER.get_or_try_init(TestCluster::start).await.unwrap()
}

/// Each test creates the same table in its own database: they would collide
/// if the databases were shared.
async fn use_own_database() -> String {
    let url = cluster().await.fresh_database().await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE build (id int primary key)")
        .execute(&mut conn)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM build")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 0);
    conn.close().await.unwrap();
    url
}

#[tokio::test]
async fn first_test_gets_its_own_database() {
    use_own_database().await;
}

#[tokio::test]
async fn second_test_gets_its_own_database() {
    use_own_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_test_on_multi_thread_runtime() {
    use_own_database().await;
}

#[tokio::test]
async fn fresh_database_names_are_distinct() {
    let tc = cluster().await;
    let a = tc.fresh_database().await.unwrap();
    let b = tc.fresh_database().await.unwrap();
    assert_ne!(a, b);
    let mut ca = PgConnection::connect(&a).await.unwrap();
    let mut cb = PgConnection::connect(&b).await.unwrap();
    let na: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut ca)
        .await
        .unwrap();
    let nb: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut cb)
        .await
        .unwrap();
    assert_ne!(na, nb);
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&mut ca)
        .await
        .unwrap();
    assert_eq!(fsync, "off", "test clusters trade durability for speed");
}
