//! The ADT operations, one file per resource, and what they share: the parsed request
//! (`Req`), body reading with size and time limits, and the bridge to the blocking engine.

pub mod components;
pub mod endpoints;
pub mod event_routes;
pub mod events_stream;
pub mod jobs;
pub mod models;
pub mod query;
pub mod query_stream;
pub mod relationships;
pub mod twins;

use std::sync::Arc;

use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use twingraph_engine::Engine;

use crate::app::App;
use crate::body::RequestBody;
use crate::error::ApiError;

/// ADT's limit for twin, relationship, telemetry and other single-document bodies.
pub const SMALL_BODY: usize = 32 * 1024;
/// Our limit for `POST /models`. ADT documents 250 models of up to 1 MB each per call but
/// also a 32 KB request payload; 32 MiB bounds memory while admitting any real model set.
pub const MODELS_BODY: usize = 32 * 1024 * 1024;

/// A request that passed routing, authentication and the api-version check.
pub struct Req {
    pub app: Arc<App>,
    pub parts: Parts,
    pub body: RequestBody,
    /// Decoded query parameters, repeated ones kept in order.
    pub params: Vec<(String, String)>,
    pub api_version: String,
}

impl Req {
    /// A header as text; a value that is not visible ASCII is a 400.
    pub fn header(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.parts.headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.trim()))
                .map_err(|_| ApiError::invalid(format!("header {name} is not valid text"))),
        }
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter (`true`/`false`, any case).
    pub fn bool_param(&self, name: &str) -> Result<bool, ApiError> {
        match self.param(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::invalid(format!(
                "{name} must be true or false, not '{v}'"
            ))),
        }
    }

    /// `max-items-per-page`, clamped to `max`; `default` when absent.
    pub fn page_size(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.header("max-items-per-page")? {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n.min(max)),
                _ => Err(ApiError::invalid(format!(
                    "max-items-per-page must be a positive integer, not '{v}'"
                ))),
            },
        }
    }

    /// `If-Match`, passed to the engine verbatim (it compares the whole string, `W/` included).
    pub fn if_match(&self) -> Result<Option<String>, ApiError> {
        Ok(self.header("if-match")?.map(str::to_string))
    }

    /// `If-None-Match`: ADT accepts only `*` ("create only").
    pub fn if_none_match_star(&self) -> Result<bool, ApiError> {
        match self.header("if-none-match")? {
            None => Ok(false),
            Some("*") => Ok(true),
            Some(v) => Err(ApiError::invalid(format!(
                "If-None-Match supports only '*', not '{v}'"
            ))),
        }
    }

    /// Reads the body (at most `limit` bytes, within the body timeout).
    pub async fn bytes(&mut self, limit: usize) -> Result<Bytes, ApiError> {
        let timeout = self.app.config.body_timeout;
        self.body.read(&self.parts.headers, limit, timeout).await
    }

    /// Reads and parses a JSON body. The content type, when given, must be JSON.
    pub async fn json(&mut self, limit: usize) -> Result<Value, ApiError> {
        self.json_content_type()?;
        let bytes = self.bytes(limit).await?;
        parse_json(&bytes)
    }

    /// The content type, when given, must be JSON (`application/json`, `…+json`).
    pub fn json_content_type(&self) -> Result<(), ApiError> {
        let Some(value) = self.header("content-type")? else {
            return Ok(());
        };
        let media = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let json = media == "application/json"
            || media == "text/json"
            || (media.starts_with("application/") && media.ends_with("+json"));
        if json {
            Ok(())
        } else {
            Err(ApiError::invalid(format!(
                "unsupported content type '{value}'; send application/json \
                 (application/json-patch+json for PATCH)"
            )))
        }
    }

    /// The absolute URL prefix (`https://host:port`) that nextLinks start with: the Host the
    /// client used, when it is a plain host[:port], else the listening address.
    pub fn base_url(&self) -> String {
        let host = self
            .parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| self.parts.uri.authority().map(|a| a.to_string()))
            .filter(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
            })
            .unwrap_or_else(|| self.app.local_addr.to_string());
        format!("{}://{host}", self.app.scheme)
    }
}

/// serde_json's recursion limit (128) rejects deep nesting before any of our code walks it.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "the request body is empty; JSON was expected",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("the request body is not valid JSON: {e}")))
}

/// Runs engine work on the blocking pool; the engine fsyncs and takes locks.
pub async fn blocking<T, F>(app: &Arc<App>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
{
    let engine = app.engine.clone();
    // Changes recorded by `f` carry the request's trace context into their events.
    let traceparent = crate::events::trace::current();
    let work = move || twingraph_engine::with_traceparent(traceparent, || f(&engine));
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(ApiError::internal(format!("engine task failed: {e}"))),
    }
}

/// `200` with a JSON body.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    json_text_response(status, body.to_string())
}

/// A response whose body is already JSON text.
pub fn json_text_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// Adds the `ETag` header (the weak etag exactly as stored).
pub fn with_etag(mut response: Response, etag: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /healthz`: 200 once the store answers a read of a key in RocksDB.
pub async fn health(req: Req) -> Result<Response, ApiError> {
    blocking(&req.app, |engine| Ok(engine.check_readable()?)).await?;
    Ok((StatusCode::OK, "ok\n").into_response())
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(req: Req) -> Result<Response, ApiError> {
    let app = &req.app;
    let in_flight = app.in_flight();
    let query_sessions = app.queries.len() as u64;
    let gauges = blocking(app, move |engine| {
        let snapshot = engine.snapshot();
        Ok(crate::metrics::Gauges {
            twins: snapshot.twin_count(),
            models: snapshot.models().count() as u64,
            next_sequence: engine.next_sequence(),
            in_flight: in_flight as u64,
            query_sessions,
        })
    })
    .await?;
    let mut text = app.metrics.render(&gauges);
    app.events.render_metrics(&mut text);
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
