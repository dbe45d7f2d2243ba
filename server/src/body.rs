//! Request bodies: read with a size and a time limit; what a request leaves unread is
//! drained after its answer.
//!
//! Why drain: an HTTP/1.1 server that answers without reading a body, then closes, makes the
//! kernel reset the connection (unread bytes at close), and a client still sending its body
//! — any TLS client, and most plain ones, which read only once they have sent everything —
//! sees the reset, never the answer. So the answer goes out at once and the rest of the body
//! is read and thrown away behind it (hyper keeps feeding a live body after the response),
//! up to `DRAIN_BUDGET` bytes, while it keeps arriving; then the connection can even be
//! reused. Only a body beyond the budget, or one whose client waits to be invited to send
//! it (`Expect: 100-continue`), is not drained: its answer says `Connection: close`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use parking_lot::Mutex;

use crate::error::{ApiError, Code};

/// How much of a refused body is read and discarded so that its sender sees the answer.
/// Beyond it the connection is closed instead (the sender may then see a reset).
pub const DRAIN_BUDGET: u64 = 16 * 1024 * 1024;

/// The body of one request, shared between the handler (which may read it) and the
/// pipeline (which settles what is left once the handler has answered).
#[derive(Clone)]
pub struct RequestBody(Arc<Mutex<Slot>>);

enum Slot {
    /// Not read yet, or read only partly (its length limit was reached): what remains.
    Unread(Body),
    /// Read to its end.
    Read,
    /// Given up on (it did not arrive in time, or could not be read): the connection must
    /// not be reused.
    Abandoned,
}

impl RequestBody {
    pub fn new(body: Body) -> RequestBody {
        RequestBody(Arc::new(Mutex::new(Slot::Unread(body))))
    }

    fn take(&self) -> Slot {
        std::mem::replace(&mut *self.0.lock(), Slot::Read)
    }

    fn set(&self, slot: Slot) {
        *self.0.lock() = slot;
    }

    /// Reads the whole body: at most `limit` bytes (413 beyond, declared or counted), within
    /// `timeout` (408). A body can be read once.
    pub async fn read(
        &self,
        headers: &HeaderMap,
        limit: usize,
        timeout: Duration,
    ) -> Result<Bytes, ApiError> {
        let mut body = match self.take() {
            Slot::Unread(body) => body,
            other => {
                self.set(other);
                return Err(ApiError::internal("the request body was read twice"));
            }
        };
        if declared_length(headers).is_some_and(|n| n > limit as u64) {
            self.set(Slot::Unread(body));
            return Err(ApiError::too_large(limit));
        }
        let mut buf = BytesMut::new();
        let outcome = tokio::time::timeout(timeout, async {
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| Outcome::Broken(e.to_string()))?;
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        return Err(Outcome::TooLarge);
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Ok(())
        })
        .await;
        match outcome {
            Ok(Ok(())) => Ok(buf.freeze()),
            Ok(Err(Outcome::TooLarge)) => {
                self.set(Slot::Unread(body));
                Err(ApiError::too_large(limit))
            }
            Ok(Err(Outcome::Broken(e))) => {
                self.set(Slot::Abandoned);
                Err(ApiError::invalid(format!("reading the request body: {e}")))
            }
            Err(_) => {
                self.set(Slot::Abandoned);
                Err(ApiError::new(
                    Code::RequestTimeout,
                    "The request body did not arrive in time.",
                ))
            }
        }
    }

    /// Once the handler has answered: drains what it left unread, behind the answer (see
    /// the module comment), or marks `response` `Connection: close` when the connection
    /// cannot be reused.
    pub fn settle(&self, headers: &HeaderMap, timeout: Duration, response: &mut Response) {
        let reusable = match self.take() {
            Slot::Read => true,
            Slot::Abandoned => false,
            Slot::Unread(body) if body.is_end_stream() => true,
            Slot::Unread(body) => {
                let invited_only = headers
                    .get(header::EXPECT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
                let beyond_budget = declared_length(headers).is_some_and(|n| n > DRAIN_BUDGET);
                if invited_only || beyond_budget {
                    false
                } else {
                    // Dropped when done or given up on; hyper then reuses or closes the
                    // connection.
                    tokio::spawn(drain(body, timeout));
                    true
                }
            }
        };
        if !reusable {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

enum Outcome {
    TooLarge,
    Broken(String),
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// A client that stops sending for this long is not waited for any more.
const DRAIN_IDLE: Duration = Duration::from_secs(2);

/// Reads `body` to its end, discarding it; false if it is longer than the budget, broken,
/// stalls for `DRAIN_IDLE` or is not over within `timeout`.
async fn drain(mut body: Body, timeout: Duration) -> bool {
    let work = async {
        let mut seen = 0u64;
        loop {
            match tokio::time::timeout(DRAIN_IDLE, body.frame()).await {
                Ok(None) => return true,
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        seen += data.len() as u64;
                        if seen > DRAIN_BUDGET {
                            return false;
                        }
                    }
                }
                Ok(Some(Err(_))) | Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(timeout, work).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn reads_within_the_limit() {
        let body = RequestBody::new(Body::from("{\"a\":1}"));
        let bytes = body.read(&HeaderMap::new(), 100, SECOND).await.unwrap();
        assert_eq!(&bytes[..], b"{\"a\":1}");
        let mut response = axum::http::StatusCode::OK.into_response();
        body.settle(&HeaderMap::new(), SECOND, &mut response);
        assert!(response.headers().get(header::CONNECTION).is_none());
        // A second read is a bug, not a client error.
        let err = body.read(&HeaderMap::new(), 100, SECOND).await.unwrap_err();
        assert_eq!(err.code, Code::InternalServerError);
    }

    #[tokio::test]
    async fn too_large_is_drained_and_keeps_the_connection() {
        let text = "x".repeat(5000);
        for declared in [true, false] {
            let h = if declared {
                headers(&[("content-length", "5000")])
            } else {
                HeaderMap::new()
            };
            let body = RequestBody::new(Body::from(text.clone()));
            let err = body.read(&h, 1000, SECOND).await.unwrap_err();
            assert_eq!(err.code, Code::PayloadTooLarge);
            let mut response = err.into_response();
            body.settle(&h, SECOND, &mut response);
            assert!(response.headers().get(header::CONNECTION).is_none());
        }
    }

    #[tokio::test]
    async fn beyond_the_budget_or_awaiting_100_continue_closes() {
        let huge = (DRAIN_BUDGET + 1).to_string();
        for h in [
            headers(&[("content-length", &huge)]),
            headers(&[("content-length", "5000"), ("expect", "100-continue")]),
        ] {
            let body = RequestBody::new(Body::from("x".repeat(5000)));
            let err = body.read(&h, 1000, SECOND).await.unwrap_err();
            let mut response = err.into_response();
            body.settle(&h, SECOND, &mut response);
            assert_eq!(response.headers()[header::CONNECTION], "close");
        }
    }

    #[tokio::test]
    async fn drain_reads_to_the_end_within_its_budget() {
        assert!(drain(Body::from("x".repeat(100_000)), SECOND).await);
        assert!(!drain(Body::from("x".repeat(DRAIN_BUDGET as usize + 1)), SECOND).await);
        // A sender that goes quiet is given up on.
        assert!(!drain(Body::new(Silent), Duration::from_secs(60)).await);
    }

    /// A body whose sender never sends.
    struct Silent;

    impl hyper::body::Body for Silent {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
            std::task::Poll::Pending
        }
    }
}
