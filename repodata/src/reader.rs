//! Reading existing repodata (ours, createrepo_c's, or an upstream mirror's) back into
//! [`PackageMeta`]s: repomd.xml first, then primary and optionally filelists and other.
//! Every file is checked against repomd.xml's checksum before it is parsed, because
//! upstream metadata is input from outside.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Component, Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::compress::{file_digest, open_decompressed};
use crate::error::{Error, Result};
use crate::meta::{ChangelogEntry, DepFlag, Dependency, FileKind, PackageFile, PackageMeta};
use crate::repomd::{RepoMd, RepoMdRecord};
use crate::xmlread::{attr_value, local, text_of};

/// Which parts of a repository [`read_repo_with`] reads. primary alone has everything a
/// mirror or depsolver needs; filelists replaces the primary subset of files with the
/// full list; other adds changelogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoReadOptions {
    pub filelists: bool,
    pub other: bool,
}

impl Default for RepoReadOptions {
    fn default() -> Self {
        RepoReadOptions {
            filelists: true,
            other: true,
        }
    }
}

/// Reads `repodata/repomd.xml` of a local repository (a directory or a `file://` URL).
pub fn read_repomd(repo: impl AsRef<Path>) -> Result<RepoMd> {
    let root = repo_root(repo.as_ref())?;
    let path = root.join("repodata").join("repomd.xml");
    let f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    RepoMd::parse(std::io::BufReader::new(f), &path)
}

/// Reads every package of a local repository with primary, filelists and other.
pub fn read_repo(repo: impl AsRef<Path>) -> Result<Vec<PackageMeta>> {
    read_repo_with(repo, &RepoReadOptions::default())
}

/// Reads the packages of a local repository (a directory or a `file://` URL), in the
/// order of primary.xml.
pub fn read_repo_with(repo: impl AsRef<Path>, opts: &RepoReadOptions) -> Result<Vec<PackageMeta>> {
    let root = repo_root(repo.as_ref())?;
    let md = read_repomd(&root)?;
    let repomd_path = root.join("repodata").join("repomd.xml");
    let primary = md
        .record("primary")
        .ok_or_else(|| Error::bad_md(&repomd_path, "no primary metadata"))?;
    let mut packages = parse_with(&root, primary, parse_primary)?;

    let mut by_pkgid: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in packages.iter().enumerate() {
        by_pkgid.entry(p.checksum.clone()).or_default().push(i);
    }
    if opts.filelists
        && let Some(rec) = md.record("filelists")
    {
        for (pkgid, files) in parse_with(&root, rec, parse_filelists)? {
            for &i in by_pkgid.get(&pkgid).into_iter().flatten() {
                packages[i].files = files.clone();
            }
        }
    }
    if opts.other
        && let Some(rec) = md.record("other")
    {
        for (pkgid, changelogs) in parse_with(&root, rec, parse_other)? {
            for &i in by_pkgid.get(&pkgid).into_iter().flatten() {
                packages[i].changelogs = changelogs.clone();
            }
        }
    }
    Ok(packages)
}

/// The local directory of a repository given as a directory or a `file://` URL. Remote
/// URLs are refused here, so that nothing in this module touches the network:
/// [`crate::read_remote_repo`] (or the mirror) downloads first and reads the local copy.
fn repo_root(repo: &Path) -> Result<PathBuf> {
    let Some(s) = repo.to_str() else {
        return Ok(repo.to_path_buf());
    };
    if let Some(rest) = s.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if s.contains("://") {
        return Err(Error::bad_md(
            repo,
            "only local repositories (a directory or file:// URL) are read here; download it with read_remote_repo first",
        ));
    }
    Ok(repo.to_path_buf())
}

/// Resolves a record's href inside the repo (refusing absolute paths and `..`), verifies
/// its checksum and runs `parse` over the decompressed content.
fn parse_with<T>(
    root: &Path,
    rec: &RepoMdRecord,
    parse: fn(Box<dyn BufRead + Send>, &Path) -> Result<T>,
) -> Result<T> {
    let href = Path::new(&rec.location_href);
    if href
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Error::bad_md(
            root.join("repodata").join("repomd.xml"),
            format!(
                "location {:?} points outside the repository",
                rec.location_href
            ),
        ));
    }
    let path = root.join(href);
    match file_digest(&path, &rec.checksum.kind)? {
        Some(d) if d != rec.checksum.hex => {
            return Err(Error::bad_md(
                &path,
                format!(
                    "{} checksum is {d}, repomd.xml says {}",
                    rec.checksum.kind, rec.checksum.hex
                ),
            ));
        }
        Some(_) => {}
        None => tracing::warn!(
            path = %path.display(),
            kind = %rec.checksum.kind,
            "unknown checksum type; metadata file not verified"
        ),
    }
    parse(open_decompressed(&path)?, &path)
}

fn xml_err(reader_pos: u64, path: &Path, e: quick_xml::Error) -> Error {
    Error::bad_md(path, format!("XML error at byte {reader_pos}: {e}"))
}

fn num<T: std::str::FromStr + Default>(e: &BytesStart<'_>, key: &[u8], path: &Path) -> Result<T> {
    match attr_value(e, key, path)? {
        None => Ok(T::default()),
        Some(v) if v.is_empty() => Ok(T::default()),
        Some(v) => v.trim().parse().map_err(|_| {
            Error::bad_md(
                path,
                format!(
                    "attribute {}={v:?} is not a number",
                    String::from_utf8_lossy(key)
                ),
            )
        }),
    }
}

fn s(e: &BytesStart<'_>, key: &[u8], path: &Path) -> Result<String> {
    Ok(attr_value(e, key, path)?.unwrap_or_default())
}

fn file_kind(e: &BytesStart<'_>, path: &Path) -> Result<FileKind> {
    Ok(match attr_value(e, b"type", path)?.as_deref() {
        Some("dir") => FileKind::Dir,
        Some("ghost") => FileKind::Ghost,
        _ => FileKind::File,
    })
}

/// Text of the element just read, empty for `<x/>`.
fn body<R: BufRead>(reader: &mut Reader<R>, has_body: bool, path: &Path) -> Result<String> {
    if has_body {
        text_of(reader, path)
    } else {
        Ok(String::new())
    }
}

fn parse_primary(input: Box<dyn BufRead + Send>, path: &Path) -> Result<Vec<PackageMeta>> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut cur: Option<PackageMeta> = None;
    let mut deps: Option<usize> = None; // index into the dependency lists
    loop {
        buf.clear();
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_err(reader.error_position(), path, e))?;
        let (e, has_body) = match &ev {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(e) => {
                match local(e.name().as_ref()) {
                    b"package" => {
                        if let Some(p) = cur.take() {
                            out.push(p);
                        }
                    }
                    b"provides" | b"requires" | b"conflicts" | b"obsoletes" | b"suggests"
                    | b"enhances" | b"recommends" | b"supplements" => deps = None,
                    _ => {}
                }
                continue;
            }
            Event::Eof => break,
            _ => {
                continue;
            }
        };
        let name = local(e.name().as_ref()).to_vec();
        if name == b"package" {
            cur = Some(PackageMeta::default());
            continue;
        }
        let Some(p) = cur.as_mut() else {
            continue;
        };
        match name.as_slice() {
            b"name" => p.name = body(&mut reader, has_body, path)?,
            b"arch" => p.arch = body(&mut reader, has_body, path)?,
            b"version" => {
                p.epoch = s(e, b"epoch", path)?;
                p.version = s(e, b"ver", path)?;
                p.release = s(e, b"rel", path)?;
            }
            b"checksum" => {
                p.checksum_type = s(e, b"type", path)?;
                p.checksum = body(&mut reader, has_body, path)?;
            }
            b"summary" => p.summary = body(&mut reader, has_body, path)?,
            b"description" => p.description = body(&mut reader, has_body, path)?,
            b"packager" => p.packager = body(&mut reader, has_body, path)?,
            b"url" => p.url = body(&mut reader, has_body, path)?,
            b"time" => {
                p.time_file = num(e, b"file", path)?;
                p.time_build = num(e, b"build", path)?;
            }
            b"size" => {
                p.size_package = num(e, b"package", path)?;
                p.size_installed = num(e, b"installed", path)?;
                p.size_archive = num(e, b"archive", path)?;
            }
            b"location" => {
                p.location_href = s(e, b"href", path)?;
                p.location_base = attr_value(e, b"xml:base", path)?;
            }
            b"license" => p.license = body(&mut reader, has_body, path)?,
            b"vendor" => p.vendor = body(&mut reader, has_body, path)?,
            b"group" => p.group = body(&mut reader, has_body, path)?,
            b"buildhost" => p.buildhost = body(&mut reader, has_body, path)?,
            b"sourcerpm" => p.sourcerpm = body(&mut reader, has_body, path)?,
            b"header-range" => {
                p.header_start = num(e, b"start", path)?;
                p.header_end = num(e, b"end", path)?;
            }
            b"provides" => deps = Some(0),
            b"requires" => deps = Some(1),
            b"conflicts" => deps = Some(2),
            b"obsoletes" => deps = Some(3),
            b"suggests" => deps = Some(4),
            b"enhances" => deps = Some(5),
            b"recommends" => deps = Some(6),
            b"supplements" => deps = Some(7),
            b"entry" => {
                if let Some(k) = deps {
                    let d = Dependency {
                        name: s(e, b"name", path)?,
                        flags: attr_value(e, b"flags", path)?
                            .as_deref()
                            .and_then(DepFlag::parse),
                        epoch: attr_value(e, b"epoch", path)?,
                        ver: attr_value(e, b"ver", path)?,
                        rel: attr_value(e, b"rel", path)?,
                        pre: matches!(
                            attr_value(e, b"pre", path)?.as_deref(),
                            Some("1") | Some("true")
                        ),
                    };
                    let list = match k {
                        0 => &mut p.provides,
                        1 => &mut p.requires,
                        2 => &mut p.conflicts,
                        3 => &mut p.obsoletes,
                        4 => &mut p.suggests,
                        5 => &mut p.enhances,
                        6 => &mut p.recommends,
                        _ => &mut p.supplements,
                    };
                    list.push(d);
                }
            }
            b"file" => {
                let kind = file_kind(e, path)?;
                let f = body(&mut reader, has_body, path)?;
                p.files.push(PackageFile { path: f, kind });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Reads one child item (a `<file>` or `<changelog>`); `bool` says whether it has a body.
type ItemReader<T> = fn(&mut Reader<Input>, &BytesStart<'_>, bool, &Path) -> Result<T>;
type Input = Box<dyn BufRead + Send>;

/// Shared shape of filelists.xml and other.xml: `<package pkgid=…>` with child items.
fn parse_per_pkgid<T>(
    input: Box<dyn BufRead + Send>,
    path: &Path,
    item: &[u8],
    read_item: ItemReader<T>,
) -> Result<Vec<(String, Vec<T>)>> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut cur: Option<(String, Vec<T>)> = None;
    loop {
        buf.clear();
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_err(reader.error_position(), path, e))?;
        match &ev {
            Event::Start(e) | Event::Empty(e) => {
                let has_body = matches!(ev, Event::Start(_));
                let qname = e.name();
                let name = local(qname.as_ref());
                if name == b"package" {
                    let pkgid = s(e, b"pkgid", path)?;
                    if has_body {
                        cur = Some((pkgid, Vec::new()));
                    } else {
                        out.push((pkgid, Vec::new()));
                    }
                } else if name == item
                    && let Some((_, items)) = cur.as_mut()
                {
                    items.push(read_item(&mut reader, e, has_body, path)?);
                }
            }
            Event::End(e) => {
                if local(e.name().as_ref()) == b"package"
                    && let Some(c) = cur.take()
                {
                    out.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn parse_filelists(
    input: Box<dyn BufRead + Send>,
    path: &Path,
) -> Result<Vec<(String, Vec<PackageFile>)>> {
    parse_per_pkgid(input, path, b"file", |reader, e, has_body, path| {
        let kind = file_kind(e, path)?;
        Ok(PackageFile {
            path: body(reader, has_body, path)?,
            kind,
        })
    })
}

fn parse_other(
    input: Box<dyn BufRead + Send>,
    path: &Path,
) -> Result<Vec<(String, Vec<ChangelogEntry>)>> {
    parse_per_pkgid(input, path, b"changelog", |reader, e, has_body, path| {
        let author = s(e, b"author", path)?;
        let date = num(e, b"date", path)?;
        Ok(ChangelogEntry {
            author,
            date,
            text: body(reader, has_body, path)?,
        })
    })
}
