//! Helpers shared by the integration tests: tiny SRPMs built with the real rpmbuild, and
//! a fake hub.
#![allow(dead_code)]

pub mod fakehub;
pub mod farm;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `%build` bodies and arch lines for the test packages.
pub struct Spec<'a> {
    pub name: &'a str,
    pub arch_line: &'a str,
    pub build: &'a str,
}

impl Spec<'_> {
    pub fn text(&self) -> String {
        format!(
            "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: kkoji test package\nLicense: MIT\n{arch}\n\
%description\nkkoji test package\n\n%build\n{build}\n\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
echo hello > %{{buildroot}}/usr/share/{name}/hello\n\n%files\n/usr/share/{name}/hello\n",
            name = self.name,
            arch = self.arch_line,
            build = self.build
        )
    }
}

/// Panics with a clear message when rpmbuild is missing: these tests are meant to run
/// (scripts/ensure-deps.sh installs the `rpm` package).
pub fn require_rpmbuild() {
    let ok = Command::new("rpmbuild")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "rpmbuild is not installed: install the `rpm` package (scripts/ensure-deps.sh does)"
    );
}

/// Builds `<name>-1.0-1.src.rpm` from `spec` in `dir` and returns its path.
pub fn make_srpm(dir: &Path, spec: &Spec) -> PathBuf {
    require_rpmbuild();
    let specdir = dir.join("spec");
    std::fs::create_dir_all(&specdir).unwrap();
    let specfile = specdir.join(format!("{}.spec", spec.name));
    std::fs::write(&specfile, spec.text()).unwrap();
    let top = dir.join("srpmtop");
    let out = Command::new("rpmbuild")
        .env("HOME", dir)
        .arg("-bs")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(&specfile)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpmbuild -bs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = top
        .join("SRPMS")
        .join(format!("{}-1.0-1.src.rpm", spec.name));
    assert!(p.is_file(), "{} not written", p.display());
    p
}

/// Builds the binary `<name>-1.0-1.<arch>.rpm` from `spec` in `dir` and returns its path.
pub fn make_rpm(dir: &Path, spec: &Spec) -> PathBuf {
    require_rpmbuild();
    let specdir = dir.join("spec");
    std::fs::create_dir_all(&specdir).unwrap();
    let specfile = specdir.join(format!("{}.spec", spec.name));
    std::fs::write(&specfile, spec.text()).unwrap();
    let top = dir.join("rpmtop");
    let out = Command::new("rpmbuild")
        .env("HOME", dir)
        .arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(&specfile)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpmbuild -bb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Vec<PathBuf> = std::fs::read_dir(top.join("RPMS"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy()
                    .starts_with(&format!("{}-1.0-1.", spec.name))
            })
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// Live (non-zombie) processes whose command line contains `needle`.
pub fn live_processes_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = ent.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(ent.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if !cmd.contains(needle) {
            continue;
        }
        let stat = std::fs::read_to_string(ent.path().join("stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .unwrap_or("Z");
        if state != "Z" && state != "X" {
            out.push(pid);
        }
    }
    out
}

/// The machine's arch as rpm names it.
pub fn host_arch() -> String {
    let out = Command::new("uname").arg("-m").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
