//! The `rpmsigs` table: which keys an RPM's signature headers were made with.

use super::{Conn, Page, Paged};
use sqlx::{Result, Row};

/// One stored signature header of an RPM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmSig {
    pub rpm_id: i32,
    pub sigkey: String,
    /// MD5 of the signature header bytes kept under `data/sigcache/`.
    pub sighash: String,
}

/// queryOpts order fields of `queryRPMSigs`: the answer's name and the SQL expression.
pub const SIG_ORDER: &[(&str, &str)] = &[
    ("rpm_id", "rpm_id"),
    ("sigkey", "sigkey"),
    ("sighash", "sighash"),
];

fn sig(r: &sqlx::postgres::PgRow) -> Result<RpmSig> {
    Ok(RpmSig {
        rpm_id: r.try_get("rpm_id")?,
        sigkey: r.try_get("sigkey")?,
        sighash: r.try_get("sighash")?,
    })
}

/// Signatures of one RPM and/or of one key (None: any).
pub async fn query(
    db: &mut Conn,
    rpm: Option<i32>,
    sigkey: Option<&str>,
    page: &Page,
) -> Result<Paged<RpmSig>> {
    let sql = page.sql(
        "SELECT rpm_id, sigkey, sighash FROM rpmsigs \
         WHERE ($1::int IS NULL OR rpm_id = $1) AND ($2::text IS NULL OR sigkey = $2)",
        "rpm_id, sigkey",
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(rpm).bind(sigkey);
    page.fetch(db, q, sig).await
}

/// The stored header's hash for (rpm, key), if any.
pub async fn sighash(db: &mut Conn, rpm: i32, sigkey: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT sighash FROM rpmsigs WHERE rpm_id = $1 AND sigkey = $2")
        .bind(rpm)
        .bind(sigkey)
        .fetch_optional(db)
        .await
}

/// Record a signature; a second one for the same (rpm, key) is a unique violation.
pub async fn insert(db: &mut Conn, rpm: i32, sigkey: &str, sighash: &str) -> Result<()> {
    sqlx::query("INSERT INTO rpmsigs (rpm_id, sigkey, sighash) VALUES ($1, $2, $3)")
        .bind(rpm)
        .bind(sigkey)
        .bind(sighash)
        .execute(db)
        .await?;
    Ok(())
}

/// Forget these keys' signatures of an RPM.
pub async fn delete(db: &mut Conn, rpm: i32, keys: &[String]) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM rpmsigs WHERE rpm_id = $1 AND sigkey = ANY($2)")
            .bind(rpm)
            .bind(keys)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// File an RPM's signature under another key; false when there is none under `old`.
pub async fn rename(db: &mut Conn, rpm: i32, old: &str, new: &str) -> Result<bool> {
    Ok(
        sqlx::query("UPDATE rpmsigs SET sigkey = $3 WHERE rpm_id = $1 AND sigkey = $2")
            .bind(rpm)
            .bind(old)
            .bind(new)
            .execute(db)
            .await?
            .rows_affected()
            > 0,
    )
}
