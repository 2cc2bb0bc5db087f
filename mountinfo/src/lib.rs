//! The mount table of this process's namespace, read from `/proc/self/mountinfo`: reading
//! it never blocks, even on a dead NFS server or a FUSE daemon that never answers (a `stat`
//! of the mount point would). Shared by the builder's volume checks and the boot guard.

use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    /// `major:minor` of the mounted filesystem's device.
    pub dev: (u64, u64),
    pub fstype: String,
    pub source: String,
}

/// Parses mountinfo: `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw`.
/// A line that does not parse is skipped: that can only make a mount look absent (and then
/// mount(8) reports it as busy), never present.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if sep < 6 || fields.len() < sep + 3 {
            continue;
        }
        let Some((maj, min)) = fields[2].split_once(':') else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse(), min.parse()) else {
            continue;
        };
        out.push(MountEntry {
            mount_point: PathBuf::from(unescape(fields[4])),
            dev: (maj, min),
            fstype: fields[sep + 1].to_owned(),
            source: unescape(fields[sep + 2]),
        });
    }
    out
}

/// The kernel writes space, tab, newline and backslash as `\ooo`.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let v = (b[i] == b'\\' && i + 4 <= b.len())
            .then(|| &b[i + 1..i + 4])
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| {
                u8::try_from(d.iter().fold(0u16, |a, c| a * 8 + u16::from(c - b'0'))).ok()
            });
        if let Some(v) = v {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount table of this process's namespace; reading it never blocks on a dead mount.
pub fn read_mountinfo() -> std::io::Result<Vec<MountEntry>> {
    Ok(parse_mountinfo(&std::fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

/// The topmost mount at exactly `path` (later mounts stack on top of earlier ones).
pub fn find_mount<'a>(table: &'a [MountEntry], path: &Path) -> Option<&'a MountEntry> {
    let want = normalize(path);
    table.iter().rev().find(|e| e.mount_point == want)
}

/// Trailing slashes and `.` components removed, without touching the filesystem (no symlink
/// resolution: that would need a stat, which may hang).
pub fn normalize(p: &Path) -> PathBuf {
    p.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: &str = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n\
                      37 35 0:45 / /mnt/koji/ rw shared:2 - nfs4 hub:/mnt/koji rw\n\
                      38 35 0:46 / /mnt/koji rw shared:3 - fuse.x none rw\n\
                      garbage line\n";

    #[test]
    fn entries_unescaped_and_the_topmost_mount_wins() {
        let t = parse_mountinfo(MI);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(t[0].dev, (98, 0));
        assert_eq!(t[0].source, "/dev/root");
        let top = find_mount(&t, Path::new("/mnt/koji/./")).map(|e| e.fstype.as_str());
        assert_eq!(top, Some("fuse.x"));
        assert!(find_mount(&t, Path::new("/mnt")).is_none());
        assert_eq!(unescape("a\\134b"), "a\\b");
    }
}
