//! Twin documents: building the stored ADT JSON from a PUT body, validating it against the
//! flattened model, and the diff a replace reports as its `Twin.Update` patch.

use serde_json::{Map, Value};

use crate::document::{NewTwin, Tree};
use crate::error::{Error, Result};
use crate::limits;
use twingraph_dtdl::{Catalog, FlatModel};

/// A stored twin as the read API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Twin {
    pub id: String,
    /// Dense number used by indexes and bitmaps; never reused.
    pub num: u32,
    /// The ADT twin JSON: `$dtId`, `$etag`, properties, components, `$metadata`.
    pub doc: Value,
}

impl Twin {
    pub fn model(&self) -> &str {
        model_of(&self.doc)
    }

    pub fn etag(&self) -> &str {
        self.doc.get("$etag").and_then(Value::as_str).unwrap_or("")
    }
}

/// A twin's stored JSON, which is already its ADT wire form (`$etag` included), with the
/// etag read out of it: a GET can answer with these bytes without parsing and printing them.
#[derive(Debug, Clone, PartialEq)]
pub struct TwinJson {
    pub etag: String,
    pub json: Vec<u8>,
}

pub(crate) fn model_of(doc: &Value) -> &str {
    doc.pointer("/$metadata/$model")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn new_etag() -> String {
    format!("W/\"{}\"", uuid::Uuid::new_v4())
}

/// A twin document's stored bytes.
pub(crate) fn encode(doc: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(doc).map_err(|e| Error::Internal(format!("encoding a twin: {e}")))
}

/// The model a PUT body asks for (`$metadata.$model`).
pub(crate) fn requested_model(body: &Value) -> Result<String> {
    match body.pointer("/$metadata/$model") {
        Some(Value::String(m)) if !m.is_empty() => Ok(m.clone()),
        Some(_) => Err(Error::validation("$metadata.$model must be a model id")),
        None => Err(Error::validation("$metadata.$model is required")),
    }
}

/// Builds the stored document for `PUT /digitaltwins/{id}` from the request body
/// (`document::NewTwin`). Properties get `lastUpdateTime = now`; a client-supplied
/// `sourceTime` is kept.
pub(crate) fn build(
    id: &str,
    body: &Value,
    is_component: &dyn Fn(&str) -> bool,
    now: &str,
    etag: &str,
) -> Result<Value> {
    let model = requested_model(body)?;
    let body = body
        .as_object()
        .ok_or_else(|| Error::validation("a twin must be a JSON object"))?;
    let metadata = match body.get("$metadata") {
        Some(Value::Object(m)) => m,
        _ => return Err(Error::validation("$metadata must be an object")),
    };
    let twin = NewTwin {
        id,
        etag,
        model: &model,
        now,
        members: body.iter().map(|(k, v)| (k.as_str(), v)),
        metadata: Some(metadata),
        is_component,
    };
    let mut tree = Tree::default();
    twin.write(&mut tree)?;
    tree.finish()
}

/// Checks a twin document against its model (`Catalog::check_instance`: every key a
/// property or component of the model, values conforming to their schemas, every component
/// present), and ADT's limits on property values.
pub(crate) fn validate(doc: &Value, model: &FlatModel, catalog: &Catalog) -> Result<()> {
    let doc = doc
        .as_object()
        .ok_or_else(|| Error::Internal("twin document is not an object".into()))?;
    catalog
        .check_instance(model, doc, &mut |path, value| {
            limits::check_strings(value, path).map_err(|e| e.to_string())
        })
        .map_err(|e| Error::validation(e.0))
}

/// The JSON Patch that turns `old` into `new`, as a replace reports it in `Twin.Update`:
/// per top-level property and per component property; `$metadata` only for `$model`.
pub(crate) fn diff(old: &Value, new: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    if model_of(old) != model_of(new) {
        ops.push(op(
            "replace",
            "/$metadata/$model",
            Some(&Value::String(model_of(new).into())),
        ));
    }
    let empty = Map::new();
    diff_properties(
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
        "",
        &mut ops,
    );
    ops
}

/// Appends the ops that turn the non-system fields of `old` into those of `new`; components
/// (objects with `$metadata`) are compared property by property.
pub(crate) fn diff_properties(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    prefix: &str,
    ops: &mut Vec<Value>,
) {
    for (key, old_value) in old {
        if key.starts_with('$') {
            continue;
        }
        let path = format!("{prefix}/{}", escape_pointer(key));
        match new.get(key) {
            None => ops.push(op("remove", &path, None)),
            Some(Value::Object(new_component))
                if is_component(old_value) && is_component_map(new_component) =>
            {
                if let Some(old_component) = old_value.as_object() {
                    diff_properties(old_component, new_component, &path, ops)
                }
            }
            Some(new_value) if new_value != old_value => {
                ops.push(op("replace", &path, Some(new_value)))
            }
            Some(_) => {}
        }
    }
    for (key, new_value) in new {
        if !key.starts_with('$') && !old.contains_key(key) {
            let path = format!("{prefix}/{}", escape_pointer(key));
            ops.push(op("add", &path, Some(&strip_metadata(new_value))));
        }
    }
}

fn is_component(value: &Value) -> bool {
    value.get("$metadata").is_some()
}

fn is_component_map(map: &Map<String, Value>) -> bool {
    map.contains_key("$metadata")
}

fn strip_metadata(value: &Value) -> Value {
    match value {
        Value::Object(map) if map.contains_key("$metadata") => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(crate) fn op(kind: &str, path: &str, value: Option<&Value>) -> Value {
    let mut m = Map::new();
    m.insert("op".into(), Value::String(kind.into()));
    m.insert("path".into(), Value::String(path.into()));
    if let Some(v) = value {
        m.insert("value".into(), v.clone());
    }
    Value::Object(m)
}

pub(crate) fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn build_keeps_source_time_and_drops_system_fields() {
        let body = json!({
            "$dtId": "ignored", "$etag": "ignored",
            "$metadata": {"$model": "dtmi:a:b;1", "temp": {"sourceTime": "2022-05-31T12:00:00.000125009Z"}},
            "temp": 21.5,
            "comp": {"$metadata": {}}
        });
        let doc = build("t1", &body, &|k| k == "comp", "NOW", "W/\"e\"").unwrap();
        assert_eq!(model_of(&doc), "dtmi:a:b;1");
        assert_eq!(doc["$dtId"], "t1");
        assert_eq!(doc["$etag"], "W/\"e\"");
        assert_eq!(doc["temp"], 21.5);
        assert_eq!(
            doc["$metadata"]["temp"]["sourceTime"],
            "2022-05-31T12:00:00.000125009Z"
        );
        assert_eq!(doc["$metadata"]["temp"]["lastUpdateTime"], "NOW");
        assert_eq!(doc["comp"]["$metadata"]["$lastUpdateTime"], "NOW");
        assert!(doc["$metadata"].get("$dtId").is_none());
    }

    #[test]
    fn build_refuses_missing_model_and_bad_source_time() {
        assert!(build("t", &json!({"a": 1}), &|_| false, "N", "E").is_err());
        assert!(build(
            "t",
            &json!({"$metadata": {"$model": 3}}),
            &|_| false,
            "N",
            "E"
        )
        .is_err());
        let bad =
            json!({"$metadata": {"$model": "dtmi:a:b;1", "p": {"sourceTime": "soon"}}, "p": 1});
        assert!(build("t", &bad, &|_| false, "N", "E").is_err());
    }

    #[test]
    fn diff_reports_property_and_component_changes() {
        let old = json!({"$metadata": {"$model": "dtmi:a;1"}, "a": 1, "b": 2, "c": {"$metadata": {}, "x": 1}});
        let new = json!({"$metadata": {"$model": "dtmi:a;2"}, "a": 1, "b": 3, "d": 4, "c": {"$metadata": {}, "y": 2}});
        let ops = diff(&old, &new);
        assert_eq!(
            ops,
            vec![
                json!({"op": "replace", "path": "/$metadata/$model", "value": "dtmi:a;2"}),
                json!({"op": "replace", "path": "/b", "value": 3}),
                json!({"op": "remove", "path": "/c/x"}),
                json!({"op": "add", "path": "/c/y", "value": 2}),
                json!({"op": "add", "path": "/d", "value": 4}),
            ]
        );
    }
}
