//! `kkoji-certs`: command-line front end to the kkoji CA (see the crate README).
//!
//! Exit codes: 0 success, 1 `check` found something expired or expiring within the window,
//! 2 any error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use kkoji_certs::lifecycle::{self, DEFAULT_CRL_DAYS, DEFAULT_ROTATE_DAYS, Origin, Reason};
use kkoji_certs::{
    CaPaths, CertKind, DEFAULT_CA_DAYS, DEFAULT_LEAF_DAYS, KojiProfile, export_p12, init_ca,
    load_ca, read_bundle, validate_name, write_koji_config, write_secret_file, write_server_pair,
    write_user_bundle,
};

#[derive(Parser, Debug)]
#[command(
    name = "kkoji-certs",
    version,
    about = "Private CA for kkoji: certificates for koji users, builder hosts and the hub"
)]
struct Cli {
    /// CA directory (ca.crt, ca.key, users/, hosts/, server/).
    #[arg(long, env = "KKOJI_CERT_DIR", global = true)]
    dir: Option<PathBuf>,

    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a new CA (refuses if one exists).
    Init {
        #[arg(long, default_value = "kkoji CA")]
        cn: String,
        #[arg(long, default_value_t = DEFAULT_CA_DAYS)]
        days: u32,
    },
    /// Issue a client certificate for a koji user: DIR/users/NAME.pem.
    IssueUser {
        name: String,
        #[arg(long, default_value_t = DEFAULT_LEAF_DAYS)]
        days: u32,
    },
    /// Issue a client certificate for a builder host: DIR/hosts/NAME.pem.
    IssueHost {
        name: String,
        #[arg(long, default_value_t = DEFAULT_LEAF_DAYS)]
        days: u32,
    },
    /// Issue the hub's TLS certificate: DIR/server/HOSTNAME.crt and .key.
    IssueServer {
        hostname: String,
        /// Extra subject alternative name (DNS name or IP address); repeatable.
        #[arg(long = "san")]
        sans: Vec<String>,
        #[arg(long, default_value_t = DEFAULT_LEAF_DAYS)]
        days: u32,
    },
    /// Export a user's (or, with --host, a host's) certificate as a .p12 for browsers.
    ExportP12 {
        name: String,
        #[arg(long)]
        host: bool,
        /// Password protecting the .p12 (visible in `ps`; prefer --password-file on shared hosts).
        #[arg(
            long,
            required_unless_present = "password_file",
            conflicts_with = "password_file"
        )]
        password: Option<String>,
        /// Read the password from the first line of this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Output file (default DIR/users/NAME.p12 or DIR/hosts/NAME.p12).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write/update the [kkoji] profile of a koji client config.
    KojiConfig {
        #[arg(long)]
        out: PathBuf,
        /// Hub URL, e.g. https://koji.example.com:8443/kojihub
        #[arg(long)]
        server: String,
        /// Default: the server URL with /kojihub replaced by /koji.
        #[arg(long)]
        weburl: Option<String>,
        /// Default: the server URL with /kojihub replaced by /kojifiles.
        #[arg(long)]
        topurl: Option<String>,
        /// User whose DIR/users/NAME.pem the profile uses.
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "kkoji")]
        profile: String,
    },
    /// Check every certificate in use, the CA and the CRL; exit 1 if any expires within
    /// --warn-days (or has expired). For cron and monitoring.
    Check {
        #[arg(long, default_value_t = 30)]
        warn_days: i64,
    },
    /// List every certificate issued (in use, archived by renew, earlier CAs) with subject,
    /// serial, expiry and revocation.
    List,
    /// Revoke a certificate by name or serial and re-sign the CRL (DIR/crl.pem).
    Revoke {
        /// A user/host/server name, or a serial as shown by `list`.
        target: String,
        #[arg(long, value_parser = parse_kind)]
        kind: Option<CertKind>,
        /// unspecified, key-compromise, affiliation-changed, superseded, cessation-of-operation
        #[arg(long, default_value = "unspecified")]
        reason: String,
        #[arg(long, default_value_t = DEFAULT_CRL_DAYS)]
        crl_days: u32,
    },
    /// Issue a new certificate for the same name (and SANs); the old one is archived.
    Renew {
        name: String,
        #[arg(long, value_parser = parse_kind)]
        kind: Option<CertKind>,
        /// Keep the current key instead of making a new one.
        #[arg(long)]
        keep_key: bool,
        /// Also revoke the replaced certificate (reason superseded).
        #[arg(long)]
        revoke_old: bool,
        #[arg(long, default_value_t = DEFAULT_LEAF_DAYS)]
        days: u32,
    },
    /// Replace the CA: new key and certificate, the old CA cross-signed and still trusted
    /// (DIR/ca.crt becomes new + old), so existing certificates keep working until renewed.
    RotateCa {
        /// Common name of the new CA (default: the old one with today's date).
        #[arg(long)]
        cn: Option<String>,
        #[arg(long, default_value_t = DEFAULT_ROTATE_DAYS)]
        days: u32,
    },
    /// Re-sign the CRL (new next-update date); run monthly from cron.
    Crl {
        #[arg(long, default_value_t = DEFAULT_CRL_DAYS)]
        days: u32,
    },
}

fn parse_kind(s: &str) -> Result<CertKind, String> {
    match s {
        "user" => Ok(CertKind::User),
        "host" => Ok(CertKind::Host),
        "server" => Ok(CertKind::Server),
        _ => Err(format!("{s:?}: one of user, host, server")),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // colour codes only for a terminal, not in the log files quickstart writes
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kkoji-certs: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The base URL of a hub URL: `https://h:8443/kojihub` → `https://h:8443`.
fn base_url(server: &str) -> &str {
    let s = server.trim_end_matches('/');
    s.strip_suffix("/kojihub").unwrap_or(s)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let Some(dir) = cli.dir else {
        bail!("no CA directory: pass --dir DIR or set KKOJI_CERT_DIR");
    };
    // Absolute, so paths written into koji configs work from any working directory.
    let dir = std::path::absolute(&dir)
        .with_context(|| format!("resolving CA directory {}", dir.display()))?;
    let paths = CaPaths::new(&dir);
    match cli.cmd {
        Cmd::Init { cn, days } => {
            init_ca(&dir, &cn, days)?;
            println!("{}", paths.ca_cert.display());
            println!("{}", paths.ca_key.display());
        }
        Cmd::IssueUser { name, days } => {
            let issued = load_ca(&dir)?.issue_user(&name, days)?;
            let p = write_user_bundle(&dir, CertKind::User, &name, &issued)?;
            println!("{}", p.display());
        }
        Cmd::IssueHost { name, days } => {
            let issued = load_ca(&dir)?.issue_host(&name, days)?;
            let p = write_user_bundle(&dir, CertKind::Host, &name, &issued)?;
            println!("{}", p.display());
        }
        Cmd::IssueServer {
            hostname,
            sans,
            days,
        } => {
            let issued = load_ca(&dir)?.issue_server(&hostname, &sans, days)?;
            let (crt, key) = write_server_pair(&dir, &hostname, &issued)?;
            println!("{}", crt.display());
            println!("{}", key.display());
        }
        Cmd::ExportP12 {
            name,
            host,
            password,
            password_file,
            out,
        } => {
            validate_name(&name)?;
            let kind = if host { CertKind::Host } else { CertKind::User };
            let password = match (password, password_file) {
                (Some(p), _) => p,
                (None, Some(f)) => read_password(&f)?,
                (None, None) => bail!("--password or --password-file is required"),
            };
            let bundle = paths.bundle(kind, &name);
            let issued = read_bundle(&bundle)?;
            let ca_pem = std::fs::read_to_string(&paths.ca_cert)
                .with_context(|| format!("reading {}", paths.ca_cert.display()))?;
            let p12 = export_p12(&issued.cert_pem, &issued.key_pem, &ca_pem, &password, &name)
                .with_context(|| format!("exporting {}", bundle.display()))?;
            let out = out.unwrap_or_else(|| bundle.with_extension("p12"));
            write_secret_file(&out, &p12)?;
            println!("{}", out.display());
        }
        Cmd::KojiConfig {
            out,
            server,
            weburl,
            topurl,
            user,
            profile,
        } => {
            validate_name(&user)?;
            let cert = paths.user_bundle(&user);
            if !cert.is_file() {
                bail!(
                    "{} does not exist; run `kkoji-certs issue-user {user}` first",
                    cert.display()
                );
            }
            let base = base_url(&server).to_string();
            let profile = KojiProfile {
                profile,
                weburl: weburl.unwrap_or_else(|| format!("{base}/koji")),
                topurl: topurl.unwrap_or_else(|| format!("{base}/kojifiles")),
                server,
                cert,
                serverca: paths.ca_cert.clone(),
            };
            write_koji_config(&out, &profile)?;
            println!("{}", out.display());
        }
        Cmd::Check { warn_days } => return check(&dir, warn_days),
        Cmd::List => list(&dir)?,
        Cmd::Revoke {
            target,
            kind,
            reason,
            crl_days,
        } => {
            let reason: Reason = reason.parse()?;
            let r = lifecycle::revoke(&dir, &target, kind, reason, crl_days)?;
            println!(
                "revoked {} (serial {}, {}); CRL {}",
                r.name,
                r.serial,
                r.reason.as_str(),
                paths.crl.display()
            );
        }
        Cmd::Renew {
            name,
            kind,
            keep_key,
            revoke_old,
            days,
        } => {
            let r = lifecycle::renew(&dir, &name, kind, days, keep_key, revoke_old)?;
            println!("{}", r.path.display());
            eprintln!(
                "renewed {name}: serial {} replaces {} (archived as {}){}",
                r.new_serial,
                r.old_serial,
                r.archived.display(),
                if r.old_revoked {
                    "; the old one is revoked".to_string()
                } else {
                    format!(
                        "; the old one stays valid until it expires: `kkoji-certs revoke {}` to end it now",
                        r.old_serial
                    )
                }
            );
        }
        Cmd::RotateCa { cn, days } => {
            let r = lifecycle::rotate_ca(&dir, cn.as_deref(), days)?;
            println!("{}", paths.ca_cert.display());
            eprintln!(
                "new CA {} replaces {} (archived in {}; cross-certificate {}). \
                 {} now holds both CAs: give it to the hub (client_ca) and to clients (serverca); \
                 renew certificates with `kkoji-certs renew NAME` at leisure.",
                r.new_serial,
                r.old_serial,
                r.archived.display(),
                r.cross_cert.display(),
                paths.ca_cert.display()
            );
        }
        Cmd::Crl { days } => {
            println!("{}", lifecycle::write_crl(&dir, days)?.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(dir: &Path) -> Result<()> {
    println!(
        "{:<8} {:<40} {:<34} {:<10} {:>6}  status",
        "kind", "subject", "serial", "expires", "days"
    );
    for k in lifecycle::known_certs(dir)? {
        let status = match (&k.revoked, k.info.is_expired()) {
            (Some(r), _) => format!("REVOKED {} ({})", r.revoked_at.date(), r.reason.as_str()),
            (None, true) => "EXPIRED".to_string(),
            (None, false) => "valid".to_string(),
        };
        println!(
            "{:<8} {:<40} {:<34} {:<10} {:>6}  {status}",
            k.origin.to_string(),
            k.info.subject,
            k.serial,
            k.info.not_after.date().to_string(),
            k.info.days_left,
        );
    }
    Ok(())
}

/// Certificates in use (not archived, not revoked), the current CA and the CRL.
fn check(dir: &Path, warn_days: i64) -> Result<ExitCode> {
    let mut problems = 0;
    for k in lifecycle::known_certs(dir)? {
        if matches!(k.origin, Origin::Archived | Origin::OldCa) || k.revoked.is_some() {
            continue;
        }
        let info = &k.info;
        let state = if info.is_expired() {
            "EXPIRED"
        } else if info.days_left < warn_days {
            "expiring"
        } else {
            "ok"
        };
        println!(
            "{:<9} {:>6} days  {}  [{}]  {}",
            state,
            info.days_left,
            info.subject,
            info.not_after.date(),
            k.path.display()
        );
        let who = info.subject_cn.as_deref().unwrap_or("(no CN)");
        if info.is_expired() {
            problems += 1;
            eprintln!(
                "ERROR: {} ({who}) EXPIRED on {}",
                k.path.display(),
                info.not_after.date()
            );
        } else if info.days_left < warn_days {
            problems += 1;
            eprintln!(
                "WARNING: {} ({who}) expires in {} days, on {}",
                k.path.display(),
                info.days_left,
                info.not_after.date()
            );
        }
    }
    let paths = CaPaths::new(dir);
    if paths.crl.exists() {
        for n in kkoji_certs::crl::expiry_notices(
            &paths.ca_cert,
            &paths.ca_cert,
            Some(&paths.crl),
            warn_days,
        )?
        .into_iter()
        .filter(|n| n.what == "CRL")
        {
            problems += 1;
            eprintln!("WARNING: {n}; re-sign it with `kkoji-certs crl`");
        }
    }
    Ok(if problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn read_password(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading password file {}", path.display()))?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}
