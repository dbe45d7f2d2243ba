//! Helpers of the event tests: an in-process webhook receiver (axum on a free loopback port,
//! plain HTTP or HTTPS with a test CA) that records what it accepts and can be told to fail,
//! test data templates, and `/metrics` polling.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio_rustls::rustls;

use crate::harness::*;

/// How long any wait for delivery may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/events")
        .join(name)
}

/// Writes `tests/data/events/<template>` into `dir` with `{key}` placeholders replaced.
pub fn from_template(dir: &Path, template: &str, vars: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(data_file(template)).unwrap();
    for (k, v) in vars {
        text = text.replace(&format!("{{{k}}}"), v);
    }
    let path = dir.join(template);
    std::fs::write(&path, text).unwrap();
    path
}

/// One POST the receiver accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// Events the request carried (a batch is recorded as one `Received` per event).
    pub batch: usize,
}

#[derive(Default)]
struct Inner {
    accepted: Vec<Received>,
    /// Requests still to answer with 500.
    fail_next: usize,
    fail_always: bool,
}

/// An HTTP server that records every POST and answers 204, or 500 while told to fail.
pub struct Receiver {
    pub base: String,
    state: Arc<(Mutex<Inner>, Condvar)>,
    calls: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::start_slow(Duration::ZERO)
    }

    /// A receiver taking `delay` per request, so delivery lags behind writes.
    pub fn start_slow(delay: Duration) -> Receiver {
        Receiver::start_with(delay, None)
    }

    /// An HTTPS receiver (`https://127.0.0.1:PORT`) with the given certificate.
    pub fn start_tls(tls: Arc<rustls::ServerConfig>) -> Receiver {
        Receiver::start_with(Duration::ZERO, Some(tls))
    }

    fn start_with(delay: Duration, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let state = Arc::new((Mutex::new(Inner::default()), Condvar::new()));
        let calls = Arc::new(AtomicUsize::new(0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (app_state, app_calls) = (state.clone(), calls.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(
                    move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
                        let (state, calls) = (app_state.clone(), app_calls.clone());
                        async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            let (lock, cvar) = &*state;
                            let mut inner = lock.lock().unwrap();
                            if inner.fail_always || inner.fail_next > 0 {
                                inner.fail_next = inner.fail_next.saturating_sub(1);
                                return StatusCode::INTERNAL_SERVER_ERROR;
                            }
                            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let batched = headers
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .is_some_and(|t| {
                                    t.starts_with("application/cloudevents-batch+json")
                                });
                            let events = match (batched, body) {
                                (true, Value::Array(events)) => events,
                                (_, body) => vec![body],
                            };
                            let batch = events.len();
                            for body in events {
                                inner.accepted.push(Received {
                                    path: uri.path().to_string(),
                                    headers: headers.clone(),
                                    body,
                                    batch,
                                });
                            }
                            cvar.notify_all();
                            StatusCode::NO_CONTENT
                        }
                    },
                );
                match tls {
                    None => {
                        tokio::select! {
                            _ = axum::serve(listener, app) => {}
                            _ = stopped => {}
                        }
                    }
                    Some(tls) => {
                        let listener = TlsListener {
                            tcp: listener,
                            acceptor: tokio_rustls::TlsAcceptor::from(tls),
                        };
                        tokio::select! {
                            _ = axum::serve(listener, app) => {}
                            _ = stopped => {}
                        }
                    }
                }
            });
        });
        Receiver {
            base,
            state,
            calls,
            _stop: stop,
        }
    }

    /// Answers the next `n` requests with 500.
    pub fn fail_next(&self, n: usize) {
        self.state.0.lock().unwrap().fail_next = n;
    }

    pub fn fail_always(&self, on: bool) {
        self.state.0.lock().unwrap().fail_always = on;
    }

    /// Requests received, accepted or not.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// What was accepted on `path` so far.
    pub fn accepted(&self, path: &str) -> Vec<Received> {
        let inner = self.state.0.lock().unwrap();
        inner
            .accepted
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `done` holds for what `path` accepted; fails the test after `PATIENCE`.
    pub fn wait_until(&self, path: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + PATIENCE;
        let (lock, cvar) = &*self.state;
        let mut inner = lock.lock().unwrap();
        loop {
            let got: Vec<Received> = inner
                .accepted
                .iter()
                .filter(|r| r.path == path)
                .cloned()
                .collect();
            if done(&got) {
                return got;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "{path}: waited in vain; got {} events: {:?}",
                got.len(),
                got.iter().map(|r| r.body["id"].clone()).collect::<Vec<_>>()
            );
            inner = cvar.wait_timeout(inner, deadline - now).unwrap().0;
        }
    }

    pub fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        self.wait_until(path, |got| got.len() >= n)
    }
}

/// Accepts TCP connections and completes their TLS handshakes (failed ones are dropped).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A test CA and a certificate for `127.0.0.1` it signed, as PEM files in `dir`:
/// (`<name>-ca.pem`, the receiver's TLS config).
pub fn test_ca(dir: &Path, name: &str) -> (PathBuf, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, format!("twingraph test CA {name}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    leaf.is_ca = IsCa::ExplicitNoCa;
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let ca_path = dir.join(format!("{name}-ca.pem"));
    let cert_path = dir.join(format!("{name}-cert.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let config = twingraph_server::tls_config(&cert_path, &key_path).unwrap();
    (ca_path, config)
}

/// A metric's value from `/metrics` (`name{labels}` exactly as printed), if present.
pub fn metric(server: &Server, series: &str) -> Option<f64> {
    let text = server.call("GET", "/metrics").send().body;
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// Polls `/metrics` until `series` satisfies `ok`; fails the test after `PATIENCE`.
pub fn wait_metric(server: &Server, series: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = metric(server, series);
        if let Some(v) = value.filter(|v| ok(*v)) {
            return v;
        }
        assert!(Instant::now() < deadline, "{series} stayed at {value:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
