//! Delivery state of event routes: each route's cursor into the change log and its dead
//! letters, and trimming the old end of the log. The server's delivery loops write here
//! directly, never through the writer lock, so a slow endpoint cannot hold up the write path.
//!
//! A route's state is keyed by (route id, epoch). The epoch is assigned when the route is
//! created, so a re-created route starts afresh, and a late write from the previous
//! incarnation's delivery loop lands under an old epoch that nothing reads (it is removed the
//! next time a route of that id is created or deleted).

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use rocksdb::{Direction, IteratorMode};
use serde_json::Value;

use crate::cdc::Change;
use crate::clock;
use crate::db::{Batch, Engine};
use crate::error::{Error, Result};
use crate::keys::*;
use crate::snapshot::Snapshot;
use crate::stage;

/// Where one incarnation of a route stands in the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteCursor {
    pub epoch: u64,
    /// The first change sequence the route has not passed yet.
    pub next: u64,
}

/// A change a route gave up delivering, with the record the server stored about it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub seq: u64,
    pub record: Value,
}

impl Engine {
    /// Records that route `id` (incarnation `epoch`) has passed every change before `next`,
    /// and the dead letter of a change it gave up on, in one batch: a crash keeps both or
    /// neither. Not synced: losing the latest progress only means delivering again.
    pub fn advance_route(
        &self,
        id: &str,
        epoch: u64,
        next: u64,
        dead_letter: Option<(u64, &Value)>,
    ) -> Result<()> {
        self.advance_route_capped(id, epoch, next, dead_letter, &[])
    }

    /// `advance_route` that also removes the dead letters of sequences `forget` (the
    /// oldest, when the route holds as many as it may keep), in the same batch.
    pub fn advance_route_capped(
        &self,
        id: &str,
        epoch: u64,
        next: u64,
        dead_letter: Option<(u64, &Value)>,
        forget: &[u64],
    ) -> Result<()> {
        let mut batch = Batch::new(self);
        stage::route_advanced(&mut batch, id, epoch, next)?;
        for seq in forget {
            stage::dead_letter_deleted(&mut batch, id, epoch, *seq)?;
        }
        if let Some((seq, record)) = dead_letter {
            let bytes = serde_json::to_vec(record)
                .map_err(|e| Error::Internal(format!("encoding a dead letter: {e}")))?;
            stage::dead_letter_stored(&mut batch, id, epoch, seq, &bytes)?;
        }
        batch.write(false)
    }

    /// Up to `limit` changes from sequence `from` on, none past the durable end. Reads
    /// without a snapshot (taking one locks RocksDB's DB mutex, which writers need): below
    /// the durable end the log only loses entries at its old end, so a plain iterator reads
    /// a consistent run of it.
    pub fn durable_changes(&self, from: u64, limit: usize) -> Result<Vec<Change>> {
        let end = self.durable_sequence();
        let mut out = Vec::new();
        if from > end {
            return Ok(out);
        }
        let start = cdc_key(from);
        let iter = self.db.iterator_cf(
            self.cf(CF_CDC)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter.take(limit) {
            let (key, value) = item?;
            let seq = decode_u64(&key).ok_or_else(|| Error::Corruption("cdc key".into()))?;
            if seq > end {
                break;
            }
            out.push(Change::decode(&value)?);
        }
        Ok(out)
    }

    /// Deletes the change log below sequence `before`, never past the durable end. Returns
    /// the first sequence kept.
    pub fn trim_changes(&self, before: u64) -> Result<u64> {
        let before = before.min(self.durable_sequence() + 1);
        let mut batch = Batch::new(self);
        stage::changes_trimmed(&mut batch, before)?;
        batch.write(false)?;
        Ok(before)
    }
}

impl Snapshot<'_> {
    /// The cursor of the current incarnation of route `id` (the highest epoch).
    pub fn route_cursor(&self, id: &str) -> Result<Option<RouteCursor>> {
        let prefix = route_prefix(id);
        let mut found = None;
        self.scan_prefix(CF_CURSORS, &prefix, |key, value| {
            let epoch = key.get(prefix.len()..).and_then(decode_u64);
            let next = decode_u64(value);
            match (epoch, next) {
                (Some(epoch), Some(next)) => {
                    found = Some(RouteCursor { epoch, next });
                    Ok(true)
                }
                _ => Err(Error::Corruption(format!("cursor of route {id}"))),
            }
        })?;
        Ok(found)
    }

    /// Dead letters of route `id` (incarnation `epoch`) after sequence `after`, oldest first.
    pub fn dead_letters(
        &self,
        id: &str,
        epoch: u64,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>> {
        let mut out = Vec::new();
        self.scan_prefix(CF_DEAD_LETTERS, &cursor_key(id, epoch), |key, value| {
            let (_, seq) = decode_dead_letter(id, key)
                .ok_or_else(|| Error::Corruption(format!("dead letter key of route {id}")))?;
            if after.is_some_and(|a| seq <= a) {
                return Ok(true);
            }
            if out.len() == limit {
                return Ok(false);
            }
            let record = serde_json::from_slice(value)
                .map_err(|e| Error::Corruption(format!("dead letter: {e}")))?;
            out.push(DeadLetter { seq, record });
            Ok(true)
        })?;
        Ok(out)
    }

    /// Sequences of the dead letters route `id` (incarnation `epoch`) holds, oldest first.
    pub fn dead_letter_seqs(&self, id: &str, epoch: u64) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        self.scan_prefix(CF_DEAD_LETTERS, &cursor_key(id, epoch), |key, _| {
            let (_, seq) = decode_dead_letter(id, key)
                .ok_or_else(|| Error::Corruption(format!("dead letter key of route {id}")))?;
            out.push(seq);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The oldest change still in the log, if any.
    pub fn first_change(&self) -> Result<Option<u64>> {
        let mut first = None;
        self.scan_prefix(CF_CDC, b"", |key, _| {
            first = Some(decode_u64(key).ok_or_else(|| Error::Corruption("cdc key".into()))?);
            Ok(false)
        })?;
        Ok(first)
    }

    /// The sequence of the first change committed at or after `cutoff`, or the sequence
    /// after the last change. Commit times grow with the sequence (both are assigned under
    /// the writer lock), so this scans only the changes older than `cutoff`.
    pub fn first_change_since(&self, cutoff: SystemTime) -> Result<Option<u64>> {
        #[derive(serde::Deserialize)]
        struct Time {
            time: String,
        }
        // Change times are fixed-width RFC 3339 UTC strings, so text order is time order.
        let cutoff = clock::format_time(DateTime::<Utc>::from(cutoff));
        let mut found = None;
        self.scan_prefix(CF_CDC, b"", |key, value| {
            let seq = decode_u64(key).ok_or_else(|| Error::Corruption("cdc key".into()))?;
            let change: Time = serde_json::from_slice(value)
                .map_err(|e| Error::Corruption(format!("change record: {e}")))?;
            if change.time >= cutoff {
                found = Some(seq);
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use serde_json::json;

    use crate::db::{Engine, EngineConfig};
    use twingraph_dtdl as dtdl;

    fn engine_with_twins(dir: &tempfile::TempDir, sync_writes: bool, twins: usize) -> Engine {
        let config = EngineConfig {
            sync_writes,
            ..EngineConfig::default()
        };
        let e = Engine::open(dir.path(), config).unwrap();
        let model = json!({"@id": "dtmi:t:T;1", "@type": "Interface",
                           "@context": "dtmi:dtdl:context;3"});
        e.add_models(&[model], &dtdl::Options::default()).unwrap();
        for i in 0..twins {
            e.put_twin(
                &format!("t{i}"),
                &json!({"$metadata": {"$model": "dtmi:t:T;1"}}),
                false,
            )
            .unwrap();
        }
        e
    }

    #[test]
    fn durable_sequence_follows_commits_and_wakes_hooks() {
        for sync in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let e = engine_with_twins(&dir, sync, 0);
            assert_eq!(e.durable_sequence(), 0);
            let seen = Arc::new(AtomicU64::new(0));
            let hook_seen = seen.clone();
            e.on_durable(move |seq| {
                hook_seen.fetch_max(seq, Ordering::SeqCst);
            });
            for i in 0..3 {
                e.put_twin(
                    &format!("t{i}"),
                    &json!({"$metadata": {"$model": "dtmi:t:T;1"}}),
                    false,
                )
                .unwrap();
            }
            assert_eq!(e.durable_sequence(), 3);
            assert_eq!(seen.load(Ordering::SeqCst), 3);
            drop(e);
            let reopened = Engine::open(dir.path(), EngineConfig::default()).unwrap();
            assert_eq!(reopened.durable_sequence(), 3);
        }
    }

    #[test]
    fn trimming_removes_a_prefix_and_keeps_the_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine_with_twins(&dir, false, 5);
        assert_eq!(e.snapshot().first_change().unwrap(), Some(1));
        assert_eq!(e.trim_changes(3).unwrap(), 3);
        let snap = e.snapshot();
        assert_eq!(snap.first_change().unwrap(), Some(3));
        let seqs: Vec<u64> = snap.changes(0, 10).unwrap().iter().map(|c| c.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        // Never past the durable end, even when asked to.
        assert_eq!(e.trim_changes(u64::MAX).unwrap(), 6);
        assert_eq!(e.snapshot().first_change().unwrap(), None);
        drop(snap);
        drop(e);
        let e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        assert_eq!(e.next_sequence(), 6);
        assert!(e.check_integrity().unwrap().problems.is_empty());
    }

    #[test]
    fn durable_changes_stop_at_the_durable_end() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine_with_twins(&dir, true, 4);
        let seqs = |from, limit| -> Vec<u64> {
            e.durable_changes(from, limit)
                .unwrap()
                .iter()
                .map(|c| c.seq)
                .collect()
        };
        assert_eq!(seqs(1, 10), vec![1, 2, 3, 4]);
        assert_eq!(seqs(2, 2), vec![2, 3]);
        assert_eq!(seqs(5, 10), Vec::<u64>::new());
        e.trim_changes(3).unwrap();
        assert_eq!(seqs(1, 10), vec![3, 4]);
    }

    #[test]
    fn capped_advance_forgets_dead_letters_in_the_same_batch() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine_with_twins(&dir, false, 0);
        e.put_event_route("r", &json!({"endpointName": "x", "filter": "true"}))
            .unwrap();
        let epoch = e.snapshot().route_cursor("r").unwrap().unwrap().epoch;
        for seq in [3, 5, 8] {
            e.advance_route("r", epoch, seq + 1, Some((seq, &json!({"seq": seq}))))
                .unwrap();
        }
        assert_eq!(
            e.snapshot().dead_letter_seqs("r", epoch).unwrap(),
            vec![3, 5, 8]
        );
        e.advance_route_capped("r", epoch, 10, Some((9, &json!({}))), &[3, 5])
            .unwrap();
        let snap = e.snapshot();
        assert_eq!(snap.dead_letter_seqs("r", epoch).unwrap(), vec![8, 9]);
        assert_eq!(snap.route_cursor("r").unwrap().unwrap().next, 10);
    }

    #[test]
    fn first_change_since_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine_with_twins(&dir, false, 3);
        let snap = e.snapshot();
        let long_ago = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(snap.first_change_since(long_ago).unwrap(), Some(1));
        let future = SystemTime::now() + Duration::from_secs(3600);
        assert_eq!(snap.first_change_since(future).unwrap(), None);
    }
}
