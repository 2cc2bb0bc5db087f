//! Reads the subset of mrepo's INI (`/etc/mrepo.conf` and `confdir`'s `*.conf`) that a farm
//! uses, so `--mrepo-conf /etc/mrepo.conf` mirrors what mrepo mirrored, into the same
//! directories:
//!
//! ```ini
//! [main]
//! srcdir = /mnt/koji/external-repos/src
//! wwwdir = /mnt/koji/external-repos/www
//! arch = x86_64
//!
//! [fedora40]
//! name = Fedora $release ($arch)
//! release = 40
//! arch = x86_64
//! os = http://mirror.example.com/fedora/releases/$release/Everything/$arch/os/
//! updates = http://mirror.example.com/fedora/updates/$release/Everything/$arch/
//! ```
//!
//! Every other key of a dist section is a repo whose value is one or more URLs (mirrors,
//! whitespace separated, continuation lines allowed). mrepo's many `[main]` options that
//! do not apply (mail, lftp, iso handling…) are accepted and ignored with a warning, so an
//! existing file loads unchanged.

use std::path::{Path, PathBuf};

use kkoji_toml_config::ConfigError;

use crate::config::{Config, RepoSpec, default_parallel, default_retries, default_timeout};

/// Keys of a dist section that are not repos.
const DIST_KEYS: &[&str] = &[
    "name",
    "release",
    "arch",
    "metadata",
    "disabled",
    "promoteepoch",
    "iso",
    "nick",
    "tag",
];

struct Section {
    name: String,
    line: usize,
    entries: Vec<(String, String, usize)>,
}

fn parse_ini(path: &Path, text: &str) -> Result<Vec<Section>, ConfigError> {
    let mut sections: Vec<Section> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            // continuation of the previous value
            let Some(last) = sections.last_mut().and_then(|s| s.entries.last_mut()) else {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("line {line_no}: continuation line without a key"),
                });
            };
            last.1.push(' ');
            last.1.push_str(trimmed);
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("line {line_no}: `{trimmed}` is not a [section] header"),
                });
            };
            sections.push(Section {
                name: name.trim().to_owned(),
                line: line_no,
                entries: Vec::new(),
            });
            continue;
        }
        let Some((k, v)) = trimmed.split_once(['=', ':']) else {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("line {line_no}: expected `key = value`, got `{trimmed}`"),
            });
        };
        let Some(sec) = sections.last_mut() else {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("line {line_no}: `{}` before any [section]", k.trim()),
            });
        };
        sec.entries
            .push((k.trim().to_lowercase(), v.trim().to_owned(), line_no));
    }
    Ok(sections)
}

/// Reads an mrepo.conf (and the `*.conf` files of its `confdir`).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|err| ConfigError::Read {
            path: p.to_path_buf(),
            err,
        })
    };
    let main_text = read(path)?;
    let mut files = vec![(path.to_path_buf(), parse_ini(path, &main_text)?)];

    let mut www: Option<PathBuf> = None;
    let mut default_arch: Vec<String> = vec!["i386".into()];
    let mut confdir: Option<PathBuf> = None;
    if let Some(main) = files[0].1.iter().find(|s| s.name == "main") {
        for (k, v, line) in &main.entries {
            match k.as_str() {
                "wwwdir" => www = Some(PathBuf::from(v)),
                "arch" => default_arch = v.split_whitespace().map(str::to_owned).collect(),
                "confdir" => confdir = Some(PathBuf::from(v)),
                "srcdir" => {}
                other => tracing::warn!(
                    "{}:{line}: mrepo option `{other}` is not used by kkoji-mirror-sync",
                    path.display()
                ),
            }
        }
    }
    if let Some(dir) = &confdir
        && let Ok(rd) = std::fs::read_dir(dir)
    {
        let mut extra: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        extra.sort();
        for p in extra {
            let t = read(&p)?;
            let secs = parse_ini(&p, &t)?;
            files.push((p, secs));
        }
    }
    let Some(www_dir) = www else {
        return Err(ConfigError::bad_key(
            path,
            "main.wwwdir",
            "missing (where the mirrored repos are published)",
        ));
    };

    let mut repos = Vec::new();
    for (file, sections) in &files {
        for s in sections {
            if s.name == "main" {
                continue;
            }
            let bad = |key: &str, msg: String| {
                ConfigError::bad_key(file, format!("{}.{key} (line {})", s.name, s.line), msg)
            };
            let mut release = None;
            let mut arches = default_arch.clone();
            let mut disabled = false;
            let mut repo_lines = Vec::new();
            for (k, v, line) in &s.entries {
                match k.as_str() {
                    "release" => release = Some(v.clone()),
                    "arch" => arches = v.split_whitespace().map(str::to_owned).collect(),
                    "disabled" => disabled = matches!(v.as_str(), "yes" | "1" | "true"),
                    k if DIST_KEYS.contains(&k) => {}
                    _ => repo_lines.push((k.clone(), v.clone(), *line)),
                }
            }
            if disabled {
                continue;
            }
            for (repo, urls, line) in repo_lines {
                let urls: Vec<String> = urls.split_whitespace().map(str::to_owned).collect();
                if urls.is_empty() {
                    return Err(bad(&repo, format!("line {line}: no URL")));
                }
                // mrepo's `mirrorlist://` / `metalink://` prefixes for a list instead of a base
                let (mut plain, mut mirrorlist, mut metalink) = (Vec::new(), None, None);
                for u in urls {
                    if let Some(rest) = u.strip_prefix("mirrorlist://") {
                        mirrorlist = Some(format!("http://{rest}"));
                    } else if let Some(rest) = u.strip_prefix("metalink://") {
                        metalink = Some(format!("http://{rest}"));
                    } else {
                        plain.push(u);
                    }
                }
                repos.push(RepoSpec {
                    dist: s.name.clone(),
                    repo: repo.clone(),
                    releasever: release.clone(),
                    arches: arches.clone(),
                    urls: plain,
                    mirrorlist,
                    metalink,
                    dest: None,
                    include: Vec::new(),
                    exclude: Vec::new(),
                    newest_only: false,
                    delete: false,
                    gpg_keys: Vec::new(),
                    repo_gpgcheck: None,
                    gpgcheck: false,
                    bandwidth_limit: None,
                    register: None,
                });
            }
        }
    }
    let cfg = Config {
        source: path.to_path_buf(),
        state_dir: www_dir.join(".kkoji-mirror"),
        www_dir,
        parallel: default_parallel(),
        retries: default_retries(),
        timeout_secs: default_timeout(),
        bandwidth_limit: None,
        ca_file: None,
        hub: None,
        repos,
    };
    cfg.check()?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_runbook_form() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mrepo.conf");
        std::fs::write(
            &p,
            "[main]\nsrcdir = /mnt/koji/external-repos/src\nwwwdir = /mnt/koji/external-repos/www\n\
             arch = x86_64\nmailto = root@localhost\n\n# Fedora\n[fedora40]\nname = Fedora $release ($arch)\n\
             release = 40\narch = x86_64 aarch64\nos = http://a/$release/$arch/os/\n    http://b/$release/$arch/os/\n\
             updates = http://a/updates/$release/$arch/\n",
        )
        .unwrap();
        let c = load(&p).unwrap();
        let inst = c.instances();
        let labels: Vec<_> = inst.iter().map(|i| i.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "fedora40-x86_64-os",
                "fedora40-aarch64-os",
                "fedora40-x86_64-updates",
                "fedora40-aarch64-updates"
            ]
        );
        assert_eq!(
            inst[1].urls,
            ["http://a/40/aarch64/os/", "http://b/40/aarch64/os/"]
        );
        assert_eq!(
            inst[2].dest,
            PathBuf::from("/mnt/koji/external-repos/www/fedora40-x86_64/RPMS.updates")
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mrepo.conf");
        std::fs::write(&p, "[main]\nwwwdir = /w\n[f]\nos = ftp://x/\n").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(
            e.starts_with(&p.display().to_string()) && e.contains("ftp://x/"),
            "{e}"
        );
        std::fs::write(&p, "[main]\nsrcdir = /s\n").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("main.wwwdir"), "{e}");
        std::fs::write(&p, "[main]\nwwwdir = /w\n[f\n").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }
}
