//! Twin operations: create or replace, JSON Patch (twin and component), delete, telemetry.

use serde_json::{json, Value};

use crate::cdc::{Change, ChangeKind};
use crate::db::{Engine, State};
use crate::error::{Entity, Error, Invalid, Result};
use crate::patch;
use crate::twin::{self, Twin};
use crate::{clock, limits, stage, twin_patch};
use twingraph_dtdl::FlatModel;

/// A write's condition on the current etag (`If-Match`).
pub(crate) fn check_if_match(if_match: Option<&str>, etag: &str) -> Result<()> {
    match if_match {
        None | Some("*") => Ok(()),
        Some(expected) if expected == etag => Ok(()),
        Some(expected) => Err(Error::PreconditionFailed(format!(
            "the etag {expected} does not match the current {etag}"
        ))),
    }
}

/// The flattened model a twin of `model` must conform to.
pub(crate) fn model_for_write<'s>(state: &'s State, model: &str) -> Result<&'s FlatModel> {
    state.catalog.get(model).map(|m| m.as_ref()).ok_or_else(|| {
        Error::validation(format!(
            "model {model} is not stored: upload it first (twins of a deleted model are read-only)"
        ))
    })
}

impl Engine {
    /// `PUT /digitaltwins/{id}`: creates the twin, or replaces it whole. With
    /// `if_none_match`, refuses to replace an existing twin.
    pub fn put_twin(&self, id: &str, body: &Value, if_none_match: bool) -> Result<Twin> {
        limits::check_id("twin", id)?;
        let mut commit = self.begin();
        let state = commit.base.clone();
        let existing = self.committed_twin(id)?;
        if if_none_match && existing.is_some() {
            return Err(Error::PreconditionFailed(format!(
                "twin {id} already exists"
            )));
        }
        let model_id = twin::requested_model(body)?;
        let model = model_for_write(&state, &model_id)?;
        let decommissioned = state
            .models
            .get(&model_id)
            .is_some_and(|m| m.decommissioned);
        if decommissioned && existing.as_ref().is_none_or(|t| t.model() != model_id) {
            return Err(Error::invalid(
                Invalid::ModelDecommissioned,
                format!("model {model_id} is decommissioned: no new twins may use it"),
            ));
        }
        let now = clock::now();
        let doc = twin::build(
            id,
            body,
            &|k| model.components.contains_key(k),
            &now,
            &twin::new_etag(),
        )?;
        twin::validate(&doc, model, &state.catalog)?;
        let bytes = twin::encode(&doc)?;
        let num = match &existing {
            Some(old) => {
                stage::twin_replaced(&mut commit, old.num, old.model(), &model_id, &bytes)?;
                old.num
            }
            None => {
                if state.index.all().len() >= self.config.max_twins {
                    return Err(Error::LimitExceeded(format!(
                        "the store holds its maximum of {} twins",
                        self.config.max_twins
                    )));
                }
                let num = commit.take_twin_number()?;
                stage::twin_created(&mut commit, id, num, &model_id, &bytes)?;
                num
            }
        };
        let change = match &existing {
            None => Change::new(ChangeKind::TwinCreate, id, id.into(), doc.clone()),
            Some(old) => Change::new(
                ChangeKind::TwinUpdate,
                id,
                id.into(),
                json!({"modelId": model_id, "patch": twin::diff(&old.doc, &doc)}),
            ),
        };
        commit.changes.push(change);
        self.commit(commit)?;
        Ok(Twin {
            id: id.into(),
            num,
            doc,
        })
    }

    /// `PATCH /digitaltwins/{id}` (and, with `component`, `PATCH …/components/{name}`).
    /// Returns the new etag.
    pub fn patch_twin(
        &self,
        id: &str,
        patch_doc: &Value,
        component: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<String> {
        let ops = patch::parse(patch_doc)?;
        let mut commit = self.begin();
        let state = commit.base.clone();
        let existing = self
            .committed_twin(id)?
            .ok_or_else(|| Error::not_found(Entity::Twin, id))?;
        check_if_match(if_match, existing.etag())?;
        let model = model_for_write(&state, existing.model())?;
        if let Some(c) = component {
            if !model.components.contains_key(c) {
                return Err(Error::not_found(Entity::Component, c));
            }
        }
        if ops.is_empty() {
            return Ok(existing.etag().to_string());
        }
        let now = clock::now();
        let mut doc = existing.doc.clone();
        twin_patch::apply(
            &mut doc,
            &ops,
            component,
            &|k| model.components.contains_key(k),
            &now,
        )?;
        let etag = twin::new_etag();
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("$etag".into(), Value::String(etag.clone()));
        }
        let new_model_id = twin::model_of(&doc).to_string();
        let new_model = model_for_write(&state, &new_model_id)?;
        if new_model_id != existing.model()
            && state
                .models
                .get(&new_model_id)
                .is_some_and(|m| m.decommissioned)
        {
            return Err(Error::invalid(
                Invalid::ModelDecommissioned,
                format!("model {new_model_id} is decommissioned"),
            ));
        }
        twin::validate(&doc, new_model, &state.catalog)?;
        stage::twin_replaced(
            &mut commit,
            existing.num,
            existing.model(),
            &new_model_id,
            &twin::encode(&doc)?,
        )?;
        let patch_json: Vec<Value> = ops
            .iter()
            .map(|op| {
                let mut op = op.clone();
                if let Some(c) = component {
                    op.path.insert(0, c.to_string());
                }
                op.to_json()
            })
            .collect();
        commit.changes.push(Change::new(
            ChangeKind::TwinUpdate,
            id,
            id.into(),
            json!({"modelId": new_model_id, "patch": patch_json}),
        ));
        self.commit(commit)?;
        Ok(etag)
    }

    /// `DELETE /digitaltwins/{id}`: refused while the twin has relationships.
    pub fn delete_twin(&self, id: &str, if_match: Option<&str>) -> Result<()> {
        let mut commit = self.begin();
        let snapshot = self.snapshot();
        let existing = snapshot.existing_twin(id)?;
        check_if_match(if_match, existing.etag())?;
        if snapshot.has_relationships(existing.num) {
            return Err(Error::invalid(
                Invalid::RelationshipsNotDeleted,
                format!("twin {id} still has relationships; delete them first"),
            ));
        }
        drop(snapshot);
        stage::twin_deleted(&mut commit, id, existing.num, existing.model())?;
        commit.changes.push(Change::new(
            ChangeKind::TwinDelete,
            id,
            id.into(),
            existing.doc,
        ));
        self.commit(commit)?;
        Ok(())
    }

    /// `POST /digitaltwins/{id}[/components/{c}]/telemetry`: records a telemetry event in the
    /// change log (nothing is stored on the twin). Returns its sequence number.
    pub fn publish_telemetry(
        &self,
        id: &str,
        component: Option<&str>,
        message_id: &str,
        source_time: Option<&str>,
        body: &Value,
    ) -> Result<u64> {
        if message_id.is_empty() {
            return Err(Error::invalid(Invalid::Argument, "Message-Id is required"));
        }
        let mut commit = self.begin();
        let state = &commit.base;
        let existing = self
            .committed_twin(id)?
            .ok_or_else(|| Error::not_found(Entity::Twin, id))?;
        let data_schema = match component {
            None => existing.model().to_string(),
            Some(c) => state
                .catalog
                .get(existing.model())
                .and_then(|m| m.components.get(c).cloned())
                .ok_or_else(|| Error::not_found(Entity::Component, c))?,
        };
        let mut change = Change::new(
            ChangeKind::Telemetry,
            id,
            component.unwrap_or_default().to_string(),
            body.clone(),
        );
        change.message_id = Some(message_id.to_string());
        change.data_schema = Some(data_schema);
        change.source_time = source_time.map(str::to_string);
        commit.changes.push(change);
        let seqs = self.commit(commit)?;
        seqs.first()
            .copied()
            .ok_or_else(|| Error::Internal("telemetry commit without a sequence".into()))
    }
}
