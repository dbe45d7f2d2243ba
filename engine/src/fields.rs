//! A twin's top-level members in a compact binary form, kept in memory beside the document
//! cache so that filters over many twins (`T.capacity >= 38` on every room) read a few bytes
//! per twin instead of the stored JSON: a scan that reads and parses documents spends most of
//! its time in RocksDB's iterator and in the JSON parser.
//!
//! A summary lists every top-level member of the document, in document order, so it also
//! answers "absent". Scalars keep their exact JSON value (numbers as the parser reads them,
//! strings unescaped); objects, arrays and long strings are only marked `Opaque`, and a
//! reader that wants one of those reads the document instead.
//!
//! Layout of one member: name length (LEB128), name bytes, a tag, then the tag's payload:
//! eight little-endian bytes for numbers, a LEB128 length and the bytes for strings.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::json_text::Text;

/// Strings longer than this are `Opaque` in a summary: long texts (etags, descriptions) are
/// rarely what a filter compares, and would double what a summary costs.
const MAX_STRING: usize = 64;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UNSIGNED: u8 = 3;
const SIGNED: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const OPAQUE: u8 = 7;

/// One member's value as a summary holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(&'a str),
    /// An object, an array or a long string: read the document for it.
    Opaque,
}

/// The summary of a JSON object document, or `None` when `doc` is not one.
pub fn summarise(doc: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(doc.len() / 4);
    let mut de = serde_json::Deserializer::from_slice(doc);
    Summary { out: &mut out }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(out)
}

/// The members of a summary, in document order.
pub fn members(summary: &[u8]) -> Members<'_> {
    Members { rest: summary }
}

pub struct Members<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, Field<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let decoded = self.decode();
        if decoded.is_none() {
            // Summaries are written by `summarise` only; stop rather than loop on a bad one.
            self.rest = &[];
        }
        decoded
    }
}

impl<'a> Members<'a> {
    fn decode(&mut self) -> Option<(&'a str, Field<'a>)> {
        let name = self.take_str()?;
        let (&tag, rest) = self.rest.split_first()?;
        self.rest = rest;
        let field = match tag {
            NULL => Field::Null,
            FALSE => Field::Bool(false),
            TRUE => Field::Bool(true),
            UNSIGNED => Field::U64(u64::from_le_bytes(self.take_8()?)),
            SIGNED => Field::I64(i64::from_le_bytes(self.take_8()?)),
            FLOAT => Field::F64(f64::from_le_bytes(self.take_8()?)),
            STRING => Field::Str(self.take_str()?),
            OPAQUE => Field::Opaque,
            _ => return None,
        };
        Some((name, field))
    }

    fn take_8(&mut self) -> Option<[u8; 8]> {
        let (bytes, rest) = self.rest.split_first_chunk::<8>()?;
        self.rest = rest;
        Some(*bytes)
    }

    fn take_str(&mut self) -> Option<&'a str> {
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let (&byte, rest) = self.rest.split_first()?;
            self.rest = rest;
            len |= usize::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        if len > self.rest.len() {
            return None;
        }
        let (text, rest) = self.rest.split_at(len);
        self.rest = rest;
        std::str::from_utf8(text).ok()
    }
}

fn put_len(out: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// Reads the top-level object, writing each member as it goes.
struct Summary<'o> {
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Summary<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Summary<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            put_str(self.out, &name);
            map.next_value_seed(Scalar { out: self.out })?;
        }
        Ok(())
    }
}

/// Writes one member's tag and payload; skips over objects and arrays.
struct Scalar<'o> {
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Scalar<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scalar<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.push(NULL);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.out.push(UNSIGNED);
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.out.push(SIGNED);
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.out.push(FLOAT);
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v.len() > MAX_STRING {
            self.out.push(OPAQUE);
        } else {
            self.out.push(STRING);
            put_str(self.out, v);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.out.push(OPAQUE);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.out.push(OPAQUE);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(doc: &str) -> Vec<(String, String)> {
        let summary = summarise(doc.as_bytes()).expect("an object");
        members(&summary)
            .map(|(name, field)| (name.to_string(), format!("{field:?}")))
            .collect()
    }

    #[test]
    fn every_member_is_listed_in_order_with_exact_scalars() {
        let long = "x".repeat(MAX_STRING + 1);
        let doc = format!(
            r#"{{"$dtId":"a\"b","n":null,"t":true,"f":false,"u":18446744073709551615,"i":-3,
                "d":2.50,"z":-0.0,"e":1e3,"o":{{"k":[1,{{"x":"}}"}}]}},"a":[],"l":"{long}","":"é"}}"#
        );
        let got = fields(&doc);
        let want = [
            ("$dtId", "Str(\"a\\\"b\")"),
            ("n", "Null"),
            ("t", "Bool(true)"),
            ("f", "Bool(false)"),
            ("u", "U64(18446744073709551615)"),
            ("i", "I64(-3)"),
            ("d", "F64(2.5)"),
            ("z", "F64(-0.0)"),
            ("e", "F64(1000.0)"),
            ("o", "Opaque"),
            ("a", "Opaque"),
            ("l", "Opaque"),
            ("", "Str(\"é\")"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, f)| (n.to_string(), f.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn long_names_and_strings_round_trip() {
        let name = "n".repeat(300);
        let value = "v".repeat(MAX_STRING);
        let got = fields(&format!(r#"{{"{name}":"{value}","b":1}}"#));
        assert_eq!(got[0], (name, format!("Str({value:?})")));
        assert_eq!(got[1], ("b".to_string(), "U64(1)".to_string()));
    }

    #[test]
    fn only_objects_have_summaries_and_bad_summaries_end_quietly() {
        for doc in ["[1]", "1", "\"s\"", "{\"a\":", "{\"a\":1} x", ""] {
            assert!(summarise(doc.as_bytes()).is_none(), "{doc}");
        }
        assert_eq!(fields("{}"), Vec::<(String, String)>::new());
        let summary = summarise(br#"{"a":1,"b":"text"}"#).unwrap();
        let all: Vec<_> = members(&summary).collect();
        assert_eq!(all.len(), 2);
        for cut in 0..summary.len() {
            // A truncated summary yields a prefix of the members, never garbage or a panic.
            let got: Vec<_> = members(&summary[..cut]).collect();
            assert!(got.len() < 2 && got[..] == all[..got.len()], "cut at {cut}");
        }
        assert_eq!(members(&[1, b'a', 99]).count(), 0);
        assert_eq!(members(&[0xff; 12]).count(), 0);
    }
}
