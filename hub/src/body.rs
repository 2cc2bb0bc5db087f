//! Reading a request body with a size cap and a deadline: the only way a handler gets the
//! bytes a client sends, so no caller can be made to hold memory or a task indefinitely.

use crate::error::HubError;
use axum::body::Body;
use http_body_util::BodyExt;
use std::time::Duration;

/// Why a body was not read; every case closes the connection (the rest of the body is
/// never drained).
#[derive(Debug)]
pub enum BodyError {
    TooLong,
    Timeout,
    Broken(String),
}

impl BodyError {
    pub fn error(&self, what: &str) -> HubError {
        match self {
            BodyError::TooLong => HubError::generic(format!("Invalid {what}: Request too long")),
            BodyError::Timeout => {
                HubError::generic(format!("Invalid {what}: the body did not arrive in time"))
            }
            BodyError::Broken(e) => {
                HubError::generic(format!("Invalid {what}: cannot read body: {e}"))
            }
        }
    }
}

pub async fn read(body: Body, limit: usize, timeout: Duration) -> Result<bytes::Bytes, BodyError> {
    match tokio::time::timeout(timeout, http_body_util::Limited::new(body, limit).collect()).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLong),
        Ok(Err(e)) => Err(BodyError::Broken(e.to_string())),
    }
}
