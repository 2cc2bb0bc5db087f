//! The three daemons' configs and the koji client profile. Each config is a value of the
//! daemon's own config type (`kkoji_hub::config::HubConfig`, `kkoji_builder::config::Config`,
//! `kkoji_repo_regen::config::Config`), serialised to TOML and checked with the daemon's own
//! parser before it replaces anything, so quickstart can never write a file its daemon
//! refuses, and a key renamed in a daemon fails here at compile time, not at a user's start.
//!
//! A config is written when missing. An existing one is the operator's: it is loaded with
//! the daemon's loader (an edit gone wrong stops quickstart with the file and the key), and
//! only the keys that tie it to this farm — the hub's address, certificates, directories,
//! the local builder's host row — are kept in step with the command line and the state
//! directory. The file is rewritten (without comments) only when one of those changed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kkoji_builder::config::{Config as BuilderConfig, MountKind};
use kkoji_hub::config::{AuthConfig, BootstrapHost, DbConfig, HubConfig, LimitsConfig, TlsConfig};
use kkoji_repo_regen::config::Config as RegenConfig;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::layout::{ADMIN, LOCAL_BUILDER, Layout};
use crate::pki::FarmCerts;

const HUB_HEADER: &str = "\
# Written by kkoji-quickstart, which runs `kkoji-hub serve -c` on this file. Edit freely:
# at each start only listen, files_listen, state_dir, topdir, bootstrap_admin,
# bootstrap_hosts, [tls] (and [scheduler] host_timeout / ready_timeout when given on the
# command line) are brought in step with the farm; the file is rewritten, without
# comments, only when one of them changed.
";

const BUILDER_HEADER: &str = "\
# Written by kkoji-quickstart for its local builder. Edit freely (`kkoji-builder --config
# THIS check` tells whether the builder would take work): at each start only hub,
# host_cert, ca and topdir are brought in step with the farm; the file is rewritten,
# without comments, only when one of them changed.
";

const REGEN_HEADER: &str = "\
# Written by kkoji-quickstart for kkoji-repo-regen (kojira's job), which runs as the
# admin: the farm in a box has one operator. Edit freely: at each start only hub, cert,
# ca and topdir are brought in step with the farm; the file is rewritten, without
# comments, only when one of them changed.
";

/// The addresses clients use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    /// XML-RPC endpoint (`server` in koji.conf, `hub` in the daemons' configs).
    pub server: String,
    pub weburl: String,
    /// Plain-HTTP top directory, served by the hub on the next port.
    pub topurl: String,
}

/// The hub serves the top directory (`topurl`) on the port after its own.
pub fn files_addr(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    let port = listen.port().checked_add(1).with_context(|| {
        format!("--listen {listen}: the next port serves the top directory; pick a lower one")
    })?;
    Ok(SocketAddr::new(listen.ip(), port))
}

pub fn urls(listen: SocketAddr) -> anyhow::Result<Urls> {
    let ip = listen.ip().to_string();
    let host = if listen.ip().is_ipv6() {
        format!("[{ip}]")
    } else {
        ip
    };
    let files = files_addr(listen)?;
    Ok(Urls {
        server: format!("https://{host}:{}/kojihub", listen.port()),
        weburl: format!("https://{host}:{}/koji", listen.port()),
        topurl: format!("http://{host}:{}/kojifiles", files.port()),
    })
}

/// Koji's name for this machine's architecture.
pub fn machine_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i686",
        other => other,
    }
}

/// The local builder's host row: this machine's arch and noarch, also in `createrepo`.
pub fn local_host() -> BootstrapHost {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    BootstrapHost {
        name: LOCAL_BUILDER.into(),
        arches: vec![machine_arch().into(), "noarch".into()],
        // room for a few light tasks next to one build on small machines
        capacity: f64::from(u32::try_from(2 * cpus).unwrap_or(u32::MAX).max(2)),
        channels: vec!["createrepo".into()],
    }
}

/// What the command line says about the hub.
#[derive(Debug, Clone, Default)]
pub struct HubOptions {
    pub local_builder: bool,
    pub host_timeout: Option<u64>,
    pub ready_timeout: Option<u64>,
    /// SMTP relay URL for notification mail.
    pub mail_relay: Option<String>,
}

/// The hub of a farm in a box: embedded PostgreSQL under the state directory, the farm CA
/// for clients, the admin and (unless --no-builder) the local builder created at start-up.
pub fn hub_config(
    layout: &Layout,
    certs: &FarmCerts,
    listen: SocketAddr,
    opts: &HubOptions,
) -> anyhow::Result<HubConfig> {
    let mut scheduler = kkoji_hub::config::SchedulerConfig::default();
    if let Some(t) = opts.host_timeout {
        scheduler.host_timeout = t;
    }
    if let Some(t) = opts.ready_timeout {
        scheduler.ready_timeout = t;
    }
    Ok(HubConfig {
        listen,
        state_dir: layout.state_dir().to_path_buf(),
        database_url: None,
        files_listen: Some(files_addr(listen)?),
        topdir: layout.topdir(),
        bootstrap_admin: Some(ADMIN.into()),
        bootstrap_hosts: if opts.local_builder {
            vec![local_host()]
        } else {
            Vec::new()
        },
        tls: TlsConfig {
            cert: certs.server_cert.clone(),
            key: certs.server_key.clone(),
            client_ca: certs.ca_cert.clone(),
            crl: Some(certs.crl.clone()),
        },
        auth: AuthConfig::default(),
        limits: LimitsConfig::default(),
        db: DbConfig::default(),
        scheduler,
        repos: Default::default(),
        notifications: kkoji_hub::config::NotificationsConfig {
            relay: opts.mail_relay.clone(),
            ..Default::default()
        },
    })
}

/// A config type filled with its daemon's own defaults around the required keys: the
/// defaults stay the daemon's, not a copy here that could drift.
fn with_defaults<T: DeserializeOwned>(required: impl Serialize) -> anyhow::Result<T> {
    let value = toml::Value::try_from(required).context("cannot build a config")?;
    value.try_into().context("cannot build a config")
}

#[derive(Serialize)]
struct BuilderRequired<'a> {
    hub: &'a str,
    host_cert: &'a Path,
}

#[derive(Serialize)]
struct MountRequired<'a> {
    path: &'a Path,
    kind: MountKind,
}

#[derive(Serialize)]
struct RegenRequired<'a> {
    hub: &'a str,
    cert: &'a Path,
}

/// The local builder: on the hub's machine, sharing its top directory.
pub fn builder_config(
    layout: &Layout,
    urls: &Urls,
    host_cert: &Path,
    ca: &Path,
) -> anyhow::Result<BuilderConfig> {
    let mut c: BuilderConfig = with_defaults(BuilderRequired {
        hub: &urls.server,
        host_cert,
    })?;
    let topdir = layout.topdir();
    c.ca = Some(ca.to_path_buf());
    c.work_dir = layout.builder_work();
    c.maxjobs = 4;
    c.minspace_mb = 256;
    // a farm in a box shares its machine with everything else running there (compilers,
    // the hub, PostgreSQL), so the machine's load average says little about this builder
    c.load_check = false;
    c.mount_timeout_secs = 5;
    c.poll_timeout_secs = 30;
    c.mounts = vec![with_defaults(MountRequired {
        path: &topdir,
        kind: MountKind::Dir,
    })?];
    c.topdir = topdir;
    Ok(c)
}

/// kkoji-repo-regen as the admin, every 10 s (a farm in a box wants its repos soon).
pub fn regen_config(
    layout: &Layout,
    urls: &Urls,
    cert: &Path,
    ca: &Path,
) -> anyhow::Result<RegenConfig> {
    let mut c: RegenConfig = with_defaults(RegenRequired {
        hub: &urls.server,
        cert,
    })?;
    c.ca = Some(ca.to_path_buf());
    c.topdir = layout.topdir();
    c.interval_secs = 10;
    Ok(c)
}

/// What [`ensure_config`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// These keys were brought in step with the farm.
    Updated(Vec<&'static str>),
    Kept,
}

/// `have = want` unless equal; records `key` when it changed.
fn in_step<V: PartialEq + Clone>(
    key: &'static str,
    have: &mut V,
    want: &V,
    changed: &mut Vec<&'static str>,
) {
    if have != want {
        *have = want.clone();
        changed.push(key);
    }
}

/// Whether two values serialise alike (for config types without `PartialEq`).
fn same<V: Serialize>(a: &V, b: &V) -> bool {
    #[derive(Serialize)]
    struct W<'a, V> {
        v: &'a V,
    }
    match (toml::to_string(&W { v: a }), toml::to_string(&W { v: b })) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn sync_hub(have: &mut HubConfig, want: &HubConfig, opts: &HubOptions) -> Vec<&'static str> {
    let mut c = Vec::new();
    in_step("listen", &mut have.listen, &want.listen, &mut c);
    in_step(
        "files_listen",
        &mut have.files_listen,
        &want.files_listen,
        &mut c,
    );
    in_step("state_dir", &mut have.state_dir, &want.state_dir, &mut c);
    in_step("topdir", &mut have.topdir, &want.topdir, &mut c);
    in_step(
        "bootstrap_admin",
        &mut have.bootstrap_admin,
        &want.bootstrap_admin,
        &mut c,
    );
    if !same(&have.bootstrap_hosts, &want.bootstrap_hosts) {
        have.bootstrap_hosts = want.bootstrap_hosts.clone();
        c.push("bootstrap_hosts");
    }
    in_step("tls.cert", &mut have.tls.cert, &want.tls.cert, &mut c);
    in_step("tls.key", &mut have.tls.key, &want.tls.key, &mut c);
    in_step(
        "tls.client_ca",
        &mut have.tls.client_ca,
        &want.tls.client_ca,
        &mut c,
    );
    in_step("tls.crl", &mut have.tls.crl, &want.tls.crl, &mut c);
    if opts.host_timeout.is_some() {
        in_step(
            "scheduler.host_timeout",
            &mut have.scheduler.host_timeout,
            &want.scheduler.host_timeout,
            &mut c,
        );
    }
    if opts.mail_relay.is_some() {
        in_step(
            "notifications.relay",
            &mut have.notifications.relay,
            &want.notifications.relay,
            &mut c,
        );
    }
    if opts.ready_timeout.is_some() {
        in_step(
            "scheduler.ready_timeout",
            &mut have.scheduler.ready_timeout,
            &want.scheduler.ready_timeout,
            &mut c,
        );
    }
    c
}

fn sync_builder(have: &mut BuilderConfig, want: &BuilderConfig) -> Vec<&'static str> {
    let mut c = Vec::new();
    in_step("hub", &mut have.hub, &want.hub, &mut c);
    in_step("host_cert", &mut have.host_cert, &want.host_cert, &mut c);
    in_step("ca", &mut have.ca, &want.ca, &mut c);
    if have.topdir != want.topdir {
        // the volume check of the old top directory follows it
        for m in &mut have.mounts {
            if m.path == have.topdir {
                m.path = want.topdir.clone();
            }
        }
        have.topdir = want.topdir.clone();
        c.push("topdir");
    }
    c
}

fn sync_regen(have: &mut RegenConfig, want: &RegenConfig) -> Vec<&'static str> {
    let mut c = Vec::new();
    in_step("hub", &mut have.hub, &want.hub, &mut c);
    in_step("cert", &mut have.cert, &want.cert, &mut c);
    in_step("ca", &mut have.ca, &want.ca, &mut c);
    in_step("topdir", &mut have.topdir, &want.topdir, &mut c);
    c
}

/// Serialises `cfg` under `header`.
pub fn render<T: Serialize>(header: &str, cfg: &T) -> anyhow::Result<String> {
    Ok(format!(
        "{header}\n{}",
        toml::to_string(cfg).context("cannot serialise the config")?
    ))
}

/// Writes `fresh` to `path` if missing; otherwise loads the file with the daemon's loader
/// and brings the farm's keys in step (`sync`). Whatever is written is first parsed back
/// with the daemon's own parser.
fn ensure_config<T, E>(
    path: &Path,
    header: &str,
    fresh: T,
    load: impl FnOnce(&Path) -> Result<T, E>,
    parse: impl FnOnce(&Path, &str) -> Result<T, E>,
    sync: impl FnOnce(&mut T, &T) -> Vec<&'static str>,
) -> anyhow::Result<Outcome>
where
    T: Serialize,
    E: std::error::Error + Send + Sync + 'static,
{
    let exists = path
        .try_exists()
        .with_context(|| format!("cannot look at {}", path.display()))?;
    let (cfg, outcome) = if exists {
        let mut have = load(path).with_context(|| {
            format!(
                "{} is not a valid config: fix it, or remove it to have a fresh one written",
                path.display()
            )
        })?;
        let changed = sync(&mut have, &fresh);
        if changed.is_empty() {
            return Ok(Outcome::Kept);
        }
        (have, Outcome::Updated(changed))
    } else {
        (fresh, Outcome::Written)
    };
    let text = render(header, &cfg)?;
    parse(path, &text).with_context(|| {
        format!(
            "kkoji-quickstart made a config for {} that its daemon refuses (a bug)",
            path.display()
        )
    })?;
    crate::fsutil::write_atomic(path, text.as_bytes())?;
    Ok(outcome)
}

fn report(path: &Path, outcome: &Outcome) {
    match outcome {
        Outcome::Written => tracing::info!(path = %path.display(), "config written"),
        Outcome::Updated(keys) => println!(
            "{}: {} brought in step with the farm",
            path.display(),
            keys.join(", ")
        ),
        Outcome::Kept => {}
    }
}

pub fn ensure_hub(layout: &Layout, fresh: HubConfig, opts: &HubOptions) -> anyhow::Result<PathBuf> {
    let path = layout.hub_config();
    let outcome = ensure_config(
        &path,
        HUB_HEADER,
        fresh,
        HubConfig::load,
        HubConfig::parse,
        |have, want| sync_hub(have, want, opts),
    )?;
    report(&path, &outcome);
    Ok(path)
}

pub fn ensure_builder(layout: &Layout, fresh: BuilderConfig) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(layout.builder_work())
        .with_context(|| format!("cannot create {}", layout.builder_work().display()))?;
    let path = layout.builder_config();
    let outcome = ensure_config(
        &path,
        BUILDER_HEADER,
        fresh,
        BuilderConfig::load,
        BuilderConfig::parse,
        sync_builder,
    )?;
    report(&path, &outcome);
    Ok(path)
}

pub fn ensure_regen(layout: &Layout, fresh: RegenConfig) -> anyhow::Result<PathBuf> {
    let dir = layout.regen_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = layout.regen_config();
    let outcome = ensure_config(
        &path,
        REGEN_HEADER,
        fresh,
        RegenConfig::load,
        RegenConfig::parse,
        sync_regen,
    )?;
    report(&path, &outcome);
    Ok(path)
}

/// The `[kkoji]` profile for the admin (other sections of the file are kept).
pub fn write_koji_conf(layout: &Layout, urls: &Urls, certs: &FarmCerts) -> anyhow::Result<PathBuf> {
    let path = layout.koji_conf();
    kkoji_certs::write_koji_config(
        &path,
        &kkoji_certs::KojiProfile {
            profile: "kkoji".into(),
            server: urls.server.clone(),
            weburl: urls.weburl.clone(),
            topurl: urls.topurl.clone(),
            cert: certs.admin_bundle.clone(),
            serverca: certs.ca_cert.clone(),
        },
    )?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Farm {
        _dir: tempfile::TempDir,
        layout: Layout,
        certs: FarmCerts,
    }

    fn farm() -> Farm {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let certs = crate::pki::ensure(&layout, "127.0.0.1:8443".parse().unwrap(), true).unwrap();
        Farm {
            _dir: dir,
            layout,
            certs,
        }
    }

    fn opts() -> HubOptions {
        HubOptions {
            local_builder: true,
            host_timeout: Some(30),
            ready_timeout: None,
            mail_relay: None,
        }
    }

    /// Writes all three for `listen`, as a start does.
    fn write_all(f: &Farm, listen: &str, opts: &HubOptions) -> [Outcome; 3] {
        let listen: SocketAddr = listen.parse().unwrap();
        let urls = urls(listen).unwrap();
        let bundle = f.certs.builder_bundle.clone().unwrap();
        let hub = hub_config(&f.layout, &f.certs, listen, opts).unwrap();
        let builder = builder_config(&f.layout, &urls, &bundle, &f.certs.ca_cert).unwrap();
        let regen =
            regen_config(&f.layout, &urls, &f.certs.admin_bundle, &f.certs.ca_cert).unwrap();
        std::fs::create_dir_all(f.layout.regen_dir()).unwrap();
        std::fs::create_dir_all(f.layout.builder_work()).unwrap();
        [
            ensure_config(
                &f.layout.hub_config(),
                HUB_HEADER,
                hub,
                HubConfig::load,
                HubConfig::parse,
                |h, w| sync_hub(h, w, opts),
            )
            .unwrap(),
            ensure_config(
                &f.layout.builder_config(),
                BUILDER_HEADER,
                builder,
                BuilderConfig::load,
                BuilderConfig::parse,
                sync_builder,
            )
            .unwrap(),
            ensure_config(
                &f.layout.regen_config(),
                REGEN_HEADER,
                regen,
                RegenConfig::load,
                RegenConfig::parse,
                sync_regen,
            )
            .unwrap(),
        ]
    }

    #[test]
    fn what_quickstart_writes_each_daemon_loads() {
        let f = farm();
        let st = f.layout.state_dir();
        assert_eq!(
            write_all(&f, "127.0.0.1:8443", &opts()),
            [Outcome::Written, Outcome::Written, Outcome::Written]
        );

        let hub = HubConfig::load(&f.layout.hub_config()).unwrap();
        assert_eq!(hub.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(
            hub.files_listen.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:8444")
        );
        assert_eq!(hub.state_dir, st);
        assert!(hub.database_url.is_none(), "the embedded PostgreSQL");
        assert_eq!(hub.topdir, st.join("koji"));
        assert_eq!(hub.bootstrap_admin.as_deref(), Some(ADMIN));
        assert_eq!(hub.bootstrap_hosts.len(), 1);
        assert_eq!(hub.bootstrap_hosts[0].name, LOCAL_BUILDER);
        assert_eq!(hub.bootstrap_hosts[0].arches, [machine_arch(), "noarch"]);
        assert_eq!(hub.bootstrap_hosts[0].channels, ["createrepo"]);
        assert_eq!(hub.tls.client_ca, f.certs.ca_cert);
        assert_eq!(hub.tls.crl.as_ref(), Some(&f.certs.crl));
        assert_eq!(hub.scheduler.host_timeout, 30);
        assert_eq!(hub.scheduler.ready_timeout, 180, "the hub's default");

        let b = BuilderConfig::load(&f.layout.builder_config()).unwrap();
        assert_eq!(b.hub, "https://127.0.0.1:8443/kojihub");
        assert_eq!(b.host_cert, st.join("certs/hosts/local-builder.pem"));
        assert_eq!(b.ca.as_ref(), Some(&f.certs.ca_cert));
        assert_eq!(b.topdir, st.join("koji"));
        assert_eq!(b.work_dir, st.join("builder/work"));
        assert!(!b.load_check);
        assert_eq!((b.maxjobs, b.minspace_mb), (4, 256));
        assert_eq!(b.mounts.len(), 1);
        assert_eq!(b.mounts[0].path, st.join("koji"));
        assert_eq!(b.mounts[0].kind, MountKind::Dir);

        let r = RegenConfig::load(&f.layout.regen_config()).unwrap();
        assert_eq!(r.hub, "https://127.0.0.1:8443/kojihub");
        assert_eq!(r.cert, f.certs.admin_bundle);
        assert_eq!(r.ca.as_ref(), Some(&f.certs.ca_cert));
        assert_eq!(r.topdir, st.join("koji"));
        assert_eq!(r.interval_secs, 10);

        // and serialising what was loaded gives the same file back
        for (path, header, again) in [
            (f.layout.hub_config(), HUB_HEADER, render(HUB_HEADER, &hub)),
            (
                f.layout.builder_config(),
                BUILDER_HEADER,
                render(BUILDER_HEADER, &b),
            ),
            (
                f.layout.regen_config(),
                REGEN_HEADER,
                render(REGEN_HEADER, &r),
            ),
        ] {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.starts_with(header));
            assert_eq!(again.unwrap(), text, "{}", path.display());
        }
    }

    #[test]
    fn keys_quickstart_does_not_set_keep_the_daemons_defaults() {
        let f = farm();
        let u = urls("127.0.0.1:8443".parse().unwrap()).unwrap();
        let b = builder_config(&f.layout, &u, Path::new("/c.pem"), Path::new("/ca")).unwrap();
        let minimal = BuilderConfig::parse(
            Path::new("b.toml"),
            "hub = \"http://h/kojihub\"\nhost_cert = \"/c.pem\"\n",
        )
        .unwrap();
        assert_eq!(b.rpmbuild, minimal.rpmbuild);
        assert_eq!(b.repo_wait_timeout_secs, minimal.repo_wait_timeout_secs);
        assert_eq!(
            b.external_repo_timeout_secs,
            minimal.external_repo_timeout_secs
        );
        assert_eq!(b.repo_compression, minimal.repo_compression);
        assert_eq!(b.mounts[0].options(), "", "a `dir` has no mount options");
        let r = regen_config(&f.layout, &u, Path::new("/c.pem"), Path::new("/ca")).unwrap();
        let minimal = RegenConfig::parse(
            Path::new("r.toml"),
            "hub = \"http://h/kojihub\"\ncert = \"/c.pem\"\n",
        )
        .unwrap();
        assert_eq!(r.repo_lifetime_secs, minimal.repo_lifetime_secs);
        assert_eq!(r.max_repo_tasks, minimal.max_repo_tasks);
        assert_eq!(r.request_backoff_max_secs, minimal.request_backoff_max_secs);
    }

    #[test]
    fn a_restart_keeps_edits_and_follows_a_new_address() {
        let f = farm();
        write_all(&f, "127.0.0.1:8443", &opts());
        let path = f.layout.builder_config();
        let edited = std::fs::read_to_string(&path)
            .unwrap()
            .replace("maxjobs = 4", "# two at a time\nmaxjobs = 2");
        std::fs::write(&path, &edited).unwrap();

        assert_eq!(
            write_all(&f, "127.0.0.1:8443", &opts()),
            [Outcome::Kept, Outcome::Kept, Outcome::Kept]
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);

        let out = write_all(&f, "127.0.0.1:9443", &opts());
        assert_eq!(out[0], Outcome::Updated(vec!["listen", "files_listen"]));
        assert_eq!(out[1], Outcome::Updated(vec!["hub"]));
        assert_eq!(out[2], Outcome::Updated(vec!["hub"]));
        let b = BuilderConfig::load(&path).unwrap();
        assert_eq!(b.hub, "https://127.0.0.1:9443/kojihub");
        assert_eq!(b.maxjobs, 2, "the operator's edit stays");

        // a timeout given once stays until another is given
        let no_flags = HubOptions {
            local_builder: true,
            ..Default::default()
        };
        assert_eq!(write_all(&f, "127.0.0.1:9443", &no_flags)[0], Outcome::Kept);
        let hub = HubConfig::load(&f.layout.hub_config()).unwrap();
        assert_eq!(hub.scheduler.host_timeout, 30);
        // --no-builder: the hub no longer creates the local builder's host
        let no_builder = HubOptions::default();
        assert_eq!(
            write_all(&f, "127.0.0.1:9443", &no_builder)[0],
            Outcome::Updated(vec!["bootstrap_hosts"])
        );
    }

    #[test]
    fn a_broken_edit_names_the_file_and_the_key_and_is_left_alone() {
        let f = farm();
        write_all(&f, "127.0.0.1:8443", &opts());
        let path = f.layout.regen_config();
        let broken = std::fs::read_to_string(&path)
            .unwrap()
            .replace("interval_secs = 10", "interval_sec = 10");
        std::fs::write(&path, &broken).unwrap();
        let u = urls("127.0.0.1:8443".parse().unwrap()).unwrap();
        let fresh = regen_config(&f.layout, &u, &f.certs.admin_bundle, &f.certs.ca_cert).unwrap();
        let e = format!("{:#}", ensure_regen(&f.layout, fresh).unwrap_err());
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("interval_sec"), "{e}");
        assert!(e.contains("remove it"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    }

    #[test]
    fn ipv6_and_the_last_port() {
        let u = urls("[::1]:8443".parse().unwrap()).unwrap();
        assert_eq!(u.server, "https://[::1]:8443/kojihub");
        assert_eq!(u.topurl, "http://[::1]:8444/kojifiles");
        let e = format!(
            "{:#}",
            urls("127.0.0.1:65535".parse().unwrap()).unwrap_err()
        );
        assert!(e.contains("next port"), "{e}");
    }
}
