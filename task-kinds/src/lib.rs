//! The Koji task methods kkoji knows, in one table: the method name, the weight a task
//! starts with, the channel a top-level task of that kind goes to, and who runs it.
//!
//! The hub needs the weights when it creates a task (the scheduler compares them with a
//! host's free capacity) and the channels when it queues repo work; the builder needs the
//! same weights when it measures whether it can take a task, and the list of methods it
//! runs. Had each kept its own copy, a weight changed in one place would make the builder
//! refuse tasks the hub assigned it (or take more than the hub thinks it has). So both
//! read this crate, and the builder attaches its handlers to these entries.

/// Who runs tasks of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// A builder: kkoji-builder and the stock kojid both run it.
    Builder,
    /// Only the stock kojid. kkoji-builder refuses it: a kkoji `build` waits for its
    /// buildroot repo itself (`repo.request`) instead of in a `waitrepo` subtask.
    KojidOnly,
}

/// One task method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskKind {
    /// The method name as it appears on the wire and in the `task` table.
    pub method: &'static str,
    /// The weight a task of this kind starts with (kojid's `_taskWeight`): the share of a
    /// host's capacity it occupies while it runs and is not waiting for subtasks.
    pub weight: f64,
    /// The channel a top-level task of this kind is created in when the caller names
    /// none; the hosts of that channel run it. Subtasks inherit their parent's channel.
    pub channel: &'static str,
    pub runner: Runner,
}

/// Koji's channel for everything not otherwise placed.
pub const DEFAULT_CHANNEL: &str = "default";
/// Koji's channel for repo generation (`newRepo` and the `createrepo` subtasks).
pub const CREATEREPO_CHANNEL: &str = "createrepo";
/// The weight of a method this table does not list (Koji's `BaseTaskHandler._taskWeight`).
pub const DEFAULT_WEIGHT: f64 = 1.0;

/// The parent of a build: plans the arches, waits for them, imports and tags.
pub const BUILD: TaskKind = TaskKind {
    method: "build",
    weight: 0.2,
    channel: DEFAULT_CHANNEL,
    runner: Runner::Builder,
};
/// One rpmbuild for one arch.
pub const BUILD_ARCH: TaskKind = TaskKind {
    method: "buildArch",
    weight: 1.5,
    channel: DEFAULT_CHANNEL,
    runner: Runner::Builder,
};
/// Tags a finished build into the destination tag (on the hub's side, as the task owner).
pub const TAG_BUILD: TaskKind = TaskKind {
    method: "tagBuild",
    weight: 1.0,
    channel: DEFAULT_CHANNEL,
    runner: Runner::Builder,
};
/// Waits for other (non-child) tasks, then runs its task list as subtasks: the chain
/// `moveAllBuilds` makes so that a package's builds arrive in their order.
pub const DEPENDANT_TASK: TaskKind = TaskKind {
    method: "dependantTask",
    weight: 0.2,
    channel: DEFAULT_CHANNEL,
    runner: Runner::Builder,
};
/// A repo of a tag: `repoInit`, one `createrepo` per arch, `repoDone`.
pub const NEW_REPO: TaskKind = TaskKind {
    method: "newRepo",
    weight: 0.1,
    channel: CREATEREPO_CHANNEL,
    runner: Runner::Builder,
};
/// The repodata of one arch of a repo.
pub const CREATEREPO: TaskKind = TaskKind {
    method: "createrepo",
    weight: 1.5,
    channel: CREATEREPO_CHANNEL,
    runner: Runner::Builder,
};
/// A dist repo (`koji dist-repo`): one `createdistrepo` per arch, each arch moved into
/// place with `host.distRepoMove`, then `host.repoDone`.
pub const DIST_REPO: TaskKind = TaskKind {
    method: "distRepo",
    weight: 0.1,
    channel: CREATEREPO_CHANNEL,
    runner: Runner::Builder,
};
/// One arch of a dist repo: the RPMs chosen by signature key, its repodata.
pub const CREATE_DIST_REPO: TaskKind = TaskKind {
    method: "createdistrepo",
    weight: 1.5,
    channel: CREATEREPO_CHANNEL,
    runner: Runner::Builder,
};
/// `koji restart-hosts`: gives every matching enabled host a `restart` and a
/// `restartVerify` subtask, assigned to that host, and waits for them.
pub const RESTART_HOSTS: TaskKind = TaskKind {
    method: "restartHosts",
    weight: 0.1,
    channel: DEFAULT_CHANNEL,
    runner: Runner::Builder,
};
/// Marks the host's daemon for a graceful restart (it re-executes itself once idle).
pub const RESTART: TaskKind = TaskKind {
    method: "restart",
    weight: 0.1,
    channel: DEFAULT_CHANNEL,
    runner: Runner::Builder,
};
/// Proves the restart happened: the daemon started after the `restart` task closed.
pub const RESTART_VERIFY: TaskKind = TaskKind {
    method: "restartVerify",
    weight: 0.1,
    channel: DEFAULT_CHANNEL,
    runner: Runner::Builder,
};
/// kojid's wait for a buildroot repo (a subtask of its `build`).
pub const WAITREPO: TaskKind = TaskKind {
    method: "waitrepo",
    weight: 0.2,
    channel: DEFAULT_CHANNEL,
    runner: Runner::KojidOnly,
};

/// Every kind, in no particular order.
pub const ALL: &[TaskKind] = &[
    BUILD,
    BUILD_ARCH,
    TAG_BUILD,
    DEPENDANT_TASK,
    NEW_REPO,
    CREATEREPO,
    DIST_REPO,
    CREATE_DIST_REPO,
    RESTART_HOSTS,
    RESTART,
    RESTART_VERIFY,
    WAITREPO,
];

/// The kind of a method, if kkoji knows it.
pub fn find(method: &str) -> Option<&'static TaskKind> {
    ALL.iter().find(|k| k.method == method)
}

/// The weight a task of `method` starts with; [`DEFAULT_WEIGHT`] for methods not listed
/// (a task created with `makeTask`, say).
pub fn default_weight(method: &str) -> f64 {
    find(method).map_or(DEFAULT_WEIGHT, |k| k.weight)
}

/// The kinds kkoji-builder runs (it tells the hub these as its `methods`).
pub fn builder_kinds() -> impl Iterator<Item = &'static TaskKind> {
    ALL.iter().filter(|k| k.runner == Runner::Builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The weights hub/src/tasks.rs `default_weight` gave before the hub read this table:
    /// moving the table must not change what any task starts with.
    #[test]
    fn weights_are_the_hubs() {
        for (method, weight) in [
            ("build", 0.2),
            ("buildArch", 1.5),
            ("newRepo", 0.1),
            ("createrepo", 1.5),
            ("waitrepo", 0.2),
            ("tagBuild", 1.0),
            ("dependantTask", 0.2),
            ("makeTaskSomething", 1.0),
            ("", 1.0),
        ] {
            assert_eq!(default_weight(method), weight, "{method}");
        }
    }

    /// ... nor what the builder measures a task with (its former `task_weight`).
    #[test]
    fn weights_are_the_builders() {
        for (method, weight) in [
            ("build", 0.2),
            ("buildArch", 1.5),
            ("tagBuild", 1.0),
            ("newRepo", 0.1),
            ("createrepo", 1.5),
            ("distRepo", 0.1),
            ("createdistrepo", 1.5),
            ("restartHosts", 0.1),
            ("restart", 0.1),
            ("restartVerify", 0.1),
            ("other", 1.0),
        ] {
            assert_eq!(default_weight(method), weight, "{method}");
        }
    }

    #[test]
    fn one_entry_per_method() {
        for (i, k) in ALL.iter().enumerate() {
            assert!(
                !ALL[i + 1..].iter().any(|o| o.method == k.method),
                "{} listed twice",
                k.method
            );
            assert!(k.weight > 0.0 && k.weight.is_finite(), "{}", k.method);
        }
    }

    #[test]
    fn the_builder_runs_builds_and_repos_but_not_waitrepo() {
        let mut methods: Vec<&str> = builder_kinds().map(|k| k.method).collect();
        methods.sort_unstable();
        assert_eq!(
            methods,
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
        assert_eq!(find("waitrepo").map(|k| k.runner), Some(Runner::KojidOnly));
        assert!(find("frobnicate").is_none());
    }

    #[test]
    fn repo_work_goes_to_the_createrepo_channel() {
        assert_eq!(NEW_REPO.channel, "createrepo");
        assert_eq!(CREATEREPO.channel, "createrepo");
        assert_eq!(DIST_REPO.channel, "createrepo");
        assert_eq!(CREATE_DIST_REPO.channel, "createrepo");
        assert_eq!(BUILD.channel, "default");
    }
}
