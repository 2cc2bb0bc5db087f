//! kkoji's yum repository metadata: what createrepo_c does for Koji, as a library.
//!
//! * [`read_rpm`] turns one RPM into a [`PackageMeta`] (checksum, header fields, header
//!   byte range, dependencies with flags and `pre`, files, changelogs), following
//!   createrepo_c's rules so dnf sees the same thing it would see from createrepo_c.
//! * [`read_header`] / [`read_header_file`] read only the headers, for what the hub and
//!   the builder need of a package ([`RpmHeader`]: NVR, arch, payload hash, SRPM arches
//!   and BuildRequires, descriptive tags and the raw changelog).
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
//!
//! # Incremental regeneration
//!
//! A build tag's repo is regenerated after every build, usually with one package
//! different. With a [`MetaCache`], [`create_repo`] / [`create_repo_from`] do only the
//! work that change needs:
//!
//! 1. Each file is `stat`ed; the cache index maps an unchanged file (same size, mtime,
//!    inode) to its SHA-256. Only new or changed RPMs are read (hashed and parsed).
//! 2. The packages, in createrepo_c's order, are cut into chunks of about 32 at
//!    boundaries chosen by package name, so a change moves no boundary but its own.
//! 3. primary, filelists and other are each written as a sequence of compressed members
//!    (gzip members or zstd frames; readers decompress them as one stream), one per chunk.
//!    A chunk whose packages (checksum, href, mtime, size) are the same as in an earlier
//!    run is copied from the record that run left in `<cache>/chunks/id/`: its
//!    uncompressed XML is hashed for `open-checksum`, its compressed member is copied. Only
//!    chunks with a changed package load their packages' metadata, render and compress.
//!
//! The output is byte-identical to a run without cache, and decompresses to exactly what
//! createrepo_c writes. [`write_repo`] (for callers that merge packages from several
//! sources) gets part of the benefit through [`WriteOptions::chunk_cache`]: unchanged
//! chunks are not compressed again, but every package is still loaded and rendered.

mod cache;
mod chunks;
mod codec;
mod compress;
mod error;
mod header;
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
pub use header::{
    HeaderChangelogEntry, HeaderDependency, HeaderStrings, RpmHeader, read_header, read_header_file,
};
pub use incremental::{create_repo, create_repo_from};
pub use merge::{
    MergeInput, MergeMode, MixedMergeModes, ParseMergeModeError, check_merge_modes, merge_arches,
    merge_repos,
};
pub use meta::{
    ChangelogEntry, DepFlag, Dependency, FileKind, PackageFile, PackageMeta, is_primary_file,
};
pub use reader::{RepoReadOptions, read_repo, read_repo_with, read_repomd};
pub use remote::{Remote, read_remote_repo, remote_repomd_timestamp};
pub use repomd::{Checksum, RepoMd, RepoMdRecord};
pub use rpmread::{DEFAULT_CHANGELOG_LIMIT, ReadOptions, read_rpm, read_rpm_with, rpmvercmp};
pub use scan::{OnBadRpm, ReadPackagesOptions, RpmFile, find_rpms, read_packages};
pub use writer::{Groups, WriteOptions, write_repo};

/// Re-exported so callers can pass a progress bar without depending on indicatif's
/// version themselves.
pub use indicatif::ProgressBar;
