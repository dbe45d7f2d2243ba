//! `POST /query`: `{"query"}` for the first page, `{"continuationToken"}` (the query text may
//! be repeated) for the next; `max-items-per-page`; `query-charge` on every page.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use twingraph_engine::OwnedSnapshot;
use twingraph_query::{Page, QueryOptions};

use super::{json_text_response, Req, SMALL_BODY};
use crate::app::App;
use crate::error::{ApiError, Code};
use crate::query_sessions::ResumeError;
use crate::wire::QuerySpecification;

/// ADT's query text limit, in characters.
const MAX_QUERY_CHARS: usize = 8000;
/// ADT's page limit.
const MAX_PAGE: usize = 1000;
/// ADT's query timeout; a page that takes longer is a 400 `TimeoutError`.
const TIMEOUT: Duration = Duration::from_secs(60);

pub async fn query(mut req: Req) -> Result<Response, ApiError> {
    let body = req.json(SMALL_BODY).await?;
    let spec: QuerySpecification = serde_json::from_value(body).map_err(|e| {
        ApiError::invalid(format!(
            "the body must be {{\"query\": text}} or {{\"continuationToken\": token}}: {e}"
        ))
    })?;
    let size = req.page_size(MAX_PAGE, MAX_PAGE)?;
    // A token wins over the (repeated) query text, as ADT specifies.
    let token = spec.continuation_token.filter(|t| !t.is_empty());
    let text = spec.query.filter(|q| !q.trim().is_empty());
    if token.is_none() && text.is_none() {
        return Err(ApiError::new(
            Code::BadRequest,
            "the body must carry a query or a continuationToken",
        ));
    }
    if let Some(q) = &text {
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::new(
                Code::SqlQueryError,
                format!("the query is longer than {MAX_QUERY_CHARS} characters"),
            ));
        }
    }
    let options = QueryOptions {
        cypher_hops: req.app.config.cypher_hops,
        timeout: Some(TIMEOUT),
    };
    let app = req.app.clone();
    let page = match (token, text) {
        (Some(token), _) => next_page(app, token, size, options).await?,
        (None, Some(text)) => first_page(app, text, size, options).await?,
        (None, None) => return Err(ApiError::internal("query without text or token")),
    };
    let mut response = json_text_response(StatusCode::OK, result_body(&page)?);
    if let Ok(charge) = HeaderValue::from_str(&format!("{:.2}", page.charge)) {
        response.headers_mut().insert("query-charge", charge);
    }
    Ok(response)
}

/// Prepares `text` and runs its first page on the blocking pool, over a fresh snapshot. When
/// rows are left, the snapshot and the plan stay behind as the query's session
/// (`QuerySessions`), which its continuation token names.
async fn first_page(
    app: Arc<App>,
    text: String,
    size: usize,
    options: QueryOptions,
) -> Result<Page, ApiError> {
    // Parsing recurses and execution reads the store: both off the async workers.
    let page = tokio::task::spawn_blocking(move || {
        let prepared = twingraph_query::prepare(&text, &options)?;
        let snapshot = OwnedSnapshot::new(app.engine.clone());
        app.queries.first_page(snapshot, prepared, size, &options)
    })
    .await
    .map_err(|_| ApiError::internal("the query task ended without an answer"))?;
    Ok(page?)
}

/// The page after `token`, from its session's snapshot and plan.
async fn next_page(
    app: Arc<App>,
    token: String,
    size: usize,
    options: QueryOptions,
) -> Result<Page, ApiError> {
    let page = tokio::task::spawn_blocking(move || app.queries.next_page(&token, size, &options))
        .await
        .map_err(|_| ApiError::internal("the query task ended without an answer"))?;
    match page {
        Ok(page) => Ok(page),
        Err(ResumeError::Query(e)) => Err(e.into()),
        Err(ResumeError::Expired) => Err(ApiError::new(
            Code::BadRequest,
            "the continuation token has expired (a paged query keeps its snapshot for a \
             limited time between pages); run the query again",
        )),
    }
}

/// `{"value": [rows], "continuationToken": token or null}`, with each row written as the
/// query engine produced it (stored documents are not parsed and printed again).
fn result_body(page: &Page) -> Result<String, ApiError> {
    let token = serde_json::to_string(&page.continuation).map_err(ApiError::internal)?;
    let rows: usize = page.rows.iter().map(|r| r.as_str().len() + 1).sum();
    let mut body = String::with_capacity(rows + token.len() + 40);
    body.push_str("{\"value\":[");
    for (i, row) in page.rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(row.as_str());
    }
    body.push_str("],\"continuationToken\":");
    body.push_str(&token);
    body.push('}');
    Ok(body)
}
