//! The data one RPM contributes to a repository's metadata.
//!
//! These types are what [`crate::read_rpm`] produces, what [`crate::MetaCache`] stores,
//! what [`crate::write_repo`] renders and what [`crate::read_repo`] parses back, so that
//! local builds and upstream (mirrored) repositories flow through one representation.

use serde::{Deserialize, Serialize};

/// Everything one package contributes to `primary.xml`, `filelists.xml` and `other.xml`.
///
/// Strings that are absent from the RPM header are empty strings, as createrepo_c writes
/// them (`<packager></packager>`); the XML cannot tell "absent" from "empty" anyway.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PackageMeta {
    pub name: String,
    /// `src` for source packages (createrepo_c's rule), otherwise the header's arch.
    pub arch: String,
    /// Always a number as text ("0" when the header has no epoch), as in primary.xml.
    pub epoch: String,
    pub version: String,
    pub release: String,
    /// Hex digest of the whole RPM file; this is the package id (`pkgid`).
    pub checksum: String,
    /// Digest name as it appears in the XML (`sha256` for everything we compute).
    pub checksum_type: String,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    /// The RPM file's mtime (seconds): `<time file=…>`.
    pub time_file: i64,
    /// The header's BUILDTIME: `<time build=…>`.
    pub time_build: i64,
    /// Size of the RPM file in bytes.
    pub size_package: u64,
    /// Sum of the installed file sizes (LONGSIZE or SIZE).
    pub size_installed: u64,
    /// Size of the uncompressed payload archive.
    pub size_archive: u64,
    /// Path of the RPM relative to the repository root (`<location href=…>`).
    pub location_href: String,
    /// Optional `xml:base` of the location (a URL the href is relative to); createrepo_c's
    /// `--baseurl`. A base starting with `/` is written as `file://…` like createrepo_c does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_base: Option<String>,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    pub sourcerpm: String,
    /// Byte offset where the main header starts (after lead, signature and padding).
    pub header_start: u64,
    /// Byte offset just past the main header (where the payload starts).
    pub header_end: u64,
    pub provides: Vec<Dependency>,
    pub requires: Vec<Dependency>,
    pub conflicts: Vec<Dependency>,
    pub obsoletes: Vec<Dependency>,
    pub suggests: Vec<Dependency>,
    pub enhances: Vec<Dependency>,
    pub recommends: Vec<Dependency>,
    pub supplements: Vec<Dependency>,
    /// Every file of the package in header order. primary.xml gets only the ones
    /// [`is_primary_file`] selects; filelists.xml gets all of them.
    pub files: Vec<PackageFile>,
    /// Changelog entries, oldest first (the order other.xml uses), limited to the newest
    /// N entries of the header when read with a limit.
    pub changelogs: Vec<ChangelogEntry>,
}

impl PackageMeta {
    /// `name-epoch:version-release.arch`, for messages.
    pub fn nevra(&self) -> String {
        format!(
            "{}-{}:{}-{}.{}",
            self.name, self.epoch, self.version, self.release, self.arch
        )
    }
}

/// Comparison operator of a versioned dependency, as spelled in the XML `flags` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DepFlag {
    #[serde(rename = "LT")]
    Lt,
    #[serde(rename = "GT")]
    Gt,
    #[serde(rename = "EQ")]
    Eq,
    #[serde(rename = "LE")]
    Le,
    #[serde(rename = "GE")]
    Ge,
}

impl DepFlag {
    /// The XML spelling (`EQ`, `LT`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DepFlag::Lt => "LT",
            DepFlag::Gt => "GT",
            DepFlag::Eq => "EQ",
            DepFlag::Le => "LE",
            DepFlag::Ge => "GE",
        }
    }

    /// Parses the XML spelling; anything else is "no flag".
    pub fn parse(s: &str) -> Option<DepFlag> {
        Some(match s {
            "LT" => DepFlag::Lt,
            "GT" => DepFlag::Gt,
            "EQ" => DepFlag::Eq,
            "LE" => DepFlag::Le,
            "GE" => DepFlag::Ge,
            _ => return None,
        })
    }

    /// Maps RPMSENSE bits to a flag exactly like createrepo_c's `cr_flag_to_str`: only the
    /// low comparison bits count and unknown combinations mean "unversioned".
    pub fn from_rpmsense(bits: u32) -> Option<DepFlag> {
        match bits & 0xf {
            2 => Some(DepFlag::Lt),
            4 => Some(DepFlag::Gt),
            8 => Some(DepFlag::Eq),
            10 => Some(DepFlag::Le),
            12 => Some(DepFlag::Ge),
            _ => None,
        }
    }
}

/// One `<rpm:entry>` of provides/requires/conflicts/obsoletes or a weak-dependency list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dependency {
    pub name: String,
    pub flags: Option<DepFlag>,
    pub epoch: Option<String>,
    pub ver: Option<String>,
    pub rel: Option<String>,
    /// `pre="1"`: needed before the package's scriptlets run (Requires(pre/post), PreReq).
    /// Only meaningful for requires.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pre: bool,
}

/// How filelists.xml marks a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

/// One file of a package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PackageFile {
    /// Absolute path inside the package (dirname + basename).
    pub path: String,
    pub kind: FileKind,
}

/// One `<changelog>` of other.xml.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChangelogEntry {
    pub author: String,
    /// Seconds since the epoch. Entries of equal time are nudged apart by one second like
    /// createrepo_c does, so that consumers keying on the date keep all of them.
    pub date: i64,
    pub text: String,
}

/// createrepo_c's (and yum's) rule for which files go into primary.xml: `/etc/*`,
/// anything with `bin/` in it, and `/usr/lib/sendmail`. Depsolvers rely on exactly this
/// subset being present without downloading filelists.
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}
