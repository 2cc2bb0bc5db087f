//! End-to-end tests of the repodata crate against the real tools: rpmbuild makes the
//! packages, createrepo_c is the reference, dnf is the consumer.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use kkoji_repodata::{
    Compression, Error, FileKind, Groups, MetaCache, OnBadRpm, PackageMeta, ReadPackagesOptions,
    RepoMd, RepoReadOptions, WriteOptions, create_repo, find_rpms, read_packages, read_repo,
    read_repo_with, read_repomd, read_rpm, write_repo,
};

const COMPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>build</id>
    <name>build</name>
    <description>Build group</description>
    <default>true</default>
    <uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">alpha</packagereq>
      <packagereq type="mandatory">beta</packagereq>
    </packagelist>
  </group>
</comps>
"#;

fn by_href(pkgs: Vec<PackageMeta>) -> BTreeMap<String, PackageMeta> {
    pkgs.into_iter()
        .map(|p| (p.location_href.clone(), p))
        .collect()
}

/// Field-by-field comparison with a readable list of differences.
fn assert_same_packages(ours: &[PackageMeta], theirs: &[PackageMeta], what: &str) {
    let ours = by_href(ours.to_vec());
    let theirs = by_href(theirs.to_vec());
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{what}: package sets differ"
    );
    let mut diffs = Vec::new();
    for (href, a) in &ours {
        let b = &theirs[href];
        let (va, vb) = (
            serde_json::to_value(a).unwrap(),
            serde_json::to_value(b).unwrap(),
        );
        let (Some(ma), Some(mb)) = (va.as_object(), vb.as_object()) else {
            panic!("not objects");
        };
        for (k, x) in ma {
            let y = mb.get(k).unwrap_or(&serde_json::Value::Null);
            if x != y {
                diffs.push(format!("{href}: {k}: ours {x} vs {y}"));
            }
        }
    }
    assert!(diffs.is_empty(), "{what}:\n{}", diffs.join("\n"));
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        count_files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn all_packages(dir: &Path) -> Vec<PackageMeta> {
    read_packages(&find_rpms(dir).unwrap(), &ReadPackagesOptions::default()).unwrap()
}

#[test]
fn matches_createrepo_c_field_by_field_and_byte_for_byte() {
    let repo = repo_with_fixtures();
    let crc = tmpdir();
    createrepo_c(repo.path(), crc.path(), &[]);

    // What we read from the RPMs equals what createrepo_c wrote about them.
    let ours_read = all_packages(repo.path());
    assert_eq!(ours_read.len(), 5, "4 binary + 1 source package");
    let theirs = read_repo(crc.path()).unwrap();
    assert_same_packages(&ours_read, &theirs, "read_rpm vs createrepo_c");

    // What we write parses back to the same, and is byte-identical once decompressed.
    let md = write_repo(repo.path(), &ours_read, &WriteOptions::default()).unwrap();
    let back = read_repo(repo.path()).unwrap();
    assert_same_packages(&back, &theirs, "our repodata vs createrepo_c");
    let crc_md = read_repomd(crc.path()).unwrap();
    for kind in ["primary", "filelists", "other"] {
        let a = open_record(repo.path(), &md, kind);
        let b = open_record(crc.path(), &crc_md, kind);
        assert!(
            a == b,
            "{kind}.xml differs from createrepo_c's:\n--- ours\n{}\n--- createrepo_c\n{}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
        let ours_rec = md.record(kind).unwrap();
        let their_rec = crc_md.record(kind).unwrap();
        assert_eq!(ours_rec.open_checksum, their_rec.open_checksum, "{kind}");
        assert_eq!(ours_rec.open_size, their_rec.open_size, "{kind}");
        assert!(
            ours_rec
                .location_href
                .starts_with(&format!("repodata/{}-{kind}.xml.gz", ours_rec.checksum.hex))
        );
    }

    // Spot checks of the rules the comparison relies on.
    let alpha = ours_read.iter().find(|p| p.name == "alpha").unwrap();
    let req: Vec<&str> = alpha.requires.iter().map(|d| d.name.as_str()).collect();
    assert!(!req.iter().any(|r| r.starts_with("rpmlib(")), "{req:?}");
    assert!(
        !req.contains(&"/usr/bin/alpha"),
        "own primary file: {req:?}"
    );
    assert!(req.contains(&"/usr/share/alpha/data.txt"), "{req:?}");
    assert!(!req.contains(&"alpha-tool"), "self-provided: {req:?}");
    assert_eq!(
        req.iter()
            .filter(|r| r.starts_with("libc.so.6"))
            .collect::<Vec<_>>(),
        vec![&"libc.so.6(GLIBC_2.14)(64bit)"],
        "only the highest libc.so.6"
    );
    assert!(
        alpha
            .requires
            .iter()
            .any(|d| d.name == "coreutils" && d.pre)
    );
    assert_eq!(alpha.changelogs.len(), 10, "createrepo_c's default limit");
    let dates: Vec<i64> = alpha.changelogs.iter().map(|c| c.date).collect();
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");
    assert!(alpha.files.iter().any(|f| f.kind == FileKind::Ghost));
    assert!(alpha.files.iter().any(|f| f.kind == FileKind::Dir));
    assert!(alpha.header_start > 0 && alpha.header_end > alpha.header_start);
    assert!(ours_read.iter().any(|p| p.arch == "src"));
}

#[test]
fn dnf_reads_our_repo_gzip_and_zstd() {
    for compression in [Compression::Gzip, Compression::Zstd] {
        let repo = repo_with_fixtures();
        let opts = WriteOptions {
            compression,
            groups: Some(Groups::Bytes(COMPS.as_bytes().to_vec())),
            revision: Some("42".into()),
            // every file is several compressed members (head, chunks, footer); dnf must
            // read them as one stream
            chunk_cache: None,
        };
        let md = create_repo(repo.path(), &ReadPackagesOptions::default(), &opts).unwrap();
        let suffix = compression.suffix();
        assert!(
            md.record("primary")
                .unwrap()
                .location_href
                .ends_with(suffix)
        );
        assert!(md.record("group").is_some());
        assert!(md.records.iter().any(|r| r.kind.starts_with("group_")));
        assert_eq!(md.revision, "42");

        let all = dnf_repoquery(
            repo.path(),
            &["--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}"],
        );
        assert_eq!(
            all,
            vec![
                "alpha-2:1.2-3.x86_64".to_string(),
                "beta-0:1.0-1.noarch".into(),
                "gamma-0:0.9-2.fc40.noarch".into(),
                "gamma-0:0.9-2.fc40.src".into(),
                "uni-0:1-1.noarch".into(),
            ]
            .into_iter()
            .map(|s| s.replace("x86_64", std::env::consts::ARCH))
            .collect::<Vec<_>>(),
            "{compression:?}"
        );
        let nevra = &["--qf", "%{name}"];
        let q = |args: &[&str]| dnf_repoquery(repo.path(), &[args, nevra].concat());
        assert_eq!(q(&["--whatprovides", "alpha-api"]), vec!["alpha"]);
        assert_eq!(q(&["--whatprovides", "alpha-api >= 1.1"]), vec!["alpha"]);
        assert!(q(&["--whatprovides", "alpha-api > 2"]).is_empty());
        assert_eq!(q(&["--whatprovides", "beta-api(x86-64)"]), vec!["beta"]);
        // a primary file and a filelists-only file
        assert_eq!(q(&["--whatprovides", "/usr/bin/alpha"]), vec!["alpha"]);
        assert_eq!(
            q(&["--whatprovides", "/usr/share/alpha/data.txt"]),
            vec!["alpha"]
        );
        assert_eq!(q(&["--whatrequires", "beta"]), vec!["alpha"]);
        assert_eq!(q(&["--whatrecommends", "gamma"]), vec!["alpha"]);
        assert_eq!(q(&["--whatobsoletes", "beta-legacy"]), vec!["beta"]);
        let requires = dnf_repoquery(repo.path(), &["--requires", "alpha"]);
        for want in ["beta >= 1.0-1", "coreutils", "/bin/sh", "findutils"] {
            assert!(requires.iter().any(|r| r == want), "{requires:?}");
        }
        assert_eq!(
            dnf_repoquery(repo.path(), &["--recommends", "alpha"]),
            vec!["gamma"]
        );
        assert_eq!(
            dnf_repoquery(repo.path(), &["--conflicts", "alpha"]),
            vec!["alpha-bad", "alpha-worse <= 2:0.9-1"]
        );
        let files = dnf_repoquery(repo.path(), &["-l", "alpha"]);
        assert!(
            files.contains(&"/var/log/alpha.log".to_string()),
            "{files:?}"
        );
        let changelog = dnf_repoquery(repo.path(), &["--changelog", "uni"]);
        assert!(
            changelog.iter().any(|l| l.contains("Tomáš Müller")),
            "{changelog:?}"
        );
    }
}

#[test]
fn cache_rereads_only_the_changed_package_and_output_is_identical() {
    let repo = repo_with_fixtures();
    let cache_dir = tmpdir();
    let opts = WriteOptions {
        revision: Some("1".into()),
        ..Default::default()
    };
    let files = find_rpms(repo.path()).unwrap();
    let n = files.len() as u64;

    let cache = MetaCache::open(cache_dir.path()).unwrap();
    let read = ReadPackagesOptions {
        cache: Some(&cache),
        ..Default::default()
    };
    create_repo(repo.path(), &read, &opts).unwrap();
    assert_eq!(cache.rpm_reads(), n);

    // A second run in a new process (fresh MetaCache on the same directory) reads nothing.
    let cache = MetaCache::open(cache_dir.path()).unwrap();
    let read = ReadPackagesOptions {
        cache: Some(&cache),
        ..Default::default()
    };
    let md1 = create_repo(repo.path(), &read, &opts).unwrap();
    assert_eq!(cache.rpm_reads(), 0);
    assert_eq!(cache.hits(), n);
    let chunk_files = |_: ()| count_files(&cache_dir.path().join("chunks"));
    let chunks1 = chunk_files(());
    assert!(chunks1 >= 3, "compressed chunks are kept in the cache");

    // Replace beta with a rebuilt (different) package.
    let rebuilt = tmpdir();
    rpmbuild(
        "beta",
        "Name: beta\nVersion: 1.0\nRelease: 2\nSummary: Beta rebuilt\nLicense: GPL\nBuildArch: noarch\n\
         %description\nBeta, second build.\n%files\n",
        rebuilt.path(),
        false,
    );
    let beta_path = repo.path().join("noarch/beta-1.0-1.noarch.rpm");
    std::fs::remove_file(&beta_path).unwrap();
    std::fs::copy(
        rebuilt.path().join("noarch/beta-1.0-2.noarch.rpm"),
        repo.path().join("noarch/beta-1.0-2.noarch.rpm"),
    )
    .unwrap();

    let cache = MetaCache::open(cache_dir.path()).unwrap();
    let read = ReadPackagesOptions {
        cache: Some(&cache),
        ..Default::default()
    };
    let md2 = create_repo(repo.path(), &read, &opts).unwrap();
    assert_eq!(cache.rpm_reads(), 1, "only the replaced package is read");
    assert_eq!(cache.hits(), n - 1);
    // The few packages share one chunk per file: exactly one new chunk each for primary,
    // filelists and other.
    assert_eq!(chunk_files(()), chunks1 + 3);
    assert_ne!(
        md1.record("primary").unwrap().checksum,
        md2.record("primary").unwrap().checksum
    );

    // The same content as a run without any cache.
    let scratch = tmpdir();
    link_tree(repo.path(), scratch.path());
    std::fs::remove_dir_all(scratch.path().join("repodata")).unwrap();
    let md3 = create_repo(scratch.path(), &ReadPackagesOptions::default(), &opts).unwrap();
    for kind in ["primary", "filelists", "other"] {
        let (a, b) = (md2.record(kind).unwrap(), md3.record(kind).unwrap());
        assert_eq!(a.checksum, b.checksum, "{kind}");
        assert_eq!(a.open_checksum, b.open_checksum, "{kind}");
        assert_eq!(a.location_href, b.location_href, "{kind}");
    }
    // A damaged cache is ignored, never trusted: everything is read again.
    std::fs::write(cache_dir.path().join("index.json"), b"{not json").unwrap();
    let cache = MetaCache::open(cache_dir.path()).unwrap();
    let read = ReadPackagesOptions {
        cache: Some(&cache),
        ..Default::default()
    };
    let md4 = create_repo(repo.path(), &read, &opts).unwrap();
    assert_eq!(cache.rpm_reads(), n);
    assert_eq!(
        md4.record("primary").unwrap().checksum,
        md3.record("primary").unwrap().checksum
    );

    let names: Vec<String> = read_repo(repo.path())
        .unwrap()
        .into_iter()
        .filter(|p| p.name == "beta")
        .map(|p| p.release)
        .collect();
    assert_eq!(names, vec!["2"]);
}

#[test]
fn failed_write_leaves_previous_repodata_intact() {
    let repo = repo_with_fixtures();
    let md = create_repo(
        repo.path(),
        &ReadPackagesOptions::default(),
        &WriteOptions::default(),
    )
    .unwrap();
    let snapshot = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir.join("repodata"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    };
    let before = snapshot(repo.path());

    // The comps file is read after primary/filelists/other were written: a missing one
    // fails the write half way through.
    let packages = all_packages(repo.path());
    let opts = WriteOptions {
        compression: Compression::Zstd,
        groups: Some(Groups::File(repo.path().join("no-such-comps.xml"))),
        revision: None,
        chunk_cache: None,
    };
    let err = write_repo(repo.path(), &packages, &opts).unwrap_err();
    assert!(err.to_string().contains("no-such-comps.xml"), "{err}");
    assert_eq!(snapshot(repo.path()), before, "old repodata untouched");
    let leftovers: Vec<String> = std::fs::read_dir(repo.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".repodata"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(read_repomd(repo.path()).unwrap(), md);

    // Writing where the temporary directory cannot be made fails cleanly too.
    let err = write_repo(
        repo.path().join("missing-dir"),
        &packages,
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn reads_upstream_repodata_from_createrepo_c_and_ours() {
    let repo = repo_with_fixtures();
    let expected = all_packages(repo.path());
    let mut names: Vec<String> = expected.iter().map(|p| p.nevra()).collect();
    names.sort();

    for extra in [&[][..], &["--compress-type", "xz"][..]] {
        let crc = tmpdir();
        createrepo_c(repo.path(), crc.path(), extra);
        let theirs = read_repo(crc.path()).unwrap();
        let mut got: Vec<String> = theirs.iter().map(|p| p.nevra()).collect();
        got.sort();
        assert_eq!(got, names, "createrepo_c {extra:?}");
        assert_same_packages(&theirs, &expected, "createrepo_c repodata");
    }
    for compression in [Compression::Gzip, Compression::Zstd] {
        let ours = tmpdir();
        link_tree(repo.path(), ours.path());
        write_repo(
            ours.path(),
            &expected,
            &WriteOptions {
                compression,
                ..Default::default()
            },
        )
        .unwrap();
        let url = format!("file://{}", ours.path().display());
        let back = read_repo(&url).unwrap();
        assert_same_packages(&back, &expected, "our repodata");

        // primary alone: the files are the primary subset, no changelogs
        let primary_only = read_repo_with(
            ours.path(),
            &RepoReadOptions {
                filelists: false,
                other: false,
            },
        )
        .unwrap();
        assert_eq!(primary_only.len(), expected.len());
        for p in &primary_only {
            assert!(p.changelogs.is_empty());
            assert!(
                p.files
                    .iter()
                    .all(|f| kkoji_repodata::is_primary_file(&f.path))
            );
        }
    }

    // Remote repositories are the mirror's job to download first.
    let err = read_repo("https://example.invalid/repo").unwrap_err();
    assert!(err.to_string().contains("download"), "{err}");

    // A metadata file that does not match repomd.xml's checksum is refused.
    let crc = tmpdir();
    createrepo_c(repo.path(), crc.path(), &[]);
    let md: RepoMd = read_repomd(crc.path()).unwrap();
    let primary = crc
        .path()
        .join(&md.record("primary").unwrap().location_href);
    let mut bytes = std::fs::read(&primary).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&primary, bytes).unwrap();
    let err = read_repo(crc.path()).unwrap_err();
    assert!(
        err.to_string().contains("checksum") && err.to_string().contains("primary"),
        "{err}"
    );
}

#[test]
fn bad_rpms_are_named_and_block_the_write_or_are_skipped() {
    let repo = repo_with_fixtures();
    let good = repo.path().join("noarch/beta-1.0-1.noarch.rpm");
    let bytes = std::fs::read(&good).unwrap();

    // truncated in the payload (the header parses; the signature size gives it away)
    let trunc = repo.path().join("noarch/trunc-1-1.noarch.rpm");
    std::fs::write(&trunc, &bytes[..bytes.len() - 100]).unwrap();
    let err = read_rpm(&trunc, "noarch/trunc-1-1.noarch.rpm").unwrap_err();
    assert!(matches!(err, Error::BadRpm { .. }), "{err}");
    assert!(err.to_string().contains("trunc-1-1.noarch.rpm"), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // truncated inside the header
    std::fs::write(&trunc, &bytes[..300]).unwrap();
    let err = read_rpm(&trunc, "x").unwrap_err();
    assert!(
        err.to_string().contains("trunc-1-1.noarch.rpm") && err.to_string().contains("truncated"),
        "{err}"
    );
    std::fs::remove_file(&trunc).unwrap();

    // not an RPM at all
    let junk = repo.path().join("junk.rpm");
    std::fs::write(&junk, "this is a text file pretending to be an RPM package, long enough for a lead: 0123456789012345678901234567890123456789").unwrap();
    let err = read_rpm(&junk, "junk.rpm").unwrap_err();
    assert!(
        err.to_string().contains("junk.rpm") && err.to_string().contains("not an RPM"),
        "{err}"
    );

    // The default refuses to write a repo with it ...
    let err = create_repo(
        repo.path(),
        &ReadPackagesOptions::default(),
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("junk.rpm"), "{err}");
    assert!(!repo.path().join("repodata").exists(), "nothing written");

    // ... and OnBadRpm::Skip leaves it out with a warning, like createrepo_c.
    let read = ReadPackagesOptions {
        on_bad_rpm: OnBadRpm::Skip,
        ..Default::default()
    };
    create_repo(repo.path(), &read, &WriteOptions::default()).unwrap();
    let pkgs = read_repo(repo.path()).unwrap();
    assert_eq!(pkgs.len(), 5);
    assert!(!pkgs.iter().any(|p| p.location_href.contains("junk")));

    // createrepo_c agrees that it is not a package
    let crc = tmpdir();
    createrepo_c(repo.path(), crc.path(), &[]);
    assert_eq!(read_repo(crc.path()).unwrap().len(), 5);
}

/// What a user of dnf sees is the same for our repodata and createrepo_c's over the same
/// RPMs: the package set with epochs, every dependency kind including the weak ones with
/// their flags, file provides from primary and from filelists, file lists and changelogs.
#[test]
fn dnf_answers_the_same_for_our_repo_and_createrepo_c() {
    let repo = repo_with_fixtures();
    create_repo(
        repo.path(),
        &ReadPackagesOptions::default(),
        &WriteOptions::default(),
    )
    .unwrap();
    let crc = tmpdir();
    createrepo_c(repo.path(), crc.path(), &[]);
    let all = dnf_repoquery(repo.path(), &["--qf", "%{name}.%{arch}"]);
    assert_eq!(all.len(), 5, "4 binary + 1 source package: {all:?}");
    let mut queries: Vec<Vec<String>> = vec![
        vec![
            "--qf".into(),
            "%{name}-%{epoch}:%{version}-%{release}.%{arch} %{sourcerpm}".into(),
        ],
        vec!["--whatprovides".into(), "/usr/bin/alpha".into()],
        vec!["--whatprovides".into(), "/usr/share/alpha/data.txt".into()],
        vec!["--whatprovides".into(), "alpha-api >= 1.1".into()],
        vec!["--whatrecommends".into(), "gamma".into()],
    ];
    for pkg in ["alpha", "beta", "gamma", "uni"] {
        for kind in [
            "--provides",
            "--requires",
            "--conflicts",
            "--obsoletes",
            "--recommends",
            "--suggests",
            "--supplements",
            "--enhances",
            "-l",
            "--changelog",
        ] {
            queries.push(vec![kind.into(), pkg.into()]);
        }
    }
    let mut nonempty = 0;
    for q in &queries {
        let args: Vec<&str> = q.iter().map(String::as_str).collect();
        let ours = dnf_repoquery(repo.path(), &args);
        let theirs = dnf_repoquery(crc.path(), &args);
        assert_eq!(ours, theirs, "dnf repoquery {args:?}");
        nonempty += usize::from(!ours.is_empty());
    }
    // the comparison is not vacuous: most queries have answers
    assert!(
        nonempty > queries.len() / 2,
        "{nonempty} of {}",
        queries.len()
    );
}
