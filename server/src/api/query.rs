//! `POST /query`: `{"query"}` for the first page, `{"continuationToken"}` (the query text may
//! be repeated) for the next; `max-items-per-page`; `query-charge` on every page.

use axum::response::Response;

use super::{blocking, Req, SMALL_BODY};
use crate::error::ApiError;
use crate::wire::QuerySpecification;

/// ADT's query text limit, in characters.
const MAX_QUERY_CHARS: usize = 8000;
/// ADT's page limit.
const MAX_PAGE: usize = 1000;

pub async fn query(mut req: Req) -> Result<Response, ApiError> {
    let body = req.json(SMALL_BODY).await?;
    let spec: QuerySpecification = serde_json::from_value(body).map_err(|e| {
        ApiError::invalid(format!(
            "the body must be {{\"query\": text}} or {{\"continuationToken\": token}}: {e}"
        ))
    })?;
    let _page_size = req.page_size(MAX_PAGE, MAX_PAGE)?;
    let token = spec.continuation_token.filter(|t| !t.is_empty());
    let text = spec.query.filter(|q| !q.trim().is_empty());
    if token.is_none() && text.is_none() {
        return Err(ApiError::bad_request(
            "BadRequest",
            "the body must carry a query or a continuationToken",
        ));
    }
    if let Some(q) = &text {
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::bad_request(
                "SqlQueryError",
                format!("the query is longer than {MAX_QUERY_CHARS} characters"),
            ));
        }
    }
    // Parse (and check) now, so syntax errors get their positioned message even before the
    // executor exists; the parser recurses, so it runs on the blocking pool.
    if let Some(q) = text {
        blocking(&req.app, move |_| {
            twingraph_query::parse(&q)?;
            Ok(())
        })
        .await?;
    }
    Err(ApiError::bad_request(
        "SqlQueryError",
        "query execution is not available in this build of twingraph yet",
    ))
}
