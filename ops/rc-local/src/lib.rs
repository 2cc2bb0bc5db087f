//! kkoji-rc-local: the boot guard of a kkoji host.
//!
//! The seed farm's rc.local mounted the scratch and data volumes by device name, turned on
//! swap, set the hostname and started postgresql, httpd, kojid, kojira and rsyncd only when
//! the volumes they need were mounted. Volumes stay out of fstab on purpose (a respun VM with
//! different ephemeral storage must not boot into emergency mode). This crate does the same
//! from a declarative plan, idempotently, with a report per item and a deadline on
//! everything that can hang.

pub mod apply;
pub mod plan;
pub mod system;

pub use apply::{Item, Mode, Outcome, Report, run};
pub use plan::Plan;
