//! JSON text without a `Value` in between. `Text`: a string read without copying (it borrows
//! from the input unless it has escapes), for readers that pick a few keys or values out of
//! a stored document. `string`, `unsigned`: printing, exactly as serde_json prints, for
//! writers that splice stored bytes together.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Visitor};

/// Appends `s` as a JSON string, escaped exactly as serde_json prints it.
pub fn string(out: &mut Vec<u8>, s: &str) {
    // A fold, not `any`: without the early exit the check compiles to vector code, and
    // nearly every string is scanned to its end anyway.
    let escape = s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if escape {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        // Nothing to escape (serde_json escapes only these): the bytes as they are.
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Appends the concatenation of `parts` as one JSON string. Escaping is per character, so
/// the escaped whole is the escaped parts side by side.
pub fn string_of(out: &mut Vec<u8>, parts: &[&str]) {
    out.push(b'"');
    for part in parts {
        let start = out.len();
        string(out, part);
        // Drop the part's own quotes.
        out.pop();
        out.remove(start);
    }
    out.push(b'"');
}

/// Appends `n` in decimal.
pub fn unsigned(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// A string that borrows from the text it was read from when it has no escapes.
pub struct Text<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let all: String = (0u32..0x800).filter_map(char::from_u32).collect();
        for s in [
            "plain",
            "quote\"",
            "back\\slash",
            "tab\t",
            "\u{1}\u{7f}/é",
            &all,
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
            out.clear();
            string_of(&mut out, &[s, "/", s]);
            assert_eq!(
                out,
                serde_json::to_vec(&format!("{s}/{s}")).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn unsigned_prints_decimal() {
        for n in [0, 7, 10, 1234567, u64::MAX] {
            let mut out = Vec::new();
            unsigned(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
