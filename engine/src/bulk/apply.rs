//! The stateful half of importing: in file order, check what depends on other lines and on
//! the store (duplicate ids, relationship ends and their models, per-twin limits), then, when
//! writing, stage each item exactly as the per-operation path does (data, `twin_ids`,
//! `model_twins`, both adjacency CFs, the model index, the graph, one change record each).

use std::collections::{HashMap, HashSet};

use super::format::LineError;
use super::prepare::Prepared;
use crate::cdc::{relationship_subject, Change, ChangeKind};
use crate::db::{Commit, Engine, State};
use crate::error::{Error, Result};
use crate::limits;
use crate::relationship::{self, Relationship};
use crate::snapshot::Snapshot;
use crate::stage::{self, Edge};

/// A twin this import knows: from the file, or read from the store when first referenced.
struct Slot {
    model: u32,
    /// Twin number, once it is in the store.
    num: Option<u32>,
    /// Edges this import added that the current snapshot does not show yet.
    out: u32,
    inc: u32,
}

/// What the import remembers across lines. Memory: one entry per twin of the file (id and a
/// few integers), plus, when only checking, one per relationship (its source and id).
#[derive(Default)]
pub(crate) struct Known {
    ids: HashMap<String, u32>,
    slots: Vec<Slot>,
    model_names: Vec<String>,
    model_numbers: HashMap<String, u32>,
    /// (source slot ‖ relationship id) of relationships not yet visible in the snapshot.
    rels: HashSet<Box<[u8]>>,
    /// Slots whose `out`/`inc` count edges not yet visible in the snapshot.
    touched: Vec<u32>,
    /// Strict multiplicity only: (source slot, name) → edges not yet visible.
    named: HashMap<(u32, String), u64>,
    /// Twin numbers from here on were given in the batch being built: not in the snapshot.
    pub batch_start: u32,
}

/// Counts of what was accepted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub twins: u64,
    pub relationships: u64,
}

impl Known {
    fn model_number(&mut self, model: &str) -> u32 {
        if let Some(n) = self.model_numbers.get(model) {
            return *n;
        }
        let n = self.model_names.len() as u32;
        self.model_names.push(model.to_string());
        self.model_numbers.insert(model.to_string(), n);
        n
    }

    fn add(&mut self, id: &str, model: &str, num: Option<u32>) -> u32 {
        let model = self.model_number(model);
        let slot = self.slots.len() as u32;
        self.slots.push(Slot {
            model,
            num,
            out: 0,
            inc: 0,
        });
        self.ids.insert(id.to_string(), slot);
        slot
    }

    /// The slot of twin `id`: known already, or read from the store. `None` when neither
    /// the file (so far) nor the store has it.
    fn lookup(&mut self, id: &str, snapshot: &Snapshot<'_>) -> Result<Option<u32>> {
        if let Some(slot) = self.ids.get(id) {
            let slot = *slot;
            // Twin numbers are never reused: a number missing from the bitmap was deleted
            // (by a client, while a server import runs).
            return Ok(match self.slots[slot as usize].num {
                Some(num) if num < self.batch_start && !snapshot.all_twins().contains(num) => None,
                _ => Some(slot),
            });
        }
        match snapshot.twin(id)? {
            Some(t) => Ok(Some(self.add(id, t.model(), Some(t.num)))),
            None => Ok(None),
        }
    }

    /// Forgets per-batch state once a batch is committed: the snapshot now shows it.
    pub fn batch_committed(&mut self) {
        for slot in self.touched.drain(..) {
            let s = &mut self.slots[slot as usize];
            s.out = 0;
            s.inc = 0;
        }
        self.rels.clear();
        self.named.clear();
    }
}

/// Applies prepared items in order. `commit` is `None` when only checking.
pub(crate) struct Apply<'s, 'e> {
    pub engine: &'e Engine,
    pub snapshot: &'s Snapshot<'e>,
    pub state: &'s State,
    pub known: &'s mut Known,
    pub counts: &'s mut Counts,
}

impl Apply<'_, '_> {
    /// Checks one item and, with a commit, stages it. A refused item is returned as a
    /// line error and changes nothing.
    pub fn item(
        &mut self,
        item: Prepared,
        commit: Option<&mut Commit<'_>>,
    ) -> Result<std::result::Result<(), LineError>> {
        let line = item.line();
        let outcome = match item {
            Prepared::Failed(e) => return Ok(Err(e)),
            Prepared::Twin {
                id,
                model,
                doc,
                bytes,
                ..
            } => self.twin(id, &model, doc, bytes, commit),
            Prepared::Relationship { rel, bytes, .. } => self.relationship(rel, bytes, commit),
        };
        match outcome {
            Ok(()) => Ok(Ok(())),
            Err(Error::Storage(e)) => Err(Error::Storage(e)),
            Err(e @ (Error::Corruption(_) | Error::Internal(_))) => Err(e),
            Err(e) => Ok(Err(LineError {
                line,
                reason: e.to_string(),
            })),
        }
    }

    fn twin(
        &mut self,
        id: String,
        model: &str,
        doc: serde_json::Value,
        bytes: Vec<u8>,
        commit: Option<&mut Commit<'_>>,
    ) -> Result<()> {
        if self.known.ids.contains_key(&id) {
            return Err(Error::validation(format!(
                "twin {id} appears twice in the file (or already exists)"
            )));
        }
        if self.snapshot.twin_num(&id)?.is_some() {
            return Err(Error::validation(format!("twin {id} already exists")));
        }
        let total = self.snapshot.twin_count() + self.counts.twins;
        if total >= self.engine.config.max_twins {
            return Err(Error::LimitExceeded(format!(
                "the store holds its maximum of {} twins",
                self.engine.config.max_twins
            )));
        }
        if self.state.catalog.get(model).is_none() {
            return Err(Error::validation(format!(
                "model {model} was deleted during the import"
            )));
        }
        let num = match commit {
            None => None,
            Some(commit) => {
                let num = commit.take_twin_number()?;
                stage::twin_created(commit, &id, num, model, &bytes)?;
                commit
                    .changes
                    .push(Change::new(ChangeKind::TwinCreate, &id, id.clone(), doc));
                Some(num)
            }
        };
        self.known.add(&id, model, num);
        self.counts.twins += 1;
        Ok(())
    }

    fn relationship(
        &mut self,
        rel: Relationship,
        bytes: Vec<u8>,
        commit: Option<&mut Commit<'_>>,
    ) -> Result<()> {
        let snapshot = self.snapshot;
        let source = self.known.lookup(&rel.source, snapshot)?.ok_or_else(|| {
            Error::validation(format!(
                "source twin {} is neither stored nor in the Twins section",
                rel.source
            ))
        })?;
        let source_model =
            self.known.model_names[self.known.slots[source as usize].model as usize].clone();
        let model = self.state.catalog.get(&source_model).ok_or_else(|| {
            Error::validation(format!(
                "twin {} is of model {source_model}, which is not stored",
                rel.source
            ))
        })?;
        let def = model.relationships.get(&rel.name).ok_or_else(|| {
            Error::invalid(
                crate::error::Invalid::Relationship,
                format!(
                    "relationship '{}' is not defined on model {source_model} of twin {}",
                    rel.name, rel.source
                ),
            )
        })?;
        if rel.target == rel.source {
            return Err(Error::invalid(
                crate::error::Invalid::SelfRelationship,
                "the relationship cannot connect to the same digital twin",
            ));
        }
        let target = self.known.lookup(&rel.target, snapshot)?.ok_or_else(|| {
            Error::validation(format!(
                "target twin {} is neither stored nor in the Twins section",
                rel.target
            ))
        })?;
        if let Some(wanted) = &def.target {
            let target_model =
                &self.known.model_names[self.known.slots[target as usize].model as usize];
            let ok = self
                .state
                .catalog
                .get(target_model)
                .is_some_and(|m| m.ancestors.contains(wanted));
            if !ok {
                return Err(Error::invalid(
                    crate::error::Invalid::Relationship,
                    format!(
                        "relationship '{}' must target a twin of {wanted}; twin {} is of {target_model}",
                        rel.name, rel.target
                    ),
                ));
            }
        }
        relationship::validate_properties(&rel.doc, def)?;
        let mut seen = Vec::with_capacity(4 + rel.id.len());
        seen.extend_from_slice(&source.to_be_bytes());
        seen.extend_from_slice(rel.id.as_bytes());
        let seen: Box<[u8]> = seen.into();
        let source_num = self.known.slots[source as usize].num;
        let stored = match source_num {
            Some(num) => snapshot.relationship_by_num(num, &rel.id)?.is_some(),
            None => false,
        };
        if stored || self.known.rels.contains(&seen) {
            return Err(Error::validation(format!(
                "relationship {} of twin {} appears twice in the file (or already exists)",
                rel.id, rel.source
            )));
        }
        let target_num = self.known.slots[target as usize].num;
        let max = limits::MAX_RELATIONSHIPS_PER_TWIN as u64;
        let out = source_num.map_or(0, |n| snapshot.out_edges(n, None).len() as u64)
            + u64::from(self.known.slots[source as usize].out);
        if out >= max {
            return Err(Error::LimitExceeded(format!(
                "twin {} has {max} outgoing relationships, the maximum",
                rel.source
            )));
        }
        let inc = target_num.map_or(0, |n| snapshot.in_edges(n).len() as u64)
            + u64::from(self.known.slots[target as usize].inc);
        if inc >= max {
            return Err(Error::LimitExceeded(format!(
                "twin {} has {max} incoming relationships, the maximum",
                rel.target
            )));
        }
        if let (true, Some(limit)) = (self.engine.config.strict_multiplicity, def.max_multiplicity)
        {
            let staged = self
                .known
                .named
                .entry((source, rel.name.clone()))
                .or_default();
            let stored = source_num.map_or(0, |n| snapshot.out_edges(n, Some(&rel.name)).len())
                as u64
                + *staged;
            if stored >= limit {
                return Err(Error::validation(format!(
                    "twin {} already has {stored} '{}' relationships; maxMultiplicity is {limit}",
                    rel.source, rel.name
                )));
            }
            *staged += 1;
        }
        if let Some(commit) = commit {
            let (Some(src), Some(dst)) = (source_num, target_num) else {
                return Err(Error::Internal(
                    "a relationship end was checked but never written".into(),
                ));
            };
            let edge = Edge {
                source: src,
                name: &rel.name,
                id: &rel.id,
                target: dst,
            };
            stage::relationship_stored(commit, edge, &bytes)?;
            let subject = relationship_subject(&rel.source, &rel.id);
            commit.changes.push(Change::new(
                ChangeKind::RelationshipCreate,
                &rel.source,
                subject,
                rel.doc,
            ));
        }
        self.known.rels.insert(seen);
        for (slot, outgoing) in [(source, true), (target, false)] {
            let s = &mut self.known.slots[slot as usize];
            if s.out == 0 && s.inc == 0 {
                self.known.touched.push(slot);
            }
            if outgoing {
                s.out += 1;
            } else {
                s.inc += 1;
            }
        }
        self.counts.relationships += 1;
        Ok(())
    }
}
