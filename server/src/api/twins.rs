//! `/digitaltwins/{id}`: get, create or replace, JSON Patch, delete; and telemetry (twin and
//! component), which is routed, never stored on the twin.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{blocking, json_response, no_content, with_etag, Req, SMALL_BODY};
use crate::error::ApiError;
use twingraph_engine::Entity;

/// `GET /digitaltwins/{id}` → the twin and its `ETag`. The stored document is the wire form,
/// so its bytes are sent as they are.
pub async fn get(req: Req, id: String) -> Result<Response, ApiError> {
    let twin = blocking(&req.app, move |engine| {
        engine
            .twin_json(&id)?
            .ok_or_else(|| ApiError::not_found(Entity::Twin, &id))
    })
    .await?;
    Ok(with_etag(json_bytes_response(twin.json), &twin.etag))
}

/// `200` with JSON that is already serialized.
fn json_bytes_response(json: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, json).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// `PUT /digitaltwins/{id}`: 200 on create *and* replace; `If-None-Match: *` → create only.
pub async fn put(mut req: Req, id: String) -> Result<Response, ApiError> {
    let create_only = req.if_none_match_star()?;
    let body = req.json(SMALL_BODY).await?;
    let twin = blocking(&req.app, move |engine| {
        engine
            .put_twin(&id, &body, create_only)
            .map_err(ApiError::twin_put)
    })
    .await?;
    let etag = twin.etag().to_string();
    Ok(with_etag(json_response(StatusCode::OK, &twin.doc), &etag))
}

/// `PATCH /digitaltwins/{id}`: 204 with the new `ETag`, no body.
pub async fn patch(mut req: Req, id: String) -> Result<Response, ApiError> {
    let if_match = req.if_match()?;
    let patch = req.json(SMALL_BODY).await?;
    let etag = blocking(&req.app, move |engine| {
        Ok(engine.patch_twin(&id, &patch, None, if_match.as_deref())?)
    })
    .await?;
    Ok(with_etag(no_content(), &etag))
}

/// `DELETE /digitaltwins/{id}`: refused (400) while the twin has relationships.
pub async fn delete(req: Req, id: String) -> Result<Response, ApiError> {
    let if_match = req.if_match()?;
    blocking(&req.app, move |engine| {
        Ok(engine.delete_twin(&id, if_match.as_deref())?)
    })
    .await?;
    Ok(no_content())
}

/// `POST /digitaltwins/{id}[/components/{c}]/telemetry`: `Message-Id` is required,
/// `Telemetry-Source-Time` optional (RFC 3339). The body is not checked against the model.
pub async fn telemetry(
    mut req: Req,
    id: String,
    component: Option<String>,
) -> Result<Response, ApiError> {
    let message_id = match req.header("message-id")? {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => return Err(ApiError::invalid("the Message-Id header is required")),
    };
    let source_time = req.header("telemetry-source-time")?.map(str::to_string);
    if let Some(t) = &source_time {
        if chrono::DateTime::parse_from_rfc3339(t).is_err() {
            return Err(ApiError::invalid(format!(
                "Telemetry-Source-Time '{t}' is not an RFC 3339 date-time"
            )));
        }
    }
    let body = req.json(SMALL_BODY).await?;
    blocking(&req.app, move |engine| {
        engine.publish_telemetry(
            &id,
            component.as_deref(),
            &message_id,
            source_time.as_deref(),
            &body,
        )?;
        Ok(())
    })
    .await?;
    Ok(no_content())
}
