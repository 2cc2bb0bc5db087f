//! The `kkoji-hub` command line.

use crate::config::{AuthConfig, DbConfig, HubConfig, LimitsConfig, TlsConfig};
use crate::run;
use anyhow::Context;
use clap::{Parser, Subcommand};
use kkoji_certs::{CaPaths, CertKind, KojiProfile};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "kkoji-hub", version, about = "Koji-compatible build farm hub")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve with a configuration file.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file and exit.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// A farm in one directory: CA, certificates, admin user, embedded PostgreSQL, and a
    /// koji client config. Re-running with the same directory keeps all state.
    Quickstart {
        #[arg(long)]
        state_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Do not run a local builder.
        #[arg(long)]
        no_builder: bool,
        /// The builder program (default: kkoji-builder next to this program).
        #[arg(long)]
        builder_bin: Option<PathBuf>,
        /// Also run kkoji-repo-regen (kojira's job: keep build-tag repos current, expire and
        /// delete old ones) from this program, as the admin.
        #[arg(long)]
        repo_regen_bin: Option<PathBuf>,
        /// Seconds after which a silent builder's tasks go back to FREE (default 900).
        #[arg(long)]
        host_timeout: Option<u64>,
        /// Seconds after which a builder that stopped checking in loses its ready flag
        /// (default 180).
        #[arg(long)]
        ready_timeout: Option<u64>,
    },
}

/// The whole CLI; `main` of `kkoji-hub` (and of test binaries that embed the hub).
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kkoji-hub: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kkoji-hub: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KKOJI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colour codes only for a terminal, not in the log files quickstart writes
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn dispatch(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Serve { config } => {
            let cfg = HubConfig::load(&config)?;
            let db = run::database(&cfg).await?;
            run::run(
                cfg,
                db,
                |cfg, _| {
                    println!("kkoji hub ready on https://{}/kojihub", cfg.listen);
                    Ok(())
                },
                || {},
            )
            .await
        }
        Cmd::CheckConfig { config } => {
            HubConfig::load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Cmd::Quickstart {
            state_dir,
            listen,
            no_builder,
            builder_bin,
            repo_regen_bin,
            host_timeout,
            ready_timeout,
        } => {
            let mut sched = crate::config::SchedulerConfig::default();
            if let Some(t) = host_timeout {
                sched.host_timeout = t;
            }
            if let Some(t) = ready_timeout {
                sched.ready_timeout = t;
            }
            quickstart(
                &state_dir,
                listen,
                no_builder,
                builder_bin,
                repo_regen_bin,
                sched,
            )
            .await
        }
    }
}

pub const ADMIN: &str = "kojiadmin";

async fn quickstart(
    state_dir: &Path,
    listen: SocketAddr,
    no_builder: bool,
    builder_bin: Option<PathBuf>,
    repo_regen_bin: Option<PathBuf>,
    scheduler: crate::config::SchedulerConfig,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let state_dir = state_dir
        .canonicalize()
        .with_context(|| format!("{}", state_dir.display()))?;
    let cert_dir = state_dir.join("certs");
    let paths = CaPaths::new(&cert_dir);
    let ca = if paths.ca_cert.exists() {
        kkoji_certs::load_ca(&cert_dir)?
    } else {
        println!("creating the farm CA in {}", cert_dir.display());
        kkoji_certs::init_ca(&cert_dir, "kkoji quickstart CA", 3650)?
    };
    // a CRL from the start, so `kkoji-certs revoke` works on a running quickstart hub
    let crl = kkoji_certs::lifecycle::ensure_crl(&cert_dir, 30)?;
    let server_name = "localhost";
    let server_cert = paths.server_cert(server_name);
    let ip = listen.ip().to_string();
    let need_server = !server_cert.exists()
        || !std::fs::read_to_string(state_dir.join("server-ip")).is_ok_and(|s| s.trim() == ip);
    if need_server {
        let sans = vec![ip.clone(), "127.0.0.1".into(), "::1".into()];
        let issued = ca.issue_server(server_name, &sans, 825)?;
        kkoji_certs::write_server_pair(&cert_dir, server_name, &issued)?;
        std::fs::write(state_dir.join("server-ip"), &ip)?;
    }
    let admin_cert = paths.user_bundle(ADMIN);
    if !admin_cert.exists() {
        let issued = ca.issue_user(ADMIN, 825)?;
        kkoji_certs::write_user_bundle(&cert_dir, CertKind::User, ADMIN, &issued)?;
    }
    let host = if listen.ip().is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.clone()
    };
    let server = format!("https://{host}:{}/kojihub", listen.port());
    let config = HubConfig {
        listen,
        state_dir: state_dir.clone(),
        database_url: None,
        files_listen: Some(SocketAddr::new(listen.ip(), listen.port().wrapping_add(1))),
        topdir: state_dir.join("koji"),
        bootstrap_admin: Some(ADMIN.into()),
        bootstrap_hosts: if no_builder {
            Vec::new()
        } else {
            vec![crate::farm::local_host()]
        },
        tls: TlsConfig {
            cert: server_cert,
            key: paths.server_dir.join(format!("{server_name}.key")),
            client_ca: paths.ca_cert.clone(),
            crl: Some(crl),
        },
        auth: AuthConfig::default(),
        limits: LimitsConfig::default(),
        db: DbConfig::default(),
        scheduler: scheduler.clone(),
        repos: Default::default(),
    };
    std::fs::create_dir_all(&config.topdir)?;
    let conf_path = state_dir.join("koji.conf");
    kkoji_certs::write_koji_config(
        &conf_path,
        &KojiProfile {
            profile: "kkoji".into(),
            server: server.clone(),
            weburl: format!("https://{host}:{}/koji", listen.port()),
            topurl: format!("http://{host}:{}/kojifiles", listen.port().wrapping_add(1)),
            cert: admin_cert,
            serverca: paths.ca_cert.clone(),
        },
    )?;
    let builder = if no_builder {
        None
    } else {
        let bin = match builder_bin {
            Some(b) => b,
            None => std::env::current_exe()
                .context("cannot find this program's path")?
                .with_file_name("kkoji-builder"),
        };
        if !bin.exists() {
            anyhow::bail!(
                "the local builder program {} does not exist (build it with `cargo build -p kkoji-builder`, pass --builder-bin, or use --no-builder)",
                bin.display()
            );
        }
        let cfg = crate::farm::prepare(&state_dir, &server, &config.topdir)?;
        Some((bin, cfg))
    };
    let regen = match repo_regen_bin {
        Some(bin) => {
            if !bin.exists() {
                anyhow::bail!(
                    "the repo-regen program {} does not exist (build it with `cargo build -p kkoji-repo-regen`)",
                    bin.display()
                );
            }
            let cfg = crate::farm::prepare_repo_regen(
                &state_dir,
                &server,
                &config.topdir,
                &paths.user_bundle(ADMIN),
            )?;
            Some((bin, cfg))
        }
        None => None,
    };
    let regen_log = state_dir.join("repo-regen").join("repo-regen.log");
    let log = state_dir.join("builder").join("builder.log");
    let running: std::sync::Arc<std::sync::Mutex<Vec<crate::farm::LocalChild>>> =
        Default::default();
    let on_signal = {
        let r = running.clone();
        move || {
            if let Ok(mut g) = r.lock() {
                g.clear();
            }
        }
    };
    let db = run::database(&config).await?;
    let result = run::run(
        config,
        db,
        |_, _| {
            if let Some((bin, cfg)) = &builder {
                let b = crate::farm::LocalBuilder::spawn(bin, cfg, &log)?;
                if let Ok(mut g) = running.lock() {
                    g.push(b);
                }
                println!(
                    "local builder {} started (log: {})",
                    crate::farm::LOCAL_BUILDER,
                    log.display()
                );
            }
            if let Some((bin, cfg)) = &regen {
                let r =
                    crate::farm::LocalChild::spawn_named("repo regenerator", bin, cfg, &regen_log)?;
                if let Ok(mut g) = running.lock() {
                    g.push(r);
                }
                println!("kkoji-repo-regen started (log: {})", regen_log.display());
            }
            println!("kkoji hub ready at {server}");
            println!(
                "point koji at it:  koji -c {} -p kkoji hello",
                conf_path.display()
            );
            Ok(())
        },
        on_signal,
    )
    .await;
    // normally stopped on the signal already; this covers start-up errors
    if let Ok(mut g) = running.lock() {
        g.clear();
    }
    result
}
