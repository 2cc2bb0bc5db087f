//! What kkoji does not do, said plainly. The stock CLI has commands for maven, Windows,
//! image and kiwi builds, wrapper RPMs, content generator imports, chain builds from SCM,
//! draft builds and the commands of Koji's hub plugins (side tags, driver update disks,
//! runroot, saving failed buildroots); against kkoji each of them gets a fault naming what is not supported, instead of
//! `Invalid method`, and the methods stay in `_listapi` (the CLI's own checks and scripts
//! that walk the API see them with Koji's signatures).

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::handler;
use crate::registry::Registry;
use crate::signature::Args;
use koji_protocol::Value;

const MAVEN: &str = "kkoji does not build maven artifacts";
const WINDOWS: &str = "kkoji does not build Windows artifacts";
const IMAGES: &str = "kkoji does not build images";
const KIWI: &str = "kkoji does not build kiwi images";
const WRAPPER: &str = "kkoji does not build wrapper RPMs";
const ARCHIVES: &str = "kkoji does not import maven, Windows or image archives";
const CG: &str = "kkoji does not import content generator builds";
const SIDETAG: &str = "kkoji does not make side tags (Koji's sidetag hub plugin): an admin \
                       makes a tag and target with add-tag and add-target";
const DUD: &str = "kkoji does not build driver update disks (Koji's dud hub plugin)";
const RUNROOT: &str = "kkoji does not run commands in buildroots (Koji's runroot hub plugin)";
const SAVE_FAILED_TREE: &str =
    "kkoji does not save failed buildroots (Koji's save_failed_tree hub plugin)";
const DRAFT: &str = "kkoji does not make draft builds, so there is none to promote";
const CHAIN: &str = "kkoji does not run chain builds: it has no SCM checkout yet, and \
                     chain-build takes only SCM URLs; build each SRPM with `koji build`, then \
                     `koji wait-repo --build` before the next";

fn refuse(c: &Ctx, what: &str) -> HResult<Value> {
    tracing::info!(method = c.method, "refused: {what}");
    Err(HubError::generic(what))
}

async fn maven(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, MAVEN)
}

async fn windows(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, WINDOWS)
}

/// buildImage serves spin-livecd, spin-appliance and spin-livemedia: name the kind asked.
async fn build_image(c: &mut Ctx, a: Args) -> HResult<Value> {
    let kind = match a.val(5).as_str() {
        Some("livecd") => "kkoji does not build live CD images",
        Some("appliance") => "kkoji does not build appliance images",
        Some("livemedia") => "kkoji does not build live media images",
        _ => IMAGES,
    };
    refuse(c, kind)
}

async fn images(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, IMAGES)
}

async fn kiwi(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, KIWI)
}

async fn wrapper(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, WRAPPER)
}

async fn archives(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, ARCHIVES)
}

async fn content_generators(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, CG)
}

async fn sidetag(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, SIDETAG)
}

async fn dud(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, DUD)
}

async fn runroot(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, RUNROOT)
}

async fn save_failed_tree(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, SAVE_FAILED_TREE)
}

async fn draft(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, DRAFT)
}

async fn chain(c: &mut Ctx, _a: Args) -> HResult<Value> {
    refuse(c, CHAIN)
}

pub fn register(r: &mut Registry) {
    for (name, sig) in [
        ("createSideTag", "basetag, debuginfo=False, suffix=None"),
        ("removeSideTag", "sidetag"),
        ("listSideTags", "basetag=None, user=None, queryOpts=None"),
        (
            "editSideTag",
            "sidetag, debuginfo=None, rpm_macros=None, remove_rpm_macros=None, extra=None, remove_extra=None",
        ),
    ] {
        r.add(
            name,
            sig,
            "Refused: kkoji does not make side tags.",
            handler!(sidetag),
        );
    }
    r.add(
        "dudBuild",
        "dud_name, dud_version, arches, target, pkg_list, optional_arches=None, scratch=False, alldeps=False, scmurl=None, priority=None",
        "Refused: kkoji does not build driver update disks.",
        handler!(dud),
    );
    r.add(
        "runroot",
        "tagInfo, arch, command, channel=None, **opts",
        "Refused: kkoji does not run commands in buildroots.",
        handler!(runroot),
    );
    r.add(
        "saveFailedTree",
        "buildrootID, full=False, **opts",
        "Refused: kkoji does not save failed buildroots.",
        handler!(save_failed_tree),
    );
    r.add(
        "promoteBuild",
        "build, force=False",
        "Refused: kkoji does not make draft builds.",
        handler!(draft),
    );
    r.add(
        "mavenBuild",
        "url, target, opts=None, priority=None, channel='maven'",
        "Refused: kkoji does not build maven artifacts.",
        handler!(maven),
    );
    r.add(
        "chainMaven",
        "builds, target, opts=None, priority=None, channel='maven'",
        "Refused: kkoji does not build maven artifacts.",
        handler!(maven),
    );
    r.add(
        "createMavenBuild",
        "build_info, maven_info",
        "Refused: kkoji does not import maven archives.",
        handler!(archives),
    );
    r.add(
        "winBuild",
        "vm, url, target, opts=None, priority=None, channel='vm'",
        "Refused: kkoji does not build Windows artifacts.",
        handler!(windows),
    );
    r.add(
        "createWinBuild",
        "build_info, win_info",
        "Refused: kkoji does not import Windows archives.",
        handler!(archives),
    );
    r.add(
        "buildImage",
        "name, version, arch, target, ksfile, img_type, opts=None, priority=None",
        "Refused: kkoji does not build live CD, appliance or live media images.",
        handler!(build_image),
    );
    r.add(
        "buildImageOz",
        "name, version, arches, target, inst_tree, opts=None, priority=None",
        "Refused: kkoji does not build images.",
        handler!(images),
    );
    r.add(
        "buildImageIndirection",
        "opts=None, priority=None",
        "Refused: kkoji does not build images.",
        handler!(images),
    );
    r.add(
        "createImageBuild",
        "build_info",
        "Refused: kkoji does not import image archives.",
        handler!(archives),
    );
    r.add(
        "importArchive",
        "filepath, buildinfo, type, typeInfo",
        "Refused: kkoji does not import maven, Windows or image archives.",
        handler!(archives),
    );
    r.add(
        "kiwiBuild",
        "target, arches, desc_url, desc_path, optional_arches=None, profile=None, scratch=False, priority=None, make_prep=False, repos=None, release=None, type=None, type_attr=None, result_bundle_name_format=None, use_buildroot_repo=True, version=None, repo_releasever=None",
        "Refused: kkoji does not build kiwi images.",
        handler!(kiwi),
    );
    r.add(
        "wrapperRPM",
        "build, url, target, priority=None, channel='maven', opts=None",
        "Refused: kkoji does not build wrapper RPMs.",
        handler!(wrapper),
    );
    r.add(
        "CGImport",
        "metadata, directory, token=None",
        "Refused: kkoji does not import content generator builds.",
        handler!(content_generators),
    );
    r.add(
        "CGInitBuild",
        "cg, data",
        "Refused: kkoji does not import content generator builds.",
        handler!(content_generators),
    );
    r.add(
        "grantCGAccess",
        "user, cg, create=False",
        "Refused: kkoji does not import content generator builds.",
        handler!(content_generators),
    );
    r.add(
        "revokeCGAccess",
        "user, cg",
        "Refused: kkoji does not import content generator builds.",
        handler!(content_generators),
    );
    r.add(
        "chainBuild",
        "srcs, target, opts=None, priority=None, channel=None",
        "Refused: kkoji has no SCM checkout yet, and chain builds take SCM URLs.",
        handler!(chain),
    );
}
