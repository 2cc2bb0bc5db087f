//! What the builder needs from a source RPM header (NVR for `initBuild`, the arch tags for
//! choosing buildArch subtasks), and kojid's arch selection.

use std::path::Path;

use kkoji_repodata::RpmHeader;

use crate::deps::Requirement;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrpmInfo {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<u32>,
    pub is_source: bool,
    pub build_archs: Vec<String>,
    pub exclusive_arch: Vec<String>,
    pub exclude_arch: Vec<String>,
    /// The package's requirements; for a source package these are its BuildRequires
    /// (plus `rpmlib(...)` features).
    pub requires: Vec<Requirement>,
}

impl SrpmInfo {
    pub fn nvr(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.release)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SrpmError {
    #[error("cannot read the RPM header of {path}: {message}")]
    Header { path: String, message: String },
}

/// Reads the header only (the payload is never touched), with the workspace's one RPM
/// header reader.
pub fn read_srpm(path: &Path) -> Result<SrpmInfo, SrpmError> {
    let h = kkoji_repodata::read_header(path).map_err(|e| SrpmError::Header {
        path: path.display().to_string(),
        message: e.detail(),
    })?;
    Ok(SrpmInfo::from(h))
}

impl From<RpmHeader> for SrpmInfo {
    fn from(h: RpmHeader) -> SrpmInfo {
        SrpmInfo {
            name: h.name,
            version: h.version,
            release: h.release,
            epoch: h.epoch,
            is_source: h.is_source,
            build_archs: h.build_archs,
            exclusive_arch: h.exclusive_arch,
            exclude_arch: h.exclude_arch,
            requires: h
                .requires
                .into_iter()
                .map(|d| Requirement::new(d.name, d.flags, d.version))
                .collect(),
        }
    }
}

/// `koji.canonArch`: the arch family a tag or host names.
pub fn canon_arch(arch: &str) -> &str {
    match arch {
        "i386" | "i486" | "i586" | "i686" | "athlon" | "geode" | "pentium3" | "pentium4" => "i386",
        "x86_64" | "amd64" | "ia32e" | "x86_64_v2" | "x86_64_v3" | "x86_64_v4" => "x86_64",
        "armv7hl" | "armv7hnl" | "armv8hl" | "armv8hnl" | "armv8hcnl" => "armhfp",
        "armv5tel" | "armv5tejl" | "armv6l" | "armv7l" | "armv8l" => "arm",
        "ppc64p7" => "ppc64",
        a => a,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("No matching arches were found (tag arches: {tag_arches}; {detail})")]
pub struct NoArches {
    pub tag_arches: String,
    pub detail: String,
}

/// kojid's `getArchList`: the tag's arches, replaced by BuildArchs, filtered by
/// ExclusiveArch/ExcludeArch, plus `noarch` for noarch packages; `arch_override` (scratch
/// builds only, the caller checks) replaces the list; finally only arches whose canonical
/// form is a tag arch survive (`noarch` always does).
///
/// One deliberate difference: `noarch` among the *tag's* arches is not a build arch for
/// an arch-specific package. Koji would build such a package a second time "for noarch"
/// (rpmbuild then produces the host arch's RPMs again, and the import collides); tags
/// created with `--arches "x86_64 noarch"` are common enough to guard against.
pub fn select_arches(
    srpm: &SrpmInfo,
    tag_arches: &str,
    arch_override: Option<&str>,
) -> Result<Vec<String>, NoArches> {
    let tag_list: Vec<&str> = tag_arches.split_whitespace().collect();
    let canon_tag: Vec<&str> = tag_list.iter().map(|a| canon_arch(a)).collect();
    let has = |list: &[String], a: &str| list.iter().any(|x| x == a);
    let mut archlist: Vec<String> = if srpm.build_archs.is_empty() {
        tag_list
            .iter()
            .filter(|a| **a != "noarch")
            .map(|a| (*a).to_owned())
            .collect()
    } else {
        srpm.build_archs.clone()
    };
    if !srpm.exclusive_arch.is_empty() {
        archlist.retain(|a| has(&srpm.exclusive_arch, a));
    }
    if !srpm.exclude_arch.is_empty() {
        archlist.retain(|a| !has(&srpm.exclude_arch, a));
    }
    if !has(&srpm.exclude_arch, "noarch")
        && (has(&srpm.build_archs, "noarch") || has(&srpm.exclusive_arch, "noarch"))
    {
        archlist.push("noarch".into());
    }
    if let Some(o) = arch_override.map(str::trim).filter(|o| !o.is_empty()) {
        archlist = o.split_whitespace().map(str::to_owned).collect();
    }
    let mut out: Vec<String> = Vec::new();
    for a in archlist {
        if (a == "noarch" || canon_tag.contains(&canon_arch(&a))) && !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        let mut detail = Vec::new();
        if !srpm.build_archs.is_empty() {
            detail.push(format!("BuildArch: {}", srpm.build_archs.join(" ")));
        }
        if !srpm.exclusive_arch.is_empty() {
            detail.push(format!("ExclusiveArch: {}", srpm.exclusive_arch.join(" ")));
        }
        if !srpm.exclude_arch.is_empty() {
            detail.push(format!("ExcludeArch: {}", srpm.exclude_arch.join(" ")));
        }
        if let Some(o) = arch_override {
            detail.push(format!("arch_override: {o}"));
        }
        if detail.is_empty() {
            detail.push("the package allows any arch".into());
        }
        return Err(NoArches {
            tag_arches: if tag_arches.trim().is_empty() {
                "none".into()
            } else {
                tag_arches.trim().to_owned()
            },
            detail: detail.join(", "),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(build: &[&str], excl: &[&str], exclude: &[&str]) -> SrpmInfo {
        let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect();
        SrpmInfo {
            name: "kkojitest".into(),
            version: "1.0".into(),
            release: "1".into(),
            epoch: None,
            is_source: true,
            build_archs: v(build),
            exclusive_arch: v(excl),
            exclude_arch: v(exclude),
            requires: Vec::new(),
        }
    }

    #[test]
    fn plain_package_builds_for_every_tag_arch() {
        assert_eq!(
            select_arches(&info(&[], &[], &[]), "x86_64 aarch64", None).unwrap(),
            vec!["x86_64", "aarch64"]
        );
        // noarch among the tag arches is not a build arch for an arch package
        assert_eq!(
            select_arches(&info(&[], &[], &[]), "x86_64 noarch", None).unwrap(),
            vec!["x86_64"]
        );
    }

    #[test]
    fn noarch_package_builds_once() {
        assert_eq!(
            select_arches(&info(&["noarch"], &[], &[]), "x86_64 aarch64", None).unwrap(),
            vec!["noarch"]
        );
        assert_eq!(
            select_arches(&info(&["noarch"], &[], &[]), "x86_64 noarch", None).unwrap(),
            vec!["noarch"]
        );
    }

    #[test]
    fn exclusive_and_exclude() {
        assert_eq!(
            select_arches(
                &info(&[], &["x86_64", "ppc64le"], &[]),
                "x86_64 aarch64",
                None
            )
            .unwrap(),
            vec!["x86_64"]
        );
        assert_eq!(
            select_arches(&info(&[], &[], &["aarch64"]), "x86_64 aarch64", None).unwrap(),
            vec!["x86_64"]
        );
        let e = select_arches(&info(&[], &["s390x"], &[]), "x86_64 aarch64", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "No matching arches were found (tag arches: x86_64 aarch64; ExclusiveArch: s390x)"
        );
    }

    #[test]
    fn canonical_arches_match_tag_arches() {
        assert_eq!(
            select_arches(&info(&[], &["i686", "x86_64"], &[]), "i386 x86_64", None).unwrap(),
            vec!["x86_64"]
        );
        assert_eq!(
            select_arches(&info(&["i686"], &[], &[]), "i386", None).unwrap(),
            vec!["i686"]
        );
    }

    #[test]
    fn arch_override_replaces_the_list() {
        assert_eq!(
            select_arches(&info(&[], &[], &[]), "x86_64 aarch64", Some("aarch64")).unwrap(),
            vec!["aarch64"]
        );
        // still limited to the tag's arches
        let e = select_arches(&info(&[], &[], &[]), "x86_64", Some("s390x")).unwrap_err();
        assert!(e.to_string().contains("arch_override: s390x"), "{e}");
        // an empty override is no override
        assert_eq!(
            select_arches(&info(&[], &[], &[]), "x86_64", Some(" ")).unwrap(),
            vec!["x86_64"]
        );
    }

    #[test]
    fn empty_tag_arches() {
        let e = select_arches(&info(&[], &[], &[]), "", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "No matching arches were found (tag arches: none; the package allows any arch)"
        );
    }

    #[test]
    fn canon() {
        assert_eq!(canon_arch("i686"), "i386");
        assert_eq!(canon_arch("amd64"), "x86_64");
        assert_eq!(canon_arch("aarch64"), "aarch64");
        assert_eq!(canon_arch("armv7hl"), "armhfp");
    }
}
