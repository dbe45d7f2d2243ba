//! Relationship documents: building the stored ADT JSON from a PUT body and checking its
//! properties against the relationship's definition.

use serde_json::{Map, Value};

use crate::document::{NewRelationship, Tree};
use crate::error::{Error, Invalid, Result};
use crate::limits;
use twingraph_dtdl::RelationshipDef;

/// A stored relationship as the read API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    pub source: String,
    pub id: String,
    pub target: String,
    pub name: String,
    /// The ADT relationship JSON: `$relationshipId`, `$etag`, `$sourceId`,
    /// `$relationshipName`, `$targetId`, properties.
    pub doc: Value,
}

impl Relationship {
    pub(crate) fn from_doc(doc: Value) -> Result<Relationship> {
        let field = |name: &str| -> Result<String> {
            doc.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Error::Corruption(format!("stored relationship lacks {name}")))
        };
        Ok(Relationship {
            source: field("$sourceId")?,
            id: field("$relationshipId")?,
            target: field("$targetId")?,
            name: field("$relationshipName")?,
            doc,
        })
    }

    pub fn etag(&self) -> &str {
        self.doc.get("$etag").and_then(Value::as_str).unwrap_or("")
    }

    /// The reduced shape `GET …/incomingrelationships` returns.
    pub fn incoming_view(&self) -> Value {
        let mut m = Map::new();
        m.insert("$relationshipId".into(), Value::String(self.id.clone()));
        m.insert("$sourceId".into(), Value::String(self.source.clone()));
        m.insert("$relationshipName".into(), Value::String(self.name.clone()));
        m.insert(
            "$relationshipLink".into(),
            Value::String(format!(
                "/digitaltwins/{}/relationships/{}",
                self.source, self.id
            )),
        );
        Value::Object(m)
    }
}

/// `$targetId` and `$relationshipName` of a PUT body.
pub(crate) fn requested_endpoints(body: &Value) -> Result<(String, String)> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::invalid(Invalid::Argument, "a relationship must be a JSON object"))?;
    let text = |name: &str| -> Result<String> {
        match obj.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(Error::invalid(
                Invalid::Argument,
                format!("{name} must be a non-empty string"),
            )),
            None => Err(Error::invalid(
                Invalid::Argument,
                format!("{name} is required"),
            )),
        }
    };
    Ok((text("$targetId")?, text("$relationshipName")?))
}

/// Builds the stored document. `$relationshipId` and `$sourceId` come from the URL.
pub(crate) fn build(source: &str, id: &str, body: &Value, etag: &str) -> Result<Relationship> {
    let (target, name) = requested_endpoints(body)?;
    let rel = NewRelationship {
        id,
        etag,
        source,
        name: &name,
        target: &target,
        properties: body
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v)),
    };
    let mut tree = Tree::default();
    rel.write(&mut tree);
    let doc = tree.finish()?;
    Ok(Relationship {
        source: source.into(),
        id: id.into(),
        target,
        name,
        doc,
    })
}

/// A relationship document's stored bytes.
pub(crate) fn encode(doc: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(doc).map_err(|e| Error::Internal(format!("encoding a relationship: {e}")))
}

/// Every non-system field is a declared property of the relationship, with a conforming
/// value within ADT's limits.
pub(crate) fn validate_properties(doc: &Value, def: &RelationshipDef) -> Result<()> {
    let Some(obj) = doc.as_object() else {
        return Err(Error::Internal(
            "relationship document is not an object".into(),
        ));
    };
    def.check_instance(obj, &mut |path, value| {
        limits::check_strings(value, path).map_err(|e| e.to_string())
    })
    .map_err(|e| Error::validation(e.0))
}

/// The property changes between two versions of a relationship, as a JSON Patch.
pub(crate) fn diff(old: &Value, new: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    for key in ["$targetId", "$relationshipName"] {
        if old.get(key) != new.get(key) {
            ops.push(crate::twin::op("replace", &format!("/{key}"), new.get(key)));
        }
    }
    crate::twin::diff_properties(old, new, "", &mut ops);
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn build_takes_ids_from_the_url() {
        let body = json!({"$targetId": "b", "$relationshipName": "feeds", "$sourceId": "x", "$relationshipId": "y", "flow": 3});
        let rel = build("a", "r1", &body, "E").unwrap();
        assert_eq!(
            (rel.source.as_str(), rel.id.as_str(), rel.target.as_str()),
            ("a", "r1", "b")
        );
        assert_eq!(rel.doc["$sourceId"], "a");
        assert_eq!(rel.doc["$relationshipId"], "r1");
        assert_eq!(rel.doc["flow"], 3);
        assert_eq!(Relationship::from_doc(rel.doc.clone()).unwrap(), rel);
        assert_eq!(
            rel.incoming_view(),
            json!({"$relationshipId": "r1", "$sourceId": "a", "$relationshipName": "feeds",
                   "$relationshipLink": "/digitaltwins/a/relationships/r1"})
        );
    }

    #[test]
    fn build_requires_target_and_name() {
        assert!(build("a", "r", &json!({"$relationshipName": "x"}), "E").is_err());
        assert!(build("a", "r", &json!({"$targetId": "b"}), "E").is_err());
        assert!(build("a", "r", &json!([]), "E").is_err());
    }
}
