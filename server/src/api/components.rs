//! `/digitaltwins/{id}/components/{name}`: read and JSON Patch one component of a twin. The
//! ETag is the twin's: a component has none of its own.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use twingraph_engine::Entity;

use super::{blocking, json_response, no_content, with_etag, Req, SMALL_BODY};
use crate::error::ApiError;

/// `GET …/components/{name}` → the component object (`$metadata` without `$model`).
pub async fn get(req: Req, id: String, name: String) -> Result<Response, ApiError> {
    let (component, etag) = blocking(&req.app, move |engine| {
        let snapshot = engine.snapshot();
        let twin = snapshot
            .twin(&id)?
            .ok_or_else(|| ApiError::not_found(Entity::Twin, &id))?;
        let stored = twin.doc.get(&name);
        let is_component = match snapshot.catalog().get(twin.model()) {
            Some(model) => model.components.contains_key(&name),
            // The twin's model was deleted: components are the objects carrying `$metadata`
            // (property values never do; `$` names are not allowed in DTDL objects).
            None => stored.is_some_and(|v| v.get("$metadata").is_some()),
        };
        if !is_component {
            return Err(ApiError::not_found(Entity::Component, &name));
        }
        let component = stored.cloned().unwrap_or_else(|| json!({"$metadata": {}}));
        Ok((component, twin.etag().to_string()))
    })
    .await?;
    Ok(with_etag(json_response(StatusCode::OK, &component), &etag))
}

/// `PATCH …/components/{name}`: paths are relative to the component; 204 with the twin's
/// new `ETag`.
pub async fn patch(mut req: Req, id: String, name: String) -> Result<Response, ApiError> {
    let if_match = req.if_match()?;
    let patch: Value = req.json(SMALL_BODY).await?;
    let etag = blocking(&req.app, move |engine| {
        Ok(engine.patch_twin(&id, &patch, Some(&name), if_match.as_deref())?)
    })
    .await?;
    Ok(with_etag(no_content(), &etag))
}
