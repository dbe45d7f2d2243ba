//! Webhook delivery: one HTTP/1.1 POST per event on a kept-alive connection (plain TCP or
//! TLS), in the CloudEvents HTTP binding, structured (default) or binary mode; or, with
//! `batch > 1`, one POST per batch of events (structured batch mode, a JSON array). A 2xx
//! answer is success; any other status, a transport error or a timeout is a failure to retry.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method, Request, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::endpoints::{Mode, Webhook};
use super::envelope::Event;

/// Where the system's trusted CAs are on Debian and its derivatives.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Largest response body read (and discarded) to keep the connection reusable.
const MAX_RESPONSE: usize = 64 * 1024;

pub struct Sender {
    /// Request target (path and query) and `Host` header value.
    target: String,
    authority: String,
    host: String,
    port: u16,
    mode: Mode,
    batch: usize,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    tls: Option<TlsConnector>,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Sender {
    pub fn new(config: &Webhook) -> Result<Sender, String> {
        let uri: Uri = config
            .url
            .parse()
            .map_err(|e| format!("url '{}': {e}", config.url))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or_else(|| format!("url '{}' has no host", config.url))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut headers = Vec::new();
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|e| e.to_string())?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|e| e.to_string())?;
            headers.push((name, value));
        }
        let tls = match https {
            true => Some(tls_connector(config.ca_file.as_deref())?),
            false => None,
        };
        Ok(Sender {
            target: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
            authority: uri.authority().map(|a| a.to_string()).unwrap_or_default(),
            host,
            port,
            mode: config.mode,
            batch: config.batch.max(1),
            headers,
            timeout: Duration::from_secs(config.timeout_seconds.max(1)),
            tls,
            conn: None,
        })
    }

    /// Most events `send_batch` takes at once (1: no batches).
    pub fn batch(&self) -> usize {
        self.batch
    }

    pub async fn send(&mut self, event: &Event) -> Result<(), String> {
        let request = self.request(event)?;
        self.send_request(request).await
    }

    /// Sends `events` as one request (structured batch mode): all accepted or none.
    pub async fn send_batch(&mut self, events: &[&Event]) -> Result<(), String> {
        let mut body =
            Vec::with_capacity(events.iter().map(|e| e.json.len() + 1).sum::<usize>() + 2);
        body.push(b'[');
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            // Encoded once for every route (see `tail`).
            body.extend_from_slice(&event.json);
        }
        body.push(b']');
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.target.as_str())
            .header(header::HOST, self.authority.as_str())
            .header(
                header::CONTENT_TYPE,
                "application/cloudevents-batch+json; charset=utf-8",
            );
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("building the request: {e}"))?;
        self.send_request(request).await
    }

    async fn send_request(&mut self, request: Request<Full<Bytes>>) -> Result<(), String> {
        let result = tokio::time::timeout(self.timeout, self.post(request)).await;
        let result = result.unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)));
        if result.is_err() {
            // The connection may be in any state after a failure: start afresh next time.
            self.conn = None;
        }
        result
    }

    async fn post(&mut self, request: Request<Full<Bytes>>) -> Result<(), String> {
        let kept = match self.conn.take() {
            Some(mut conn) => conn.ready().await.is_ok().then_some(conn),
            None => None,
        };
        let mut conn = match kept {
            Some(conn) => conn,
            None => {
                let mut conn = self.connect().await?;
                conn.ready()
                    .await
                    .map_err(|e| format!("connection closed: {e}"))?;
                conn
            }
        };
        let response = conn
            .send_request(request)
            .await
            .map_err(|e| format!("sending: {e}"))?;
        let status = response.status();
        // Read the answer so the connection can carry the next request.
        let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE);
        if body.collect().await.is_ok() {
            self.conn = Some(conn);
        }
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    }

    fn request(&self, event: &Event) -> Result<Request<Full<Bytes>>, String> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.target.as_str())
            .header(header::HOST, self.authority.as_str());
        let body = match self.mode {
            Mode::Structured => {
                builder = builder.header(
                    header::CONTENT_TYPE,
                    "application/cloudevents+json; charset=utf-8",
                );
                // Encoded once for every route (see `tail`).
                event.json.clone()
            }
            Mode::Binary => {
                for (name, value) in event.attributes() {
                    if name == "datacontenttype" {
                        builder = builder.header(header::CONTENT_TYPE, value);
                    } else {
                        builder = builder.header(format!("ce-{name}"), value);
                    }
                }
                Bytes::from(event.data().to_string())
            }
        };
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(body))
            .map_err(|e| format!("building the request: {e}"))
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting to {}:{}: {e}", self.host, self.port))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp).await,
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("TLS server name '{}': {e}", self.host))?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.host))?;
                handshake(stream).await
            }
        }
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    // Drives the connection; it ends when the sender is dropped or the peer closes.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

fn tls_connector(ca_file: Option<&str>) -> Result<TlsConnector, String> {
    let path = ca_file.unwrap_or(SYSTEM_CA_BUNDLE);
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| format!("reading {path}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("parsing {path}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("a CA certificate in {path}: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
