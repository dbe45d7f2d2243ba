//! The whole route table, one entry per operation: method, path, ADT's operationId (the
//! label of metrics and logs), who may call it, and its handler. Fixed path segments match
//! case-insensitively; ids are case-sensitive, percent-decoded one segment at a time.

use std::future::Future;
use std::pin::Pin;

use axum::http::Method;
use axum::response::Response;

use crate::api::{self, Req};
use crate::api::{components, endpoints, event_routes, events_stream, jobs, models};
use crate::api::{query, query_stream, relationships, twins};
use crate::error::{ApiError, Code};
use crate::path;

/// A path segment that is an id (any other segment is matched as written).
const ID: &str = "{id}";

/// What running a handler gives.
pub type Answer = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>>;

/// A handler: the request, and the ids its path carried, in order.
pub type Handler = fn(Req, Ids) -> Answer;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any token, `reader` ones included.
    Read,
    /// `owner` tokens only.
    Write,
}

/// Which steps of the pipeline an operation skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Every step: token, role, admission (the in-flight limit), api-version.
    Api,
    /// No admission and no api-version: monitoring must work during overload.
    Monitoring,
    /// Nothing at all, not even a token: liveness checks.
    Open,
}

pub struct Route {
    pub method: Method,
    pub path: &'static [&'static str],
    pub name: &'static str,
    pub access: Access,
    pub gate: Gate,
    /// The code a request refused by admission gets (ADT's for queries differs).
    pub busy: Code,
    pub handler: Handler,
}

const fn route(
    method: Method,
    path: &'static [&'static str],
    name: &'static str,
    access: Access,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        name,
        access,
        gate: Gate::Api,
        busy: Code::TooManyRequests,
        handler,
    }
}

const fn read(
    method: Method,
    path: &'static [&'static str],
    name: &'static str,
    handler: Handler,
) -> Route {
    route(method, path, name, Access::Read, handler)
}

const fn write(
    method: Method,
    path: &'static [&'static str],
    name: &'static str,
    handler: Handler,
) -> Route {
    route(method, path, name, Access::Write, handler)
}

impl Route {
    const fn gate(mut self, gate: Gate) -> Route {
        self.gate = gate;
        self
    }

    const fn busy(mut self, code: Code) -> Route {
        self.busy = code;
        self
    }
}

use Method as M;

// One line per operation, kept as a table (rustfmt would spread each over five).
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    read(M::GET, &["healthz"], "Healthz", |r, _| Box::pin(api::health(r))).gate(Gate::Open),
    read(M::GET, &["metrics"], "Metrics", |r, _| Box::pin(api::metrics(r))).gate(Gate::Monitoring),
    // Models.
    write(M::POST, &["models"], "DigitalTwinModels_Add", |r, _| Box::pin(models::add(r))),
    read(M::GET, &["models"], "DigitalTwinModels_List", |r, _| Box::pin(models::list(r))),
    read(M::GET, &["models", ID], "DigitalTwinModels_GetById", |r, i| Box::pin(models::get(r, i.one()))),
    write(M::PATCH, &["models", ID], "DigitalTwinModels_Update", |r, i| Box::pin(models::update(r, i.one()))),
    write(M::DELETE, &["models", ID], "DigitalTwinModels_Delete", |r, i| Box::pin(models::delete(r, i.one()))),
    // Queries; `/query/stream` is ours: every row as NDJSON.
    read(M::POST, &["query"], "Query_QueryTwins", |r, _| Box::pin(query::query(r))).busy(Code::QuotaReachedError),
    read(M::POST, &["query", "stream"], "Query_Stream", |r, _| Box::pin(query_stream::stream(r))).busy(Code::QuotaReachedError),
    // Twins, their components and telemetry.
    read(M::GET, &["digitaltwins", ID], "DigitalTwins_GetById", |r, i| Box::pin(twins::get(r, i.one()))),
    write(M::PUT, &["digitaltwins", ID], "DigitalTwins_Add", |r, i| Box::pin(twins::put(r, i.one()))),
    write(M::PATCH, &["digitaltwins", ID], "DigitalTwins_Update", |r, i| Box::pin(twins::patch(r, i.one()))),
    write(M::DELETE, &["digitaltwins", ID], "DigitalTwins_Delete", |r, i| Box::pin(twins::delete(r, i.one()))),
    read(M::GET, &["digitaltwins", ID, "components", ID], "DigitalTwins_GetComponent", |r, i| { let (t, c) = i.two(); Box::pin(components::get(r, t, c)) }),
    write(M::PATCH, &["digitaltwins", ID, "components", ID], "DigitalTwins_UpdateComponent", |r, i| { let (t, c) = i.two(); Box::pin(components::patch(r, t, c)) }),
    write(M::POST, &["digitaltwins", ID, "telemetry"], "DigitalTwins_SendTelemetry", |r, i| Box::pin(twins::telemetry(r, i.one(), None))),
    write(M::POST, &["digitaltwins", ID, "components", ID, "telemetry"], "DigitalTwins_SendComponentTelemetry", |r, i| { let (t, c) = i.two(); Box::pin(twins::telemetry(r, t, Some(c))) }),
    // Relationships.
    read(M::GET, &["digitaltwins", ID, "relationships"], "DigitalTwins_ListRelationships", |r, i| Box::pin(relationships::list(r, i.one()))),
    read(M::GET, &["digitaltwins", ID, "incomingrelationships"], "DigitalTwins_ListIncomingRelationships", |r, i| Box::pin(relationships::incoming(r, i.one()))),
    read(M::GET, &["digitaltwins", ID, "relationships", ID], "DigitalTwins_GetRelationshipById", |r, i| { let (s, id) = i.two(); Box::pin(relationships::get(r, s, id)) }),
    write(M::PUT, &["digitaltwins", ID, "relationships", ID], "DigitalTwins_AddRelationship", |r, i| { let (s, id) = i.two(); Box::pin(relationships::put(r, s, id)) }),
    write(M::PATCH, &["digitaltwins", ID, "relationships", ID], "DigitalTwins_UpdateRelationship", |r, i| { let (s, id) = i.two(); Box::pin(relationships::patch(r, s, id)) }),
    write(M::DELETE, &["digitaltwins", ID, "relationships", ID], "DigitalTwins_DeleteRelationship", |r, i| { let (s, id) = i.two(); Box::pin(relationships::delete(r, s, id)) }),
    // Event routes; their endpoints, dead letters and the change feed are ours.
    read(M::GET, &["eventroutes"], "EventRoutes_List", |r, _| Box::pin(event_routes::list(r))),
    read(M::GET, &["eventroutes", ID], "EventRoutes_GetById", |r, i| Box::pin(event_routes::get(r, i.one()))),
    write(M::PUT, &["eventroutes", ID], "EventRoutes_Add", |r, i| Box::pin(event_routes::put(r, i.one()))),
    write(M::DELETE, &["eventroutes", ID], "EventRoutes_Delete", |r, i| Box::pin(event_routes::delete(r, i.one()))),
    read(M::GET, &["eventroutes", ID, "deadletters"], "EventRoutes_ListDeadLetters", |r, i| Box::pin(event_routes::dead_letters(r, i.one()))),
    read(M::GET, &["endpoints"], "Endpoints_List", |r, _| Box::pin(endpoints::list(r))),
    read(M::GET, &["events", "stream"], "Events_Stream", |r, _| Box::pin(events_stream::open(r))),
    // Bulk jobs.
    read(M::GET, &["jobs", "imports"], "ImportJobs_List", |r, _| Box::pin(jobs::list(r, jobs::IMPORTS))),
    write(M::PUT, &["jobs", "imports", ID], "ImportJobs_Add", |r, i| Box::pin(jobs::add_import(r, i.one()))),
    read(M::GET, &["jobs", "imports", ID], "ImportJobs_GetById", |r, i| Box::pin(jobs::get(r, jobs::IMPORTS, i.one()))),
    write(M::DELETE, &["jobs", "imports", ID], "ImportJobs_Delete", |r, i| Box::pin(jobs::delete_import(r, i.one()))),
    write(M::POST, &["jobs", "imports", ID, "cancel"], "ImportJobs_Cancel", |r, i| Box::pin(jobs::cancel_import(r, i.one()))),
    write(M::POST, &["jobs", "deletions"], "DeleteJobs_Add", |r, _| Box::pin(jobs::add_deletion(r))),
    read(M::GET, &["jobs", "deletions"], "DeleteJobs_List", |r, _| Box::pin(jobs::list(r, jobs::DELETIONS))),
    read(M::GET, &["jobs", "deletions", ID], "DeleteJobs_GetById", |r, i| Box::pin(jobs::get(r, jobs::DELETIONS, i.one()))),
];

/// The ids a path carried, in order.
pub struct Ids(Vec<String>);

impl Ids {
    /// The only id. The table guarantees the count: a route's handler takes exactly the ids
    /// its path has.
    fn one(self) -> String {
        self.0.into_iter().next().unwrap_or_default()
    }

    fn two(self) -> (String, String) {
        let mut ids = self.0.into_iter();
        let first = ids.next().unwrap_or_default();
        (first, ids.next().unwrap_or_default())
    }
}

/// What a request's method and path address.
pub enum Found {
    Route(&'static Route, Ids),
    /// The path exists, not with this method; these are the methods it has.
    Method(Vec<&'static Method>),
    Nothing,
}

/// Looks up `method` on `raw_path` (still percent-encoded). A path that cannot carry ids
/// (malformed encoding, `.`/`..` segments) is a 400.
pub fn find(method: &Method, raw_path: &str) -> Result<Found, ApiError> {
    let segments = path::segments(raw_path)?;
    let mut allowed = Vec::new();
    for route in ROUTES {
        if !matches(route.path, &segments) {
            continue;
        }
        if route.method == *method {
            let ids = route
                .path
                .iter()
                .zip(&segments)
                .filter(|(pattern, _)| **pattern == ID)
                .map(|(_, segment)| segment.clone())
                .collect();
            return Ok(Found::Route(route, Ids(ids)));
        }
        allowed.push(&route.method);
    }
    Ok(if allowed.is_empty() {
        Found::Nothing
    } else {
        Found::Method(allowed)
    })
}

fn matches(pattern: &[&str], segments: &[String]) -> bool {
    pattern.len() == segments.len()
        && pattern
            .iter()
            .zip(segments)
            .all(|(p, s)| *p == ID || p.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: Method, path: &str) -> Option<(&'static str, Vec<String>)> {
        match find(&method, path).unwrap() {
            Found::Route(route, ids) => Some((route.name, ids.0)),
            _ => None,
        }
    }

    #[test]
    fn fixed_segments_ignore_case_ids_do_not() {
        assert_eq!(
            found(Method::GET, "/DigitalTwins/Room%2F1/Relationships/R1"),
            Some((
                "DigitalTwins_GetRelationshipById",
                vec!["Room/1".to_string(), "R1".to_string()]
            ))
        );
        assert_eq!(
            found(Method::GET, "/EventRoutes/"),
            Some(("EventRoutes_List", vec![]))
        );
        assert!(matches!(
            find(&Method::GET, "/nope").unwrap(),
            Found::Nothing
        ));
        assert!(matches!(
            find(&Method::GET, "/digitaltwins/a/b").unwrap(),
            Found::Nothing
        ));
        assert!(find(&Method::GET, "/digitaltwins/%G1").is_err());
        match find(&Method::POST, "/digitaltwins/a").unwrap() {
            Found::Method(allowed) => {
                assert_eq!(allowed, [&M::GET, &M::PUT, &M::PATCH, &M::DELETE])
            }
            _ => panic!("expected the allowed methods"),
        }
    }

    #[test]
    fn the_table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        let mut places = std::collections::HashSet::new();
        for route in ROUTES {
            assert!(names.insert(route.name), "{} twice", route.name);
            assert!(
                places.insert((route.method.as_str(), route.path)),
                "{} {:?} twice",
                route.method,
                route.path
            );
            if route.access == Access::Read {
                assert!(
                    route.method == M::GET || route.name.starts_with("Query_"),
                    "{} reads with {}",
                    route.name,
                    route.method
                );
            }
        }
    }
}
