//! Koji faults: `{faultCode, faultString}` plus the code → class-name table
//! the CLI uses to pick an exception class.

use crate::value::{Struct, Value};

/// Fault codes from `koji/__init__.py` (1.36.1). The stock hub uses code 1
/// for unexpected exceptions; those are not `GenericError` on the client.
pub mod codes {
    pub const GENERIC: i32 = 1000;
    pub const LOCK: i32 = 1001;
    pub const AUTH: i32 = 1002;
    pub const TAG: i32 = 1003;
    pub const ACTION_NOT_ALLOWED: i32 = 1004;
    pub const BUILD: i32 = 1005;
    pub const AUTH_LOCK: i32 = 1006;
    pub const AUTH_EXPIRED: i32 = 1007;
    pub const SEQUENCE: i32 = 1008;
    pub const RETRY: i32 = 1009;
    pub const PRE_BUILD: i32 = 1010;
    pub const POST_BUILD: i32 = 1011;
    pub const BUILDROOT: i32 = 1012;
    pub const FUNCTION_DEPRECATED: i32 = 1013;
    pub const SERVER_OFFLINE: i32 = 1014;
    pub const LIVECD: i32 = 1015;
    pub const PLUGIN: i32 = 1016;
    pub const CALLBACK: i32 = 1017;
    pub const APPLIANCE: i32 = 1018;
    pub const PARAMETER: i32 = 1019;
    pub const IMPORT: i32 = 1020;
    pub const CONFIGURATION: i32 = 1021;
    pub const LIVEMEDIA: i32 = 1022;
    pub const GSSAPI_AUTH: i32 = 1023;
    pub const NAME_VALIDATION: i32 = 1024;
}

/// An XML-RPC fault. Displayed as `ClassName: text`, which is how the CLI
/// reports it, so logs read the same as a user's terminal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{class}: {string}", class = self.class_name())]
pub struct Fault {
    pub code: i32,
    pub string: String,
}

impl Fault {
    pub fn new(code: i32, string: impl Into<String>) -> Self {
        Fault {
            code,
            string: string.into(),
        }
    }

    pub fn generic(msg: impl Into<String>) -> Self {
        Self::new(codes::GENERIC, msg)
    }

    pub fn auth(msg: impl Into<String>) -> Self {
        Self::new(codes::AUTH, msg)
    }

    pub fn action_not_allowed(msg: impl Into<String>) -> Self {
        Self::new(codes::ACTION_NOT_ALLOWED, msg)
    }

    pub fn parameter(msg: impl Into<String>) -> Self {
        Self::new(codes::PARAMETER, msg)
    }

    pub fn tag(msg: impl Into<String>) -> Self {
        Self::new(codes::TAG, msg)
    }

    pub fn lock(msg: impl Into<String>) -> Self {
        Self::new(codes::LOCK, msg)
    }

    /// The `koji.*Error` class the client maps this code to; codes Koji does
    /// not know stay a plain `xmlrpc.client.Fault` there, hence `"Fault"`.
    pub fn class_name(&self) -> &'static str {
        match self.code {
            codes::GENERIC => "GenericError",
            codes::LOCK => "LockError",
            codes::AUTH => "AuthError",
            codes::TAG => "TagError",
            codes::ACTION_NOT_ALLOWED => "ActionNotAllowed",
            codes::BUILD => "BuildError",
            codes::AUTH_LOCK => "AuthLockError",
            codes::AUTH_EXPIRED => "AuthExpired",
            codes::SEQUENCE => "SequenceError",
            codes::RETRY => "RetryError",
            codes::PRE_BUILD => "PreBuildError",
            codes::POST_BUILD => "PostBuildError",
            codes::BUILDROOT => "BuildrootError",
            codes::FUNCTION_DEPRECATED => "FunctionDeprecated",
            codes::SERVER_OFFLINE => "ServerOffline",
            codes::LIVECD => "LiveCDError",
            codes::PLUGIN => "PluginError",
            codes::CALLBACK => "CallbackError",
            codes::APPLIANCE => "ApplianceError",
            codes::PARAMETER => "ParameterError",
            codes::IMPORT => "ImportError",
            codes::CONFIGURATION => "ConfigurationError",
            codes::LIVEMEDIA => "LiveMediaError",
            codes::GSSAPI_AUTH => "GSSAPIAuthError",
            codes::NAME_VALIDATION => "NameValidationError",
            _ => "Fault",
        }
    }

    /// The struct form used both inside `<fault>` and as a multicall entry.
    pub fn to_value(&self) -> Value {
        let mut s = Struct::with_capacity(2);
        s.insert("faultCode".to_owned(), Value::Int(self.code.into()));
        s.insert("faultString".to_owned(), Value::String(self.string.clone()));
        Value::Struct(s)
    }

    /// Inverse of [`Fault::to_value`]; `None` unless the value has an int
    /// `faultCode` within `i32` and a string `faultString`.
    pub fn from_value(v: &Value) -> Option<Fault> {
        let code = i32::try_from(v.get("faultCode")?.as_i64()?).ok()?;
        let string = v.get("faultString")?.as_str()?.to_owned();
        Some(Fault { code, string })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_class_name() {
        assert_eq!(
            Fault::auth("Invalid session").to_string(),
            "AuthError: Invalid session"
        );
        assert_eq!(Fault::new(1, "boom").to_string(), "Fault: boom");
        assert_eq!(Fault::new(1024, "x").class_name(), "NameValidationError");
    }

    #[test]
    fn value_round_trip() {
        let f = Fault::parameter("bad");
        let v = f.to_value();
        assert_eq!(v.get("faultCode"), Some(&Value::Int(1019)));
        assert_eq!(Fault::from_value(&v), Some(f));
        assert_eq!(Fault::from_value(&Value::Nil), None);
    }
}
