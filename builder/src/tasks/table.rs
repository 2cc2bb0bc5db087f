//! The task table: every method this builder runs, its kind in the shared
//! `kkoji-task-kinds` table (name and weight, the same the hub creates tasks with) and
//! its handler. Nothing else in the builder lists methods.

use std::future::Future;
use std::pin::Pin;

use kkoji_task_kinds::{self as kinds, TaskKind};
use koji_protocol::Value;

use crate::hub::OpenedTask;
use crate::tasks::context::{TaskCtx, TaskError, TaskHandles};
use crate::tasks::{
    build, build_arch, create_dist_repo, createrepo, dependant, dist_repo, new_repo, restart,
    tag_build,
};

/// A running handler's future.
pub type Outcome<'a> = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send + 'a>>;

type Run = for<'a> fn(&'a TaskCtx, &'a OpenedTask, &'a TaskHandles) -> Outcome<'a>;

/// One task kind this builder runs.
pub struct Handler {
    pub kind: &'static TaskKind,
    run: Run,
}

impl Handler {
    pub fn method(&self) -> &'static str {
        self.kind.method
    }

    /// The share of the host's capacity a task of this kind takes while it runs.
    pub fn weight(&self) -> f64 {
        self.kind.weight
    }

    /// Runs the handler; the runner reports its outcome.
    pub fn run<'a>(
        &self,
        ctx: &'a TaskCtx,
        task: &'a OpenedTask,
        h: &'a TaskHandles,
    ) -> Outcome<'a> {
        (self.run)(ctx, task, h)
    }
}

/// The methods this builder runs.
pub static HANDLERS: [Handler; 11] = [
    Handler {
        kind: &kinds::BUILD,
        run: |ctx, task, h| Box::pin(build::run(ctx, task, h)),
    },
    Handler {
        kind: &kinds::BUILD_ARCH,
        run: |ctx, task, h| Box::pin(build_arch::run(ctx, task, h)),
    },
    Handler {
        kind: &kinds::TAG_BUILD,
        run: |ctx, task, _| Box::pin(tag_build::run(ctx, task)),
    },
    Handler {
        kind: &kinds::DEPENDANT_TASK,
        run: |ctx, task, h| Box::pin(dependant::run(ctx, task, h)),
    },
    Handler {
        kind: &kinds::NEW_REPO,
        run: |ctx, task, h| Box::pin(new_repo::run(ctx, task, h)),
    },
    Handler {
        kind: &kinds::CREATEREPO,
        run: |ctx, task, h| Box::pin(createrepo::run(ctx, task, h)),
    },
    Handler {
        kind: &kinds::DIST_REPO,
        run: |ctx, task, h| Box::pin(dist_repo::run(ctx, task, h)),
    },
    Handler {
        kind: &kinds::CREATE_DIST_REPO,
        run: |ctx, task, h| Box::pin(create_dist_repo::run(ctx, task, h)),
    },
    Handler {
        kind: &kinds::RESTART_HOSTS,
        run: |ctx, task, h| Box::pin(restart::run_restart_hosts(ctx, task, h)),
    },
    Handler {
        kind: &kinds::RESTART,
        run: |ctx, task, _| Box::pin(restart::run_restart(ctx, task)),
    },
    Handler {
        kind: &kinds::RESTART_VERIFY,
        run: |ctx, task, _| Box::pin(restart::run_restart_verify(ctx, task)),
    },
];

/// The handler of `method`, if this builder runs it.
pub fn find(method: &str) -> Option<&'static Handler> {
    HANDLERS.iter().find(|h| h.method() == method)
}

/// The methods this builder runs, as it tells the hub (`methods` of `host.updateHost`).
pub fn methods() -> impl Iterator<Item = &'static str> {
    HANDLERS.iter().map(Handler::method)
}

/// Tasks the daemon runs to their end before it looks at the next assigned task (kojid's
/// `Foreground`): `restart` sets the restart-pending flag, which must hold before a
/// `restartVerify` assigned in the same breath could be taken by the process that is
/// about to be replaced.
pub fn foreground(method: &str) -> bool {
    method == kinds::RESTART.method
}

/// The weight a task of `method` is measured with before it is taken: the shared table's,
/// also for a method this builder does not run (it is refused anyway).
pub fn weight(method: &str) -> f64 {
    kinds::default_weight(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(weight("build"), 0.2);
        assert_eq!(weight("buildArch"), 1.5);
        assert_eq!(weight("tagBuild"), 1.0);
        assert_eq!(weight("dependantTask"), 0.2);
        assert_eq!(weight("newRepo"), 0.1);
        assert_eq!(weight("createrepo"), 1.5);
        assert_eq!(weight("other"), 1.0);
        for h in &HANDLERS {
            assert_eq!(h.weight(), weight(h.method()), "{}", h.method());
        }
    }

    /// The handlers are exactly the kinds the shared table says a builder runs: a kind
    /// added there without a handler here (or the reverse) fails this test, not a farm.
    #[test]
    fn handlers_match_the_shared_table() {
        let mut ours: Vec<&str> = methods().collect();
        let mut shared: Vec<&str> = kinds::builder_kinds().map(|k| k.method).collect();
        ours.sort_unstable();
        shared.sort_unstable();
        assert_eq!(ours, shared);
        assert_eq!(
            ours,
            [
                "build",
                "buildArch",
                "createdistrepo",
                "createrepo",
                "dependantTask",
                "distRepo",
                "newRepo",
                "restart",
                "restartHosts",
                "restartVerify",
                "tagBuild"
            ]
        );
        assert!(find("waitrepo").is_none());
        assert!(foreground("restart"));
        assert!(!foreground("restartVerify") && !foreground("restartHosts"));
        assert!(find("buildArch").is_some());
    }
}
