//! kkoji-repo-regen: the repo manager of a kkoji (Koji-compatible) build farm, doing what
//! kojira does for Koji. Every pass it
//! 1. asks the hub to set end events of superseded repos (`repo.updateEndEvents`),
//! 2. requests a new repo for every build tag (and `repo.auto` tag) whose newest READY
//!    repo is older than the tag's last change — backing off when the last request for
//!    the same tag event failed, and holding back while `max_repo_tasks` repo tasks run,
//! 3. notices upstream changes of external repos (their `repomd.xml` timestamps, read
//!    with kkoji-repodata's `Remote`) and records them on the hub, which makes the tags
//!    using them stale,
//! 4. expires READY repos superseded for longer than `repo_lifetime_secs`,
//! 5. deletes EXPIRED/PROBLEM repos older than `deleted_repo_lifetime_secs` that no
//!    buildroot references, and removes their directories,
//! 6. prunes repo directories the hub does not know or has DELETED.
//!
//! The newest repo of a tag is never expired or deleted. Decisions are pure functions
//! ([`decide`]); [`pass::run_pass`] applies them through the [`hub::RegenHub`] trait.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod decide;
pub mod fsops;
pub mod hub;
pub mod model;
pub mod pass;

pub use cli::cli_main;
pub use config::Config;
pub use daemon::Daemon;
