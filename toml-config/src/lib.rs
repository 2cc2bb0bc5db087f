//! Loading the TOML configs of kkoji's daemons (builder, repo-regen). A typo in a farm's
//! config must not silently fall back to a default, so the config types use
//! `deny_unknown_fields`, and every error says which file and which key is wrong — the
//! operator reads it in a log, far from the file.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {err}")]
    Read { path: PathBuf, err: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ConfigError {
    /// A value that parsed but is not acceptable (checked after parsing).
    pub fn bad_key(
        path: &Path,
        key: impl std::fmt::Display,
        message: impl std::fmt::Display,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!("key `{key}`: {message}"),
        }
    }
}

/// Reads and parses `path`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    load_checked(path, |_: &T| Ok::<(), (&str, &str)>(()))
}

/// Parses `text`; `path` is only used in messages. A wrong value is reported with its
/// dotted key path (`key `mounts[0].kind`: unknown variant ...`).
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let de = toml::Deserializer::parse(text)
        .map_err(|e| invalid(e.to_string().trim_end().to_owned()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = inner.trim_end();
        if key == "." || key.is_empty() {
            invalid(inner.to_owned())
        } else {
            invalid(format!("key `{key}`: {inner}"))
        }
    })
}

/// [`load`], then the config's own checks of parsed values: `check` answers
/// `Err((key, message))` for the first bad one.
pub fn load_checked<T, K, M>(
    path: &Path,
    check: impl FnOnce(&T) -> Result<(), (K, M)>,
) -> Result<T, ConfigError>
where
    T: DeserializeOwned,
    K: std::fmt::Display,
    M: std::fmt::Display,
{
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
        path: path.to_path_buf(),
        err,
    })?;
    parse_checked(path, &text, check)
}

/// [`parse`], then the config's own checks (see [`load_checked`]).
pub fn parse_checked<T, K, M>(
    path: &Path,
    text: &str,
    check: impl FnOnce(&T) -> Result<(), (K, M)>,
) -> Result<T, ConfigError>
where
    T: DeserializeOwned,
    K: std::fmt::Display,
    M: std::fmt::Display,
{
    let cfg: T = parse(path, text)?;
    check(&cfg).map_err(|(key, msg)| ConfigError::bad_key(path, key, msg))?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        #[serde(default)]
        inner: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        size: u32,
    }

    fn msg(r: Result<Sample, ConfigError>) -> String {
        match r {
            Err(e) => e.to_string(),
            Ok(v) => panic!("expected an error, got {v:?}"),
        }
    }

    #[test]
    fn errors_name_file_and_key() {
        let p = Path::new("/etc/kkoji/x.toml");
        let m = msg(parse(p, "name = \"a\"\n[[inner]]\nsize = \"big\"\n"));
        assert!(
            m.starts_with("/etc/kkoji/x.toml: key `inner[0].size`:"),
            "{m}"
        );
        let m = msg(parse(p, "name = \"a\"\nnmae = 1\n"));
        assert!(
            m.starts_with("/etc/kkoji/x.toml:") && m.contains("nmae"),
            "{m}"
        );
        let m = msg(parse(p, "name = \n"));
        assert!(m.starts_with("/etc/kkoji/x.toml:"), "{m}");
        let m = msg(load(Path::new("/nonexistent/kkoji.toml")));
        assert!(
            m.starts_with("/nonexistent/kkoji.toml: cannot read:"),
            "{m}"
        );
        assert_eq!(
            ConfigError::bad_key(p, "name", "must not be empty").to_string(),
            "/etc/kkoji/x.toml: key `name`: must not be empty"
        );
        let ok: Sample = parse(p, "name = \"a\"\n").unwrap();
        assert_eq!(ok.name, "a");
    }
}
