//! A full consistency check: every index agrees with a scan of the data, and the change log
//! has no gap. Used by the crash tests and by operators after an incident.

use std::collections::{BTreeMap, BTreeSet};

use crate::db::Engine;
use crate::error::{Error, Result};
use crate::keys::*;
use crate::relationship::Relationship;
use crate::twin;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IntegrityReport {
    pub twins: u64,
    pub relationships: u64,
    pub changes: u64,
    /// Each inconsistency found, in words; empty when the store is consistent.
    pub problems: Vec<String>,
}

impl Engine {
    /// Scans the whole store on one snapshot and cross-checks data, indexes and the log.
    pub fn check_integrity(&self) -> Result<IntegrityReport> {
        let next_seq = self.next_sequence();
        let snap = self.snapshot();
        let mut report = IntegrityReport::default();
        let mut problems = Vec::new();

        // twins ↔ twin_ids ↔ model_twins ↔ in-memory bitmaps
        let mut ids: BTreeMap<String, u32> = BTreeMap::new();
        snap.scan_all(CF_TWIN_IDS, |k, v| {
            let id = String::from_utf8_lossy(k).into_owned();
            ids.insert(id, decode_u32(v).unwrap_or(u32::MAX));
        })?;
        let mut by_model: BTreeSet<(String, u32)> = BTreeSet::new();
        for twin in snap.twins()? {
            let twin = twin?;
            report.twins += 1;
            if ids.get(&twin.id) != Some(&twin.num) {
                problems.push(format!(
                    "twin {} (#{}) is not in twin_ids",
                    twin.id, twin.num
                ));
            }
            by_model.insert((twin::model_of(&twin.doc).to_string(), twin.num));
        }
        if ids.len() as u64 != report.twins {
            problems.push(format!("{} twin ids but {} twins", ids.len(), report.twins));
        }
        let mut indexed: BTreeSet<(String, u32)> = BTreeSet::new();
        snap.scan_all(CF_MODEL_TWINS, |k, _| {
            if let Some((m, n)) = decode_model_twin(k) {
                indexed.insert((m.to_string(), n));
            }
        })?;
        if indexed != by_model {
            problems.push(format!(
                "model_twins disagrees with twins: {} missing, {} extra",
                by_model.difference(&indexed).count(),
                indexed.difference(&by_model).count()
            ));
        }
        for (model, num) in &by_model {
            if !snap.model_twins(model, true).contains(*num) {
                problems.push(format!("bitmap of {model} lacks twin #{num}"));
            }
        }
        if snap.twin_count() != report.twins {
            problems.push(format!(
                "bitmap holds {} twins, store {}",
                snap.twin_count(),
                report.twins
            ));
        }

        // relationships ↔ adjacency both ways
        let mut expected_out = BTreeSet::new();
        let mut expected_in = BTreeSet::new();
        for rel in snap.relationships()? {
            let rel: Relationship = rel?;
            report.relationships += 1;
            let (Some(&src), Some(&dst)) = (ids.get(&rel.source), ids.get(&rel.target)) else {
                problems.push(format!(
                    "relationship {}/{} has a missing end ({} → {})",
                    rel.source, rel.id, rel.source, rel.target
                ));
                continue;
            };
            expected_out.insert((out_edge_key(src, &rel.name, &rel.id), dst));
            expected_in.insert((in_edge_key(dst, src, &rel.id), rel.name.clone()));
        }
        let mut out = BTreeSet::new();
        snap.scan_all(CF_OUT, |k, v| {
            out.insert((k.to_vec(), decode_u32(v).unwrap_or(u32::MAX)));
        })?;
        let mut inc = BTreeSet::new();
        snap.scan_all(CF_IN, |k, v| {
            inc.insert((k.to_vec(), String::from_utf8_lossy(v).into_owned()));
        })?;
        let mut in_memory = BTreeSet::new();
        for source in ids.values() {
            for e in snap.out_edges(*source, None) {
                in_memory.insert((out_edge_key(*source, &e.name, &e.id), e.other));
            }
        }
        if in_memory != expected_out {
            problems.push(format!(
                "in-memory graph disagrees with relationships: {} missing, {} extra",
                expected_out.difference(&in_memory).count(),
                in_memory.difference(&expected_out).count()
            ));
        }
        let incoming_total: usize = ids.values().map(|t| snap.in_edges(*t).len()).sum();
        if incoming_total as u64 != report.relationships {
            problems.push(format!(
                "in-memory graph has {incoming_total} incoming edges for {} relationships",
                report.relationships
            ));
        }
        if out != expected_out {
            problems.push(format!(
                "adj_out disagrees with relationships: {} missing, {} extra",
                expected_out.difference(&out).count(),
                out.difference(&expected_out).count()
            ));
        }
        if inc != expected_in {
            problems.push(format!(
                "adj_in disagrees with relationships: {} missing, {} extra",
                expected_in.difference(&inc).count(),
                inc.difference(&expected_in).count()
            ));
        }

        // the change log: consecutive sequence numbers ending just before next_seq
        let mut previous: Option<u64> = None;
        snap.scan_all(CF_CDC, |k, _| {
            let seq = decode_u64(k).unwrap_or(0);
            if let Some(p) = previous {
                if seq != p + 1 {
                    problems.push(format!("change log gap: {p} then {seq}"));
                }
            }
            previous = Some(seq);
            report.changes += 1;
        })?;
        if let Some(last) = previous {
            if last + 1 != next_seq {
                problems.push(format!(
                    "last change {last}, but next sequence is {next_seq}"
                ));
            }
        }
        report.problems = problems;
        Ok(report)
    }
}

impl crate::snapshot::Snapshot<'_> {
    /// Calls `f` on every (key, value) of a column family.
    pub(crate) fn scan_all(&self, cf: &str, mut f: impl FnMut(&[u8], &[u8])) -> Result<()> {
        self.scan_prefix(cf, b"", |k, v| {
            f(k, v);
            Ok(true)
        })
        .map_err(|e: Error| e)
    }
}
