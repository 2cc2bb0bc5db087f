//! Every exported hub method, registered with its Koji signature.

pub mod buildroots;
pub mod builds;
pub mod channels;
pub mod common;
pub mod dist_repo;
pub mod external_repos;
pub mod groups;
pub mod history;
pub mod host_api;
pub mod hosts;
pub mod imports;
pub mod misc;
pub mod notifications;
pub mod packages;
pub mod policy;
pub mod refusals;
pub mod repos;
pub mod search;
pub mod sessions;
pub mod signatures;
pub mod tagging;
pub mod tags;
pub mod targets;
pub mod task_admin;
pub mod tasks;
pub mod uploads;
pub mod users;
pub mod volumes;

/// The version this hub claims; the client switches code paths on it.
pub const KOJI_VERSION: &str = "1.36.1";

use crate::handler;
use crate::registry::Registry;

/// The table of every method, built once: it is the same for every hub of the process.
pub fn registry() -> &'static Registry {
    static TABLE: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    TABLE.get_or_init(build)
}

fn build() -> Registry {
    let mut r = Registry::default();
    refusals::register(&mut r);
    task_admin::register(&mut r);
    search::register(&mut r);
    history::register(&mut r);
    // sessions
    r.add(
        "sslLogin",
        "proxyuser=None, proxyauthtype=None, renew=False, exclusive=None",
        "Log in with the TLS client certificate; returns session-id, session-key.",
        handler!(sessions::ssl_login),
    );
    r.add(
        "logout",
        "session_id=None",
        "Close the current (or the given) session.",
        handler!(sessions::logout),
    );
    r.add(
        "exclusiveSession",
        "force=False",
        "Make this the only usable session of its user.",
        handler!(sessions::exclusive_session),
    );
    r.add(
        "sharedSession",
        "",
        "Drop the exclusive mark of this session.",
        handler!(sessions::shared_session),
    );
    r.add(
        "subsession",
        "",
        "Open a child session of the current one.",
        handler!(sessions::subsession),
    );
    r.add(
        "logoutChild",
        "session_id",
        "Close a child session.",
        handler!(sessions::logout_child),
    );
    r.add(
        "getSessionInfo",
        "details=False, user_id=None",
        "Describe the current session (or a user's sessions).",
        handler!(sessions::get_session_info),
    );
    r.add(
        "getLoggedInUser",
        "",
        "The user of the current session, or None.",
        handler!(users::get_logged_in_user),
    );
    // introspection
    r.add(
        "getAPIVersion",
        "",
        "The XML-RPC API version (1).",
        handler!(misc::get_api_version),
    );
    r.add(
        "getKojiVersion",
        "",
        "The Koji version this hub is compatible with.",
        handler!(misc::get_koji_version),
    );
    r.add("hello", "*args", "Say hello.", handler!(misc::hello));
    r.add(
        "echo",
        "*args",
        "Return the arguments.",
        handler!(misc::echo),
    );
    r.add(
        "system.listMethods",
        "",
        "Names of all methods.",
        handler!(misc::list_methods),
    );
    r.add(
        "system.methodHelp",
        "method",
        "Signature and description of a method.",
        handler!(misc::method_help),
    );
    r.add(
        "_listapi",
        "",
        "All methods with their signatures.",
        handler!(misc::list_api),
    );
    r.add(
        "getLastEvent",
        "before=None, strict=True",
        "The newest event (optionally before a timestamp).",
        handler!(misc::get_last_event),
    );
    r.add(
        "getEvent",
        "id, strict=False",
        "An event by id.",
        handler!(misc::get_event),
    );
    // users and permissions
    r.add(
        "getUser",
        "userInfo=None, strict=False, krb_princs=True, groups=False",
        "A user by id, name, principal or dict.",
        handler!(users::get_user),
    );
    r.add(
        "createUser",
        "username, status=None, krb_principal=None, krb_princ_check=True",
        "Create a user. [admin]",
        handler!(users::create_user),
    );
    r.add(
        "enableUser",
        "username",
        "Allow a user to log in. [admin]",
        handler!(users::enable_user),
    );
    r.add(
        "disableUser",
        "username",
        "Block a user's logins. [admin]",
        handler!(users::disable_user),
    );
    r.add(
        "listUsers",
        "userType=0, prefix=None, queryOpts=None, perm=None, inherited_perm=False",
        "List users.",
        handler!(users::list_users),
    );
    r.add(
        "getAllPerms",
        "",
        "All permissions.",
        handler!(users::get_all_perms),
    );
    r.add(
        "getPerms",
        "userID=None",
        "Permission names of a user (default: the caller).",
        handler!(users::get_user_perms),
    );
    r.add(
        "getUserPerms",
        "userID=None, with_groups=True",
        "Permission names of a user.",
        handler!(users::get_user_perms),
    );
    r.add(
        "getUserPermsInheritance",
        "userID",
        "A user's permissions with where they come from.",
        handler!(users::get_user_perms_inheritance),
    );
    r.add(
        "hasPerm",
        "perm, strict=False",
        "Whether the caller holds a permission (admin not implied).",
        handler!(users::has_perm),
    );
    r.add(
        "grantPermission",
        "userinfo, permission, create=False, description=None",
        "Grant a permission. [admin]",
        handler!(users::grant_permission),
    );
    r.add(
        "revokePermission",
        "userinfo, permission",
        "Revoke a permission. [admin]",
        handler!(users::revoke_permission),
    );
    r.add(
        "editPermission",
        "permission, description",
        "Change a permission's description. [admin]",
        handler!(users::edit_permission),
    );
    // hosts and channels
    r.add(
        "addHost",
        "hostname, arches, krb_principal=None, force=False",
        "Add a builder host. [host]",
        handler!(hosts::add_host),
    );
    r.add(
        "editHost",
        "hostInfo, **kw",
        "Edit a host's arches, capacity, description, comment or name. [host]",
        handler!(hosts::edit_host),
    );
    r.add(
        "enableHost",
        "hostname",
        "Enable a host. [host]",
        handler!(hosts::enable_host),
    );
    r.add(
        "disableHost",
        "hostname",
        "Disable a host. [host]",
        handler!(hosts::disable_host),
    );
    r.add(
        "getHost",
        "hostInfo, strict=False, event=None",
        "A host by id or name.",
        handler!(hosts::get_host),
    );
    r.add(
        "listHosts",
        "arches=None, channelID=None, ready=None, enabled=None, userID=None, queryOpts=None",
        "List hosts.",
        handler!(hosts::list_hosts),
    );
    r.add(
        "getLastHostUpdate",
        "hostID, ts=False",
        "When a host last checked in.",
        handler!(hosts::get_last_host_update),
    );
    r.add(
        "getChannel",
        "channelInfo, strict=False",
        "A channel by id or name.",
        handler!(hosts::get_channel),
    );
    r.add(
        "listChannels",
        "hostID=None, event=None, enabled=None",
        "List channels (of a host).",
        handler!(hosts::list_channels),
    );
    r.add(
        "createChannel",
        "channel_name, description=None",
        "Create a channel. [admin]",
        handler!(hosts::create_channel),
    );
    r.add(
        "addHostToChannel",
        "hostname, channel_name, create=False, force=False",
        "Subscribe a host to a channel. [host]",
        handler!(hosts::add_host_to_channel),
    );
    r.add(
        "removeHostFromChannel",
        "hostname, channel_name",
        "Unsubscribe a host from a channel. [host]",
        handler!(hosts::remove_host_from_channel),
    );
    r.add("listBuildroots", "hostID=None, tagID=None, state=None, rpmID=None, archiveID=None, taskID=None, buildrootID=None, repoID=None, queryOpts=None", "List buildroots.", handler!(buildroots::list_buildroots));
    // tags
    r.add("createTag", "name, parent=None, arches=None, perm=None, locked=False, maven_support=False, maven_include_all=False, extra=None", "Create a tag. [tag]", handler!(tags::create_tag));
    r.add(
        "editTag2",
        "tagInfo, **kwargs",
        "Edit a tag: name, arches, locked, perm, maven flags, extra. [tag]",
        handler!(tags::edit_tag2),
    );
    r.add(
        "deleteTag",
        "tagInfo",
        "Delete a tag. [tag]",
        handler!(tags::delete_tag),
    );
    r.add(
        "getTag",
        "tagInfo, strict=False, event=None, blocked=False",
        "A tag by id or name (as of an event).",
        handler!(tags::get_tag),
    );
    r.add(
        "listTags",
        "build=None, package=None, perms=True, queryOpts=None, pattern=None",
        "List tags.",
        handler!(tags::list_tags),
    );
    r.add(
        "getInheritanceData",
        "tag, event=None",
        "A tag's direct parents.",
        handler!(tags::get_inheritance_data),
    );
    r.add(
        "setInheritanceData",
        "tag, data, clear=False",
        "Set a tag's parents. [tag]",
        handler!(tags::set_inheritance_data),
    );
    r.add(
        "getFullInheritance",
        "tag, event=None, reverse=False",
        "A tag's whole inheritance chain.",
        handler!(tags::get_full_inheritance),
    );
    // targets
    r.add(
        "createBuildTarget",
        "name, build_tag, dest_tag",
        "Create a build target. [target]",
        handler!(targets::create_build_target),
    );
    r.add(
        "editBuildTarget",
        "buildTargetInfo, name, build_tag, dest_tag",
        "Edit a build target. [target]",
        handler!(targets::edit_build_target),
    );
    r.add(
        "deleteBuildTarget",
        "buildTargetInfo",
        "Delete a build target. [target]",
        handler!(targets::delete_build_target),
    );
    r.add(
        "getBuildTarget",
        "info, event=None, strict=False",
        "A build target by id or name.",
        handler!(targets::get_build_target),
    );
    r.add(
        "getBuildTargets",
        "info=None, event=None, buildTagID=None, destTagID=None, queryOpts=None",
        "List build targets.",
        handler!(targets::get_build_targets),
    );
    // packages
    r.add(
        "getPackage",
        "info, strict=False, create=False",
        "A package by id or name.",
        handler!(packages::get_package),
    );
    r.add(
        "getPackageID",
        "name, strict=False",
        "A package's id.",
        handler!(packages::get_package_id),
    );
    r.add(
        "packageListAdd",
        "taginfo, pkginfo, owner=None, block=None, extra_arches=None, force=False, update=False",
        "Add a package to a tag's list. [tag]",
        handler!(packages::package_list_add),
    );
    r.add(
        "packageListSetOwner",
        "taginfo, pkginfo, owner, force=False",
        "Set the owner of a package in a tag's list. [tag]",
        handler!(packages::package_list_set_owner),
    );
    r.add(
        "packageListSetArches",
        "taginfo, pkginfo, arches, force=False",
        "Set the extra arches of a package in a tag's list. [tag]",
        handler!(packages::package_list_set_arches),
    );
    r.add(
        "packageListBlock",
        "taginfo, pkginfo, force=False",
        "Block a package in a tag. [tag]",
        handler!(packages::package_list_block),
    );
    r.add(
        "packageListUnblock",
        "taginfo, pkginfo, force=False",
        "Unblock a package in a tag. [tag]",
        handler!(packages::package_list_unblock),
    );
    r.add(
        "packageListRemove",
        "taginfo, pkginfo, force=False",
        "Remove a package from a tag's list. [tag]",
        handler!(packages::package_list_remove),
    );
    r.add(
        "getPackageConfig",
        "tag, pkg, event=None",
        "A package's (inherited) list entry in a tag.",
        handler!(packages::get_package_config),
    );
    r.add("listPackages", "tagID=None, userID=None, pkgID=None, prefix=None, inherited=False, with_dups=False, event=None, queryOpts=None, with_owners=True, with_blocked=True", "List packages (of a tag, owner or name).", handler!(packages::list_packages));
    // external repos
    r.add(
        "createExternalRepo",
        "name, url",
        "Create an external repo. [admin]",
        handler!(external_repos::create_external_repo),
    );
    r.add(
        "getExternalRepo",
        "info, strict=False, event=None",
        "An external repo by id or name.",
        handler!(external_repos::get_external_repo),
    );
    r.add(
        "listExternalRepos",
        "info=None, url=None, event=None, queryOpts=None",
        "List external repos.",
        handler!(external_repos::list_external_repos),
    );
    r.add(
        "editExternalRepo",
        "info, name=None, url=None",
        "Rename an external repo or change its url. [admin]",
        handler!(external_repos::edit_external_repo),
    );
    r.add(
        "deleteExternalRepo",
        "info",
        "Delete an external repo and its tag links. [admin]",
        handler!(external_repos::delete_external_repo),
    );
    r.add(
        "addExternalRepoToTag",
        "tag_info, repo_info, priority, merge_mode='koji', arches=None",
        "Link an external repo to a tag. [tag]",
        handler!(external_repos::add_external_repo_to_tag),
    );
    r.add(
        "removeExternalRepoFromTag",
        "tag_info, repo_info",
        "Unlink an external repo from a tag. [tag]",
        handler!(external_repos::remove_external_repo_from_tag),
    );
    r.add(
        "editTagExternalRepo",
        "tag_info, repo_info, priority=None, merge_mode=None, arches=None",
        "Change a tag's external repo link. [tag]",
        handler!(external_repos::edit_tag_external_repo),
    );
    r.add(
        "getTagExternalRepos",
        "tag_info=None, repo_info=None, event=None",
        "External repo links of a tag or repo.",
        handler!(external_repos::get_tag_external_repos),
    );
    r.add(
        "getExternalRepoList",
        "tag_info, event=None",
        "A tag's external repos including inherited ones.",
        handler!(external_repos::get_external_repo_list),
    );
    // uploads
    r.add(
        "checkUpload",
        "path, name, verify=None, tail=None, volume=None",
        "Size, mtime (and digest) of an uploaded file, or None; confirms the upload.",
        handler!(uploads::check_upload),
    );
    r.add(
        "uploadFile",
        "path, name, size, md5sum, offset, data, volume=None, checksum=None",
        "Legacy base64 upload.",
        handler!(uploads::upload_file),
    );
    // tasks
    r.add(
        "build",
        "src, target, opts=None, priority=None, channel=None",
        "Build a package from an uploaded SRPM.",
        handler!(tasks::build),
    );
    r.add(
        "getTaskInfo",
        "task_id, request=False, strict=False",
        "A task (or a list of tasks).",
        handler!(tasks::get_task_info),
    );
    r.add(
        "getTaskChildren",
        "task_id, request=False, strict=False",
        "A task's subtasks.",
        handler!(tasks::get_task_children),
    );
    r.add(
        "getTaskRequest",
        "taskId",
        "A task's parameters.",
        handler!(tasks::get_task_request),
    );
    r.add(
        "getTaskResult",
        "taskId, raise_fault=True",
        "A finished task's result (re-raises its fault).",
        handler!(tasks::get_task_result),
    );
    r.add(
        "listTasks",
        "opts=None, queryOpts=None",
        "List tasks.",
        handler!(tasks::list_tasks),
    );
    r.add(
        "cancelTask",
        "task_id, recurse=True",
        "Cancel a task (owner, its host, or admin).",
        handler!(tasks::cancel_task),
    );
    r.add(
        "cancelTaskFull",
        "task_id, strict=True",
        "Cancel a whole task tree. [admin]",
        handler!(tasks::cancel_task_full),
    );
    r.add(
        "cancelTaskChildren",
        "task_id",
        "Cancel a task's subtasks.",
        handler!(tasks::cancel_task_children),
    );
    r.add(
        "resubmitTask",
        "taskID",
        "Run a failed or canceled task again.",
        handler!(tasks::resubmit_task),
    );
    r.add(
        "listTaskOutput",
        "taskID, stat=False, all_volumes=False, strict=False",
        "Files a task produced.",
        handler!(tasks::list_task_output),
    );
    r.add(
        "downloadTaskOutput",
        "taskID, fileName, offset=0, size=-1, volume=None",
        "Part of a task's output file, base64.",
        handler!(tasks::download_task_output),
    );
    // builds
    r.add(
        "getBuild",
        "buildInfo, strict=False",
        "A build by id, NVR or dict.",
        handler!(builds::get_build),
    );
    r.add(
        "listBuilds",
        "packageID=None, userID=None, taskID=None, prefix=None, state=None, volumeID=None, source=None, createdBefore=None, createdAfter=None, completeBefore=None, completeAfter=None, type=None, typeInfo=None, queryOpts=None, pattern=None, cgID=None, draft=None, promotedBefore=None, promotedAfter=None, promoter=None",
        "List builds.",
        handler!(builds::list_builds),
    );
    r.add("listRPMs", "buildID=None, buildrootID=None, imageID=None, componentBuildrootID=None, hostID=None, arches=None, queryOpts=None, draft=None", "List RPMs.", handler!(builds::list_rpms));
    r.add(
        "getBuildLogs",
        "buildinfo",
        "Log files of a build.",
        handler!(builds::get_build_logs),
    );
    r.add(
        "cancelBuild",
        "buildID, strict=False",
        "Cancel a BUILDING build and its task.",
        handler!(builds::cancel_build),
    );
    r.add(
        "getLatestBuilds",
        "tag, event=None, package=None, type=None, draft=None",
        "Latest build of each package in a tag.",
        handler!(builds::get_latest_builds),
    );
    r.add("listTagged", "tag, event=None, inherit=False, prefix=None, latest=False, package=None, owner=None, type=None, strict=True, extra=False, draft=None", "Builds tagged in a tag.", handler!(builds::list_tagged));
    r.add(
        "getBuildConfig",
        "tag, event=None",
        "A tag with inherited arches and extra.",
        handler!(tags::get_build_config),
    );
    // host side
    r.add(
        "host.getID",
        "",
        "The calling host's id.",
        handler!(host_api::get_id),
    );
    r.add(
        "host.getHost",
        "",
        "The calling host.",
        handler!(host_api::get_host),
    );
    r.add(
        "host.isEnabled",
        "",
        "Whether the calling host is enabled.",
        handler!(host_api::is_enabled),
    );
    r.add(
        "host.updateHost",
        "task_load, ready, data=None",
        "Builder check-in.",
        handler!(host_api::update_host),
    );
    r.add(
        "host.getTasks",
        "",
        "Tasks assigned to the calling host.",
        handler!(host_api::get_tasks),
    );
    r.add(
        "host.waitTasks",
        "timeout=30.0",
        "Long-poll: tasks assigned to the calling host, as soon as there are any.",
        handler!(host_api::wait_tasks),
    );
    r.add(
        "host.getHostTasks",
        "",
        "OPEN tasks of the calling host.",
        handler!(host_api::get_host_tasks),
    );
    r.add(
        "host.openTask",
        "task_id",
        "Start a task.",
        handler!(host_api::open_task),
    );
    r.add(
        "host.closeTask",
        "task_id, response",
        "Finish a task with its result.",
        handler!(host_api::close_task),
    );
    r.add(
        "host.failTask",
        "task_id, response",
        "Finish a task with a fault.",
        handler!(host_api::fail_task),
    );
    r.add(
        "host.freeTasks",
        "tasks",
        "Give OPEN tasks back to the scheduler.",
        handler!(host_api::free_tasks),
    );
    r.add(
        "host.refuseTask",
        "task_id, soft=True, msg=''",
        "Refuse an assigned task.",
        handler!(host_api::refuse_task),
    );
    r.add(
        "host.setTaskWeight",
        "task_id, weight",
        "Set an OPEN task's weight.",
        handler!(host_api::set_task_weight),
    );
    r.add(
        "host.subtask",
        "method, arglist, parent, **opts",
        "Create a subtask.",
        handler!(host_api::subtask),
    );
    r.add(
        "host.taskSetWait",
        "parent, tasks",
        "Wait for subtasks.",
        handler!(host_api::task_set_wait),
    );
    r.add(
        "host.taskWait",
        "parent",
        "Finished and unfinished awaited subtasks.",
        handler!(host_api::task_wait),
    );
    r.add(
        "host.taskWaitResults",
        "parent, tasks, canfail=None",
        "Results of finished subtasks.",
        handler!(host_api::task_wait_results),
    );
    r.add(
        "host.initBuild",
        "data",
        "Start a build record.",
        handler!(builds::init_build),
    );
    r.add(
        "host.completeBuild",
        "task_id, build_id, srpm, rpms, brmap=None, logs=None",
        "Import a finished build.",
        handler!(builds::complete_build),
    );
    r.add(
        "host.failBuild",
        "task_id, build_id",
        "Mark a build failed.",
        handler!(builds::fail_build),
    );
    r.add(
        "host.moveBuildToScratch",
        "task_id, srpm, rpms, logs=None",
        "Store a scratch build.",
        handler!(builds::move_build_to_scratch),
    );
    r.add(
        "host.tagBuild",
        "task_id, tag, build, force=False, fromtag=None",
        "Tag a build as the task's owner.",
        handler!(builds::host_tag_build),
    );
    r.add(
        "getMavenBuild",
        "buildInfo, strict=False",
        "Maven info of a build (kkoji builds RPMs only: None).",
        handler!(builds::no_typed_info),
    );
    r.add(
        "getWinBuild",
        "buildInfo, strict=False",
        "Windows info of a build (kkoji builds RPMs only: None).",
        handler!(builds::no_typed_info),
    );
    r.add(
        "getImageBuild",
        "buildInfo, strict=False",
        "Image info of a build (kkoji builds RPMs only: None).",
        handler!(builds::no_typed_info),
    );
    r.add("listArchives", "buildID=None, buildrootID=None, componentBuildrootID=None, hostID=None, type=None, filename=None, size=None, checksum=None, checksum_type=None, typeInfo=None, queryOpts=None, imageID=None, archiveID=None, strict=False", "Archives of a build (kkoji has none: RPMs are in listRPMs).", handler!(builds::list_archives));
    r.add("getChangelogEntries", "buildID=None, taskID=None, filepath=None, author=None, before=None, after=None, queryOpts=None, strict=False", "Changelog of a build, from its source RPM.", handler!(builds::get_changelog_entries));
    r.add(
        "getRPM",
        "rpminfo, strict=False, multi=False",
        "An RPM by id or N-V-R.A.",
        handler!(builds::get_rpm),
    );
    r.add(
        "getRPMHeaders",
        "rpmID=None, taskID=None, filepath=None, headers=None, strict=False, sigkey=None",
        "Header fields of an imported RPM (signature fields from the header stored for sigkey).",
        handler!(builds::get_rpm_headers),
    );
    // repos (Koji 1.35+)
    r.add(
        "repoInfo",
        "repo_id, strict=False",
        "A repo's data.",
        handler!(repos::repo_info),
    );
    r.add(
        "getRepo",
        "tag, state=None, event=None, dist=False, min_event=None",
        "The newest repo of a tag in a state (READY by default).",
        handler!(repos::get_repo),
    );
    r.add(
        "getActiveRepos",
        "",
        "Repos that are not deleted.",
        handler!(repos::get_active_repos),
    );
    r.add(
        "repoExpire",
        "repo_id",
        "Mark a repo expired.",
        handler!(repos::repo_expire),
    );
    r.add(
        "repoProblem",
        "repo_id",
        "Mark a repo as having a problem.",
        handler!(repos::repo_problem),
    );
    r.add(
        "repoDelete",
        "repo_id",
        "Mark a repo deleted unless buildroots use it; returns the number of users.",
        handler!(repos::repo_delete),
    );
    r.add(
        "newRepo",
        "tag, event=None, src=False, debuginfo=False, separate_src=False",
        "Create a newRepo task for a tag.",
        handler!(repos::new_repo),
    );
    r.add(
        "tagLastChangeEvent",
        "tag, event=None, inherit=True",
        "The last event that changed the tag's repo content.",
        handler!(repos::tag_last_change_event),
    );
    r.add(
        "tagFirstChangeEvent",
        "tag, after=None, inherit=True",
        "The first event after `after` that changed the tag's repo content.",
        handler!(repos::tag_first_change_event),
    );
    r.add(
        "repo.get",
        "tag, min_event=None, at_event=None, opts=None",
        "The best READY repo for the tag.",
        handler!(repos::repo_get),
    );
    r.add(
        "repo.request",
        "tag, min_event=None, at_event=None, opts=None, priority=None, force=False",
        "Request a repo for a tag.",
        handler!(repos::repo_request),
    );
    r.add(
        "repo.checkRequest",
        "req_id",
        "Status of a repo request.",
        handler!(repos::check_request),
    );
    r.add(
        "repo.setRequestPriority",
        "req_id, priority",
        "Change a request's priority.",
        handler!(repos::set_request_priority),
    );
    r.add(
        "repo.getExternalRepoData",
        "erepo",
        "What was last seen of an external repo upstream.",
        handler!(repos::get_external_repo_data),
    );
    r.add(
        "repo.setExternalRepoData",
        "external_repo_id, data",
        "Record what was seen of an external repo upstream.",
        handler!(repos::set_external_repo_data),
    );
    r.add(
        "repo.references",
        "repo_id",
        "Buildroots using the repo.",
        handler!(repos::references),
    );
    r.add(
        "repo.setState",
        "repo_id, state",
        "Set a repo's state.",
        handler!(repos::set_state),
    );
    r.add(
        "repo.query",
        "clauses, fields=None, opts=None",
        "Query repos.",
        handler!(repos::query),
    );
    r.add(
        "repo.queryQueue",
        "clauses=None, fields=None, opts=None",
        "Query repo requests.",
        handler!(repos::query_queue),
    );
    r.add(
        "repo.autoRequests",
        "",
        "Request repos for tags that need them.",
        handler!(repos::auto_requests),
    );
    r.add(
        "repo.checkQueue",
        "",
        "Start newRepo tasks for waiting requests.",
        handler!(repos::check_queue),
    );
    r.add(
        "repo.updateEndEvents",
        "",
        "Record when READY repos became stale.",
        handler!(repos::update_end_events),
    );
    r.add(
        "host.repoInit",
        "tag, task_id=None, event=None, opts=None",
        "Create a repo and its package lists.",
        handler!(repos::host_repo_init),
    );
    r.add(
        "host.repoDone",
        "repo_id, data, expire=False, repo_json_updates=None",
        "Move a repo's repodata into place and mark it READY.",
        handler!(repos::host_repo_done),
    );
    r.add(
        "host.newBuildRoot",
        "repo, arch, task_id=None, ctype='chroot'",
        "Record a buildroot using a repo.",
        handler!(repos::host_new_buildroot),
    );
    r.add(
        "host.setBuildRootState",
        "brootid, state, task_id=None",
        "Change a buildroot's state.",
        handler!(repos::host_set_buildroot_state),
    );
    r.add(
        "host.setBuildRootList",
        "brootid, rpmlist, task_id=None",
        "Record the packages a new buildroot was populated with.",
        handler!(buildroots::host_set_list),
    );
    r.add(
        "host.updateBuildRootList",
        "brootid, rpmlist, task_id=None",
        "Record packages added to a buildroot while it builds.",
        handler!(buildroots::host_update_list),
    );
    r.add(
        "getBuildroot",
        "buildrootID, strict=False",
        "One buildroot's record, as listBuildroots shows it.",
        handler!(buildroots::get_buildroot),
    );
    r.add(
        "host.assertPolicy",
        "name, data, default='deny'",
        "Raise ActionNotAllowed unless the named policy allows the data.",
        handler!(policy::assert_policy),
    );
    r.add(
        "host.checkPolicy",
        "name, data, default='deny', strict=False",
        "[allowed, reason] of the named policy for the data.",
        handler!(policy::check_policy),
    );
    r.add(
        "host.evalPolicy",
        "name, data",
        "The action the named policy gives for the data.",
        handler!(policy::eval_policy),
    );
    r.add(
        "host.tagNotification",
        "is_successful, tag_id, from_id, build_id, user_id, ignore_success=False, failure_msg=''",
        "Record the outcome of a tag operation for its owner.",
        handler!(host_api::tag_notification),
    );
    r.add(
        "makeTask",
        "*args, **opts",
        "[admin] Create an arbitrary task: makeTask(method, arglist, channel=, priority=, arch=).",
        handler!(tasks::make_task),
    );
    r.add(
        "restartHosts",
        "priority=5, options=None",
        "[host] Restart enabled hosts: a restartHosts task (options: channel, arches, timeout).",
        handler!(tasks::restart_hosts),
    );
    r.add(
        "taskFinished",
        "taskId",
        "True if the task is CLOSED, CANCELED or FAILED.",
        handler!(tasks::task_finished),
    );
    r.add(
        "getAverageBuildDuration",
        "package, age=None",
        "Average seconds of a package's completed builds (over the last `age` months).",
        handler!(builds::get_average_build_duration),
    );
    r.add(
        "getNextRelease",
        "build_info, incr=1",
        "The next release for a package's name and version.",
        handler!(builds::get_next_release),
    );
    r.add(
        "getLatestRPMS",
        "tag, package=None, arch=None, event=None, rpmsigs=False, type=None, draft=None",
        "[rpms, builds] of the latest builds in a tag, through inheritance.",
        handler!(builds::get_latest_rpms),
    );
    r.add(
        "listTaggedRPMS",
        "tag, event=None, inherit=False, latest=False, package=None, arch=None, rpmsigs=False, owner=None, type=None, strict=True, extra=True, draft=None",
        "[rpms, builds] of the builds tagged in a tag.",
        handler!(builds::list_tagged_rpms),
    );
    groups::register(&mut r);
    tagging::register(&mut r);
    channels::register(&mut r);
    dist_repo::register(&mut r);
    volumes::register(&mut r);
    users::register(&mut r);
    notifications::register(&mut r);
    signatures::register(&mut r);
    imports::register(&mut r);
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_builds_with_valid_signatures() {
        let r = super::registry();
        assert!(r.len() > 60);
        let m = r.get("getTag").unwrap();
        assert_eq!(m.sig.params.len(), 4);
        assert!(r.get("nosuch").is_none());
    }
}
