//! One run of the farm in a box: checks that cost nothing first (programs, address, lock),
//! then certificates and configs, then the hub (`kkoji-hub serve`), and once it answers
//! the local builder and kkoji-repo-regen; on SIGINT/SIGTERM/SIGHUP they are stopped in the
//! reverse order. A daemon other than the hub that exits is reported and the farm keeps
//! running; the hub exiting ends the run with an error.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::children::{Daemon, Launch, stop_leftover};
use crate::configs::{self, HubOptions};
use crate::layout::{LOCAL_BUILDER, Layout};

/// How long the builder and repo-regen get to stop (a builder cancels its running builds).
const CHILD_GRACE: Duration = Duration::from_secs(15);
/// How long the hub gets to stop (it lets open calls finish and stops PostgreSQL).
const HUB_GRACE: Duration = Duration::from_secs(30);

/// The command line, parsed.
#[derive(Debug, Clone)]
pub struct Options {
    pub state_dir: PathBuf,
    pub listen: SocketAddr,
    pub no_builder: bool,
    pub hub_bin: Option<PathBuf>,
    pub builder_bin: Option<PathBuf>,
    pub repo_regen_bin: Option<PathBuf>,
    pub host_timeout: Option<u64>,
    pub ready_timeout: Option<u64>,
    pub mail_relay: Option<String>,
}

/// The programs to run, found before anything is created.
#[derive(Debug, Clone)]
struct Programs {
    hub: PathBuf,
    builder: Option<PathBuf>,
    regen: Option<PathBuf>,
}

fn next_to_me(name: &str) -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()
        .context("cannot find this program's path")?
        .with_file_name(name))
}

impl Programs {
    fn find(opts: &Options) -> anyhow::Result<Programs> {
        let hub = match &opts.hub_bin {
            Some(b) => b.clone(),
            None => next_to_me("kkoji-hub")?,
        };
        if !hub.is_file() {
            bail!(
                "the hub program {} does not exist (build it with `cargo build -p kkoji-hub`, or pass --hub-bin)",
                hub.display()
            );
        }
        let builder = if opts.no_builder {
            None
        } else {
            let bin = match &opts.builder_bin {
                Some(b) => b.clone(),
                None => next_to_me("kkoji-builder")?,
            };
            if !bin.is_file() {
                bail!(
                    "the local builder program {} does not exist (build it with `cargo build -p kkoji-builder`, pass --builder-bin, or use --no-builder)",
                    bin.display()
                );
            }
            Some(bin)
        };
        if let Some(bin) = &opts.repo_regen_bin
            && !bin.is_file()
        {
            bail!(
                "the repo-regen program {} does not exist (build it with `cargo build -p kkoji-repo-regen`)",
                bin.display()
            );
        }
        Ok(Programs {
            hub,
            builder,
            regen: opts.repo_regen_bin.clone(),
        })
    }
}

/// The state directory, created if missing, as an absolute path (it ends up in configs).
fn state_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("state directory {}", dir.display()))?;
    // refuse a read-only directory now, not half-way through making a CA
    let probe = dir.join(".quickstart-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("the state directory {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(dir)
}

/// One quickstart per state directory: two would fight over the local builder's exclusive
/// session and each other's leftovers. Held until quickstart exits (also by kill -9).
fn lock(layout: &Layout) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use std::io::{Seek, Write};
    let path = layout.lock();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut f) => {
            let me = std::process::id().to_string();
            let _ = f.set_len(0);
            let _ = f.rewind();
            let _ = f.write_all(me.as_bytes());
            Ok(f)
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "another kkoji-quickstart (pid {}) runs on {}: stop it first",
                holder.trim(),
                layout.state_dir().display()
            )
        }
        Err((_, e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// Both ports free: a taken one would otherwise show up only after initdb, as the hub's
/// exit. (The hub binds them itself a moment later; this is for the clear message.)
fn ports_free(listen: SocketAddr) -> anyhow::Result<()> {
    if listen.port() == 0 {
        bail!("--listen {listen}: needs a fixed port (koji.conf and the builder name it)");
    }
    for (addr, what) in [
        (listen, "--listen"),
        (
            configs::files_addr(listen)?,
            "the top directory (the next port)",
        ),
    ] {
        TcpListener::bind(addr).with_context(|| {
            format!(
                "cannot listen on {addr} for {what}: is another hub running there? \
                 Pick another address with --listen (scripts/start.sh: KKOJI_LISTEN)"
            )
        })?;
    }
    Ok(())
}

/// SIGINT, SIGTERM or SIGHUP: all mean "stop the farm".
struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<StopSignals> {
        let s = |k| signal(k).context("cannot install signal handlers");
        Ok(StopSignals {
            int: s(SignalKind::interrupt())?,
            term: s(SignalKind::terminate())?,
            hup: s(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

/// The farm's running daemons; [`Running::stop_all`] stops them in order.
#[derive(Default)]
struct Running {
    hub: Option<Daemon>,
    builder: Option<Daemon>,
    regen: Option<Daemon>,
}

impl Running {
    /// Builder and repo-regen first (while the hub still answers them), then the hub.
    /// Returns the hub's exit status, if it was running.
    async fn stop_all(&mut self) -> Option<ExitStatus> {
        let (b, r) = (self.builder.as_mut(), self.regen.as_mut());
        tokio::join!(
            async {
                if let Some(d) = b {
                    d.stop(CHILD_GRACE).await;
                }
            },
            async {
                if let Some(d) = r {
                    d.stop(CHILD_GRACE).await;
                }
            },
        );
        match self.hub.as_mut() {
            Some(h) => Some(h.stop(HUB_GRACE).await),
            None => None,
        }
    }
}

/// Resolves when `d` exits; never when there is none.
async fn exited(d: &mut Option<Daemon>) -> (ExitStatus, &'static str) {
    match d {
        Some(d) => (d.exited().await, d.what()),
        None => std::future::pending().await,
    }
}

fn append_log(path: &Path) -> anyhow::Result<(Stdio, Stdio)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let g = f
        .try_clone()
        .with_context(|| format!("cannot open {}", path.display()))?;
    Ok((Stdio::from(f), Stdio::from(g)))
}

/// What the hub prints on stdout once it accepts connections.
fn is_ready_line(line: &str) -> bool {
    line.starts_with("kkoji hub ready")
}

/// Runs the farm until a stop signal (Ok) or until the hub fails (Err).
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let programs = Programs::find(&opts)?;
    let urls = configs::urls(opts.listen)?;
    let layout = Layout::new(&state_dir(&opts.state_dir)?);
    let _lock = lock(&layout)?;
    // a hub of an earlier run may still be stopping (and holding the port)
    stop_leftover("hub", &layout.hub_config());
    stop_leftover("local builder", &layout.builder_config());
    stop_leftover("repo regenerator", &layout.regen_config());
    ports_free(opts.listen)?;
    let mut signals = StopSignals::install()?;

    let certs = crate::pki::ensure(&layout, opts.listen, programs.builder.is_some())?;
    let topdir = layout.topdir();
    std::fs::create_dir_all(&topdir)
        .with_context(|| format!("cannot create {}", topdir.display()))?;
    let hub_opts = HubOptions {
        local_builder: programs.builder.is_some(),
        host_timeout: opts.host_timeout,
        ready_timeout: opts.ready_timeout,
        mail_relay: opts.mail_relay.clone(),
    };
    let hub_config = configs::ensure_hub(
        &layout,
        configs::hub_config(&layout, &certs, opts.listen, &hub_opts)?,
        &hub_opts,
    )?;
    let koji_conf = configs::write_koji_conf(&layout, &urls, &certs)?;
    let builder = match (&programs.builder, &certs.builder_bundle) {
        (Some(bin), Some(bundle)) => {
            let cfg = configs::builder_config(&layout, &urls, bundle, &certs.ca_cert)?;
            Some((bin.clone(), configs::ensure_builder(&layout, cfg)?))
        }
        _ => None,
    };
    let regen = match &programs.regen {
        Some(bin) => {
            let cfg = configs::regen_config(&layout, &urls, &certs.admin_bundle, &certs.ca_cert)?;
            Some((bin.clone(), configs::ensure_regen(&layout, cfg)?))
        }
        None => None,
    };

    let mut running = Running::default();
    let result = async {
        let hub = running.hub.insert(Daemon::spawn(Launch {
            what: "hub",
            program: &programs.hub,
            args: &["serve"],
            config: &hub_config,
            cwd: layout.state_dir(),
            stdout: Stdio::piped(),
            // the hub's log is quickstart's: on the terminal, or where it is redirected
            stderr: Stdio::inherit(),
        })?);
        let stdout = hub.take_stdout().context("the hub's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        loop {
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(l)) if is_ready_line(&l) => break,
                    Ok(Some(l)) => println!("{l}"),
                    // stdout closed: the hub is going; its exit status says how
                    Ok(None) | Err(_) => {
                        let st = hub.exited().await;
                        bail!("the hub exited before it was ready ({st}); its log is above");
                    }
                },
                st = hub.exited() => {
                    bail!("the hub exited before it was ready ({st}); its log is above")
                }
                sig = signals.recv() => {
                    tracing::info!("{sig} received before the hub was ready");
                    return Ok(false);
                }
            }
        }
        // keep draining the hub's stdout for its whole life
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                println!("{l}");
            }
        });
        if let Some((bin, cfg)) = &builder {
            let log = layout.builder_log();
            let (out, err) = append_log(&log)?;
            running.builder = Some(Daemon::spawn(Launch {
                what: "local builder",
                program: bin,
                args: &[],
                config: cfg,
                cwd: layout.state_dir(),
                stdout: out,
                stderr: err,
            })?);
            println!(
                "local builder {LOCAL_BUILDER} started (log: {})",
                log.display()
            );
        }
        if let Some((bin, cfg)) = &regen {
            let log = layout.regen_log();
            let (out, err) = append_log(&log)?;
            running.regen = Some(Daemon::spawn(Launch {
                what: "repo regenerator",
                program: bin,
                args: &[],
                config: cfg,
                cwd: layout.state_dir(),
                stdout: out,
                stderr: err,
            })?);
            println!("kkoji-repo-regen started (log: {})", log.display());
        }
        println!("kkoji hub ready at {}", urls.server);
        println!(
            "point koji at it:  koji -c {} -p kkoji hello",
            koji_conf.display()
        );
        serve(&mut running, &mut signals, &layout).await
    }
    .await;
    let hub_status = running.stop_all().await;
    match (result, hub_status) {
        (Err(e), _) => Err(e),
        // stopped on a signal while serving: the hub must have stopped cleanly too
        (Ok(true), Some(st)) if !st.success() => {
            bail!("the hub did not stop cleanly ({st}); its log is above")
        }
        (Ok(false), Some(st)) if !st.success() => {
            // stopped while it was still starting (before its signal handling was up)
            tracing::warn!(status = %st, "the hub was stopped while starting");
            Ok(())
        }
        (Ok(_), _) => Ok(()),
    }
}

/// Until a stop signal (Ok(true)) or the hub's exit (Err).
async fn serve(
    running: &mut Running,
    signals: &mut StopSignals,
    layout: &Layout,
) -> anyhow::Result<bool> {
    loop {
        tokio::select! {
            sig = signals.recv() => {
                tracing::info!("{sig} received; stopping the farm");
                return Ok(true);
            }
            (st, _) = exited(&mut running.hub) => {
                bail!("the hub exited ({st}); its log is above")
            }
            (st, what) = exited(&mut running.builder) => {
                println!("the {what} exited ({st}); its log: {}", layout.builder_log().display());
                running.builder = None;
            }
            (st, what) = exited(&mut running.regen) => {
                println!("the {what} exited ({st}); its log: {}", layout.regen_log().display());
                running.regen = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_named_with_the_way_out() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = format!("{:#}", ports_free(addr).unwrap_err());
        assert!(e.contains(&addr.to_string()), "{e}");
        assert!(e.contains("--listen"), "{e}");
        let e = format!(
            "{:#}",
            ports_free("127.0.0.1:0".parse().unwrap()).unwrap_err()
        );
        assert!(e.contains("fixed port"), "{e}");
    }

    #[test]
    fn one_quickstart_per_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let held = lock(&layout).unwrap();
        let e = format!("{:#}", lock(&layout).unwrap_err());
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(held);
        lock(&layout).unwrap();
    }

    #[test]
    fn only_the_hubs_ready_line_counts() {
        assert!(is_ready_line(
            "kkoji hub ready on https://127.0.0.1:1/kojihub"
        ));
        assert!(!is_ready_line("the hub is not ready"));
    }
}
