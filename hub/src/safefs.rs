//! The one place where a client-supplied path becomes a file under the topdir.
//!
//! Builders and packagers name files by relative path; a path component that is a symlink
//! (left by an earlier import, or planted) must never take the hub elsewhere. Every lookup
//! here goes through `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from a descriptor of
//! the topdir, and moves use `renameat` between descriptors opened that way, so no symlink
//! is followed and nothing outside the topdir is reached.

use crate::error::{HResult, HubError};
use crate::topdir;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat2, readlinkat, renameat};
use nix::sys::stat::{Mode, SFlag, fstat, fstatat, mkdirat};
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        )
}

/// A descriptor of the topdir from which every client path is resolved.
pub struct Tree {
    root: OwnedFd,
    top: PathBuf,
}

/// A regular file a host named, opened without following any symlink.
pub struct Input {
    /// Where the client said it is, relative to the topdir.
    pub rel: PathBuf,
    pub file: File,
    /// Set when `rel` is the hub's own link left by an earlier, interrupted import: the
    /// file already sits here (relative to the topdir).
    pub moved_to: Option<PathBuf>,
}

fn split(rel: &Path) -> (Option<&Path>, &OsStr) {
    let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
    (parent, rel.file_name().unwrap_or_else(|| OsStr::new(".")))
}

impl Tree {
    pub fn open(top: &Path) -> HResult<Tree> {
        let root = nix::fcntl::open(
            top,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            tracing::error!(topdir = %top.display(), error = %e, "cannot open the topdir");
            HubError::generic("the hub's file tree is not available")
        })?;
        Ok(Tree {
            root,
            top: top.to_path_buf(),
        })
    }

    pub fn top(&self) -> &Path {
        &self.top
    }

    /// A directory below the topdir (`""` is the topdir itself).
    pub fn dir(&self, rel: Option<&Path>) -> Result<OwnedFd, Errno> {
        let rel = rel.unwrap_or(Path::new("."));
        openat2(
            self.root.as_fd(),
            rel,
            how(OFlag::O_DIRECTORY | OFlag::O_RDONLY),
        )
    }

    /// A regular file below the topdir, for reading.
    pub fn file(&self, rel: &Path) -> Result<File, Errno> {
        let fd = openat2(self.root.as_fd(), rel, how(OFlag::O_RDONLY))?;
        let st = fstat(&fd)?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(Errno::EISDIR);
        }
        Ok(File::from(fd))
    }

    /// `mkdir -p` below the topdir that never passes through a symlink.
    pub fn mkdirs(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        let mut cur = self.dir(None)?;
        for c in rel.components() {
            let std::path::Component::Normal(name) = c else {
                return Err(Errno::EINVAL);
            };
            match mkdirat(cur.as_fd(), name, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            cur = openat2(cur.as_fd(), name, how(OFlag::O_DIRECTORY | OFlag::O_RDONLY))?;
        }
        Ok(cur)
    }

    /// A file a host names for import: `rel` (relative to work/) must lie inside one of
    /// `task_dirs` (relative to work/), be a regular file and be completely uploaded. A
    /// symlink is accepted only when it is the hub's own link into packages/ or scratch/
    /// from an earlier import of this very file.
    pub fn host_input(&self, rel: &str, task_dirs: &[PathBuf]) -> HResult<Input> {
        self.input(rel, Some(task_dirs))
    }

    /// A completely uploaded regular file anywhere under work/ (a packager's upload named
    /// in `build()`); no symlink is accepted at all.
    pub fn upload_input(&self, rel: &str) -> HResult<Input> {
        let i = self.input(rel, None)?;
        if i.moved_to.is_some() {
            return Err(HubError::generic(format!("Not a regular file: {rel}")));
        }
        Ok(i)
    }

    fn input(&self, rel: &str, task_dirs: Option<&[PathBuf]>) -> HResult<Input> {
        let clean = topdir::clean_relative(rel)?;
        if let Some(task_dirs) = task_dirs
            && !task_dirs
                .iter()
                .any(|d| clean.starts_with(d) && clean != *d)
        {
            return Err(HubError::not_allowed(format!(
                "{rel} is not in the task's own work directory"
            )));
        }
        let full = Path::new("work").join(&clean);
        let (parent, name) = split(&full);
        let dir = self
            .dir(parent)
            .map_err(|_| HubError::generic(format!("No such file: {rel}")))?;
        let st = fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|_| HubError::generic(format!("No such file: {rel}")))?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFLNK {
            let target = readlinkat(dir.as_fd(), name)
                .map_err(|_| HubError::generic(format!("No such file: {rel}")))?;
            let moved = Path::new(&target)
                .strip_prefix(&self.top)
                .ok()
                .and_then(|t| topdir::clean_relative(&t.to_string_lossy()).ok())
                .filter(|t| t.starts_with("packages") || t.starts_with("scratch"))
                .ok_or_else(|| HubError::generic(format!("Not a regular file: {rel}")))?;
            let file = self
                .file(&moved)
                .map_err(|_| HubError::generic(format!("Not a regular file: {rel}")))?;
            return Ok(Input {
                rel: full,
                file,
                moved_to: Some(moved),
            });
        }
        if kind != SFlag::S_IFREG {
            return Err(HubError::generic(format!("Not a regular file: {rel}")));
        }
        let marker = topdir::upload_marker(Path::new(name));
        if fstatat(dir.as_fd(), &marker, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok() {
            return Err(HubError::generic(format!(
                "Upload of {rel} is not complete"
            )));
        }
        let file = self
            .file(&full)
            .map_err(|_| HubError::generic(format!("Not a regular file: {rel}")))?;
        Ok(Input {
            rel: full,
            file,
            moved_to: None,
        })
    }

    /// Move an input to `dest` (relative to the topdir, directories created) and leave a
    /// symlink at the old place, as Koji does, so task output listings keep working.
    pub fn move_and_link(&self, input: &Input, dest: &Path) -> HResult<()> {
        let fail = |what: &str, e: Errno| {
            tracing::error!(from = %input.rel.display(), to = %dest.display(), error = %e, "{what}");
            HubError::import(format!(
                "cannot move {} into place ({what})",
                input.rel.file_name().unwrap_or_default().to_string_lossy()
            ))
        };
        match &input.moved_to {
            Some(m) if m == dest => return Ok(()),
            Some(_) => {
                return Err(HubError::import(format!(
                    "{} was already imported elsewhere",
                    input.rel.display()
                )));
            }
            None => {}
        }
        let (sparent, sname) = split(&input.rel);
        let (dparent, dname) = split(dest);
        let sdir = self.dir(sparent).map_err(|e| fail("source", e))?;
        let st = fstatat(sdir.as_fd(), sname, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| fail("source", e))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(fail("source", Errno::EINVAL));
        }
        let ddir = match dparent {
            Some(p) => self.mkdirs(p),
            None => self.dir(None),
        }
        .map_err(|e| fail("destination", e))?;
        renameat(sdir.as_fd(), sname, ddir.as_fd(), dname).map_err(|e| fail("rename", e))?;
        nix::unistd::symlinkat(&self.top.join(dest), sdir.as_fd(), sname)
            .map_err(|e| fail("link", e))?;
        Ok(())
    }
}

impl Tree {
    /// Whether `rel` is a real directory below the topdir (no symlink on the way).
    pub fn is_dir(&self, rel: &Path) -> bool {
        let rel = Some(rel).filter(|r| !r.as_os_str().is_empty());
        self.dir(rel).is_ok()
    }

    /// Move the directory `from` to `to` (both relative to the topdir; `to`'s parents
    /// created, `to` must not exist) without following a symlink, and leave at `link` (when
    /// given) a relative symlink to `to`. A symlink already at `to` is the link of an
    /// earlier move off this place and is replaced. Used to move a build between volumes:
    /// the build stays readable at its usual path.
    pub fn move_dir(&self, from: &Path, to: &Path, link: Option<&Path>) -> Result<(), Errno> {
        let (fparent, fname) = split(from);
        let (tparent, tname) = split(to);
        let fdir = self.dir(fparent)?;
        let st = fstatat(fdir.as_fd(), fname, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        let tdir = match tparent {
            Some(p) => self.mkdirs(p)?,
            None => self.dir(None)?,
        };
        match fstatat(tdir.as_fd(), tname, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(t) if SFlag::from_bits_truncate(t.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                nix::unistd::unlinkat(
                    tdir.as_fd(),
                    tname,
                    nix::unistd::UnlinkatFlags::NoRemoveDir,
                )?;
            }
            Ok(_) => return Err(Errno::EEXIST),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let is_link = |d: &OwnedFd, n: &OsStr| -> Result<Option<bool>, Errno> {
            match fstatat(d.as_fd(), n, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(t) => Ok(Some(
                    SFlag::from_bits_truncate(t.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK,
                )),
                Err(Errno::ENOENT) => Ok(None),
                Err(e) => Err(e),
            }
        };
        let link_at = match link {
            Some(l) => {
                let (lparent, lname) = split(l);
                let ldir = match lparent {
                    Some(p) => self.mkdirs(p)?,
                    None => self.dir(None)?,
                };
                if l != from && is_link(&ldir, lname)? == Some(false) {
                    return Err(Errno::EEXIST);
                }
                Some((
                    ldir,
                    lname,
                    relative_to(to, lparent.unwrap_or(Path::new(""))),
                ))
            }
            None => None,
        };
        match nix::fcntl::renameat2(
            fdir.as_fd(),
            fname,
            tdir.as_fd(),
            tname,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => {}
            // another file system (a volume is often a mount of its own): copy, then remove
            Err(Errno::EXDEV) => copy_then_remove(&fdir, fname, &tdir, tname)?,
            Err(e) => return Err(e),
        }
        if let Some((ldir, lname, target)) = link_at {
            if is_link(&ldir, lname)? == Some(true) {
                nix::unistd::unlinkat(
                    ldir.as_fd(),
                    lname,
                    nix::unistd::UnlinkatFlags::NoRemoveDir,
                )?;
            }
            nix::unistd::symlinkat(&target, ldir.as_fd(), lname)?;
        }
        Ok(())
    }

    /// Check (or make) `<vol>/toplink`, the volume's symlink back to the topdir. Returns a
    /// reason when what is there is something else.
    pub fn ensure_toplink(&self, vol: &Path) -> Result<Option<String>, Errno> {
        let vdir = self.dir(Some(vol))?;
        let name = OsStr::new("toplink");
        let shown = self.top.join(vol).join("toplink");
        match fstatat(vdir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                let target = readlinkat(vdir.as_fd(), name)?;
                let resolved = self.top.join(vol).join(PathBuf::from(target));
                let same = match (std::fs::metadata(&resolved), std::fs::metadata(&self.top)) {
                    (Ok(a), Ok(b)) => {
                        use std::os::unix::fs::MetadataExt;
                        a.dev() == b.dev() && a.ino() == b.ino()
                    }
                    (Err(_), _) => {
                        return Ok(Some(format!("Broken volume toplink: {}", shown.display())));
                    }
                    (_, Err(_)) => false,
                };
                Ok((!same).then(|| format!("Invalid volume toplink: {}", shown.display())))
            }
            Ok(_) => Ok(Some(format!("Not a symlink: {}", shown.display()))),
            Err(Errno::ENOENT) => {
                nix::unistd::symlinkat(&self.top, vdir.as_fd(), name)?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO))
}

fn kind(st: &nix::sys::stat::FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// The names in a directory (without `.` and `..`).
fn entries(dir: &OwnedFd) -> Result<Vec<std::ffi::OsString>, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let mut d = nix::dir::Dir::from_fd(dir.try_clone().map_err(io_errno)?)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e?;
        let name = OsStr::from_bytes(e.file_name().to_bytes());
        if name != "." && name != ".." {
            out.push(name.to_os_string());
        }
    }
    Ok(out)
}

/// Copy the directory `sname` in `sdir` to the new directory `dname` in `ddir` (files,
/// directories and symlinks as they are; nothing followed), synced; then remove the source.
/// On a failed copy the partial destination is removed and the source left whole.
fn copy_then_remove(
    sdir: &OwnedFd,
    sname: &OsStr,
    ddir: &OwnedFd,
    dname: &OsStr,
) -> Result<(), Errno> {
    let src = openat2(
        sdir.as_fd(),
        sname,
        how(OFlag::O_DIRECTORY | OFlag::O_RDONLY),
    )?;
    mkdirat(ddir.as_fd(), dname, Mode::from_bits_truncate(0o755))?;
    let copied = openat2(
        ddir.as_fd(),
        dname,
        how(OFlag::O_DIRECTORY | OFlag::O_RDONLY),
    )
    .and_then(|dst| copy_tree(&src, &dst));
    if let Err(e) = copied {
        let _ = remove_tree(ddir, dname);
        return Err(e);
    }
    remove_tree(sdir, sname)
}

fn copy_tree(src: &OwnedFd, dst: &OwnedFd) -> Result<(), Errno> {
    for name in entries(src)? {
        let st = fstatat(src.as_fd(), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        match kind(&st) {
            SFlag::S_IFDIR => {
                mkdirat(
                    dst.as_fd(),
                    name.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                )?;
                let s = openat2(
                    src.as_fd(),
                    name.as_os_str(),
                    how(OFlag::O_DIRECTORY | OFlag::O_RDONLY),
                )?;
                let d = openat2(
                    dst.as_fd(),
                    name.as_os_str(),
                    how(OFlag::O_DIRECTORY | OFlag::O_RDONLY),
                )?;
                copy_tree(&s, &d)?;
            }
            SFlag::S_IFREG => {
                let mut from = at::open_read(src, name.as_os_str())?;
                let to = openat2(
                    dst.as_fd(),
                    name.as_os_str(),
                    how(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL)
                        .mode(Mode::from_bits_truncate(0o644)),
                )?;
                let mut to = File::from(to);
                std::io::copy(&mut from, &mut to).map_err(io_errno)?;
                to.sync_all().map_err(io_errno)?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(src.as_fd(), name.as_os_str())?;
                nix::unistd::symlinkat(target.as_os_str(), dst.as_fd(), name.as_os_str())?;
            }
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(())
}

/// Remove the directory `name` in `dir` and everything below it, following no symlink.
fn remove_tree(dir: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    use nix::unistd::{UnlinkatFlags, unlinkat};
    let d = openat2(dir.as_fd(), name, how(OFlag::O_DIRECTORY | OFlag::O_RDONLY))?;
    for n in entries(&d)? {
        let st = fstatat(d.as_fd(), n.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if kind(&st) == SFlag::S_IFDIR {
            remove_tree(&d, n.as_os_str())?;
        } else {
            unlinkat(d.as_fd(), n.as_os_str(), UnlinkatFlags::NoRemoveDir)?;
        }
    }
    unlinkat(dir.as_fd(), name, UnlinkatFlags::RemoveDir)
}

/// `to` as seen from the directory `from_dir` (both relative to the same root).
fn relative_to(to: &Path, from_dir: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for _ in from_dir.components() {
        out.push("..");
    }
    out.push(to);
    out
}

/// Files inside one directory already reached through a [`Tree`]: each name is a single
/// component, opened without following a symlink, so what the directory descriptor points
/// at is all that can be reached.
pub mod at {
    use super::*;
    use nix::fcntl::{RenameFlags, renameat2};
    use nix::sys::stat::FileStat;
    use nix::unistd::{UnlinkatFlags, unlinkat};
    use std::io::{Read, Write};

    fn one(name: &OsStr) -> Result<&OsStr, Errno> {
        let b = name.as_encoded_bytes();
        if b.is_empty() || b.contains(&b'/') || name == "." || name == ".." {
            return Err(Errno::EINVAL);
        }
        Ok(name)
    }

    /// What `name` is, the link itself when it is one.
    pub fn stat(dir: &OwnedFd, name: &OsStr) -> Result<FileStat, Errno> {
        fstatat(dir.as_fd(), one(name)?, AtFlags::AT_SYMLINK_NOFOLLOW)
    }

    pub fn is_file(st: &FileStat) -> bool {
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
    }

    /// A regular file for reading (never blocks on a FIFO: it is refused first).
    pub fn open_read(dir: &OwnedFd, name: &OsStr) -> Result<File, Errno> {
        let fd = openat2(
            dir.as_fd(),
            one(name)?,
            how(OFlag::O_RDONLY | OFlag::O_NONBLOCK),
        )?;
        if !is_file(&fstat(&fd)?) {
            return Err(Errno::EINVAL);
        }
        Ok(File::from(fd))
    }

    /// A regular file for reading and writing, created (0644) when absent.
    pub fn open_rw(dir: &OwnedFd, name: &OsStr) -> Result<File, Errno> {
        let fd = openat2(
            dir.as_fd(),
            one(name)?,
            how(OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NONBLOCK)
                .mode(Mode::from_bits_truncate(0o644)),
        )?;
        if !is_file(&fstat(&fd)?) {
            return Err(Errno::EINVAL);
        }
        Ok(File::from(fd))
    }

    /// The whole of a small regular file.
    pub fn read(dir: &OwnedFd, name: &OsStr) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        open_read(dir, name)?
            .read_to_end(&mut out)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO)))?;
        Ok(out)
    }

    /// Create `name` holding `data` unless it exists (`EEXIST` then): written to a temporary
    /// name, synced, and renamed without replacing, so a reader never sees half of it.
    pub fn create_new(dir: &OwnedFd, name: &OsStr, data: &[u8]) -> Result<(), Errno> {
        let name = one(name)?;
        let tmp = format!(".{}.tmp{}", name.to_string_lossy(), std::process::id());
        let fd = openat2(
            dir.as_fd(),
            tmp.as_str(),
            how(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC)
                .mode(Mode::from_bits_truncate(0o644)),
        )?;
        let mut f = File::from(fd);
        let io = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO));
        let written = f.write_all(data).and_then(|_| f.sync_all()).map_err(io);
        let moved = written.and_then(|_| {
            renameat2(
                dir.as_fd(),
                tmp.as_str(),
                dir.as_fd(),
                name,
                RenameFlags::RENAME_NOREPLACE,
            )
        });
        if moved.is_err() {
            let _ = unlinkat(dir.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        moved
    }

    /// Write `name` whole, replacing what was there: `fill` writes a temporary file beside
    /// it, which is synced and renamed over `name`, so a reader sees the old file or the new
    /// one, never half of one (a failure leaves the old file and no temporary behind).
    pub fn replace_with(
        dir: &OwnedFd,
        name: &OsStr,
        fill: &mut dyn FnMut(&mut File) -> std::io::Result<()>,
    ) -> Result<(), Errno> {
        let name = one(name)?;
        let tmp = format!(".{}.tmp{}", name.to_string_lossy(), std::process::id());
        let fd = openat2(
            dir.as_fd(),
            tmp.as_str(),
            how(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC)
                .mode(Mode::from_bits_truncate(0o644)),
        )?;
        let mut f = File::from(fd);
        let io = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO));
        let moved = fill(&mut f)
            .and_then(|_| f.sync_all())
            .map_err(io)
            .and_then(|_| renameat(dir.as_fd(), tmp.as_str(), dir.as_fd(), name));
        if moved.is_err() {
            let _ = unlinkat(dir.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        moved
    }

    /// Rename `from` to `to` inside `dir`, never over an existing `to` (`EEXIST` then).
    pub fn rename_noreplace(dir: &OwnedFd, from: &OsStr, to: &OsStr) -> Result<(), Errno> {
        move_noreplace(dir, from, dir, to)
    }

    /// Move `from` in `from_dir` to `to` in `to_dir`, never over an existing `to`.
    pub fn move_noreplace(
        from_dir: &OwnedFd,
        from: &OsStr,
        to_dir: &OwnedFd,
        to: &OsStr,
    ) -> Result<(), Errno> {
        renameat2(
            from_dir.as_fd(),
            one(from)?,
            to_dir.as_fd(),
            one(to)?,
            RenameFlags::RENAME_NOREPLACE,
        )
    }

    /// Remove a file (a missing one is no error).
    pub fn remove(dir: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
        match unlinkat(dir.as_fd(), one(name)?, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Remove, in `dir` and every real directory below it, the files `doomed` picks.
    pub fn remove_below(dir: OwnedFd, doomed: &dyn Fn(&OsStr) -> bool) {
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let Ok(dup) = d.try_clone() else { continue };
            let Ok(mut entries) = nix::dir::Dir::from_fd(dup) else {
                continue;
            };
            let mut subdirs = Vec::new();
            for e in entries.iter().flatten() {
                let name = OsStr::from_bytes(e.file_name().to_bytes());
                if name == "." || name == ".." {
                    continue;
                }
                match stat(&d, name) {
                    Ok(st)
                        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
                            == SFlag::S_IFDIR =>
                    {
                        subdirs.push(name.to_os_string());
                    }
                    Ok(st) if is_file(&st) && doomed(name) => {
                        let _ = remove(&d, name);
                    }
                    _ => {}
                }
            }
            for s in subdirs {
                if let Ok(fd) = openat2(
                    d.as_fd(),
                    s.as_os_str(),
                    how(OFlag::O_DIRECTORY | OFlag::O_RDONLY),
                ) {
                    stack.push(fd);
                }
            }
        }
    }

    use std::os::unix::ffi::OsStrExt;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_directories_never_pass_through_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("top");
        std::fs::create_dir_all(top.join("packages/foo/1/1")).unwrap();
        std::fs::write(top.join("packages/foo/1/1/a.rpm"), "x").unwrap();
        std::fs::create_dir_all(top.join("vol/v1")).unwrap();
        std::fs::create_dir_all(d.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), top.join("vol/bad")).unwrap();
        let t = Tree::open(&top).unwrap();
        let base = Path::new("packages/foo/1/1");
        // a volume reached through a symlink is refused, the source untouched
        assert!(
            t.move_dir(base, Path::new("vol/bad/packages/foo/1/1"), Some(base))
                .is_err()
        );
        assert!(top.join("packages/foo/1/1/a.rpm").is_file());
        assert!(!d.path().join("elsewhere/packages").exists());
        // moved, and readable through the relative link left behind
        let moved = Path::new("vol/v1/packages/foo/1/1");
        t.move_dir(base, moved, Some(base)).unwrap();
        assert_eq!(
            std::fs::read_link(top.join(base)).unwrap(),
            Path::new("../../../vol/v1/packages/foo/1/1")
        );
        assert_eq!(std::fs::read(top.join(base).join("a.rpm")).unwrap(), b"x");
        // a symlinked source is not moved: the link is not a directory
        assert_eq!(
            t.move_dir(base, Path::new("vol/v1/other"), None),
            Err(Errno::ENOTDIR)
        );
        // back: the link is replaced by the directory
        t.move_dir(moved, base, None).unwrap();
        assert!(std::fs::symlink_metadata(top.join(base)).unwrap().is_dir());
        assert!(!top.join(moved).exists());
        assert!(!t.is_dir(Path::new("vol/bad")));
        assert!(t.is_dir(Path::new("")));
    }

    #[test]
    fn copy_then_remove_keeps_links_as_links() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("top");
        std::fs::create_dir_all(top.join("a/sub")).unwrap();
        std::fs::create_dir_all(top.join("dest")).unwrap();
        std::fs::write(top.join("a/sub/f"), "data").unwrap();
        std::fs::write(d.path().join("outside"), "secret").unwrap();
        std::os::unix::fs::symlink(d.path().join("outside"), top.join("a/l")).unwrap();
        let t = Tree::open(&top).unwrap();
        let root = t.dir(None).unwrap();
        let dest = t.dir(Some(Path::new("dest"))).unwrap();
        copy_then_remove(&root, OsStr::new("a"), &dest, OsStr::new("b")).unwrap();
        assert!(!top.join("a").exists());
        assert_eq!(std::fs::read(top.join("dest/b/sub/f")).unwrap(), b"data");
        assert!(
            std::fs::symlink_metadata(top.join("dest/b/l"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(d.path().join("outside")).unwrap(), b"secret");
        // an existing destination: refused, the source whole
        std::fs::create_dir_all(top.join("c")).unwrap();
        std::fs::write(top.join("c/f"), "x").unwrap();
        assert!(copy_then_remove(&root, OsStr::new("c"), &dest, OsStr::new("b")).is_err());
        assert!(top.join("c/f").is_file());
        assert!(top.join("dest/b/sub/f").is_file());
    }

    #[test]
    fn symlinks_are_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("top");
        std::fs::create_dir_all(top.join("work/tasks/1/1")).unwrap();
        std::fs::create_dir_all(top.join("packages/foo")).unwrap();
        std::fs::write(top.join("packages/foo/a.rpm"), "x").unwrap();
        std::fs::write(d.path().join("outside"), "x").unwrap();
        std::os::unix::fs::symlink(top.join("packages/foo"), top.join("work/tasks/1/1/dir"))
            .unwrap();
        std::os::unix::fs::symlink(d.path().join("outside"), top.join("work/tasks/1/1/o")).unwrap();
        let t = Tree::open(&top).unwrap();
        let own = [PathBuf::from("tasks/1/1")];
        assert!(t.host_input("tasks/1/1/dir/a.rpm", &own).is_err());
        assert!(t.host_input("tasks/1/1/o", &own).is_err());
        assert!(t.host_input("tasks/1/1", &own).is_err());
        assert!(t.host_input("tasks/2/2/x", &own).is_err());
        assert!(t.mkdirs(Path::new("work/tasks/1/1/dir/sub")).is_err());
        assert!(!top.join("packages/foo/sub").exists());
        std::fs::write(top.join("work/tasks/1/1/b.rpm"), "y").unwrap();
        let i = t.host_input("tasks/1/1/b.rpm", &own).unwrap();
        t.move_and_link(&i, Path::new("scratch/u/b.rpm")).unwrap();
        assert_eq!(std::fs::read(top.join("scratch/u/b.rpm")).unwrap(), b"y");
        // a retried import finds the file through the hub's own link
        let again = t.host_input("tasks/1/1/b.rpm", &own).unwrap();
        assert_eq!(
            again.moved_to.as_deref(),
            Some(Path::new("scratch/u/b.rpm"))
        );
        t.move_and_link(&again, Path::new("scratch/u/b.rpm"))
            .unwrap();
        assert!(
            t.move_and_link(&again, Path::new("packages/foo/b.rpm"))
                .is_err()
        );
    }
}
