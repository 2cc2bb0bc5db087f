//! The mirror's configuration: our TOML, or the subset of mrepo's INI an existing farm
//! already has (see [`crate::mrepo`]). Both end up as a list of [`RepoSpec`]s, which
//! [`Config::instances`] expands into one [`Instance`] per arch — the unit that is synced,
//! published and logged.

use std::path::{Path, PathBuf};

use kkoji_toml_config::ConfigError;
use serde::Deserialize;

/// The whole configuration, whichever file it came from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for messages).
    pub source: PathBuf,
    /// The external-repos web root (`www/` of mrepo): published trees live below it.
    pub www_dir: PathBuf,
    /// Pool, state and logs. Must be on the same filesystem as `www_dir` (hard links).
    pub state_dir: PathBuf,
    pub parallel: usize,
    pub retries: u32,
    pub timeout_secs: u64,
    /// Bytes per second for all of a repo's downloads, if limited.
    pub bandwidth_limit: Option<u64>,
    /// Extra trust roots (PEM) for https mirrors, besides the public web roots.
    pub ca_file: Option<PathBuf>,
    pub hub: Option<HubConfig>,
    pub repos: Vec<RepoSpec>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Hub URL, e.g. `https://koji.example.com/kojihub`.
    pub server: String,
    /// Client certificate and key in one PEM (koji's `cert =`), of a user with the
    /// `admin` (or `repo`) permission.
    pub cert: PathBuf,
    /// The farm CA (koji's `serverca =`).
    pub serverca: Option<PathBuf>,
    #[serde(default = "default_hub_timeout")]
    pub timeout_secs: u64,
}

fn default_hub_timeout() -> u64 {
    60
}

/// One configured repo, before arch expansion.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RepoSpec {
    /// Distribution name (mrepo's section name), e.g. `fedora40`.
    pub dist: String,
    /// Repo name within the distribution (mrepo's key), e.g. `os`, `updates`.
    #[serde(default = "default_repo_name")]
    pub repo: String,
    /// Value of `$releasever` / `$release`.
    #[serde(default)]
    pub releasever: Option<String>,
    pub arches: Vec<String>,
    /// Base URLs tried in order (http, https, file, rsync).
    #[serde(default)]
    pub urls: Vec<String>,
    /// A yum mirror list (one URL per line); its mirrors are tried after `urls`.
    #[serde(default)]
    pub mirrorlist: Option<String>,
    /// A metalink (as Fedora publishes); its http(s) mirrors are tried after `urls`.
    #[serde(default)]
    pub metalink: Option<String>,
    /// Published directory relative to `www_dir`; default `<dist>-$arch/RPMS.<repo>`,
    /// mrepo's layout, so existing `koji add-external-repo` URLs keep working.
    #[serde(default)]
    pub dest: Option<String>,
    /// Only packages whose file name matches one of these globs (default: all).
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Only the newest version of each name.arch.
    #[serde(default)]
    pub newest_only: bool,
    /// Packages that left upstream leave the mirror too.
    #[serde(default)]
    pub delete: bool,
    /// Armored OpenPGP public keys. With keys, `repomd.xml.asc` must verify (unless
    /// `repo_gpgcheck = false`).
    #[serde(default)]
    pub gpg_keys: Vec<PathBuf>,
    #[serde(default)]
    pub repo_gpgcheck: Option<bool>,
    /// Every package's signature must verify against `gpg_keys`.
    #[serde(default)]
    pub gpgcheck: bool,
    /// Overrides the global limit, e.g. `"2M"`.
    #[serde(default)]
    pub bandwidth_limit: Option<String>,
    #[serde(default)]
    pub register: Option<Register>,
}

fn default_repo_name() -> String {
    "os".into()
}

/// Hub registration of a repo as an external repo, linked to tags.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// External repo name in Koji, e.g. `fedora-40-os`.
    pub name: String,
    /// URL given to Koji; default `file://<www_dir>/<dest with $arch kept>/`.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "default_priority")]
    pub priority: i64,
    #[serde(default = "default_merge_mode")]
    pub merge_mode: String,
}

fn default_priority() -> i64 {
    10
}

fn default_merge_mode() -> String {
    "koji".into()
}

/// The TOML file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    www_dir: PathBuf,
    #[serde(default)]
    state_dir: Option<PathBuf>,
    #[serde(default = "default_parallel")]
    parallel: usize,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default)]
    bandwidth_limit: Option<String>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    hub: Option<HubConfig>,
    #[serde(default, rename = "repo")]
    repos: Vec<RepoSpec>,
}

pub(crate) fn default_parallel() -> usize {
    8
}
pub(crate) fn default_retries() -> u32 {
    3
}
pub(crate) fn default_timeout() -> u64 {
    30
}

/// One (repo, arch): what `sync LABEL` names.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `<dist>-<arch>-<repo>`, e.g. `fedora40-x86_64-os`.
    pub label: String,
    pub spec_index: usize,
    pub dist: String,
    pub repo: String,
    pub arch: String,
    /// Base URLs with variables expanded.
    pub urls: Vec<String>,
    pub mirrorlist: Option<String>,
    pub metalink: Option<String>,
    /// Published path (what readers open).
    pub dest: PathBuf,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub newest_only: bool,
    pub delete: bool,
    pub gpg_keys: Vec<PathBuf>,
    pub repo_gpgcheck: bool,
    pub gpgcheck: bool,
    pub bandwidth_limit: Option<u64>,
}

/// yum's `$basearch` for an arch.
pub fn basearch(arch: &str) -> &str {
    match arch {
        "i386" | "i486" | "i586" | "i686" | "athlon" | "geode" => "i386",
        "armv7hl" | "armv7hnl" => "armhfp",
        "amd64" | "ia32e" => "x86_64",
        a => a,
    }
}

/// Expands `$arch`, `$basearch`, `$releasever`, `$release`, `$dist` (and `${…}` forms).
/// Unknown variables stay as they are, so a typo shows up in the URL of the error.
pub fn expand(s: &str, arch: Option<&str>, releasever: Option<&str>, dist: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = match name {
            "arch" => arch.map(str::to_owned),
            "basearch" => arch.map(|a| basearch(a).to_owned()),
            "releasever" | "release" => releasever.map(str::to_owned),
            "dist" | "nick" => Some(dist.to_owned()),
            _ => None,
        };
        match value {
            Some(v) if consumed > 0 => {
                out.push_str(&v);
                rest = &after[consumed..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `"10M"`, `"512k"`, `"1G"`, `"300000"` → bytes per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1024u64),
        Some('m' | 'M') => (&t[..t.len() - 1], 1024 * 1024),
        Some('g' | 'G') => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a rate such as 500k, 10M or 1G (bytes per second)"))?;
    match n.checked_mul(mult) {
        Some(0) => Err("a bandwidth limit must be above 0".into()),
        Some(v) => Ok(v),
        None => Err(format!("`{s}` is too large")),
    }
}

fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-'))
        && !s.starts_with('.')
}

/// A relative path without `..`, so a config cannot publish outside `www_dir`.
fn rel_path_ok(s: &str) -> bool {
    let p = Path::new(s);
    !s.is_empty()
        && p.is_relative()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

impl Config {
    /// Reads a TOML config.
    pub fn load_toml(path: &Path) -> Result<Config, ConfigError> {
        let f: TomlFile = kkoji_toml_config::load(path)?;
        let global_rate = f
            .bandwidth_limit
            .as_deref()
            .map(parse_rate)
            .transpose()
            .map_err(|m| ConfigError::bad_key(path, "bandwidth_limit", m))?;
        let state_dir = f
            .state_dir
            .unwrap_or_else(|| f.www_dir.join(".kkoji-mirror"));
        let cfg = Config {
            source: path.to_path_buf(),
            www_dir: f.www_dir,
            state_dir,
            parallel: f.parallel,
            retries: f.retries,
            timeout_secs: f.timeout_secs,
            bandwidth_limit: global_rate,
            ca_file: f.ca_file,
            hub: f.hub,
            repos: f.repos,
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// The checks both formats share; the error names the file and the key.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: String, msg: String| Err(ConfigError::bad_key(&self.source, key, msg));
        if !self.www_dir.is_absolute() {
            return bad("www_dir".into(), "must be an absolute path".into());
        }
        if !self.state_dir.is_absolute() {
            return bad("state_dir".into(), "must be an absolute path".into());
        }
        if self.parallel == 0 {
            return bad("parallel".into(), "must be at least 1".into());
        }
        if self.timeout_secs == 0 {
            return bad("timeout_secs".into(), "must be at least 1".into());
        }
        let mut labels = std::collections::HashSet::new();
        for (i, r) in self.repos.iter().enumerate() {
            let k = |f: &str| format!("repo[{i}].{f}");
            if !label_ok(&r.dist) {
                return bad(k("dist"), format!("`{}` is not a plain name", r.dist));
            }
            if !label_ok(&r.repo) {
                return bad(k("repo"), format!("`{}` is not a plain name", r.repo));
            }
            if r.arches.is_empty() {
                return bad(k("arches"), "names no arch".into());
            }
            for a in &r.arches {
                if !label_ok(a) {
                    return bad(k("arches"), format!("`{a}` is not an arch"));
                }
            }
            if r.urls.is_empty() && r.mirrorlist.is_none() && r.metalink.is_none() {
                return bad(
                    k("urls"),
                    "no upstream: give urls, mirrorlist or metalink".into(),
                );
            }
            for u in r
                .urls
                .iter()
                .chain(r.mirrorlist.iter())
                .chain(r.metalink.iter())
            {
                if !["http://", "https://", "file://", "rsync://"]
                    .iter()
                    .any(|s| u.starts_with(s))
                {
                    return bad(
                        k("urls"),
                        format!("`{u}`: only http://, https://, file:// and rsync:// are mirrored"),
                    );
                }
            }
            if let Some(d) = &r.dest {
                let probe = expand(d, Some("x"), r.releasever.as_deref(), &r.dist);
                if !rel_path_ok(&probe) {
                    return bad(
                        k("dest"),
                        format!("`{d}` must be a relative path inside www_dir, without `..`"),
                    );
                }
            }
            if let Some(b) = &r.bandwidth_limit
                && let Err(m) = parse_rate(b)
            {
                return bad(k("bandwidth_limit"), m);
            }
            if r.gpgcheck && r.gpg_keys.is_empty() {
                return bad(k("gpgcheck"), "needs gpg_keys".into());
            }
            if r.repo_gpgcheck == Some(true) && r.gpg_keys.is_empty() {
                return bad(k("repo_gpgcheck"), "needs gpg_keys".into());
            }
            for p in r.include.iter().chain(&r.exclude) {
                if p.is_empty() {
                    return bad(k("include"), "empty glob".into());
                }
            }
            if let Some(reg) = &r.register {
                if reg.name.is_empty() {
                    return bad(k("register.name"), "must not be empty".into());
                }
                if !["koji", "simple", "bare"].contains(&reg.merge_mode.as_str()) {
                    return bad(
                        k("register.merge_mode"),
                        format!("`{}`: one of koji, simple, bare", reg.merge_mode),
                    );
                }
                if self.hub.is_none() {
                    return bad(k("register"), "needs a [hub] section".into());
                }
            }
            for a in &r.arches {
                let label = format!("{}-{}-{}", r.dist, a, r.repo);
                if !labels.insert(label.clone()) {
                    return bad(k("arches"), format!("repo {label} is configured twice"));
                }
            }
        }
        Ok(())
    }

    /// Every (repo, arch), in config order.
    pub fn instances(&self) -> Vec<Instance> {
        let mut out = Vec::new();
        for (i, r) in self.repos.iter().enumerate() {
            let rate = r
                .bandwidth_limit
                .as_deref()
                .and_then(|b| parse_rate(b).ok())
                .or(self.bandwidth_limit);
            for a in &r.arches {
                let x = |s: &str| expand(s, Some(a), r.releasever.as_deref(), &r.dist);
                let dest_rel = match &r.dest {
                    Some(d) => x(d),
                    None => format!("{}-{}/RPMS.{}", r.dist, a, r.repo),
                };
                out.push(Instance {
                    label: format!("{}-{}-{}", r.dist, a, r.repo),
                    spec_index: i,
                    dist: r.dist.clone(),
                    repo: r.repo.clone(),
                    arch: a.clone(),
                    urls: r.urls.iter().map(|u| x(u)).collect(),
                    mirrorlist: r.mirrorlist.as_deref().map(x),
                    metalink: r.metalink.as_deref().map(x),
                    dest: self.www_dir.join(dest_rel),
                    include: r.include.clone(),
                    exclude: r.exclude.clone(),
                    newest_only: r.newest_only,
                    delete: r.delete,
                    gpg_keys: r.gpg_keys.clone(),
                    repo_gpgcheck: r.repo_gpgcheck.unwrap_or(!r.gpg_keys.is_empty()),
                    gpgcheck: r.gpgcheck,
                    bandwidth_limit: rate,
                });
            }
        }
        out
    }

    /// The URL Koji gets for a registered repo: `$arch` kept, so one external repo
    /// serves every arch of a tag (Koji expands it per arch).
    pub fn register_url(&self, spec: &RepoSpec) -> String {
        if let Some(reg) = &spec.register
            && let Some(u) = &reg.url
        {
            return u.clone();
        }
        let dest_rel = match &spec.dest {
            Some(d) => expand(d, None, spec.releasever.as_deref(), &spec.dist),
            None => format!("{}-$arch/RPMS.{}", spec.dist, spec.repo),
        };
        format!("file://{}/{}/", self.www_dir.display(), dest_rel)
    }

    /// The instances a `sync`/`status` argument list selects: a full label, a dist
    /// (`fedora40`) or a dist and arch (`fedora40-x86_64`). An argument matching nothing
    /// is an error, so a typo does not silently sync nothing.
    pub fn select(&self, args: &[String]) -> Result<Vec<Instance>, String> {
        let all = self.instances();
        if args.is_empty() {
            return Ok(all);
        }
        let mut out: Vec<Instance> = Vec::new();
        for a in args {
            let hits: Vec<&Instance> = all
                .iter()
                .filter(|i| &i.label == a || &i.dist == a || format!("{}-{}", i.dist, i.arch) == *a)
                .collect();
            if hits.is_empty() {
                return Err(format!(
                    "{}: no repo `{a}` (known: {})",
                    self.source.display(),
                    all.iter()
                        .map(|i| i.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for h in hits {
                if !out.iter().any(|o| o.label == h.label) {
                    out.push(h.clone());
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mirror.toml");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn expands_variables() {
        assert_eq!(
            expand(
                "http://m/$releasever/${basearch}/$arch/$dist/$unknown",
                Some("i686"),
                Some("40"),
                "f"
            ),
            "http://m/40/i386/i686/f/$unknown"
        );
        assert_eq!(expand("a$", None, None, "d"), "a$");
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10M"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_rate("512k"), Ok(512 * 1024));
        assert_eq!(parse_rate("300"), Ok(300));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
    }

    #[test]
    fn toml_instances_and_default_layout() {
        let (_d, p) = write(
            r#"
www_dir = "/srv/ext/www"
[[repo]]
dist = "fedora40"
releasever = "40"
arches = ["x86_64", "aarch64"]
urls = ["http://m/fedora/$releasever/$basearch/os/"]
[repo.register]
name = "fedora-40"
tags = ["f40-build"]
[hub]
server = "https://hub/kojihub"
cert = "/etc/kkoji/mirror.pem"
"#,
        );
        let c = Config::load_toml(&p).unwrap();
        let inst = c.instances();
        assert_eq!(inst.len(), 2);
        assert_eq!(inst[0].label, "fedora40-x86_64-os");
        assert_eq!(
            inst[1].dest,
            PathBuf::from("/srv/ext/www/fedora40-aarch64/RPMS.os")
        );
        assert_eq!(inst[1].urls, vec!["http://m/fedora/40/aarch64/os/"]);
        assert_eq!(
            c.register_url(&c.repos[0]),
            "file:///srv/ext/www/fedora40-$arch/RPMS.os/"
        );
        assert_eq!(c.select(&["fedora40".into()]).unwrap().len(), 2);
        assert_eq!(c.select(&["fedora40-aarch64".into()]).unwrap().len(), 1);
        let e = c.select(&["fedora39".into()]).unwrap_err();
        assert!(e.contains("no repo `fedora39`"), "{e}");
    }

    #[test]
    fn bad_values_name_file_and_key() {
        for (text, key) in [
            (
                "www_dir = \"/w\"\n[[repo]]\ndist = \"a\"\narches = []\nurls = [\"http://x/\"]\n",
                "repo[0].arches",
            ),
            (
                "www_dir = \"/w\"\n[[repo]]\ndist = \"a\"\narches = [\"x\"]\nurls = [\"ftp://x/\"]\n",
                "repo[0].urls",
            ),
            (
                "www_dir = \"/w\"\n[[repo]]\ndist = \"a\"\narches = [\"x\"]\nurls = [\"http://x/\"]\ndest = \"../etc\"\n",
                "repo[0].dest",
            ),
            (
                "www_dir = \"/w\"\nbandwidth_limit = \"fast\"\n",
                "bandwidth_limit",
            ),
            (
                "www_dir = \"/w\"\n[[repo]]\ndist = \"a\"\narches = [\"x\"]\nurls = [\"http://x/\"]\nnewst_only = true\n",
                "newst_only",
            ),
            (
                "www_dir = \"/w\"\n[[repo]]\ndist = \"a\"\narches = [\"x\"]\nurls = [\"http://x/\"]\ngpgcheck = true\n",
                "repo[0].gpgcheck",
            ),
        ] {
            let (_d, p) = write(text);
            let e = Config::load_toml(&p).unwrap_err().to_string();
            assert!(e.starts_with(&p.display().to_string()), "{e}");
            assert!(e.contains(key), "{key}: {e}");
        }
    }
}
