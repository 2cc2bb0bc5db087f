//! kkoji-builder: the builder agent of a kkoji (Koji-compatible) build farm. It replaces
//! kojid: logs in to the hub with its host certificate, checks its load, capacity and
//! volumes before it takes anything (and tells the hub plainly why not when it cannot),
//! picks up assigned tasks at once through a long-poll, and runs `build`, `buildArch`
//! and `tagBuild` tasks with rpmbuild (or mock) in isolated per-task directories, and the
//! repo tasks `newRepo` and `createrepo` (see [`tasks`]).

pub mod cancel;
pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deps;
pub mod executor;
pub mod hub;
pub mod mountopts;
pub mod mounts;
pub mod prepare;
pub mod probe;
pub mod readiness;
pub mod reexec;
pub mod srpm;
pub mod taskdir;
pub mod tasks;
pub mod uploads;

pub use cli::cli_main;
pub use config::Config;
