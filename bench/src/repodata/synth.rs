//! Synthetic but realistic RPMs, built in-process with the `rpm` crate (rpmbuild would
//! take minutes for thousands of packages): file lists of 20–200 entries including
//! `/usr/bin`, `/etc` and library paths (so primary.xml's file filter matters), versioned
//! requires/provides, weak dependencies, conflicts/obsoletes, an epoch on some packages,
//! and changelogs of a few to two dozen entries. Everything derives from a seed, so the
//! same arguments give the same packages.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Fixed build time: the packages (and so the metadata) do not depend on when the
/// benchmark runs.
const BUILD_TIME: u32 = 1_700_000_000;

const WORDS: &[&str] = &[
    "alpha", "bravo", "carbon", "delta", "echo", "fern", "gopher", "harbor", "iris", "jade",
    "kilo", "lumen", "magnet", "nectar", "onyx", "pixel", "quartz", "raven", "sable", "tango",
    "umber", "vortex", "willow", "xenon", "yarrow", "zephyr", "amber", "basil", "cedar", "dune",
    "ember", "flint",
];

/// splitmix64: small, seedable, good enough to vary package shapes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    fn word(&mut self) -> &'static str {
        WORDS[(self.next_u64() % WORDS.len() as u64) as usize]
    }

    /// Between `lo` and `hi` words.
    fn words(&mut self, lo: u64, hi: u64) -> String {
        let n = self.range(lo, hi);
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
}

/// Name of package `i` (unique, sorted roughly at random).
pub fn name(i: usize) -> String {
    let mut r = Rng::new(i as u64 ^ 0x5eed);
    format!("{}-{}{i}", r.word(), r.word())
}

/// Builds package `i` (build number `build`: a new build of the same package has a higher
/// release and different content) and writes it under `dir/<arch>/`. Returns its path.
pub fn write_package(dir: &Path, i: usize, build: u32, total: usize) -> Result<PathBuf> {
    let mut r = Rng::new((i as u64) << 20 ^ u64::from(build) ^ 0xc0ffee);
    let name = name(i);
    let noarch = r.chance(30);
    let arch = if noarch { "noarch" } else { "x86_64" };
    let version = format!("{}.{}.{}", r.range(0, 9), r.range(0, 30), r.range(0, 99));
    let release = format!("{}.fc40", build + 1);
    let summary = format!("The {} {} for {}", r.word(), r.word(), name);
    let mut b = rpm::PackageBuilder::new(&name, &version, "MIT AND BSD-3-Clause", arch, &summary);
    b.using_config(
        rpm::BuildConfig::v4()
            .compression(rpm::CompressionWithLevel::Zstd(3))
            .source_date(BUILD_TIME),
    );
    b.release(&release)
        .description(format!(
            "{} is a synthetic package for the kkoji repodata benchmark.\n{}\n{}",
            name,
            r.words(20, 60),
            r.words(10, 40)
        ))
        .url(format!("https://example.org/{name}"))
        .vendor("kkoji bench")
        .packager("Bench Packager <bench@example.org>")
        .group("Development/Libraries")
        .build_host("bench.example.org");
    if r.chance(10) {
        b.epoch(r.range(1, 3) as u32);
    }

    // files: 20–200, a few in /usr/bin and /etc (primary.xml), libraries, data, docs
    let nfiles = r.range(20, 200);
    let share = format!("/usr/share/{name}");
    b.with_dir_entry(rpm::FileOptions::dir(share.clone()))
        .context("dir entry")?;
    for f in 0..nfiles {
        let path = match r.next_u64() % 20 {
            0 => format!("/usr/bin/{name}-{f}"),
            1 => format!("/etc/{name}/{f}.conf"),
            2 | 3 if !noarch => format!("/usr/lib64/lib{name}-{f}.so.{}", r.range(1, 9)),
            4 => format!("/usr/share/doc/{name}/{}-{f}.md", r.word()),
            5 => format!("/usr/share/man/man1/{name}-{f}.1.gz"),
            _ => format!("{share}/{}/{}-{f}.dat", r.word(), r.word()),
        };
        let len = r.range(100, 3000) as usize;
        let mut content = String::with_capacity(len + 16);
        while content.len() < len {
            content.push_str(r.word());
            content.push(if r.chance(10) { '\n' } else { ' ' });
        }
        let opts = if path.starts_with("/etc/") {
            rpm::FileOptions::new(path).config()
        } else if path.starts_with("/usr/bin/") {
            rpm::FileOptions::new(path).permissions(0o755)
        } else {
            rpm::FileOptions::new(path)
        };
        b.with_file_contents(content.into_bytes(), opts)
            .context("file")?;
    }
    if r.chance(20) {
        b.with_ghost(rpm::FileOptions::ghost(format!("/var/log/{name}.log")))
            .context("ghost")?;
    }

    // dependencies
    let other = |r: &mut Rng| self::name(r.next_u64() as usize % total.max(1));
    b.provides(rpm::Dependency::eq(
        format!("{name}(abi)"),
        format!("{}.0", r.range(1, 5)),
    ));
    if !noarch {
        b.provides(rpm::Dependency::any(format!("lib{name}.so.1()(64bit)")));
        b.requires(rpm::Dependency::any("libc.so.6()(64bit)"));
        b.requires(rpm::Dependency::any("libc.so.6(GLIBC_2.34)(64bit)"));
    }
    for _ in 0..r.range(2, 12) {
        let dep = other(&mut r);
        let ver = format!("{}.{}", r.range(0, 5), r.range(0, 9));
        b.requires(match r.next_u64() % 5 {
            0 => rpm::Dependency::any(dep),
            1 => rpm::Dependency::greater_eq(dep, ver),
            2 => rpm::Dependency::eq(dep, format!("{ver}-1.fc40")),
            3 => rpm::Dependency::less(dep, ver),
            _ => rpm::Dependency::any(format!("/usr/bin/{dep}-0")),
        });
    }
    if r.chance(50) {
        b.requires(rpm::Dependency::script_pre("/bin/sh"));
    }
    for _ in 0..r.range(0, 3) {
        b.recommends(rpm::Dependency::any(other(&mut r)));
    }
    if r.chance(30) {
        b.suggests(rpm::Dependency::greater_eq(other(&mut r), "1.0"));
    }
    if r.chance(10) {
        b.supplements(rpm::Dependency::any(other(&mut r)));
    }
    if r.chance(10) {
        b.conflicts(rpm::Dependency::less(other(&mut r), "0.5"));
    }
    if r.chance(10) {
        b.obsoletes(rpm::Dependency::less(format!("{name}-old"), "2"));
    }

    // changelog, newest first as rpm keeps it
    let entries = r.range(3, 25);
    for e in 0..entries {
        let t = BUILD_TIME - (e as u32) * 86_400 * 7;
        b.add_changelog_entry(
            format!(
                "{} Packager <{}@example.org> - {version}-{}",
                r.word(),
                r.word(),
                entries - e
            ),
            format!("- {}\n- {}", r.words(4, 14), r.words(3, 10)),
            t,
        );
    }

    let pkg = b.build().with_context(|| format!("building {name}"))?;
    let out_dir = dir.join(arch);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let path = out_dir.join(format!("{name}-{version}-{release}.{arch}.rpm"));
    pkg.write_file(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
