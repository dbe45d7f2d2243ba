//! `POST /query/stream` (our extension, not ADT's): `{"query": text}` → every row of the
//! query as NDJSON (one JSON value per line) in one response, read from one snapshot with
//! one prepared plan.
//!
//! A blocking task holds the snapshot and runs the query page by page, sending encoded pages
//! into a bounded channel that the response body drains: when the client reads slowly the
//! task waits (backpressure), so memory stays at a few pages whatever the result size. A
//! client that disconnects closes the channel, which ends the task and frees the snapshot.
//! A syntax or planning error is a normal 400 before anything is streamed; an error after
//! the first row (the store failing mid-way) ends the stream with a line
//! `{"error": {"code", "message"}}`.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::Frame;
use serde_json::Value;
use tokio::sync::mpsc;
use twingraph_query::{JsonRow, QueryOptions};

use super::{Req, SMALL_BODY};
use crate::error::{ApiError, Code};

/// Rows per page read from the snapshot (and per chunk sent).
const PAGE: usize = 1000;
/// Pages buffered between the query task and the connection.
const BUFFERED: usize = 4;

/// The response body: encoded pages from the query task.
struct Rows(mpsc::Receiver<Bytes>);

impl HttpBody for Rows {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|page| page.map(|b| Ok(Frame::data(b))))
    }
}

fn encode(rows: &[JsonRow]) -> Bytes {
    let mut out = Vec::with_capacity(rows.iter().map(|r| r.as_str().len() + 1).sum());
    for row in rows {
        out.extend_from_slice(row.as_str().as_bytes());
        out.push(b'\n');
    }
    Bytes::from(out)
}

pub async fn stream(mut req: Req) -> Result<Response, ApiError> {
    let body = req.json(SMALL_BODY).await?;
    let Some(text) = body
        .get("query")
        .and_then(Value::as_str)
        .filter(|q| !q.trim().is_empty())
        .map(str::to_string)
    else {
        return Err(ApiError::new(
            Code::BadRequest,
            "the body must be {\"query\": text}",
        ));
    };
    let options = QueryOptions {
        cypher_hops: req.app.config.cypher_hops,
        timeout: None,
    };
    let engine = req.app.engine.clone();
    let (tx, rx) = mpsc::channel::<Bytes>(BUFFERED);
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<Result<(), ApiError>>();
    tokio::task::spawn_blocking(move || {
        let snapshot = engine.snapshot();
        let prepared = match twingraph_query::prepare(&text, &options) {
            Ok(p) => p,
            Err(e) => {
                let _ = first_tx.send(Err(e.into()));
                return;
            }
        };
        let mut page = match prepared.first_page(&snapshot, PAGE, &options) {
            Ok(page) => page,
            Err(e) => {
                let _ = first_tx.send(Err(e.into()));
                return;
            }
        };
        if first_tx.send(Ok(())).is_err() {
            return;
        }
        loop {
            if tx.blocking_send(encode(&page.rows)).is_err() {
                return; // the client went away
            }
            let Some(token) = page.continuation.take() else {
                return;
            };
            page = match prepared.resume(&snapshot, &token, PAGE, &options) {
                Ok(page) => page,
                Err(e) => {
                    let err = ApiError::from(e);
                    let line = serde_json::json!({"error": {"code": err.code.name(), "message": err.message}});
                    let _ = tx.blocking_send(Bytes::from(format!("{line}\n")));
                    return;
                }
            };
        }
    });
    match first_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(ApiError::internal("the query task ended without an answer")),
    }
    let mut response = (StatusCode::OK, Body::new(Rows(rx))).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
