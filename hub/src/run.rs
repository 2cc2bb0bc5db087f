//! Bringing a hub up and down: database (embedded or external), schema, TLS, listener,
//! signals.

use crate::config::HubConfig;
use crate::hub::Hub;
use crate::tls::TlsSetup;
use anyhow::Context;
use kkoji_pgcluster::{Cluster, ClusterConfig};
use std::sync::Arc;
use tokio::net::TcpListener;

/// The embedded PostgreSQL cluster under the state directory, if the config names no URL.
pub struct Database {
    pub url: String,
    pub cluster: Option<Cluster>,
}

pub async fn database(config: &HubConfig) -> anyhow::Result<Database> {
    if let Some(url) = &config.database_url {
        return Ok(Database {
            url: url.clone(),
            cluster: None,
        });
    }
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create state dir {}", config.state_dir.display()))?;
    make_traversable(&config.state_dir)?;
    let cluster = Cluster::new(ClusterConfig::under_state_dir(&config.state_dir))
        .context("embedded PostgreSQL")?;
    tracing::info!(data = %config.state_dir.join("pgdata").display(), "starting embedded PostgreSQL");
    cluster
        .start()
        .await
        .context("starting embedded PostgreSQL")?;
    cluster
        .create_database("kkoji")
        .await
        .context("creating database kkoji")?;
    Ok(Database {
        url: cluster.url("kkoji"),
        cluster: Some(cluster),
    })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => tracing::info!("SIGTERM received"),
                _ = i.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Serve until a signal arrives, then stop cleanly (connections, pool, embedded DB).
/// `on_ready` runs once the listener accepts connections.
pub async fn run(
    config: HubConfig,
    db: Database,
    on_ready: impl FnOnce(&HubConfig, &Hub) -> anyhow::Result<()>,
    on_signal: impl FnOnce() + Send + 'static,
) -> anyhow::Result<()> {
    let result = serve_until_signal(&config, &db, on_ready, on_signal).await;
    if let Some(cluster) = &db.cluster {
        tracing::info!("stopping embedded PostgreSQL");
        if let Err(e) = cluster.stop().await {
            tracing::error!(error = %e, "stopping embedded PostgreSQL failed");
        }
    }
    result
}

async fn serve_until_signal(
    config: &HubConfig,
    db: &Database,
    on_ready: impl FnOnce(&HubConfig, &Hub) -> anyhow::Result<()>,
    on_signal: impl FnOnce() + Send + 'static,
) -> anyhow::Result<()> {
    crate::topdir::ensure_layout(&config.topdir)?;
    let pool = crate::db::open(
        &db.url,
        config.db.max_connections,
        config.db.acquire_timeout(),
    )
    .await?;
    let tls = TlsSetup::load(
        &config.tls.cert,
        &config.tls.key,
        &config.tls.client_ca,
        config.tls.crl.as_deref(),
    )?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    if let Some(admin) = &config.bootstrap_admin {
        bootstrap_admin(&pool, admin).await?;
    }
    ensure_hosts(&pool, &config.bootstrap_hosts).await?;
    let hub = Arc::new(Hub::new(pool.clone(), config.clone()));
    tracing::info!(listen = %config.listen, methods = crate::methods::registry().len(), "hub serving");
    let (files_stop, files_task) = match config.files_listen {
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (files_listen)"))?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let t = tokio::spawn(crate::server::serve_files(
                config.topdir.clone(),
                l,
                async {
                    let _ = rx.await;
                },
            ));
            (Some(tx), Some(t))
        }
        None => (None, None),
    };
    on_ready(config, &hub)?;
    let background = crate::background::spawn(hub.clone());
    let expiry = spawn_expiry_warnings(&config.tls);
    // what runs on the signal (e.g. stopping the local builder) runs while the hub still
    // serves, so it can still talk to the hub
    let stop = async move {
        shutdown_signal().await;
        let _ = tokio::task::spawn_blocking(on_signal).await;
    };
    crate::server::serve(hub, Arc::new(tls), listener, stop).await;
    expiry.abort();
    for b in background {
        b.abort();
    }
    if let Some(tx) = files_stop {
        let _ = tx.send(());
    }
    if let Some(t) = files_task {
        let _ = t.await;
    }
    pool.close().await;
    Ok(())
}

/// Make `name` an admin (creating the user if needed) in one transaction.
async fn bootstrap_admin(pool: &sqlx::PgPool, name: &str) -> anyhow::Result<()> {
    use crate::storage::{events, users};
    let mut tx = pool.begin().await?;
    let uid = match users::by_name(&mut tx, name).await? {
        Some((id, _, _)) => id,
        None => users::insert(&mut tx, name, users::STATUS_NORMAL, users::USER_NORMAL).await?,
    };
    if !users::is_admin(&mut tx, uid).await? {
        let ev = events::create(&mut tx).await?;
        users::grant_admin(&mut tx, uid, ev).await?;
        tracing::info!(user = %name, "granted admin to the bootstrap admin");
    }
    tx.commit().await?;
    Ok(())
}

/// Create the bootstrap hosts that do not exist yet (user, host, config, channels), each in
/// its own transaction.
async fn ensure_hosts(
    pool: &sqlx::PgPool,
    hosts: &[crate::config::BootstrapHost],
) -> anyhow::Result<()> {
    for h in hosts {
        let mut tx = pool.begin().await?;
        let added = crate::storage::hosts::bootstrap(
            &mut tx,
            &h.name,
            &h.arches.join(" "),
            h.capacity,
            &h.channels,
        )
        .await?;
        tx.commit().await?;
        if added {
            tracing::info!(host = %h.name, arches = %h.arches.join(" "), "bootstrap host added");
        }
    }
    Ok(())
}

/// As root, PostgreSQL runs as the `postgres` user, which must be able to reach its data
/// directory: let others traverse (not list) the state directory.
fn make_traversable(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let meta = std::fs::metadata(dir).with_context(|| format!("{}", dir.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o011 != 0o011 {
        std::fs::set_permissions(
            dir,
            std::fs::Permissions::from_mode((mode | 0o011) & 0o7777),
        )
        .with_context(|| format!("cannot chmod {}", dir.display()))?;
    }
    Ok(())
}

/// A hub serving in the background of the current runtime (tests, benchmarks, the
/// builder's farm-in-a-box). Dropping the handle without `stop` aborts it.
pub struct RunningHub {
    pub addr: std::net::SocketAddr,
    pub hub: Arc<Hub>,
    /// The hub's database, for tests and tools that inspect it from outside a call.
    pub pool: sqlx::PgPool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningHub {
    /// Stop accepting, let open calls finish, close the pool.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningHub {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Start serving `config` on an existing database URL (migrations applied). The listen
/// address may use port 0; the bound address is in the handle.
pub async fn start_background(config: HubConfig, database_url: &str) -> anyhow::Result<RunningHub> {
    crate::topdir::ensure_layout(&config.topdir)?;
    let pool = crate::db::open(
        database_url,
        config.db.max_connections,
        config.db.acquire_timeout(),
    )
    .await?;
    if let Some(admin) = &config.bootstrap_admin {
        bootstrap_admin(&pool, admin).await?;
    }
    ensure_hosts(&pool, &config.bootstrap_hosts).await?;
    let tls = TlsSetup::load(
        &config.tls.cert,
        &config.tls.key,
        &config.tls.client_ca,
        config.tls.crl.as_deref(),
    )?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let hub = Arc::new(Hub::new(pool.clone(), config));
    let pool_handle = pool.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = hub.clone();
    let task = tokio::spawn(async move {
        let background = crate::background::spawn(h.clone());
        crate::server::serve(h, Arc::new(tls), listener, async {
            let _ = rx.await;
        })
        .await;
        for b in background {
            b.abort();
        }
        pool.close().await;
    });
    Ok(RunningHub {
        addr,
        hub,
        pool: pool_handle,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// The farm's CA once expired unnoticed: the hub warns at start-up and then daily when its
/// server certificate, a CA it trusts or its CRL's next update is within 30 days.
fn spawn_expiry_warnings(tls: &crate::config::TlsConfig) -> tokio::task::JoinHandle<()> {
    let (cert, ca, crl) = (tls.cert.clone(), tls.client_ca.clone(), tls.crl.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(86_400));
        loop {
            every.tick().await;
            let (cert, ca, crl) = (cert.clone(), ca.clone(), crl.clone());
            let _ = tokio::task::spawn_blocking(move || {
                kkoji_certs::crl::warn_expiring(&cert, &ca, crl.as_deref(), 30)
            })
            .await;
        }
    })
}
