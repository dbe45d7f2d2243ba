//! Opening the store and the write path. Every operation builds one `WriteBatch` holding its
//! data, its index entries and its change record, and commits it here:
//!
//! 1. under the writer lock: read current state, validate, build the batch, assign the next
//!    change sequence number;
//! 2. under the publish lock: write the batch to RocksDB (WAL, not yet synced) and publish
//!    the in-memory state it implies (model index, catalog), so snapshots see both or neither;
//! 3. outside both locks: wait until the WAL is fsynced (group commit: one fsync covers every
//!    batch written before it started, so concurrent writers share them).
//!
//! Invariant: change sequence numbers are assigned and written in one order under the writer
//! lock, and the WAL is a prefix-durable log, so whatever survives a crash is gap-free.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard, RwLock};
use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, IteratorMode, Options, WriteBatch,
    WriteOptions, DB,
};

use crate::cdc::Change;
use crate::doc_cache::DocCache;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::id_cache::IdCache;
use crate::index::ModelIndex;
use crate::keys::*;
use crate::model::StoredModel;
use crate::stage::{self, Sink};
use crate::{clock, model};
use twingraph_dtdl::Catalog;

/// How the engine behaves; the defaults are what a server wants.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// fsync the WAL before acknowledging a write. Off only for tests and bulk loads.
    pub sync_writes: bool,
    /// Enforce relationship `maxMultiplicity` (ADT does not).
    pub strict_multiplicity: bool,
    /// Maximum number of twins (ADT's default instance limit is 2,000,000).
    pub max_twins: u64,
    /// Bytes of uncompressed blocks kept in memory, shared by every column family. Queries
    /// read documents by twin number; RocksDB's 8 MiB default makes a large store's reads
    /// decompress the same blocks again and again.
    pub block_cache_bytes: usize,
    /// Bytes of twin documents kept in memory by (twin, version): traversals and point reads
    /// of hot twins skip RocksDB. 0 turns it off.
    pub doc_cache_bytes: usize,
    /// Bytes of twin field summaries (`fields.rs`) kept in memory by (twin, version): filters
    /// over many twins compare them instead of reading documents. 0 turns it off.
    pub field_cache_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            sync_writes: true,
            strict_multiplicity: false,
            max_twins: u64::from(u32::MAX),
            block_cache_bytes: 256 << 20,
            doc_cache_bytes: 128 << 20,
            field_cache_bytes: 256 << 20,
        }
    }
}

/// What snapshots see besides RocksDB: the resolved models and the model index.
#[derive(Clone, Default)]
pub(crate) struct State {
    pub catalog: Arc<Catalog>,
    pub models: Arc<BTreeMap<String, StoredModel>>,
    pub index: ModelIndex,
    pub graph: Graph,
    /// Twin number → the version of its stored document, for twins rewritten or deleted since
    /// the store was opened (others are version 0). Keys the document cache.
    pub versions: crate::graph::NumMap<u64>,
}

/// Counters only the writer changes.
pub(crate) struct Writer {
    pub next_twin: u32,
    pub next_seq: u64,
}

pub struct Engine {
    pub(crate) db: DB,
    pub(crate) config: EngineConfig,
    writer: Mutex<Writer>,
    pub(crate) published: RwLock<State>,
    /// Batches written to RocksDB so far, and how many of them are known durable.
    written: AtomicU64,
    synced: Mutex<u64>,
    /// The last change sequence written to RocksDB, and the last one known durable. Event
    /// delivery reads the log only up to `durable_seq`, so it never sends a change that a
    /// crash could still undo.
    written_seq: AtomicU64,
    durable_seq: AtomicU64,
    /// Called after `durable_seq` advances, outside every engine lock (delivery wakes on it).
    on_durable: RwLock<Vec<DurableHook>>,
    pub(crate) docs: DocCache<str>,
    /// Twins' field summaries, kept like documents (same keys, same versions).
    pub(crate) fields: DocCache<[u8]>,
    pub(crate) ids: IdCache,
    /// The version the next rewritten twin gets (see `State::versions`).
    next_version: AtomicU64,
}

/// Ids the id cache holds at most: the anchors of recent queries, in about 8 MiB.
const ID_CACHE_SLOTS: usize = 1 << 18;

type DurableHook = Box<dyn Fn(u64) + Send + Sync>;

/// A batch being built by one operation, with the state it will publish. Operations stage
/// into it through `stage` (it is a `Sink`); `commit` adds the change records.
pub(crate) struct Commit<'a> {
    pub writer: MutexGuard<'a, Writer>,
    batch: Batch<'a>,
    /// The published state when the writer lock was taken: what the operation checks against.
    pub base: State,
    pub state: Option<State>,
    pub changes: Vec<Change>,
    pub next_twin: u32,
}

impl Commit<'_> {
    /// The number the next new twin gets (numbers are never reused).
    pub fn take_twin_number(&mut self) -> Result<u32> {
        let num = self.next_twin;
        self.next_twin = num
            .checked_add(1)
            .ok_or_else(|| Error::LimitExceeded("twin numbers exhausted".into()))?;
        Ok(num)
    }

    /// The state this commit will publish, starting from `base` on first use.
    pub fn state_mut(&mut self) -> &mut State {
        self.state.get_or_insert_with(|| self.base.clone())
    }
}

impl Sink for Commit<'_> {
    fn put(&mut self, cf: &'static str, key: &[u8], value: &[u8]) -> Result<()> {
        self.batch.put(cf, key, value)
    }

    fn delete(&mut self, cf: &'static str, key: &[u8]) -> Result<()> {
        self.batch.delete(cf, key)
    }

    fn delete_range(&mut self, cf: &'static str, start: &[u8], end: &[u8]) -> Result<()> {
        self.batch.delete_range(cf, start, end)
    }

    fn state(&mut self) -> Option<&mut State> {
        Some(self.state_mut())
    }

    fn rewritten(&mut self, num: u32) {
        let version = self
            .batch
            .engine
            .next_version
            .fetch_add(1, Ordering::Relaxed);
        self.state_mut().versions.insert(num, version);
    }
}

/// A batch outside the writer's path (delivery state, the end of a bulk load): no change
/// records, no published state.
pub(crate) struct Batch<'a> {
    engine: &'a Engine,
    batch: WriteBatch,
}

impl<'a> Batch<'a> {
    pub fn new(engine: &'a Engine) -> Batch<'a> {
        Batch {
            engine,
            batch: WriteBatch::default(),
        }
    }

    /// Writes the batch; with `sync`, returns once it is durable.
    pub fn write(self, sync: bool) -> Result<()> {
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.engine.db.write_opt(self.batch, &options)?;
        Ok(())
    }
}

impl Sink for Batch<'_> {
    fn put(&mut self, cf: &'static str, key: &[u8], value: &[u8]) -> Result<()> {
        self.batch.put_cf(self.engine.cf(cf)?, key, value);
        Ok(())
    }

    fn delete(&mut self, cf: &'static str, key: &[u8]) -> Result<()> {
        self.batch.delete_cf(self.engine.cf(cf)?, key);
        Ok(())
    }

    fn delete_range(&mut self, cf: &'static str, start: &[u8], end: &[u8]) -> Result<()> {
        self.batch.delete_range_cf(self.engine.cf(cf)?, start, end);
        Ok(())
    }

    fn state(&mut self) -> Option<&mut State> {
        None
    }

    fn rewritten(&mut self, _: u32) {}
}

impl Engine {
    pub fn open(path: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_max_background_jobs(2);
        // All memtables together: each of the column families may otherwise hold two of
        // 64 MiB, and a load of a million twins through the per-operation path peaked at
        // 1.4 GiB with most of it in memtables.
        options.set_db_write_buffer_size(MEMTABLE_BYTES);
        let cache = rocksdb::Cache::new_lru_cache(config.block_cache_bytes);
        let cfs = ALL_CFS
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_options_with(name, Some(&cache))));
        let db = DB::open_cf_descriptors(&options, path, cfs)?;
        let docs = DocCache::new(config.doc_cache_bytes);
        let fields = DocCache::new(config.field_cache_bytes);
        let ids = IdCache::new(ID_CACHE_SLOTS);
        let mut engine = Engine {
            db,
            config,
            writer: Mutex::new(Writer {
                next_twin: 0,
                next_seq: 1,
            }),
            published: RwLock::new(State::default()),
            written: AtomicU64::new(0),
            synced: Mutex::new(0),
            written_seq: AtomicU64::new(0),
            durable_seq: AtomicU64::new(0),
            on_durable: RwLock::new(Vec::new()),
            docs,
            fields,
            ids,
            next_version: AtomicU64::new(1),
        };
        engine.check_format()?;
        engine.recover_bulk_load()?;
        engine.load()?;
        Ok(engine)
    }

    pub(crate) fn cf(&self, name: &str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::Internal(format!("column family {name} missing")))
    }

    fn check_format(&self) -> Result<()> {
        let meta = self.cf(CF_META)?;
        match self.db.get_cf(meta, META_FORMAT_VERSION)? {
            None => {
                let mut batch = Batch::new(self);
                stage::format_version(&mut batch)?;
                batch.write(true)
            }
            Some(v) if decode_u32(&v) == Some(FORMAT_VERSION) => Ok(()),
            Some(v) => Err(Error::Corruption(format!(
                "data format version {:?}, this build reads {FORMAT_VERSION}",
                decode_u32(&v)
            ))),
        }
    }

    /// Reads the store's format version from RocksDB itself, not from memory: proof that the
    /// store answers reads (`/healthz`).
    pub fn check_readable(&self) -> Result<()> {
        let meta = self.cf(CF_META)?;
        match self.db.get_cf(meta, META_FORMAT_VERSION)? {
            Some(v) if decode_u32(&v) == Some(FORMAT_VERSION) => Ok(()),
            other => Err(Error::Corruption(format!(
                "the store's format version reads {:?}",
                other.map(|v| decode_u32(&v))
            ))),
        }
    }

    /// Rebuilds the in-memory state from the store: models, catalog, model index, counters.
    fn load(&mut self) -> Result<()> {
        let mut models = BTreeMap::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_MODELS)?, IteratorMode::Start)
        {
            let (key, value) = item?;
            let id = String::from_utf8(key.to_vec())
                .map_err(|_| Error::Corruption("model id is not UTF-8".into()))?;
            models.insert(id.clone(), model::decode(&id, &value)?);
        }
        let catalog = build_catalog(&models)?;
        let mut index = ModelIndex::default();
        for item in self
            .db
            .iterator_cf(self.cf(CF_MODEL_TWINS)?, IteratorMode::Start)
        {
            let (key, _) = item?;
            let (model, twin) = decode_model_twin(&key)
                .ok_or_else(|| Error::Corruption("model index key".into()))?;
            index.insert(model, twin);
        }
        let mut edges = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_OUT)?, IteratorMode::Start) {
            let (key, value) = item?;
            let (source, name, id) =
                decode_out_edge(&key).ok_or_else(|| Error::Corruption("out edge key".into()))?;
            let target = decode_u32(&value).ok_or_else(|| Error::Corruption("out edge".into()))?;
            edges.push((source, name.to_string(), id.to_string(), target));
        }
        let graph = Graph::from_edges(edges);
        let next_twin = match self.db.get_cf(self.cf(CF_META)?, META_NEXT_TWIN)? {
            Some(v) => decode_u32(&v).ok_or_else(|| Error::Corruption("next_twin".into()))?,
            None => 0,
        };
        let last_seq = match self
            .db
            .iterator_cf(self.cf(CF_CDC)?, IteratorMode::End)
            .next()
        {
            Some(item) => {
                decode_u64(&item?.0).ok_or_else(|| Error::Corruption("cdc key".into()))?
            }
            None => 0,
        };
        let last_seq = last_seq.max(match self.db.get_cf(self.cf(CF_META)?, META_NEXT_SEQ)? {
            Some(v) => decode_u64(&v)
                .ok_or_else(|| Error::Corruption("next_seq".into()))?
                .saturating_sub(1),
            None => 0,
        });
        *self.writer.get_mut() = Writer {
            next_twin,
            next_seq: last_seq + 1,
        };
        // Whatever recovery found on disk is durable.
        *self.written_seq.get_mut() = last_seq;
        *self.durable_seq.get_mut() = last_seq;
        *self.published.get_mut() = State {
            catalog: Arc::new(catalog),
            models: Arc::new(models),
            index,
            graph,
            versions: Default::default(),
        };
        Ok(())
    }

    /// The current published state (cheap: reference-counted parts).
    pub(crate) fn state(&self) -> State {
        self.published.read().clone()
    }

    pub(crate) fn begin(&self) -> Commit<'_> {
        let writer = self.writer.lock();
        let next_twin = writer.next_twin;
        Commit {
            writer,
            batch: Batch::new(self),
            base: self.state(),
            state: None,
            changes: Vec::new(),
            next_twin,
        }
    }

    /// Writes the batch with its change records, publishes its state, and returns once it is
    /// durable. Returns the sequence numbers given to the changes.
    pub(crate) fn commit(&self, mut commit: Commit<'_>) -> Result<Vec<u64>> {
        let time = clock::now();
        let mut seq = commit.writer.next_seq;
        let mut seqs = Vec::with_capacity(commit.changes.len());
        let mut changes = std::mem::take(&mut commit.changes);
        for change in &mut changes {
            change.seq = seq;
            if change.time.is_empty() {
                change.time = time.clone();
            }
            stage::change(&mut commit, seq, |out| change.print(out))?;
            seqs.push(seq);
            seq += 1;
        }
        if seq != commit.writer.next_seq {
            stage::next_sequence(&mut commit, seq)?;
        }
        if commit.next_twin != commit.writer.next_twin {
            let next = commit.next_twin;
            stage::next_twin(&mut commit, next)?;
        }
        let mut options = WriteOptions::default();
        options.set_sync(false);
        {
            let mut published = self.published.write();
            self.db.write_opt(commit.batch.batch, &options)?;
            if let Some(state) = commit.state {
                *published = state;
            }
        }
        self.written_seq.store(seq - 1, Ordering::SeqCst);
        commit.writer.next_seq = seq;
        commit.writer.next_twin = commit.next_twin;
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        drop(commit.writer);
        self.make_durable(ticket)?;
        Ok(seqs)
    }

    /// Group commit: returns once batch number `ticket` is on disk.
    fn make_durable(&self, ticket: u64) -> Result<()> {
        if !self.config.sync_writes {
            self.publish_durable(self.written_seq.load(Ordering::SeqCst));
            return Ok(());
        }
        let mut synced = self.synced.lock();
        if *synced >= ticket {
            return Ok(());
        }
        // Everything written before this point is covered by the fsync below.
        let covered = self.written.load(Ordering::SeqCst);
        let covered_seq = self.written_seq.load(Ordering::SeqCst);
        self.db.flush_wal(true)?;
        *synced = covered;
        drop(synced);
        self.publish_durable(covered_seq);
        Ok(())
    }

    fn publish_durable(&self, seq: u64) {
        if self.durable_seq.fetch_max(seq, Ordering::SeqCst) < seq {
            for hook in self.on_durable.read().iter() {
                hook(seq);
            }
        }
    }

    /// The last change sequence known durable (0: none yet); the log is complete up to it.
    pub fn durable_sequence(&self) -> u64 {
        self.durable_seq.load(Ordering::SeqCst)
    }

    /// Calls `hook` with the new durable sequence each time it advances. Calls may race and
    /// arrive out of order: treat the argument as "at least this far".
    pub fn on_durable(&self, hook: impl Fn(u64) + Send + Sync + 'static) {
        self.on_durable.write().push(Box::new(hook));
    }

    /// Writes every column family's memtable into table files and waits until they are. A
    /// store loaded through the write path then reads like one loaded by `twingraph import`
    /// (which writes table files directly): scans step through compact blocks instead of a
    /// skip list.
    pub fn flush(&self) -> Result<()> {
        let cfs = ALL_CFS
            .iter()
            .map(|name| self.cf(name))
            .collect::<Result<Vec<_>>>()?;
        let mut options = rocksdb::FlushOptions::default();
        options.set_wait(true);
        self.db.flush_cfs_opt(&cfs, &options)?;
        Ok(())
    }

    /// Flushes, then compacts every column family into its last level: what reads cost once
    /// the store has settled (one table file per key range instead of overlapping ones).
    pub fn compact(&self) -> Result<()> {
        self.flush()?;
        for name in ALL_CFS {
            self.db
                .compact_range_cf(self.cf(name)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// The next sequence number the change log will use.
    pub fn next_sequence(&self) -> u64 {
        // From the atomic, not the writer lock: a /metrics scrape must not wait behind a
        // writer's validation and WAL write.
        self.written_seq.load(Ordering::SeqCst) + 1
    }
}

/// Options of column family `name`; also those of the SST files a bulk load ingests into it.
pub(crate) fn cf_options(name: &str) -> Options {
    cf_options_with(name, None)
}

/// What all memtables hold together before the largest is flushed.
const MEMTABLE_BYTES: usize = 256 << 20;

/// Column families read only by range (a twin's edges, a model's twins, the change log): a
/// whole-key bloom filter never answers one of their reads, so building it in every flush,
/// compaction and bulk load, and keeping it in memory, is waste.
const RANGE_ONLY: [&str; 4] = [CF_OUT, CF_IN, CF_MODEL_TWINS, CF_CDC];

fn cf_options_with(name: &str, cache: Option<&rocksdb::Cache>) -> Options {
    let mut table = BlockBasedOptions::default();
    if !RANGE_ONLY.contains(&name) {
        table.set_bloom_filter(10.0, false);
    }
    if name == CF_CDC {
        // Written once, read in order: 32 KiB blocks (not 4) cost fewer block and index
        // entries to build and compress better (change records repeat their shape). At 1M
        // twins the bulk-loaded log is 12% smaller and the load spends 4% less CPU.
        table.set_block_size(32 << 10);
    }
    if let Some(cache) = cache {
        table.set_block_cache(cache);
    }
    let mut cf = Options::default();
    cf.set_block_based_table_factory(&table);
    cf.set_compression_type(rocksdb::DBCompressionType::Lz4);
    cf
}

pub(crate) fn build_catalog(models: &BTreeMap<String, StoredModel>) -> Result<Catalog> {
    let definitions: Vec<serde_json::Value> =
        models.values().map(|m| m.definition.clone()).collect();
    Catalog::build(&definitions).map_err(Error::Dtdl)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The health read goes to RocksDB: a format version changed underneath the in-memory
    /// state is seen at once.
    #[test]
    fn check_readable_reads_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        engine.check_readable().unwrap();
        let meta = engine.cf(CF_META).unwrap();
        engine
            .db
            .put_cf(
                meta,
                META_FORMAT_VERSION,
                (FORMAT_VERSION + 1).to_be_bytes(),
            )
            .unwrap();
        assert!(matches!(engine.check_readable(), Err(Error::Corruption(_))));
        engine.db.delete_cf(meta, META_FORMAT_VERSION).unwrap();
        assert!(engine.check_readable().is_err());
    }
}
