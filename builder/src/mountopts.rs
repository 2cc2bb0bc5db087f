//! Mount option strings (`fstab` style) split into what `mount(2)` takes: generic
//! options become `MS_*` flags, filesystem options stay in the data string. The kernel
//! rejects a generic option passed as data (e.g. `noatime` in ext4's data is EINVAL), so
//! the split has to be right before anything is mounted.

use nix::mount::MsFlags;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Filesystem-specific options, comma-joined, in the order given.
    pub data: String,
    /// Options that only mean something to `mount(8)`/fstab (`defaults`, `nofail`, `_netdev`,
    /// `x-*`, …): accepted and not passed to the kernel.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("empty option name in {0:?}")]
    EmptyName(String),
    #[error("option {0:?} takes no value")]
    UnexpectedValue(String),
}

/// Generic options: name → (flags to set, flags to clear).
fn generic(name: &str) -> Option<(MsFlags, MsFlags)> {
    use MsFlags as F;
    let e = F::empty();
    Some(match name {
        "ro" => (F::MS_RDONLY, e),
        "rw" => (e, F::MS_RDONLY),
        "nosuid" => (F::MS_NOSUID, e),
        "suid" => (e, F::MS_NOSUID),
        "nodev" => (F::MS_NODEV, e),
        "dev" => (e, F::MS_NODEV),
        "noexec" => (F::MS_NOEXEC, e),
        "exec" => (e, F::MS_NOEXEC),
        "sync" => (F::MS_SYNCHRONOUS, e),
        "async" => (e, F::MS_SYNCHRONOUS),
        "dirsync" => (F::MS_DIRSYNC, e),
        "noatime" => (F::MS_NOATIME, e),
        "atime" => (e, F::MS_NOATIME),
        "nodiratime" => (F::MS_NODIRATIME, e),
        "diratime" => (e, F::MS_NODIRATIME),
        "relatime" => (F::MS_RELATIME, e),
        "norelatime" => (e, F::MS_RELATIME),
        "strictatime" => (F::MS_STRICTATIME, e),
        "nostrictatime" => (e, F::MS_STRICTATIME),
        "lazytime" => (F::MS_LAZYTIME, e),
        "nolazytime" => (e, F::MS_LAZYTIME),
        "mand" => (F::MS_MANDLOCK, e),
        "nomand" => (e, F::MS_MANDLOCK),
        "silent" => (F::MS_SILENT, e),
        "loud" => (e, F::MS_SILENT),
        "bind" => (F::MS_BIND, e),
        "rbind" => (F::MS_BIND | F::MS_REC, e),
        "remount" => (F::MS_REMOUNT, e),
        _ => return None,
    })
}

/// Options `mount(8)` consumes itself.
fn userspace_only(name: &str) -> bool {
    matches!(
        name,
        "defaults"
            | "auto"
            | "noauto"
            | "user"
            | "nouser"
            | "users"
            | "owner"
            | "group"
            | "nofail"
            | "_netdev"
            | "comment"
    ) || name.starts_with("x-")
}

/// Parses `noatime,nodiratime,discard` style strings. Unknown options are treated as
/// filesystem options and passed through as data: the filesystem is the authority on
/// them (NFS's `vers=3`, ext4's `discard`, tmpfs's `size=1G`) and reports bad ones at
/// mount time with the option named.
pub fn parse_options(s: &str) -> Result<MountOptions, OptionError> {
    let mut flags = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    let mut ignored = Vec::new();
    for opt in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v)),
            None => (opt, None),
        };
        if name.is_empty() {
            return Err(OptionError::EmptyName(opt.to_owned()));
        }
        if let Some((set, clear)) = generic(name) {
            if value.is_some() {
                return Err(OptionError::UnexpectedValue(opt.to_owned()));
            }
            flags.remove(clear);
            flags.insert(set);
        } else if userspace_only(name) {
            ignored.push(opt.to_owned());
        } else {
            data.push(opt);
        }
    }
    Ok(MountOptions {
        flags,
        data: data.join(","),
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_disk_defaults_are_flags() {
        let o = parse_options("noatime,nodiratime").unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOATIME | MsFlags::MS_NODIRATIME);
        assert_eq!(o.data, "");
        assert!(o.ignored.is_empty());
    }

    #[test]
    fn nfs_options_go_to_data() {
        let o = parse_options(crate::config::NFS_DEFAULT_OPTIONS).unwrap();
        assert_eq!(
            o.flags,
            MsFlags::empty(),
            "rw clears MS_RDONLY, nothing set"
        );
        assert_eq!(o.data, "hard,intr,rsize=32768,wsize=32768,vers=3");
    }

    #[test]
    fn ro_and_overrides() {
        assert_eq!(parse_options("ro").unwrap().flags, MsFlags::MS_RDONLY);
        assert_eq!(parse_options("ro,rw").unwrap().flags, MsFlags::empty());
        assert_eq!(
            parse_options("rw,ro,nosuid").unwrap().flags,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID
        );
        assert_eq!(
            parse_options("rbind").unwrap().flags,
            MsFlags::MS_BIND | MsFlags::MS_REC
        );
    }

    #[test]
    fn unknown_options_are_filesystem_data_and_fstab_words_ignored() {
        let o = parse_options("defaults, noatime ,discard,,size=1G,nofail,x-systemd.automount")
            .unwrap();
        assert_eq!(o.flags, MsFlags::MS_NOATIME);
        assert_eq!(o.data, "discard,size=1G");
        assert_eq!(o.ignored, vec!["defaults", "nofail", "x-systemd.automount"]);
        assert_eq!(parse_options("").unwrap().flags, MsFlags::empty());
    }

    #[test]
    fn malformed_options_are_errors() {
        assert_eq!(
            parse_options("=3"),
            Err(OptionError::EmptyName("=3".into()))
        );
        assert_eq!(
            parse_options("noatime=1"),
            Err(OptionError::UnexpectedValue("noatime=1".into()))
        );
    }
}
