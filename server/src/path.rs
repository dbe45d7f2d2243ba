//! Path segments: ADT ids travel as one percent-encoded segment each (`%2F` is part of an id,
//! not a separator), so the raw path is split on `/` first and each segment decoded after.

use crate::error::ApiError;

/// Splits a raw (still percent-encoded) path into decoded segments. One trailing slash is
/// tolerated; malformed percent-encoding, a segment that is not UTF-8, and a segment that
/// is `.` or `..` (raw or encoded) are a 400. No route has such a fixed segment, and an id
/// that is one would be unreachable: clients normalise dot segments away (RFC 3986 §5.2.4)
/// before sending, so `/digitaltwins/..` could be created but never read back.
pub fn segments(raw: &str) -> Result<Vec<String>, ApiError> {
    let trimmed = raw.strip_prefix('/').unwrap_or(raw);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    trimmed
        .split('/')
        .map(|segment| {
            let decoded = decode(segment)?;
            if decoded == "." || decoded == ".." {
                return Err(ApiError::invalid(format!(
                    "'{decoded}' is not a valid id: URLs cannot carry a '.' or '..' path segment"
                )));
            }
            Ok(decoded)
        })
        .collect()
}

/// Strict percent-decoding of one segment: every `%` must start two hex digits.
pub fn decode(segment: &str) -> Result<String, ApiError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
            match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    // Two hex digits are at most 255: the cast cannot truncate.
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                _ => {
                    return Err(ApiError::invalid(format!(
                        "malformed percent-encoding in path segment '{segment}'"
                    )))
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        ApiError::invalid(format!("path segment '{segment}' does not decode to UTF-8"))
    })
}

/// Percent-encodes an id as one path segment (everything but RFC 3986 unreserved characters),
/// the same way the SDKs encode ids.
pub fn encode(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_before_decoding() {
        assert_eq!(
            segments("/digitaltwins/room%201%2F%C3%A4/relationships").unwrap(),
            vec!["digitaltwins", "room 1/ä", "relationships"]
        );
        assert_eq!(segments("/models/").unwrap(), vec!["models"]);
        assert!(segments("/").unwrap().is_empty());
        assert!(segments("/x/%zz").is_err());
        assert!(segments("/x/%4").is_err());
        assert!(segments("/x/%FF").is_err());
        for dots in ["/x/.", "/x/..", "/x/%2E", "/x/%2e%2E", "/x/.%2E/y", "/../x"] {
            assert!(segments(dots).is_err(), "{dots}");
        }
        assert_eq!(segments("/x/...").unwrap(), vec!["x", "..."]);
        assert_eq!(segments("/x/.a").unwrap(), vec!["x", ".a"]);
    }

    #[test]
    fn encode_round_trips() {
        for id in ["dtmi:example:Room;1", "room 1/ä", "a%b", "plain-id_1.x~"] {
            assert_eq!(decode(&encode(id)).unwrap(), id);
        }
        assert_eq!(encode("dtmi:a;1"), "dtmi%3Aa%3B1");
    }
}
