//! Shared server state and the request pipeline every request goes through, in order:
//! authenticate → route → authorize (role) → admission (in-flight limit) → api-version →
//! handler → metrics. `/healthz` needs no token; `/metrics` skips admission.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use twingraph_engine::Engine;

use crate::api::Req;
use crate::body::RequestBody;
use crate::config::{Role, ServerConfig};
use crate::error::{ApiError, Code};
use crate::events::{self, Events};
use crate::metrics::Metrics;
use crate::routes::{self, Access, Found, Gate, Ids, Route};

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
    /// Requests being handled now (those past admission).
    pub fn in_flight(&self) -> usize {
        self.config.max_in_flight.max(1) - self.in_flight.available_permits()
    }

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
    let (route, mut response) = match pipeline(&app, parts, body.clone()).await {
        (route, Ok(response)) => (route, response),
        (route, Err(err)) => {
            if err.status().is_server_error() {
                tracing::warn!(
                    operation = route.map(|r| r.name),
                    code = err.code.name(),
                    "request failed"
                );
            }
            (route, err.into_response())
        }
    };
    body.settle(&headers, app.config.body_timeout, &mut response);
    let name = route.map_or("unknown", |r| r.name);
    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    tracing::debug!(%method, operation = name, status, ?elapsed, "request");
    app.metrics.observe(name, status, elapsed);
    response
}

type Outcome = (Option<&'static Route>, Result<Response, ApiError>);

async fn pipeline(app: &Arc<App>, parts: Parts, body: RequestBody) -> Outcome {
    if let Err(err) = check_header_sizes(&parts) {
        return (None, Err(err));
    }
    let found = match routes::find(&parts.method, parts.uri.path()) {
        Ok(Found::Route(route, ids)) if route.gate == Gate::Open => {
            return run(app, route, ids, parts, body, Vec::new(), String::new()).await;
        }
        other => other,
    };
    // Authenticate before routing, so a caller without a valid token learns nothing, not
    // even which paths exist.
    let role = match authenticate(app, &parts) {
        Ok(role) => role,
        Err(err) => return (None, Err(err)),
    };
    let (route, ids) = match found {
        Ok(Found::Route(route, ids)) => (route, ids),
        Ok(Found::Method(allowed)) => return (None, Err(method_not_allowed(&parts, &allowed))),
        Ok(Found::Nothing) => {
            let message = format!("No operation at path '{}'.", parts.uri.path());
            return (None, Err(ApiError::new(Code::NotFound, message)));
        }
        Err(err) => return (None, Err(err)),
    };
    if role == Some(Role::Reader) && route.access == Access::Write {
        let err = ApiError::new(
            Code::Forbidden,
            format!("This token may only read; {} is a write.", route.name),
        );
        return (Some(route), Err(err));
    }
    if route.gate == Gate::Monitoring {
        return run(app, route, ids, parts, body, Vec::new(), String::new()).await;
    }
    // Admission: refuse at once rather than queue when the server is saturated.
    let Ok(_permit) = app.in_flight.try_acquire() else {
        let err = ApiError::new(
            route.busy,
            "The server is handling too many requests; retry after a second.",
        )
        .with_header(header::RETRY_AFTER, "1");
        return (Some(route), Err(err));
    };
    let params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let api_version = match check_api_version(&params) {
        Ok(v) => v,
        Err(err) => return (Some(route), Err(err)),
    };
    run(app, route, ids, parts, body, params, api_version).await
}

/// Runs `route`'s handler, with the request's trace context in scope for the changes it
/// records.
async fn run(
    app: &Arc<App>,
    route: &'static Route,
    ids: Ids,
    parts: Parts,
    body: RequestBody,
    params: Vec<(String, String)>,
    api_version: String,
) -> Outcome {
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
    let answer = (route.handler)(req, ids);
    (
        Some(route),
        events::trace::scope(traceparent.as_deref(), answer).await,
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
    ApiError::new(Code::RequestHeaderFieldsTooLarge, message)
        .with_header(header::CONNECTION, "close")
}

fn method_not_allowed(parts: &Parts, allowed: &[&'static Method]) -> ApiError {
    let allow: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
    let mut err = ApiError::new(
        Code::MethodNotAllowed,
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
            Code::Unauthorized,
            "A valid 'Authorization: Bearer <token>' header is required.",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer")),
    }
}

fn check_api_version(params: &[(String, String)]) -> Result<String, ApiError> {
    match params.iter().find(|(k, _)| k == "api-version") {
        None => Err(ApiError::new(
            Code::MissingArgument,
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
