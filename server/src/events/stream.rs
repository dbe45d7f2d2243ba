//! `GET /events/stream` (our extension; always on): the change feed as Server-Sent Events.
//! Each event is `id: <sequence>` and `data: <CloudEvent JSON>`. A client resumes with
//! `Last-Event-ID` (what EventSource sends on reconnect) or `?from=<sequence>`, and narrows
//! the feed with `?filter=<route filter>`. Without either it starts at the live end.
//! Changes already removed by retention are announced in a comment, never skipped silently.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::Frame;
use tokio::sync::mpsc;

use super::filter::Filter;
use super::tail::Tail;
use super::Events;

/// A comment line this often keeps proxies and clients from timing the stream out.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Frames buffered for a slow client before the feed waits for it.
const BUFFER: usize = 64;

/// Opens the feed at sequence `from` (`None`: the live end).
pub fn open(events: Arc<Events>, from: Option<u64>, filter: Option<Filter>) -> Response {
    let start = from.unwrap_or_else(|| events.engine.durable_sequence() + 1);
    let (tx, rx) = mpsc::channel::<Bytes>(BUFFER);
    events
        .delivery
        .spawn(feed(events.clone(), start, filter, tx));
    let mut response = (StatusCode::OK, Body::new(SseBody { rx })).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

async fn feed(events: Arc<Events>, start: u64, filter: Option<Filter>, tx: mpsc::Sender<Bytes>) {
    let mut tail = Tail::new(events, start);
    if tx
        .send(Bytes::from(format!(
            ": twingraph change feed from {start}\n\n"
        )))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let batch = tokio::select! {
            batch = tail.next_batch() => batch,
            () = tokio::time::sleep(KEEP_ALIVE) => {
                if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
                continue;
            }
            () = tx.closed() => return,
        };
        let batch = match batch {
            Ok(Some(batch)) => batch,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "change feed ended");
                return;
            }
        };
        let mut out = Vec::new();
        if batch.dropped > 0 {
            let first = batch.events.first().map_or(tail.next, |e| e.seq);
            out.extend_from_slice(
                format!(
                    ": {} changes before {first} were removed by retention\n\n",
                    batch.dropped
                )
                .as_bytes(),
            );
        }
        for event in &batch.events {
            if filter.as_ref().is_some_and(|f| !event.matches(f)) {
                continue;
            }
            // JSON text has no raw newlines, so one `data:` line carries the whole event.
            out.extend_from_slice(format!("id: {}\ndata: ", event.seq).as_bytes());
            out.extend_from_slice(&event.json);
            out.extend_from_slice(b"\n\n");
        }
        if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
            return;
        }
    }
}

/// The response body: frames from the feed task until it ends (or the client goes away,
/// which drops this and so stops the task at its next send).
struct SseBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|frame| frame.map(|bytes| Ok(Frame::data(bytes))))
    }
}
