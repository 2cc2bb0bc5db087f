//! Koji sends datetimes as Python `isoformat(' ')` strings plus float `*_ts` twins; the
//! stock CLI slices and parses these, so the exact shape matters.

use chrono::{DateTime, Utc};
use koji_protocol::Value;

/// `2025-01-01 10:00:00.123456+00:00`, without the fraction when it is zero (as Python).
pub fn iso(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
    }
}

pub fn ts(t: &DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6
}

pub fn iso_value(t: Option<&DateTime<Utc>>) -> Value {
    t.map(|t| Value::String(iso(t))).unwrap_or(Value::Nil)
}

pub fn ts_value(t: Option<&DateTime<Utc>>) -> Value {
    t.map(|t| Value::Double(ts(t))).unwrap_or(Value::Nil)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn python_isoformat() {
        let t = Utc.timestamp_opt(1_735_725_600, 123_456_000).unwrap();
        assert_eq!(iso(&t), "2025-01-01 10:00:00.123456+00:00");
        assert_eq!(ts(&t), 1_735_725_600.123456);
        let t = Utc.timestamp_opt(1_735_725_600, 0).unwrap();
        assert_eq!(iso(&t), "2025-01-01 10:00:00+00:00");
    }
}
