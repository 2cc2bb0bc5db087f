//! kkoji-hub: a Koji-compatible XML-RPC hub over mutual TLS, with its state in PostgreSQL.
//! See ARCHITECTURE.md at the workspace root for the map and the layer rule:
//! `methods/` (XML-RPC handlers) → `domain/` (the rules) → `storage/` (the SQL), with
//! `background/` (the hub's own loops) beside `methods/`, calling the domain.

pub mod background;
pub mod body;
pub mod cli;
pub mod config;
pub mod ctx;
pub mod db;
pub mod dispatch;
pub mod domain;
pub mod error;
pub mod hub;
pub mod ident;
pub mod methods;
pub mod names;
pub mod pyrepr;
pub mod registry;
pub mod rpmhdr;
pub mod rpmsig;
pub mod run;
pub mod safefs;
pub mod server;
pub mod signature;
pub mod storage;
pub mod timefmt;
pub mod tls;
pub mod topdir;
pub mod uploads;

pub use cli::cli_main;
