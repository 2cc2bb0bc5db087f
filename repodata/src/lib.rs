//! kkoji's yum repository metadata: what createrepo_c does for Koji, as a library.
//!
//! * [`read_rpm`] turns one RPM into a [`PackageMeta`] (checksum, header fields, header
//!   byte range, dependencies with flags and `pre`, files, changelogs), following
//!   createrepo_c's rules so dnf sees the same thing it would see from createrepo_c.
//! * [`MetaCache`] remembers that per package (keyed by the file's SHA-256, found again by
//!   a `stat`), so regenerating a repo after one package changed reads only that package.
//! * [`write_repo`] writes `repodata/` (repomd.xml, primary, filelists, other, optional
//!   comps) gzip- or zstd-compressed, atomically replacing the previous repodata.
//! * [`read_repo`] reads repodata back (ours, createrepo_c's or an upstream mirror's);
//!   [`read_remote_repo`] downloads an external repo's metadata first (checked, atomic).
//! * [`merge_repos`] merges a tag's packages with its external repos by Koji's rules
//!   (merge modes `koji`, `simple`, `bare`), for the buildroot repo.
//!
//! [`create_repo`] chains them like `createrepo_c DIR`.

mod cache;
mod chunks;
mod codec;
mod compress;
mod error;
mod incremental;
mod merge;
mod meta;
mod reader;
mod remote;
mod repomd;
mod rpmread;
mod scan;
mod writer;
mod xmlread;
mod xmlwrite;

pub use cache::MetaCache;
pub use compress::Compression;
pub use error::{Error, Result};
pub use incremental::create_repo_from;
pub use merge::{
    MergeInput, MergeMode, MixedMergeModes, ParseMergeModeError, check_merge_modes, merge_arches,
    merge_repos,
};
pub use meta::{
    ChangelogEntry, DepFlag, Dependency, FileKind, PackageFile, PackageMeta, is_primary_file,
};
pub use reader::{RepoReadOptions, read_repo, read_repo_with, read_repomd};
pub use remote::{read_remote_repo, remote_repomd_timestamp};
pub use repomd::{Checksum, RepoMd, RepoMdRecord};
pub use rpmread::{DEFAULT_CHANGELOG_LIMIT, ReadOptions, read_rpm, read_rpm_with};
pub use scan::{OnBadRpm, ReadPackagesOptions, RpmFile, create_repo, find_rpms, read_packages};
pub use writer::{Groups, WriteOptions, write_repo};

/// Re-exported so callers can pass a progress bar without depending on indicatif's
/// version themselves.
pub use indicatif::ProgressBar;
