//! Shared server state and the request pipeline every request goes through, in order:
//! authenticate → route → authorize (role) → admission (in-flight limit) → api-version →
//! handler → metrics. `/healthz` needs no token; `/metrics` skips admission.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use twingraph_engine::Engine;

use crate::api::{self, Req};
use crate::body::RequestBody;
use crate::config::{Role, ServerConfig};
use crate::error::ApiError;
use crate::events::{self, Events};
use crate::metrics::Metrics;
use crate::routes::{self, Op, Resource};

/// api-version values the server accepts; all get the 2023-10-31 shapes (the later versions
/// only add fields, which the SDKs ignore).
pub const API_VERSIONS: &[&str] = &[
    "2020-10-31",
    "2021-06-30-preview",
    "2022-05-31",
    "2023-06-30",
    "2023-10-31",
];

pub struct App {
    pub engine: Arc<Engine>,
    pub config: ServerConfig,
    pub metrics: Metrics,
    /// Event delivery and the change feed.
    pub events: Arc<Events>,
    in_flight: Semaphore,
    /// Serializes event route writes so the 6-route limit cannot be raced past. Only taken
    /// inside blocking tasks, never across an `.await`.
    pub route_writes: parking_lot::Mutex<()>,
    /// `http` or `https`: what `nextLink` URLs start with.
    pub scheme: &'static str,
    /// Where nextLinks point when a request names no usable Host.
    pub local_addr: SocketAddr,
    /// Paged queries, each reading all its pages from its first page's snapshot.
    pub queries: crate::query_sessions::QuerySessions,
}

impl App {
    pub fn new(engine: Arc<Engine>, config: ServerConfig, local_addr: SocketAddr) -> App {
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        App {
            events: Events::start(engine.clone(), config.events.clone(), local_addr),
            engine,
            in_flight: Semaphore::new(config.max_in_flight.max(1)),
            metrics: Metrics::default(),
            route_writes: parking_lot::Mutex::new(()),
            scheme,
            local_addr,
            queries: crate::query_sessions::QuerySessions::new(
                config.query_sessions,
                config.query_session_idle,
            ),
            config,
        }
    }
}

/// The one axum handler: everything goes through the pipeline.
pub async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let start = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let headers = parts.headers.clone();
    let body = RequestBody::new(body);
    let (op, mut response) = match pipeline(&app, parts, body.clone()).await {
        (op, Ok(response)) => (op, response),
        (op, Err(err)) => {
            if err.status.is_server_error() {
                tracing::warn!(
                    operation = op.map(Op::name),
                    code = err.code,
                    "request failed"
                );
            }
            (op, err.into_response())
        }
    };
    body.settle(&headers, app.config.body_timeout, &mut response);
    let name = op.map_or("unknown", Op::name);
    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    tracing::debug!(%method, operation = name, status, ?elapsed, "request");
    app.metrics.observe(name, status, elapsed);
    response
}

async fn pipeline(
    app: &Arc<App>,
    parts: Parts,
    body: RequestBody,
) -> (Option<Op>, Result<Response, ApiError>) {
    if let Err(err) = check_header_sizes(&parts) {
        return (None, Err(err));
    }
    let resource = Resource::parse(parts.uri.path());
    if matches!(resource, Ok(Some(Resource::Healthz))) && parts.method == Method::GET {
        return (Some(Op::Healthz), api::health(app).await);
    }
    // Authenticate before routing, so a caller without a valid token learns nothing, not
    // even which paths exist.
    let role = match authenticate(app, &parts) {
        Ok(role) => role,
        Err(err) => return (None, Err(err)),
    };
    let resource = match resource {
        Ok(Some(resource)) => resource,
        Ok(None) => {
            let message = format!("No operation at path '{}'.", parts.uri.path());
            return (
                None,
                Err(ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)),
            );
        }
        Err(err) => return (None, Err(err)),
    };
    let Some(op) = resource
        .methods()
        .iter()
        .find(|(m, _)| *m == parts.method)
        .map(|(_, op)| *op)
    else {
        return (None, Err(method_not_allowed(&parts, &resource)));
    };
    if role == Some(Role::Reader) && !op.is_read() {
        let err = ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("This token may only read; {} is a write.", op.name()),
        );
        return (Some(op), Err(err));
    }
    // Monitoring must work during overload, so /metrics is answered before admission.
    if op == Op::Metrics {
        let in_flight = app.config.max_in_flight.max(1) - app.in_flight.available_permits();
        return (Some(op), api::metrics(app, in_flight).await);
    }
    // Admission: refuse at once rather than queue when the server is saturated.
    let Ok(_permit) = app.in_flight.try_acquire() else {
        // ADT's throttling code for queries is QuotaReachedError.
        let code = if op == Op::Query {
            "QuotaReachedError"
        } else {
            "TooManyRequests"
        };
        let err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            code,
            "The server is handling too many requests; retry after a second.",
        )
        .with_header(header::RETRY_AFTER, "1");
        return (Some(op), Err(err));
    };
    let params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let api_version = match check_api_version(&params) {
        Ok(v) => v,
        Err(err) => return (Some(op), Err(err)),
    };
    let traceparent = parts
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let req = Req {
        app: app.clone(),
        parts,
        body,
        params,
        api_version,
    };
    let handler = routes::dispatch(op, resource, req);
    (
        Some(op),
        events::trace::scope(traceparent.as_deref(), handler).await,
    )
}

/// One request header (name and value) may be at most this long...
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// ...and all of them together at most this. (A request head beyond hyper's own buffer,
/// `transport::MAX_HEAD_BYTES`, is refused by hyper with a bare 431 before it gets here.)
pub const MAX_HEADERS_BYTES: usize = 64 * 1024;

/// 431 for a header, or all headers, over their bound; the connection is then closed, as
/// a client sending such headers is not one to keep talking to.
fn check_header_sizes(parts: &Parts) -> Result<(), ApiError> {
    let mut total = 0;
    for (name, value) in &parts.headers {
        let size = name.as_str().len() + value.len();
        if size > MAX_HEADER_BYTES {
            return Err(too_large_headers(format!(
                "The request header '{name}' is {size} bytes; at most {MAX_HEADER_BYTES} are allowed."
            )));
        }
        total += size;
    }
    if total > MAX_HEADERS_BYTES {
        return Err(too_large_headers(format!(
            "The request headers are {total} bytes together; at most {MAX_HEADERS_BYTES} are allowed."
        )));
    }
    Ok(())
}

fn too_large_headers(message: String) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "RequestHeaderFieldsTooLarge",
        message,
    )
    .with_header(header::CONNECTION, "close")
}

fn method_not_allowed(parts: &Parts, resource: &Resource) -> ApiError {
    let allow: Vec<&str> = resource.methods().iter().map(|(m, _)| m.as_str()).collect();
    let mut err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "{} is not allowed on '{}'; allowed: {}.",
            parts.method,
            parts.uri.path(),
            allow.join(", ")
        ),
    );
    if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
        err.headers.push((header::ALLOW, value));
    }
    err
}

/// The caller's role; `None` when no tokens are configured (any caller is accepted).
fn authenticate(app: &App, parts: &Parts) -> Result<Option<Role>, ApiError> {
    let Some(tokens) = &app.config.tokens else {
        return Ok(None);
    };
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    match token.and_then(|t| tokens.role(t)) {
        Some(role) => Ok(Some(role)),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "A valid 'Authorization: Bearer <token>' header is required.",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer")),
    }
}

fn check_api_version(params: &[(String, String)]) -> Result<String, ApiError> {
    match params.iter().find(|(k, _)| k == "api-version") {
        None => Err(ApiError::bad_request(
            "MissingArgument",
            format!(
                "The api-version query parameter is required; supported versions: {}.",
                API_VERSIONS.join(", ")
            ),
        )),
        Some((_, v)) if API_VERSIONS.contains(&v.as_str()) => Ok(v.clone()),
        Some((_, v)) => Err(ApiError::invalid(format!(
            "api-version '{v}' is not supported; supported versions: {}.",
            API_VERSIONS.join(", ")
        ))),
    }
}
