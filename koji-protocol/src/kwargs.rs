//! Koji's keyword-argument convention: keyword arguments travel as a
//! trailing struct flagged with a truthy `__starstar` member.

use crate::value::{Struct, Value};

const STARSTAR: &str = "__starstar";

/// Hub side of `decode_args`: pops the kwargs struct if the last param is
/// one, without the marker key. Otherwise all params stay positional.
pub fn split_kwargs(mut params: Vec<Value>) -> (Vec<Value>, Struct) {
    let is_kw = matches!(
        params.last(),
        Some(Value::Struct(s)) if s.get(STARSTAR).is_some_and(Value::is_truthy)
    );
    if is_kw && let Some(Value::Struct(mut kw)) = params.pop() {
        kw.shift_remove(STARSTAR);
        return (params, kw);
    }
    (params, Struct::new())
}

/// Client side of `encode_args`: no marker struct when there are no kwargs,
/// matching what the Python client sends.
pub fn join_kwargs(mut params: Vec<Value>, mut kwargs: Struct) -> Vec<Value> {
    if !kwargs.is_empty() {
        kwargs.insert(STARSTAR.to_owned(), Value::Bool(true));
        params.push(Value::Struct(kwargs));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kstruct;

    #[test]
    fn split_and_join() {
        let params = vec![
            Value::from("x"),
            kstruct! {"scratch" => true},
            kstruct! {"priority" => Value::Nil, "__starstar" => true},
        ];
        let (pos, kw) = split_kwargs(params.clone());
        assert_eq!(pos, params[..2].to_vec());
        assert_eq!(kw.len(), 1);
        assert_eq!(kw.get("priority"), Some(&Value::Nil));
        assert_eq!(join_kwargs(pos, kw), params);
    }

    #[test]
    fn falsy_marker_is_positional() {
        let params = vec![kstruct! {"a" => 1, "__starstar" => false}];
        let (pos, kw) = split_kwargs(params.clone());
        assert_eq!(pos, params);
        assert!(kw.is_empty());
        let (pos, kw) = split_kwargs(vec![kstruct! {"a" => 1}]);
        assert_eq!(pos.len(), 1);
        assert!(kw.is_empty());
        assert_eq!(split_kwargs(vec![]), (vec![], Struct::new()));
    }

    #[test]
    fn empty_kwargs_add_nothing() {
        assert_eq!(
            join_kwargs(vec![Value::Int(1)], Struct::new()),
            vec![Value::Int(1)]
        );
    }
}
