//! Fixtures for the integration tests: real RPMs built with rpmbuild, and runners for
//! createrepo_c and dnf. Tools are required, not mocked: a missing one fails the test
//! with the Debian package to install (scripts/ensure-deps.sh should install them).

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn require_tool(tool: &str, debian_package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is needed by this test: apt-get install -y {debian_package}"
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn changelog(entries: &[(&str, &str, &str)]) -> String {
    let mut s = String::from("%changelog\n");
    for (date, who, text) in entries {
        let _ = write!(s, "* {date} {who}\n- {text}\n\n");
    }
    s
}

/// The test packages: one arch package exercising every dependency kind, the primary file
/// filter, libc filtering and a long changelog; a noarch one; one with UTF-8 everywhere;
/// and one built with its source RPM.
fn specs() -> Vec<(&'static str, String)> {
    // 12 entries (newest first, as rpm wants), three on the same day: createrepo_c keeps
    // the newest 10 and nudges equal dates apart.
    let mut cl: Vec<(String, String, String)> = Vec::new();
    let days = [
        "Fri Mar 15 2024",
        "Fri Mar 15 2024",
        "Fri Mar 15 2024",
        "Thu Mar 14 2024",
        "Wed Mar 13 2024",
        "Tue Mar 12 2024",
        "Mon Mar 11 2024",
        "Sun Mar 10 2024",
        "Sat Mar 09 2024",
        "Fri Mar 08 2024",
        "Thu Mar 07 2024",
        "Wed Mar 06 2024",
    ];
    for (i, d) in days.iter().enumerate() {
        cl.push((
            d.to_string(),
            format!("Tester {i} <t{i}@example.com> - 2:1.2-{}", 12 - i),
            format!("change number {}", 12 - i),
        ));
    }
    let cl: Vec<(&str, &str, &str)> = cl
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    let alpha = format!(
        r#"Name: alpha
Version: 1.2
Release: 3
Epoch: 2
Summary: Alpha test package & <friends>
License: MIT
URL: https://example.com/alpha?x=1&y=2
Group: Applications/Test
Vendor: kkoji tests
Packager: Tester <tester@example.com>
Provides: alpha-api = 1.2
Provides: alpha-tool
Provides: alpha-ver = 3:4.5-6
Requires: beta >= 1.0-1
Requires: alpha-tool
Requires: /usr/bin/alpha
Requires: /usr/share/alpha/data.txt
Requires: libc.so.6(GLIBC_2.2.5)(64bit)
Requires: libc.so.6(GLIBC_2.14)(64bit)
Requires: libc.so.6()(64bit)
Requires(pre): /bin/sh
Requires(post): coreutils
Requires(preun): findutils
Recommends: gamma
Suggests: delta < 3
Supplements: epsilon
Enhances: zeta > 0:1
Obsoletes: alpha-old < 1.0
Conflicts: alpha-bad
Conflicts: alpha-worse <= 2:0.9-1
%description
Alpha is a test package.
It has two lines & "quotes" <tags>.
%install
mkdir -p %{{buildroot}}/usr/bin %{{buildroot}}/etc/alpha %{{buildroot}}/usr/share/alpha %{{buildroot}}/usr/lib %{{buildroot}}/usr/sbin
printf '#!/bin/sh\necho alpha\n' > %{{buildroot}}/usr/bin/alpha
chmod 755 %{{buildroot}}/usr/bin/alpha
echo conf > %{{buildroot}}/etc/alpha.conf
echo conf > %{{buildroot}}/etc/alpha/extra.conf
echo data > %{{buildroot}}/usr/share/alpha/data.txt
echo mail > %{{buildroot}}/usr/lib/sendmail
echo d > %{{buildroot}}/usr/sbin/alphad
%pre
true
%post
true
%preun
true
%files
/usr/bin/alpha
/usr/sbin/alphad
%config /etc/alpha.conf
%dir /etc/alpha
/etc/alpha/extra.conf
%dir /usr/share/alpha
/usr/share/alpha/data.txt
/usr/lib/sendmail
%ghost /var/log/alpha.log
%ghost /usr/bin/alpha-ghost
{}"#,
        changelog(&cl)
    );
    let beta = r#"Name: beta
Version: 1.0
Release: 1
Summary: Beta
License: GPL
BuildArch: noarch
Provides: beta-api(x86-64) = 1.0
Obsoletes: beta-legacy
%description
Beta.
%install
mkdir -p %{buildroot}/usr/sbin %{buildroot}/opt/beta/bin
echo b > %{buildroot}/usr/sbin/betad
echo b > %{buildroot}/opt/beta/bin/tool
%files
/usr/sbin/betad
/opt/beta/bin/tool
"#
    .to_string();
    let uni = format!(
        "Name: uni\nVersion: 1\nRelease: 1\nSummary: Ünïcödé summary ✓\nLicense: MIT\nBuildArch: noarch\n\
         URL: http://x/?a=1&b=2\n%description\nDéscription with\ttab and ✓.\n\
         %install\nmkdir -p %{{buildroot}}/usr/bin\necho > \"%{{buildroot}}/usr/bin/tést\"\n\
         %files\n/usr/bin/tést\n{}",
        changelog(&[(
            "Mon Jan 01 2024",
            "Tomáš Müller <tm@example.com> - 1-1",
            "chängé \"quoted\" <tag> & amp",
        )])
    );
    let gamma = r#"Name: gamma
Version: 0.9
Release: 2.fc40
Epoch: 0
Summary: Gamma, with a source package
License: BSD
BuildArch: noarch
Provides: gamma(abi) = 0.9
%description
Gamma.
%install
mkdir -p %{buildroot}/usr/share/gamma
echo g > %{buildroot}/usr/share/gamma/g.txt
%files
/usr/share/gamma
"#
    .to_string();
    vec![
        ("alpha", alpha),
        ("beta", beta),
        ("uni", uni),
        ("gamma", gamma),
    ]
}

/// Builds a spec into `out` (binary RPMs under `out/<arch>/`, source RPMs under
/// `out/src/`) and returns nothing; the caller lists `out`.
pub fn rpmbuild(spec_name: &str, spec: &str, out: &Path, with_source: bool) {
    require_tool("rpmbuild", "rpm");
    let top = out.join(format!(".top-{spec_name}"));
    std::fs::create_dir_all(&top).unwrap();
    let spec_path = top.join(format!("{spec_name}.spec"));
    std::fs::write(&spec_path, spec).unwrap();
    run(Command::new("rpmbuild")
        .arg(if with_source { "-ba" } else { "-bb" })
        .arg("--quiet")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("_rpmdir {}", out.display()))
        .arg("--define")
        .arg(format!("_srcrpmdir {}", out.join("src").display()))
        .arg("--define")
        .arg("_build_id_links none")
        .arg(&spec_path)
        .env("LC_ALL", "C.UTF-8"));
    std::fs::remove_dir_all(&top).unwrap();
}

/// A directory of test RPMs, built once per test process under cargo's target tmp dir
/// (named by pid; directories of test processes that are gone are removed).
pub fn fixture_rpms() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        if let Ok(rd) = std::fs::read_dir(base) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("repodata-rpms-")
                    && !Path::new("/proc").join(pid).exists()
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("repodata-rpms-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, spec) in specs() {
            rpmbuild(name, &spec, &dir, name == "gamma");
        }
        dir
    })
}

/// A temporary directory on the same filesystem as the fixtures (so hard links work).
pub fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// A fresh repository directory holding hard links to the fixture RPMs (hard links keep
/// mtime and inode, so `<time file>` matches across copies).
pub fn repo_with_fixtures() -> tempfile::TempDir {
    let repo = tmpdir();
    link_tree(fixture_rpms(), repo.path());
    repo
}

pub fn link_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let dst = to.join(&name);
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            link_tree(&e.path(), &dst);
        } else {
            std::fs::hard_link(e.path(), &dst).unwrap();
        }
    }
}

/// Runs createrepo_c on `repo`, writing into `out/repodata`.
pub fn createrepo_c(repo: &Path, out: &Path, extra: &[&str]) {
    require_tool("createrepo_c", "createrepo-c");
    run(Command::new("createrepo_c")
        .arg("--quiet")
        .arg("--no-database")
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(repo));
}

/// `dnf repoquery` against only the repository at `repo`, offline, in a throwaway
/// installroot, returning stdout lines sorted.
pub fn dnf_repoquery(repo: &Path, args: &[&str]) -> Vec<String> {
    require_tool("dnf", "dnf");
    let root = tmpdir();
    let conf = root.path().join("dnf.conf");
    std::fs::write(&conf, "[main]\n").unwrap();
    let out = run(Command::new("dnf")
        .arg("-q")
        .arg(format!("--config={}", conf.display()))
        .arg("--setopt=reposdir=/dev/null")
        .arg(format!("--installroot={}", root.path().display()))
        .arg("--releasever=1")
        .arg("--disableplugin=*")
        .arg(format!("--repofrompath=t,file://{}", repo.display()))
        .arg("--repo=t")
        .arg("--setopt=t.gpgcheck=0")
        .arg("repoquery")
        .args(args)
        .env("LC_ALL", "C.UTF-8"));
    let mut lines: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Decompressed content of a repomd record's file.
pub fn open_record(repo: &Path, md: &kkoji_repodata::RepoMd, kind: &str) -> Vec<u8> {
    use std::io::Read;
    let rec = md
        .record(kind)
        .unwrap_or_else(|| panic!("no {kind} record"));
    let path = repo.join(&rec.location_href);
    let raw = std::fs::read(&path).unwrap();
    let mut out = Vec::new();
    if rec.location_href.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
    } else if rec.location_href.ends_with(".zst") {
        out = zstd::decode_all(&raw[..]).unwrap();
    } else {
        out = raw;
    }
    out
}
