//! The offline bulk load: a whole file into a store that holds no twins yet, in one pass,
//! for `twingraph import` (no server has the store open).
//!
//! Workers turn lines into stored bytes (`encode.rs`); this thread checks what depends on
//! other lines (duplicate ids, relationship ends, their models, per-twin limits) and files
//! every key exactly as the per-operation path would write it: twin, `twin_ids`,
//! `model_twins`, relationship, both adjacency entries, one change record per item, the
//! counters. The keys go to sorted runs written as SST files (`sst.rs`), not through the
//! WAL and memtables, and are ingested at the end.
//!
//! All or nothing, in one pass: nothing touches the store until every line has been
//! accepted. The first refused line ends the load with nothing written (the caller may then
//! run a `Mode::Check` pass to list every refused line). Then a marker (`bulk\0load` in
//! `meta`, with the first change sequence) is made durable, the files are ingested, and one
//! synced batch writes the models and counters and removes the marker. An open that finds the
//! marker (a crash during ingestion) empties the loaded column families again and drops the
//! change records from that sequence on: the store is as it was before the load.
//!
//! Only into a store without twins: rolling back is then "empty these column families", and
//! no line can collide with stored data. Anything else uses `Engine::import`.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io::BufRead;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use rocksdb::{IteratorMode, WriteBatch, WriteOptions};
use serde_json::{json, Value};

use super::encode::{change_record, Encoder, Staged, Subject};
use super::format::{Line, LineError, Reader, Section};
use super::import::{ImportOptions, ImportReport, Progress};
use super::prepare::Context;
use super::sst::{self, Runs, CDC, IN, MODEL_TWINS, OUT, RELS, TWINS, TWIN_IDS};
use crate::cdc::ChangeKind;
use crate::db::{Engine, State};
use crate::dtdl::FlatModel;
use crate::error::{Error, Invalid, Result};
use crate::keys::*;
use crate::{clock, limits, model, relationship};

/// `meta` key present while a bulk load's files are being ingested.
pub(super) const BULK_LOAD: &[u8] = b"bulk\0load";

/// Lines per chunk handed to a worker.
const CHUNK_LINES: usize = 4096;

impl Engine {
    /// Whether `bulk_load` can take this store: it holds no twins (so no relationships).
    pub fn can_bulk_load(&self) -> Result<bool> {
        let empty = self.snapshot().twin_count() == 0
            && self
                .db
                .iterator_cf(self.cf(CF_RELS)?, IteratorMode::Start)
                .next()
                .is_none();
        Ok(empty && !self.config.strict_multiplicity)
    }

    /// Loads a bulk file into a store without twins (see `can_bulk_load`), all or nothing, in
    /// one pass. Returns with nothing written when a line is refused (`report.stopped_at`)
    /// or `observe` asks to stop. Consumes the engine: the in-memory graph and model index
    /// are built from the loaded store at the next open, as for any store.
    pub fn bulk_load<R: BufRead + Send>(
        self,
        input: R,
        options: &ImportOptions,
        observe: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<ImportReport> {
        if !self.can_bulk_load()? {
            return Err(Error::invalid(
                Invalid::Argument,
                "a bulk load needs a store without twins",
            ));
        }
        let mut reader = Reader::new(input);
        let mut report = ImportReport::default();
        let (models, first_data) = self.read_front(&mut reader, options, &mut report)?;
        if report.progress.errors > 0 {
            report.stopped_at = report.errors.first().map(|e| e.line);
            return Ok(report);
        }
        let base = self.state();
        let checking = ImportOptions {
            mode: super::Mode::Check,
            ..options.clone()
        };
        let state = self.import_models(models, &checking, &mut report)?;
        if report.progress.errors > 0 {
            report.stopped_at = report.errors.first().map(|e| e.line);
            return Ok(report);
        }
        if !observe(&report.progress) {
            report.cancelled = true;
            return Ok(report);
        }
        let dir = self.db.path().join("bulk-load");
        let (mut runs, sink) = Runs::new(&dir, options.run_divisor)?;
        let mut commit = self.begin();
        let start_seq = commit.writer.next_seq;
        // Sized from the file: room for a twin and a relationship per 200 bytes of it (lines
        // in the ADT format average 110–250 bytes), so the tables of millions of ids grow at
        // most once instead of rehashing at every doubling; a file that needs more grows them.
        let expected = options.size_hint.map_or(0, |bytes| (bytes / 200) as usize);
        let mut loader = Loader {
            next_twin: commit.next_twin,
            next_seq: start_seq,
            max_twins: self.config.max_twins,
            ids: HashMap::with_capacity_and_hasher(expected, Seeded::new()),
            twins: Vec::with_capacity(expected),
            model_numbers: HashMap::new(),
            models: Vec::new(),
            rels: HashSet::with_capacity_and_hasher(expected, Seeded::new()),
            record: Vec::new(),
            key: Vec::new(),
            runs: &mut runs,
            counts: (0, 0),
        };
        let loaded = std::thread::scope(|scope| {
            // Two writers: runs of different column families are written side by side.
            let second = sink.clone();
            let writers = [
                spawn(scope, "bulk-sst", move || sink.write_runs()),
                spawn(scope, "bulk-sst", move || second.write_runs()),
            ];
            let result = match first_data {
                Some(first) => load_lines(reader, first, &state, &mut loader, &mut report, observe),
                None => Ok(true),
            };
            let result = result.and_then(|complete| {
                if complete {
                    loader.runs.finish()?;
                }
                Ok(complete)
            });
            // Whatever happened, stop feeding the writer so that it ends.
            loader.runs.close();
            let mut written = Ok(());
            for writer in writers {
                let done = writer.and_then(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(Error::Internal("an SST writer panicked".into())))
                });
                written = written.and(done);
            }
            match (result, written) {
                (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                (Ok(complete), Ok(())) => Ok(complete),
            }
        });
        let (end_seq, end_twin) = (loader.next_seq, loader.next_twin);
        drop(loader);
        match loaded {
            Ok(true) => {}
            Ok(false) => {
                runs.discard();
                return Ok(report);
            }
            Err(e) => {
                runs.discard();
                return Err(e);
            }
        }
        // From here on the store changes: the marker first, durably.
        let meta = self.cf(CF_META)?;
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        self.db.put_cf_opt(
            meta,
            BULK_LOAD,
            json!({"startSeq": start_seq}).to_string(),
            &synced,
        )?;
        if let Err(e) = runs.ingest(&self, options.ingest_pause) {
            runs.discard();
            self.undo_bulk_load(start_seq)?;
            return Err(e);
        }
        runs.discard();
        let mut batch = WriteBatch::default();
        for (id, record) in state.models.iter() {
            if !base.models.contains_key(id) {
                batch.put_cf(self.cf(CF_MODELS)?, id.as_bytes(), model::encode(record)?);
            }
        }
        batch.put_cf(meta, META_NEXT_TWIN, end_twin.to_be_bytes());
        batch.put_cf(meta, META_NEXT_SEQ, end_seq.to_be_bytes());
        batch.delete_cf(meta, BULK_LOAD);
        self.db.write_opt(batch, &synced)?;
        commit.writer.next_twin = end_twin;
        commit.writer.next_seq = end_seq;
        drop(commit);
        Ok(report)
    }

    /// At open: undoes a bulk load that stopped while its files were being ingested.
    pub(crate) fn recover_bulk_load(&self) -> Result<()> {
        let Some(marker) = self.db.get_cf(self.cf(CF_META)?, BULK_LOAD)? else {
            return Ok(());
        };
        let marker: Value = serde_json::from_slice(&marker)
            .map_err(|e| Error::Corruption(format!("bulk load marker: {e}")))?;
        let start_seq = marker["startSeq"]
            .as_u64()
            .ok_or_else(|| Error::Corruption("bulk load marker without startSeq".into()))?;
        let _ = std::fs::remove_dir_all(self.db.path().join("bulk-load"));
        self.undo_bulk_load(start_seq)
    }

    fn undo_bulk_load(&self, start_seq: u64) -> Result<()> {
        sst::wipe(self, start_seq)?;
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        self.db
            .delete_cf_opt(self.cf(CF_META)?, BULK_LOAD, &synced)?;
        Ok(())
    }
}

/// A seeded multiply-rotate hash for the loader's maps of millions of ids, where SipHash
/// was a tenth of the applying thread's time. Seeded per map from `RandomState`, so a file
/// cannot be prepared to make them collide.
#[derive(Clone)]
struct Seeded(u64);

impl Seeded {
    fn new() -> Seeded {
        Seeded(std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
    }
}

impl BuildHasher for Seeded {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

struct SeededHasher(u64);

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for SeededHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            h = (h ^ u64::from_le_bytes(w))
                .wrapping_mul(MIX)
                .rotate_left(29);
        }
        let mut tail = [0u8; 8];
        tail[..words.remainder().len()].copy_from_slice(words.remainder());
        h = (h ^ u64::from_le_bytes(tail) ^ bytes.len() as u64).wrapping_mul(MIX);
        self.0 = h.rotate_left(29);
    }

    fn finish(&self) -> u64 {
        let h = (self.0 ^ (self.0 >> 31)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        h ^ (h >> 32)
    }
}

/// One twin the load has accepted.
struct Slot {
    model: u32,
    out: u32,
    inc: u32,
}

/// What the applying thread knows. Memory: per twin its id and a few integers, per
/// relationship its key (for duplicates); documents stream through to the runs.
struct Loader<'r> {
    next_twin: u32,
    next_seq: u64,
    max_twins: u64,
    ids: HashMap<Box<str>, u32, Seeded>,
    /// By twin number minus the first number of the load.
    twins: Vec<Slot>,
    model_numbers: HashMap<String, u32>,
    models: Vec<Arc<FlatModel>>,
    /// source number ‖ relationship id.
    rels: HashSet<Box<[u8]>, Seeded>,
    record: Vec<u8>,
    key: Vec<u8>,
    runs: &'r mut Runs,
    /// (twins, relationships) accepted.
    counts: (u64, u64),
}

/// A refusal: the line's reason, as the per-operation path words it.
type Refused = std::result::Result<(), Error>;

impl Loader<'_> {
    fn first_twin(&self) -> u32 {
        self.next_twin - self.twins.len() as u32
    }

    fn slot(&self, id: &str) -> Option<(u32, &Slot)> {
        let num = *self.ids.get(id)?;
        Some((num, &self.twins[(num - self.first_twin()) as usize]))
    }

    fn model_number(&mut self, model: &Arc<FlatModel>) -> u32 {
        if let Some(n) = self.model_numbers.get(&model.id) {
            return *n;
        }
        let n = self.models.len() as u32;
        self.models.push(model.clone());
        self.model_numbers.insert(model.id.clone(), n);
        n
    }

    /// Checks and files one item: `Ok(Err(_))` is a refused line.
    fn item(&mut self, item: Staged, time: &str) -> Result<std::result::Result<(), LineError>> {
        let (line, outcome) = match item {
            Staged::Failed(e) => return Ok(Err(e)),
            Staged::Twin {
                line,
                id,
                model,
                doc,
            } => (line, self.twin(id, &model, &doc, time)?),
            Staged::Relationship {
                line,
                source,
                id,
                target,
                name,
                props,
                doc,
            } => (
                line,
                self.relationship(&source, &id, &target, &name, props, &doc, time)?,
            ),
        };
        Ok(outcome.map_err(|e| LineError {
            line,
            reason: e.to_string(),
        }))
    }

    fn twin(
        &mut self,
        id: String,
        model: &Arc<FlatModel>,
        doc: &[u8],
        time: &str,
    ) -> Result<Refused> {
        if self.ids.contains_key(id.as_str()) {
            return Ok(Err(Error::validation(format!(
                "twin {id} appears twice in the file (or already exists)"
            ))));
        }
        if self.twins.len() as u64 >= self.max_twins {
            return Ok(Err(Error::LimitExceeded(format!(
                "the store holds its maximum of {} twins",
                self.max_twins
            ))));
        }
        let num = self.next_twin;
        let Some(next) = num.checked_add(1) else {
            return Ok(Err(Error::LimitExceeded("twin numbers exhausted".into())));
        };
        self.next_twin = next;
        let model_number = self.model_number(model);
        self.twins.push(Slot {
            model: model_number,
            out: 0,
            inc: 0,
        });
        let key = twin_key(num);
        self.runs.put(TWINS, &key, doc)?;
        self.runs.put(TWIN_IDS, id.as_bytes(), &key)?;
        self.runs
            .put(MODEL_TWINS, &model_twin_key(&model.id, num), &[])?;
        let seq = self.next_seq;
        self.next_seq += 1;
        change_record(
            &mut self.record,
            seq,
            ChangeKind::TwinCreate,
            &id,
            Subject::Twin,
            time,
            doc,
        );
        self.runs.put(CDC, &cdc_key(seq), &self.record)?;
        self.ids.insert(id.into_boxed_str(), num);
        self.counts.0 += 1;
        Ok(Ok(()))
    }

    #[allow(clippy::too_many_arguments)]
    fn relationship(
        &mut self,
        source: &str,
        id: &str,
        target: &str,
        name: &str,
        props: Option<Value>,
        doc: &[u8],
        time: &str,
    ) -> Result<Refused> {
        // The checks and reasons of `apply.rs`, in its order.
        let Some((src, src_slot)) = self.slot(source) else {
            return Ok(Err(Error::validation(format!(
                "source twin {source} is neither stored nor in the Twins section"
            ))));
        };
        let model = self.models[src_slot.model as usize].clone();
        let Some(def) = model.relationships.get(name) else {
            return Ok(Err(Error::invalid(
                Invalid::Relationship,
                format!(
                    "relationship '{name}' is not defined on model {} of twin {source}",
                    model.id
                ),
            )));
        };
        if target == source {
            return Ok(Err(Error::invalid(
                Invalid::SelfRelationship,
                "the relationship cannot connect to the same digital twin",
            )));
        }
        let Some((dst, dst_slot)) = self.slot(target) else {
            return Ok(Err(Error::validation(format!(
                "target twin {target} is neither stored nor in the Twins section"
            ))));
        };
        if let Some(wanted) = &def.target {
            let target_model = &self.models[dst_slot.model as usize];
            if !target_model.ancestors.contains(wanted) {
                return Ok(Err(Error::invalid(
                    Invalid::Relationship,
                    format!(
                        "relationship '{name}' must target a twin of {wanted}; twin {target} is of {}",
                        target_model.id
                    ),
                )));
            }
        }
        if let Some(props) = &props {
            if let Err(e) = relationship::validate_properties(props, def) {
                return Ok(Err(e));
            }
        }
        self.key.clear();
        self.key.extend_from_slice(&twin_key(src));
        self.key.extend_from_slice(id.as_bytes());
        if self.rels.contains(self.key.as_slice()) {
            return Ok(Err(Error::validation(format!(
                "relationship {id} of twin {source} appears twice in the file (or already exists)"
            ))));
        }
        let max = limits::MAX_RELATIONSHIPS_PER_TWIN as u32;
        let first = self.first_twin();
        if self.twins[(src - first) as usize].out >= max {
            return Ok(Err(Error::LimitExceeded(format!(
                "twin {source} has {max} outgoing relationships, the maximum"
            ))));
        }
        if self.twins[(dst - first) as usize].inc >= max {
            return Ok(Err(Error::LimitExceeded(format!(
                "twin {target} has {max} incoming relationships, the maximum"
            ))));
        }
        self.twins[(src - first) as usize].out += 1;
        self.twins[(dst - first) as usize].inc += 1;
        self.runs.put(RELS, &self.key, doc)?;
        self.rels.insert(self.key.as_slice().into());
        self.runs
            .put(OUT, &out_edge_key(src, name, id), &twin_key(dst))?;
        self.runs
            .put(IN, &in_edge_key(dst, src, id), name.as_bytes())?;
        let seq = self.next_seq;
        self.next_seq += 1;
        change_record(
            &mut self.record,
            seq,
            ChangeKind::RelationshipCreate,
            source,
            Subject::Relationship(id),
            time,
            doc,
        );
        self.runs.put(CDC, &cdc_key(seq), &self.record)?;
        self.counts.1 += 1;
        Ok(Ok(()))
    }
}

/// Lines cut from the file, their text back to back (one allocation per chunk, freed by the
/// worker: per-line strings freed on another thread cost more in malloc than the parsing).
struct Chunk {
    number: u64,
    text: String,
    lines: Vec<std::result::Result<(u64, Section, usize, usize), LineError>>,
    /// Bytes of the file read once it was cut.
    bytes: u64,
}

impl Chunk {
    fn new(number: u64) -> Chunk {
        Chunk {
            number,
            text: String::with_capacity(CHUNK_LINES * 160),
            lines: Vec::with_capacity(CHUNK_LINES),
            bytes: 0,
        }
    }

    fn push(&mut self, number: u64, section: Section, text: &str) {
        let start = self.text.len();
        self.text.push_str(text);
        self.lines
            .push(Ok((number, section, start, self.text.len())));
    }
}

/// (chunk number, staged items, last line, bytes read)
type Done = (u64, Vec<Staged>, u64, u64);

/// Runs the pipeline over the data sections. Returns whether every line was accepted and
/// the observer never asked to stop.
fn load_lines<R: BufRead + Send>(
    mut reader: Reader<R>,
    first: Line,
    state: &State,
    loader: &mut Loader<'_>,
    report: &mut ImportReport,
    observe: &mut dyn FnMut(&Progress) -> bool,
) -> Result<bool> {
    let context = Context {
        catalog: state.catalog.clone(),
        models: state.models.clone(),
        encode: true,
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| -> Result<bool> {
        let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(workers * 2);
        let (done_tx, done_rx) = sync_channel::<Result<Done>>(workers * 2);
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        let reader_done = done_tx.clone();
        spawn(scope, "bulk-read", move || {
            let mut chunk = Chunk::new(0);
            chunk.push(first.number, first.section, &first.text);
            loop {
                let item = match reader.next_text() {
                    Ok(item) => item,
                    Err(e) => {
                        let _ = reader_done.send(Err(e));
                        return;
                    }
                };
                let end = item.is_none();
                match item {
                    Some(Ok((number, section, text))) => chunk.push(number, section, text),
                    Some(Err(e)) => chunk.lines.push(Err(e)),
                    None => {}
                }
                if (end && !chunk.lines.is_empty()) || chunk.lines.len() >= CHUNK_LINES {
                    let next = Chunk::new(chunk.number + 1);
                    let mut full = std::mem::replace(&mut chunk, next);
                    full.bytes = reader.bytes_read();
                    if chunk_tx.send(full).is_err() {
                        return;
                    }
                }
                if end {
                    return;
                }
            }
        })?;
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = done_tx.clone();
            let context = &context;
            spawn(scope, "bulk-stage", move || {
                let mut encoder = Encoder::new();
                loop {
                    let next = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(chunk) = next else {
                        return;
                    };
                    let now = clock::now();
                    let mut last = 0;
                    let staged: Vec<Staged> = chunk
                        .lines
                        .into_iter()
                        .map(|item| match item {
                            Ok((number, section, start, end)) => {
                                last = last.max(number);
                                let text = chunk.text.get(start..end).unwrap_or_default();
                                encoder.stage(number, section, text, context, &now)
                            }
                            Err(e) => {
                                last = last.max(e.line);
                                Staged::Failed(e)
                            }
                        })
                        .collect();
                    let (number, bytes) = (chunk.number, chunk.bytes);
                    if tx.send(Ok((number, staged, last, bytes))).is_err() {
                        return;
                    }
                }
            })?;
        }
        drop(done_tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0u64;
        let result = (|| {
            for message in done_rx.iter() {
                let (number, items, last, bytes) = message?;
                waiting.insert(number, (items, last, bytes));
                while let Some((items, last, bytes)) = waiting.remove(&next) {
                    next += 1;
                    let time = clock::now();
                    for item in items {
                        let line = item_line(&item);
                        report.progress.section = Some(match item {
                            Staged::Relationship { .. } => Section::Relationships,
                            _ => Section::Twins,
                        });
                        if let Err(e) = loader.item(item, &time)? {
                            report.refuse(e, usize::MAX);
                            report.stopped_at = Some(line);
                            return Ok(false);
                        }
                    }
                    report.progress.line = last;
                    report.progress.bytes = bytes;
                    report.progress.twins = loader.counts.0;
                    report.progress.relationships = loader.counts.1;
                    if !observe(&report.progress) {
                        report.cancelled = true;
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })();
        // Unblock the reader and workers whatever happened.
        drop(done_rx);
        result
    })
}

/// A named thread (names show in profiles and debuggers).
fn spawn<'s, T: Send + 's>(
    scope: &'s std::thread::Scope<'s, '_>,
    name: &str,
    f: impl FnOnce() -> T + Send + 's,
) -> Result<std::thread::ScopedJoinHandle<'s, T>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, f)
        .map_err(|e| Error::Internal(format!("starting a bulk load thread: {e}")))
}

fn item_line(item: &Staged) -> u64 {
    match item {
        Staged::Twin { line, .. } | Staged::Relationship { line, .. } => *line,
        Staged::Failed(e) => e.line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::Mode;
    use crate::EngineConfig;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/bulk")
            .join(name);
        std::fs::read(path).unwrap()
    }

    fn open(dir: &std::path::Path) -> Engine {
        let config = EngineConfig {
            sync_writes: false,
            ..EngineConfig::default()
        };
        Engine::open(dir, config).unwrap()
    }

    /// Etags and times are the only things two loads of one file may differ in.
    fn normalized(bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        let etag = regex::Regex::new(r#"W/\\"[0-9a-f-]{36}\\""#).unwrap();
        let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z").unwrap();
        let text = etag.replace_all(&text, "ETAG");
        time.replace_all(&text, "TIME").into_owned()
    }

    fn contents(engine: &Engine, cf: &str) -> Vec<(Vec<u8>, String)> {
        engine
            .db
            .iterator_cf(engine.cf(cf).unwrap(), IteratorMode::Start)
            .map(|item| {
                let (k, v) = item.unwrap();
                (k.to_vec(), normalized(&v))
            })
            .collect()
    }

    fn assert_consistent(engine: &Engine) {
        let report = engine.check_integrity().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn bulk_load_writes_what_import_writes() {
        for file in ["good.ndjson", "generated.ndjson"] {
            let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let imported = open(a.path());
            let report = imported
                .import(&fixture(file)[..], &ImportOptions::default(), &mut |_| true)
                .unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            let loaded = open(b.path());
            assert!(loaded.can_bulk_load().unwrap());
            let mut calls = 0;
            // Runs of a few KiB: many files per column family, overlapping where unsorted.
            let options = ImportOptions {
                run_divisor: 1 << 13,
                ..ImportOptions::default()
            };
            let report = loaded
                .bulk_load(&fixture(file)[..], &options, &mut |_| {
                    calls += 1;
                    true
                })
                .unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            assert!(calls >= 2, "progress after the models and after each chunk");
            assert!(!b.path().join("bulk-load").exists());
            let loaded = open(b.path());
            assert_consistent(&loaded);
            for cf in crate::keys::ALL_CFS {
                if cf == CF_META || cf == CF_MODELS {
                    continue;
                }
                assert_eq!(
                    contents(&imported, cf),
                    contents(&loaded, cf),
                    "{file}: {cf}"
                );
            }
            let models = |e: &Engine| -> Vec<Vec<u8>> {
                contents(e, CF_MODELS).into_iter().map(|(k, _)| k).collect()
            };
            assert_eq!(models(&imported), models(&loaded));
            assert_eq!(imported.next_sequence(), loaded.next_sequence());
            let export = |e: &Engine| {
                let mut out = Vec::new();
                e.export(&mut out, &mut |_| {}).unwrap();
                out
            };
            assert_eq!(export(&imported), export(&loaded), "{file}");
            assert!(!loaded.can_bulk_load().unwrap(), "the store has twins now");
        }
    }

    #[test]
    fn a_refused_line_loads_nothing() {
        for name in [
            "bad-json.ndjson",
            "bad-model.ndjson",
            "dangling.ndjson",
            "duplicate-id.ndjson",
            "unknown-model.ndjson",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let report = open(dir.path())
                .bulk_load(&fixture(name)[..], &ImportOptions::default(), &mut |_| true)
                .unwrap();
            assert_eq!(report.errors.len(), 1, "{name}");
            assert_eq!(report.stopped_at, Some(report.errors[0].line), "{name}");
            // The same first refusal, in the same words, as the check pass.
            let check = open(tempfile::tempdir().unwrap().path())
                .import(
                    &fixture(name)[..],
                    &ImportOptions {
                        mode: Mode::Check,
                        ..ImportOptions::default()
                    },
                    &mut |_| true,
                )
                .unwrap();
            assert_eq!(report.errors[0], check.errors[0], "{name}");
            let engine = open(dir.path());
            assert_eq!(engine.snapshot().twin_count(), 0, "{name}");
            assert_eq!(engine.snapshot().models().count(), 0, "{name}");
            assert_eq!(engine.next_sequence(), 1, "{name}");
            assert!(!dir.path().join("bulk-load").exists());
        }
    }

    #[test]
    fn a_load_interrupted_during_ingestion_is_undone_at_open() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path())
            .bulk_load(
                &fixture("good.ndjson")[..],
                &ImportOptions::default(),
                &mut |_| true,
            )
            .unwrap();
        // As if the final batch had not happened: the marker is still there.
        let engine = open(dir.path());
        engine
            .db
            .put_cf(engine.cf(CF_META).unwrap(), BULK_LOAD, r#"{"startSeq":1}"#)
            .unwrap();
        drop(engine);
        let engine = open(dir.path());
        assert_eq!(engine.snapshot().twin_count(), 0);
        for (cf, _) in sst::LOADED {
            assert!(contents(&engine, cf).is_empty(), "{cf}");
        }
        assert_consistent(&engine);
        assert!(engine.can_bulk_load().unwrap());
    }
}
