//! End-to-end test harness for kkoji: a real hub (embedded PostgreSQL, mutual TLS) driven by the
//! stock `koji` 1.36.1 command-line client, plus a raw HTTPS client (`curl`) for hand-made
//! request bodies.
//!
//! * [`Farm`] owns one farm and its state directory: [`Farm::start`] creates a fresh farm
//!   (`kkoji-quickstart` in a temporary directory, on a free port of 127.0.0.1, running the
//!   hub and a local builder), [`Farm::koji`] / [`Farm::koji_as`] run the stock CLI against
//!   it, [`Farm::restart`], [`Farm::kill9`] and [`Farm::start_again`] exercise restarts, and
//!   dropping the farm stops it (SIGTERM first, so that the hub stops its database) and
//!   removes the directory.
//! * [`Output`] is what a user reads: exit status, stdout and stderr, with assertion helpers
//!   whose failure messages show the whole command and its output.
//! * [`raw`] sends bodies the CLI would never send (malformed XML, oversized, deeply nested,
//!   entity bombs) with or without a client certificate.
//! * [`builds`] makes test packages (`rpmbuild -bs`) and reads task ids and states from what
//!   the CLI prints; [`builder`] runs extra builder daemons with host certificates of their
//!   own (readiness, capacity and builder-loss tests).
//! * [`suite`] runs a test binary's tests with libtest-mimic, either all against one shared
//!   farm (started before the first and stopped after the last test) or each on its own.
//!
//! Environment knobs: `KKOJI_KOJI_VENV` (virtualenv holding `bin/koji`; default
//! `<workspace>/.venv`, created with koji==1.36.1 when missing), `KKOJI_E2E_KEEP=1` (keep state
//! directories for inspection), `KKOJI_E2E_CMD_TIMEOUT` (seconds per CLI command, default 90),
//! `KKOJI_E2E_READY_TIMEOUT` (seconds to wait for the farm, default 90).

pub mod builder;
pub mod builds;
pub mod cli;
pub mod farm;
pub mod raw;
pub mod suite;
pub mod xmlrpc;

pub use cli::Output;
pub use farm::Farm;
pub use raw::RawResponse;

/// The `Koji-Version` the hub must claim (header and `getKojiVersion`).
pub const KOJI_VERSION: &str = "1.36.1";

/// The admin user `quickstart` creates.
pub const ADMIN: &str = "kojiadmin";

/// The profile name in the hub-written `koji.conf`.
pub const PROFILE: &str = "kkoji";
