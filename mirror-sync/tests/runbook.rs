//! docs/runbooks/external-repos.md, run: its mrepo.conf (pointed at a loopback copy of
//! the upstream layout) and its TOML config load, and every `kkoji-mirror-sync` command it
//! shows (but `prune` of a repo that does not exist here) succeeds in order.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn runbook() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/runbooks/external-repos.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn block(md: &str, lang: &str) -> String {
    let start = md
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no ```{lang} block"));
    let rest = &md[start + lang.len() + 4..];
    rest[..rest.find("```").unwrap()].to_owned()
}

#[test]
fn runbook_commands_work_as_written() {
    let md = runbook();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // upstream with the runbook's URL layout
    let os = Upstream::new(
        root.join("up/pub/fedora/linux/releases/40/Everything/x86_64/os"),
        false,
    );
    os.set(&["alpha-1.0", "beta-1.0"]);
    let updates = Upstream::new(
        root.join("up/pub/fedora/linux/updates/40/Everything/x86_64"),
        false,
    );
    updates.set(&["alpha-1.1"]);
    let server = Server::start(&root.join("up"));

    let www = root.join("external-repos/www");
    let ini = block(&md, "ini")
        .replace("http://dl.fedoraproject.org/", &server.url(""))
        .replace("/mnt/koji/external-repos/www", &www.display().to_string())
        .replace(
            "/mnt/koji/external-repos/src",
            &root.join("src").display().to_string(),
        );
    let conf = root.join("mrepo.conf");
    std::fs::write(&conf, ini).unwrap();

    // the TOML example loads as written
    let toml = root.join("mirror-sync.toml");
    std::fs::write(&toml, block(&md, "toml")).unwrap();
    let o = Command::new(bin())
        .arg("-c")
        .arg(&toml)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(
            "fedora40-x86_64-os\t/mnt/koji/external-repos/www/fedora40-x86_64/RPMS.os"
        ),
        "{}",
        text(&o)
    );

    let mut ran = 0;
    for line in md.lines() {
        let Some(cmd) = line.trim_start().strip_prefix("kkoji-mirror-sync ") else {
            continue;
        };
        if !line.starts_with("    ") {
            continue;
        }
        let cmd = cmd.split('#').next().unwrap().trim();
        let args: Vec<&str> = cmd.split_whitespace().collect();
        assert_eq!(&args[..2], ["-c", "/etc/kkoji/mirror-sync.toml"], "{line}");
        if args[2] == "prune" {
            continue;
        }
        let o = Command::new(bin())
            .arg("--mrepo-conf")
            .arg(&conf)
            .args(&args[2..])
            .env("KKOJI_LOG", "warn")
            .output()
            .unwrap();
        assert!(o.status.success(), "{line}:\n{}", text(&o));
        ran += 1;
    }
    assert!(ran >= 8, "only {ran} commands found in the runbook");
    let dest = www.join("fedora40-x86_64/RPMS.os");
    assert_eq!(
        repoquery(&dest),
        ["alpha-1.0-1.noarch", "beta-1.0-1.noarch"]
    );
    assert_eq!(
        repoquery(&www.join("fedora40-x86_64/RPMS.updates")),
        ["alpha-1.1-1.noarch"]
    );
    let snaps: Vec<_> = std::fs::read_dir(www.join("fedora40-x86_64/RPMS.os.snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(snaps.len(), 1);
    assert!(snaps[0].ends_with("-ga"), "{snaps:?}");
}
