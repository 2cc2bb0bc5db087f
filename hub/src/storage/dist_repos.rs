//! What dist repos read of RPM signatures (the rpmsigs table, migration 0010).

use super::{Conn, Result};

/// Whether the RPM has a signature with `sigkey` (lowercase hex).
pub async fn has_sig(db: &mut Conn, rpm: i32, sigkey: &str) -> Result<bool> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM rpmsigs WHERE rpm_id = $1 AND sigkey = $2")
            .bind(rpm)
            .bind(sigkey)
            .fetch_optional(db)
            .await?;
    Ok(found.is_some())
}

/// The signature keys of each of `rpms`: (rpm id, sigkey), ordered by rpm and key.
pub async fn sigkeys_of(db: &mut Conn, rpms: &[i32]) -> Result<Vec<(i32, String)>> {
    sqlx::query_as(
        "SELECT rpm_id, sigkey FROM rpmsigs WHERE rpm_id = ANY($1) ORDER BY rpm_id, sigkey",
    )
    .bind(rpms)
    .fetch_all(db)
    .await
}
