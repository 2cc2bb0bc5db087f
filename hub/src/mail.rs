//! Mail out of the hub: one SMTP relay (lettre over tokio and rustls), and a queued
//! notification turned into a message. The relay is the only way out; there is no local
//! sendmail, so a hub without `[notifications] relay` sends nothing.

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("bad address {0:?}")]
    Address(String),
    #[error("cannot make the message: {0}")]
    Build(String),
    #[error("relay: {0}")]
    Relay(String),
}

/// Why a relay URL cannot be used, in words for a config error (without the password).
pub fn check_relay_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(|_| ())
        .map_err(|e| {
            format!("not a usable SMTP URL (smtp://host:port, smtp://host:port?tls=required or smtps://host:port): {e}")
        })
}

/// A connection pool to the relay; cheap to clone.
#[derive(Clone)]
pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Relay {
    /// A relay for a URL the config check accepted.
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Relay, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Relay(e.to_string()))?
            .timeout(Some(timeout))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| MailError::Address(from.to_string()))?;
        Ok(Relay { transport, from })
    }

    /// Send one mail to one recipient. `headers` are extra "Name: value" lines.
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        headers: &str,
        body: &str,
    ) -> Result<(), MailError> {
        let to_box = to
            .parse::<Mailbox>()
            .map_err(|_| MailError::Address(to.to_string()))?;
        let mut m = Message::builder()
            .from(self.from.clone())
            .to(to_box)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for line in headers.lines() {
            if let Some(h) = line
                .split_once(':')
                .and_then(|(name, value)| header(name.trim(), value.trim()))
            {
                m = m.raw_header(h);
            }
        }
        let msg = m
            .body(body.to_string())
            .map_err(|e| MailError::Build(e.to_string()))?;
        self.transport
            .send(msg)
            .await
            .map_err(|e| MailError::Relay(e.to_string()))?;
        Ok(())
    }
}

/// An `X-Koji-*` header line (what mail filters sort by), taken as it was queued; a name
/// that is not a header name is dropped rather than failing the mail.
fn header(name: &str, value: &str) -> Option<HeaderValue> {
    let name = HeaderName::new_from_ascii(name.to_string()).ok()?;
    Some(HeaderValue::new(name, value.to_string()))
}
