//! The write vocabulary: each mutation of the store as the keys it writes and the in-memory
//! state it changes, decided here once. Every writer stages through these functions: the
//! per-operation path and import jobs into a `WriteBatch` (a `Commit`, which also carries
//! the state the batch will publish), the offline bulk load into its per-column-family
//! blocks (`bulk::sst`, whose state is rebuilt from the store once the files are in).
//!
//! The bytes stored under the keys are printed by their owners, one printer each:
//! `twin::encode`/`doc_shape` (documents), `relationship::encode`, `cdc::print_record`
//! (change records), `model::encode`.

use crate::db::State;
use crate::error::{Error, Result};
use crate::keys::*;

/// Where staged keys go.
pub(crate) trait Sink {
    fn put(&mut self, cf: &'static str, key: &[u8], value: &[u8]) -> Result<()>;

    /// Puts `key` with the value `print` appends to an empty buffer. Sinks that keep values
    /// in an arena of their own (the bulk loader's blocks) print straight into it.
    fn put_with(
        &mut self,
        cf: &'static str,
        key: &[u8],
        print: impl FnOnce(&mut Vec<u8>),
    ) -> Result<()> {
        let mut value = Vec::new();
        print(&mut value);
        self.put(cf, key, &value)
    }

    fn delete(&mut self, cf: &'static str, key: &[u8]) -> Result<()>;

    /// Deletes the keys of `cf` in `start..end`.
    fn delete_range(&mut self, cf: &'static str, start: &[u8], end: &[u8]) -> Result<()>;

    /// The in-memory state the staged keys imply, when this sink publishes one; `None` where
    /// the state is rebuilt from the store afterwards (the offline bulk load).
    fn state(&mut self) -> Option<&mut State>;

    /// Gives twin `num` a new document version, so that caches keyed by (twin, version)
    /// never return its old bytes. A sink without state has no caches to protect.
    fn rewritten(&mut self, num: u32);
}

/// Names twin `id` by its number (`twin_ids`).
pub(crate) fn twin_numbered(sink: &mut impl Sink, id: &str, num: u32) -> Result<()> {
    sink.put(CF_TWIN_IDS, id.as_bytes(), &twin_key(num))
}

/// Stores twin `num`'s document (`twins`).
pub(crate) fn twin_document(sink: &mut impl Sink, num: u32, doc: &[u8]) -> Result<()> {
    sink.put(CF_TWINS, &twin_key(num), doc)
}

/// Files twin `num` under its model (`model_twins` and the model index).
pub(crate) fn twin_indexed(sink: &mut impl Sink, model: &str, num: u32) -> Result<()> {
    sink.put(CF_MODEL_TWINS, &model_twin_key(model, num), &[])?;
    if let Some(state) = sink.state() {
        state.index.insert(model, num);
    }
    Ok(())
}

fn twin_unindexed(sink: &mut impl Sink, model: &str, num: u32) -> Result<()> {
    sink.delete(CF_MODEL_TWINS, &model_twin_key(model, num))?;
    if let Some(state) = sink.state() {
        state.index.remove(model, num);
    }
    Ok(())
}

/// A new twin: its number, its document, its model. The number is fresh, so nothing is
/// cached under it and no version changes.
pub(crate) fn twin_created(
    sink: &mut impl Sink,
    id: &str,
    num: u32,
    model: &str,
    doc: &[u8],
) -> Result<()> {
    twin_numbered(sink, id, num)?;
    twin_document(sink, num, doc)?;
    twin_indexed(sink, model, num)
}

/// Twin `num`'s document replaced (a PUT over it, or a patch), possibly with a new model.
pub(crate) fn twin_replaced(
    sink: &mut impl Sink,
    num: u32,
    old_model: &str,
    new_model: &str,
    doc: &[u8],
) -> Result<()> {
    sink.rewritten(num);
    twin_document(sink, num, doc)?;
    if old_model != new_model {
        twin_unindexed(sink, old_model, num)?;
        twin_indexed(sink, new_model, num)?;
    }
    Ok(())
}

pub(crate) fn twin_deleted(sink: &mut impl Sink, id: &str, num: u32, model: &str) -> Result<()> {
    sink.rewritten(num);
    sink.delete(CF_TWINS, &twin_key(num))?;
    sink.delete(CF_TWIN_IDS, id.as_bytes())?;
    twin_unindexed(sink, model, num)
}

/// The ends of a relationship, as twin numbers, and its name and id.
#[derive(Clone, Copy)]
pub(crate) struct Edge<'a> {
    pub source: u32,
    pub name: &'a str,
    pub id: &'a str,
    pub target: u32,
}

/// A relationship stored (created, replaced or patched): its document under its source,
/// and the edge in both adjacency families and the graph.
pub(crate) fn relationship_stored(sink: &mut impl Sink, edge: Edge<'_>, doc: &[u8]) -> Result<()> {
    let mut key = Vec::with_capacity(16 + edge.name.len() + edge.id.len());
    rel_key_into(&mut key, edge.source, edge.id);
    sink.put(CF_RELS, &key, doc)?;
    out_edge_key_into(&mut key, edge.source, edge.name, edge.id);
    sink.put(CF_OUT, &key, &twin_key(edge.target))?;
    in_edge_key_into(&mut key, edge.target, edge.source, edge.id);
    sink.put(CF_IN, &key, edge.name.as_bytes())?;
    if let Some(state) = sink.state() {
        state
            .graph
            .add(edge.source, edge.name, edge.id, edge.target);
    }
    Ok(())
}

/// A relationship being removed. `target` is `None` when the target twin is gone (its
/// incoming entry went with it).
#[derive(Clone, Copy)]
pub(crate) struct Gone<'a> {
    pub source: u32,
    pub name: &'a str,
    pub id: &'a str,
    pub target: Option<u32>,
}

/// A relationship's edge taken out of the adjacency families and the graph (its document
/// stays: it is being replaced).
pub(crate) fn edge_removed(sink: &mut impl Sink, gone: Gone<'_>) -> Result<()> {
    sink.delete(CF_OUT, &out_edge_key(gone.source, gone.name, gone.id))?;
    if let Some(target) = gone.target {
        sink.delete(CF_IN, &in_edge_key(target, gone.source, gone.id))?;
        if let Some(state) = sink.state() {
            state.graph.remove(gone.source, gone.name, gone.id, target);
        }
    }
    Ok(())
}

pub(crate) fn relationship_deleted(sink: &mut impl Sink, gone: Gone<'_>) -> Result<()> {
    sink.delete(CF_RELS, &rel_key(gone.source, gone.id))?;
    edge_removed(sink, gone)
}

/// Change record `seq`, printed by `print` (`cdc::print_record`).
pub(crate) fn change(
    sink: &mut impl Sink,
    seq: u64,
    print: impl FnOnce(&mut Vec<u8>),
) -> Result<()> {
    sink.put_with(CF_CDC, &cdc_key(seq), print)
}

/// The counters a commit advanced: the next change sequence and the next twin number.
pub(crate) fn next_sequence(sink: &mut impl Sink, seq: u64) -> Result<()> {
    sink.put(CF_META, META_NEXT_SEQ, &seq.to_be_bytes())
}

pub(crate) fn next_twin(sink: &mut impl Sink, num: u32) -> Result<()> {
    sink.put(CF_META, META_NEXT_TWIN, &num.to_be_bytes())
}

/// A model record (`model::encode`) stored or replaced. The catalog the state resolves
/// from all models is the caller's to publish: it is rebuilt once per batch, not per model.
pub(crate) fn model_stored(sink: &mut impl Sink, id: &str, record: &[u8]) -> Result<()> {
    sink.put(CF_MODELS, id.as_bytes(), record)
}

pub(crate) fn model_deleted(sink: &mut impl Sink, id: &str) -> Result<()> {
    sink.delete(CF_MODELS, id.as_bytes())
}

/// An event route's record stored. A new route (`start`) begins a new incarnation: the
/// delivery state of any earlier one goes, and its cursor starts where `start` says.
pub(crate) fn route_stored(
    sink: &mut impl Sink,
    id: &str,
    record: &[u8],
    start: Option<RouteStart>,
) -> Result<()> {
    if let Some(start) = start {
        route_state_cleared(sink, id)?;
        sink.put(
            CF_META,
            META_NEXT_ROUTE_EPOCH,
            &(start.epoch + 1).to_be_bytes(),
        )?;
        route_advanced(sink, id, start.epoch, start.cursor)?;
    }
    sink.put(CF_ROUTES, id.as_bytes(), record)
}

/// Where a new route's delivery starts: its incarnation, and the first change it sees (the
/// next sequence, so it sees what is committed after it).
pub(crate) struct RouteStart {
    pub epoch: u64,
    pub cursor: u64,
}

pub(crate) fn route_deleted(sink: &mut impl Sink, id: &str) -> Result<()> {
    sink.delete(CF_ROUTES, id.as_bytes())?;
    route_state_cleared(sink, id)
}

/// Route `id` (incarnation `epoch`) has passed every change before `next`.
pub(crate) fn route_advanced(sink: &mut impl Sink, id: &str, epoch: u64, next: u64) -> Result<()> {
    sink.put(CF_CURSORS, &cursor_key(id, epoch), &next.to_be_bytes())
}

pub(crate) fn dead_letter_stored(
    sink: &mut impl Sink,
    id: &str,
    epoch: u64,
    seq: u64,
    record: &[u8],
) -> Result<()> {
    sink.put(CF_DEAD_LETTERS, &dead_letter_key(id, epoch, seq), record)
}

pub(crate) fn dead_letter_deleted(
    sink: &mut impl Sink,
    id: &str,
    epoch: u64,
    seq: u64,
) -> Result<()> {
    sink.delete(CF_DEAD_LETTERS, &dead_letter_key(id, epoch, seq))
}

/// Every cursor and dead letter of route `id`, across its incarnations, removed.
fn route_state_cleared(sink: &mut impl Sink, id: &str) -> Result<()> {
    let start = route_prefix(id);
    let end =
        prefix_end(&start).ok_or_else(|| Error::Internal("a route prefix ends in NUL".into()))?;
    sink.delete_range(CF_CURSORS, &start, &end)?;
    sink.delete_range(CF_DEAD_LETTERS, &start, &end)
}

/// The change log below sequence `before` removed.
pub(crate) fn changes_trimmed(sink: &mut impl Sink, before: u64) -> Result<()> {
    sink.delete_range(CF_CDC, &cdc_key(0), &cdc_key(before))
}

/// An import job's record (the caller's JSON).
pub(crate) fn job_recorded(sink: &mut impl Sink, job: &str, record: &[u8]) -> Result<()> {
    sink.put(CF_META, &job_record_key(job), record)
}

/// A job's record and progress removed.
pub(crate) fn job_forgotten(sink: &mut impl Sink, job: &str) -> Result<()> {
    sink.delete(CF_META, &job_record_key(job))?;
    sink.delete(CF_META, &job_progress_key(job))
}

/// An import job's progress record, in the batch whose lines it counts.
pub(crate) fn job_progress(sink: &mut impl Sink, job: &str, progress: &[u8]) -> Result<()> {
    sink.put(CF_META, &job_progress_key(job), progress)
}

/// A bulk load's files are about to be ingested: an open that finds this marker rolls the
/// load back (every change from `start_seq` on).
pub(crate) fn bulk_load_started(sink: &mut impl Sink, start_seq: u64) -> Result<()> {
    let marker = serde_json::json!({ "startSeq": start_seq }).to_string();
    sink.put(CF_META, META_BULK_LOAD, marker.as_bytes())
}

pub(crate) fn bulk_load_finished(sink: &mut impl Sink) -> Result<()> {
    sink.delete(CF_META, META_BULK_LOAD)
}

/// A new store's format version (`keys::FORMAT_VERSION`).
pub(crate) fn format_version(sink: &mut impl Sink) -> Result<()> {
    sink.put(CF_META, META_FORMAT_VERSION, &FORMAT_VERSION.to_be_bytes())
}

/// Every key of `cf` in `start..end` removed: a rolled-back bulk load's keys.
pub(crate) fn range_deleted(
    sink: &mut impl Sink,
    cf: &'static str,
    start: &[u8],
    end: &[u8],
) -> Result<()> {
    sink.delete_range(cf, start, end)
}
