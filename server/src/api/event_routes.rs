//! `/eventroutes`: list, get, create or replace (204, no body), delete. The engine stores
//! route records; the server validates ids, endpoints and filters and enforces the limit
//! (`--max-event-routes`, ADT's 6 by default).
//! Also `GET /eventroutes/{id}/deadletters` (our extension): the events the route gave up
//! on after their time-to-live, oldest first.

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twingraph_engine::{limits, Entity};

use super::{blocking, json_response, no_content, Req, SMALL_BODY};
use crate::error::{ApiError, Code};
use crate::events::filter;
use crate::paging;
use crate::wire::{EventRoute, Page};

const PAGE: usize = 100;

/// The wire form of a stored route record (`{"id","endpointName","filter"}`).
fn route_of(id: &str, record: &Value) -> EventRoute {
    let text = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    EventRoute {
        id: id.to_string(),
        endpoint_name: text("endpointName").to_string(),
        filter: text("filter").to_string(),
    }
}

#[derive(Serialize, Deserialize)]
struct ListState {
    after: Option<String>,
    size: usize,
}

/// `GET /eventroutes`.
pub async fn list(req: Req) -> Result<Response, ApiError> {
    let state = match paging::token::<ListState>(&req)? {
        Some(state) => state,
        None => ListState {
            after: None,
            size: req.page_size(PAGE, PAGE)?,
        },
    };
    let size = state.size.clamp(1, PAGE);
    let (value, next) = blocking(&req.app, move |engine| {
        let mut routes: Vec<EventRoute> = engine
            .snapshot()
            .event_routes()?
            .iter()
            .filter(|(id, _)| state.after.as_ref().is_none_or(|a| id > a))
            .map(|(id, record)| route_of(id, record))
            .collect();
        let more = routes.len() > size;
        routes.truncate(size);
        let next = more.then(|| ListState {
            after: routes.last().map(|r| r.id.clone()),
            size,
        });
        Ok((routes, next))
    })
    .await?;
    let next_link = match next {
        Some(next) => Some(paging::next_link(&req, "/eventroutes", &next)?),
        None => None,
    };
    let body = serde_json::to_value(Page { value, next_link }).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /eventroutes/{id}`.
pub async fn get(req: Req, id: String) -> Result<Response, ApiError> {
    let route = blocking(&req.app, move |engine| {
        match engine.snapshot().event_route(&id)? {
            Some(record) => Ok(route_of(&id, &record)),
            None => Err(ApiError::not_found(Entity::EventRoute, &id)),
        }
    })
    .await?;
    let body = serde_json::to_value(route).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, &body))
}

/// `PUT /eventroutes/{id}` → 204. Both `endpointName` and `filter` are required.
pub async fn put(mut req: Req, id: String) -> Result<Response, ApiError> {
    if let Err(e) = limits::check_id("event route", &id) {
        return Err(ApiError::new(Code::EventRouteIdInvalid, e.to_string()));
    }
    let body = req.json(SMALL_BODY).await?;
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("an event route must be a JSON object"))?;
    let endpoint = match obj.get("endpointName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => {
            return Err(ApiError::new(
                Code::EventRouteEndpointInvalid,
                "endpointName is required and must be a non-empty string",
            ))
        }
    };
    if !req.app.events.endpoint_allowed(&endpoint) {
        return Err(ApiError::new(
            Code::EventRouteEndpointInvalid,
            format!("there is no endpoint named '{endpoint}'"),
        ));
    }
    let filter_text = match obj.get("filter") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ApiError::new(
                Code::EventRouteFilterInvalid,
                "filter is required and must be a string ('true' routes every event)",
            ))
        }
    };
    if let Err(reason) = filter::parse(&filter_text) {
        return Err(ApiError::new(
            Code::EventRouteFilterInvalid,
            format!("invalid filter: {reason}"),
        ));
    }
    let record = serde_json::to_value(EventRoute {
        id: id.clone(),
        endpoint_name: endpoint,
        filter: filter_text,
    })
    .map_err(ApiError::internal)?;
    let app = req.app.clone();
    blocking(&req.app, move |engine| {
        // Count and write under one lock so concurrent PUTs cannot pass the limit together.
        let _guard = app.route_writes.lock();
        let routes = engine.snapshot().event_routes()?;
        let others = routes.iter().filter(|(r, _)| *r != id).count();
        let max = app.events.max_routes();
        if others >= max {
            return Err(ApiError::new(
                Code::LimitExceeded,
                format!("an instance may have at most {max} event routes"),
            ));
        }
        engine.put_event_route(&id, &record)?;
        Ok(())
    })
    .await?;
    req.app.events.routes_changed();
    Ok(no_content())
}

/// `DELETE /eventroutes/{id}` → 204.
pub async fn delete(req: Req, id: String) -> Result<Response, ApiError> {
    let app = req.app.clone();
    blocking(&req.app, move |engine| {
        let _guard = app.route_writes.lock();
        Ok(engine.delete_event_route(&id)?)
    })
    .await?;
    req.app.events.routes_changed();
    Ok(no_content())
}

#[derive(Serialize, Deserialize)]
struct DeadLetterState {
    after: Option<u64>,
    size: usize,
}

/// `GET /eventroutes/{id}/deadletters` → `{value: [record], nextLink}`; each record holds
/// `sequence`, `reason`, `attempts`, `deadLetteredTime` and the `event`.
pub async fn dead_letters(req: Req, id: String) -> Result<Response, ApiError> {
    let state = match paging::token::<DeadLetterState>(&req)? {
        Some(state) => state,
        None => DeadLetterState {
            after: None,
            size: req.page_size(PAGE, PAGE)?,
        },
    };
    let size = state.size.clamp(1, PAGE);
    let after = state.after;
    let route = id.clone();
    let letters = blocking(&req.app, move |engine| {
        let snapshot = engine.snapshot();
        if snapshot.event_route(&route)?.is_none() {
            return Err(ApiError::not_found(Entity::EventRoute, &route));
        }
        match snapshot.route_cursor(&route)? {
            Some(cursor) => Ok(snapshot.dead_letters(&route, cursor.epoch, after, size + 1)?),
            None => Ok(Vec::new()),
        }
    })
    .await?;
    let more = letters.len() > size;
    let letters = &letters[..letters.len().min(size)];
    let next_link = match (more, letters.last()) {
        (true, Some(last)) => {
            let next = DeadLetterState {
                after: Some(last.seq),
                size,
            };
            let path = format!("/eventroutes/{}/deadletters", crate::path::encode(&id));
            Some(paging::next_link(&req, &path, &next)?)
        }
        _ => None,
    };
    let value: Vec<Value> = letters.iter().map(|d| d.record.clone()).collect();
    let body = serde_json::json!({ "value": value, "nextLink": next_link });
    Ok(json_response(StatusCode::OK, &body))
}
