//! kkoji-quickstart: the farm in a box. One state directory holds the farm CA and its
//! certificates, the configs of the hub, the local builder and kkoji-repo-regen (each
//! written by serialising the daemon's own config type), the hub's embedded PostgreSQL and
//! Koji's top directory; quickstart runs the three daemons as child processes and stops
//! them in order. See `layout` for the files and `supervise` for a run.

pub mod children;
pub mod cli;
pub mod configs;
pub mod fsutil;
pub mod layout;
pub mod pki;
pub mod supervise;

pub use cli::cli_main;
