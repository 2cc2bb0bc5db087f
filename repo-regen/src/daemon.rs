//! The daemon around [`run_pass`]: log in, run a pass every `interval_secs`, stop cleanly
//! between passes on SIGTERM/SIGINT.

use std::future::Future;

use kkoji_repodata::Remote;
use tracing::{info, warn};

use crate::config::{Config, ConfigError};
use crate::hub::{HubError, KojiHub, client_config};
use crate::pass::{PassReport, RegenState, Settings, now, run_pass};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Setup(String),
    #[error("cannot use external_ca: {0}")]
    ExternalCa(#[from] kkoji_repodata::Error),
    #[error("cannot log in to {hub}: {err}")]
    Login { hub: String, err: HubError },
}

/// Everything one daemon keeps: config, hub session, upstream client and the state between
/// passes.
#[derive(Debug)]
pub struct Daemon {
    cfg: Config,
    hub: KojiHub,
    remote: Remote,
    settings: Settings,
    state: RegenState,
}

impl Daemon {
    /// Reads the certificate files and prepares the clients; does not talk to the hub.
    pub fn new(cfg: Config) -> Result<Daemon, StartError> {
        let setup = |what: &str, e: HubError| StartError::Setup(format!("{what}: {e}"));
        let cc = client_config(&cfg.hub, &cfg.cert, cfg.ca.as_deref(), cfg.http_timeout())
            .map_err(|e| setup("hub client", e))?;
        let hub = KojiHub::new(cc).map_err(|e| setup("hub client", e))?;
        let remote = match cfg.external_ca.as_deref() {
            Some(ca) => Remote::with_ca(cfg.http_timeout(), ca)?,
            None => Remote::new(cfg.http_timeout()),
        };
        let settings = Settings::from_config(&cfg);
        Ok(Daemon {
            cfg,
            hub,
            remote,
            settings,
            state: RegenState::default(),
        })
    }

    pub fn hub(&self) -> &KojiHub {
        &self.hub
    }

    pub async fn login(&self) -> Result<(), StartError> {
        match self.hub.login().await {
            Ok(user) => {
                info!(hub = %self.cfg.hub, user, "logged in");
                Ok(())
            }
            Err(err) => Err(StartError::Login {
                hub: self.cfg.hub.clone(),
                err,
            }),
        }
    }

    /// One pass now.
    pub async fn pass(&mut self) -> PassReport {
        run_pass(
            &self.hub,
            &self.remote,
            &self.settings,
            &mut self.state,
            now(),
        )
        .await
    }

    /// `--once`: log in, one pass, log out.
    pub async fn run_once(mut self) -> Result<PassReport, StartError> {
        self.login().await?;
        let rep = self.pass().await;
        if let Err(e) = self.hub.logout().await {
            warn!("logout failed: {e}");
        }
        Ok(rep)
    }

    /// Runs passes until `stop` completes. A hub that cannot be reached at start-up is
    /// waited for (it may be starting too); a refused login ends the daemon.
    pub async fn run(mut self, stop: impl Future<Output = ()>) -> Result<(), StartError> {
        tokio::pin!(stop);
        info!(
            hub = %self.cfg.hub,
            topdir = %self.cfg.topdir.display(),
            interval_secs = self.cfg.interval_secs,
            "kkoji-repo-regen starting"
        );
        loop {
            match self.login().await {
                Ok(()) => break,
                Err(StartError::Login { err, .. }) if err.is_transport() => {
                    warn!(
                        "hub unreachable ({err}); retrying in {}s",
                        self.cfg.interval_secs
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(self.cfg.interval()) => {}
                        _ = &mut stop => return Ok(()),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        loop {
            self.pass().await;
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.interval()) => {}
                _ = &mut stop => break,
            }
        }
        info!("stopping");
        if let Err(e) = self.hub.logout().await {
            warn!("logout failed: {e}");
        }
        Ok(())
    }
}
