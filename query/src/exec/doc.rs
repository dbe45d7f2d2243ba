//! Documents as the executor holds them: the stored JSON text, which output rows copy
//! untouched, and only the top-level members the query's conditions and projections read,
//! parsed out of the text without building the rest of the document.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use twingraph_engine::fields::{self, Field};
use twingraph_engine::json_text::Text as Key;
use twingraph_engine::DocBytes;

use crate::error::Error;

/// What a query reads of one variable's document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Wanted {
    /// Some top-level members (sorted, distinct).
    Members(Vec<String>),
    /// The whole document, as a value (a condition on the document itself).
    Whole,
}

impl Wanted {
    pub(crate) fn none() -> Wanted {
        Wanted::Members(Vec::new())
    }

    /// Adds what reading `path` of the document needs.
    pub(crate) fn add(&mut self, path: &[String]) {
        match (self, path.first()) {
            (Wanted::Whole, _) => {}
            (wanted, None) => *wanted = Wanted::Whole,
            (Wanted::Members(members), Some(first)) => {
                if let Err(at) = members.binary_search(first) {
                    members.insert(at, first.clone());
                }
            }
        }
    }
}

/// The stored JSON of a document the output copies: the output is its only copy.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    /// From the document cache, which checked it is UTF-8.
    Shared(Arc<str>),
    Owned(String),
}

impl Text {
    /// Keeps a cached document shared, copies a borrowed one (checking it is UTF-8 on the way).
    fn new(bytes: DocBytes<'_>) -> Result<Text, Error> {
        let not_utf8 = || Error::Internal("a stored document is not UTF-8".into());
        match bytes {
            DocBytes::Cached(s) => Ok(Text::Shared(s)),
            // The SIMD check takes a fraction of std's time on these mostly-ASCII texts
            // (std's was 6% of a large scan).
            DocBytes::Read(b) => Ok(Text::Owned(
                simdutf8::basic::from_utf8(b)
                    .map_err(|_| not_utf8())?
                    .to_owned(),
            )),
            DocBytes::Owned(b) => String::from_utf8(b)
                .map(Text::Owned)
                .map_err(|_| not_utf8()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_str().len()
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Text::Shared(s) => s,
            Text::Owned(s) => s,
        }
    }

    /// The text as a row of its own: an owned copy is moved, not copied again.
    pub(crate) fn into_string(self) -> String {
        match self {
            Text::Shared(s) => s.to_string(),
            Text::Owned(s) => s,
        }
    }
}

/// A loaded document.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    /// The stored JSON, the document's wire form: kept only when the output copies it.
    pub text: Option<Text>,
    /// The wanted members as an object of just those (absent ones left out), or the whole
    /// document when `Wanted::Whole`.
    pub fields: Value,
}

impl Doc {
    pub(crate) fn load(
        bytes: DocBytes<'_>,
        wanted: &Wanted,
        keep_text: bool,
    ) -> Result<Doc, Error> {
        let fields = match wanted {
            Wanted::Whole => serde_json::from_slice(&bytes).map_err(corrupt)?,
            Wanted::Members(members) if members.is_empty() => Value::Object(Map::new()),
            Wanted::Members(members) => Value::Object(pick(&bytes, members)?),
        };
        let text = match keep_text {
            true => Some(Text::new(bytes)?),
            false => None,
        };
        Ok(Doc { text, fields })
    }

    /// The wanted members of a twin answered from its field summary (`fields.rs`), without
    /// the document: `None` when one of them is not a scalar there, and the document must be
    /// read instead.
    pub(crate) fn from_summary(summary: &[u8], members: &[String]) -> Option<Doc> {
        let mut found = Map::new();
        let mut left = members.len();
        for (name, field) in fields::members(summary) {
            if left == 0 {
                break;
            }
            if members.binary_search_by(|m| m.as_str().cmp(name)).is_err() {
                continue;
            }
            let value = match field {
                Field::Null => Value::Null,
                Field::Bool(b) => Value::Bool(b),
                Field::U64(n) => Value::from(n),
                Field::I64(n) => Value::from(n),
                Field::F64(x) => Value::Number(serde_json::Number::from_f64(x)?),
                Field::Str(s) => Value::String(s.to_string()),
                Field::Opaque => return None,
            };
            if found.insert(name.to_string(), value).is_none() {
                left -= 1;
            }
        }
        Some(Doc {
            text: None,
            fields: Value::Object(found),
        })
    }

    /// Adds the text to a document loaded without it.
    pub(crate) fn add_text(&mut self, bytes: DocBytes<'_>) -> Result<(), Error> {
        self.text = Some(Text::new(bytes)?);
        Ok(())
    }

    /// The stored JSON; loaded for every document the output copies.
    pub(crate) fn text(&self) -> Result<&Text, Error> {
        self.text
            .as_ref()
            .ok_or_else(|| Error::Internal("an output document was loaded without its text".into()))
    }
}

fn corrupt(e: serde_json::Error) -> Error {
    Error::Internal(format!("a stored document is not JSON: {e}"))
}

/// The members of the JSON object `text` named in `members` (sorted). Stops reading as soon
/// as all are found: the rest of the document (usually the large `$metadata`) is not scanned.
fn pick(text: &[u8], members: &[String]) -> Result<Map<String, Value>, Error> {
    let mut found = Map::new();
    let mut complete = false;
    let seed = Pick {
        members,
        found: &mut found,
        complete: &mut complete,
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    match seed.deserialize(&mut de) {
        Ok(()) => Ok(found),
        // The early stop is reported as an error by the deserializer; `complete` tells it
        // apart from a real one.
        Err(_) if complete => Ok(found),
        Err(e) => Err(corrupt(e)),
    }
}

struct Pick<'a> {
    members: &'a [String],
    found: &'a mut Map<String, Value>,
    complete: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut left = self.members.len();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if self
                .members
                .binary_search_by(|m| m.as_str().cmp(&key))
                .is_ok()
            {
                let value: Value = map.next_value()?;
                // A repeated member (stored documents have none) replaces, as in a parse.
                if self.found.insert(key.into_owned(), value).is_none() {
                    left -= 1;
                }
                if left == 0 {
                    *self.complete = true;
                    return Err(de::Error::custom("all wanted members read"));
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(paths: &[&[&str]]) -> Wanted {
        let mut w = Wanted::none();
        for p in paths {
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            w.add(&p);
        }
        w
    }

    #[test]
    fn picks_only_the_wanted_members() {
        let text =
            r#"{"$dtId":"a","t\"x":1,"n":{"m":[1,{"k":"}"}]},"z":true,"$metadata":{"$model":"m"}}"#;
        let load = |w: &Wanted| Doc::load(DocBytes::Read(text.as_bytes()), w, false).unwrap();
        let doc = Doc::load(
            DocBytes::Cached(Arc::from(text)),
            &wanted(&[&["z"], &["n", "m"], &["t\"x"]]),
            true,
        )
        .unwrap();
        assert_eq!(doc.text().unwrap().as_str(), text);
        assert_eq!(
            doc.fields,
            serde_json::json!({"t\"x": 1, "n": {"m": [1, {"k": "}"}]}, "z": true})
        );
        let doc = load(&wanted(&[&["missing"], &["$dtId"]]));
        assert_eq!(doc.fields, serde_json::json!({"$dtId": "a"}));
        assert!(doc.text.is_none() && doc.text().is_err());
        let doc = load(&wanted(&[&["z"], &[]]));
        assert_eq!(doc.fields, serde_json::from_str::<Value>(text).unwrap());
        let doc = load(&Wanted::none());
        assert_eq!(doc.fields, serde_json::json!({}));
    }

    #[test]
    fn summaries_answer_exactly_what_documents_do() {
        let text = r#"{"$dtId":"a","n":null,"b":true,"u":7,"i":-7,"f":2.50,"e":1E2,"s":"x\"y","o":{"k":1},"l":[1],"$metadata":{}}"#;
        let summary = twingraph_engine::fields::summarise(text.as_bytes()).unwrap();
        let sets: [&[&str]; 5] = [
            &["n", "u", "missing"],
            &["b", "f", "s", "i", "e"],
            &["$dtId"],
            &["zz"],
            &["$dtId", "b", "e", "f", "i", "n", "s", "u"],
        ];
        for set in sets {
            let paths: Vec<[&str; 1]> = set.iter().map(|m| [*m]).collect();
            let w = wanted(&paths.iter().map(|p| &p[..]).collect::<Vec<_>>());
            let Wanted::Members(members) = &w else {
                unreachable!()
            };
            let from_doc = Doc::load(DocBytes::Read(text.as_bytes()), &w, false).unwrap();
            let from_summary = Doc::from_summary(&summary, members).expect("all scalars");
            assert_eq!(from_summary.fields, from_doc.fields, "{set:?}");
            // Numbers print as the document's parse prints them (2.50 as 2.5, 1E2 as 100.0).
            assert_eq!(from_summary.fields.to_string(), from_doc.fields.to_string());
            assert!(from_summary.text.is_none());
        }
        for opaque in ["o", "l", "$metadata"] {
            let members = vec!["b".to_string(), opaque.to_string()];
            assert!(Doc::from_summary(&summary, &members).is_none(), "{opaque}");
        }
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        for text in ["", "[1]", "{\"a\":", "{\"a\":1,}", "\u{0}"] {
            let bytes = DocBytes::Read(text.as_bytes());
            assert!(
                Doc::load(bytes, &wanted(&[&["a"], &["b"]]), false).is_err(),
                "{text}"
            );
        }
        for bytes in [vec![b'1', 0xff], vec![b'"', 0xc3, b'"']] {
            let read = DocBytes::Read(&bytes);
            assert!(Doc::load(read, &Wanted::none(), true).is_err());
            assert!(Doc::load(DocBytes::Owned(bytes.clone()), &Wanted::none(), true).is_err());
            let mut doc = Doc::load(DocBytes::Read(b"{}"), &Wanted::none(), false).unwrap();
            assert!(doc.add_text(DocBytes::Read(&bytes)).is_err());
        }
    }
}
