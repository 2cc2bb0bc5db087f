//! The background repo queue pass: waiting repo requests become `newRepo` tasks without
//! anyone polling (`repo.checkQueue` does the same on demand).

use crate::ctx::Ctx;
use crate::hub::Hub;
use crate::tls::{ClientCert, PeerInfo};
use std::sync::Arc;

/// One pass in a transaction of its own, as a call without a session would run it. Most
/// passes follow ordinary task events: nothing is begun when no request waits.
pub async fn pass(hub: Arc<Hub>) {
    let waiting = match hub.pool().acquire().await {
        Ok(mut db) => crate::storage::repo_queue::any_waiting(&mut db).await,
        Err(e) => Err(e),
    };
    match waiting {
        Ok(false) => return,
        Ok(true) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot look at the repo queue");
            return;
        }
    }
    let peer = Arc::new(PeerInfo {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        cert: ClientCert::None,
    });
    let cfg = hub.config.repos.clone();
    let mut c = Ctx::new(hub, peer, None);
    c.method = "repo.checkQueue";
    match crate::domain::repos::queue::check_queue(&mut c, &cfg, false).await {
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
