//! The error type every handler returns. A handler either answers with a Koji fault the
//! client understands, or hits a database problem that the dispatcher turns into one.
//!
//! Database errors never reach the client as text: SQL, column names and server paths are
//! for the hub's log. The client learns which call failed and whether to retry.

use koji_protocol::{Fault, codes};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Fault(#[from] Fault),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

pub type HResult<T> = Result<T, HubError>;

impl HubError {
    /// The fault sent on the wire, without naming the call (see [`HubError::into_fault_for`]).
    pub fn into_fault(self) -> Fault {
        self.into_fault_for("")
    }

    /// The fault sent on the wire for a failure of `method`. Database failures are logged in
    /// full and answered with a generic message; a pool that had no connection free answers
    /// ServerOffline, which the stock client (kojid: `offline_retry`) retries.
    pub fn into_fault_for(self, method: &str) -> Fault {
        match self {
            HubError::Fault(f) => f,
            HubError::Db(e) => db_fault(&e, method),
        }
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

/// `return Err(generic!("No such tag: {}", x))` reads like Koji's `raise koji.GenericError`.
#[macro_export]
macro_rules! generic {
    ($($t:tt)*) => { $crate::error::HubError::Fault(koji_protocol::Fault::generic(format!($($t)*))) };
}

#[macro_export]
macro_rules! param_err {
    ($($t:tt)*) => { $crate::error::HubError::Fault(koji_protocol::Fault::parameter(format!($($t)*))) };
}

#[macro_export]
macro_rules! fault {
    ($code:expr, $($t:tt)*) => { $crate::error::HubError::Fault(koji_protocol::Fault::new($code, format!($($t)*))) };
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
}
