//! How a new twin or relationship document is laid out, written once for both of its
//! destinations: a `Value` (the per-operation path and import jobs, which go on to validate
//! and diff it) and stored bytes (the offline bulk load, which never builds the `Value`).
//!
//! A twin: `$dtId`, `$etag`, its properties and components in body order, then `$metadata`
//! with `$model`, `$lastUpdateTime` and one `{lastUpdateTime[, sourceTime]}` per property;
//! each component carries its own `$metadata` the same way. A relationship: `$relationshipId`,
//! `$etag`, `$sourceId`, `$relationshipName`, `$targetId`, then its properties.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::{clock, json_text};

/// Where a document goes, member by member in stored order.
pub(crate) trait DocOut {
    fn open(&mut self);
    fn key(&mut self, key: &str);
    fn string(&mut self, s: &str);
    fn value(&mut self, value: &Value);
    fn close(&mut self);
}

/// A document printed straight into stored bytes, exactly as serde_json prints the `Value`.
pub(crate) struct Bytes<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Bytes<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Bytes<'a> {
        Bytes { out, first: true }
    }
}

impl DocOut for Bytes<'_> {
    fn open(&mut self) {
        self.out.push(b'{');
        self.first = true;
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        json_text::string(self.out, key);
        self.out.push(b':');
    }

    fn string(&mut self, s: &str) {
        json_text::string(self.out, s);
    }

    fn value(&mut self, value: &Value) {
        // Printing a `Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, value);
    }

    fn close(&mut self) {
        self.out.push(b'}');
        self.first = false;
    }
}

/// A document built as a `Value`.
#[derive(Default)]
pub(crate) struct Tree {
    /// Objects being filled, each with the key it goes under in its parent.
    open: Vec<(Map<String, Value>, Option<String>)>,
    key: Option<String>,
    done: Option<Value>,
}

impl Tree {
    fn insert(&mut self, value: Value) {
        if let Some((map, _)) = self.open.last_mut() {
            map.insert(self.key.take().unwrap_or_default(), value);
        } else {
            self.done = Some(value);
        }
    }

    /// The finished document.
    pub fn finish(self) -> Result<Value> {
        self.done
            .ok_or_else(|| Error::Internal("a document was left unfinished".into()))
    }
}

impl DocOut for Tree {
    fn open(&mut self) {
        self.open.push((Map::new(), self.key.take()));
    }

    fn key(&mut self, key: &str) {
        self.key = Some(key.to_string());
    }

    fn string(&mut self, s: &str) {
        self.insert(Value::String(s.to_string()));
    }

    fn value(&mut self, value: &Value) {
        self.insert(value.clone());
    }

    fn close(&mut self) {
        if let Some((map, key)) = self.open.pop() {
            self.key = key;
            self.insert(Value::Object(map));
        }
    }
}

/// What a new twin is made of. `members` are the body's top-level members in order
/// (system members, starting with `$`, are skipped: the URL and the server own them);
/// `metadata` is the body's `$metadata`, whose per-property `sourceTime`s are kept.
pub(crate) struct NewTwin<'a, M> {
    pub id: &'a str,
    pub etag: &'a str,
    pub model: &'a str,
    pub now: &'a str,
    pub members: M,
    pub metadata: Option<&'a Map<String, Value>>,
    pub is_component: &'a dyn Fn(&str) -> bool,
}

impl<'a, M> NewTwin<'a, M>
where
    M: Iterator<Item = (&'a str, &'a Value)> + Clone,
{
    /// Writes the document, or refuses a malformed component or `sourceTime` (the first in
    /// body order).
    pub fn write(&self, out: &mut impl DocOut) -> Result<()> {
        let properties = || {
            self.members
                .clone()
                .filter(|(k, _)| !k.starts_with('$') && !(self.is_component)(k))
        };
        for (key, value) in self.members.clone().filter(|(k, _)| !k.starts_with('$')) {
            if (self.is_component)(key) {
                if !value.is_object() {
                    return Err(Error::validation(format!(
                        "/{key}: a component must be a JSON object"
                    )));
                }
                check_metadata(value.get("$metadata"), &format!("/{key}/$metadata"))?;
            } else {
                source_time(self.metadata.and_then(|m| m.get(key)))?;
            }
        }
        out.open();
        out.key("$dtId");
        out.string(self.id);
        out.key("$etag");
        out.string(self.etag);
        for (key, value) in self.members.clone().filter(|(k, _)| !k.starts_with('$')) {
            out.key(key);
            match value.as_object() {
                Some(component) if (self.is_component)(key) => {
                    write_component(out, component, self.now, true)?
                }
                _ => out.value(value),
            }
        }
        out.key("$metadata");
        out.open();
        out.key("$model");
        out.string(self.model);
        out.key("$lastUpdateTime");
        out.string(self.now);
        for (key, _) in properties() {
            out.key(key);
            property_metadata(out, self.metadata.and_then(|m| m.get(key)), self.now)?;
        }
        out.close();
        out.close();
        Ok(())
    }
}

fn write_component(
    out: &mut impl DocOut,
    body: &Map<String, Value>,
    now: &str,
    source_times: bool,
) -> Result<()> {
    let metadata = body
        .get("$metadata")
        .and_then(Value::as_object)
        .filter(|_| source_times);
    let properties = || body.iter().filter(|(k, _)| !k.starts_with('$'));
    out.open();
    for (key, value) in properties() {
        out.key(key);
        out.value(value);
    }
    out.key("$metadata");
    out.open();
    out.key("$lastUpdateTime");
    out.string(now);
    for (key, _) in properties() {
        out.key(key);
        property_metadata(out, metadata.and_then(|m| m.get(key)), now)?;
    }
    out.close();
    out.close();
    Ok(())
}

fn check_metadata(metadata: Option<&Value>, path: &str) -> Result<()> {
    match metadata {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(Error::validation(format!("{path} must be an object"))),
    }
}

/// `{"lastUpdateTime": now}` plus the client's `sourceTime`, if it gave one.
fn property_metadata(out: &mut impl DocOut, given: Option<&Value>, now: &str) -> Result<()> {
    out.open();
    out.key("lastUpdateTime");
    out.string(now);
    if let Some(source_time) = source_time(given)? {
        out.key("sourceTime");
        out.value(source_time);
    }
    out.close();
    Ok(())
}

/// The `sourceTime` of a property's given metadata, checked.
fn source_time(given: Option<&Value>) -> Result<Option<&Value>> {
    given
        .and_then(|g| g.get("sourceTime"))
        .map(checked_source_time)
        .transpose()
}

/// A property's `sourceTime`: an ISO 8601 date-time, or null.
pub(crate) fn checked_source_time(value: &Value) -> Result<&Value> {
    match value {
        Value::Null => Ok(value),
        Value::String(s) if clock::is_date_time(s) => Ok(value),
        _ => Err(Error::validation(format!(
            "sourceTime must be an ISO 8601 date-time, got {value}"
        ))),
    }
}

/// A component's stored form, as a patch that replaces it whole writes it: its properties
/// and fresh metadata (the body's own `$metadata` is not kept).
pub(crate) fn new_component(body: &Map<String, Value>, now: &str) -> Result<Value> {
    let mut tree = Tree::default();
    write_component(&mut tree, body, now, false)?;
    tree.finish()
}

/// What a new relationship is made of; `properties` are the body's members (system members
/// are skipped).
pub(crate) struct NewRelationship<'a, P> {
    pub id: &'a str,
    pub etag: &'a str,
    pub source: &'a str,
    pub name: &'a str,
    pub target: &'a str,
    pub properties: P,
}

impl<'a, P> NewRelationship<'a, P>
where
    P: Iterator<Item = (&'a str, &'a Value)>,
{
    pub fn write(self, out: &mut impl DocOut) {
        out.open();
        for (key, value) in [
            ("$relationshipId", self.id),
            ("$etag", self.etag),
            ("$sourceId", self.source),
            ("$relationshipName", self.name),
            ("$targetId", self.target),
        ] {
            out.key(key);
            out.string(value);
        }
        for (key, value) in self.properties.filter(|(k, _)| !k.starts_with('$')) {
            out.key(key);
            out.value(value);
        }
        out.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The two destinations agree: the bytes are what serde_json prints for the `Value`.
    #[test]
    fn values_and_bytes_agree() {
        let body = json!({
            "$dtId": "ignored",
            "temp": 21.5,
            "name": "a \"quoted\" name",
            "wing": {"level": 2, "$metadata": {"level": {"sourceTime": "2024-01-01T00:00:00Z"}}},
            "tags": ["x", {"y": null}],
            "$metadata": {"$model": "dtmi:x;1", "temp": {"sourceTime": null}},
        });
        let members = body.as_object().unwrap();
        let twin = NewTwin {
            id: "t\u{e9}",
            etag: "W/\"e\"",
            model: "dtmi:x;1",
            now: "2024-02-02T00:00:00.0000000Z",
            members: members.iter().map(|(k, v)| (k.as_str(), v)),
            metadata: members.get("$metadata").and_then(Value::as_object),
            is_component: &|k| k == "wing",
        };
        let mut tree = Tree::default();
        twin.write(&mut tree).unwrap();
        let doc = tree.finish().unwrap();
        let mut bytes = Vec::new();
        twin.write(&mut Bytes::new(&mut bytes)).unwrap();
        assert_eq!(bytes, serde_json::to_vec(&doc).unwrap());
        assert_eq!(doc["$dtId"], "t\u{e9}");
        assert_eq!(doc["$metadata"]["temp"]["sourceTime"], Value::Null);
        assert_eq!(
            doc["wing"]["$metadata"]["level"]["sourceTime"],
            "2024-01-01T00:00:00Z"
        );
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "$dtId",
                "$etag",
                "temp",
                "name",
                "wing",
                "tags",
                "$metadata"
            ]
        );
    }

    #[test]
    fn malformed_parts_are_refused_in_body_order() {
        let body = json!({
            "a": 1,
            "c": 5,
            "$metadata": {"a": {"sourceTime": "yesterday"}},
        });
        let members = body.as_object().unwrap();
        let twin = NewTwin {
            id: "t",
            etag: "e",
            model: "m",
            now: "n",
            members: members.iter().map(|(k, v)| (k.as_str(), v)),
            metadata: members.get("$metadata").and_then(Value::as_object),
            is_component: &|k| k == "c",
        };
        let err = twin.write(&mut Tree::default()).unwrap_err().to_string();
        assert!(err.contains("sourceTime"), "{err}");
    }

    #[test]
    fn relationships_lead_with_their_system_members() {
        let props = json!({"$etag": "old", "w": 3});
        let rel = || NewRelationship {
            id: "r",
            etag: "e",
            source: "a",
            name: "has",
            target: "b",
            properties: props
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v)),
        };
        let mut tree = Tree::default();
        rel().write(&mut tree);
        let mut bytes = Vec::new();
        rel().write(&mut Bytes::new(&mut bytes));
        let doc = tree.finish().unwrap();
        assert_eq!(bytes, serde_json::to_vec(&doc).unwrap());
        assert_eq!(
            doc,
            json!({"$relationshipId": "r", "$etag": "e", "$sourceId": "a",
                   "$relationshipName": "has", "$targetId": "b", "w": 3})
        );
    }
}
