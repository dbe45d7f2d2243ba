//! Bulk import, export and delete-everything, in ADT's import-job file format (`format.rs`).
//!
//! Imports go through a parallel pipeline (`import.rs`: workers prepare lines, `apply.rs`
//! checks and stages them in file order) and write thousands of items per `WriteBatch`,
//! maintaining exactly what the per-operation path maintains: data, `twin_ids`,
//! `model_twins`, both adjacency CFs, one change record per item, the counters, the model
//! index and the graph. `check_integrity` holds after every batch.
//!
//! "All or nothing" for a file that may not fit in memory means two passes: `Mode::Check`
//! reads the whole file and validates every line against the store and the rest of the file
//! (keeping only ids and counters, not documents), then `Mode::Write` reads it again and
//! writes. The `twingraph import` command does both on a store no server has open, so
//! nothing changes between the passes; a crash during the write pass leaves a consistent
//! prefix (each batch is), which the `job` progress record, when used, names exactly.
//!
//! Job bookkeeping lives in the `meta` CF (`keys::job_record_key`, the caller's JSON, and
//! `keys::job_progress_key`, written by the import batches themselves, so progress and data
//! can never disagree).

mod apply;
mod delete;
mod encode;
mod export;
pub mod format;
mod ids;
mod import;
mod load;
mod prepare;
mod sst;

use rocksdb::{Direction, IteratorMode};
use serde_json::Value;

pub use apply::Counts;
pub use delete::DeleteProgress;
pub use export::{export_store, relationship_line, twin_line, ExportProgress};
pub use format::{LineError, Section};
pub use import::{ImportOptions, ImportReport, Mode, Progress, MAX_MODELS_PER_IMPORT};

use crate::db::{Batch, Engine};
use crate::error::{Error, Result};
use crate::keys::{job_progress_key, job_record_key, prefix_end, CF_META, META_JOB_RECORD};
use crate::stage;

impl Engine {
    /// The progress an import with `job` recorded with its last committed batch:
    /// `{"line", "models", "twins", "relationships", "errors"}`.
    pub fn job_progress(&self, job: &str) -> Result<Option<Value>> {
        self.meta_json(&job_progress_key(job))
    }

    /// A job's record, as stored by `put_job_record`.
    pub fn job_record(&self, job: &str) -> Result<Option<Value>> {
        self.meta_json(&job_record_key(job))
    }

    /// Stores a job's record durably (an fsync), outside any data batch.
    pub fn put_job_record(&self, job: &str, record: &Value) -> Result<()> {
        let mut batch = Batch::new(self);
        stage::job_recorded(&mut batch, job, record.to_string().as_bytes())?;
        batch.write(true)
    }

    /// Forgets a job: its record and its progress.
    pub fn delete_job_record(&self, job: &str) -> Result<()> {
        let mut batch = Batch::new(self);
        stage::job_forgotten(&mut batch, job)?;
        batch.write(true)
    }

    /// Every job record whose job id starts with `prefix`, ordered by job id.
    pub fn job_records(&self, prefix: &str) -> Result<Vec<(String, Value)>> {
        let start = job_record_key(prefix);
        let mut options = rocksdb::ReadOptions::default();
        if let Some(end) = prefix_end(&start) {
            options.set_iterate_upper_bound(end);
        }
        let mut out = Vec::new();
        let iter = self.db.iterator_cf_opt(
            self.cf(CF_META)?,
            options,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            let Some(id) = key.strip_prefix(META_JOB_RECORD) else {
                break;
            };
            let id = String::from_utf8(id.to_vec())
                .map_err(|_| Error::Corruption("job id is not UTF-8".into()))?;
            let value = serde_json::from_slice(&value)
                .map_err(|e| Error::Corruption(format!("job record {id}: {e}")))?;
            out.push((id, value));
        }
        Ok(out)
    }

    fn meta_json(&self, key: &[u8]) -> Result<Option<Value>> {
        match self.db.get_cf(self.cf(CF_META)?, key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Corruption(format!("job data: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineConfig;

    fn fixture() -> Vec<u8> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bulk/good.ndjson");
        std::fs::read(path).unwrap()
    }

    fn open(dir: &std::path::Path) -> Engine {
        let config = EngineConfig {
            sync_writes: false,
            ..EngineConfig::default()
        };
        Engine::open(dir, config).unwrap()
    }

    fn export(engine: &Engine) -> String {
        let mut out = Vec::new();
        engine.export(&mut out, &mut |_| {}).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn assert_consistent(engine: &Engine) {
        let report = engine.check_integrity().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn import_keeps_every_index_and_the_log_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path());
        // Chunks of 2 lines: twins and relationships share batches.
        let options = ImportOptions {
            chunk_lines: 2,
            ..ImportOptions::default()
        };
        let report = engine
            .import(&fixture()[..], &options, &mut |_| true)
            .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(
            (
                report.progress.models,
                report.progress.twins,
                report.progress.relationships
            ),
            (4, 4, 3)
        );
        assert_consistent(&engine);
        let integrity = engine.check_integrity().unwrap();
        assert_eq!(
            integrity.changes, 7,
            "one change record per twin and relationship"
        );
        let snapshot = engine.snapshot();
        assert_eq!(snapshot.model_twins("dtmi:bulk:Space;1", false).len(), 3);
        assert_eq!(snapshot.outgoing("floor1", None).unwrap().len(), 2);
    }

    #[test]
    fn check_mode_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path());
        let options = ImportOptions {
            mode: Mode::Check,
            ..ImportOptions::default()
        };
        let report = engine
            .import(&fixture()[..], &options, &mut |_| true)
            .unwrap();
        assert_eq!(report.progress.twins, 4);
        assert_eq!(engine.snapshot().twin_count(), 0);
        assert_eq!(engine.snapshot().models().count(), 0);
        assert_eq!(engine.next_sequence(), 1);
    }

    #[test]
    fn a_stopped_job_resumes_after_its_last_recorded_line() {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path());
        let mut options = ImportOptions {
            chunk_lines: 2,
            job: Some("imports/j1".into()),
            ..ImportOptions::default()
        };
        // Stop after the models and the first chunk of data, as a crash would.
        let mut calls = 0;
        let first = engine
            .import(&fixture()[..], &options, &mut |_| {
                calls += 1;
                calls < 2
            })
            .unwrap();
        assert!(first.cancelled);
        let progress = engine.job_progress("imports/j1").unwrap().unwrap();
        let line = progress["line"].as_u64().unwrap();
        assert_eq!(progress["twins"], 2);
        assert_consistent(&engine);
        options.resume_after_line = line;
        let rest = engine
            .import(&fixture()[..], &options, &mut |_| true)
            .unwrap();
        assert!(rest.errors.is_empty(), "{:?}", rest.errors);
        assert_eq!((rest.progress.twins, rest.progress.relationships), (2, 3));
        assert_consistent(&engine);
        let whole = tempfile::tempdir().unwrap();
        let reference = open(whole.path());
        reference
            .import(&fixture()[..], &ImportOptions::default(), &mut |_| true)
            .unwrap();
        assert_eq!(export(&engine), export(&reference));
        engine.delete_job_record("imports/j1").unwrap();
        assert!(engine.job_progress("imports/j1").unwrap().is_none());
    }

    #[test]
    fn delete_all_leaves_routes_and_a_consistent_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path());
        engine
            .import(&fixture()[..], &ImportOptions::default(), &mut |_| true)
            .unwrap();
        let done = engine.delete_all(2, &mut |_| true).unwrap();
        assert_eq!((done.relationships, done.twins, done.models), (3, 4, 4));
        assert_consistent(&engine);
        assert_eq!(engine.snapshot().twin_count(), 0);
        assert_eq!(engine.snapshot().models().count(), 0);
        // 7 creates, 7 deletes.
        assert_eq!(engine.check_integrity().unwrap().changes, 14);
    }

    #[test]
    fn job_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path());
        engine
            .put_job_record("imports/a", &serde_json::json!({"status": "running"}))
            .unwrap();
        engine
            .put_job_record("deletions/b", &serde_json::json!({"status": "notstarted"}))
            .unwrap();
        let imports = engine.job_records("imports/").unwrap();
        assert_eq!(imports.len(), 1);
        assert_eq!(imports[0].0, "imports/a");
        assert_eq!(engine.job_records("").unwrap().len(), 2);
    }
}
