//! The error type every handler returns. A handler either answers with a Koji fault the
//! client understands, or hits a database problem that the dispatcher turns into one.

use koji_protocol::Fault;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Fault(#[from] Fault),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

pub type HResult<T> = Result<T, HubError>;

impl HubError {
    /// The fault sent on the wire. Database failures are logged in full but reported
    /// briefly: the client only needs to know the call did not happen.
    pub fn into_fault(self) -> Fault {
        match self {
            HubError::Fault(f) => f,
            HubError::Db(e) => {
                tracing::error!(error = %e, "database error while handling a call");
                Fault::generic(format!("database error: {e}"))
            }
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
