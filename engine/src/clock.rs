//! Timestamps as ADT prints them: RFC 3339, UTC, seven fractional digits.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now() -> String {
    format_time(Utc::now())
}

pub fn format_time(t: DateTime<Utc>) -> String {
    // chrono has no 7-digit mode: print nanoseconds and drop the last two digits.
    let nanos = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    match nanos.len() {
        // "YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ" is 30 characters.
        30 => format!("{}Z", &nanos[..27]),
        _ => nanos,
    }
}

/// Whether `text` is an ISO 8601 / RFC 3339 date-time, as ADT accepts for `sourceTime`.
pub fn is_date_time(text: &str) -> bool {
    DateTime::parse_from_rfc3339(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_fractional_digits() {
        let t = DateTime::parse_from_rfc3339("2022-02-28T00:30:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_time(t), "2022-02-28T00:30:00.1234567Z");
        assert!(is_date_time(&now()));
    }

    #[test]
    fn source_times() {
        assert!(is_date_time("2022-05-31T12:00:01.000125009Z"));
        assert!(is_date_time("2022-05-31T12:00:01+02:00"));
        assert!(!is_date_time("yesterday"));
        assert!(!is_date_time("2022-05-31"));
    }
}
