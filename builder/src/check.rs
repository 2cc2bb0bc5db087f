//! `kkoji-builder check`: the readiness verdict on demand, for operators and boot
//! scripts ("is this builder able to take work, and if not, why?"). It asks the hub about
//! the host (enabled, capacity) with a plain, non-exclusive login so it works next to a
//! running daemon.

use std::time::Duration;

use crate::config::Config;
use crate::hub::{Hub, client_config};
use crate::mounts::VolumeChecker;
use crate::readiness::{Facts, Verdict, fmt_capacity, host_verdict, read_loadavg, volume_reason};

/// What `check` found: the verdict plus the lines it prints.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub verdict: Verdict,
    pub details: Vec<String>,
}

/// Runs every readiness check once. With `ask_hub = false` the host's enabled flag and
/// capacity are not known, so load and task load are not compared.
pub async fn check(cfg: &Config, ask_hub: bool) -> CheckReport {
    let mut details = Vec::new();
    let mut extra_reasons = Vec::new();
    let mut enabled = true;
    let mut capacity = f64::INFINITY;
    if ask_hub {
        match host_record(cfg).await {
            Ok((name, Some(h))) => {
                details.push(format!(
                    "host {name} (id {}): {}, capacity {}, arches {}",
                    h.id,
                    if h.enabled { "enabled" } else { "disabled" },
                    fmt_capacity(h.capacity),
                    h.arches
                ));
                enabled = h.enabled;
                capacity = h.capacity;
            }
            Ok((name, None)) => {
                extra_reasons.push(format!(
                    "the hub has no host named {name} (koji add-host {name} ARCHES)"
                ));
            }
            Err(e) => extra_reasons.push(format!("cannot ask the hub about this host: {e}")),
        }
    } else {
        details.push("hub not asked: load average and task load not compared with capacity".into());
    }
    let load_avg = if cfg.load_check {
        match read_loadavg() {
            Ok(l) => {
                details.push(format!("load average (1 min): {l:.2}"));
                Some(l)
            }
            Err(e) => {
                extra_reasons.push(e);
                None
            }
        }
    } else {
        details.push("load check disabled".into());
        None
    };
    let checker = VolumeChecker::new(
        cfg.mounts.clone(),
        cfg.work_dir.clone(),
        Duration::from_secs(cfg.mount_timeout_secs),
    );
    let report = checker.check().await;
    match &report.work_free_mb {
        Ok(mb) => details.push(format!(
            "free space at {}: {mb} MiB (minspace {} MiB)",
            cfg.work_dir.display(),
            cfg.minspace_mb
        )),
        Err(e) => details.push(format!("free space at {}: {e}", cfg.work_dir.display())),
    }
    for v in &report.volumes {
        details.push(match volume_reason(v) {
            None => format!("mount {}: ok", v.path.display()),
            Some(r) => r,
        });
    }
    let facts = Facts {
        enabled,
        capacity,
        load_avg: if capacity.is_finite() { load_avg } else { None },
        task_load: 0.0,
        jobs: 0,
        maxjobs: cfg.maxjobs,
        work_dir: cfg.work_dir.clone(),
        free_mb: report.work_free_mb.clone(),
        minspace_mb: cfg.minspace_mb,
        volumes: report.volumes.clone(),
        restart_pending: false,
    };
    let verdict = match host_verdict(&facts) {
        Verdict::Ready if extra_reasons.is_empty() => Verdict::Ready,
        Verdict::Ready => Verdict::NotReady(extra_reasons),
        Verdict::NotReady(mut r) => {
            extra_reasons.append(&mut r);
            Verdict::NotReady(extra_reasons)
        }
    };
    CheckReport { verdict, details }
}

/// Asks the hub anonymously about the host named by the certificate's CN. Anonymous,
/// because a running daemon holds the host's exclusive session and the hub refuses any
/// other login of the same user ("User locked by another session").
async fn host_record(cfg: &Config) -> Result<(String, Option<crate::hub::HostInfo>), String> {
    let pem = std::fs::read(&cfg.host_cert)
        .map_err(|e| format!("cannot read {}: {e}", cfg.host_cert.display()))?;
    let name = cert_common_name(&pem).map_err(|e| format!("{}: {e}", cfg.host_cert.display()))?;
    let cc = client_config(
        &cfg.hub,
        &cfg.host_cert,
        cfg.ca.as_deref(),
        Duration::from_secs(30),
    )
    .map_err(|e| e.to_string())?;
    let client = koji_protocol::KojiClient::new(cc).map_err(|e| e.to_string())?;
    let hub = Hub::new(client);
    let h = hub
        .get_host_by_name(&name)
        .await
        .map_err(|e| e.to_string())?;
    Ok((name, h))
}

/// The subject CN of the first certificate in a PEM bundle: the host name the hub sees.
pub fn cert_common_name(pem: &[u8]) -> Result<String, String> {
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| format!("bad PEM: {e}"))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let x509 = block
            .parse_x509()
            .map_err(|e| format!("bad certificate: {e}"))?;
        return x509
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| "the certificate has no CN".to_owned());
    }
    Err("no CERTIFICATE block".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_from_a_bundle() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "builder07");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        // key first, as some bundles have it
        let bundle = format!("{}{}", key.serialize_pem(), cert.pem());
        assert_eq!(cert_common_name(bundle.as_bytes()).unwrap(), "builder07");
        assert_eq!(
            cert_common_name(key.serialize_pem().as_bytes()).unwrap_err(),
            "no CERTIFICATE block"
        );
    }
}
