//! Sending a report through the farm's SMTP relay.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as LTls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::config::{MailConfig, Tls};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail address {0:?}: {1}")]
    Address(String, String),
    #[error("building the mail: {0}")]
    Build(String),
    #[error("reading the SMTP password from {0}: {1}")]
    Password(String, std::io::Error),
    #[error("sending through {relay}:{port}: {msg}")]
    Send {
        relay: String,
        port: u16,
        msg: String,
    },
}

/// Sends `subject`/`body` to every recipient of `cfg` (one message).
pub fn send(cfg: &MailConfig, subject: &str, body: &str) -> Result<(), MailError> {
    let mailbox = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|e| MailError::Address(a.to_string(), e.to_string()))
    };
    let mut b = Message::builder()
        .from(mailbox(&cfg.from)?)
        .subject(format!("{} {subject}", cfg.subject_prefix));
    for t in &cfg.to {
        b = b.to(mailbox(t)?);
    }
    let msg = b
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| MailError::Build(e.to_string()))?;
    let port = cfg.port();
    let send_err = |msg: String| MailError::Send {
        relay: cfg.relay.clone(),
        port,
        msg,
    };
    let tls = match cfg.tls {
        Tls::None => LTls::None,
        Tls::Starttls | Tls::Tls => {
            let p = TlsParameters::new(cfg.relay.clone()).map_err(|e| send_err(e.to_string()))?;
            if cfg.tls == Tls::Tls {
                LTls::Wrapper(p)
            } else {
                LTls::Required(p)
            }
        }
    };
    let mut t = SmtpTransport::builder_dangerous(&cfg.relay)
        .port(port)
        .tls(tls)
        .timeout(Some(std::time::Duration::from_secs(cfg.timeout_secs)));
    if let (Some(user), Some(pf)) = (&cfg.username, &cfg.password_file) {
        let pw = std::fs::read_to_string(pf)
            .map_err(|e| MailError::Password(pf.display().to_string(), e))?;
        t = t.credentials(Credentials::new(
            user.clone(),
            pw.lines().next().unwrap_or_default().to_string(),
        ));
    }
    t.build().send(&msg).map_err(|e| send_err(e.to_string()))?;
    tracing::info!(relay = %cfg.relay, port, to = ?cfg.to, "report mailed");
    Ok(())
}
