//! The header-only reader against real packages: what it says about a package must be
//! what rpm itself says (`rpm -qp --qf`), because the hub imports with it and the builder
//! picks arches and checks BuildRequires with it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use kkoji_repodata::{Error, read_header, read_header_file};

fn rpm_q(file: &Path, format: &str) -> String {
    require_tool("rpm", "rpm");
    let out = Command::new("rpm")
        .args(["-qp", "--nosignature", "--nodigest", "--qf", format])
        .arg(file)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn find(dir: &Path, suffix: &str) -> PathBuf {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    walk(dir, &mut all);
    all.into_iter()
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} under {}", dir.display()))
}

/// `name|flags|version` lines, as the header lists them.
fn rpm_requires(file: &Path) -> Vec<(String, u32, String)> {
    rpm_q(file, "[%{REQUIRENAME}|%{REQUIREFLAGS}|%{REQUIREVERSION}\n]")
        .lines()
        .map(|l| {
            let mut p = l.splitn(3, '|');
            let name = p.next().unwrap().to_owned();
            let flags = p.next().unwrap().parse().unwrap();
            (name, flags, p.next().unwrap_or("").to_owned())
        })
        .collect()
}

#[test]
fn binary_package_facts_match_rpm() {
    let alpha = find(fixture_rpms(), "alpha-1.2-3.x86_64.rpm");
    let h = read_header(&alpha).unwrap();
    assert_eq!(
        (h.name.as_str(), h.version.as_str(), h.release.as_str()),
        ("alpha", "1.2", "3")
    );
    assert_eq!(h.epoch, Some(2));
    assert_eq!(h.arch, "x86_64");
    assert!(!h.is_source);
    assert_eq!(h.filename(), "alpha-1.2-3.x86_64.rpm");
    assert_eq!(
        h.sigmd5.as_deref(),
        Some(rpm_q(&alpha, "%{SIGMD5}").as_str())
    );
    assert_eq!(h.payloadhash(), h.sigmd5);
    assert_eq!(h.buildtime.to_string(), rpm_q(&alpha, "%{BUILDTIME}"));
    assert_eq!(h.file_size, std::fs::metadata(&alpha).unwrap().len());
    let reqs: Vec<(String, u32, String)> = h
        .requires
        .iter()
        .map(|d| (d.name.clone(), d.flags, d.version.clone()))
        .collect();
    // unfiltered, unlike repodata's requires: rpmlib() and libc duplicates are all there
    assert_eq!(reqs, rpm_requires(&alpha));
    assert!(reqs.iter().any(|r| r.0.starts_with("rpmlib(")));

    // descriptive tags and the changelog exactly as stored
    let st = &h.strings;
    for (got, tag) in [
        (&st.arch, "ARCH"),
        (&st.summary, "SUMMARY"),
        (&st.license, "LICENSE"),
        (&st.url, "URL"),
        (&st.vendor, "VENDOR"),
        (&st.packager, "PACKAGER"),
        (&st.group, "GROUP"),
        (&st.buildhost, "BUILDHOST"),
        (&st.sourcerpm, "SOURCERPM"),
    ] {
        assert_eq!(
            got.as_deref(),
            Some(rpm_q(&alpha, &format!("%{{{tag}}}")).as_str()),
            "{tag}"
        );
    }
    assert_eq!(
        st.description.as_deref(),
        Some("Alpha is a test package.\nIt has two lines & \"quotes\" <tags>.")
    );
    assert_eq!(st.vcs, None);
    let changelog: Vec<String> = h
        .changelog
        .iter()
        .map(|e| format!("{}|{}|{}", e.time, e.author, e.text))
        .collect();
    let want: Vec<String> = rpm_q(
        &alpha,
        "[%{CHANGELOGTIME}|%{CHANGELOGNAME}|%{CHANGELOGTEXT}\n]",
    )
    .lines()
    .map(str::to_owned)
    .collect();
    // all twelve, newest first, equal dates left equal
    assert_eq!(changelog.len(), 12);
    assert_eq!(changelog, want);
    assert_eq!(h.changelog[0].time, h.changelog[1].time);

    // no epoch in the header: None, not 0 (Koji stores NULL)
    let beta = find(fixture_rpms(), "beta-1.0-1.noarch.rpm");
    assert_eq!(read_header(&beta).unwrap().epoch, None);
}

#[test]
fn source_package_arches_and_build_requires_match_rpm() {
    require_tool("rpmbuild", "rpm");
    let dir = tmpdir();
    let top = dir.path().join("top");
    std::fs::create_dir_all(&top).unwrap();
    let spec = top.join("srcpkg.spec");
    std::fs::write(
        &spec,
        "Name: srcpkg\nVersion: 2.0\nRelease: 1\nEpoch: 7\nSummary: s\nLicense: MIT\n\
         BuildRequires: gcc >= 10\nBuildRequires: make\nBuildRequires: (foo or bar)\n\
         ExclusiveArch: x86_64 aarch64 noarch\nExcludeArch: s390x\n\
         %description\nd\n%files\n",
    )
    .unwrap();
    let out = Command::new("rpmbuild")
        .args(["-bs", "--quiet", "--define"])
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("_srcrpmdir {}", dir.path().display()))
        .arg(&spec)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let srpm = dir.path().join("srcpkg-2.0-1.src.rpm");
    let h = read_header(&srpm).unwrap();
    assert!(h.is_source);
    assert_eq!(h.arch, "src");
    assert_eq!(h.epoch, Some(7));
    assert_eq!(h.nvr(), "srcpkg-2.0-1");
    assert_eq!(h.exclusive_arch, ["x86_64", "aarch64", "noarch"]);
    assert_eq!(h.exclude_arch, ["s390x"]);
    assert!(h.build_archs.is_empty());
    // ARCH as stored is the build host's arch, not "src"
    assert_eq!(
        h.strings.arch.as_deref(),
        Some(rpm_q(&srpm, "%{ARCH}").as_str())
    );
    assert!(h.changelog.is_empty());
    let reqs: Vec<(String, u32, String)> = h
        .requires
        .iter()
        .map(|d| (d.name.clone(), d.flags, d.version.clone()))
        .collect();
    assert_eq!(reqs, rpm_requires(&srpm));
    assert!(reqs.iter().any(|r| r.0 == "gcc" && r.2 == "10"), "{reqs:?}");

    // the same through an opened file, named as the caller wants
    let f = std::fs::File::open(&srpm).unwrap();
    assert_eq!(
        read_header_file(&f, "cli-build/x/srcpkg.src.rpm").unwrap(),
        h
    );
}

#[test]
fn damaged_packages_are_refused_with_a_sentence() {
    let good = std::fs::read(find(fixture_rpms(), "beta-1.0-1.noarch.rpm")).unwrap();
    let dir = tmpdir();
    let p = dir.path().join("beta.rpm");

    // cut inside the main header: truncated, named
    std::fs::write(&p, &good[..300]).unwrap();
    let e = read_header(&p).unwrap_err();
    assert!(matches!(e, Error::BadRpm { .. }), "{e}");
    assert!(e.detail().starts_with("truncated"), "{e}");
    assert!(e.to_string().contains("beta.rpm"), "{e}");

    // cut in the payload: the headers are whole, and a header reader does not care
    std::fs::write(&p, &good[..good.len() - 100]).unwrap();
    assert_eq!(read_header(&p).unwrap().name, "beta");

    // garbage inside the header's index: an error, never a panic
    let mut bad = good.clone();
    let end = bad.len().min(2000);
    for b in &mut bad[200..end] {
        *b = 0xff;
    }
    std::fs::write(&p, &bad).unwrap();
    let e = read_header(&p).unwrap_err();
    assert!(matches!(e, Error::BadRpm { .. }), "{e}");
    assert!(e.detail().len() < 400, "{e}");
}
