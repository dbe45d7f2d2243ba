//! Deleting every relationship, twin and model (ADT's delete job), in batches that each do
//! what the per-operation deletes do: data, `twin_ids`, `model_twins`, both adjacency CFs,
//! the model index, the graph and one change record per item. Event routes stay.
//!
//! Each batch reads under the writer lock, so no client write interleaves with it; a cursor
//! moves forward through each CF (re-scanning from the start would walk every tombstone
//! again), and a final pass from the start picks up what clients added behind the cursor.

use std::collections::BTreeMap;
use std::sync::Arc;

use rocksdb::{Direction, IteratorMode, ReadOptions};

use crate::cdc::{relationship_subject, Change, ChangeKind};
use crate::db::{Engine, State};
use crate::error::{Error, Result};
use crate::keys::*;
use crate::relationship::Relationship;
use crate::stage::{self, Gone};
use crate::twin;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeleteProgress {
    pub relationships: u64,
    pub twins: u64,
    pub models: u64,
}

/// Passes over the data before giving up on twins that clients keep relating.
const MAX_PASSES: usize = 3;

impl Engine {
    /// Deletes everything but event routes, `chunk` items per batch. `observe` sees the
    /// progress after each batch; returning `false` stops (what was deleted stays deleted).
    pub fn delete_all(
        &self,
        chunk: usize,
        observe: &mut dyn FnMut(&DeleteProgress) -> bool,
    ) -> Result<DeleteProgress> {
        let chunk = chunk.max(1);
        let mut progress = DeleteProgress::default();
        for _ in 0..MAX_PASSES {
            let mut cursor = Vec::new();
            while let Some(next) = self.delete_relationships(&cursor, chunk, &mut progress)? {
                cursor = next;
                if !observe(&progress) {
                    return Ok(progress);
                }
            }
            let mut cursor = Vec::new();
            while let Some(next) = self.delete_twins(&cursor, chunk, &mut progress)? {
                cursor = next;
                if !observe(&progress) {
                    return Ok(progress);
                }
            }
            if self.snapshot().twin_count() == 0 {
                break;
            }
        }
        if self.snapshot().twin_count() != 0 {
            return Err(Error::invalid(
                crate::error::Invalid::RelationshipsNotDeleted,
                "twins kept getting new relationships while everything was being deleted",
            ));
        }
        self.delete_models(&mut progress)?;
        observe(&progress);
        Ok(progress)
    }

    /// Up to `chunk` entries of `cf` from `from` on, read from the live store (the caller
    /// holds the writer lock, so it is the published state).
    fn read_from(&self, cf: &str, from: &[u8], chunk: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let iter = self.db.iterator_cf_opt(
            self.cf(cf)?,
            ReadOptions::default(),
            IteratorMode::From(from, Direction::Forward),
        );
        let mut out = Vec::with_capacity(chunk);
        for item in iter.take(chunk) {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// One batch of relationship deletes; the cursor after it, `None` when none were left.
    fn delete_relationships(
        &self,
        from: &[u8],
        chunk: usize,
        progress: &mut DeleteProgress,
    ) -> Result<Option<Vec<u8>>> {
        let mut commit = self.begin();
        let entries = self.read_from(CF_RELS, from, chunk)?;
        let Some((last, _)) = entries.last() else {
            return Ok(None);
        };
        let next = [last.as_slice(), &[0]].concat();
        let snapshot = self.snapshot();
        for (key, value) in entries {
            let source = decode_u32(&key).ok_or_else(|| Error::Corruption("rel key".into()))?;
            let doc = serde_json::from_slice(&value)
                .map_err(|e| Error::Corruption(format!("relationship: {e}")))?;
            let rel = Relationship::from_doc(doc)?;
            let target = snapshot.twin_num(&rel.target)?;
            let gone = Gone {
                source,
                name: &rel.name,
                id: &rel.id,
                target,
            };
            stage::relationship_deleted(&mut commit, gone)?;
            commit.changes.push(Change::new(
                ChangeKind::RelationshipDelete,
                &rel.source,
                relationship_subject(&rel.source, &rel.id),
                rel.doc,
            ));
            progress.relationships += 1;
        }
        drop(snapshot);
        self.commit(commit)?;
        Ok(Some(next))
    }

    fn delete_twins(
        &self,
        from: &[u8],
        chunk: usize,
        progress: &mut DeleteProgress,
    ) -> Result<Option<Vec<u8>>> {
        let mut commit = self.begin();
        let state = commit.base.clone();
        let entries = self.read_from(CF_TWINS, from, chunk)?;
        let Some((last, _)) = entries.last() else {
            return Ok(None);
        };
        let next = [last.as_slice(), &[0]].concat();
        for (key, value) in entries {
            let num = decode_u32(&key).ok_or_else(|| Error::Corruption("twin key".into()))?;
            if !state.graph.out(num).is_empty() || !state.graph.incoming(num).is_empty() {
                // Related by a client since the relationship pass; the next pass gets it.
                continue;
            }
            let doc: serde_json::Value = serde_json::from_slice(&value)
                .map_err(|e| Error::Corruption(format!("twin: {e}")))?;
            let id = doc
                .get("$dtId")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| Error::Corruption(format!("twin {num} has no $dtId")))?
                .to_string();
            let model = twin::model_of(&doc).to_string();
            stage::twin_deleted(&mut commit, &id, num, &model)?;
            commit
                .changes
                .push(Change::new(ChangeKind::TwinDelete, &id, id.clone(), doc));
            progress.twins += 1;
        }
        self.commit(commit)?;
        Ok(Some(next))
    }

    fn delete_models(&self, progress: &mut DeleteProgress) -> Result<()> {
        let mut commit = self.begin();
        let state = commit.base.clone();
        if state.models.is_empty() {
            return Ok(());
        }
        for id in state.models.keys() {
            stage::model_deleted(&mut commit, id)?;
            progress.models += 1;
        }
        commit.state = Some(State {
            catalog: Arc::new(crate::db::build_catalog(&BTreeMap::new())?),
            models: Arc::new(BTreeMap::new()),
            index: state.index.clone(),
            graph: state.graph.clone(),
            versions: state.versions.clone(),
        });
        self.commit(commit)?;
        Ok(())
    }
}
