//! The XML-RPC value model shared by the hub, the builder and the client.

use indexmap::IndexMap;

/// A struct keeps member order because Python dicts do, and the stock CLI
/// prints some results in the order the hub produced them.
pub type Struct = IndexMap<String, Value>;

/// One XML-RPC value as Koji's dialect knows it.
///
/// `DateTime` keeps the raw wire text: Koji itself never emits
/// `<dateTime.iso8601>` (hub datetimes travel as strings), so we only need to
/// carry it through unchanged rather than interpret it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
    Base64(Vec<u8>),
    DateTime(String),
    Array(Vec<Value>),
    Struct(Struct),
}

impl Value {
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Only `Int`: Koji distinguishes ids (ints) from names (strings), so a
    /// lenient conversion here would blur lookups such as `getTag(3)` vs `getTag("3")`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Accepts ints too, because Python callers freely pass `5` where a float
    /// (e.g. a timestamp) is expected.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    pub fn into_array(self) -> Option<Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn into_struct(self) -> Option<Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Struct member lookup; `None` for non-structs so callers can chain
    /// without matching first.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Struct(s) => s.get(key),
            _ => None,
        }
    }

    /// Python's type names, because hub error messages must read like the
    /// stock hub's (`TypeError`-style texts the CLI may show or grep).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Double(_) => "float",
            Value::String(_) => "str",
            Value::Base64(_) => "bytes",
            Value::DateTime(_) => "DateTime",
            Value::Array(_) => "list",
            Value::Struct(_) => "dict",
        }
    }

    /// Python truthiness; Koji tests many flags (`__starstar`, `strict`, …)
    /// with plain `if x:`.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Double(d) => *d != 0.0,
            Value::String(s) | Value::DateTime(s) => !s.is_empty(),
            Value::Base64(b) => !b.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Struct(s) => !s.is_empty(),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}

/// Saturates: sizes beyond `i64::MAX` cannot exist in practice, and the wire
/// format has no unsigned type anyway.
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::String(v.clone())
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v)
    }
}

impl From<Struct> for Value {
    fn from(v: Struct) -> Self {
        Value::Struct(v)
    }
}

/// `None` becomes `<nil/>`, mirroring Python's `None`.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        match v {
            Some(v) => v.into(),
            None => Value::Nil,
        }
    }
}

/// Builds a `Value::Struct` literal; values go through `Into<Value>`.
///
/// ```
/// use koji_protocol::{kstruct, Value};
/// let v = kstruct! { "id" => 1, "name" => "x", "owner" => None::<i64> };
/// assert_eq!(v.get("id"), Some(&Value::Int(1)));
/// ```
#[macro_export]
macro_rules! kstruct {
    () => { $crate::Value::Struct($crate::Struct::new()) };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut s = $crate::Struct::with_capacity($crate::kstruct!(@count $($k)+));
        $( s.insert(::std::string::String::from($k), $crate::Value::from($v)); )+
        $crate::Value::Struct(s)
    }};
    (@count $($k:expr)+) => { <[()]>::len(&[$($crate::kstruct!(@unit $k)),+]) };
    (@unit $k:expr) => { () };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Value::from(3i32), Value::Int(3));
        assert_eq!(Value::from(u32::MAX), Value::Int(4294967295));
        assert_eq!(Value::from(usize::MAX), Value::Int(i64::MAX));
        assert_eq!(Value::from(None::<&str>), Value::Nil);
        assert_eq!(Value::from(Some("a")), Value::String("a".into()));
        let s = String::from("q");
        assert_eq!(Value::from(&s), Value::String("q".into()));
    }

    #[test]
    fn accessors() {
        let v = kstruct! { "id" => 1, "name" => "x", "ok" => true, "f" => 2.5 };
        assert_eq!(v.get("id").and_then(Value::as_i64), Some(1));
        assert_eq!(v.get("name").and_then(Value::as_str), Some("x"));
        assert_eq!(v.get("ok").and_then(Value::as_bool), Some(true));
        assert_eq!(v.get("f").and_then(Value::as_f64), Some(2.5));
        assert_eq!(v.get("id").and_then(Value::as_f64), Some(1.0));
        assert_eq!(v.get("missing"), None);
        assert_eq!(Value::Int(1).get("id"), None);
        let keys: Vec<_> = v.as_struct().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["id", "name", "ok", "f"]);
        assert!(Value::Nil.is_nil());
        assert_eq!(kstruct! {}, Value::Struct(Struct::new()));
    }

    #[test]
    fn type_names() {
        assert_eq!(Value::Nil.type_name(), "NoneType");
        assert_eq!(Value::Array(vec![]).type_name(), "list");
        assert_eq!(kstruct! {}.type_name(), "dict");
        assert_eq!(Value::Double(1.0).type_name(), "float");
    }
}
