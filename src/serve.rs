//! `twingraph serve`: open the store and serve the ADT API until SIGINT/SIGTERM.
//!
//! On startup it prints, on stdout, exactly one line starting with `listening on `:
//! `listening on http://127.0.0.1:8080` (or `https://…` with TLS), naming the bound address
//! (so `--listen 127.0.0.1:0` tells which port was chosen). With `--tls-self-signed` a line
//! `TLS CA certificate: <path>` and how to trust it come before it.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use twingraph_engine::{Engine, EngineConfig};
use twingraph_server::{DeliveryPriority, Endpoints, EventsConfig, ServerConfig, Tokens};

#[derive(clap::Args)]
pub struct Args {
    /// Folder holding the store (created when missing).
    #[arg(long, default_value = "./twingraph-data")]
    data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// PEM certificate chain to serve HTTPS with (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a local CA and localhost certificate generated into
    /// <data-dir>/tls once and reused after.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,
    /// File of accepted bearer tokens, one `token role` per line (role: owner or reader).
    /// Without it any bearer token is accepted.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Allow listening on a non-loopback address without --tokens.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Allow browser calls from this origin (repeatable), e.g. http://localhost:3000.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Requests handled at once; more are answered 429 with Retry-After.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Read MATCH hop ranges as Cypher does (`*1..3` is 1 to 3 hops) instead of as the ADT
    /// docs describe them (2 or 3 hops).
    #[arg(long)]
    cypher_hops: bool,
    /// Folder import jobs may read input files from and write output logs to
    /// (`file://` URIs inside it or plain file names); without it import jobs are refused.
    #[arg(long)]
    import_dir: Option<PathBuf>,
    /// MiB of twin documents kept in memory for queries and reads (0: none).
    #[arg(long, default_value_t = 128)]
    doc_cache_mb: usize,
    /// MiB of twin field summaries (top-level scalar members) that filters over many twins
    /// compare instead of reading documents (0: none).
    #[arg(long, default_value_t = 256)]
    field_cache_mb: usize,
    /// MiB of RocksDB's block cache, shared by every column family.
    #[arg(long, default_value_t = 256)]
    block_cache_mb: usize,
    /// Paged queries that keep their first page's snapshot for their next pages at once;
    /// beyond it the least recently used is released.
    #[arg(long, default_value_t = 128)]
    query_sessions: usize,
    /// Seconds a paged query keeps its snapshot without a request for its next page; a later
    /// continuation token gets an "expired" error.
    #[arg(long, default_value_t = 300)]
    query_session_idle: u64,
    /// Seconds a client may take to send request headers, and again its body.
    #[arg(long, default_value_t = 30)]
    request_timeout: u64,
    /// TOML file of event endpoints (webhook, mqtt) that event routes may name; see README.
    #[arg(long)]
    endpoints: Option<PathBuf>,
    /// Seconds after its commit an event is retried before it is dead-lettered.
    #[arg(long, default_value_t = 24 * 3600)]
    event_ttl: u64,
    /// Change-log entries older than this many seconds are removed, even if a route still
    /// needs them (counted as dropped).
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    events_retention_age: u64,
    /// At most this many change-log entries are kept, beyond those a route still needs.
    #[arg(long, default_value_t = 10_000_000)]
    events_retention_changes: u64,
    /// The CloudEvents `source` of events (default: the listening address).
    #[arg(long)]
    events_source: Option<String>,
    /// Event routes the instance may have (ADT allows 6).
    #[arg(long, default_value_t = 6)]
    max_event_routes: usize,
    /// Dead letters kept per event route; beyond it the oldest are removed (and counted in
    /// /metrics).
    #[arg(long, default_value_t = 100_000)]
    event_dead_letter_cap: usize,
    /// CPU priority of event delivery: `idle` takes only CPU that request handling leaves
    /// (writes keep their throughput; events catch up when load drops), `low` is nice 10,
    /// `normal` competes with request handling.
    #[arg(long, default_value = "idle")]
    delivery_priority: DeliveryPriority,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging();
    let addr = resolve(&args.listen)?;
    let tokens = match &args.tokens {
        Some(path) => Some(Tokens::load(path).map_err(anyhow::Error::msg)?),
        None => None,
    };
    if tokens.is_none() && !addr.ip().is_loopback() && !args.insecure_no_auth {
        bail!(
            "refusing to listen on {addr} without authentication: pass --tokens FILE, \
             or --insecure-no-auth to accept any token from the network"
        );
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let mut out = std::io::stdout().lock();
    let tls = if args.tls_self_signed {
        let files = twingraph_server::self_signed(&args.data_dir)
            .context("generating the self-signed certificate")?;
        let ca = files.ca_cert.display();
        writeln!(out, "TLS CA certificate: {ca}")?;
        writeln!(
            out,
            "trust it with REQUESTS_CA_BUNDLE={ca} (Python) or NODE_EXTRA_CA_CERTS={ca} (Node.js)"
        )?;
        Some(twingraph_server::tls_config(
            &files.server_cert,
            &files.server_key,
        )?)
    } else if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        Some(twingraph_server::tls_config(cert, key)?)
    } else {
        None
    };
    let endpoints = match &args.endpoints {
        Some(path) => Some(Endpoints::load(path).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let events = EventsConfig {
        endpoints,
        source: args.events_source,
        ttl: Duration::from_secs(args.event_ttl),
        retention_age: Duration::from_secs(args.events_retention_age),
        retention_changes: args.events_retention_changes,
        retention_interval: twingraph_engine::failpoint::armed("events-retention-interval")
            .unwrap_or(Duration::from_secs(10))
            .max(Duration::from_millis(10)),
        max_routes: args.max_event_routes,
        dead_letter_cap: args.event_dead_letter_cap.max(1),
        priority: args.delivery_priority,
        ..EventsConfig::default()
    };
    let engine_config = EngineConfig {
        doc_cache_bytes: args.doc_cache_mb << 20,
        field_cache_bytes: args.field_cache_mb << 20,
        block_cache_bytes: args.block_cache_mb.max(1) << 20,
        ..EngineConfig::default()
    };
    let engine = Engine::open(&args.data_dir, engine_config)
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    let engine = Arc::new(engine);
    let timeout = Duration::from_secs(args.request_timeout.max(1));
    let config = ServerConfig {
        tls,
        tokens,
        cors_origins: args.cors_origins,
        max_in_flight: args.max_in_flight,
        header_timeout: timeout,
        body_timeout: timeout,
        cypher_hops: args.cypher_hops,
        import_dir: args.import_dir,
        query_sessions: args.query_sessions,
        query_session_idle: Duration::from_secs(args.query_session_idle),
        events,
        ..ServerConfig::default()
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let bound = listener.local_addr()?;
        writeln!(out, "listening on {scheme}://{bound}")?;
        out.flush()?;
        drop(out);
        twingraph_server::serve(listener, engine, config, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `host:port`; names such as `localhost` resolve, and the first address is used.
fn resolve(listen: &str) -> anyhow::Result<SocketAddr> {
    listen
        .to_socket_addrs()
        .with_context(|| format!("--listen {listen}: expected host:port"))?
        .next()
        .with_context(|| format!("--listen {listen} resolves to no address"))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
