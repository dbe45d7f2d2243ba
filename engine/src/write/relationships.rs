//! Relationship operations: create or replace, JSON Patch, delete. Each keeps the body and
//! both adjacency entries in one batch.

use serde_json::{json, Value};

use crate::cdc::{relationship_subject, Change, ChangeKind};
use crate::db::{Engine, State};
use crate::error::{Entity, Error, Invalid, Result};
use crate::relationship::{self, Relationship};
use crate::snapshot::Snapshot;
use crate::stage::{self, Edge, Gone};
use crate::twin::{self, Twin};
use crate::write::twins::{check_if_match, model_for_write};
use crate::{limits, patch};
use twingraph_dtdl::RelationshipDef;

impl Engine {
    /// `PUT /digitaltwins/{source}/relationships/{id}`: creates or replaces a relationship.
    pub fn put_relationship(
        &self,
        source: &str,
        id: &str,
        body: &Value,
        if_none_match: bool,
    ) -> Result<Relationship> {
        limits::check_id("relationship", id)?;
        let mut commit = self.begin();
        let state = commit.base.clone();
        let snapshot = self.snapshot();
        let source_twin = snapshot.existing_twin(source)?;
        let existing = snapshot.relationship_by_num(source_twin.num, id)?;
        if if_none_match && existing.is_some() {
            return Err(Error::PreconditionFailed(format!(
                "relationship {id} of twin {source} already exists"
            )));
        }
        let rel = relationship::build(source, id, body, &twin::new_etag())?;
        let (target_twin, def) = self.check_endpoints(&snapshot, &state, &source_twin, &rel)?;
        relationship::validate_properties(&rel.doc, &def)?;
        self.check_counts(
            &snapshot,
            &source_twin,
            &target_twin,
            &def,
            existing.as_ref(),
        )?;
        if let Some(old) = &existing {
            let old_target = snapshot.twin_num(&old.target)?;
            let gone = Gone {
                source: source_twin.num,
                name: &old.name,
                id: &old.id,
                target: old_target,
            };
            stage::edge_removed(&mut commit, gone)?;
        }
        drop(snapshot);
        stage::relationship_stored(
            &mut commit,
            edge(source_twin.num, &rel, target_twin.num),
            &relationship::encode(&rel.doc)?,
        )?;
        let subject = relationship_subject(source, id);
        let change = match &existing {
            None => Change::new(
                ChangeKind::RelationshipCreate,
                source,
                subject,
                rel.doc.clone(),
            ),
            Some(old) => Change::new(
                ChangeKind::RelationshipUpdate,
                source,
                subject,
                json!({"modelId": source_twin.model(), "patch": relationship::diff(&old.doc, &rel.doc)}),
            ),
        };
        commit.changes.push(change);
        self.commit(commit)?;
        Ok(rel)
    }

    /// Checks what ADT checks of a relationship's ends: the name is defined on the source's
    /// model, the target exists, is another twin, and is of the target model.
    fn check_endpoints(
        &self,
        snapshot: &Snapshot<'_>,
        state: &State,
        source: &Twin,
        rel: &Relationship,
    ) -> Result<(Twin, RelationshipDef)> {
        let source_model = model_for_write(state, source.model())?;
        let def = source_model
            .relationships
            .get(&rel.name)
            .cloned()
            .ok_or_else(|| {
                Error::invalid(
                    Invalid::Relationship,
                    format!(
                        "relationship '{}' is not defined on model {} of twin {}",
                        rel.name,
                        source.model(),
                        source.id
                    ),
                )
            })?;
        if rel.target == rel.source {
            return Err(Error::invalid(
                Invalid::SelfRelationship,
                "the relationship cannot connect to the same digital twin",
            ));
        }
        let target = snapshot
            .twin(&rel.target)?
            .ok_or_else(|| Error::not_found(Entity::TargetTwin, &rel.target))?;
        if let Some(wanted) = &def.target {
            let ok = state
                .catalog
                .get(target.model())
                .is_some_and(|m| m.ancestors.contains(wanted));
            if !ok {
                return Err(Error::invalid(
                    Invalid::Relationship,
                    format!(
                        "relationship '{}' must target a twin of {wanted}; twin {} is of {}",
                        rel.name,
                        target.id,
                        target.model()
                    ),
                ));
            }
        }
        Ok((target, def))
    }

    /// ADT's per-twin relationship limits, and `maxMultiplicity` in strict mode.
    fn check_counts(
        &self,
        snapshot: &Snapshot<'_>,
        source: &Twin,
        target: &Twin,
        def: &RelationshipDef,
        replacing: Option<&Relationship>,
    ) -> Result<()> {
        // A replaced relationship's own edge does not count against the new one.
        let replaced = |same: bool| u64::from(same);
        let same_name = replacing.is_some_and(|old| old.name == def.name);
        let same_source = replacing.is_some();
        let same_target = replacing.is_some_and(|old| old.target == target.id);
        if let (true, Some(max)) = (self.config.strict_multiplicity, def.max_multiplicity) {
            let count = (snapshot.out_edges(source.num, Some(&def.name)).len() as u64)
                .saturating_sub(replaced(same_name));
            if count >= max {
                return Err(Error::validation(format!(
                    "twin {} already has {count} '{}' relationships; maxMultiplicity is {max}",
                    source.id, def.name
                )));
            }
        }
        let outgoing = (snapshot.out_edges(source.num, None).len() as u64)
            .saturating_sub(replaced(same_source));
        if outgoing >= limits::MAX_RELATIONSHIPS_PER_TWIN as u64 {
            return Err(Error::LimitExceeded(format!(
                "twin {} has {} outgoing relationships, the maximum",
                source.id,
                limits::MAX_RELATIONSHIPS_PER_TWIN
            )));
        }
        let incoming =
            (snapshot.in_edges(target.num).len() as u64).saturating_sub(replaced(same_target));
        if incoming >= limits::MAX_RELATIONSHIPS_PER_TWIN as u64 {
            return Err(Error::LimitExceeded(format!(
                "twin {} has {} incoming relationships, the maximum",
                target.id,
                limits::MAX_RELATIONSHIPS_PER_TWIN
            )));
        }
        Ok(())
    }

    /// `PATCH …/relationships/{id}`: JSON Patch on relationship properties. Returns the new etag.
    pub fn patch_relationship(
        &self,
        source: &str,
        id: &str,
        patch_doc: &Value,
        if_match: Option<&str>,
    ) -> Result<String> {
        let ops = patch::parse(patch_doc)?;
        let mut commit = self.begin();
        let state = commit.base.clone();
        let snapshot = self.snapshot();
        let source_twin = snapshot.existing_twin(source)?;
        let existing = snapshot
            .relationship_by_num(source_twin.num, id)?
            .ok_or_else(|| Error::not_found(Entity::Relationship, id))?;
        check_if_match(if_match, existing.etag())?;
        if ops.is_empty() {
            return Ok(existing.etag().to_string());
        }
        let mut doc = existing.doc.clone();
        for op in &ops {
            if op.path.first().is_some_and(|s| s.starts_with('$')) {
                return Err(Error::invalid(
                    Invalid::JsonPatch,
                    "only relationship properties can be patched",
                ));
            }
            patch::apply_op(&mut doc, op)?;
        }
        let etag = twin::new_etag();
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("$etag".into(), Value::String(etag.clone()));
        }
        let rel = Relationship::from_doc(doc)?;
        let source_model = model_for_write(&state, source_twin.model())?;
        let def = source_model.relationships.get(&rel.name).ok_or_else(|| {
            Error::invalid(
                Invalid::Relationship,
                format!(
                    "relationship '{}' is no longer defined on model {}",
                    rel.name,
                    source_twin.model()
                ),
            )
        })?;
        relationship::validate_properties(&rel.doc, def)?;
        let target = snapshot.twin_num(&rel.target)?.unwrap_or_default();
        drop(snapshot);
        stage::relationship_stored(
            &mut commit,
            edge(source_twin.num, &rel, target),
            &relationship::encode(&rel.doc)?,
        )?;
        let patch_json: Vec<Value> = ops.iter().map(|op| op.to_json()).collect();
        commit.changes.push(Change::new(
            ChangeKind::RelationshipUpdate,
            source,
            relationship_subject(source, id),
            json!({"modelId": source_twin.model(), "patch": patch_json}),
        ));
        self.commit(commit)?;
        Ok(etag)
    }

    /// `DELETE …/relationships/{id}`.
    pub fn delete_relationship(
        &self,
        source: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let mut commit = self.begin();
        let snapshot = self.snapshot();
        let source_twin = snapshot.existing_twin(source)?;
        let existing = snapshot
            .relationship_by_num(source_twin.num, id)?
            .ok_or_else(|| Error::not_found(Entity::Relationship, id))?;
        check_if_match(if_match, existing.etag())?;
        let target = snapshot.twin_num(&existing.target)?;
        drop(snapshot);
        let gone = Gone {
            source: source_twin.num,
            name: &existing.name,
            id,
            target,
        };
        stage::relationship_deleted(&mut commit, gone)?;
        commit.changes.push(Change::new(
            ChangeKind::RelationshipDelete,
            source,
            relationship_subject(source, id),
            existing.doc,
        ));
        self.commit(commit)?;
        Ok(())
    }
}

fn edge(source: u32, rel: &Relationship, target: u32) -> Edge<'_> {
    Edge {
        source,
        name: &rel.name,
        id: &rel.id,
        target,
    }
}
