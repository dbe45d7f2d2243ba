//! Exporting the whole store as a bulk file, from one snapshot. Lines carry what an import
//! needs and nothing volatile (no `$etag`, no `lastUpdateTime`), so export → import into an
//! empty store → export gives the same bytes: twins come out in twin-number order and
//! relationships in (source number, id) order, and an import numbers twins in file order.
//!
//! The calling thread reads the stored documents in key order and writes the lines; workers
//! turn chunks of documents into lines in between (at most `IN_FLIGHT` chunks at a time, so
//! memory stays bounded). A document of the common shape is rewritten from its bytes
//! (`fast_twin_line`, `fast_relationship_line`); any other goes through `twin_line` /
//! `relationship_line` on a parsed `Value`, which define the output.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use rocksdb::{IteratorMode, DB};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{json, Map, Value};

use super::format::{Section, Writer};
use crate::db::{cf_options, Engine};
use crate::error::{Error, Invalid, Result};
use crate::json_text::{string as json_str, Text};
use crate::keys::{ALL_CFS, CF_META, CF_MODELS, CF_RELS, CF_TWINS, META_BULK_LOAD};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExportProgress {
    pub models: u64,
    pub twins: u64,
    pub relationships: u64,
    /// Twins and relationships in the store, as RocksDB estimates them (for a progress bar).
    pub estimated_items: u64,
}

/// Documents per chunk handed to a worker, and chunks in flight.
const CHUNK_ITEMS: usize = 2048;
const IN_FLIGHT: usize = 8;

fn io(e: std::io::Error) -> Error {
    Error::invalid(crate::error::Invalid::Argument, format!("writing: {e}"))
}

/// Calls its argument with every stored document of a column family, in key order.
type Scan<'s> = dyn FnMut(&str, &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> + 's;

impl Engine {
    /// Writes every model, twin and relationship to `out`.
    pub fn export<W: Write>(
        &self,
        out: W,
        observe: &mut dyn FnMut(&ExportProgress),
    ) -> Result<ExportProgress> {
        let snapshot = self.snapshot();
        let models: Vec<Value> = snapshot.models().map(|m| m.definition.clone()).collect();
        let mut scan = |cf: &str, f: &mut dyn FnMut(&[u8]) -> Result<()>| {
            snapshot.scan_prefix(cf, &[], |_, value| f(value).map(|()| true))
        };
        export_from(out, &models, snapshot.twin_count(), &mut scan, observe)
    }
}

/// Exports the store at `path` without opening it as an `Engine`: a read-only RocksDB open,
/// which skips building the in-memory graph and model index an export does not need (at
/// millions of twins that is most of an open). Reads the state as of the open.
pub fn export_store<W: Write>(
    path: &Path,
    out: W,
    observe: &mut dyn FnMut(&ExportProgress),
) -> Result<ExportProgress> {
    let cfs = ALL_CFS
        .iter()
        .map(|name| rocksdb::ColumnFamilyDescriptor::new(*name, cf_options(name)));
    let db = DB::open_cf_descriptors_read_only(&rocksdb::Options::default(), path, cfs, false)?;
    let cf = |name: &str| {
        db.cf_handle(name)
            .ok_or_else(|| Error::Internal(format!("column family {name} missing")))
    };
    if db.get_cf(cf(CF_META)?, META_BULK_LOAD)?.is_some() {
        return Err(Error::invalid(
            Invalid::Argument,
            "the store has an interrupted bulk load: open it once (e.g. with `twingraph serve`) to roll it back",
        ));
    }
    let mut models = Vec::new();
    for item in db.iterator_cf(cf(CF_MODELS)?, IteratorMode::Start) {
        let (key, value) = item?;
        let id = String::from_utf8(key.to_vec())
            .map_err(|_| Error::Corruption("model id is not UTF-8".into()))?;
        models.push(crate::model::decode(&id, &value)?.definition);
    }
    let mut estimated = 0;
    for name in [CF_TWINS, CF_RELS] {
        estimated += db
            .property_int_value_cf(cf(name)?, "rocksdb.estimate-num-keys")?
            .unwrap_or(0);
    }
    let snapshot = db.snapshot();
    let mut scan = |name: &str, f: &mut dyn FnMut(&[u8]) -> Result<()>| -> Result<()> {
        for item in snapshot.iterator_cf(cf(name)?, IteratorMode::Start) {
            f(&item?.1)?;
        }
        Ok(())
    };
    export_from(out, &models, estimated, &mut scan, observe)
}

/// A chunk of stored documents: their bytes back to back, and where each ends.
struct Chunk {
    seq: u64,
    section: Section,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// A chunk's lines, newline-terminated.
struct Lines {
    seq: u64,
    section: Section,
    count: u64,
    text: Result<Vec<u8>>,
}

fn export_from<W: Write>(
    out: W,
    models: &[Value],
    estimated_items: u64,
    scan: &mut Scan<'_>,
    observe: &mut dyn FnMut(&ExportProgress),
) -> Result<ExportProgress> {
    let mut writer = Writer::new(out);
    let mut progress = ExportProgress {
        estimated_items,
        ..ExportProgress::default()
    };
    writer
        .write(
            Section::Header,
            &json!({"fileVersion": "1.0.0", "author": "twingraph", "organization": "twingraph"}),
        )
        .map_err(io)?;
    for model in models {
        writer.write(Section::Models, model).map_err(io)?;
        progress.models += 1;
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| -> Result<()> {
        let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(IN_FLIGHT);
        let (lines_tx, lines_rx) = channel::<Lines>();
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = lines_tx.clone();
            std::thread::Builder::new()
                .name("bulk-export".into())
                .spawn_scoped(scope, move || loop {
                    let next = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(chunk) = next else { return };
                    if tx.send(chunk_lines(chunk)).is_err() {
                        return;
                    }
                })
                .map_err(|e| Error::Internal(format!("starting an export thread: {e}")))?;
        }
        drop(lines_tx);
        let mut pump = Pump {
            writer: &mut writer,
            lines: lines_rx,
            waiting: BTreeMap::new(),
            written: 0,
            sent: 0,
            progress: &mut progress,
            observe,
        };
        let result = (|| {
            for (section, cf) in [
                (Section::Twins, CF_TWINS),
                (Section::Relationships, CF_RELS),
            ] {
                let mut chunk = pump.chunk(section);
                scan(cf, &mut |doc| {
                    chunk.bytes.extend_from_slice(doc);
                    chunk.ends.push(chunk.bytes.len());
                    if chunk.ends.len() >= CHUNK_ITEMS {
                        let full = std::mem::replace(&mut chunk, pump.chunk(section));
                        pump.send(full, &chunk_tx)?;
                    }
                    Ok(())
                })?;
                pump.send(chunk, &chunk_tx)?;
            }
            pump.drain(0)
        })();
        drop(chunk_tx);
        result
    })?;
    writer.finish().map_err(io)?;
    observe(&progress);
    Ok(progress)
}

/// Keeps chunks in flight and writes their lines in order.
struct Pump<'a, W: Write> {
    writer: &'a mut Writer<W>,
    lines: Receiver<Lines>,
    waiting: BTreeMap<u64, Lines>,
    written: u64,
    sent: u64,
    progress: &'a mut ExportProgress,
    observe: &'a mut dyn FnMut(&ExportProgress),
}

impl<W: Write> Pump<'_, W> {
    fn chunk(&self, section: Section) -> Chunk {
        Chunk {
            seq: 0,
            section,
            bytes: Vec::new(),
            ends: Vec::with_capacity(CHUNK_ITEMS),
        }
    }

    fn send(&mut self, mut chunk: Chunk, tx: &std::sync::mpsc::SyncSender<Chunk>) -> Result<()> {
        if chunk.ends.is_empty() {
            return Ok(());
        }
        self.drain(IN_FLIGHT - 1)?;
        chunk.seq = self.sent;
        self.sent += 1;
        tx.send(chunk)
            .map_err(|_| Error::Internal("the export workers stopped".into()))
    }

    /// Writes finished chunks in order until at most `keep` are in flight.
    fn drain(&mut self, keep: usize) -> Result<()> {
        while (self.sent - self.written) as usize > keep {
            if !self.waiting.contains_key(&self.written) {
                let lines = self
                    .lines
                    .recv()
                    .map_err(|_| Error::Internal("the export workers stopped".into()))?;
                self.waiting.insert(lines.seq, lines);
                continue;
            }
            let Some(lines) = self.waiting.remove(&self.written) else {
                continue;
            };
            self.written += 1;
            let text = lines.text?;
            self.writer.write_lines(lines.section, &text).map_err(io)?;
            match lines.section {
                Section::Twins => self.progress.twins += lines.count,
                _ => self.progress.relationships += lines.count,
            }
            (self.observe)(self.progress);
        }
        Ok(())
    }
}

fn chunk_lines(chunk: Chunk) -> Lines {
    let mut text = Vec::with_capacity(chunk.bytes.len());
    let mut start = 0;
    let mut result = Ok(());
    for &end in &chunk.ends {
        let doc = &chunk.bytes[start..end];
        start = end;
        result = match chunk.section {
            Section::Twins => line_of(doc, &mut text, fast_twin_line, twin_line),
            _ => line_of(doc, &mut text, fast_relationship_line, relationship_line),
        };
        if result.is_err() {
            break;
        }
        text.push(b'\n');
    }
    Lines {
        seq: chunk.seq,
        section: chunk.section,
        count: chunk.ends.len() as u64,
        text: result.map(|()| text),
    }
}

/// Appends the line of one stored document: the fast rewrite, or else the `Value` way.
fn line_of(
    doc: &[u8],
    out: &mut Vec<u8>,
    fast: fn(&[u8], &mut Vec<u8>) -> bool,
    slow: fn(&Value) -> Value,
) -> Result<()> {
    let mark = out.len();
    if fast(doc, out) {
        return Ok(());
    }
    out.truncate(mark);
    let value: Value = serde_json::from_slice(doc)
        .map_err(|e| Error::Corruption(format!("stored document: {e}")))?;
    serde_json::to_writer(&mut *out, &slow(&value))
        .map_err(|e| Error::Internal(format!("encoding an export line: {e}")))
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

/// `twin_line` straight from the stored bytes, for a twin without components or `sourceTime`s
/// (the stored document was printed from a map, so it has no repeated keys). Returns false,
/// with `out` partly written, for anything else.
fn fast_twin_line(doc: &[u8], out: &mut Vec<u8>) -> bool {
    let mut twin = StoredTwin::default();
    let mut de = serde_json::Deserializer::from_slice(doc);
    if (&mut twin).deserialize(&mut de).is_err() || twin.unusual {
        return false;
    }
    let (Some(id), Some(model)) = (&twin.id, &twin.model) else {
        return false;
    };
    out.extend_from_slice(b"{\"$dtId\":");
    json_str(out, id);
    out.extend_from_slice(b",\"$metadata\":{\"$model\":");
    json_str(out, model);
    out.push(b'}');
    for (key, value) in &twin.props {
        out.push(b',');
        json_str(out, key);
        out.push(b':');
        if serde_json::to_writer(&mut *out, value).is_err() {
            return false;
        }
    }
    out.push(b'}');
    true
}

/// `relationship_line` straight from the stored bytes.
fn fast_relationship_line(doc: &[u8], out: &mut Vec<u8>) -> bool {
    let mut rel = StoredRelationship::default();
    let mut de = serde_json::Deserializer::from_slice(doc);
    if (&mut rel).deserialize(&mut de).is_err() {
        return false;
    }
    let [Some(id), Some(source), Some(name), Some(target)] = &rel.fields else {
        return false;
    };
    out.extend_from_slice(b"{\"$dtId\":");
    json_str(out, source);
    out.extend_from_slice(b",\"$relationshipId\":");
    json_str(out, id);
    out.extend_from_slice(b",\"$targetId\":");
    json_str(out, target);
    out.extend_from_slice(b",\"$relationshipName\":");
    json_str(out, name);
    for (key, value) in &rel.props {
        out.push(b',');
        json_str(out, key);
        out.push(b':');
        if serde_json::to_writer(&mut *out, value).is_err() {
            return false;
        }
    }
    out.push(b'}');
    true
}

#[derive(Default)]
struct StoredTwin<'de> {
    id: Option<Cow<'de, str>>,
    model: Option<Cow<'de, str>>,
    props: Vec<(Cow<'de, str>, Value)>,
    unusual: bool,
}

impl<'de> DeserializeSeed<'de> for &mut StoredTwin<'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut StoredTwin<'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stored twin")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "$dtId" => self.id = Some(map.next_value::<Text<'de>>()?.0),
                "$metadata" => {
                    let mut meta = StoredMetadata {
                        model: None,
                        source_time: false,
                    };
                    map.next_value_seed(&mut meta)?;
                    self.model = meta.model;
                    self.unusual |= meta.source_time;
                }
                k if k.starts_with('$') => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    // A component (it has `$metadata`): left to `twin_line`.
                    self.unusual |= value.get("$metadata").is_some();
                    self.props.push((key, value));
                }
            }
        }
        Ok(())
    }
}

/// A stored twin's `$metadata`: its `$model`, and whether any property has a `sourceTime`.
struct StoredMetadata<'de> {
    model: Option<Cow<'de, str>>,
    source_time: bool,
}

impl<'de> DeserializeSeed<'de> for &mut StoredMetadata<'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut StoredMetadata<'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("twin metadata")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            if key == "$model" {
                self.model = Some(map.next_value::<Text<'de>>()?.0);
            } else if key.starts_with('$') {
                map.next_value::<IgnoredAny>()?;
            } else {
                let value = map.next_value::<Value>()?;
                self.source_time |= value.get("sourceTime").is_some();
            }
        }
        Ok(())
    }
}

/// A stored relationship: `$relationshipId`, `$sourceId`, `$relationshipName`, `$targetId`
/// and the properties.
#[derive(Default)]
struct StoredRelationship<'de> {
    fields: [Option<Cow<'de, str>>; 4],
    props: Vec<(Cow<'de, str>, Value)>,
}

impl<'de> DeserializeSeed<'de> for &mut StoredRelationship<'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut StoredRelationship<'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stored relationship")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let field = match key.as_ref() {
                "$relationshipId" => 0,
                "$sourceId" => 1,
                "$relationshipName" => 2,
                "$targetId" => 3,
                k if k.starts_with('$') => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    self.props.push((key, value));
                    continue;
                }
            };
            self.fields[field] = Some(map.next_value::<Text<'de>>()?.0);
        }
        Ok(())
    }
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

    /// Every stored document of two imported fixtures: the fast rewrite (where it applies)
    /// gives the bytes of the `Value` way.
    #[test]
    fn fast_lines_are_the_value_lines() {
        let mut fast = (0, 0);
        for name in ["good.ndjson", "generated.ndjson"] {
            let dir = tempfile::tempdir().unwrap();
            let config = crate::EngineConfig {
                sync_writes: false,
                ..crate::EngineConfig::default()
            };
            let engine = Engine::open(dir.path(), config).unwrap();
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/data/bulk")
                .join(name);
            let file = std::fs::read(path).unwrap();
            let options = crate::bulk::ImportOptions::default();
            engine.import(&file[..], &options, &mut |_| true).unwrap();
            let snapshot = engine.snapshot();
            for (cf, quick, slow) in [
                (
                    CF_TWINS,
                    fast_twin_line as fn(&[u8], &mut Vec<u8>) -> bool,
                    twin_line as fn(&Value) -> Value,
                ),
                (CF_RELS, fast_relationship_line, relationship_line),
            ] {
                snapshot
                    .scan_prefix(cf, &[], |_, doc| {
                        let expected =
                            serde_json::to_vec(&slow(&serde_json::from_slice(doc).unwrap()))
                                .unwrap();
                        let mut out = Vec::new();
                        if quick(doc, &mut out) {
                            assert_eq!(
                                String::from_utf8(out).unwrap(),
                                String::from_utf8(expected).unwrap()
                            );
                            fast.0 += 1;
                        } else {
                            fast.1 += 1;
                        }
                        Ok(true)
                    })
                    .unwrap();
            }
        }
        // good.ndjson's room1 (sourceTime, component) and room 2 (component) take the slow way.
        assert_eq!(fast.1, 2);
        assert!(fast.0 > 1000);
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
