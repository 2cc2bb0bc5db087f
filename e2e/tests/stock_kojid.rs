//! A mixed farm: the stock kojid (Koji's own builder daemon, from a Koji source tree) logs in
//! to a kkoji hub with a host certificate from the farm CA and runs the tasks an admin or
//! kojira gives it: `koji make-task sleep 1`, a `newRepo` (with its `createrepo` subtask)
//! whose repo becomes READY and readable under the topdir, and `koji restart-hosts`, after
//! which kojid has re-executed itself and verified it.
//!
//! kojid is not on PyPI; the test runs when `KOJI_SRC` names a checkout of
//! koji-project/koji (`KOJI_SRC/builder/kojid`), and says plainly that it was skipped
//! otherwise. `scripts/ensure-deps.sh` installs what kojid imports (Debian's python3-dnf,
//! -librepo, -cheetah; python-multilib from PyPI into `.venv`) when `KOJI_SRC` is set.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kkoji_e2e::Farm;
use kkoji_e2e::builds::{field, taskinfo, wait_for};
use kkoji_e2e::cli::venv_dir;

kkoji_e2e::isolated_main!(stock_kojid_runs_sleep_and_new_repo_tasks);

const LONG: Duration = Duration::from_secs(240);

/// The Koji source tree, or why the test cannot run.
fn koji_src() -> Result<PathBuf, String> {
    let Some(src) = std::env::var_os("KOJI_SRC") else {
        return Err("KOJI_SRC is not set (point it at a koji-project/koji checkout)".into());
    };
    let src = PathBuf::from(src);
    if !src.join("builder/kojid").is_file() {
        return Err(format!("{} has no builder/kojid", src.display()));
    }
    Ok(src)
}

/// kojid running in a process group of its own; killed with its group when dropped.
struct Kojid {
    child: Child,
    log: PathBuf,
}

impl Kojid {
    fn log_tail(&self) -> String {
        let text = String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Kojid {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on the process group this test created for kojid.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

fn start_kojid(farm: &Farm, src: &Path, name: &str) -> Kojid {
    farm.koji(&["add-host", name, "x86_64", "noarch"])
        .ok()
        .stdout_has(&format!("{name} added: id "));
    farm.koji(&["add-host-to-channel", name, "createrepo"]).ok();
    let ca = kkoji_certs::load_ca(&farm.ca_dir()).expect("load the farm CA");
    let issued = ca.issue_host(name, 30).expect("issue the host certificate");
    let cert =
        kkoji_certs::write_user_bundle(&farm.ca_dir(), kkoji_certs::CertKind::Host, name, &issued)
            .expect("write the host certificate");
    let dir = farm.work_dir(&format!("kojid-{name}"));
    for d in ["work", "mock"] {
        fs::create_dir_all(dir.join(d)).expect("kojid directories");
    }
    // kojid scans mock's config directory for buildroots at every cycle (a builder host has
    // mock installed); it only needs to exist
    fs::create_dir_all("/etc/mock/koji").expect("create /etc/mock/koji (kojid needs it)");
    let topurl = farm
        .conf_value("topurl")
        .expect("topurl in the farm's koji.conf");
    let conf = format!(
        "[kojid]\nserver = {}\ntopurl = {topurl}\ntopdir = {}\nworkdir = {}\nmockdir = {}\n\
         cert = {}\nserverca = {}\nsleeptime = 1\nmaxjobs = 4\nminspace = 1\n\
         use_createrepo_c = True\n",
        farm.server_url(),
        farm.topdir().display(),
        dir.join("work").display(),
        dir.join("mock").display(),
        cert.display(),
        farm.ca_cert().display(),
    );
    let conf_path = dir.join("kojid.conf");
    fs::write(&conf_path, conf).expect("write kojid.conf");
    let log = dir.join("kojid.log");
    let out = fs::File::create(&log).expect("kojid log");
    let err = out.try_clone().expect("kojid log");
    // kojid takes no task while the 1-minute load average exceeds 4 per CPU; the test
    // binaries and builds running beside it on a 2-core machine reach that, and the load
    // rule is not what this test is about: a sitecustomize pins that one reading to 0, in
    // kojid and in the kojid that a restart task re-executes
    let site = dir.join("site");
    fs::create_dir_all(&site).expect("kojid site directory");
    fs::write(
        site.join("sitecustomize.py"),
        "import os\nos.getloadavg = lambda: (0.0, 0.0, 0.0)\n",
    )
    .expect("write sitecustomize.py");
    // a restart re-executes kojid as its own program (`os.execv(argv[0])`): installed, as a
    // package would, with a #! line naming the venv's python instead of /usr/bin/python2
    let text = fs::read_to_string(src.join("builder/kojid")).expect("read kojid");
    let body = text.split_once('\n').map_or("", |(_, rest)| rest);
    let exe = dir.join("kojid");
    fs::write(
        &exe,
        format!("#!{}\n{body}", venv_dir().join("bin/python").display()),
    )
    .expect("install kojid");
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).expect("chmod kojid");
    let child = Command::new(&exe)
        .args(["--fg", "--force-lock", "--verbose", "-c"])
        .arg(&conf_path)
        .env(
            "PYTHONPATH",
            format!("{}:{}", site.display(), src.display()),
        )
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .expect("start kojid");
    Kojid { child, log }
}

/// Waits until task `id` is closed; fails with kojid's log if it fails or never finishes.
fn wait_closed(farm: &Farm, kojid: &Kojid, id: i64, what: &str) {
    wait_for(what, LONG, || {
        let out = taskinfo(farm, id);
        match field(&out, "State").as_deref() {
            Some("closed") => Ok(()),
            Some("failed") | Some("canceled") => panic!(
                "{what}: task {id} ended badly:\n{out}\nkojid log:\n{}",
                kojid.log_tail()
            ),
            other => Err(format!("state {other:?}")),
        }
    });
}

fn stock_kojid_runs_sleep_and_new_repo_tasks() {
    let src = match koji_src() {
        Ok(s) => s,
        Err(why) => {
            eprintln!("SKIPPED stock_kojid_runs_sleep_and_new_repo_tasks: {why}");
            return;
        }
    };
    let farm = Farm::start_with(&["--no-builder"]);
    let kojid = start_kojid(&farm, &src, "stock-kojid");

    // an admin's arbitrary task
    let out = farm.koji(&["make-task", "sleep", "1"]).ok();
    let id: i64 = out
        .stdout
        .trim()
        .strip_prefix("Created task id ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("make-task printed no task id:\n{out}"));
    wait_closed(&farm, &kojid, id, "the sleep task");
    let info = taskinfo(&farm, id);
    assert_eq!(field(&info, "Type").as_deref(), Some("sleep"), "{info}");
    assert_eq!(
        field(&info, "Host").as_deref(),
        Some("stock-kojid"),
        "{info}"
    );

    // a repo for a tag, made by kojid's newRepo and createrepo handlers
    farm.koji(&["add-tag", "kojid-build", "--arches", "x86_64"])
        .ok();
    // koji 1.36 files a repo request; the hub's queue turns it into a newRepo task
    farm.koji(&["regen-repo", "--nowait", "kojid-build"])
        .ok()
        .stdout_has("Got request:");
    let repo = wait_for("a READY repo of kojid-build", LONG, || {
        let out = farm.koji(&["call", "--json-output", "getRepo", "kojid-build"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        if v["state"].as_i64() == Some(1) {
            Ok(v)
        } else {
            Err(format!("{}\nkojid log:\n{}", out.stdout, kojid.log_tail()))
        }
    });
    let repo_task = repo["task_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("repo without its task: {repo}"));
    wait_closed(&farm, &kojid, repo_task, "the newRepo task");
    let info = taskinfo(&farm, repo_task);
    assert_eq!(field(&info, "Type").as_deref(), Some("newRepo"), "{info}");
    assert_eq!(
        field(&info, "Host").as_deref(),
        Some("stock-kojid"),
        "{info}"
    );
    let repo_id = repo["id"].as_i64().expect("repo id");
    let repomd = farm.topdir().join(format!(
        "repos/kojid-build/{repo_id}/x86_64/repodata/repomd.xml"
    ));
    let text = fs::read_to_string(&repomd).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nkojid log:\n{}",
            repomd.display(),
            kojid.log_tail()
        )
    });
    assert!(text.contains("<repomd"), "{text}");

    // `koji restart-hosts`: kojid restarts itself (restart), then proves it did
    // (restartVerify: its new start time is after the restart task's completion)
    let out = farm.koji_in_for(
        &farm.work_dir("restart-hosts"),
        LONG,
        &["restart-hosts", "--wait"],
    );
    assert!(
        out.status == Some(0) && !out.timed_out,
        "restart-hosts failed:\n{out}\nkojid log:\n{}",
        kojid.log_tail()
    );
    for method in ["restartHosts", "restart", "restartVerify"] {
        let out = farm
            .koji(&[
                "call",
                "--json-input",
                "--json-output",
                "listTasks",
                &format!("{{\"method\": \"{method}\"}}"),
            ])
            .ok();
        let tasks: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        let states: Vec<i64> = tasks
            .as_array()
            .map(|a| a.iter().filter_map(|t| t["state"].as_i64()).collect())
            .unwrap_or_default();
        assert_eq!(
            states,
            vec![2],
            "one closed {method} task expected:\n{}\nkojid log:\n{}",
            out.stdout,
            kojid.log_tail()
        );
    }
}
