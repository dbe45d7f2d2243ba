//! `GET /endpoints` (our extension): the endpoints of the `--endpoints` file, read-only and
//! without secrets. ADT manages endpoints in its control plane instead.

use axum::http::StatusCode;
use axum::response::Response;

use super::{json_response, Req};
use crate::error::ApiError;

pub async fn list(req: Req) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &req.app.events.endpoints().to_wire(),
    ))
}
