//! Python-style call signatures for hub methods.
//!
//! The stock client relies on CPython's `TypeError` texts (it greps "got an unexpected
//! keyword argument 'X'" to fall back to older calls), and `list-api` prints each method's
//! argument description, so every method declares its signature once, as Python would
//! print it, and both binding and introspection come from that one string.

use crate::error::{HResult, HubError};
use crate::ident::Ident;
use koji_protocol::{Struct, Value};

#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub default: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Signature {
    pub params: Vec<Param>,
    pub varargs: Option<&'static str>,
    pub varkw: Option<&'static str>,
    /// The text inside the parentheses, exactly as declared, for `_listapi`.
    pub text: &'static str,
}

/// Parses "tagInfo, strict=False, event=None, *args, **kwargs". Defaults may be None,
/// True, False, integers, floats, quoted strings, [] and {}. A bad declaration is a
/// programming error caught by the registry's unit test, so it is reported as Err here.
pub fn parse(text: &'static str) -> Result<Signature, String> {
    let mut params = Vec::new();
    let mut varargs = None;
    let mut varkw = None;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(n) = part.strip_prefix("**") {
            varkw = Some(n);
        } else if let Some(n) = part.strip_prefix('*') {
            varargs = Some(n);
        } else if let Some((name, def)) = part.split_once('=') {
            params.push(Param {
                name: name.trim(),
                default: Some(parse_default(def.trim())?),
            });
        } else {
            if params.iter().any(|p| p.default.is_some()) {
                return Err(format!(
                    "non-default argument {part} follows default argument"
                ));
            }
            params.push(Param {
                name: part,
                default: None,
            });
        }
    }
    Ok(Signature {
        params,
        varargs,
        varkw,
        text,
    })
}

fn parse_default(d: &str) -> Result<Value, String> {
    Ok(match d {
        "None" => Value::Nil,
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "[]" => Value::Array(vec![]),
        "{}" => Value::Struct(Struct::new()),
        _ if d.starts_with('\'') && d.ends_with('\'') && d.len() >= 2 => {
            Value::String(d[1..d.len() - 1].to_string())
        }
        _ => {
            if let Ok(i) = d.parse::<i64>() {
                Value::Int(i)
            } else if let Ok(f) = d.parse::<f64>() {
                Value::Double(f)
            } else {
                return Err(format!("unsupported default {d}"));
            }
        }
    })
}

/// Bound arguments, in declaration order.
#[derive(Debug)]
pub struct Args {
    pub method: &'static str,
    names: Vec<&'static str>,
    values: Vec<Value>,
    /// Extra positional arguments (for `*args` signatures).
    pub rest: Vec<Value>,
    /// Extra keyword arguments (for `**kwargs` signatures).
    pub extra: Struct,
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn quote_list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        2 => format!("{} and {}", q[0], q[1]),
        _ => format!("{}, and {}", q[..q.len() - 1].join(", "), q[q.len() - 1]),
    }
}

impl Signature {
    /// Binds like CPython does and fails with CPython's TypeError wording (as fault 1019).
    pub fn bind(&self, method: &'static str, pos: Vec<Value>, kw: Struct) -> HResult<Args> {
        let n = self.params.len();
        let required = self.params.iter().filter(|p| p.default.is_none()).count();
        let given = pos.len();
        let mut slots: Vec<Option<Value>> = vec![None; n];
        let mut rest = Vec::new();
        for (i, v) in pos.into_iter().enumerate() {
            if i < n {
                slots[i] = Some(v);
            } else {
                rest.push(v);
            }
        }
        if !rest.is_empty() && self.varargs.is_none() {
            let takes = if required == n {
                plural(n, "positional argument")
            } else {
                format!("from {required} to {n} positional arguments")
            };
            let verb = if given == 1 { "was" } else { "were" };
            return Err(HubError::parameter(format!(
                "{method}() takes {takes} but {given} {verb} given"
            )));
        }
        let mut extra = Struct::new();
        for (k, v) in kw {
            match self.params.iter().position(|p| p.name == k) {
                Some(i) => {
                    if slots[i].is_some() {
                        return Err(HubError::parameter(format!(
                            "{method}() got multiple values for argument '{k}'"
                        )));
                    }
                    slots[i] = Some(v);
                }
                None if self.varkw.is_some() => {
                    extra.insert(k, v);
                }
                None => {
                    return Err(HubError::parameter(format!(
                        "{method}() got an unexpected keyword argument '{k}'"
                    )));
                }
            }
        }
        let missing: Vec<&str> = self
            .params
            .iter()
            .zip(&slots)
            .filter(|(p, s)| p.default.is_none() && s.is_none())
            .map(|(p, _)| p.name)
            .collect();
        if !missing.is_empty() {
            return Err(HubError::parameter(format!(
                "{method}() missing {}: {}",
                plural(missing.len(), "required positional argument"),
                quote_list(&missing)
            )));
        }
        let values = slots
            .into_iter()
            .zip(&self.params)
            .map(|(s, p)| s.or_else(|| p.default.clone()).unwrap_or(Value::Nil))
            .collect();
        Ok(Args {
            method,
            names: self.params.iter().map(|p| p.name).collect(),
            values,
            rest,
            extra,
        })
    }
}

/// An id from the wire. Ids are 32-bit in the database while the decoder takes 64-bit
/// integers: a wider number is refused here, as ParameterError, instead of being wrapped by
/// a cast into some other row's id.
pub fn checked_id(what: &str, n: i64) -> HResult<i32> {
    i32::try_from(n).map_err(|_| HubError::parameter(format!("{what} out of range: {n}")))
}

/// A value given where an id or a name is expected: `getTag(3)` looks up by id,
/// `getTag("3")` by name, and dicts `{'id': N}` / `{'name': S}` are accepted too. None when
/// the value names nothing; `Err(n)` for an id out of range.
pub fn ident_of_value(v: &Value) -> Result<Option<Ident>, i64> {
    let id = |i: i64| i32::try_from(i).map(|i| Some(Ident::Id(i))).map_err(|_| i);
    match v {
        Value::Int(i) => id(*i),
        Value::String(s) => Ok(Some(Ident::Name(s.clone()))),
        Value::Struct(s) => match (s.get("id"), s.get("name")) {
            (Some(Value::Int(i)), _) => id(*i),
            (_, Some(Value::String(n))) => Ok(Some(Ident::Name(n.clone()))),
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

/// A name or id inside another argument (`what` names it in the error).
pub fn value_ident(v: &Value, what: &str) -> HResult<Ident> {
    match ident_of_value(v) {
        Ok(Some(i)) => Ok(i),
        Ok(None) => Err(HubError::parameter(format!(
            "Invalid {what} value: {}",
            crate::pyrepr::repr(v)
        ))),
        Err(n) => Err(HubError::parameter(format!("{what} id out of range: {n}"))),
    }
}

impl Args {
    pub fn name(&self, i: usize) -> &'static str {
        self.names.get(i).copied().unwrap_or("?")
    }

    pub fn val(&self, i: usize) -> &Value {
        self.values.get(i).unwrap_or(&Value::Nil)
    }

    pub fn take(&mut self, i: usize) -> Value {
        self.values
            .get_mut(i)
            .map(|v| std::mem::replace(v, Value::Nil))
            .unwrap_or(Value::Nil)
    }

    fn type_error(&self, i: usize, want: &str) -> HubError {
        HubError::parameter(format!(
            "Invalid type for {} in {}(): expected {want}, got {}",
            self.name(i),
            self.method,
            self.val(i).type_name()
        ))
    }

    pub fn is_nil(&self, i: usize) -> bool {
        self.val(i).is_nil()
    }

    /// Python truthiness, because Koji's flags arrive as nil, 0/1 or booleans alike.
    pub fn truthy(&self, i: usize) -> bool {
        self.val(i).is_truthy()
    }

    pub fn opt_str(&self, i: usize) -> HResult<Option<&str>> {
        match self.val(i) {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(self.type_error(i, "str")),
        }
    }

    pub fn str(&self, i: usize) -> HResult<&str> {
        match self.val(i) {
            Value::String(s) => Ok(s),
            _ => Err(self.type_error(i, "str")),
        }
    }

    pub fn opt_i64(&self, i: usize) -> HResult<Option<i64>> {
        match self.val(i) {
            Value::Nil => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            Value::Bool(b) => Ok(Some(*b as i64)),
            _ => Err(self.type_error(i, "int")),
        }
    }

    pub fn i64(&self, i: usize) -> HResult<i64> {
        match self.opt_i64(i)? {
            Some(n) => Ok(n),
            None => Err(self.type_error(i, "int")),
        }
    }

    /// An id (or count) that must fit the database's 32-bit columns. The decoder takes 64-bit
    /// integers, so a wider number is refused here as ParameterError rather than wrapped by a
    /// cast into some other row's id.
    pub fn opt_id(&self, i: usize) -> HResult<Option<i32>> {
        match self.opt_i64(i)? {
            None => Ok(None),
            Some(n) => checked_id(self.name(i), n).map(Some),
        }
    }

    pub fn id(&self, i: usize) -> HResult<i32> {
        match self.opt_id(i)? {
            Some(n) => Ok(n),
            None => Err(self.type_error(i, "int")),
        }
    }

    /// A float argument. NaN and infinities are refused (they have no place in a load, a
    /// capacity or a timeout, and must never reach SQL).
    pub fn opt_f64(&self, i: usize) -> HResult<Option<f64>> {
        match self.val(i) {
            Value::Nil => Ok(None),
            v => match v.as_f64() {
                Some(f) if f.is_finite() => Ok(Some(f)),
                Some(f) => Err(HubError::parameter(format!(
                    "{} must be a finite number, not {f}",
                    self.name(i)
                ))),
                None => Err(self.type_error(i, "float")),
            },
        }
    }

    /// A required name-or-id argument (an id out of range is refused).
    pub fn ident(&self, i: usize) -> HResult<Ident> {
        match ident_of_value(self.val(i)) {
            Ok(Some(x)) => Ok(x),
            Ok(None) => Err(HubError::parameter(format!(
                "Invalid name or id value for {}: {}",
                self.name(i),
                crate::pyrepr::repr(self.val(i))
            ))),
            Err(n) => Err(HubError::parameter(format!(
                "{} out of range: {n}",
                self.name(i)
            ))),
        }
    }

    pub fn opt_ident(&self, i: usize) -> HResult<Option<Ident>> {
        if self.is_nil(i) {
            Ok(None)
        } else {
            self.ident(i).map(Some)
        }
    }

    pub fn opt_struct(&self, i: usize) -> HResult<Option<&Struct>> {
        match self.val(i) {
            Value::Nil => Ok(None),
            Value::Struct(s) => Ok(Some(s)),
            _ => Err(self.type_error(i, "dict")),
        }
    }

    /// A list of strings, also accepting a single string (as many Koji calls do).
    pub fn opt_str_list(&self, i: usize) -> HResult<Option<Vec<String>>> {
        match self.val(i) {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(vec![s.clone()])),
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.type_error(i, "list of str")),
            _ => Err(self.type_error(i, "list of str")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(s: &'static str) -> Signature {
        parse(s).unwrap()
    }

    #[test]
    fn binds_positional_keyword_and_defaults() {
        let s = sig("tagInfo, strict=False, event=None");
        let mut kw = Struct::new();
        kw.insert("event".into(), Value::Int(5));
        let a = s
            .bind("getTag", vec![Value::String("x".into())], kw)
            .unwrap();
        assert_eq!(a.val(0), &Value::String("x".into()));
        assert_eq!(a.val(1), &Value::Bool(false));
        assert_eq!(a.val(2), &Value::Int(5));
    }

    #[test]
    fn unknown_keyword_uses_cpython_text() {
        let s = sig("tagInfo, strict=False");
        let mut kw = Struct::new();
        kw.insert("bogus".into(), Value::Int(1));
        let f = s
            .bind("getTag", vec![Value::Int(1)], kw)
            .unwrap_err()
            .into_fault();
        assert_eq!(f.code, 1019);
        assert_eq!(
            f.string,
            "getTag() got an unexpected keyword argument 'bogus'"
        );
    }

    #[test]
    fn too_many_and_missing() {
        let s = sig("a, b=1");
        let f = s
            .bind("m", vec![Value::Nil, Value::Nil, Value::Nil], Struct::new())
            .unwrap_err()
            .into_fault();
        assert_eq!(
            f.string,
            "m() takes from 1 to 2 positional arguments but 3 were given"
        );
        let s = sig("a, b");
        let f = s.bind("m", vec![], Struct::new()).unwrap_err().into_fault();
        assert_eq!(
            f.string,
            "m() missing 2 required positional arguments: 'a' and 'b'"
        );
        let s = sig("");
        let f = s
            .bind("m", vec![Value::Nil], Struct::new())
            .unwrap_err()
            .into_fault();
        assert_eq!(f.string, "m() takes 0 positional arguments but 1 was given");
    }

    #[test]
    fn duplicate_value() {
        let s = sig("a");
        let mut kw = Struct::new();
        kw.insert("a".into(), Value::Int(1));
        let f = s
            .bind("m", vec![Value::Int(2)], kw)
            .unwrap_err()
            .into_fault();
        assert_eq!(f.string, "m() got multiple values for argument 'a'");
    }

    #[test]
    fn varargs_and_varkw() {
        let s = sig("a, *args, **kwargs");
        let mut kw = Struct::new();
        kw.insert("z".into(), Value::Int(1));
        let a = s.bind("m", vec![Value::Int(1), Value::Int(2)], kw).unwrap();
        assert_eq!(a.rest, vec![Value::Int(2)]);
        assert_eq!(a.extra.get("z"), Some(&Value::Int(1)));
    }

    #[test]
    fn ident_kinds() {
        assert_eq!(ident_of_value(&Value::Int(3)), Ok(Some(Ident::Id(3))));
        assert_eq!(
            ident_of_value(&Value::String("3".into())),
            Ok(Some(Ident::Name("3".into())))
        );
        assert_eq!(ident_of_value(&Value::Array(vec![])), Ok(None));
    }

    #[test]
    fn ids_out_of_range_are_parameter_errors() {
        let big = (1i64 << 32) + 1;
        assert_eq!(ident_of_value(&Value::Int(big)), Err(big));
        let mut s = Struct::new();
        s.insert("id".into(), Value::Int(big));
        assert_eq!(ident_of_value(&Value::Struct(s)), Err(big));
        let a = sig("tagInfo")
            .bind("getTag", vec![Value::Int(big)], Struct::new())
            .unwrap();
        let f = a.ident(0).unwrap_err().into_fault();
        assert_eq!(f.code, koji_protocol::codes::PARAMETER);
        assert_eq!(f.string, "tagInfo out of range: 4294967297");
        let f = a.id(0).unwrap_err().into_fault();
        assert_eq!(f.string, "tagInfo out of range: 4294967297");
        assert!(checked_id("x", i64::from(i32::MIN)).is_ok());
        assert!(checked_id("x", i64::from(i32::MIN) - 1).is_err());
    }
}
