//! The background repo queue pass: waiting repo requests become `newRepo` tasks without
//! anyone polling (`repo.checkQueue` does the same on demand).

/// One pass in a transaction of its own, as a call without a session would run it. Most
/// passes follow ordinary task events: nothing is begun when no request waits.
pub async fn pass(hub: std::sync::Arc<crate::hub::Hub>) {
    let peer = std::sync::Arc::new(crate::tls::PeerInfo {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        cert: crate::tls::ClientCert::None,
    });
    // most passes follow ordinary task events: skip the transaction when no request waits
    let waiting: Result<Option<i32>, _> =
        sqlx::query_scalar("SELECT 1 FROM repo_queue WHERE active AND repo_id IS NULL LIMIT 1")
            .fetch_optional(hub.pool())
            .await;
    match waiting {
        Ok(None) => return,
        Ok(Some(_)) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot look at the repo queue");
            return;
        }
    }
    let cfg = hub.config.repos.clone();
    let mut c = crate::ctx::Ctx::new(hub, peer, None);
    c.method = "repo.checkQueue";
    match crate::repos::check_queue(&mut c, &cfg, false).await {
        Ok(_) => {
            if let Err(e) = c.commit().await {
                tracing::warn!(error = %e, "repo queue pass did not commit");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "repo queue pass failed");
            c.rollback().await;
        }
    }
}
