//! Why a call failed. The domain, the handlers and the support modules all return
//! [`HubError`]: its kinds say what went wrong in the hub's own terms, and
//! [`HubError::into_fault_for`] is the one place where a kind becomes the Koji fault (code
//! and text) the client sees.
//!
//! Database errors never reach the client as text: SQL, column names and server paths are
//! for the hub's log. The client learns which call failed and whether to retry.

use koji_protocol::{Fault, codes};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No such thing, a conflict, a refused change (Koji's GenericError).
    #[error("{0}")]
    Generic(String),
    /// A malformed, mistyped or out-of-range argument (ParameterError).
    #[error("{0}")]
    Parameter(String),
    /// The caller may not do this (ActionNotAllowed).
    #[error("{0}")]
    NotAllowed(String),
    /// Not logged in, bad credentials, not a host (AuthError).
    #[error("{0}")]
    Auth(String),
    /// The session expired: log in again (AuthExpired).
    #[error("{0}")]
    AuthExpired(String),
    /// Another session holds the user exclusively (AuthLockError).
    #[error("{0}")]
    AuthLock(String),
    /// A write replayed with a callnum already committed (RetryError).
    #[error("{0}")]
    Retry(String),
    /// A callnum older than the last committed one (SequenceError).
    #[error("{0}")]
    Sequence(String),
    /// A tagging rule (TagError).
    #[error("{0}")]
    Tag(String),
    /// A build rule (BuildError).
    #[error("{0}")]
    Build(String),
    /// An import refused (ImportError).
    #[error("{0}")]
    Import(String),
    /// A file another writer holds (LockError).
    #[error("{0}")]
    Lock(String),
    /// A name against Koji's rules (NameValidationError).
    #[error("{0}")]
    Name(String),
    /// A fault recorded earlier and passed on as it was: a failed task's result, re-raised
    /// by `getTaskResult` and `host.taskWaitResults` as Koji does.
    #[error("{0}")]
    Recorded(Fault),
    /// The database failed (or had no connection free): logged, answered generically.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

pub type HResult<T> = Result<T, HubError>;

impl HubError {
    pub fn generic(msg: impl Into<String>) -> HubError {
        HubError::Generic(msg.into())
    }

    pub fn parameter(msg: impl Into<String>) -> HubError {
        HubError::Parameter(msg.into())
    }

    pub fn not_allowed(msg: impl Into<String>) -> HubError {
        HubError::NotAllowed(msg.into())
    }

    pub fn auth(msg: impl Into<String>) -> HubError {
        HubError::Auth(msg.into())
    }

    pub fn tag(msg: impl Into<String>) -> HubError {
        HubError::Tag(msg.into())
    }

    pub fn import(msg: impl Into<String>) -> HubError {
        HubError::Import(msg.into())
    }

    /// The fault sent on the wire, without naming the call (see [`HubError::into_fault_for`]).
    pub fn into_fault(self) -> Fault {
        self.into_fault_for("")
    }

    /// The fault sent on the wire for a failure of `method`: each kind with its Koji code.
    /// Database failures are logged in full and answered with a generic message; a pool
    /// that had no connection free answers ServerOffline, which the stock client (kojid:
    /// `offline_retry`) retries.
    pub fn into_fault_for(self, method: &str) -> Fault {
        let (code, text) = match self {
            HubError::Generic(t) => (codes::GENERIC, t),
            HubError::Parameter(t) => (codes::PARAMETER, t),
            HubError::NotAllowed(t) => (codes::ACTION_NOT_ALLOWED, t),
            HubError::Auth(t) => (codes::AUTH, t),
            HubError::AuthExpired(t) => (codes::AUTH_EXPIRED, t),
            HubError::AuthLock(t) => (codes::AUTH_LOCK, t),
            HubError::Retry(t) => (codes::RETRY, t),
            HubError::Sequence(t) => (codes::SEQUENCE, t),
            HubError::Tag(t) => (codes::TAG, t),
            HubError::Build(t) => (codes::BUILD, t),
            HubError::Import(t) => (codes::IMPORT, t),
            HubError::Lock(t) => (codes::LOCK, t),
            HubError::Name(t) => (codes::NAME_VALIDATION, t),
            HubError::Recorded(f) => return f,
            HubError::Db(e) => return db_fault(&e, method),
        };
        Fault::new(code, text)
    }
}

fn db_fault(e: &sqlx::Error, method: &str) -> Fault {
    let call = if method.is_empty() {
        "the call".to_string()
    } else {
        method.to_string()
    };
    match e {
        sqlx::Error::PoolTimedOut => Fault::new(
            codes::SERVER_OFFLINE,
            format!("{call} could not run: the hub's database is busy; try again"),
        ),
        e => {
            tracing::error!(method, error = %e, "database error while handling a call");
            Fault::generic(format!(
                "{call} failed: internal database error (see the hub log)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_text_does_not_reach_the_client() {
        let e = HubError::Db(sqlx::Error::Protocol(
            "column \"inf\" does not exist at /var/lib/kkoji/x".into(),
        ));
        let f = e.into_fault_for("getTag");
        assert_eq!(f.code, codes::GENERIC);
        assert!(f.string.contains("getTag"), "{}", f.string);
        assert!(!f.string.contains("column"), "{}", f.string);
        assert!(!f.string.contains("/var/lib"), "{}", f.string);
    }

    #[test]
    fn an_exhausted_pool_is_a_retryable_fault() {
        let f = HubError::Db(sqlx::Error::PoolTimedOut).into_fault_for("host.getTasks");
        assert_eq!(f.code, codes::SERVER_OFFLINE);
    }

    #[test]
    fn every_kind_has_its_koji_code() {
        let cases = [
            (HubError::generic("x"), codes::GENERIC),
            (HubError::parameter("x"), codes::PARAMETER),
            (HubError::not_allowed("x"), codes::ACTION_NOT_ALLOWED),
            (HubError::auth("x"), codes::AUTH),
            (HubError::AuthExpired("x".into()), codes::AUTH_EXPIRED),
            (HubError::AuthLock("x".into()), codes::AUTH_LOCK),
            (HubError::Retry("x".into()), codes::RETRY),
            (HubError::Sequence("x".into()), codes::SEQUENCE),
            (HubError::tag("x"), codes::TAG),
            (HubError::Build("x".into()), codes::BUILD),
            (HubError::import("x"), codes::IMPORT),
            (HubError::Lock("x".into()), codes::LOCK),
            (HubError::Name("x".into()), codes::NAME_VALIDATION),
        ];
        for (e, code) in cases {
            let f = e.into_fault_for("m");
            assert_eq!((f.code, f.string.as_str()), (code, "x"));
        }
        let kept = Fault::new(1234, "as recorded");
        assert_eq!(HubError::Recorded(kept.clone()).into_fault(), kept);
    }
}
