//! `/models`: upload a batch, list (with `dependenciesFor`), get, decommission, delete.

use std::collections::BTreeSet;
use std::fmt;

use axum::http::StatusCode;
use axum::response::Response;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twingraph_dtdl::Options;
use twingraph_engine::{limits, Entity, Snapshot};

use super::{blocking, json_response, no_content, Req, MODELS_BODY};
use crate::error::{ApiError, Code};
use crate::paging;
use crate::wire::{ModelData, Page};

/// ADT returns at most 100 models per page.
const MAX_PAGE: usize = 100;
/// How many ids one `dependenciesFor` may name (ADT's figure is undocumented).
const MAX_DEPENDENCIES_FOR: usize = 250;
/// Marks the deserializer error that means "too many models" rather than "bad JSON".
const TOO_MANY: &str = "twingraph:too-many-models";

/// `POST /models` → 201 with the new models' data.
pub async fn add(mut req: Req) -> Result<Response, ApiError> {
    req.json_content_type()?;
    let bytes = req.bytes(MODELS_BODY).await?;
    let documents = parse_batch(&bytes)?;
    let added = blocking(&req.app, move |engine| {
        Ok(engine.add_models(&documents, &Options::default())?)
    })
    .await?;
    let body: Vec<ModelData> = added.iter().map(|m| ModelData::new(m, false)).collect();
    let body = serde_json::to_value(body).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::CREATED, &body))
}

/// Parses the upload body as an array of at most 250 documents, refusing a longer array as
/// soon as its 251st element is read instead of building all of it.
fn parse_batch(bytes: &[u8]) -> Result<Vec<Value>, ApiError> {
    struct Batch(Vec<Value>);
    impl<'de> Deserialize<'de> for Batch {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Batch, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Batch;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a JSON array of DTDL model documents")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch, A::Error> {
                    let mut out = Vec::new();
                    while let Some(doc) = seq.next_element::<Value>()? {
                        if out.len() == limits::MAX_MODELS_PER_BATCH {
                            return Err(de::Error::custom(TOO_MANY));
                        }
                        out.push(doc);
                    }
                    Ok(Batch(out))
                }
            }
            d.deserialize_seq(V)
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "the request body is empty; a JSON array was expected",
        ));
    }
    match serde_json::from_slice::<Batch>(bytes) {
        Ok(Batch(docs)) if docs.is_empty() => {
            Err(ApiError::invalid("the model list must not be empty"))
        }
        Ok(Batch(docs)) => Ok(docs),
        Err(e) if e.to_string().starts_with(TOO_MANY) => Err(ApiError::new(
            Code::LimitExceeded,
            format!(
                "at most {} models may be uploaded in one call",
                limits::MAX_MODELS_PER_BATCH
            ),
        )),
        Err(e) if e.is_data() => Err(ApiError::invalid(format!(
            "the body must be a JSON array of models: {e}"
        ))),
        Err(e) => Err(ApiError::invalid(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Everything a page of the model list needs; travels in the nextLink.
#[derive(Serialize, Deserialize)]
struct ListState {
    /// The last id returned.
    after: Option<String>,
    /// `dependenciesFor`, when given.
    deps: Option<Vec<String>>,
    definition: bool,
    size: usize,
}

/// `GET /models[?dependenciesFor=…&includeModelDefinition=…]`.
pub async fn list(req: Req) -> Result<Response, ApiError> {
    let state = match paging::token::<ListState>(&req)? {
        Some(state) => state,
        None => ListState {
            after: None,
            deps: dependencies_for(&req)?,
            definition: req.bool_param("includeModelDefinition")?,
            size: req.page_size(MAX_PAGE, MAX_PAGE)?,
        },
    };
    let size = state.size.clamp(1, MAX_PAGE);
    let (items, last) = blocking(&req.app, move |engine| {
        let snapshot = engine.snapshot();
        let wanted = match &state.deps {
            Some(roots) => Some(dependency_closure(&snapshot, roots)?),
            None => None,
        };
        let mut items = Vec::new();
        let mut more = false;
        for model in snapshot.models() {
            if state
                .after
                .as_deref()
                .is_some_and(|a| model.id.as_str() <= a)
            {
                continue;
            }
            if wanted.as_ref().is_some_and(|w| !w.contains(&model.id)) {
                continue;
            }
            if items.len() == size {
                more = true;
                break;
            }
            let data = serde_json::to_value(ModelData::new(model, state.definition))
                .map_err(ApiError::internal)?;
            items.push((model.id.clone(), data));
        }
        let last = more
            .then(|| items.last().map(|(id, _)| id.clone()))
            .flatten()
            .map(|after| ListState {
                after: Some(after),
                ..state
            });
        Ok((items, last))
    })
    .await?;
    let next_link = match last {
        Some(next) => Some(paging::next_link(&req, "/models", &next)?),
        None => None,
    };
    let page = Page {
        value: items.into_iter().map(|(_, v)| v).collect(),
        next_link,
    };
    let body = serde_json::to_value(page).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, &body))
}

/// `dependenciesFor`, repeated (Python) or comma-separated (JavaScript), or both.
fn dependencies_for(req: &Req) -> Result<Option<Vec<String>>, ApiError> {
    let ids: Vec<String> = req
        .params
        .iter()
        .filter(|(k, _)| k == "dependenciesFor")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.len() > MAX_DEPENDENCIES_FOR {
        return Err(ApiError::new(
            Code::LimitExceeded,
            format!("dependenciesFor may name at most {MAX_DEPENDENCIES_FOR} models"),
        ));
    }
    Ok((!ids.is_empty()).then_some(ids))
}

/// The named models plus everything they extend or use as component schemas, transitively.
/// Relationship targets are not dependencies.
fn dependency_closure(snapshot: &Snapshot, roots: &[String]) -> Result<BTreeSet<String>, ApiError> {
    let mut out = BTreeSet::new();
    for id in roots {
        if snapshot.model(id).is_none() {
            return Err(ApiError::not_found(Entity::Model, id));
        }
        out.insert(id.clone());
        out.extend(snapshot.catalog().dependencies(id));
    }
    Ok(out)
}

/// `GET /models/{id}[?includeModelDefinition=true]`.
pub async fn get(req: Req, id: String) -> Result<Response, ApiError> {
    let definition = req.bool_param("includeModelDefinition")?;
    let body = blocking(&req.app, move |engine| {
        let snapshot = engine.snapshot();
        let model = snapshot
            .model(&id)
            .ok_or_else(|| ApiError::not_found(Entity::Model, &id))?;
        serde_json::to_value(ModelData::new(model, definition)).map_err(ApiError::internal)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &body))
}

/// `PATCH /models/{id}`: only `[{"op":"replace","path":"/decommissioned","value":true}]`.
pub async fn update(mut req: Req, id: String) -> Result<Response, ApiError> {
    let patch = req.json(super::SMALL_BODY).await?;
    check_decommission_patch(&patch)?;
    blocking(&req.app, move |engine| Ok(engine.decommission_model(&id)?)).await?;
    Ok(no_content())
}

fn check_decommission_patch(patch: &Value) -> Result<(), ApiError> {
    let invalid = |m: &str| ApiError::new(Code::JsonPatchInvalid, m.to_string());
    let ops = patch
        .as_array()
        .ok_or_else(|| invalid("the body must be a JSON Patch array"))?;
    if ops.is_empty() {
        return Err(invalid("the patch is empty"));
    }
    for op in ops {
        if op.get("op").and_then(Value::as_str) != Some("replace")
            || op.get("path").and_then(Value::as_str) != Some("/decommissioned")
        {
            return Err(invalid(
                "only {\"op\":\"replace\",\"path\":\"/decommissioned\",\"value\":true} is allowed on a model",
            ));
        }
        if op.get("value") != Some(&Value::Bool(true)) {
            return Err(invalid(
                "a model can only be decommissioned (value true); it cannot be recommissioned",
            ));
        }
    }
    Ok(())
}

/// `DELETE /models/{id}`: 409 while other models extend it or use it as a component.
pub async fn delete(req: Req, id: String) -> Result<Response, ApiError> {
    blocking(&req.app, move |engine| Ok(engine.delete_model(&id)?)).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batch_limits() {
        assert!(parse_batch(b"[{}]").is_ok());
        assert_eq!(parse_batch(b"[]").unwrap_err().code, Code::InvalidArgument);
        assert_eq!(parse_batch(b"{}").unwrap_err().code, Code::InvalidArgument);
        assert_eq!(parse_batch(b"[1,").unwrap_err().code, Code::InvalidArgument);
        let big = format!("[{}1]", "1,".repeat(1_000_000));
        assert_eq!(
            parse_batch(big.as_bytes()).unwrap_err().code,
            Code::LimitExceeded
        );
    }

    #[test]
    fn decommission_patch() {
        let ok = json!([{"op": "replace", "path": "/decommissioned", "value": true}]);
        assert!(check_decommission_patch(&ok).is_ok());
        for bad in [
            json!([]),
            json!({}),
            json!([{"op": "replace", "path": "/decommissioned", "value": false}]),
            json!([{"op": "add", "path": "/decommissioned", "value": true}]),
            json!([{"op": "replace", "path": "/displayName", "value": "x"}]),
        ] {
            assert_eq!(
                check_decommission_patch(&bad).unwrap_err().code,
                Code::JsonPatchInvalid
            );
        }
    }
}
