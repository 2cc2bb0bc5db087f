//! Incremental regeneration on a repo with many chunks: after a package is replaced,
//! added or removed, `create_repo` with a warm cache renders only the affected chunks, and
//! its files are byte-identical to a run without any cache, and decompress to exactly
//! what createrepo_c writes.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use kkoji_repodata::{
    Compression, MetaCache, ReadPackagesOptions, RepoMd, WriteOptions, create_repo, read_repomd,
};

const N: usize = 150;

/// A small RPM `pkg-<i>` (build `b`) under `dir/<arch>/`.
fn build(dir: &Path, i: usize, b: u32) -> PathBuf {
    let name = format!("pkg-{i:03}");
    let arch = if i.is_multiple_of(3) {
        "noarch"
    } else {
        "x86_64"
    };
    let mut p = rpm::PackageBuilder::new(&name, "1.0", "MIT", arch, &format!("Package {i}"));
    p.using_config(
        rpm::BuildConfig::v4()
            .compression(rpm::CompressionType::None)
            .source_date(1_700_000_000u32),
    );
    p.release(format!("{b}"))
        .description(format!("Package number {i}, build {b}."))
        .requires(rpm::Dependency::greater_eq(
            format!("pkg-{:03}", (i + 1) % N),
            "1.0",
        ))
        .provides(rpm::Dependency::eq(format!("pkg-{i:03}(abi)"), "1"))
        .add_changelog_entry(
            "Tester <t@example.com> - 1.0-1",
            format!("- build {b}"),
            1_690_000_000u32,
        );
    for f in 0..(i % 7 + 2) {
        p.with_file_contents(
            format!("{i} {b} {f}"),
            rpm::FileOptions::new(format!("/usr/share/{name}/{f}.txt")),
        )
        .unwrap();
    }
    p.with_file_contents(
        format!("#!/bin/sh\necho {i}"),
        rpm::FileOptions::new(format!("/usr/bin/{name}")).permissions(0o755),
    )
    .unwrap();
    let pkg = p.build().unwrap();
    let out = dir.join(arch);
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join(format!("{name}-1.0-{b}.{arch}.rpm"));
    pkg.write_file(&path).unwrap();
    path
}

fn run(repo: &Path, cache: &Path, c: Compression) -> (RepoMd, u64) {
    let cache = MetaCache::open(cache).unwrap();
    let read = ReadPackagesOptions {
        cache: Some(&cache),
        ..Default::default()
    };
    let md = create_repo(
        repo,
        &read,
        &WriteOptions {
            compression: c,
            revision: Some("1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    (md, cache.rpm_reads())
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

/// The incremental result equals a cacheless run on a copy (same files, same mtimes),
/// byte for byte, and its content equals createrepo_c's.
fn check_against_scratch_and_createrepo_c(repo: &Path, md: &RepoMd, c: Compression) {
    let scratch = tmpdir();
    link_tree(repo, scratch.path());
    let _ = std::fs::remove_dir_all(scratch.path().join("repodata"));
    let fresh = create_repo(
        scratch.path(),
        &ReadPackagesOptions::default(),
        &WriteOptions {
            compression: c,
            revision: Some("1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let crc = tmpdir();
    createrepo_c(repo, crc.path(), &[]);
    let theirs = read_repomd(crc.path()).unwrap();
    for kind in ["primary", "filelists", "other"] {
        let (a, b) = (md.record(kind).unwrap(), fresh.record(kind).unwrap());
        assert_eq!(
            a.checksum, b.checksum,
            "{kind}: same bytes as a run without cache"
        );
        assert_eq!(a.open_checksum, b.open_checksum, "{kind}");
        assert_eq!(a.open_size, b.open_size, "{kind}");
        assert_eq!(
            a.open_checksum,
            theirs.record(kind).unwrap().open_checksum,
            "{kind}: same XML as createrepo_c"
        );
    }
}

#[test]
fn only_changed_chunks_are_rendered_and_output_stays_identical() {
    let repo = tmpdir();
    let cache = tmpdir();
    let paths: Vec<PathBuf> = (0..N).map(|i| build(repo.path(), i, 1)).collect();
    let records = || count_files(&cache.path().join("chunks/id"));

    let (md, reads) = run(repo.path(), cache.path(), Compression::Gzip);
    assert_eq!(reads, N as u64);
    let chunks = records() / 3;
    assert!(chunks >= 3, "{chunks} chunks: the test needs several");
    check_against_scratch_and_createrepo_c(repo.path(), &md, Compression::Gzip);

    // nothing changed: nothing read, nothing rendered, same files
    let (again, reads) = run(repo.path(), cache.path(), Compression::Gzip);
    assert_eq!(reads, 0);
    assert_eq!(records(), chunks * 3);
    assert_eq!(sums(&again), sums(&md));

    // one package replaced by a new build: one chunk per file rendered again
    std::fs::remove_file(&paths[40]).unwrap();
    build(repo.path(), 40, 2);
    let (md, reads) = run(repo.path(), cache.path(), Compression::Gzip);
    assert_eq!(reads, 1);
    assert_eq!(records(), chunks * 3 + 3);
    check_against_scratch_and_createrepo_c(repo.path(), &md, Compression::Gzip);

    // one added, one removed: at most a few chunks
    build(repo.path(), N + 1, 1);
    std::fs::remove_file(&paths[100]).unwrap();
    let before = records();
    let (md, reads) = run(repo.path(), cache.path(), Compression::Gzip);
    assert_eq!(reads, 1);
    let new = records() - before;
    assert!((3..=12).contains(&new), "{new} new chunk records");
    check_against_scratch_and_createrepo_c(repo.path(), &md, Compression::Gzip);

    // zstd from the same metadata cache; dnf reads the multi-frame files
    let (md, reads) = run(repo.path(), cache.path(), Compression::Zstd);
    assert_eq!(reads, 0);
    assert!(
        md.record("primary")
            .unwrap()
            .location_href
            .ends_with(".zst")
    );
    let names = dnf_repoquery(repo.path(), &["--qf", "%{name}-%{release}"]);
    assert_eq!(names.len(), N);
    assert!(names.contains(&"pkg-040-2".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("pkg-100-")));
    // and a damaged record is noticed and rebuilt, not trusted
    let victim = walk(&cache.path().join("chunks/id/filelists"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "zst"))
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let (again, _) = run(repo.path(), cache.path(), Compression::Zstd);
    assert_eq!(sums(&again), sums(&md));
}

/// What identifies the content of primary, filelists and other (not the timestamps).
fn sums(md: &RepoMd) -> Vec<(String, Option<String>)> {
    md.records
        .iter()
        .take(3)
        .map(|r| {
            (
                r.checksum.hex.clone(),
                r.open_checksum.as_ref().map(|c| c.hex.clone()),
            )
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
