//! The tasks this builder runs. [`table`] is the one list of them: each entry is a task
//! kind of the shared `kkoji-task-kinds` table (method name, weight) with its handler
//! here. The daemon reads it to tell the hub what it runs, to refuse what it does not and
//! to weigh a task before taking it; [`runner`] looks up the handler and reports the
//! outcome.
//!
//! One module per task kind ([`build`], [`build_arch`], [`tag_build`], [`dependant`],
//! [`new_repo`], [`createrepo`], [`dist_repo`], [`create_dist_repo`], [`restart`]); what several of them share is below them: [`buildroot`] (the repo a
//! build uses, buildroots and BuildRequires), [`repos`] (the repos tree and repo states),
//! [`subtasks`] (waiting for children), [`files`] (the SRPM, uploads) and [`context`]
//! (what a handler gets and returns). Imports point from the table down to these, never
//! back up.

pub mod build;
pub mod build_arch;
pub mod buildroot;
pub mod context;
pub mod create_dist_repo;
pub mod createrepo;
pub mod dependant;
pub mod dist_repo;
pub mod files;
pub mod new_repo;
pub mod repos;
pub mod restart;
pub mod runner;
pub mod subtasks;
pub mod table;
pub mod tag_build;
