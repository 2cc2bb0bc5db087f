//! `multiCall` result entries: success is a one-element array, failure a
//! fault struct (the stock CLI unpacks `for x, [v] in zip(...)`).

use crate::decode::{DecodeError, Response};
use crate::fault::Fault;
use crate::value::Value;

pub fn multicall_ok(v: Value) -> Value {
    Value::Array(vec![v])
}

pub fn multicall_fault(f: &Fault) -> Value {
    f.to_value()
}

/// Client side: splits a `multiCall` result into per-call responses.
pub fn parse_multicall_result(v: Value) -> Result<Vec<Response>, DecodeError> {
    let Value::Array(entries) = v else {
        return Err(DecodeError::Malformed(format!(
            "multicall result must be a list, not {}",
            v.type_name()
        )));
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| match entry {
            Value::Array(mut one) if one.len() == 1 => Ok(Ok(one.remove(0))),
            Value::Struct(_) => Fault::from_value(&entry).map(Err).ok_or_else(|| {
                DecodeError::Malformed(format!(
                    "multicall entry {i} is a struct but not a valid fault"
                ))
            }),
            other => Err(DecodeError::Malformed(format!(
                "multicall entry {i} must be a one-element list or a fault, not {}",
                match &other {
                    Value::Array(a) => format!("a list of {}", a.len()),
                    o => o.type_name().to_owned(),
                }
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kstruct;

    #[test]
    fn round_trip() {
        let f = Fault::generic("Invalid method: nope");
        let v = Value::Array(vec![multicall_ok(Value::Int(1)), multicall_fault(&f)]);
        let r = parse_multicall_result(v).unwrap();
        assert_eq!(r, vec![Ok(Value::Int(1)), Err(f)]);
    }

    #[test]
    fn fault_with_traceback_is_accepted() {
        let v = Value::Array(vec![kstruct! {
            "faultCode" => 1000, "faultString" => "x", "traceback" => Value::Array(vec![])
        }]);
        assert_eq!(
            parse_multicall_result(v).unwrap(),
            vec![Err(Fault::generic("x"))]
        );
    }

    #[test]
    fn bad_shapes() {
        assert!(parse_multicall_result(Value::Int(1)).is_err());
        assert!(parse_multicall_result(Value::Array(vec![Value::Array(vec![])])).is_err());
        assert!(parse_multicall_result(Value::Array(vec![kstruct! {"a" => 1}])).is_err());
    }
}
