//! Model operations: upload a batch (all or nothing), decommission, delete.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::db::{build_catalog, Engine, State};
use crate::error::{Entity, Error, Invalid, Result};
use crate::model::StoredModel;
use crate::{clock, limits, model, stage};
use twingraph_dtdl as dtdl;

impl Engine {
    /// Validates and stores a batch of DTDL documents. Models may reference each other in
    /// any order and models already stored. Nothing is stored unless everything is valid.
    pub fn add_models(
        &self,
        documents: &[Value],
        options: &dtdl::Options,
    ) -> Result<Vec<StoredModel>> {
        if documents.is_empty() {
            return Err(Error::invalid(
                Invalid::Argument,
                "the model list must not be empty",
            ));
        }
        if documents.len() > limits::MAX_MODELS_PER_BATCH {
            return Err(Error::LimitExceeded(format!(
                "{} models in one call; at most {} are allowed",
                documents.len(),
                limits::MAX_MODELS_PER_BATCH
            )));
        }
        for (i, doc) in documents.iter().enumerate() {
            let size = serde_json::to_vec(doc)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size > limits::MAX_MODEL_BYTES {
                return Err(Error::LimitExceeded(format!(
                    "model {i} is {size} bytes; a model may be at most {} bytes",
                    limits::MAX_MODEL_BYTES
                )));
            }
        }
        let mut commit = self.begin();
        let state = commit.base.clone();
        let lookup = |id: &str| state.models.get(id).map(|m| m.definition.clone());
        let interfaces = dtdl::validate_batch(documents, &lookup, options).map_err(Error::Dtdl)?;
        let now = clock::now();
        let mut models = (*state.models).clone();
        let mut added = Vec::with_capacity(interfaces.len());
        for definition in interfaces {
            let id = definition
                .get("@id")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Internal("validated Interface without @id".into()))?
                .to_string();
            if models.contains_key(&id) {
                return Err(Error::AlreadyExists {
                    entity: Entity::Model,
                    id,
                });
            }
            let stored = StoredModel {
                id: id.clone(),
                definition,
                upload_time: now.clone(),
                decommissioned: false,
            };
            stage::model_stored(&mut commit, &id, &model::encode(&stored)?)?;
            models.insert(id, stored.clone());
            added.push(stored);
        }
        commit.state = Some(with_models(&state, models)?);
        self.commit(commit)?;
        Ok(added)
    }

    /// Marks a model decommissioned: no new twins of it; existing twins keep working.
    pub fn decommission_model(&self, id: &str) -> Result<()> {
        let mut commit = self.begin();
        let state = commit.base.clone();
        let mut models = (*state.models).clone();
        let stored = models
            .get_mut(id)
            .ok_or_else(|| Error::not_found(Entity::Model, id))?;
        if stored.decommissioned {
            return Ok(());
        }
        stored.decommissioned = true;
        stage::model_stored(&mut commit, id, &model::encode(stored)?)?;
        let mut next = state.clone();
        next.models = Arc::new(models);
        commit.state = Some(next);
        self.commit(commit)?;
        Ok(())
    }

    /// Deletes a model no other model depends on. Its twins stay, without a model.
    pub fn delete_model(&self, id: &str) -> Result<()> {
        let mut commit = self.begin();
        let state = commit.base.clone();
        if !state.models.contains_key(id) {
            return Err(Error::not_found(Entity::Model, id));
        }
        let dependents = state.catalog.dependents(id);
        if !dependents.is_empty() {
            return Err(Error::ModelReferenced(format!(
                "model {id} is referenced by {} (through extends or as a component); delete those first",
                dependents.join(", ")
            )));
        }
        let mut models = (*state.models).clone();
        models.remove(id);
        stage::model_deleted(&mut commit, id)?;
        commit.state = Some(with_models(&state, models)?);
        self.commit(commit)?;
        Ok(())
    }
}

fn with_models(state: &State, models: BTreeMap<String, StoredModel>) -> Result<State> {
    let catalog = build_catalog(&models)?;
    Ok(State {
        catalog: Arc::new(catalog),
        models: Arc::new(models),
        index: state.index.clone(),
        graph: state.graph.clone(),
        versions: state.versions.clone(),
    })
}
