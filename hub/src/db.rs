//! Database connection and schema migrations (embedded in the binary).

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        // a slow acquire under load is logged by the hub once per interval
        // (`Hub::acquire_failed`), not by sqlx once per call
        .acquire_slow_level(log::LevelFilter::Debug)
        .connect(url)
        .await
}

/// Connect and bring the schema up to date.
pub async fn open(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<PgPool> {
    let pool = connect(url, max_connections, acquire_timeout)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
    Ok(pool)
}
