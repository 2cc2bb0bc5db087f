//! The mailer: sends queued notification mail through the configured relay. It runs only
//! when `[notifications] relay` is set; a relay that is down only delays mail (each mail is
//! retried until `max_attempts`), it never fails the change that queued it.

use crate::hub::Hub;
use crate::mail::Relay;
use std::sync::Arc;
use std::time::Duration;

/// Poll for due mail every `poll_secs` until the hub stops.
pub async fn run(hub: Arc<Hub>) {
    let cfg = hub.config.notifications.clone();
    let Some(url) = cfg.relay.clone() else {
        return;
    };
    if cfg.disabled {
        return;
    }
    let relay = match Relay::new(&url, &cfg.from, Duration::from_secs(30)) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "notification mail is off: the relay cannot be used");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(cfg.poll_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut db = match hub.pool().acquire().await {
            Ok(db) => db,
            Err(e) => {
                tracing::warn!(error = %e, "mailer: no database connection");
                continue;
            }
        };
        match crate::domain::notifications::send_due(&mut db, &relay, &cfg).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sent = n, "mailer pass"),
            Err(e) => tracing::warn!(error = %e, "mailer pass failed"),
        }
    }
}
