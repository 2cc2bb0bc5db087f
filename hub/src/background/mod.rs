//! Work a hub does on its own, each loop on connections of its own (never a call's):
//! hearing other hubs' notifications ([`listener`]), the scheduler pass that assigns tasks
//! and enforces timeouts ([`scheduler`]), and the repo queue pass that turns waiting repo
//! requests into tasks ([`repo_queue`]), and sending notification mail ([`mailer`]). The domain never calls up into these loops; they
//! call the domain.

pub mod listener;
pub mod mailer;
pub mod repo_queue;
pub mod scheduler;

use crate::hub::Hub;
use std::sync::Arc;

/// Start the background loops of a hub; abort the handles to stop them.
pub fn spawn(hub: Arc<Hub>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(listener::run(hub.clone())),
        tokio::spawn(mailer::run(hub.clone())),
        tokio::spawn(scheduler::run(hub)),
    ]
}
