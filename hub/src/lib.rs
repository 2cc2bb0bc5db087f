//! kkoji-hub: a Koji-compatible XML-RPC hub over mutual TLS, with its state in PostgreSQL.
//! See ARCHITECTURE.md at the workspace root for the map.

pub mod background;
pub mod body;
pub mod cli;
pub mod config;
pub mod ctx;
pub mod db;
pub mod dispatch;
pub mod error;
pub mod farm;
pub mod hub;
pub mod methods;
pub mod names;
pub mod policy;
pub mod pyrepr;
pub mod registry;
pub mod repos;
pub mod rpmhdr;
pub mod run;
pub mod safefs;
pub mod scheduler;
pub mod server;
pub mod session;
pub mod signature;
pub mod tasks;
pub mod timefmt;
pub mod tls;
pub mod topdir;
pub mod uploads;

pub use cli::cli_main;
