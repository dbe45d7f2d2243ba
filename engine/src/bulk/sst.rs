//! The offline bulk load's output: each column family's keys collected in bounded, sorted
//! runs, each run written as one SST file and all of them ingested at the end.
//!
//! This skips what a `WriteBatch` costs per key (WAL record, memtable skiplist insert, then a
//! flush that builds the same SST anyway). Keys that arrive in order (twin numbers, change
//! sequences) need no sorting and give non-overlapping files; the others (`twin_ids`,
//! adjacency) are sorted per run, and overlapping runs are ingested into level 0, where
//! compaction merges them later. Memory is bounded by the run budgets plus one run being
//! written.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use rocksdb::{IngestExternalFileOptions, SstFileWriter};

use crate::db::{cf_options, Engine};
use crate::error::{Error, Invalid, Result};
use crate::keys::*;

/// The column families a bulk load writes, with each one's run budget in bytes.
/// Keys that arrive in order (twins, change records) only need a run as large as an SST file
/// should be; the others need larger runs, or level 0 fills up with overlapping files.
pub(crate) const LOADED: [(&str, usize); 7] = [
    (CF_TWINS, 16 << 20),
    (CF_TWIN_IDS, 16 << 20),
    (CF_MODEL_TWINS, 8 << 20),
    (CF_RELS, 48 << 20),
    (CF_OUT, 24 << 20),
    (CF_IN, 24 << 20),
    (CF_CDC, 32 << 20),
];
pub(crate) const TWINS: usize = 0;
pub(crate) const TWIN_IDS: usize = 1;
pub(crate) const MODEL_TWINS: usize = 2;
pub(crate) const RELS: usize = 3;
pub(crate) const OUT: usize = 4;
pub(crate) const IN: usize = 5;
pub(crate) const CDC: usize = 6;

/// One key and value, stored back to back in a run's arena.
#[derive(Clone, Copy)]
struct Entry {
    /// The key's first 8 bytes, big-endian, zero-padded: most comparisons of a sort end
    /// here, without reaching into the arena.
    prefix: u64,
    at: u32,
    key: u32,
    value: u32,
}

fn prefix(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

struct Run {
    cf: usize,
    arena: Vec<u8>,
    entries: Vec<Entry>,
    /// Keys arrived in ascending order: no sort needed.
    sorted: bool,
    file: PathBuf,
}

impl Run {
    fn new(cf: usize, budget: usize) -> Run {
        Run {
            cf,
            // Reserved once and reused (see `Runs::fresh`): growing and freeing buffers this
            // size costs a page fault and a zeroed page per 4 KiB each time.
            arena: Vec::with_capacity(budget + (64 << 10)),
            entries: Vec::new(),
            sorted: true,
            file: PathBuf::new(),
        }
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.entries.clear();
        self.sorted = true;
    }

    fn key(&self, e: Entry) -> &[u8] {
        &self.arena[e.at as usize..(e.at + e.key) as usize]
    }

    fn value(&self, e: Entry) -> &[u8] {
        let start = (e.at + e.key) as usize;
        &self.arena[start..start + e.value as usize]
    }
}

/// Collects the loaded keys and hands full runs to the thread that writes them (`write_runs`).
pub(crate) struct Runs {
    dir: PathBuf,
    /// Divides every run budget (tests use it to get many small runs).
    divisor: usize,
    open: Vec<Run>,
    /// Written runs, back from the writers for reuse, by column family.
    spare: Vec<Vec<Run>>,
    returned: Receiver<Run>,
    files: Vec<Vec<PathBuf>>,
    tx: Option<SyncSender<Run>>,
}

/// The receiving end, for the writing threads, and the way back for written runs.
#[derive(Clone)]
pub(crate) struct RunSink {
    runs: Arc<Mutex<Receiver<Run>>>,
    back: Sender<Run>,
}

impl Runs {
    /// Runs written under `dir` (created; removed again by `discard` or after ingestion).
    pub fn new(dir: &Path, divisor: usize) -> Result<(Runs, RunSink)> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        // One run queued while another is written: bounded memory, and the loader keeps going.
        let (tx, rx) = sync_channel(1);
        let (back, returned) = channel();
        let divisor = divisor.max(1);
        let runs = Runs {
            dir: dir.to_path_buf(),
            divisor,
            open: (0..LOADED.len())
                .map(|cf| Run::new(cf, LOADED[cf].1 / divisor))
                .collect(),
            spare: (0..LOADED.len()).map(|_| Vec::new()).collect(),
            returned,
            files: vec![Vec::new(); LOADED.len()],
            tx: Some(tx),
        };
        let sink = RunSink {
            runs: Arc::new(Mutex::new(rx)),
            back,
        };
        Ok((runs, sink))
    }

    pub fn put(&mut self, cf: usize, key: &[u8], value: &[u8]) -> Result<()> {
        let run = &mut self.open[cf];
        if run.sorted {
            if let Some(last) = run.entries.last() {
                run.sorted = run.key(*last) < key;
            }
        }
        let at = u32::try_from(run.arena.len())
            .map_err(|_| Error::Internal("bulk run over 4 GiB".into()))?;
        run.arena.extend_from_slice(key);
        run.arena.extend_from_slice(value);
        run.entries.push(Entry {
            prefix: prefix(key),
            at,
            key: key.len() as u32,
            value: value.len() as u32,
        });
        if run.arena.len() >= LOADED[cf].1 / self.divisor {
            self.dispatch(cf)?;
        }
        Ok(())
    }

    /// An empty run for `cf`: a written one back from the writers, or a new one.
    fn fresh(&mut self, cf: usize) -> Run {
        while let Ok(run) = self.returned.try_recv() {
            self.spare[run.cf].push(run);
        }
        self.spare[cf]
            .pop()
            .unwrap_or_else(|| Run::new(cf, LOADED[cf].1 / self.divisor))
    }

    fn dispatch(&mut self, cf: usize) -> Result<()> {
        if self.open[cf].entries.is_empty() {
            return Ok(());
        }
        let fresh = self.fresh(cf);
        let mut run = std::mem::replace(&mut self.open[cf], fresh);
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

    /// Sends the last runs; the writer finishes once it has written them.
    pub fn finish(&mut self) -> Result<()> {
        for cf in 0..LOADED.len() {
            self.dispatch(cf)?;
        }
        self.tx = None;
        Ok(())
    }

    /// Ingests every file written (all of them: `finish` first, and the writer joined).
    /// `pause`: see `ImportOptions::ingest_pause`.
    pub fn ingest(&self, engine: &Engine, mut pause: Option<std::time::Duration>) -> Result<()> {
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
            if let Some(pause) = pause.take() {
                eprintln!("bulk load: paused mid-ingestion");
                std::thread::sleep(pause);
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
        loop {
            let next = match self.runs.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => return Err(Error::Internal("an SST writer panicked".into())),
            };
            let Ok(mut run) = next else {
                return Ok(());
            };
            let mut options = cf_options(LOADED[run.cf].0);
            if !run.sorted {
                let mut entries = std::mem::take(&mut run.entries);
                // Zero padding keeps prefix order consistent with byte order; equal prefixes
                // (including a short key and its zero-extended twin) compare whole keys.
                entries.sort_unstable_by(|a, b| {
                    a.prefix
                        .cmp(&b.prefix)
                        .then_with(|| run.key(*a).cmp(run.key(*b)))
                });
                run.entries = entries;
                // Keys that arrived out of order make files that overlap the column family's
                // other runs: they are ingested into level 0, and compaction rewrites them
                // (compressed) later. Compressing them here too was a third of this thread's
                // time spent on bytes that are decompressed and thrown away.
                options.set_compression_type(rocksdb::DBCompressionType::None);
            }
            let mut writer = SstFileWriter::create(&options);
            writer.open(&run.file)?;
            for e in &run.entries {
                writer.put(run.key(*e), run.value(*e)).map_err(|err| {
                    Error::Internal(format!("bulk run of {}: {err}", LOADED[run.cf].0))
                })?;
            }
            writer.finish()?;
            run.clear();
            // The loader may be done already: then the run is simply dropped.
            let _ = self.back.send(run);
        }
    }
}

/// Sets every loaded column family back to empty (the load required them to hold no live
/// key) and removes the change records from `start_seq` on: undoes a bulk load that stopped
/// between ingestion and its final batch.
pub(crate) fn wipe(engine: &Engine, start_seq: u64) -> Result<()> {
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
            engine.db.delete_range_cf(cf, from, to)?;
        }
    }
    Ok(())
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
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..12),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..12),
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
