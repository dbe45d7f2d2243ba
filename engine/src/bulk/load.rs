//! The offline bulk load: a whole file into a store that holds no twins yet, in one pass,
//! for `twingraph import` (no server has the store open).
//!
//! All or nothing makes numbering free: the first refused line ends the load with nothing
//! written, so the twin number and change sequence of every line follow from its position
//! alone. The reading thread cuts the file into chunks of one section and numbers them;
//! workers parse, validate and encode their lines (`encode.rs`) straight into blocks of
//! keys, one per column family (`sst.rs`): twin, `twin_ids`, relationship, both adjacency
//! entries, one change record per item. Relationship chunks wait until every twin is known,
//! then resolve their ends and check their models in parallel. This thread checks only what
//! depends on earlier lines (duplicate ids, the twin count, per-twin relationship limits), in
//! file order, hands the blocks on, and at the end writes `model_twins` in key order from the
//! model of every twin. The runs of blocks become SST files, ingested at the end, bypassing
//! the WAL and memtables.
//!
//! Nothing touches the store until every line has been accepted. The first refused line ends
//! the load (the caller may then run a `Mode::Check` pass to list every refused line). Then a
//! marker (`bulk\0load` in `meta`, with the first change sequence) is made durable, the files
//! are ingested, and one synced batch writes the models and counters and removes the marker.
//! An open that finds the marker (a crash during ingestion) empties the loaded column
//! families again and drops the change records from that sequence on: the store is as it was
//! before the load.
//!
//! Only into a store without twins: rolling back is then "empty these column families", and
//! no line can collide with stored data. Anything else uses `Engine::import`.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

use rocksdb::IteratorMode;
use serde_json::Value;

use super::encode::{Encoder, Staged};
use super::format::{Line, LineError, Reader, Section};
use super::ids::{Interned, TwinIds};
use super::import::{ImportOptions, ImportReport, Progress};
use super::prepare::Context;
use super::sst::{self, Block, Blocks, Pool, Runs, CDC, IN, LOADED, OUT, RELS, TWINS, TWIN_IDS};
use crate::cdc::{print_record, ChangeKind, Head};
use crate::db::{Batch, Engine, State};
use crate::error::{Error, Invalid, Result};
use crate::keys::*;
use crate::stage::{self, Edge};
use crate::{clock, limits, model, relationship};
use twingraph_dtdl::FlatModel;

/// Lines per chunk handed to a worker (at most; `ImportOptions::chunk_lines` by default),
/// and its text's size at most (a block's offsets are 32-bit; lines may be up to 4 MiB each).
pub(super) const CHUNK_LINES: usize = 4096;
const CHUNK_BYTES: usize = 16 << 20;

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
        let (mut runs, sink) = Runs::new(&dir, run_divisor(options))?;
        let mut commit = self.begin();
        let start = Numbers {
            twin: commit.next_twin,
            seq: commit.writer.next_seq,
        };
        let catalog = Catalog::new(&state);
        // Sized from the file: room for a twin and a relationship per 200 bytes of it (lines
        // in the ADT format average 110–250 bytes), so the tables of millions of ids grow at
        // most once instead of rehashing at every doubling; a file that needs more grows them.
        let expected = options.size_hint.map_or(0, |bytes| (bytes / 200) as usize);
        let mut loader = Loader {
            start,
            max_twins: self.config.max_twins,
            twins: Twins::Loading(TwinIds::with_capacity(expected)),
            rels: Interned::with_capacity(expected),
            out: Vec::new(),
            inc: Vec::new(),
            runs: &mut runs,
            counts: (0, 0),
        };
        let chunk_lines = (options.chunk_lines.min(CHUNK_LINES) / run_divisor(options)).max(8);
        let loaded = std::thread::scope(|scope| {
            // Two writers: runs of different column families are written side by side.
            let second = sink.clone();
            let writers = [
                spawn(scope, "bulk-sst", move || sink.write_runs()),
                spawn(scope, "bulk-sst", move || second.write_runs()),
            ];
            let result = match first_data {
                Some(first) => {
                    let pipeline = Pipeline {
                        catalog: &catalog,
                        pool: loader.runs.pool(),
                        start,
                        chunk_lines,
                        twins: Latch::new(),
                    };
                    load_lines(reader, first, &pipeline, &mut loader, &mut report, observe)
                }
                None => Ok(true),
            };
            let result = result.and_then(|complete| {
                if complete {
                    loader.write_model_twins(&catalog)?;
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
        let end_twin = start.twin + loader.counts.0 as u32;
        let end_seq = start.seq + loader.counts.0 + loader.counts.1;
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
        let mut marker = Batch::new(&self);
        stage::bulk_load_started(&mut marker, start.seq)?;
        marker.write(true)?;
        if let Err(e) = runs.ingest(&self) {
            runs.discard();
            self.undo_bulk_load(start.seq)?;
            return Err(e);
        }
        runs.discard();
        let mut batch = Batch::new(&self);
        for (id, record) in state.models.iter() {
            if !base.models.contains_key(id) {
                stage::model_stored(&mut batch, id, &model::encode(record)?)?;
            }
        }
        stage::next_twin(&mut batch, end_twin)?;
        stage::next_sequence(&mut batch, end_seq)?;
        stage::bulk_load_finished(&mut batch)?;
        batch.write(true)?;
        commit.writer.next_twin = end_twin;
        commit.writer.next_seq = end_seq;
        drop(commit);
        Ok(report)
    }

    /// At open: undoes a bulk load that stopped while its files were being ingested.
    pub(crate) fn recover_bulk_load(&self) -> Result<()> {
        let Some(marker) = self.db.get_cf(self.cf(CF_META)?, META_BULK_LOAD)? else {
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
        let mut batch = Batch::new(self);
        stage::bulk_load_finished(&mut batch)?;
        batch.write(true)
    }
}

/// The first twin number and change sequence of the load.
#[derive(Clone, Copy)]
struct Numbers {
    twin: u32,
    seq: u64,
}

/// What workers read: the models in force, numbered (in id order, so that `model_twins`
/// keys come out sorted by walking the numbers).
struct Catalog {
    context: Context,
    models: Vec<Arc<FlatModel>>,
    numbers: HashMap<String, u32>,
}

impl Catalog {
    fn new(state: &State) -> Catalog {
        let mut ids: Vec<&str> = state.catalog.ids().collect();
        ids.sort_unstable();
        let models: Vec<Arc<FlatModel>> = ids
            .iter()
            .filter_map(|id| state.catalog.get(id).cloned())
            .collect();
        let numbers = models
            .iter()
            .enumerate()
            .map(|(n, m)| (m.id.clone(), n as u32))
            .collect();
        Catalog {
            context: Context {
                catalog: state.catalog.clone(),
                models: state.models.clone(),
                encode: true,
            },
            models,
            numbers,
        }
    }
}

/// A value set once, that threads wait for.
struct Latch<T> {
    value: Mutex<Option<Option<T>>>,
    set: Condvar,
}

impl<T: Clone> Latch<T> {
    fn new() -> Latch<T> {
        Latch {
            value: Mutex::new(None),
            set: Condvar::new(),
        }
    }

    /// Sets the value (`None`: there will be none), unless it is set already.
    fn set(&self, value: Option<T>) {
        if let Ok(mut slot) = self.value.lock() {
            if slot.is_none() {
                *slot = Some(value);
                self.set.notify_all();
            }
        }
    }

    fn wait(&self) -> Option<T> {
        let mut slot = self.value.lock().ok()?;
        loop {
            if let Some(value) = &*slot {
                return value.clone();
            }
            slot = self.set.wait(slot).ok()?;
        }
    }
}

/// What the threads of one load share.
struct Pipeline<'c> {
    catalog: &'c Catalog,
    pool: Arc<Pool>,
    start: Numbers,
    chunk_lines: usize,
    /// Every twin of the load, once the Twins section is applied (`None`: the load stopped).
    twins: Latch<Arc<TwinIds>>,
}

/// Lines cut from the file, their text back to back (one allocation per chunk), all of one
/// section, numbered.
struct Chunk {
    number: u64,
    section: Option<Section>,
    text: String,
    lines: Vec<std::result::Result<(u64, usize, usize), LineError>>,
    /// Data lines before this chunk: its first line's change is the load's first plus this.
    first_item: u64,
    /// Twin lines before this chunk: its first twin's number is the load's first plus this.
    first_twin: u64,
    /// The last chunk of the Twins section.
    ends_twins: bool,
    /// When the chunk was cut: its twins' `$lastUpdateTime` and its changes' time, so that
    /// times never go back as sequence numbers go up.
    time: String,
    /// Bytes of the file read once it was cut.
    bytes: u64,
}

/// What the sorted runs' memory budget is divided by: tests divide it to get many small
/// files (overlapping where unsorted) from small inputs.
#[cfg(test)]
fn run_divisor(options: &ImportOptions) -> usize {
    options.run_divisor.max(1)
}

#[cfg(not(test))]
fn run_divisor(_: &ImportOptions) -> usize {
    1
}

impl Chunk {
    fn after(number: u64, first_item: u64, first_twin: u64) -> Chunk {
        Chunk {
            number,
            section: None,
            text: String::with_capacity(CHUNK_LINES * 160),
            lines: Vec::with_capacity(CHUNK_LINES),
            first_item,
            first_twin,
            ends_twins: false,
            time: String::new(),
            bytes: 0,
        }
    }

    /// The chunk that follows this one.
    fn next(&self) -> Chunk {
        let twins = match self.section {
            Some(Section::Twins) => self.lines.len() as u64,
            _ => 0,
        };
        Chunk::after(
            self.number + 1,
            self.first_item + self.lines.len() as u64,
            self.first_twin + twins,
        )
    }

    fn push(&mut self, number: u64, text: &str) {
        let start = self.text.len();
        self.text.push_str(text);
        self.lines.push(Ok((number, start, self.text.len())));
    }
}

/// The reading thread's chunk being filled, and where full chunks go.
struct Cutter {
    chunk: Chunk,
    tx: SyncSender<Chunk>,
}

impl Cutter {
    /// Sends the chunk (the file read up to `bytes`) and starts the next one; false once
    /// nothing receives chunks any more.
    fn cut(&mut self, bytes: u64) -> bool {
        let next = self.chunk.next();
        let mut full = std::mem::replace(&mut self.chunk, next);
        full.bytes = bytes;
        full.time = clock::now();
        self.tx.send(full).is_ok()
    }
}

/// A worker's output for one chunk.
struct Done {
    number: u64,
    section: Option<Section>,
    ends_twins: bool,
    /// By column family (`sst::LOADED`): twins, `twin_ids` and changes for a twin chunk;
    /// relationships, adjacency and changes for a relationship chunk; entry `i` of each is
    /// staged line `i`. The others are empty.
    blocks: Vec<Block>,
    /// Each staged line's number.
    lines: Vec<u64>,
    /// Each staged twin's model number.
    models: Vec<u32>,
    /// The chunk's first refused line: nothing after it is staged.
    failure: Option<LineError>,
    last: u64,
    bytes: u64,
}

/// Runs the pipeline over the data sections. Returns whether every line was accepted and
/// the observer never asked to stop.
fn load_lines<R: BufRead + Send>(
    mut reader: Reader<R>,
    first: Line,
    pipeline: &Pipeline<'_>,
    loader: &mut Loader<'_>,
    report: &mut ImportReport,
    observe: &mut dyn FnMut(&Progress) -> bool,
) -> Result<bool> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| -> Result<bool> {
        let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(workers * 2);
        let (done_tx, done_rx) = sync_channel::<Result<Done>>(workers * 2);
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        let reader_done = done_tx.clone();
        let chunk_lines = pipeline.chunk_lines;
        spawn(scope, "bulk-read", move || {
            let mut cutter = Cutter {
                chunk: Chunk::after(0, 0, 0),
                tx: chunk_tx,
            };
            let mut twins_ended = false;
            let mut next = Some(Ok((first.number, first.section, first.text.as_str())));
            // Bytes of the file read before the line in hand: what a chunk sent now covers.
            let mut before = reader.bytes_read();
            loop {
                match next {
                    Some(Ok((number, section, text))) => {
                        let chunk = &cutter.chunk;
                        let sent = if section == Section::Relationships && !twins_ended {
                            // Relationship chunks wait for every twin: the last twin chunk
                            // says when (an empty one when the file has no twins).
                            twins_ended = true;
                            let flushed = chunk.section == Some(Section::Twins)
                                || chunk.lines.is_empty()
                                || cutter.cut(before);
                            cutter.chunk.section = Some(Section::Twins);
                            cutter.chunk.ends_twins = true;
                            flushed && cutter.cut(before)
                        } else if chunk.lines.len() >= chunk_lines
                            || chunk.text.len() >= CHUNK_BYTES
                            || chunk.section.is_some_and(|s| s != section)
                        {
                            cutter.cut(before)
                        } else {
                            true
                        };
                        if !sent {
                            return;
                        }
                        cutter.chunk.section = Some(section);
                        cutter.chunk.push(number, text);
                    }
                    Some(Err(e)) => cutter.chunk.lines.push(Err(e)),
                    None => {
                        if !cutter.chunk.lines.is_empty() {
                            cutter.cut(before);
                        }
                        return;
                    }
                }
                before = reader.bytes_read();
                next = match reader.next_text() {
                    Ok(item) => item,
                    Err(e) => {
                        let _ = reader_done.send(Err(e));
                        return;
                    }
                };
            }
        })?;
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = done_tx.clone();
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
                    let done = stage(&chunk, pipeline, &mut encoder);
                    if tx.send(done).is_err() {
                        return;
                    }
                }
            })?;
        }
        drop(done_tx);
        let mut waiting = BTreeMap::new();
        let mut next = 0u64;
        let result = (|| {
            for message in done_rx.iter() {
                let done = message?;
                waiting.insert(done.number, done);
                while let Some(done) = waiting.remove(&next) {
                    next += 1;
                    report.progress.section = done.section;
                    let (last, bytes) = (done.last, done.bytes);
                    if let Err(e) = loader.apply(done, pipeline)? {
                        report.stopped_at = Some(e.line);
                        report.refuse(e, usize::MAX);
                        return Ok(false);
                    }
                    // (An empty chunk, the file's last twins when it has none, says 0.)
                    report.progress.line = report.progress.line.max(last);
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
        // Unblock the reader and workers whatever happened: workers waiting for the twins
        // learn there will be none, and senders find the channel closed.
        pipeline.twins.set(None);
        drop(done_rx);
        result
    })
}

/// A worker's part: one chunk to blocks of keys.
fn stage(chunk: &Chunk, pipeline: &Pipeline<'_>, encoder: &mut Encoder) -> Result<Done> {
    let cfs: &[usize] = match chunk.section {
        Some(Section::Twins) => &[TWINS, TWIN_IDS, CDC],
        Some(Section::Relationships) => &[RELS, OUT, IN, CDC],
        _ => &[],
    };
    let lines = chunk.lines.len();
    // Every column family's block, so that they are found by name; the ones a section does
    // not write stay empty and go straight back to the pool.
    let mut blocks: Vec<Block> = (0..LOADED.len()).map(|cf| pipeline.pool.take(cf)).collect();
    for &cf in cfs {
        // What each line adds, generously (reserved pages never written cost nothing): the
        // document (the line's text, an etag, metadata per property) where the block holds
        // documents, keys alone elsewhere.
        let bytes = match cf {
            TWINS | RELS => 2 * chunk.text.len() + lines * 256,
            CDC => 2 * chunk.text.len() + lines * 512,
            _ => lines * 128,
        };
        blocks[cf].reserve(lines, bytes);
    }
    let mut done = Done {
        number: chunk.number,
        section: chunk.section,
        ends_twins: chunk.ends_twins,
        blocks: Vec::new(),
        lines: Vec::with_capacity(chunk.lines.len()),
        models: Vec::new(),
        failure: None,
        last: 0,
        bytes: chunk.bytes,
    };
    let twins = match chunk.section {
        Some(Section::Relationships) => pipeline.twins.wait(),
        _ => None,
    };
    let context = &pipeline.catalog.context;
    for (i, line) in chunk.lines.iter().enumerate() {
        let (number, start, end) = match line {
            Ok(line) => *line,
            Err(e) => {
                done.last = done.last.max(e.line);
                done.failure = Some(e.clone());
                break;
            }
        };
        done.last = done.last.max(number);
        let Some(section) = chunk.section else {
            return Err(Error::Internal(
                "a bulk chunk line without a section".into(),
            ));
        };
        let text = chunk.text.get(start..end).unwrap_or_default();
        let seq = pipeline.start.seq + chunk.first_item + i as u64;
        let refused = |reason: String| LineError {
            line: number,
            reason,
        };
        match encoder.stage(number, section, text, context, &chunk.time) {
            Staged::Failed(e) => {
                done.failure = Some(e);
                break;
            }
            Staged::Twin { id, model, doc } => {
                let index = chunk.first_twin + i as u64;
                let Some(num) = u32::try_from(u64::from(pipeline.start.twin) + index)
                    .ok()
                    .filter(|n| *n < u32::MAX)
                else {
                    done.failure = Some(refused("twin numbers exhausted".into()));
                    break;
                };
                let Some(&model_number) = pipeline.catalog.numbers.get(&model.id) else {
                    return Err(Error::Internal(format!(
                        "model {} is not numbered",
                        model.id
                    )));
                };
                let mut sink = Blocks(&mut blocks);
                // `model_twins` is filed at the end, in key order (`write_model_twins`).
                stage::twin_numbered(&mut sink, id, num)?;
                stage::twin_document(&mut sink, num, doc)?;
                let head = Head {
                    seq,
                    kind: ChangeKind::TwinCreate,
                    twin_id: id,
                    subject: &[id],
                    time: &chunk.time,
                };
                stage::change(&mut sink, seq, |out| {
                    print_record(out, &head, &[], |out| out.extend_from_slice(doc))
                })?;
                done.models.push(model_number);
            }
            Staged::Relationship {
                source,
                id,
                target,
                name,
                props,
                doc,
            } => {
                let Some(twins) = &twins else {
                    // The load stopped before its twins were all known.
                    return Err(Error::Internal("relationships staged without twins".into()));
                };
                let (src, dst) = match resolve(twins, pipeline, source, target, name, props) {
                    Ok(ends) => ends,
                    Err(e) => {
                        done.failure = Some(refused(e.to_string()));
                        break;
                    }
                };
                let mut sink = Blocks(&mut blocks);
                let edge = Edge {
                    source: src,
                    name,
                    id,
                    target: dst,
                };
                stage::relationship_stored(&mut sink, edge, doc)?;
                let head = Head {
                    seq,
                    kind: ChangeKind::RelationshipCreate,
                    twin_id: source,
                    subject: &[source, "/relationships/", id],
                    time: &chunk.time,
                };
                stage::change(&mut sink, seq, |out| {
                    print_record(out, &head, &[], |out| out.extend_from_slice(doc))
                })?;
            }
        }
        done.lines.push(number);
    }
    done.blocks = blocks;
    Ok(done)
}

/// A relationship's ends as twin numbers, after the checks (and in the order, with the
/// reasons) of `apply.rs` that depend on the twins alone.
fn resolve(
    twins: &TwinIds,
    pipeline: &Pipeline<'_>,
    source: &str,
    target: &str,
    name: &str,
    props: Option<&Value>,
) -> std::result::Result<(u32, u32), Error> {
    let models = &pipeline.catalog.models;
    let model_of = |number: u32| {
        models
            .get(number as usize)
            .ok_or_else(|| Error::Internal(format!("model number {number} out of range")))
    };
    let Some((src, src_model)) = twins.get(source) else {
        return Err(Error::validation(format!(
            "source twin {source} is neither stored nor in the Twins section"
        )));
    };
    let model = model_of(src_model)?;
    let Some(def) = model.relationships.get(name) else {
        return Err(Error::invalid(
            Invalid::Relationship,
            format!(
                "relationship '{name}' is not defined on model {} of twin {source}",
                model.id
            ),
        ));
    };
    if target == source {
        return Err(Error::invalid(
            Invalid::SelfRelationship,
            "the relationship cannot connect to the same digital twin",
        ));
    }
    let Some((dst, dst_model)) = twins.get(target) else {
        return Err(Error::validation(format!(
            "target twin {target} is neither stored nor in the Twins section"
        )));
    };
    if let Some(wanted) = &def.target {
        let target_model = model_of(dst_model)?;
        if !target_model.ancestors.contains(wanted) {
            return Err(Error::invalid(
                Invalid::Relationship,
                format!(
                    "relationship '{name}' must target a twin of {wanted}; twin {target} is of {}",
                    target_model.id
                ),
            ));
        }
    }
    if let Some(props) = props {
        relationship::validate_properties(props, def)?;
    }
    let first = pipeline.start.twin;
    Ok((first + src, first + dst))
}

/// The twins of the load: added to while the Twins section is applied, then shared with
/// the relationship workers.
enum Twins {
    Loading(TwinIds),
    Known(Arc<TwinIds>),
}

impl Twins {
    fn table(&self) -> &TwinIds {
        match self {
            Twins::Loading(twins) => twins,
            Twins::Known(twins) => twins,
        }
    }
}

/// The applying thread's state. Memory: per twin its id and a few integers, per
/// relationship its key (for duplicates); documents stream through to the runs.
struct Loader<'r> {
    start: Numbers,
    max_twins: u64,
    twins: Twins,
    /// source number ‖ relationship id, of every relationship.
    rels: Interned,
    /// Outgoing and incoming relationships so far, by twin index.
    out: Vec<u32>,
    inc: Vec<u32>,
    runs: &'r mut Runs,
    /// (twins, relationships) accepted.
    counts: (u64, u64),
}

impl Loader<'_> {
    /// Checks a staged chunk's lines against the earlier lines, in order, and hands its
    /// blocks on: `Ok(Err(_))` is the first refused line.
    fn apply(
        &mut self,
        mut done: Done,
        pipeline: &Pipeline<'_>,
    ) -> Result<std::result::Result<(), LineError>> {
        let refused = match done.section {
            Some(Section::Twins) => self.twins(&done)?,
            Some(Section::Relationships) => self.relationships(&done)?,
            _ => None,
        };
        if let Some(refused) = refused.or(done.failure.take()) {
            for block in done.blocks.drain(..) {
                pipeline.pool.give(block);
            }
            return Ok(Err(refused));
        }
        for block in done.blocks.drain(..) {
            self.runs.append(block)?;
        }
        if done.ends_twins {
            let known = Twins::Known(Arc::new(TwinIds::with_capacity(0)));
            let twins = match std::mem::replace(&mut self.twins, known) {
                Twins::Loading(twins) => Arc::new(twins),
                Twins::Known(_) => return Err(Error::Internal("the twins ended twice".into())),
            };
            self.out = vec![0; twins.len()];
            self.inc = vec![0; twins.len()];
            self.twins = Twins::Known(twins.clone());
            pipeline.twins.set(Some(twins));
        }
        Ok(Ok(()))
    }

    fn twins(&mut self, done: &Done) -> Result<Option<LineError>> {
        let Twins::Loading(twins) = &mut self.twins else {
            return Err(Error::Internal("twins after the Twins section".into()));
        };
        let ids = &done.blocks[TWIN_IDS];
        for (i, (&model, &line)) in done.models.iter().zip(&done.lines).enumerate() {
            let id = ids.key(i);
            let refuse = |e: Error| {
                Ok(Some(LineError {
                    line,
                    reason: e.to_string(),
                }))
            };
            if twins.len() as u64 >= self.max_twins {
                return refuse(Error::LimitExceeded(format!(
                    "the store holds its maximum of {} twins",
                    self.max_twins
                )));
            }
            if !twins.push(id, model)? {
                return refuse(Error::validation(format!(
                    "twin {} appears twice in the file (or already exists)",
                    String::from_utf8_lossy(id)
                )));
            }
            self.counts.0 += 1;
        }
        Ok(None)
    }

    fn relationships(&mut self, done: &Done) -> Result<Option<LineError>> {
        let Twins::Known(twins) = &self.twins else {
            return Err(Error::Internal("relationships before the twins".into()));
        };
        let (rels, out) = (&done.blocks[RELS], &done.blocks[OUT]);
        let max = limits::MAX_RELATIONSHIPS_PER_TWIN as u32;
        let first = self.start.twin;
        for (i, &line) in done.lines.iter().enumerate() {
            let key = rels.key(i);
            let ends = decode_u32(key).zip(decode_u32(out.value(i)));
            let Some((src, dst)) = ends else {
                return Err(Error::Internal("a staged relationship without ends".into()));
            };
            let (s, d) = ((src - first) as usize, (dst - first) as usize);
            let refuse = |e: Error| {
                Ok(Some(LineError {
                    line,
                    reason: e.to_string(),
                }))
            };
            if !self.rels.insert(key, 0)? {
                return refuse(Error::validation(format!(
                    "relationship {} of twin {} appears twice in the file (or already exists)",
                    String::from_utf8_lossy(&key[4..]),
                    twins.id_of(src - first)
                )));
            }
            if self.out[s] >= max {
                return refuse(Error::LimitExceeded(format!(
                    "twin {} has {max} outgoing relationships, the maximum",
                    twins.id_of(src - first)
                )));
            }
            if self.inc[d] >= max {
                return refuse(Error::LimitExceeded(format!(
                    "twin {} has {max} incoming relationships, the maximum",
                    twins.id_of(dst - first)
                )));
            }
            self.out[s] += 1;
            self.inc[d] += 1;
            self.counts.1 += 1;
        }
        Ok(None)
    }

    /// Files `model_twins`: by model in id order, then by twin number (the key order, so
    /// the files need no sort and do not overlap).
    fn write_model_twins(&mut self, catalog: &Catalog) -> Result<()> {
        let models = self.twins.table().models();
        // A counting sort of twin indexes by model number.
        let mut starts = vec![0usize; catalog.models.len() + 1];
        for &m in models {
            starts[m as usize + 1] += 1;
        }
        for m in 1..starts.len() {
            starts[m] += starts[m - 1];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; models.len()];
        for (index, &m) in models.iter().enumerate() {
            order[next[m as usize]] = index as u32;
            next[m as usize] += 1;
        }
        for (m, model) in catalog.models.iter().enumerate() {
            for &index in &order[starts[m]..starts[m + 1]] {
                stage::twin_indexed(self.runs, &model.id, self.start.twin + index)?;
            }
        }
        Ok(())
    }
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
        let names = [
            "bad-json.ndjson",
            "bad-model.ndjson",
            "dangling.ndjson",
            "duplicate-id.ndjson",
            "duplicate-relationship.ndjson",
            "no-twins.ndjson",
            "unknown-model.ndjson",
            "wrong-target.ndjson",
        ];
        // One chunk per section, then chunks of a few lines (the refusal and the lines
        // before it in different chunks, relationship chunks waiting for twins that a
        // refusal means never come).
        for divisor in [1, 1 << 13] {
            for name in names {
                let options = ImportOptions {
                    run_divisor: divisor,
                    ..ImportOptions::default()
                };
                let dir = tempfile::tempdir().unwrap();
                let report = open(dir.path())
                    .bulk_load(&fixture(name)[..], &options, &mut |_| true)
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
            .put_cf(
                engine.cf(CF_META).unwrap(),
                META_BULK_LOAD,
                r#"{"startSeq":1}"#,
            )
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
