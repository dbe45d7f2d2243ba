//! The offline bulk load's output: workers put each chunk's keys in one block per column
//! family; consecutive blocks of a column family form a bounded run, each run written as one
//! SST file (sorted first if its keys arrived out of order) and all of them ingested at the
//! end. Written blocks go back to a pool for the workers.
//!
//! This skips what a `WriteBatch` costs per key (WAL record, memtable skiplist insert, then a
//! flush that builds the same SST anyway). Keys that arrive in order (twin numbers, change
//! sequences) need no sorting and give non-overlapping files; the others (`twin_ids`,
//! adjacency) are sorted per run, and overlapping runs are ingested into level 0, where
//! compaction merges them later. Memory is bounded by the run budgets plus one run queued
//! and two being written.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use rocksdb::{IngestExternalFileOptions, SstFileWriter};

use crate::db::{cf_options, Batch, Engine, State};
use crate::error::{Error, Invalid, Result};
use crate::keys::*;
use crate::stage::{self, Sink};

/// The column families a bulk load writes, with each one's run budget in bytes.
/// Keys that arrive in order (twins, change records) only need a run as large as an SST file
/// should be; the others need larger runs, or level 0 fills up with overlapping files. Up to
/// four runs per family are in memory at once (filling, queued, two being written): halving
/// the ordered families' budgets took 100 MiB off a million-twin load's peak.
pub(crate) const LOADED: [(&str, usize); 7] = [
    (CF_TWINS, 8 << 20),
    (CF_TWIN_IDS, 16 << 20),
    (CF_MODEL_TWINS, 4 << 20),
    (CF_RELS, 48 << 20),
    (CF_OUT, 24 << 20),
    (CF_IN, 24 << 20),
    (CF_CDC, 16 << 20),
];
pub(crate) const TWINS: usize = 0;
pub(crate) const TWIN_IDS: usize = 1;
pub(crate) const RELS: usize = 3;
pub(crate) const OUT: usize = 4;
pub(crate) const IN: usize = 5;
pub(crate) const CDC: usize = 6;

/// The position in `LOADED` of column family `cf`.
fn loaded(cf: &str) -> Result<usize> {
    LOADED
        .iter()
        .position(|(name, _)| *name == cf)
        .ok_or_else(|| Error::Internal(format!("a bulk load does not write {cf}")))
}

/// Where a bulk load's keys go. It only adds keys to an empty store, and its state is
/// rebuilt from the store once the files are ingested: as a `Sink` it deletes nothing and
/// keeps no state.
trait Adds {
    fn add(&mut self, cf: usize, key: &[u8], print: impl FnOnce(&mut Vec<u8>)) -> Result<()>;
}

impl<T: Adds> Sink for T {
    fn put(&mut self, cf: &'static str, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_with(cf, key, |out| out.extend_from_slice(value))
    }

    fn put_with(
        &mut self,
        cf: &'static str,
        key: &[u8],
        print: impl FnOnce(&mut Vec<u8>),
    ) -> Result<()> {
        self.add(loaded(cf)?, key, print)
    }

    fn delete(&mut self, _: &'static str, _: &[u8]) -> Result<()> {
        Err(Error::Internal("a bulk load deletes nothing".into()))
    }

    fn delete_range(&mut self, cf: &'static str, _: &[u8], _: &[u8]) -> Result<()> {
        self.delete(cf, &[])
    }

    fn state(&mut self) -> Option<&mut State> {
        None
    }

    fn rewritten(&mut self, _: u32) {}
}

/// A worker's blocks, one per column family of `LOADED`.
pub(crate) struct Blocks<'a>(pub &'a mut [Block]);

impl Adds for Blocks<'_> {
    fn add(&mut self, cf: usize, key: &[u8], print: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let block = self
            .0
            .get_mut(cf)
            .ok_or_else(|| Error::Internal(format!("no block for column family {cf}")))?;
        block.put_with(key, print)
    }
}

/// What the loading thread stages itself (`model_twins`, in key order) goes straight into
/// the runs.
impl Adds for Runs {
    fn add(&mut self, cf: usize, key: &[u8], print: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let mut block = match self.pending[cf].take() {
            Some(block) => block,
            None => self.pool.take(cf),
        };
        block.put_with(key, print)?;
        if block.arena.len() >= PUT_BLOCK_BYTES {
            self.append(block)
        } else {
            self.pending[cf] = Some(block);
            Ok(())
        }
    }
}

/// Where one key and its value sit in a block's arena (back to back).
#[derive(Clone, Copy)]
struct Entry {
    at: u32,
    key: u32,
    value: u32,
}

/// The key's first 16 bytes, big-endian, zero-padded: most comparisons of a sort end here,
/// without reaching into an arena. (Eight were too few: twin ids share long prefixes, and
/// adjacency keys spend four bytes on the twin number and more on the relationship name.)
fn prefix(key: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    let n = key.len().min(16);
    bytes[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(bytes)
}

/// Keys and values of one column family, as a worker stages them for one chunk of lines:
/// one arena, so a chunk's thousands of keys cost a few allocations, and blocks are
/// recycled (see `Pool`) once written.
pub(crate) struct Block {
    cf: usize,
    arena: Vec<u8>,
    entries: Vec<Entry>,
    /// Keys were put in ascending order.
    sorted: bool,
}

impl Block {
    fn new(cf: usize) -> Block {
        Block {
            cf,
            arena: Vec::new(),
            entries: Vec::new(),
            sorted: true,
        }
    }

    /// Puts `key` with the value `write` appends (built in place, not copied in).
    pub fn put_with(&mut self, key: &[u8], write: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        if self.sorted {
            if let Some(last) = self.entries.last() {
                self.sorted = self.key_of(*last) < key;
            }
        }
        let at = self.arena.len();
        self.arena.extend_from_slice(key);
        write(&mut self.arena);
        let too_big = || Error::Internal("a bulk block over 4 GiB".into());
        let value = self.arena.len() - at - key.len();
        self.entries.push(Entry {
            at: u32::try_from(at).map_err(|_| too_big())?,
            key: key.len() as u32,
            value: u32::try_from(value).map_err(|_| too_big())?,
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Room for `entries` keys and `bytes` of keys and values in an empty block, reserved at
    /// once: growing by doubling copies the block and faults in twice its pages.
    pub fn reserve(&mut self, entries: usize, bytes: usize) {
        // Fresh buffers, not `reserve`: reallocating copies the whole old capacity (the
        // allocator does not know how much of it is in use), pages of garbage included.
        if self.entries.is_empty() && self.entries.capacity() < entries {
            self.entries = Vec::with_capacity(entries);
        }
        if self.arena.is_empty() && self.arena.capacity() < bytes {
            self.arena = Vec::with_capacity(bytes);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn key(&self, i: usize) -> &[u8] {
        self.key_of(self.entries[i])
    }

    pub fn value(&self, i: usize) -> &[u8] {
        let e = self.entries[i];
        let start = (e.at + e.key) as usize;
        &self.arena[start..start + e.value as usize]
    }

    fn key_of(&self, e: Entry) -> &[u8] {
        &self.arena[e.at as usize..(e.at + e.key) as usize]
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
        self.sorted = true;
    }
}

/// Written blocks, cleared, by column family, for workers to fill again: reusing them spares
/// a page fault and a zeroed page per 4 KiB of every chunk's output.
pub(crate) struct Pool {
    free: Vec<Mutex<Vec<Block>>>,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            free: (0..LOADED.len()).map(|_| Mutex::default()).collect(),
        }
    }

    /// An empty block for `cf` (see `Block::reserve` for its size).
    pub fn take(&self, cf: usize) -> Block {
        self.free[cf]
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_else(|| Block::new(cf))
    }

    pub fn give(&self, mut block: Block) {
        block.clear();
        if let Ok(mut free) = self.free[block.cf].lock() {
            free.push(block);
        }
    }
}

/// Consecutive blocks of one column family, written as one SST file.
struct Run {
    cf: usize,
    blocks: Vec<Block>,
    bytes: usize,
    /// Keys are in ascending order across all the blocks: no sort needed.
    sorted: bool,
    file: PathBuf,
}

impl Run {
    fn new(cf: usize) -> Run {
        Run {
            cf,
            blocks: Vec::new(),
            bytes: 0,
            sorted: true,
            file: PathBuf::new(),
        }
    }
}

/// Largest block `Runs::put` fills before appending it to its run.
const PUT_BLOCK_BYTES: usize = 1 << 20;

/// Collects the loaded blocks in runs and hands full runs to the threads that write them
/// (`write_runs`).
pub(crate) struct Runs {
    dir: PathBuf,
    /// Divides every run budget (tests use it to get many small runs).
    divisor: usize,
    open: Vec<Run>,
    /// Blocks `put` is filling, by column family.
    pending: Vec<Option<Block>>,
    pool: Arc<Pool>,
    files: Vec<Vec<PathBuf>>,
    tx: Option<SyncSender<Run>>,
}

/// The receiving end, for the writing threads.
#[derive(Clone)]
pub(crate) struct RunSink {
    runs: Arc<Mutex<Receiver<Run>>>,
    pool: Arc<Pool>,
}

impl Runs {
    /// Runs written under `dir` (created; removed again by `discard` or after ingestion).
    pub fn new(dir: &Path, divisor: usize) -> Result<(Runs, RunSink)> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        // One run queued while others are written: bounded memory, and the loader keeps going.
        let (tx, rx) = sync_channel(1);
        let pool = Arc::new(Pool::new());
        let runs = Runs {
            dir: dir.to_path_buf(),
            divisor: divisor.max(1),
            open: (0..LOADED.len()).map(Run::new).collect(),
            pending: (0..LOADED.len()).map(|_| None).collect(),
            pool: pool.clone(),
            files: vec![Vec::new(); LOADED.len()],
            tx: Some(tx),
        };
        let sink = RunSink {
            runs: Arc::new(Mutex::new(rx)),
            pool,
        };
        Ok((runs, sink))
    }

    /// Where workers get their blocks, and written blocks go back to.
    pub fn pool(&self) -> Arc<Pool> {
        self.pool.clone()
    }

    /// Adds a staged block to its column family's run (its keys follow the run's so far in
    /// the column family's order of arrival).
    pub fn append(&mut self, block: Block) -> Result<()> {
        if block.is_empty() {
            self.pool.give(block);
            return Ok(());
        }
        let cf = block.cf;
        let run = &mut self.open[cf];
        if run.sorted {
            let after_last = match (run.blocks.last(), block.entries.first()) {
                (Some(last), Some(first)) => last
                    .entries
                    .last()
                    .is_some_and(|end| last.key_of(*end) < block.key_of(*first)),
                _ => true,
            };
            run.sorted = block.sorted && after_last;
        }
        run.bytes += block.arena.len();
        run.blocks.push(block);
        if run.bytes >= LOADED[cf].1 / self.divisor {
            self.dispatch(cf)?;
        }
        Ok(())
    }

    fn dispatch(&mut self, cf: usize) -> Result<()> {
        if self.open[cf].blocks.is_empty() {
            return Ok(());
        }
        let mut run = std::mem::replace(&mut self.open[cf], Run::new(cf));
        run.file = self
            .dir
            .join(format!("{}-{}.sst", LOADED[cf].0, self.files[cf].len()));
        self.files[cf].push(run.file.clone());
        let sent = self.tx.as_ref().map(|tx| tx.send(run));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writer stopped: its own error is what the caller reports.
            _ => Err(Error::Internal("the SST writer stopped".into())),
        }
    }

    /// Sends the last runs; the writers finish once they have written them.
    pub fn finish(&mut self) -> Result<()> {
        for cf in 0..LOADED.len() {
            if let Some(block) = self.pending[cf].take() {
                self.append(block)?;
            }
            self.dispatch(cf)?;
        }
        self.tx = None;
        Ok(())
    }

    /// Ingests every file written (all of them: `finish` first, and the writer joined).
    pub fn ingest(&self, engine: &Engine) -> Result<()> {
        let mut first = true;
        let mut options = IngestExternalFileOptions::default();
        options.set_move_files(true);
        for (cf, files) in self.files.iter().enumerate() {
            if files.is_empty() {
                continue;
            }
            engine.db.ingest_external_file_cf_opts(
                engine.cf(LOADED[cf].0)?,
                &options,
                files.clone(),
            )?;
            if std::mem::take(&mut first) {
                crate::failpoint::pause(
                    "bulk-load-mid-ingestion",
                    "bulk load: paused mid-ingestion",
                );
            }
        }
        Ok(())
    }

    /// Stops feeding the writer (it ends once the queued runs are written).
    pub fn close(&mut self) {
        self.tx = None;
    }

    /// Removes the run files (written or not yet ingested).
    pub fn discard(&mut self) {
        self.tx = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RunSink {
    /// A writing thread: sorts each run that needs it and writes it as one SST file.
    pub fn write_runs(self) -> Result<()> {
        // (prefix, block, entry) of an unsorted run, reused from run to run.
        let mut order: Vec<(u128, u32, u32)> = Vec::new();
        loop {
            let next = match self.runs.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => return Err(Error::Internal("an SST writer panicked".into())),
            };
            let Ok(mut run) = next else {
                return Ok(());
            };
            let name = LOADED[run.cf].0;
            let failed =
                |err: rocksdb::Error| Error::Internal(format!("bulk run of {name}: {err}"));
            let mut options = cf_options(name);
            let blocks = &run.blocks;
            let entry = |b: usize, i: usize| (blocks[b].key(i), blocks[b].value(i));
            if run.sorted {
                let all = blocks
                    .iter()
                    .enumerate()
                    .flat_map(|(b, block)| (0..block.len()).map(move |i| (b, i)));
                write_sst(&options, &run.file, all.map(|(b, i)| entry(b, i)), failed)?;
            } else {
                // (prefix, block, entry), sorted by key. Zero padding keeps prefix order
                // consistent with byte order; equal prefixes (including a short key and its
                // zero-extended twin) compare whole keys.
                order.clear();
                for (b, block) in blocks.iter().enumerate() {
                    for (i, e) in block.entries.iter().enumerate() {
                        order.push((prefix(block.key_of(*e)), b as u32, i as u32));
                    }
                }
                let key = |&(_, b, i): &(u128, u32, u32)| blocks[b as usize].key(i as usize);
                order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| key(a).cmp(key(b))));
                // Keys that arrived out of order make files that overlap the column family's
                // other runs: they are ingested into level 0, and compaction rewrites them
                // (compressed) later. Compressing them here too was a third of this thread's
                // time spent on bytes that are decompressed and thrown away.
                options.set_compression_type(rocksdb::DBCompressionType::None);
                let sorted = order.iter().map(|&(_, b, i)| entry(b as usize, i as usize));
                write_sst(&options, &run.file, sorted, failed)?;
            }
            for block in run.blocks.drain(..) {
                self.pool.give(block);
            }
        }
    }
}

/// Writes `entries`, in key order, as the SST file `file`.
fn write_sst<'a>(
    options: &rocksdb::Options,
    file: &Path,
    entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    failed: impl Fn(rocksdb::Error) -> Error,
) -> Result<()> {
    let mut writer = SstFileWriter::create(options);
    writer.open(file)?;
    for (key, value) in entries {
        writer.put(key, value).map_err(&failed)?;
    }
    writer.finish()?;
    Ok(())
}

/// Sets every loaded column family back to empty (the load required them to hold no live
/// key) and removes the change records from `start_seq` on: undoes a bulk load that stopped
/// between ingestion and its final batch.
pub(crate) fn wipe(engine: &Engine, start_seq: u64) -> Result<()> {
    let mut batch = Batch::new(engine);
    for (name, _) in LOADED {
        let cf = engine.cf(name)?;
        let first = engine
            .db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .next();
        let last = engine.db.iterator_cf(cf, rocksdb::IteratorMode::End).next();
        let (Some(first), Some(last)) = (first, last) else {
            continue;
        };
        let mut from = first?.0.to_vec();
        if name == CF_CDC {
            from = cdc_key(start_seq).to_vec().max(from);
        }
        // The smallest key after `last`.
        let mut to = last?.0.to_vec();
        to.push(0);
        if from < to {
            stage::range_deleted(&mut batch, name, &from, &to)?;
        }
    }
    batch.write(true)
}

fn io(e: std::io::Error) -> Error {
    Error::invalid(Invalid::Argument, format!("bulk load files: {e}"))
}

#[cfg(test)]
mod tests {
    use super::prefix;
    use proptest::prelude::*;

    proptest! {
        /// Whenever two prefixes differ, they order the keys as the keys themselves do
        /// (short keys, zero bytes and equal first bytes included).
        #[test]
        fn prefixes_order_keys_as_bytes_do(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..24),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..24),
        ) {
            let by_prefix = prefix(&a).cmp(&prefix(&b));
            if by_prefix.is_ne() {
                prop_assert_eq!(by_prefix, a.cmp(&b));
            }
            let mut shared = a.clone();
            shared.extend_from_slice(&b);
            prop_assert_eq!(prefix(&shared).cmp(&prefix(&a)).is_ge(), true);
        }
    }
}
