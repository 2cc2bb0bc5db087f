//! Merging a tag's own packages with its external repositories, the way Koji does it.
//!
//! Koji's `createrepo` task writes the tag's repo and, when the tag has external repos,
//! runs `mergerepo_c` over "the local repo, then every external repo in priority order"
//! (`--koji`, `--koji --simple` or `--pkgorigins --all` for the merge modes `koji`,
//! `simple` and `bare`, always with `-a ARCH --arch-expand`). Builds then resolve their
//! BuildRequires against the merged repo, so which package survives decides what a
//! buildroot gets. The rules, as `mergerepo_c` applies them:
//!
//! * **Arches:** only the repo's arch, its sub-arches (`x86_64` → `ia32e`, `amd64`), its
//!   multilib arch with *its* sub-arches (`x86_64` → `i386`, `i486`, `i586`, `i686`,
//!   `athlon`, `geode`) and `noarch` are kept, from every repo, the local one included.
//! * **koji:** per *source package name*, the first repo that has any package built from
//!   an SRPM of that name wins; within that repo only the highest SRPM version is used.
//!   So an external repo can never add a subpackage of something the tag builds itself.
//!   Packages whose SRPM name is blocked in the tag are dropped. A binary NVRA (without
//!   epoch) is taken once: the first occurrence wins.
//! * **simple:** only the blocked list applies; everything else from every repo is kept,
//!   even a second package with exactly the same NEVRA (Koji's simple mode warns about
//!   such duplicates but does not omit them).
//! * **bare:** no blocked list, no SRPM rule; of packages with the same name, arch, epoch,
//!   version and release only the first is kept, different versions are all kept.
//! * **Locations:** local packages keep their relative `href`; a package of an external
//!   repo gets the repo's URL as `xml:base` (unless its own metadata already had one), so
//!   dnf downloads it from there.
//!
//! Deliberate differences from `mergerepo_c`: packages are taken in the order given
//! (mergerepo_c walks a hash table, so which of two equal candidates from the *same*
//! repo wins is arbitrary there); source packages (`src`) of the local repo are kept
//! (mergerepo_c drops them because `src` is not in its arch list, which silently loses
//! the sources of a repo made with `--src`); and the blocked list is applied to the
//! local repo in every mode (the hub leaves blocked packages out of the local repo
//! anyway).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::meta::PackageMeta;
use crate::rpmread::rpmvercmp;

/// How an external repository is merged (Koji's `merge_mode` of an external repo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// Koji's default: SRPM names are owned by the first repo that has them.
    Koji,
    /// Blocked packages are dropped, everything else kept.
    Simple,
    /// Everything kept (the same NEVRA only once), for repos with modular metadata.
    Bare,
}

impl MergeMode {
    /// The name Koji uses (`koji`, `simple`, `bare`).
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMode::Koji => "koji",
            MergeMode::Simple => "simple",
            MergeMode::Bare => "bare",
        }
    }
}

impl std::fmt::Display for MergeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A merge mode name that is not `koji`, `simple` or `bare`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown merge mode {0:?} (expected koji, simple or bare)")]
pub struct ParseMergeModeError(pub String);

impl std::str::FromStr for MergeMode {
    type Err = ParseMergeModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "koji" => Ok(MergeMode::Koji),
            "simple" => Ok(MergeMode::Simple),
            "bare" => Ok(MergeMode::Bare),
            other => Err(ParseMergeModeError(other.to_string())),
        }
    }
}

/// The external repos of one merge have different modes. Koji refuses such a merge
/// ("Found multiple merge modes for external repos"); see [`check_merge_modes`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("external repos have different merge modes: {}", describe(.0))]
pub struct MixedMergeModes(pub Vec<(String, MergeMode)>);

fn describe(repos: &[(String, MergeMode)]) -> String {
    repos
        .iter()
        .map(|(n, m)| format!("{n} ({m})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One repository taking part in a merge.
#[derive(Debug, Clone)]
pub struct MergeInput {
    pub packages: Vec<PackageMeta>,
    /// The external repo's merge mode (ignored for the first, local input).
    pub mode: MergeMode,
    /// xml:base to set on every package of this repo (the external repo URL, `$arch`
    /// expanded); None for the local repo.
    pub location_base: Option<String>,
    /// For log messages (the external repo's name, or the tag's).
    pub name: String,
}

/// Koji fails a merge whose external repos have different modes; this is that check, so
/// the caller can fail the same way before calling [`merge_repos`] (which cannot fail and
/// uses the mode of the first external repo for all of them).
pub fn check_merge_modes(inputs: &[MergeInput]) -> Result<(), MixedMergeModes> {
    check_external_modes(inputs.get(1..).unwrap_or_default())
}

fn check_external_modes(ext: &[MergeInput]) -> Result<(), MixedMergeModes> {
    match ext.first() {
        Some(first) if ext.iter().any(|i| i.mode != first.mode) => Err(MixedMergeModes(
            ext.iter().map(|i| (i.name.clone(), i.mode)).collect(),
        )),
        _ => Ok(()),
    }
}

/// The arches a merged repo for `arch` keeps (mergerepo_c's `--arch-expand` list):
/// the arch, its sub-arches, its multilib arch and that one's sub-arches, and `noarch`.
pub fn merge_arches(arch: &str) -> Vec<String> {
    fn expand(arch: &str) -> &'static [&'static str] {
        match arch {
            "i386" => &["i486", "i586", "geode", "i686", "athlon"],
            "x86_64" => &["ia32e", "amd64"],
            "ppc64" => &["ppc64pseries", "ppc64iseries"],
            "sparc64" => &["sparc64v", "sparc64v2"],
            "sparc" => &["sparcv8", "sparcv9", "sparcv9v", "sparcv9v2"],
            "alpha" => &[
                "alphaev4",
                "alphaev45",
                "alphaev5",
                "alphaev56",
                "alphapca56",
                "alphaev6",
                "alphaev67",
                "alphaev68",
                "alphaev7",
            ],
            "armhfp" => &["armv7hl", "armv7hnl"],
            "arm" => &["armv5tel", "armv5tejl", "armv6l", "armv7l"],
            "sh4" => &["sh4a"],
            _ => &[],
        }
    }
    let multilib = match arch {
        "x86_64" => Some("i386"),
        "ppc64" => Some("ppc"),
        "s390x" => Some("s390"),
        _ => None,
    };
    let mut out: Vec<String> = Vec::new();
    let mut push = |a: &str| {
        if !out.iter().any(|x| x == a) {
            out.push(a.to_string());
        }
    };
    push(arch);
    expand(arch).iter().for_each(|a| push(a));
    if let Some(m) = multilib {
        push(m);
        expand(m).iter().for_each(|a| push(a));
    }
    push("noarch");
    out
}

/// Merges the tag's own packages (`inputs[0]`) with its external repos (`inputs[1..]`,
/// highest priority first) into the package list of the buildroot repo for `arch`.
///
/// First input = the tag's own packages (always kept, except blocked), then external
/// repos in priority order. `blocked` holds the package (= SRPM) names blocked in the
/// tag. See the module docs for the rules of each mode. With no external repo, Koji does
/// not merge at all: the local packages come back unchanged (less blocked ones).
pub fn merge_repos(
    inputs: Vec<MergeInput>,
    blocked: &HashSet<String>,
    arch: &str,
) -> Vec<PackageMeta> {
    let mut inputs = inputs.into_iter();
    let Some(local) = inputs.next() else {
        return Vec::new();
    };
    let externals: Vec<MergeInput> = inputs.collect();
    let is_blocked = |p: &PackageMeta| {
        let srpm = srpm_name(p);
        blocked.contains(srpm.unwrap_or(&p.name))
    };
    let Some(mode) = externals.first().map(|i| i.mode) else {
        return local
            .packages
            .into_iter()
            .filter(|p| !is_blocked(p))
            .collect();
    };
    if let Err(e) = check_external_modes(&externals) {
        tracing::warn!(error = %e, mode = %mode, "merging all external repos with the first one's mode");
    }
    let arches: HashSet<String> = merge_arches(arch).into_iter().collect();
    let all: Vec<MergeInput> = std::iter::once(local).chain(externals).collect();

    // koji mode: which SRPM (by name) each source package name is taken from: the first
    // repo that has the name, and in it the highest version. Every package counts here,
    // whatever its arch (as in mergerepo_c).
    let mut include_srpms: HashMap<String, (usize, String)> = HashMap::new();
    if mode == MergeMode::Koji {
        for (repo, input) in all.iter().enumerate() {
            for p in &input.packages {
                let Some(srpm) = split_srpm(&p.sourcerpm) else {
                    continue;
                };
                match include_srpms.get(srpm.name) {
                    Some((r, _)) if *r != repo => continue,
                    Some((_, existing)) => {
                        let newer = split_srpm(existing).is_none_or(|old| {
                            cmp_evr(&srpm.evr(), &old.evr()) == Ordering::Greater
                        });
                        if !newer {
                            continue;
                        }
                    }
                    None => {}
                }
                include_srpms.insert(srpm.name.to_string(), (repo, p.sourcerpm.clone()));
            }
        }
    }

    let mut out: Vec<PackageMeta> = Vec::new();
    // name -> indexes into `out`, for the same-NEVRA rule
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    let mut seen_nvra: HashSet<String> = HashSet::new();
    let mut dropped = 0usize;
    for (repo, input) in all.into_iter().enumerate() {
        let base = input
            .location_base
            .as_deref()
            .map(|b| b.trim_end_matches('/').to_string())
            .filter(|b| !b.is_empty());
        let before = out.len();
        for mut p in input.packages {
            let local_src = repo == 0 && p.arch == "src";
            if !local_src && !arches.contains(&p.arch) {
                dropped += 1;
                continue;
            }
            if !allowed(&p, mode, blocked, &include_srpms, &mut seen_nvra) {
                dropped += 1;
                continue;
            }
            if repo == 0 && is_blocked(&p) {
                dropped += 1;
                continue;
            }
            if mode != MergeMode::Simple {
                let same = by_name.get(&p.name).is_some_and(|idx| {
                    idx.iter().any(|&i| {
                        let o = &out[i];
                        o.arch == p.arch
                            && cmp_evr(
                                &(&o.epoch, &o.version, &o.release),
                                &(&p.epoch, &p.version, &p.release),
                            ) == Ordering::Equal
                    })
                });
                if same {
                    tracing::debug!(package = %p.nevra(), repo = %input.name, "same NEVRA already merged");
                    dropped += 1;
                    continue;
                }
            }
            if repo > 0 && p.location_base.as_deref().is_none_or(str::is_empty) {
                p.location_base = base.clone();
            }
            by_name.entry(p.name.clone()).or_default().push(out.len());
            out.push(p);
        }
        tracing::debug!(repo = %input.name, used = out.len() - before, "merged repo");
    }
    tracing::info!(
        mode = %mode,
        arch,
        packages = out.len(),
        dropped,
        "merged external repos"
    );
    out
}

/// mergerepo_c's `koji_allowed`: the blocked list (koji and simple), the SRPM owner and
/// the once-per-NVRA rule (koji). A package without a source RPM passes; one whose
/// source RPM name cannot be parsed is dropped.
fn allowed(
    p: &PackageMeta,
    mode: MergeMode,
    blocked: &HashSet<String>,
    include_srpms: &HashMap<String, (usize, String)>,
    seen_nvra: &mut HashSet<String>,
) -> bool {
    if !p.sourcerpm.is_empty() {
        let Some(srpm) = split_srpm(&p.sourcerpm) else {
            tracing::debug!(package = %p.nevra(), sourcerpm = %p.sourcerpm, "unparsable source RPM name");
            return false;
        };
        if mode != MergeMode::Bare && blocked.contains(srpm.name) {
            return false;
        }
        if mode == MergeMode::Koji
            && include_srpms
                .get(srpm.name)
                .is_none_or(|(_, s)| *s != p.sourcerpm)
        {
            return false;
        }
    }
    if mode == MergeMode::Koji {
        let nvra = format!("{}-{}-{}.{}", p.name, p.version, p.release, p.arch);
        if !seen_nvra.insert(nvra) {
            return false;
        }
    }
    true
}

/// The source package name of a binary package (None for source packages and for
/// unparsable `sourcerpm` values).
fn srpm_name(p: &PackageMeta) -> Option<&str> {
    split_srpm(&p.sourcerpm).map(|s| s.name)
}

/// A source RPM file name split into its parts.
#[derive(Debug, PartialEq, Eq)]
struct SrpmName<'a> {
    name: &'a str,
    epoch: &'a str,
    version: &'a str,
    release: &'a str,
}

impl<'a> SrpmName<'a> {
    fn evr(&self) -> (&'a str, &'a str, &'a str) {
        (self.epoch, self.version, self.release)
    }
}

/// `name-[epoch:]version-release.arch.rpm` (also `N-V-R.A.rpm:E` and `E:N-V-R.A.rpm`, the
/// spellings createrepo_c accepts). None when there are not two dashes.
fn split_srpm(s: &str) -> Option<SrpmName<'_>> {
    if s.is_empty() {
        return None;
    }
    let s = s.rsplit('/').next().unwrap_or(s);
    let (s, mut epoch) = match s.split_once(':') {
        Some((head, e)) if head.ends_with(".rpm") => (head, e),
        _ => (s, ""),
    };
    let s = s.strip_suffix(".rpm").unwrap_or(s);
    let s = match s.rfind('.') {
        Some(i) => &s[..i],
        None => s,
    };
    let (rest, release) = s.rsplit_once('-')?;
    let (mut name, mut version) = rest.rsplit_once('-')?;
    if let Some((e, v)) = version.split_once(':') {
        epoch = e;
        version = v;
    } else if let Some((e, n)) = name.split_once(':') {
        epoch = e;
        name = n;
    }
    if name.is_empty() {
        return None;
    }
    Some(SrpmName {
        name,
        epoch,
        version,
        release,
    })
}

/// Compares (epoch, version, release) like rpm; an empty epoch is 0.
fn cmp_evr(a: &(&str, &str, &str), b: &(&str, &str, &str)) -> Ordering {
    let e = |x: &str| {
        if x.is_empty() {
            "0".to_string()
        } else {
            x.to_string()
        }
    };
    rpmvercmp(&e(a.0), &e(b.0))
        .then_with(|| rpmvercmp(a.1, b.1))
        .then_with(|| rpmvercmp(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, evr: &str, arch: &str, srpm: &str) -> PackageMeta {
        let (epoch, vr) = evr.split_once(':').unwrap_or(("0", evr));
        let (version, release) = vr.split_once('-').unwrap_or((vr, "1"));
        PackageMeta {
            name: name.into(),
            arch: arch.into(),
            epoch: epoch.into(),
            version: version.into(),
            release: release.into(),
            checksum: format!("{name}-{evr}-{arch}-{srpm}"),
            checksum_type: "sha256".into(),
            sourcerpm: srpm.into(),
            location_href: format!("{name}-{version}-{release}.{arch}.rpm"),
            ..Default::default()
        }
    }

    fn input(
        name: &str,
        mode: MergeMode,
        base: Option<&str>,
        pkgs: Vec<PackageMeta>,
    ) -> MergeInput {
        MergeInput {
            packages: pkgs,
            mode,
            location_base: base.map(str::to_string),
            name: name.into(),
        }
    }

    fn names(v: &[PackageMeta]) -> Vec<String> {
        let mut n: Vec<String> = v
            .iter()
            .map(|p| {
                format!(
                    "{}-{}-{}.{}@{}",
                    p.name,
                    p.version,
                    p.release,
                    p.arch,
                    p.location_base.as_deref().unwrap_or("local")
                )
            })
            .collect();
        n.sort();
        n
    }

    fn blocked(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn scenario(mode: MergeMode) -> Vec<MergeInput> {
        vec![
            input(
                "tag",
                MergeMode::Koji,
                None,
                vec![
                    pkg("foo", "2.0-1", "x86_64", "foo-2.0-1.src.rpm"),
                    pkg("foo", "2.0-1", "src", ""),
                    pkg("common", "1-1", "noarch", "common-1-1.src.rpm"),
                ],
            ),
            input(
                "ext1",
                mode,
                Some("http://mirror/ext1/x86_64/"),
                vec![
                    // same SRPM name as a local build: koji mode drops all of it
                    pkg("foo", "3.0-1", "x86_64", "foo-3.0-1.src.rpm"),
                    pkg("foo-extras", "3.0-1", "x86_64", "foo-3.0-1.src.rpm"),
                    // multilib and sub-arches are kept, other arches not
                    pkg("bar", "1-1", "i686", "bar-1-1.src.rpm"),
                    pkg("bar", "1-1", "x86_64", "bar-1-1.src.rpm"),
                    pkg("bar", "1-1", "aarch64", "bar-1-1.src.rpm"),
                    pkg("bar", "1-1", "src", ""),
                    // two versions of one SRPM in one repo: the higher wins (koji)
                    pkg("baz", "1.9-1", "noarch", "baz-1.9-1.src.rpm"),
                    pkg("baz", "1.10-1", "noarch", "baz-1.10-1.src.rpm"),
                    pkg("evil", "1-1", "noarch", "evil-1-1.src.rpm"),
                    // the same NEVRA as in ext2
                    pkg("dup", "1-1", "noarch", "dup-1-1.src.rpm"),
                ],
            ),
            input(
                "ext2",
                mode,
                Some("http://mirror/ext2/x86_64"),
                vec![
                    pkg("bar", "2-1", "x86_64", "bar-2-1.src.rpm"),
                    pkg("qux", "1-1", "x86_64", "qux-1-1.src.rpm"),
                    pkg("dup", "1-1", "noarch", "dup-1-1.src.rpm"),
                ],
            ),
        ]
    }

    #[test]
    fn koji_mode() {
        let out = merge_repos(scenario(MergeMode::Koji), &blocked(&["evil"]), "x86_64");
        assert_eq!(
            names(&out),
            vec![
                "bar-1-1.i686@http://mirror/ext1/x86_64",
                "bar-1-1.x86_64@http://mirror/ext1/x86_64",
                "baz-1.10-1.noarch@http://mirror/ext1/x86_64",
                "common-1-1.noarch@local",
                "dup-1-1.noarch@http://mirror/ext1/x86_64",
                "foo-2.0-1.src@local",
                "foo-2.0-1.x86_64@local",
                "qux-1-1.x86_64@http://mirror/ext2/x86_64",
            ]
        );
    }

    #[test]
    fn simple_mode_keeps_duplicates_and_other_repos_builds() {
        let out = merge_repos(scenario(MergeMode::Simple), &blocked(&["evil"]), "x86_64");
        assert_eq!(
            names(&out),
            vec![
                "bar-1-1.i686@http://mirror/ext1/x86_64",
                "bar-1-1.x86_64@http://mirror/ext1/x86_64",
                "bar-2-1.x86_64@http://mirror/ext2/x86_64",
                "baz-1.10-1.noarch@http://mirror/ext1/x86_64",
                "baz-1.9-1.noarch@http://mirror/ext1/x86_64",
                "common-1-1.noarch@local",
                "dup-1-1.noarch@http://mirror/ext1/x86_64",
                "dup-1-1.noarch@http://mirror/ext2/x86_64",
                "foo-2.0-1.src@local",
                "foo-2.0-1.x86_64@local",
                "foo-3.0-1.x86_64@http://mirror/ext1/x86_64",
                "foo-extras-3.0-1.x86_64@http://mirror/ext1/x86_64",
                "qux-1-1.x86_64@http://mirror/ext2/x86_64",
            ]
        );
    }

    #[test]
    fn bare_mode_ignores_blocked_and_keeps_one_per_nevra() {
        let out = merge_repos(scenario(MergeMode::Bare), &blocked(&["evil"]), "x86_64");
        let n = names(&out);
        assert!(n.contains(&"evil-1-1.noarch@http://mirror/ext1/x86_64".to_string()));
        assert!(n.contains(&"dup-1-1.noarch@http://mirror/ext1/x86_64".to_string()));
        assert!(!n.contains(&"dup-1-1.noarch@http://mirror/ext2/x86_64".to_string()));
        assert!(n.contains(&"foo-3.0-1.x86_64@http://mirror/ext1/x86_64".to_string()));
        assert!(n.contains(&"bar-2-1.x86_64@http://mirror/ext2/x86_64".to_string()));
        assert!(
            !n.iter()
                .any(|x| x.contains("aarch64") || x.starts_with("bar-1-1.src"))
        );
        assert_eq!(n.len(), 13, "{n:#?}");
    }

    #[test]
    fn blocked_local_and_no_external_repos() {
        let local = input(
            "tag",
            MergeMode::Koji,
            None,
            vec![
                pkg("foo", "1-1", "x86_64", "foo-1-1.src.rpm"),
                pkg("foo-libs", "1-1", "x86_64", "foo-1-1.src.rpm"),
                pkg("bar", "1-1", "ppc64le", "bar-1-1.src.rpm"),
            ],
        );
        let out = merge_repos(vec![local.clone()], &blocked(&["foo"]), "x86_64");
        // nothing to merge: only the blocked filter (by source package name)
        assert_eq!(names(&out), vec!["bar-1-1.ppc64le@local"]);
        let ext = input("e", MergeMode::Koji, Some("http://x/"), vec![]);
        let out = merge_repos(vec![local, ext], &blocked(&["foo"]), "x86_64");
        assert!(out.is_empty(), "{:?}", names(&out));
    }

    #[test]
    fn existing_xml_base_is_kept() {
        let mut p = pkg("a", "1-1", "noarch", "a-1-1.src.rpm");
        p.location_base = Some("http://elsewhere/repo".into());
        let out = merge_repos(
            vec![
                input("tag", MergeMode::Koji, None, vec![]),
                input("e", MergeMode::Koji, Some("http://x/"), vec![p]),
            ],
            &HashSet::new(),
            "x86_64",
        );
        assert_eq!(
            out[0].location_base.as_deref(),
            Some("http://elsewhere/repo")
        );
    }

    #[test]
    fn arches() {
        assert_eq!(
            merge_arches("x86_64"),
            vec![
                "x86_64", "ia32e", "amd64", "i386", "i486", "i586", "geode", "i686", "athlon",
                "noarch"
            ]
        );
        assert_eq!(merge_arches("aarch64"), vec!["aarch64", "noarch"]);
        assert_eq!(merge_arches("s390x"), vec!["s390x", "s390", "noarch"]);
    }

    #[test]
    fn modes_parse_and_mixing_is_reported() {
        assert_eq!("koji".parse::<MergeMode>(), Ok(MergeMode::Koji));
        assert_eq!("bare".parse::<MergeMode>(), Ok(MergeMode::Bare));
        let e = "Simple".parse::<MergeMode>().unwrap_err();
        assert!(e.to_string().contains("\"Simple\""), "{e}");
        let inputs = vec![
            input("tag", MergeMode::Bare, None, vec![]),
            input("a", MergeMode::Koji, Some("http://a"), vec![]),
            input("b", MergeMode::Koji, Some("http://b"), vec![]),
        ];
        assert!(check_merge_modes(&inputs).is_ok());
        let mut mixed = inputs;
        mixed[2].mode = MergeMode::Simple;
        let e = check_merge_modes(&mixed).unwrap_err().to_string();
        assert!(e.contains("a (koji)") && e.contains("b (simple)"), "{e}");
    }

    #[test]
    fn srpm_names() {
        let s = split_srpm("foo-bar-1.2-3.fc40.src.rpm").unwrap();
        assert_eq!(
            (s.name, s.epoch, s.version, s.release),
            ("foo-bar", "", "1.2", "3.fc40")
        );
        let s = split_srpm("foo-2:1.2-3.src.rpm").unwrap();
        assert_eq!((s.name, s.epoch, s.version), ("foo", "2", "1.2"));
        assert!(split_srpm("foo.src.rpm").is_none());
        assert!(split_srpm("").is_none());
    }

    #[test]
    fn vercmp() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.10", "1.9", Greater),
            ("1.0", "1.0.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1a", "1.a", Equal),
            ("2.0", "2a", Greater),
            ("001", "1", Equal),
            ("a", "1", Less),
            ("fc40", "fc9", Greater),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}
