//! `GET /events/stream` (our extension): the change feed as Server-Sent Events; see
//! `events::stream`. Here: where to start and which filter, from the request.

use axum::response::Response;

use super::Req;
use crate::error::ApiError;
use crate::events::{filter, stream};

pub async fn open(req: Req) -> Result<Response, ApiError> {
    let sequence = |what: &str, text: &str| {
        text.trim().parse::<u64>().map_err(|_| {
            ApiError::invalid(format!("{what} must be a sequence number, not '{text}'"))
        })
    };
    // Last-Event-ID wins over `from`: EventSource reconnects to the same URL with it.
    let from = match (req.header("last-event-id")?, req.param("from")) {
        (Some(last), _) if !last.is_empty() => {
            Some(sequence("Last-Event-ID", last)?.saturating_add(1))
        }
        (_, Some(from)) => Some(sequence("from", from)?),
        _ => None,
    };
    let filter = match req.param("filter") {
        Some(text) => Some(
            filter::parse(text).map_err(|e| ApiError::invalid(format!("invalid filter: {e}")))?,
        ),
        None => None,
    };
    Ok(stream::open(req.app.events.clone(), from, filter))
}
