//! kkoji-hub: a Koji-compatible XML-RPC hub over mutual TLS, with its state in PostgreSQL.
//! See ARCHITECTURE.md at the workspace root for the map.

pub mod background;
pub mod body;
pub mod cli;
pub mod config;
pub mod ctx;
pub mod db;
pub mod dispatch;
pub mod domain;
pub mod error;
pub mod farm;
pub mod hub;
pub mod methods;
pub mod names;
pub mod pyrepr;
pub mod registry;
pub mod rpmhdr;
pub mod run;
pub mod safefs;
pub mod server;
pub mod signature;
pub mod timefmt;
pub mod tls;
pub mod topdir;

pub use cli::cli_main;
// the files moved into domain/ keep their old paths until their callers are converted
pub use domain::sessions as session;
pub use domain::{policy, repos, scheduler, tasks, uploads};
