//! kkoji-backup: the farm's weekly backup of the hub database and the scratch tree, with
//! verification, restore drills, restore and retention. See `docs/runbooks/backup.md`.

pub mod backup;
pub mod cli;
pub mod config;
pub mod creation;
pub mod db;
pub mod fsutil;
pub mod lock;
pub mod manifest;
pub mod prefetch;
pub mod progress;
pub mod prune;
pub mod restore;
pub mod scan;
pub mod status;
pub mod verify;
pub mod writeback;

pub use cli::cli_main;
