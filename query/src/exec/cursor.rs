//! Continuation tokens: the query text, its hop reading, the position of the last row returned
//! and the number of rows returned so far, as base64url JSON with a checksum. Opaque to
//! clients; a damaged or foreign token is refused as `BadContinuation`, never trusted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::traverse::Key;
use crate::error::Error;

const VERSION: u64 = 1;

/// Where the next page starts: after the row whose candidates, level by level, were `keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub keys: Vec<Key>,
    /// Rows returned by earlier pages (for TOP).
    pub emitted: u64,
}

/// What a token carries besides the cursor: enough to plan the query again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    pub text: String,
    pub cypher_hops: bool,
    pub cursor: Cursor,
}

fn checksum(bytes: &[u8]) -> u64 {
    // FNV-1a: detects damaged tokens; it is not a signature.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

pub(crate) fn encode(resume: &Resume) -> String {
    let keys: Vec<Value> = resume
        .cursor
        .keys
        .iter()
        .map(|k| match &k.rel {
            Some((source, id)) => json!([k.twin, source, &**id]),
            None => json!([k.twin]),
        })
        .collect();
    let body = json!({
        "v": VERSION,
        "q": resume.text,
        "c": resume.cypher_hops,
        "k": keys,
        "n": resume.cursor.emitted,
    })
    .to_string();
    let sum = checksum(body.as_bytes());
    URL_SAFE_NO_PAD.encode(format!("{sum:016x}{body}"))
}

pub(crate) fn decode(token: &str) -> Result<Resume, Error> {
    let bad = |why: &str| Error::BadContinuation(why.to_string());
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| bad("not base64url"))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let (sum, body) = text.split_at_checked(16).ok_or_else(|| bad("too short"))?;
    if u64::from_str_radix(sum, 16).ok() != Some(checksum(body.as_bytes())) {
        return Err(bad("checksum mismatch"));
    }
    let value: Value = serde_json::from_str(body).map_err(|_| bad("not JSON"))?;
    if value["v"].as_u64() != Some(VERSION) {
        return Err(bad("unknown version"));
    }
    let text = value["q"]
        .as_str()
        .ok_or_else(|| bad("no query"))?
        .to_string();
    let cypher_hops = value["c"].as_bool().ok_or_else(|| bad("no hop mode"))?;
    let emitted = value["n"].as_u64().ok_or_else(|| bad("no row count"))?;
    let keys = value["k"].as_array().ok_or_else(|| bad("no position"))?;
    let keys = keys
        .iter()
        .map(|k| {
            let twin = k[0].as_u64().and_then(|n| u32::try_from(n).ok());
            let twin = twin.ok_or_else(|| bad("bad position"))?;
            let rel = match (k.get(1), k.get(2)) {
                (None, None) => None,
                (Some(s), Some(id)) => {
                    let source = s.as_u64().and_then(|n| u32::try_from(n).ok());
                    let id = id.as_str().map(std::sync::Arc::<str>::from);
                    Some((
                        source.ok_or_else(|| bad("bad position"))?,
                        id.ok_or_else(|| bad("bad position"))?,
                    ))
                }
                _ => return Err(bad("bad position")),
            };
            Ok(Key { twin, rel })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Resume {
        text,
        cypher_hops,
        cursor: Cursor { keys, emitted },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_damage() {
        let resume = Resume {
            text: "SELECT * FROM DIGITALTWINS WHERE name = 'é'".into(),
            cypher_hops: true,
            cursor: Cursor {
                keys: vec![
                    Key { twin: 7, rel: None },
                    Key {
                        twin: 9,
                        rel: Some((7, "r-1".into())),
                    },
                ],
                emitted: 42,
            },
        };
        let token = encode(&resume);
        assert_eq!(decode(&token).ok(), Some(resume));
        let mut damaged = token.into_bytes();
        damaged[20] = if damaged[20] == b'A' { b'B' } else { b'A' };
        let damaged = String::from_utf8(damaged).unwrap_or_default();
        assert!(matches!(decode(&damaged), Err(Error::BadContinuation(_))));
        assert!(matches!(
            decode("not a token!"),
            Err(Error::BadContinuation(_))
        ));
        assert!(matches!(decode(""), Err(Error::BadContinuation(_))));
    }
}
