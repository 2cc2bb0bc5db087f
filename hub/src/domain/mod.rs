//! The hub's rules, below the XML-RPC handlers (being moved here).

pub mod policy;
pub mod repos;
pub mod scheduler;
pub mod sessions;
pub mod tasks;
pub mod uploads;
