//! The table of exported methods: name, Python-style signature, doc, handler.

use crate::ctx::Ctx;
use crate::error::HResult;
use crate::signature::{self, Args, Signature};
use koji_protocol::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type Handler = for<'a> fn(&'a mut Ctx, Args) -> BoxFuture<'a, HResult<Value>>;

pub struct Method {
    pub name: &'static str,
    /// Reviewed to never change data: runs without a transaction.
    pub readonly: bool,
    pub sig: Signature,
    pub doc: &'static str,
    pub handler: Handler,
}

#[derive(Default)]
pub struct Registry {
    methods: HashMap<&'static str, Method>,
    order: Vec<&'static str>,
}

/// Wraps an `async fn(&mut Ctx, Args) -> HResult<Value>` into a [`Handler`].
#[macro_export]
macro_rules! handler {
    ($f:path) => {{
        fn wrapped<'a>(
            c: &'a mut $crate::ctx::Ctx,
            a: $crate::signature::Args,
        ) -> $crate::registry::BoxFuture<'a, $crate::error::HResult<koji_protocol::Value>> {
            Box::pin($f(c, a))
        }
        wrapped as $crate::registry::Handler
    }};
}

impl Registry {
    /// Register a method. A malformed signature is a programming error: it panics at
    /// start-up (and in the registry's unit test), never on a request.
    pub fn add(
        &mut self,
        name: &'static str,
        sig: &'static str,
        doc: &'static str,
        handler: Handler,
    ) {
        let sig = match signature::parse(sig) {
            Ok(s) => s,
            Err(e) => panic!("bad signature for {name}: {e}"),
        };
        if self
            .methods
            .insert(
                name,
                Method {
                    name,
                    readonly: READONLY.contains(&name),
                    sig,
                    doc,
                    handler,
                },
            )
            .is_some()
        {
            panic!("method {name} registered twice");
        }
        self.order.push(name);
    }

    pub fn get(&self, name: &str) -> Option<&Method> {
        self.methods.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.order.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Methods that only read. Each was checked not to write; a read-only method that tries to
/// create an event fails loudly instead of writing outside a transaction.
const READONLY: &[&str] = &[
    "getBuildNotifications",
    "getBuildNotification",
    "getBuildNotificationBlocks",
    "getBuildNotificationBlock",
    "getTagID",
    "host.getTasks",
    "taskFinished",
    "getBuildroot",
    "getAverageBuildDuration",
    "getNextRelease",
    "listTaggedRPMS",
    "getLatestRPMS",
    "repoInfo",
    "getRepo",
    "getActiveRepos",
    "tagLastChangeEvent",
    "tagFirstChangeEvent",
    "repo.get",
    "repo.checkRequest",
    "repo.getExternalRepoData",
    "repo.references",
    "repo.query",
    "repo.queryQueue",
    "getAPIVersion",
    "getKojiVersion",
    "hello",
    "echo",
    "system.listMethods",
    "system.methodHelp",
    "_listapi",
    "getLastEvent",
    "getEvent",
    "listVolumes",
    "getLoggedInUser",
    "getSessionInfo",
    "getUser",
    "listUsers",
    "getAllPerms",
    "getPerms",
    "getUserPerms",
    "getUserPermsInheritance",
    "hasPerm",
    "getHost",
    "listHosts",
    "getLastHostUpdate",
    "getChannel",
    "listChannels",
    "listBuildroots",
    "getTag",
    "listTags",
    "getInheritanceData",
    "getFullInheritance",
    "getBuildTarget",
    "getBuildTargets",
    "getPackageID",
    "listPackages",
    "getExternalRepo",
    "listExternalRepos",
    "getTagExternalRepos",
    "getExternalRepoList",
    "getTaskInfo",
    "getTaskChildren",
    "getTaskRequest",
    "getTaskResult",
    "listTasks",
    "listTaskOutput",
    "downloadTaskOutput",
    "getBuild",
    "listBuilds",
    "listRPMs",
    "getBuildLogs",
    "getLatestBuilds",
    "listTagged",
    "getBuildConfig",
    "getTagGroups",
    "mavenEnabled",
    "search",
    "untaggedBuilds",
    "buildReferences",
    "queryHistory",
    "scheduler.getTaskRuns",
    "scheduler.getLogMessages",
    "scheduler.getTaskRefusals",
    "scheduler.getHostData",
    "getMavenBuild",
    "getWinBuild",
    "getImageBuild",
    "listArchives",
    "getChangelogEntries",
    "getRPM",
    "getPackageConfig",
    "queryRPMSigs",
    "getRPMHeaders",
];
