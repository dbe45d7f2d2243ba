//! Importing a bulk file: the Header and Models sections on the calling thread, then Twins
//! and Relationships through a pipeline: one reader thread cuts the file into chunks of
//! lines, workers prepare chunks in parallel (`prepare.rs`), and the calling thread applies
//! them in file order (`apply.rs`), one `WriteBatch` per chunk.
//!
//! Memory is bounded by the channels (a few chunks in flight) plus what `Known` remembers
//! per twin; the file is never held whole.
//!
//! Each committed chunk is consistent on its own (data, indexes, graph and change records in
//! one batch), so a store is consistent after any crash. With a `job` the chunk also records
//! the last line it covers, so an interrupted job resumes after exactly that line.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::apply::{Apply, Counts, Known};
use super::format::{Line, LineError, ReadItem, Reader, Section};
use super::prepare::{parse_line, prepare, Context, Prepared};
use crate::db::{build_catalog, Engine, State};
use crate::error::{Error, Result};
use crate::model::StoredModel;
use crate::stage::{self, Sink};
use crate::{clock, model};
use twingraph_dtdl as dtdl;

/// Models per import, as ADT limits import jobs.
pub const MAX_MODELS_PER_IMPORT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Validate every line against the store and the rest of the file; write nothing.
    Check,
    /// Write, chunk by chunk.
    Write,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub mode: Mode,
    /// Write: keep going after a refused line (it is reported and skipped). Without it the
    /// import stops at the first refused line, keeping the lines before it.
    pub continue_on_error: bool,
    /// Lines per chunk: per `WriteBatch` when importing into a store with twins, per worker
    /// hand-off (at most 4096) in a bulk load.
    pub chunk_lines: usize,
    /// Threads preparing chunks.
    pub workers: usize,
    /// Record progress under this job id in every batch (see `Engine::job_progress`).
    pub job: Option<String>,
    /// Skip lines up to and including this one (a resumed job).
    pub resume_after_line: u64,
    /// Errors kept in the report; more are only counted.
    pub max_errors: usize,
    /// `bulk_load` in tests only: divides the memory budget of its sorted runs (more,
    /// smaller files).
    #[cfg(test)]
    pub(crate) run_divisor: usize,
    /// `bulk_load` only: the input's size in bytes, when known, to size its tables of ids
    /// once instead of growing them (rehashing a million ids several times over).
    pub size_hint: Option<u64>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            mode: Mode::Write,
            continue_on_error: false,
            chunk_lines: super::load::CHUNK_LINES,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            job: None,
            resume_after_line: 0,
            max_errors: 1000,
            #[cfg(test)]
            run_divisor: 1,
            size_hint: None,
        }
    }
}

/// Where an import is, reported after every chunk.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the file read so far.
    pub bytes: u64,
    /// Last line applied.
    pub line: u64,
    /// The section being read.
    pub section: Option<Section>,
    pub models: u64,
    pub twins: u64,
    pub relationships: u64,
    pub errors: u64,
}

#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    pub progress: Progress,
    /// Refused lines, in line order (at most `max_errors`; `progress.errors` counts all).
    pub errors: Vec<LineError>,
    /// The Header line, when there was one.
    pub header: Option<Value>,
    /// The observer asked to stop.
    pub cancelled: bool,
    /// Writing stopped at this refused line (no `continue_on_error`).
    pub stopped_at: Option<u64>,
}

impl ImportReport {
    pub(super) fn refuse(&mut self, error: LineError, max: usize) {
        self.progress.errors += 1;
        if self.errors.len() < max {
            self.errors.push(error);
        }
    }
}

/// The Models section's documents (with their lines) and the first data line.
pub(super) type Front = (Vec<(u64, Value)>, Option<Line>);

/// A chunk of lines on its way through the pipeline.
/// (chunk number, lines, bytes of the file read once it was cut)
type Chunk = (u64, Vec<ReadItem>, u64);
/// (chunk number, prepared items, last line, bytes read)
type Done = (u64, Vec<Prepared>, u64, u64);

impl Engine {
    /// Imports (or, in `Mode::Check`, checks) a bulk file. `observe` sees the progress after
    /// every chunk; returning `false` stops the import after that chunk.
    pub fn import<R: BufRead + Send>(
        &self,
        input: R,
        options: &ImportOptions,
        observe: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<ImportReport> {
        let mut reader = Reader::new(input);
        let mut report = ImportReport::default();
        let (models, first_data) = self.read_front(&mut reader, options, &mut report)?;
        let stop_early =
            options.mode == Mode::Write && !options.continue_on_error && report.progress.errors > 0;
        if stop_early {
            report.stopped_at = report.errors.first().map(|e| e.line);
            return Ok(report);
        }
        let state = self.import_models(models, options, &mut report)?;
        if options.mode == Mode::Write && !options.continue_on_error && report.progress.errors > 0 {
            report.stopped_at = report.errors.first().map(|e| e.line);
            return Ok(report);
        }
        if !observe(&report.progress) {
            report.cancelled = true;
            return Ok(report);
        }
        if let Some(first) = first_data {
            self.import_data(reader, first, state, options, &mut report, observe)?;
        }
        if options.mode == Mode::Write {
            // The WAL may not be synced per chunk (`sync_writes` off for a CLI import).
            self.db.flush_wal(true)?;
        }
        Ok(report)
    }

    /// Reads the Header and Models sections, up to the first Twins or Relationships line.
    pub(super) fn read_front<R: BufRead>(
        &self,
        reader: &mut Reader<R>,
        options: &ImportOptions,
        report: &mut ImportReport,
    ) -> Result<Front> {
        let mut models: Vec<(u64, Value)> = Vec::new();
        // Header and Models: read on this thread up to the first Twins or Relationships line.
        let first_data = loop {
            let Some(item) = reader.next_line()? else {
                break None;
            };
            let line = match item {
                Ok(line) => line,
                Err(e) => {
                    report.refuse(e, options.max_errors);
                    continue;
                }
            };
            if line.number <= options.resume_after_line {
                report.progress.section = Some(line.section);
                continue;
            }
            match line.section {
                Section::Header => {
                    report.progress.section = Some(Section::Header);
                    match parse_line(&line) {
                        Ok(v) if report.header.is_none() && v.is_object() => {
                            report.header = Some(v)
                        }
                        Ok(_) => report.refuse(
                            LineError {
                                line: line.number,
                                reason: "the Header section holds one JSON object".into(),
                            },
                            options.max_errors,
                        ),
                        Err(reason) => report.refuse(
                            LineError {
                                line: line.number,
                                reason,
                            },
                            options.max_errors,
                        ),
                    }
                }
                Section::Models => {
                    report.progress.section = Some(Section::Models);
                    match parse_line(&line) {
                        Ok(v) => models.push((line.number, v)),
                        Err(reason) => report.refuse(
                            LineError {
                                line: line.number,
                                reason,
                            },
                            options.max_errors,
                        ),
                    }
                    if models.len() > MAX_MODELS_PER_IMPORT {
                        return Err(Error::LimitExceeded(format!(
                            "more than {MAX_MODELS_PER_IMPORT} models in one import (line {})",
                            line.number
                        )));
                    }
                }
                Section::Twins | Section::Relationships => break Some(line),
            }
        };
        report.progress.bytes = reader.bytes_read();
        Ok((models, first_data))
    }

    /// Validates the Models section as one model set (models may reference each other in any
    /// order) and, when writing, stores it in one batch. Returns the state twins are checked
    /// against: the store's models plus the file's.
    pub(super) fn import_models(
        &self,
        mut models: Vec<(u64, Value)>,
        options: &ImportOptions,
        report: &mut ImportReport,
    ) -> Result<State> {
        let base = self.state();
        if models.is_empty() {
            return Ok(base);
        }
        // An identical model already stored is skipped, so a file can be imported again
        // after its models went in; a different one with the same id is refused.
        let mut fresh = Vec::new();
        for (line, doc) in models.drain(..) {
            let id = doc.get("@id").and_then(Value::as_str).map(str::to_string);
            match id.as_ref().and_then(|id| base.models.get(id)) {
                Some(stored) if stored.definition == doc => {}
                Some(stored) => report.refuse(
                    LineError {
                        line,
                        reason: format!(
                            "model {} already exists with a different definition; models are immutable",
                            stored.id
                        ),
                    },
                    options.max_errors,
                ),
                None => fresh.push((line, doc)),
            }
        }
        // Drop each refused document and validate the rest again; every round removes at
        // least one document, so this ends.
        let accepted = loop {
            if fresh.is_empty() {
                break Vec::new();
            }
            let docs: Vec<Value> = fresh.iter().map(|(_, d)| d.clone()).collect();
            let lookup = |id: &str| base.models.get(id).map(|m| m.definition.clone());
            match dtdl::validate_batch(&docs, &lookup, &dtdl::Options::default()) {
                Ok(interfaces) => break interfaces,
                Err(errors) => {
                    let mut bad: BTreeMap<usize, Vec<String>> = BTreeMap::new();
                    for e in &errors {
                        bad.entry(e.document.unwrap_or(0))
                            .or_default()
                            .push(e.to_string());
                    }
                    for (i, reasons) in bad.iter().rev() {
                        if *i < fresh.len() {
                            let (line, _) = fresh.remove(*i);
                            report.refuse(
                                LineError {
                                    line,
                                    reason: format!("invalid DTDL: {}", reasons.join("; ")),
                                },
                                options.max_errors,
                            );
                        }
                    }
                }
            }
        };
        let now = clock::now();
        let mut stored = (*base.models).clone();
        for definition in &accepted {
            let Some(id) = definition.get("@id").and_then(Value::as_str) else {
                return Err(Error::Internal("validated Interface without @id".into()));
            };
            stored.insert(
                id.to_string(),
                StoredModel {
                    id: id.to_string(),
                    definition: definition.clone(),
                    upload_time: now.clone(),
                    decommissioned: false,
                },
            );
        }
        report.progress.models = accepted.len() as u64;
        let state = State {
            catalog: Arc::new(build_catalog(&stored)?),
            models: Arc::new(stored),
            index: base.index.clone(),
            graph: base.graph.clone(),
            versions: base.versions.clone(),
        };
        if options.mode == Mode::Check || accepted.is_empty() {
            return Ok(state);
        }
        let mut commit = self.begin();
        // Models written meanwhile by a client win: re-read and re-check under the lock.
        let current = commit.base.clone();
        let mut models = (*current.models).clone();
        for definition in accepted {
            let Some(id) = definition.get("@id").and_then(Value::as_str) else {
                continue;
            };
            if models.contains_key(id) {
                continue;
            }
            let record = StoredModel {
                id: id.to_string(),
                definition: definition.clone(),
                upload_time: now.clone(),
                decommissioned: false,
            };
            stage::model_stored(&mut commit, id, &model::encode(&record)?)?;
            models.insert(id.to_string(), record);
        }
        let state = State {
            catalog: Arc::new(build_catalog(&models)?),
            models: Arc::new(models),
            index: current.index.clone(),
            graph: current.graph.clone(),
            versions: current.versions.clone(),
        };
        commit.state = Some(state.clone());
        if let Some(job) = &options.job {
            let last = report.progress.line.max(options.resume_after_line);
            self.stage_progress(&mut commit, job, last, report)?;
        }
        self.commit(commit)?;
        Ok(state)
    }

    fn import_data<R: BufRead + Send>(
        &self,
        mut reader: Reader<R>,
        first: Line,
        state: State,
        options: &ImportOptions,
        report: &mut ImportReport,
        observe: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<()> {
        let context = Context {
            catalog: state.catalog.clone(),
            models: state.models.clone(),
            encode: options.mode == Mode::Write,
        };
        let workers = options.workers.max(1);
        let chunk_lines = options.chunk_lines.max(1);
        let resume = options.resume_after_line;
        let mut known = Known::default();
        let mut counts = Counts::default();
        std::thread::scope(|scope| -> Result<()> {
            let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(workers * 2);
            let (done_tx, done_rx) = sync_channel::<Result<Done>>(workers * 2);
            let chunk_rx = Arc::new(Mutex::new(chunk_rx));
            // Reader: cuts the file into chunks; a structural error ends the stream.
            let reader_done = done_tx.clone();
            scope.spawn(move || {
                let mut number = 0u64;
                let mut chunk = vec![Ok(first)];
                loop {
                    let item = match reader.next_line() {
                        Ok(item) => item,
                        Err(e) => {
                            let _ = reader_done.send(Err(e));
                            return;
                        }
                    };
                    let end = item.is_none();
                    if let Some(item) = item {
                        let skip = matches!(&item, Ok(l) if l.number <= resume);
                        if !skip {
                            chunk.push(item);
                        }
                    }
                    if (end && !chunk.is_empty()) || chunk.len() >= chunk_lines {
                        let full = std::mem::take(&mut chunk);
                        if chunk_tx.send((number, full, reader.bytes_read())).is_err() {
                            return;
                        }
                        number += 1;
                    }
                    if end {
                        return;
                    }
                }
            });
            for _ in 0..workers {
                let rx = chunk_rx.clone();
                let tx = done_tx.clone();
                let context = &context;
                scope.spawn(move || loop {
                    let next = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((number, items, bytes)) = next else {
                        return;
                    };
                    let now = clock::now();
                    let mut last = 0;
                    let prepared: Vec<Prepared> = items
                        .into_iter()
                        .map(|item| match item {
                            Ok(line) => {
                                last = last.max(line.number);
                                prepare(&line, context, &now)
                            }
                            Err(e) => {
                                last = last.max(e.line);
                                Prepared::Failed(e)
                            }
                        })
                        .collect();
                    if tx.send(Ok((number, prepared, last, bytes))).is_err() {
                        return;
                    }
                });
            }
            drop(done_tx);
            let result = self.apply_in_order(
                &done_rx,
                &state,
                options,
                &mut known,
                &mut counts,
                report,
                observe,
            );
            // Unblock the reader and workers whatever happened.
            drop(done_rx);
            result
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_in_order(
        &self,
        done: &Receiver<Result<Done>>,
        state: &State,
        options: &ImportOptions,
        known: &mut Known,
        counts: &mut Counts,
        report: &mut ImportReport,
        observe: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<()> {
        let mut waiting: BTreeMap<u64, (Vec<Prepared>, u64, u64)> = BTreeMap::new();
        let mut next = 0u64;
        for message in done.iter() {
            let (number, items, last, bytes) = message?;
            waiting.insert(number, (items, last, bytes));
            while let Some((items, last, bytes)) = waiting.remove(&next) {
                next += 1;
                let stop = self.apply_chunk(items, last, state, options, known, counts, report)?;
                report.progress.bytes = bytes;
                if stop {
                    return Ok(());
                }
                if !observe(&report.progress) {
                    report.cancelled = true;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Applies one chunk; returns whether the import must stop (a refused line without
    /// `continue_on_error`).
    #[allow(clippy::too_many_arguments)]
    fn apply_chunk(
        &self,
        items: Vec<Prepared>,
        last: u64,
        checked_state: &State,
        options: &ImportOptions,
        known: &mut Known,
        counts: &mut Counts,
        report: &mut ImportReport,
    ) -> Result<bool> {
        let write = options.mode == Mode::Write;
        let mut stop = false;
        if let Some(first) = items.first() {
            report.progress.section = Some(match first {
                Prepared::Relationship { .. } => Section::Relationships,
                _ => Section::Twins,
            });
        }
        if !write {
            let snapshot = self.snapshot();
            known.batch_start = u32::MAX;
            let mut apply = Apply {
                engine: self,
                snapshot: &snapshot,
                state: checked_state,
                known,
                counts,
            };
            for item in items {
                if let Err(e) = apply.item(item, None)? {
                    report.refuse(e, options.max_errors);
                }
            }
            report.progress.line = last;
            report.progress.twins = counts.twins;
            report.progress.relationships = counts.relationships;
            return Ok(false);
        }
        let mut commit = self.begin();
        // Under the writer lock: this snapshot is the state the batch applies to.
        let state = commit.base.clone();
        let snapshot = self.snapshot();
        known.batch_start = commit.next_twin;
        let mut covered = last;
        {
            let mut apply = Apply {
                engine: self,
                snapshot: &snapshot,
                state: &state,
                known,
                counts,
            };
            for item in items {
                let line = item.line();
                if let Err(e) = apply.item(item, Some(&mut commit))? {
                    report.refuse(e, options.max_errors);
                    if !options.continue_on_error {
                        report.stopped_at = Some(line);
                        covered = line;
                        stop = true;
                        break;
                    }
                }
            }
        }
        drop(snapshot);
        report.progress.twins = counts.twins;
        report.progress.relationships = counts.relationships;
        if let Some(job) = &options.job {
            self.stage_progress(&mut commit, job, covered, report)?;
        }
        self.commit(commit)?;
        known.batch_committed();
        report.progress.line = covered;
        Ok(stop)
    }

    /// Records in `batch` that job `job` has applied every line up to `line`.
    fn stage_progress(
        &self,
        sink: &mut impl Sink,
        job: &str,
        line: u64,
        report: &ImportReport,
    ) -> Result<()> {
        let value = json!({
            "line": line,
            "models": report.progress.models,
            "twins": report.progress.twins,
            "relationships": report.progress.relationships,
            "errors": report.progress.errors,
        });
        stage::job_progress(sink, job, value.to_string().as_bytes())
    }
}
