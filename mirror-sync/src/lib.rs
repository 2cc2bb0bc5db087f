//! kkoji-mirror-sync: an mrepo-style mirror of external yum repos that is verified
//! (sizes, checksums, signatures), atomic (one rename publishes a complete tree),
//! incremental (an unchanged upstream costs one request; a package is downloaded once into
//! a content-addressed pool) and careful (a dry run writes nothing, nothing is deleted
//! unless asked). See `docs/runbooks/external-repos.md`.
//!
//! Layers: `config`/`mrepo` → `transport` → `download`/`pool` → `sync` (plan, publish,
//! state) → `register`; `main.rs` is the command line.

pub mod cli;
pub mod config;
pub mod download;
pub mod filter;
pub mod gpg;
pub mod mirrors;
pub mod mrepo;
pub mod pool;
pub mod publish;
pub mod register;
pub mod state;
pub mod sync;
pub mod transport;
