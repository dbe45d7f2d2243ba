//! The worker half of the offline bulk load (`load.rs`): a data line straight to the bytes
//! the store keeps, without building the document as a `Value` and printing it again.
//!
//! The fast path takes only the common shape (a twin of a model without components whose
//! `$metadata` holds just `$model`; a relationship without `$sourceId` or other system
//! fields; no repeated keys; every check passing). Anything else goes through `prepare`,
//! the path server jobs use. Both lay the document out with `document::NewTwin` /
//! `NewRelationship`, into bytes here and into a `Value` there, so a line the fast path
//! accepts is stored as `prepare` would store it (tests compare them); a line it would
//! refuse is always handed to `prepare`, so refusals carry the per-operation reasons.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::format::{Line, LineError, Section};
use super::prepare::{prepare, Context, Prepared};
use crate::document::{Bytes, NewRelationship, NewTwin};
use crate::limits;
use twingraph_dtdl::FlatModel;

/// A line ready for the loader, borrowing the encoder's buffers (reused line after line:
/// no allocation per line, and nothing for another thread to free).
pub(crate) enum Staged<'a> {
    Twin {
        id: &'a str,
        model: &'a Arc<FlatModel>,
        doc: &'a [u8],
    },
    Relationship {
        source: &'a str,
        id: &'a str,
        target: &'a str,
        name: &'a str,
        /// Properties, checked once the source's model is known; `None` when there are none.
        props: Option<&'a Value>,
        doc: &'a [u8],
    },
    Failed(LineError),
}

/// Per-worker state: a cheap etag generator and reusable buffers.
pub(crate) struct Encoder {
    etags: Etags,
    props: Vec<(String, Value)>,
    doc: Vec<u8>,
    /// The twin's id, or the relationship's.
    id: String,
    source: String,
    target: String,
    name: String,
    rel_props: Option<Value>,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder {
            etags: Etags::new(),
            props: Vec::new(),
            doc: Vec::new(),
            id: String::new(),
            source: String::new(),
            target: String::new(),
            name: String::new(),
            rel_props: None,
        }
    }

    pub fn stage<'a>(
        &'a mut self,
        number: u64,
        section: Section,
        text: &str,
        ctx: &'a Context,
        now: &str,
    ) -> Staged<'a> {
        // Some(model) for a twin, None for a relationship.
        let fast = match section {
            Section::Twins => self.twin(text, ctx, now).map(Some),
            Section::Relationships => self.relationship(text).then_some(None),
            Section::Header | Section::Models => None,
        };
        let model = match fast {
            Some(model) => model,
            None => {
                let line = Line {
                    number,
                    section,
                    text: text.to_string(),
                };
                match self.adopt(prepare(&line, ctx, now), ctx) {
                    Ok(model) => model,
                    Err(e) => return Staged::Failed(e),
                }
            }
        };
        match model {
            Some(model) => Staged::Twin {
                id: &self.id,
                model,
                doc: &self.doc,
            },
            None => Staged::Relationship {
                source: &self.source,
                id: &self.id,
                target: &self.target,
                name: &self.name,
                props: self.rel_props.as_ref(),
                doc: &self.doc,
            },
        }
    }

    /// The fast path for a twin: fills `id` and `doc` and returns the model, or `None` to
    /// leave the line to the slow path.
    fn twin<'c>(&mut self, text: &str, ctx: &'c Context, now: &str) -> Option<&'c Arc<FlatModel>> {
        self.props.clear();
        let mut seed = Fields {
            props: &mut self.props,
            id: None,
            model: None,
            unusual: false,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        (&mut seed).deserialize(&mut de).ok()?;
        de.end().ok()?;
        let (Some(id), Some(model_id)) = (seed.id.take(), seed.model.take()) else {
            return None;
        };
        if seed.unusual || model_id.is_empty() || repeats(&self.props) {
            return None;
        }
        limits::check_id("twin", &id).ok()?;
        let model = ctx.catalog.get(&model_id)?;
        if !model.components.is_empty()
            || ctx
                .models
                .get(model_id.as_ref())
                .is_some_and(|m| m.decommissioned)
        {
            return None;
        }
        for (key, value) in &self.props {
            let schema = model.properties.get(key)?;
            schema.check(value).ok()?;
            limits::check_strings(value, "").ok()?;
        }
        let twin = NewTwin {
            id: &id,
            etag: self.etags.next(),
            model: &model_id,
            now,
            members: self.props.iter().map(|(k, v)| (k.as_str(), v)),
            metadata: None,
            is_component: &|_| false,
        };
        self.doc.clear();
        twin.write(&mut Bytes::new(&mut self.doc)).ok()?;
        self.id.clear();
        self.id.push_str(&id);
        Some(model)
    }

    /// The fast path for a relationship: fills the ids, `rel_props` and `doc`; false leaves
    /// the line to the slow path.
    fn relationship(&mut self, text: &str) -> bool {
        self.props.clear();
        let mut seed = RelFields {
            props: &mut self.props,
            source: None,
            id: None,
            target: None,
            name: None,
            unusual: false,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        if (&mut seed).deserialize(&mut de).is_err() || de.end().is_err() {
            return false;
        }
        let (Some(source), Some(id), Some(target), Some(name)) = (
            seed.source.take(),
            seed.id.take(),
            seed.target.take(),
            seed.name.take(),
        ) else {
            return false;
        };
        if seed.unusual
            || target.is_empty()
            || name.is_empty()
            || repeats(&self.props)
            || limits::check_id("twin", &source).is_err()
            || limits::check_id("relationship", &id).is_err()
        {
            return false;
        }
        self.doc.clear();
        NewRelationship {
            id: &id,
            etag: self.etags.next(),
            source: &source,
            name: &name,
            target: &target,
            properties: self.props.iter().map(|(k, v)| (k.as_str(), v)),
        }
        .write(&mut Bytes::new(&mut self.doc));
        self.rel_props = if self.props.is_empty() {
            None
        } else {
            Some(Value::Object(self.props.drain(..).collect::<Map<_, _>>()))
        };
        for (buf, text) in [
            (&mut self.source, &source),
            (&mut self.id, &id),
            (&mut self.target, &target),
            (&mut self.name, &name),
        ] {
            buf.clear();
            buf.push_str(text);
        }
        true
    }

    /// Takes the slow path's result into the buffers: `Some(model)` for a twin, `None` for
    /// a relationship.
    fn adopt<'c>(
        &mut self,
        prepared: Prepared,
        ctx: &'c Context,
    ) -> Result<Option<&'c Arc<FlatModel>>, LineError> {
        match prepared {
            Prepared::Failed(e) => Err(e),
            Prepared::Twin {
                line,
                id,
                model,
                bytes,
                ..
            } => {
                let flat = ctx.catalog.get(&model).ok_or_else(|| LineError {
                    line,
                    reason: format!("model {model} is not stored"),
                })?;
                self.id = id;
                self.doc = bytes;
                Ok(Some(flat))
            }
            Prepared::Relationship { rel, bytes, .. } => {
                let props: Map<String, Value> = rel
                    .doc
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(k, _)| !k.starts_with('$'))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                self.rel_props = (!props.is_empty()).then_some(Value::Object(props));
                self.source = rel.source;
                self.id = rel.id;
                self.target = rel.target;
                self.name = rel.name;
                self.doc = bytes;
                Ok(None)
            }
        }
    }
}

/// Whether a key appears twice (a parsed `Value` would keep the first position and the last
/// value: left to the slow path).
fn repeats(props: &[(String, Value)]) -> bool {
    props.len() > 1
        && props
            .iter()
            .enumerate()
            .any(|(i, (k, _))| props[..i].iter().any(|(other, _)| other == k))
}

/// Random version-4 UUID etags, as `twin::new_etag` makes them, from a generator seeded once
/// per worker by the system (one `getrandom` per line costs a system call).
struct Etags {
    state: [u64; 2],
    text: String,
}

impl Etags {
    fn new() -> Etags {
        let seed = uuid::Uuid::new_v4().as_u128();
        Etags {
            state: [(seed >> 64) as u64 | 1, seed as u64 | 1],
            text: String::with_capacity(48),
        }
    }

    /// xorshift128+: fast, and each worker's stream starts from 128 fresh random bits.
    fn next_u64(&mut self) -> u64 {
        let [mut s1, s0] = self.state;
        let result = s0.wrapping_add(s1);
        s1 ^= s1 << 23;
        self.state = [s0, s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26)];
        result
    }

    fn next(&mut self) -> &str {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        self.text.clear();
        self.text.push_str("W/\"");
        let mut buf = uuid::Uuid::encode_buffer();
        self.text.push_str(uuid.hyphenated().encode_lower(&mut buf));
        self.text.push('"');
        &self.text
    }
}

pub(super) use crate::json_text::Text;

/// The fields of a twin line: `$dtId`, `$metadata.$model`, properties in order.
struct Fields<'p, 'de> {
    props: &'p mut Vec<(String, Value)>,
    id: Option<Cow<'de, str>>,
    model: Option<Cow<'de, str>>,
    unusual: bool,
}

impl<'de> DeserializeSeed<'de> for &mut Fields<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Fields<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a twin object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "$dtId" if self.id.is_none() => match map.next_value::<Text<'de>>() {
                    Ok(Text(id)) => self.id = Some(id),
                    Err(_) => return Err(serde::de::Error::custom("unusual $dtId")),
                },
                "$metadata" if self.model.is_none() => {
                    let mut meta = Metadata {
                        model: None,
                        unusual: false,
                    };
                    map.next_value_seed(&mut meta)?;
                    self.unusual |= meta.unusual;
                    self.model = meta.model;
                }
                k if k.starts_with('$') => {
                    self.unusual = true;
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    self.props.push((key.into_owned(), value));
                }
            }
        }
        Ok(())
    }
}

/// `$metadata` holding `$model` and nothing else.
struct Metadata<'de> {
    model: Option<Cow<'de, str>>,
    unusual: bool,
}

impl<'de> DeserializeSeed<'de> for &mut Metadata<'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Metadata<'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            if key == "$model" && self.model.is_none() {
                match map.next_value::<Text<'de>>() {
                    Ok(Text(model)) => self.model = Some(model),
                    Err(_) => return Err(serde::de::Error::custom("unusual $model")),
                }
            } else {
                self.unusual = true;
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The fields of a relationship line.
struct RelFields<'p, 'de> {
    props: &'p mut Vec<(String, Value)>,
    source: Option<Cow<'de, str>>,
    id: Option<Cow<'de, str>>,
    target: Option<Cow<'de, str>>,
    name: Option<Cow<'de, str>>,
    unusual: bool,
}

impl<'de> DeserializeSeed<'de> for &mut RelFields<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut RelFields<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a relationship object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let slot = match key.as_ref() {
                "$dtId" => &mut self.source,
                "$relationshipId" => &mut self.id,
                "$targetId" => &mut self.target,
                "$relationshipName" => &mut self.name,
                k if k.starts_with('$') => {
                    self.unusual = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    self.props.push((key.into_owned(), value));
                    continue;
                }
            };
            if slot.is_some() {
                self.unusual = true;
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            *slot = match map.next_value::<Text<'de>>() {
                Ok(Text(text)) => Some(text),
                Err(_) => return Err(serde::de::Error::custom("not a string")),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StoredModel;
    use std::collections::BTreeMap;
    use twingraph_dtdl::Catalog;

    fn context() -> Context {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bulk/good.ndjson");
        let text = std::fs::read_to_string(path).unwrap();
        let mut models = BTreeMap::new();
        let mut section = "";
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(s) = v.get("Section").and_then(Value::as_str) {
                section = if s == "Models" { "m" } else { "" };
                continue;
            }
            if section == "m" {
                let id = v["@id"].as_str().unwrap().to_string();
                models.insert(
                    id.clone(),
                    StoredModel {
                        id,
                        definition: v,
                        upload_time: "T".into(),
                        decommissioned: false,
                    },
                );
            }
        }
        let defs: Vec<Value> = models.values().map(|m| m.definition.clone()).collect();
        Context {
            catalog: Arc::new(Catalog::build(&defs).unwrap()),
            models: Arc::new(models),
            encode: true,
        }
    }

    fn line(section: Section, text: &str) -> Line {
        Line {
            number: 7,
            section,
            text: text.into(),
        }
    }

    /// Etags are random: asserts the bytes are equal once `fast` has `slow`'s etag.
    fn assert_same_bytes(fast: &[u8], slow: &[u8], what: &str) {
        let etag = |b: &[u8]| {
            let v: Value = serde_json::from_slice(b).unwrap();
            serde_json::to_string(&v["$etag"]).unwrap()
        };
        let fast = String::from_utf8(fast.to_vec()).unwrap();
        let slow = String::from_utf8(slow.to_vec()).unwrap();
        assert_eq!(
            fast.replace(&etag(fast.as_bytes()), &etag(slow.as_bytes())),
            slow,
            "{what}"
        );
    }

    /// The slow path's document, `None` when it refuses the line.
    fn slow(l: &Line, ctx: &Context) -> Option<Vec<u8>> {
        let mut e = Encoder::new();
        let prepared = prepare(l, ctx, "2024-01-01T00:00:00.0000000Z");
        e.adopt(prepared, ctx).ok().map(|_| e.doc.clone())
    }

    /// The fast path's document, `None` when it leaves the line to the slow path.
    fn fast(l: &Line, ctx: &Context) -> Option<Vec<u8>> {
        let mut e = Encoder::new();
        let taken = match l.section {
            Section::Twins => e
                .twin(&l.text, ctx, "2024-01-01T00:00:00.0000000Z")
                .is_some(),
            _ => e.relationship(&l.text),
        };
        taken.then(|| e.doc.clone())
    }

    #[test]
    fn fast_documents_are_the_slow_paths_bytes() {
        let ctx = context();
        let twins = [
            r#"{"$dtId":"floor1","$metadata":{"$model":"dtmi:bulk:Space;1"},"name":"Floor \"1\" é\u00e9"}"#,
            r#"{ "$metadata" : { "$model" : "dtmi:bulk:Space;1" } , "$dtId" : "x\u00e9y\/z" }"#,
            r#"{"$dtId":"s","$metadata":{"$model":"dtmi:bulk:Sensor;1"},"kind":"co\u0032"}"#,
            r#"{"$dtId":"x\ty","$metadata":{"$model":"dtmi:bulk:Space;1"}}"#,
            r#"{"$dtId":"r\u0001","$metadata":{"$model":"dtmi:bulk:Space;1"}}"#,
        ];
        let mut accepted = 0;
        for text in twins {
            let l = line(Section::Twins, text);
            let slow = slow(&l, &ctx);
            match fast(&l, &ctx) {
                Some(f) => {
                    accepted += 1;
                    assert_same_bytes(&f, &slow.expect("the slow path accepts"), text);
                }
                // The fast path may decline; then the slow path decides (here: refuses).
                None => assert!(slow.is_none(), "{text}"),
            }
        }
        assert_eq!(accepted, 3);
        let rels = [
            r#"{"$dtId":"floor1","$relationshipId":"r/1","$targetId":"room1","$relationshipName":"contains"}"#,
            r#"{"$relationshipName":"contains","$targetId":"room1","$relationshipId":"r2","$dtId":"f\u00e9"}"#,
        ];
        for text in rels {
            let l = line(Section::Relationships, text);
            let f = fast(&l, &ctx).expect("common shape");
            assert_same_bytes(&f, &slow(&l, &ctx).expect("accepted"), text);
        }
    }

    #[test]
    fn unusual_lines_are_left_to_the_slow_path() {
        let ctx = context();
        let twins = [
            r#"{"$dtId":"a","$metadata":{"$model":"dtmi:bulk:Space;1","name":{"sourceTime":"2022-01-01T00:00:00Z"}},"name":"n"}"#,
            r#"{"$dtId":"a","$metadata":{"$model":"dtmi:bulk:Space;1"},"name":"n","name":"m"}"#,
            r#"{"$dtId":"a","$etag":"x","$metadata":{"$model":"dtmi:bulk:Space;1"}}"#,
            r#"{"$dtId":"a","$metadata":{"$model":"dtmi:bulk:Space;1"},"nope":1}"#,
            r#"{"$dtId":"a","$metadata":{"$model":"dtmi:bulk:Nope;1"}}"#,
            r#"{"$dtId":7,"$metadata":{"$model":"dtmi:bulk:Space;1"}}"#,
            r#"{"$dtId":"a","$metadata":{"$model":"dtmi:bulk:Space;1"}"#,
        ];
        for text in twins {
            assert!(fast(&line(Section::Twins, text), &ctx).is_none(), "{text}");
        }
        let rels = [
            r#"{"$dtId":"a","$sourceId":"a","$relationshipId":"r","$targetId":"b","$relationshipName":"contains"}"#,
            r#"{"$dtId":"a","$relationshipId":"r","$targetId":"","$relationshipName":"contains"}"#,
            r#"{"$dtId":"a","$relationshipId":"r","$targetId":"b"}"#,
            r#"{"$dtId":"a","$relationshipId":"r","$targetId":"b","$relationshipName":"contains","p":1,"p":2}"#,
        ];
        for text in rels {
            assert!(
                fast(&line(Section::Relationships, text), &ctx).is_none(),
                "{text}"
            );
        }
    }

    #[test]
    fn etags_look_like_the_per_operation_ones() {
        let mut e = Etags::new();
        let a = e.next().to_string();
        let b = e.next().to_string();
        assert_ne!(a, b);
        assert_eq!(a.len(), crate::twin::new_etag().len());
        let uuid = uuid::Uuid::parse_str(&a[3..a.len() - 1]).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
    }
}
