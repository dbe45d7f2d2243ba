//! twingraph-server: the Azure Digital Twins data-plane REST API over the engine. The only
//! crate that knows HTTP, tokio and ADT's JSON. Layout: `routes` (the route table), `app`
//! (the request pipeline), `api/` (one file per resource), `wire` (JSON shapes), `error` (the
//! error table), `transport` (connections, TLS, shutdown).

mod api;
mod app;
mod body;
mod config;
mod error;
mod events;
mod metrics;
mod paging;
mod path;
mod query_sessions;
mod routes;
mod tls;
mod transport;
mod wire;

use std::future::Future;
use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use twingraph_engine::Engine;

pub use app::API_VERSIONS;
pub use config::{Role, ServerConfig, Tokens};
pub use events::{background_priority, DeliveryPriority, Endpoints, EventsConfig};
pub use tls::{self_signed, server_config as tls_config, SelfSigned};

/// Serves the ADT API on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish (up to `config.shutdown_grace`) and returns.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let local_addr = listener.local_addr()?;
    let app = Arc::new(app::App::new(engine, config.clone(), local_addr));
    let events = app.events.clone();
    let queries = app.clone();
    let sweeping = app.clone();
    api::jobs::resume(&app);
    let mut router = Router::new().fallback(app::handle).with_state(app);
    if !config.cors_origins.is_empty() {
        router = router.layer(cors(&config.cors_origins)?);
    }
    // Delivery stops and change feeds end when shutdown begins, so open feeds do not hold
    // the graceful wait for in-flight requests.
    let stopper = events.clone();
    let shutdown = async move {
        shutdown.await;
        stopper.stop();
        // Kept query snapshots are released; their next tokens get "expired".
        queries.queries.close_all();
    };
    // Idle query sessions release their snapshots within a second of their idle time.
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            sweeping.queries.sweep();
        }
    });
    let result = transport::run(listener, router, &config, shutdown).await;
    sweeper.abort();
    events.stop();
    result
}

/// CORS for the configured origins (ADT itself has none; browsers need it to call us).
fn cors(origins: &[String]) -> std::io::Result<CorsLayer> {
    let origins = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o)
                .map_err(|_| std::io::Error::other(format!("invalid CORS origin '{o}'")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names = |list: &[&'static str]| -> Vec<HeaderName> {
        list.iter().map(|n| HeaderName::from_static(n)).collect()
    };
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers(
            [
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
            ]
            .into_iter()
            .chain(names(&[
                "message-id",
                "telemetry-source-time",
                "max-items-per-page",
                "traceparent",
                "tracestate",
                "x-ms-client-request-id",
            ]))
            .collect::<Vec<_>>(),
        )
        .expose_headers(
            [header::ETAG, header::RETRY_AFTER]
                .into_iter()
                .chain(names(&["query-charge", "x-ms-error-code"]))
                .collect::<Vec<_>>(),
        ))
}
