//! Buildroot repos against the fake hub: a build waits for its repo request, the queued
//! `newRepo` runs `createrepo` per arch (real RPMs through kkoji-repodata, external repos
//! merged) and publishes with `host.repoDone`; `buildArch` registers a buildroot and
//! checks the SRPM's BuildRequires against the repo; failures say which file, URL or
//! dependency is at fault.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::fakehub::{ASSIGNED, CANCELED, CLOSED, FAILED, Task, is_final, repo_dir};
use common::farm::{Farm, LONG, strs};
use common::{Spec, make_rpm};
use koji_protocol::{Fault, Struct, Value, join_kwargs, kstruct};

/// Builds `<name>-1.0-1.noarch.rpm` and puts it where an import would:
/// `packages/<name>/1.0/1/noarch/`. Returns its pkglist line.
fn import_rpm(farm: &Farm, name: &str, extra: &str) -> String {
    let arch_line = format!("BuildArch: noarch\n{extra}");
    let rpm = make_rpm(
        &farm.tmp.path().join(format!("rpm-{name}")),
        &Spec {
            name,
            arch_line: &arch_line,
            build: "true",
        },
    );
    let rel = format!("packages/{name}/1.0/1/noarch/{name}-1.0-1.noarch.rpm");
    let dst = farm.cfg.topdir.join(&rel);
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::copy(&rpm, &dst).unwrap();
    format!("toplink/{rel}")
}

fn task_by_method(farm: &Farm, method: &str) -> Vec<Task> {
    farm.hub
        .state
        .lock()
        .unwrap()
        .tasks
        .values()
        .filter(|t| t.method == method)
        .cloned()
        .collect()
}

fn fault(t: &Task) -> Fault {
    match &t.result {
        Some(Err(f)) => f.clone(),
        other => panic!("task {} ({}) did not fail: {other:?}", t.id, t.method),
    }
}

async fn wait_final(farm: &Farm, id: i64) -> Task {
    farm.hub
        .wait_for("the task to finish", LONG, |st| {
            st.tasks.get(&id).is_some_and(|t| is_final(t.state))
        })
        .await;
    farm.hub.task(id).unwrap()
}

fn scratch_build(farm: &Farm, src: &str) -> i64 {
    farm.hub.add_task(
        "build",
        vec![
            Value::from(src),
            Value::from("tgt"),
            kstruct! {"scratch" => true},
        ],
        ASSIGNED,
    )
}

fn read_repo_packages(dir: &Path) -> Vec<kkoji_repodata::PackageMeta> {
    kkoji_repodata::read_repo(dir).unwrap()
}

#[tokio::test]
async fn build_waits_for_a_new_repo_and_checks_build_requires() {
    let mut farm = Farm::new("").await;
    let dep = import_rpm(&farm, "kkojidep", "Provides: kkojidep-feature = 2.5");
    {
        let mut st = farm.hub.state.lock().unwrap();
        st.pkglist = vec![dep.clone()];
        st.blocklist = vec!["kkojiblocked".into()];
    }
    // something was tagged since repo 1: the build must wait for a new repo
    farm.hub.tag_changed();
    let src = farm.upload_srpm(&Spec {
        name: "kkojitest-needs",
        arch_line: "BuildArch: noarch\nBuildRequires: kkojidep >= 1.0\n\
BuildRequires: kkojidep-feature > 2\nBuildRequires: /usr/share/kkojidep/hello\n\
BuildRequires: (kkojidep or kkojinothere)",
        build: "true",
    });
    let parent = scratch_build(&farm, &src);
    farm.start();
    let p = wait_final(&farm, parent).await;
    assert_eq!(p.state, CLOSED, "{:?}", p.result);

    // the request queued a newRepo task in the repo queue's form; it made repo 2
    let req = &farm.hub.calls("repo.request")[0];
    assert_eq!(req.kwargs.get("min_event"), Some(&Value::from("last")));
    let newrepo = &task_by_method(&farm, "newRepo")[0];
    assert_eq!(newrepo.state, CLOSED, "{:?}", newrepo.result);
    let init = &farm.hub.calls("host.repoInit")[0];
    assert_eq!(init.params, vec![Value::Int(10)]);
    assert_eq!(init.kwargs.get("task_id"), Some(&Value::Int(newrepo.id)));
    assert_eq!(
        init.kwargs.get("opts"),
        Some(&kstruct! {"src" => false, "debuginfo" => false, "separate_src" => false})
    );
    assert!(init.kwargs.contains_key("event"));
    let Some(Ok(Value::Array(r))) = &newrepo.result else {
        panic!("newRepo result {:?}", newrepo.result);
    };
    assert_eq!(r[0], Value::Int(2));
    assert!(r[1].as_i64().is_some());

    // one createrepo per arch, with the previous READY repo as oldrepo
    let cr = &task_by_method(&farm, "createrepo")[0];
    assert_eq!(cr.parent, Some(newrepo.id));
    assert_eq!(cr.label.as_deref(), Some("x86_64"));
    assert_eq!(cr.arch, "noarch");
    assert_eq!(cr.params[..2], [Value::Int(2), Value::from("x86_64")]);
    assert_eq!(cr.params[2].get("id"), Some(&Value::Int(1)));
    let Some(Ok(res)) = &cr.result else {
        panic!("createrepo result {:?}", cr.result);
    };
    let up = format!("tasks/{0}/{0}", cr.id);
    assert_eq!(res.as_array().unwrap()[0], Value::from(up.as_str()));
    let files = strs(res.as_array().unwrap().get(1));
    assert!(files.contains(&"repomd.xml".to_owned()), "{files:?}");
    assert!(
        files.iter().any(|f| f.ends_with("-primary.xml.gz")),
        "{files:?}"
    );
    let done = &farm.hub.calls("host.repoDone")[0];
    assert_eq!(done.params[0], Value::Int(2));
    assert_eq!(done.params[1].get("x86_64"), Some(res));

    // the published repodata lists the tag's package through toplink
    let pkgs = read_repo_packages(&repo_dir(&farm.cfg.topdir, 2).join("x86_64"));
    assert_eq!(pkgs.len(), 1);
    assert_eq!(pkgs[0].name, "kkojidep");
    assert_eq!(pkgs[0].location_href, dep);

    // buildArch used repo 2 through a buildroot, expired at the end
    let ba = &task_by_method(&farm, "buildArch")[0];
    assert_eq!(ba.params[4], kstruct! {"repo_id" => 2});
    let brs = farm.hub.state.lock().unwrap().buildroots.clone();
    assert_eq!(brs.len(), 1);
    assert_eq!(brs[&1].repo_id, 2);
    assert_eq!(brs[&1].states, vec![0, 2, 3]);
    let Some(Ok(bres)) = &ba.result else {
        panic!("buildArch result {:?}", ba.result);
    };
    assert_eq!(bres.get("brootid"), Some(&Value::Int(1)));
    let root_log = strs(bres.get("logs"))
        .into_iter()
        .find(|l| l.ends_with("root.log"))
        .unwrap();
    let text = std::fs::read_to_string(farm.work_file(&root_log)).unwrap();
    for line in [
        "buildroot repo 2 (tb x86_64), 1 packages",
        "BuildRequires kkojidep >= 1.0: kkojidep-0:1.0-1.noarch",
        "BuildRequires kkojidep-feature > 2: kkojidep-0:1.0-1.noarch",
        "BuildRequires /usr/share/kkojidep/hello: kkojidep-0:1.0-1.noarch",
        "BuildRequires (kkojidep or kkojinothere): kkojidep-0:1.0-1.noarch",
    ] {
        assert!(text.contains(line), "{line:?} not in root.log:\n{text}");
    }
    // the createrepo task dir is gone; the metadata cache stays for the next repo
    assert!(
        !farm
            .cfg
            .work_dir
            .join("tasks")
            .join(cr.id.to_string())
            .exists()
    );
    assert!(farm.cfg.work_dir.join("repodata-cache").is_dir());
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn unmet_build_requires_fail_with_every_missing_one() {
    let mut farm = Farm::new("").await;
    let src = farm.upload_srpm(&Spec {
        name: "kkojitest-unmet",
        arch_line: "BuildArch: noarch\nBuildRequires: kkojimissing >= 2\n\
BuildRequires: /usr/bin/kkojinothere",
        build: "true",
    });
    let parent = scratch_build(&farm, &src);
    farm.start();
    let p = wait_final(&farm, parent).await;
    assert_eq!(p.state, FAILED);
    let ba = &task_by_method(&farm, "buildArch")[0];
    assert_eq!(ba.state, FAILED);
    let f = fault(ba);
    assert_eq!(f.code, 1005, "BuildError");
    let a = "nothing provides kkojimissing >= 2 needed by kkojitest-unmet-1.0-1.src (repo 1)";
    let b = "nothing provides /usr/bin/kkojinothere needed by kkojitest-unmet-1.0-1.src (repo 1)";
    assert!(
        f.string == format!("{a}; {b}") || f.string == format!("{b}; {a}"),
        "{}",
        f.string
    );
    assert_eq!(
        fault(&p).string,
        f.string,
        "the parent fails with the child's reason"
    );
    let brs = farm.hub.state.lock().unwrap().buildroots.clone();
    assert_eq!(brs[&1].states, vec![0, 2, 3], "expired after the failure");
    assert!(farm.hub.calls("host.moveBuildToScratch").is_empty());
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn new_repo_legacy_call_with_no_arches_makes_an_empty_repo() {
    let mut farm = Farm::new("").await;
    farm.hub.state.lock().unwrap().tag_arches = String::new();
    let kw: Struct = [("src".to_owned(), Value::Bool(true))]
        .into_iter()
        .collect();
    let id = farm.hub.add_task(
        "newRepo",
        join_kwargs(vec![Value::from("tb")], kw),
        ASSIGNED,
    );
    farm.start();
    let t = wait_final(&farm, id).await;
    assert_eq!(t.state, CLOSED, "{:?}", t.result);
    let Some(Ok(Value::Array(r))) = &t.result else {
        panic!("{:?}", t.result);
    };
    assert_eq!(r[0], Value::Int(2));
    let get_tag = &farm.hub.calls("getTag")[0];
    assert_eq!(get_tag.params, vec![Value::from("tb")]);
    let init = &farm.hub.calls("host.repoInit")[0];
    assert_eq!(init.kwargs.get("opts"), Some(&kstruct! {"src" => true}));
    assert_eq!(init.kwargs.get("task_id"), Some(&Value::Int(id)));
    assert!(!init.kwargs.contains_key("event"));
    let done = &farm.hub.calls("host.repoDone")[0];
    assert_eq!(
        done.params,
        vec![Value::Int(2), Value::Struct(Struct::new())]
    );
    assert!(task_by_method(&farm, "createrepo").is_empty());
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn bad_rpm_fails_createrepo_newrepo_and_the_waiting_build() {
    let mut farm = Farm::new("").await;
    let good = import_rpm(&farm, "kkojigood", "");
    let bad_rel = "packages/kkojibad/1/1/noarch/kkojibad-1-1.noarch.rpm";
    let bad = farm.cfg.topdir.join(bad_rel);
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, b"\xed\xab\xee\xdb this is not an rpm").unwrap();
    farm.hub.state.lock().unwrap().pkglist = vec![good, format!("toplink/{bad_rel}")];
    farm.hub.tag_changed();
    let src = farm.upload_srpm(&Spec {
        name: "kkojitest-badrepo",
        arch_line: "BuildArch: noarch",
        build: "true",
    });
    let parent = scratch_build(&farm, &src);
    farm.start();
    let p = wait_final(&farm, parent).await;
    assert_eq!(p.state, FAILED);

    let cr = &task_by_method(&farm, "createrepo")[0];
    let cf = fault(cr);
    assert!(cf.string.contains(bad_rel), "{}", cf.string);
    assert!(cf.string.contains("not a usable RPM"), "{}", cf.string);
    let nr = &task_by_method(&farm, "newRepo")[0];
    assert_eq!(fault(nr).string, cf.string);
    assert!(farm.hub.calls("host.repoDone").is_empty());
    let pf = fault(&p);
    assert_eq!(pf.code, 1005);
    assert_eq!(
        pf.string,
        format!(
            "no repo for tb: newRepo task {} failed: {}",
            nr.id, cf.string
        )
    );
    assert!(task_by_method(&farm, "buildArch").is_empty());
    farm.stop().await.unwrap();
}

/// A local yum repo `<dir>/x86_64/` with one package, for a `file://` external repo.
fn external_repo(farm: &Farm, name: &str) -> PathBuf {
    let rpm = make_rpm(
        &farm.tmp.path().join(format!("ext-{name}")),
        &Spec {
            name,
            arch_line: "BuildArch: noarch",
            build: "true",
        },
    );
    let base = farm.tmp.path().join(format!("extrepo-{name}"));
    let dir = base.join("x86_64");
    std::fs::create_dir_all(dir.join("Packages")).unwrap();
    std::fs::copy(&rpm, dir.join("Packages").join(rpm.file_name().unwrap())).unwrap();
    kkoji_repodata::create_repo(&dir, &Default::default(), &Default::default()).unwrap();
    base
}

fn queue_new_repo(farm: &Farm) -> i64 {
    let kw: Struct = [
        ("opts".to_owned(), kstruct! {"src" => false}),
        ("event".to_owned(), Value::Int(5000)),
    ]
    .into_iter()
    .collect();
    farm.hub.add_task(
        "newRepo",
        join_kwargs(vec![kstruct! {"id" => 10, "name" => "tb"}], kw),
        ASSIGNED,
    )
}

#[tokio::test]
async fn external_repos_are_merged_for_their_arches() {
    let mut farm = Farm::new("repo_compression = \"zstd\"").await;
    let own = import_rpm(&farm, "kkojiown", "");
    let ext = external_repo(&farm, "kkojiext");
    {
        let mut st = farm.hub.state.lock().unwrap();
        st.pkglist = vec![own.clone()];
        st.external_repos = vec![
            kstruct! {
                "external_repo_id" => 1, "external_repo_name" => "ext1",
                "url" => format!("file://{}/$arch/", ext.display()), "merge_mode" => "koji",
                "arches" => None::<&str>, "priority" => 5, "tag_id" => 10, "tag_name" => "tb",
            },
            // not for x86_64: never contacted
            kstruct! {
                "external_repo_id" => 2, "external_repo_name" => "ext-arm",
                "url" => "http://127.0.0.1:9/nowhere/$arch/", "merge_mode" => "koji",
                "arches" => "aarch64", "priority" => 10, "tag_id" => 10, "tag_name" => "tb",
            },
        ];
    }
    let id = queue_new_repo(&farm);
    farm.start();
    let t = wait_final(&farm, id).await;
    assert_eq!(t.state, CLOSED, "{:?}", t.result);
    let gel = &farm.hub.calls("getExternalRepoList")[0];
    assert_eq!(gel.params, vec![Value::Int(10)]);
    assert!(gel.kwargs.get("event").and_then(Value::as_i64).is_some());
    // the queue form names the tag: no lookup
    assert!(farm.hub.calls("getTag").is_empty());

    let dir = repo_dir(&farm.cfg.topdir, 2).join("x86_64");
    let md = std::fs::read_to_string(dir.join("repodata/repomd.xml")).unwrap();
    assert!(md.contains("primary.xml.zst"), "{md}");
    let mut pkgs = read_repo_packages(&dir);
    pkgs.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["kkojiext", "kkojiown"]);
    assert_eq!(pkgs[1].location_href, own);
    assert_eq!(pkgs[1].location_base, None);
    let base = pkgs[0].location_base.as_deref().unwrap_or_default();
    assert!(
        base.trim_end_matches('/')
            .ends_with(&format!("{}/x86_64", ext.display())),
        "{base}"
    );
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn unreachable_external_repo_names_the_url() {
    let mut farm = Farm::new("external_repo_timeout_secs = 5").await;
    farm.hub.state.lock().unwrap().external_repos = vec![kstruct! {
        "external_repo_id" => 1, "external_repo_name" => "gone",
        "url" => "http://127.0.0.1:9/gone/$arch/", "merge_mode" => "koji",
        "arches" => "", "priority" => 5, "tag_id" => 10, "tag_name" => "tb",
    }];
    let id = queue_new_repo(&farm);
    farm.start();
    let t = wait_final(&farm, id).await;
    assert_eq!(t.state, FAILED);
    let f = fault(&t);
    assert!(
        f.string
            .starts_with("cannot read external repo gone at http://127.0.0.1:9/gone/x86_64/:"),
        "{}",
        f.string
    );
    assert!(farm.hub.calls("host.repoDone").is_empty());
    farm.stop().await.unwrap();
}

#[tokio::test]
async fn repo_wait_times_out_and_cancel_stops_the_wait() {
    let mut farm = Farm::new("repo_wait_timeout_secs = 2").await;
    {
        let mut st = farm.hub.state.lock().unwrap();
        st.hold_repo_tasks = true;
    }
    farm.hub.tag_changed();
    let src = farm.upload_srpm(&Spec {
        name: "kkojitest-wait",
        arch_line: "BuildArch: noarch",
        build: "true",
    });
    let parent = scratch_build(&farm, &src);
    farm.start();
    let p = wait_final(&farm, parent).await;
    assert_eq!(p.state, FAILED);
    let f = fault(&p);
    assert_eq!(
        f.string,
        "no repo for tb: still not ready after 2s (repo request 1)"
    );
    farm.stop().await.unwrap();

    // a canceled build stops waiting and reports nothing
    let mut farm = Farm::new("").await;
    farm.hub.state.lock().unwrap().hold_repo_tasks = true;
    farm.hub.tag_changed();
    let src = farm.upload_srpm(&Spec {
        name: "kkojitest-wait2",
        arch_line: "BuildArch: noarch",
        build: "true",
    });
    let parent = scratch_build(&farm, &src);
    farm.start();
    farm.hub
        .wait_for("the repo request", LONG, |st| {
            st.calls.iter().any(|c| c.method == "repo.checkRequest")
        })
        .await;
    farm.hub.cancel(parent);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(farm.hub.task(parent).unwrap().state, CANCELED);
    assert!(farm.hub.calls("host.failTask").is_empty());
    assert!(farm.hub.calls("host.closeTask").is_empty());
    farm.stop().await.unwrap();
}
