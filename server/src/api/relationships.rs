//! `/digitaltwins/{id}/relationships…` and `…/incomingrelationships`: get, create or replace,
//! JSON Patch, delete, and the two paged lists.

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twingraph_engine::Entity;

use super::{blocking, json_response, no_content, with_etag, Req, SMALL_BODY};
use crate::error::ApiError;
use crate::wire::Page;
use crate::{paging, path};

/// Page size when the client names none (ADT declares no `max-items-per-page` here; we
/// honour it anyway).
const PAGE: usize = 1000;

/// `GET …/relationships/{relId}` → the relationship and its `ETag`.
pub async fn get(req: Req, source: String, id: String) -> Result<Response, ApiError> {
    let rel = blocking(&req.app, move |engine| {
        let snapshot = engine.snapshot();
        if snapshot.twin_num(&source)?.is_none() {
            return Err(ApiError::not_found(Entity::Twin, &source));
        }
        snapshot
            .relationship(&source, &id)?
            .ok_or_else(|| ApiError::not_found(Entity::Relationship, &id))
    })
    .await?;
    let etag = rel.etag().to_string();
    Ok(with_etag(json_response(StatusCode::OK, &rel.doc), &etag))
}

/// `PUT …/relationships/{relId}`: 200 on create and replace; `If-None-Match: *` → create only.
pub async fn put(mut req: Req, source: String, id: String) -> Result<Response, ApiError> {
    let create_only = req.if_none_match_star()?;
    let body = req.json(SMALL_BODY).await?;
    let rel = blocking(&req.app, move |engine| {
        Ok(engine.put_relationship(&source, &id, &body, create_only)?)
    })
    .await?;
    let etag = rel.etag().to_string();
    Ok(with_etag(json_response(StatusCode::OK, &rel.doc), &etag))
}

/// `PATCH …/relationships/{relId}`: 204 with the new `ETag`.
pub async fn patch(mut req: Req, source: String, id: String) -> Result<Response, ApiError> {
    let if_match = req.if_match()?;
    let patch = req.json(SMALL_BODY).await?;
    let etag = blocking(&req.app, move |engine| {
        Ok(engine.patch_relationship(&source, &id, &patch, if_match.as_deref())?)
    })
    .await?;
    Ok(with_etag(no_content(), &etag))
}

/// `DELETE …/relationships/{relId}` → 204.
pub async fn delete(req: Req, source: String, id: String) -> Result<Response, ApiError> {
    let if_match = req.if_match()?;
    blocking(&req.app, move |engine| {
        Ok(engine.delete_relationship(&source, &id, if_match.as_deref())?)
    })
    .await?;
    Ok(no_content())
}

/// State of an outgoing-relationships listing; travels in the nextLink.
#[derive(Serialize, Deserialize)]
struct OutState {
    source: String,
    name: Option<String>,
    /// (name, id) of the last relationship returned: the engine's out-edge order.
    after: Option<(String, String)>,
    size: usize,
}

/// `GET /digitaltwins/{id}/relationships[?relationshipName=…]`: full relationships.
pub async fn list(req: Req, source: String) -> Result<Response, ApiError> {
    let state = match paging::token::<OutState>(&req)? {
        Some(state) if state.source == source => state,
        Some(_) => {
            return Err(ApiError::invalid(
                "the continuation token is for another twin",
            ))
        }
        None => OutState {
            name: req
                .param("relationshipName")
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            source: source.clone(),
            after: None,
            size: req.page_size(PAGE, PAGE)?,
        },
    };
    let size = state.size.clamp(1, PAGE);
    let (value, next) = blocking(&req.app, move |engine| {
        let snapshot = engine.snapshot();
        let num = snapshot
            .twin_num(&state.source)?
            .ok_or_else(|| ApiError::not_found(Entity::Twin, &state.source))?;
        // Edges come from the in-memory graph in (name, id) order; bodies are read for the
        // page alone.
        let all = snapshot.out_edges(num, state.name.as_deref());
        let start = match &state.after {
            Some((a_name, a_id)) => {
                all.partition_point(|e| (&*e.name, &*e.id) <= (a_name.as_str(), a_id.as_str()))
            }
            None => 0,
        };
        let mut edges: Vec<(String, String)> = all
            .range(start..all.len())
            .iter()
            .take(size + 1)
            .map(|e| (e.name.to_string(), e.id.to_string()))
            .collect();
        let more = edges.len() > size;
        edges.truncate(size);
        let mut value = Vec::with_capacity(edges.len());
        for (_, id) in &edges {
            // An edge without its relationship would be engine corruption; skip rather than
            // fail the whole page.
            if let Some(rel) = snapshot.relationship(&state.source, id)? {
                value.push(rel.doc);
            }
        }
        let next = more.then(|| OutState {
            after: edges.last().cloned(),
            ..state
        });
        Ok((value, next))
    })
    .await?;
    let next_link = match next {
        Some(next) => {
            let path = format!("/digitaltwins/{}/relationships", path::encode(&next.source));
            Some(paging::next_link(&req, &path, &next)?)
        }
        None => None,
    };
    page_response(value, next_link)
}

/// State of an incoming-relationships listing.
#[derive(Serialize, Deserialize)]
struct InState {
    target: String,
    /// (source twin number, relationship id) of the last item: the engine's in-edge order.
    after: Option<(u32, String)>,
    size: usize,
}

/// `GET /digitaltwins/{id}/incomingrelationships`: the reduced shape, with
/// `$relationshipLink` (no `$targetId`, `$etag` or properties).
pub async fn incoming(req: Req, target: String) -> Result<Response, ApiError> {
    let state = match paging::token::<InState>(&req)? {
        Some(state) if state.target == target => state,
        Some(_) => {
            return Err(ApiError::invalid(
                "the continuation token is for another twin",
            ))
        }
        None => InState {
            target: target.clone(),
            after: None,
            size: req.page_size(PAGE, PAGE)?,
        },
    };
    let size = state.size.clamp(1, PAGE);
    let (value, next) = blocking(&req.app, move |engine| {
        let snapshot = engine.snapshot();
        let num = snapshot
            .twin_num(&state.target)?
            .ok_or_else(|| ApiError::not_found(Entity::Twin, &state.target))?;
        // In-memory graph order: (source number, id).
        let all = snapshot.in_edges(num);
        let start = match &state.after {
            Some((a_source, a_id)) => {
                all.partition_point(|e| (e.other, &*e.id) <= (*a_source, a_id.as_str()))
            }
            None => 0,
        };
        let mut edges: Vec<(u32, String, String)> = all
            .range(start..all.len())
            .iter()
            .take(size + 1)
            .map(|e| (e.other, e.id.to_string(), e.name.to_string()))
            .collect();
        let more = edges.len() > size;
        edges.truncate(size);
        let mut value = Vec::with_capacity(edges.len());
        for (source_num, id, name) in &edges {
            let Some(source) = snapshot.twin_by_num(*source_num)? else {
                continue;
            };
            value.push(incoming_item(&source.id, id, name));
        }
        let next = more.then(|| InState {
            after: edges.last().map(|(s, id, _)| (*s, id.clone())),
            ..state
        });
        Ok((value, next))
    })
    .await?;
    let next_link = match next {
        Some(next) => {
            let path = format!(
                "/digitaltwins/{}/incomingrelationships",
                path::encode(&next.target)
            );
            Some(paging::next_link(&req, &path, &next)?)
        }
        None => None,
    };
    page_response(value, next_link)
}

fn incoming_item(source: &str, id: &str, name: &str) -> Value {
    serde_json::json!({
        "$relationshipId": id,
        "$sourceId": source,
        "$relationshipName": name,
        "$relationshipLink": format!(
            "/digitaltwins/{}/relationships/{}",
            path::encode(source),
            path::encode(id)
        ),
    })
}

fn page_response(value: Vec<Value>, next_link: Option<String>) -> Result<Response, ApiError> {
    let body = serde_json::to_value(Page { value, next_link }).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, &body))
}
