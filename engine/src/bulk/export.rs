//! Exporting the whole store as a bulk file, from one snapshot. Lines carry what an import
//! needs and nothing volatile (no `$etag`, no `lastUpdateTime`), so export → import into an
//! empty store → export gives the same bytes: twins come out in twin-number order and
//! relationships in (source number, id) order, and an import numbers twins in file order.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::format::{Section, Writer};
use crate::db::Engine;
use crate::error::{Error, Result};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExportProgress {
    pub models: u64,
    pub twins: u64,
    pub relationships: u64,
}

/// How often (in items) the observer hears about progress.
const REPORT_EVERY: u64 = 10_000;

fn io(e: std::io::Error) -> Error {
    Error::invalid(crate::error::Invalid::Argument, format!("writing: {e}"))
}

impl Engine {
    /// Writes every model, twin and relationship to `out`.
    pub fn export<W: Write>(
        &self,
        out: W,
        observe: &mut dyn FnMut(&ExportProgress),
    ) -> Result<ExportProgress> {
        let snapshot = self.snapshot();
        let mut writer = Writer::new(out);
        let mut progress = ExportProgress::default();
        writer
            .write(
                Section::Header,
                &json!({"fileVersion": "1.0.0", "author": "twingraph", "organization": "twingraph"}),
            )
            .map_err(io)?;
        for model in snapshot.models() {
            writer
                .write(Section::Models, &model.definition)
                .map_err(io)?;
            progress.models += 1;
        }
        let mut line = Vec::with_capacity(1024);
        for twin in snapshot.twins()? {
            let twin = twin?;
            line.clear();
            serde_json::to_writer(&mut line, &twin_line(&twin.doc))
                .map_err(|e| Error::Internal(format!("encoding a twin line: {e}")))?;
            writer.write_raw(Section::Twins, &line).map_err(io)?;
            progress.twins += 1;
            if progress.twins % REPORT_EVERY == 0 {
                observe(&progress);
            }
        }
        for rel in snapshot.relationships()? {
            let rel = rel?;
            line.clear();
            serde_json::to_writer(&mut line, &relationship_line(&rel.doc))
                .map_err(|e| Error::Internal(format!("encoding a relationship line: {e}")))?;
            writer
                .write_raw(Section::Relationships, &line)
                .map_err(io)?;
            progress.relationships += 1;
            if progress.relationships % REPORT_EVERY == 0 {
                observe(&progress);
            }
        }
        writer.finish().map_err(io)?;
        observe(&progress);
        Ok(progress)
    }
}

/// A stored twin as an import line: `$dtId`, `$metadata` with `$model` and any property
/// `sourceTime`s, then properties and components in stored order.
pub fn twin_line(doc: &Value) -> Value {
    let mut out = Map::new();
    let Some(obj) = doc.as_object() else {
        return Value::Object(out);
    };
    if let Some(id) = obj.get("$dtId") {
        out.insert("$dtId".into(), id.clone());
    }
    out.insert(
        "$metadata".into(),
        Value::Object(line_metadata(obj.get("$metadata"), true)),
    );
    for (key, value) in obj.iter().filter(|(k, _)| !k.starts_with('$')) {
        let component = value.as_object().filter(|m| m.contains_key("$metadata"));
        match component {
            Some(component) => {
                let mut c = Map::new();
                c.insert(
                    "$metadata".into(),
                    Value::Object(line_metadata(component.get("$metadata"), false)),
                );
                for (k, v) in component.iter().filter(|(k, _)| !k.starts_with('$')) {
                    c.insert(k.clone(), v.clone());
                }
                out.insert(key.clone(), Value::Object(c));
            }
            None => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// `$model` (twins only) and `{"sourceTime"}` of the properties that have one.
fn line_metadata(stored: Option<&Value>, with_model: bool) -> Map<String, Value> {
    let mut meta = Map::new();
    let Some(stored) = stored.and_then(Value::as_object) else {
        return meta;
    };
    if with_model {
        if let Some(model) = stored.get("$model") {
            meta.insert("$model".into(), model.clone());
        }
    }
    for (key, value) in stored.iter().filter(|(k, _)| !k.starts_with('$')) {
        if let Some(source_time) = value.get("sourceTime") {
            let mut m = Map::new();
            m.insert("sourceTime".into(), source_time.clone());
            meta.insert(key.clone(), Value::Object(m));
        }
    }
    meta
}

/// A stored relationship as an import line: the source as `$dtId`, as ADT's format has it.
pub fn relationship_line(doc: &Value) -> Value {
    let mut out = Map::new();
    let Some(obj) = doc.as_object() else {
        return Value::Object(out);
    };
    for (line_key, stored_key) in [
        ("$dtId", "$sourceId"),
        ("$relationshipId", "$relationshipId"),
        ("$targetId", "$targetId"),
        ("$relationshipName", "$relationshipName"),
    ] {
        if let Some(v) = obj.get(stored_key) {
            out.insert(line_key.into(), v.clone());
        }
    }
    for (key, value) in obj.iter().filter(|(k, _)| !k.starts_with('$')) {
        out.insert(key.clone(), value.clone());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twin_line_drops_volatile_fields() {
        let stored = json!({
            "$dtId": "r1", "$etag": "W/\"x\"", "temp": 21.5,
            "thermostat": {"setPoint": 20, "$metadata": {"$lastUpdateTime": "T",
                "setPoint": {"lastUpdateTime": "T", "sourceTime": "2022-01-01T00:00:00Z"}}},
            "$metadata": {"$model": "dtmi:a:Room;1", "$lastUpdateTime": "T",
                "temp": {"lastUpdateTime": "T"}}
        });
        assert_eq!(
            twin_line(&stored),
            json!({"$dtId": "r1", "$metadata": {"$model": "dtmi:a:Room;1"}, "temp": 21.5,
                "thermostat": {"$metadata": {"setPoint": {"sourceTime": "2022-01-01T00:00:00Z"}}, "setPoint": 20}})
        );
    }

    #[test]
    fn relationship_line_names_the_source_dt_id() {
        let stored = json!({"$relationshipId": "r", "$etag": "E", "$sourceId": "a",
            "$relationshipName": "contains", "$targetId": "b", "since": "2020"});
        let line = relationship_line(&stored);
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            r#"{"$dtId":"a","$relationshipId":"r","$targetId":"b","$relationshipName":"contains","since":"2020"}"#
        );
    }
}
