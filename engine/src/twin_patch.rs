//! Applying an ADT JSON Patch to a stored twin: ordinary paths change properties and refresh
//! their `lastUpdateTime`; `/$metadata/$model` changes the model; `/$metadata/<p>/sourceTime`
//! (also inside a component) sets the client's source time. Validation against the model
//! happens afterwards, on the whole result, so a patch is applied all or nothing.

use serde_json::{Map, Value};

use crate::document;
use crate::error::{Error, Invalid, Result};
use crate::patch::{self, OpKind, PatchOp};

/// Applies `ops` to a twin document. `component` scopes every path to that component (the
/// component PATCH API). `is_component` tells which top-level names are components.
pub(crate) fn apply(
    doc: &mut Value,
    ops: &[PatchOp],
    component: Option<&str>,
    is_component: &dyn Fn(&str) -> bool,
    now: &str,
) -> Result<()> {
    for op in ops {
        let mut path = op.path.clone();
        if let Some(c) = component {
            path.insert(0, c.to_string());
        }
        apply_one(doc, op, &path, is_component, now)?;
    }
    set_string(doc, &["$metadata", "$lastUpdateTime"], now);
    Ok(())
}

fn apply_one(
    doc: &mut Value,
    op: &PatchOp,
    path: &[String],
    is_component: &dyn Fn(&str) -> bool,
    now: &str,
) -> Result<()> {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    match segs.as_slice() {
        [] => Err(patch_error("the whole twin cannot be patched")),
        ["$metadata", "$model"] => {
            if op.kind == OpKind::Remove {
                return Err(patch_error("$metadata.$model cannot be removed"));
            }
            match &op.value {
                Some(Value::String(m)) if !m.is_empty() => {
                    set_string(doc, &["$metadata", "$model"], m);
                    Ok(())
                }
                _ => Err(Error::validation("$metadata.$model must be a model id")),
            }
        }
        ["$metadata", property, "sourceTime"] => set_source_time(doc, None, property, op),
        [comp, "$metadata", property, "sourceTime"] if is_component(comp) => {
            set_source_time(doc, Some(comp), property, op)
        }
        [first, ..] if first.starts_with('$') => Err(patch_error(format!(
            "/{}: system properties cannot be patched",
            segs.join("/")
        ))),
        [comp] if is_component(comp) => {
            if op.kind == OpKind::Remove {
                return Err(Error::validation(format!(
                    "/{comp}: a component cannot be removed"
                )));
            }
            let body = op
                .value
                .as_ref()
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    Error::validation(format!("/{comp}: a component must be a JSON object"))
                })?;
            let component = document::new_component(body, now)?;
            let whole = PatchOp {
                kind: op.kind,
                path: path.to_vec(),
                value: Some(component),
            };
            patch::apply_op(doc, &whole)
        }
        [comp, property, ..] if is_component(comp) => {
            if property.starts_with('$') {
                return Err(patch_error(format!(
                    "/{}: system properties cannot be patched",
                    segs.join("/")
                )));
            }
            patch::apply_op(doc, &with_path(op, path))?;
            touch(doc, Some(comp), property, now);
            Ok(())
        }
        [property, ..] => {
            patch::apply_op(doc, &with_path(op, path))?;
            touch(doc, None, property, now);
            Ok(())
        }
    }
}

fn with_path(op: &PatchOp, path: &[String]) -> PatchOp {
    PatchOp {
        kind: op.kind,
        path: path.to_vec(),
        value: op.value.clone(),
    }
}

fn patch_error(message: impl Into<String>) -> Error {
    Error::invalid(Invalid::JsonPatch, message)
}

/// The `$metadata` object of the twin or of one of its components, created if absent.
fn metadata_of<'a>(
    doc: &'a mut Value,
    component: Option<&str>,
) -> Option<&'a mut Map<String, Value>> {
    let owner = match component {
        Some(c) => doc.get_mut(c)?,
        None => doc,
    };
    let owner = owner.as_object_mut()?;
    owner
        .entry("$metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

/// Marks a property as just updated (its `sourceTime`, if any, is kept).
fn touch(doc: &mut Value, component: Option<&str>, property: &str, now: &str) {
    if let Some(metadata) = metadata_of(doc, component) {
        if component.is_some() {
            metadata.insert("$lastUpdateTime".into(), Value::String(now.into()));
        }
        let entry = metadata
            .entry(property.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(entry) = entry.as_object_mut() {
            entry.insert("lastUpdateTime".into(), Value::String(now.into()));
        }
    }
}

fn set_source_time(
    doc: &mut Value,
    component: Option<&str>,
    property: &str,
    op: &PatchOp,
) -> Result<()> {
    let value = match op.kind {
        OpKind::Remove => None,
        _ => {
            Some(document::checked_source_time(op.value.as_ref().unwrap_or(&Value::Null))?.clone())
        }
    };
    let metadata = metadata_of(doc, component).ok_or_else(|| {
        patch_error(format!(
            "component '{}' does not exist",
            component.unwrap_or_default()
        ))
    })?;
    let entry = metadata
        .entry(property.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    let entry = entry
        .as_object_mut()
        .ok_or_else(|| Error::Internal("property metadata is not an object".into()))?;
    match value {
        Some(v) => {
            entry.insert("sourceTime".into(), v);
        }
        None => {
            entry.remove("sourceTime");
        }
    }
    Ok(())
}

fn set_string(doc: &mut Value, path: &[&str; 2], value: &str) {
    if let Some(obj) = doc.get_mut(path[0]).and_then(Value::as_object_mut) {
        obj.insert(path[1].to_string(), Value::String(value.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn twin() -> Value {
        json!({
            "$dtId": "t", "$etag": "E",
            "temp": 1,
            "obj": {"a": 1},
            "comp": {"x": 1, "$metadata": {"$lastUpdateTime": "T0", "x": {"lastUpdateTime": "T0"}}},
            "$metadata": {"$model": "dtmi:m;1", "$lastUpdateTime": "T0",
                          "temp": {"lastUpdateTime": "T0", "sourceTime": "2020-01-01T00:00:00Z"}}
        })
    }

    fn run(patch: Value, component: Option<&str>) -> Result<Value> {
        let mut doc = twin();
        let ops = patch::parse(&patch)?;
        apply(&mut doc, &ops, component, &|k| k == "comp", "T1")?;
        Ok(doc)
    }

    #[test]
    fn property_update_keeps_source_time() {
        let doc = run(
            json!([{"op": "replace", "path": "/temp", "value": 2}]),
            None,
        )
        .unwrap();
        assert_eq!(doc["temp"], 2);
        assert_eq!(doc["$metadata"]["temp"]["lastUpdateTime"], "T1");
        assert_eq!(
            doc["$metadata"]["temp"]["sourceTime"],
            "2020-01-01T00:00:00Z"
        );
        assert_eq!(doc["$metadata"]["$lastUpdateTime"], "T1");
    }

    #[test]
    fn nested_and_component_paths() {
        let doc = run(
            json!([
                {"op": "replace", "path": "/obj/a", "value": 5},
                {"op": "add", "path": "/comp/y", "value": 2},
                {"op": "replace", "path": "/comp/$metadata/y/sourceTime", "value": "2022-05-31T12:00:01.000125009Z"},
                {"op": "replace", "path": "/$metadata/$model", "value": "dtmi:m;2"}
            ]),
            None,
        )
        .unwrap();
        assert_eq!(doc["obj"]["a"], 5);
        assert_eq!(doc["comp"]["y"], 2);
        assert_eq!(
            doc["comp"]["$metadata"]["y"]["sourceTime"],
            "2022-05-31T12:00:01.000125009Z"
        );
        assert_eq!(doc["comp"]["$metadata"]["$lastUpdateTime"], "T1");
        assert_eq!(doc["$metadata"]["$model"], "dtmi:m;2");
    }

    #[test]
    fn component_scoped_patch() {
        let doc = run(
            json!([{"op": "replace", "path": "/x", "value": 9}]),
            Some("comp"),
        )
        .unwrap();
        assert_eq!(doc["comp"]["x"], 9);
        assert_eq!(doc["comp"]["$metadata"]["x"]["lastUpdateTime"], "T1");
    }

    #[test]
    fn refusals() {
        for patch in [
            json!([{"op": "replace", "path": "/$dtId", "value": "other"}]),
            json!([{"op": "replace", "path": "/$etag", "value": "x"}]),
            json!([{"op": "remove", "path": "/comp"}]),
            json!([{"op": "replace", "path": "/obj/missing/deeper", "value": 1}]),
            json!([{"op": "replace", "path": "/$metadata/temp/sourceTime", "value": "noon"}]),
            json!([{"op": "remove", "path": "/$metadata/$model"}]),
        ] {
            assert!(run(patch.clone(), None).is_err(), "{patch}");
        }
    }
}
