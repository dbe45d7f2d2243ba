//! The whole route table: raw path → `Resource` (fixed segments matched case-insensitively,
//! ids case-sensitive and percent-decoded one segment at a time), method → `Op` (named after
//! ADT's operationId, which metrics and logs use), `Op` → handler.

use axum::http::Method;
use axum::response::Response;

use crate::api::{self, Req};
use crate::error::ApiError;
use crate::path;

/// What a path addresses, with its decoded ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Healthz,
    Metrics,
    Models,
    Model(String),
    Query,
    Twin(String),
    Relationships(String),
    Relationship(String, String),
    Incoming(String),
    Telemetry(String),
    Component(String, String),
    ComponentTelemetry(String, String),
    EventRoutes,
    EventRoute(String),
    /// Our extensions: the endpoints file, a route's dead letters, the change feed.
    Endpoints,
    DeadLetters(String),
    EventStream,
    ImportJobs,
    ImportJob(String),
    ImportJobCancel(String),
    DeleteJobs,
    DeleteJob(String),
    /// `POST /query/stream` (our extension): every row as NDJSON.
    QueryStream,
}

/// One ADT operation (plus the server's own endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Healthz,
    Metrics,
    ModelsAdd,
    ModelsList,
    ModelGet,
    ModelUpdate,
    ModelDelete,
    Query,
    TwinGet,
    TwinAdd,
    TwinUpdate,
    TwinDelete,
    RelationshipsList,
    IncomingList,
    RelationshipGet,
    RelationshipAdd,
    RelationshipUpdate,
    RelationshipDelete,
    Telemetry,
    ComponentTelemetry,
    ComponentGet,
    ComponentUpdate,
    EventRoutesList,
    EventRouteGet,
    EventRouteAdd,
    EventRouteDelete,
    EndpointsList,
    DeadLettersList,
    EventStream,
    ImportJobsList,
    ImportJobAdd,
    ImportJobGet,
    ImportJobDelete,
    ImportJobCancel,
    DeleteJobAdd,
    DeleteJobsList,
    DeleteJobGet,
    QueryStream,
}

impl Resource {
    pub fn parse(raw_path: &str) -> Result<Option<Resource>, ApiError> {
        let segs = path::segments(raw_path)?;
        let keys: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let k: Vec<&str> = keys.iter().map(String::as_str).collect();
        let id = |i: usize| segs[i].clone();
        Ok(Some(match k.as_slice() {
            ["healthz"] => Resource::Healthz,
            ["metrics"] => Resource::Metrics,
            ["models"] => Resource::Models,
            ["models", _] => Resource::Model(id(1)),
            ["query"] => Resource::Query,
            ["digitaltwins", _] => Resource::Twin(id(1)),
            ["digitaltwins", _, "relationships"] => Resource::Relationships(id(1)),
            ["digitaltwins", _, "relationships", _] => Resource::Relationship(id(1), id(3)),
            ["digitaltwins", _, "incomingrelationships"] => Resource::Incoming(id(1)),
            ["digitaltwins", _, "telemetry"] => Resource::Telemetry(id(1)),
            ["digitaltwins", _, "components", _] => Resource::Component(id(1), id(3)),
            ["digitaltwins", _, "components", _, "telemetry"] => {
                Resource::ComponentTelemetry(id(1), id(3))
            }
            ["eventroutes"] => Resource::EventRoutes,
            ["eventroutes", _] => Resource::EventRoute(id(1)),
            ["eventroutes", _, "deadletters"] => Resource::DeadLetters(id(1)),
            ["endpoints"] => Resource::Endpoints,
            ["events", "stream"] => Resource::EventStream,
            ["query", "stream"] => Resource::QueryStream,
            ["jobs", "imports"] => Resource::ImportJobs,
            ["jobs", "imports", _] => Resource::ImportJob(id(2)),
            ["jobs", "imports", _, "cancel"] => Resource::ImportJobCancel(id(2)),
            ["jobs", "deletions"] => Resource::DeleteJobs,
            ["jobs", "deletions", _] => Resource::DeleteJob(id(2)),
            _ => return Ok(None),
        }))
    }

    /// The methods this resource answers, and the operation each one is.
    pub fn methods(&self) -> &'static [(Method, Op)] {
        use Op::*;
        match self {
            Resource::Healthz => &[(Method::GET, Healthz)],
            Resource::Metrics => &[(Method::GET, Metrics)],
            Resource::Models => &[(Method::POST, ModelsAdd), (Method::GET, ModelsList)],
            Resource::Model(_) => &[
                (Method::GET, ModelGet),
                (Method::PATCH, ModelUpdate),
                (Method::DELETE, ModelDelete),
            ],
            Resource::Query => &[(Method::POST, Query)],
            Resource::Twin(_) => &[
                (Method::GET, TwinGet),
                (Method::PUT, TwinAdd),
                (Method::PATCH, TwinUpdate),
                (Method::DELETE, TwinDelete),
            ],
            Resource::Relationships(_) => &[(Method::GET, RelationshipsList)],
            Resource::Relationship(..) => &[
                (Method::GET, RelationshipGet),
                (Method::PUT, RelationshipAdd),
                (Method::PATCH, RelationshipUpdate),
                (Method::DELETE, RelationshipDelete),
            ],
            Resource::Incoming(_) => &[(Method::GET, IncomingList)],
            Resource::Telemetry(_) => &[(Method::POST, Telemetry)],
            Resource::Component(..) => &[
                (Method::GET, ComponentGet),
                (Method::PATCH, ComponentUpdate),
            ],
            Resource::ComponentTelemetry(..) => &[(Method::POST, ComponentTelemetry)],
            Resource::EventRoutes => &[(Method::GET, EventRoutesList)],
            Resource::EventRoute(_) => &[
                (Method::GET, EventRouteGet),
                (Method::PUT, EventRouteAdd),
                (Method::DELETE, EventRouteDelete),
            ],
            Resource::Endpoints => &[(Method::GET, EndpointsList)],
            Resource::DeadLetters(_) => &[(Method::GET, DeadLettersList)],
            Resource::EventStream => &[(Method::GET, EventStream)],
            Resource::ImportJobs => &[(Method::GET, ImportJobsList)],
            Resource::ImportJob(_) => &[
                (Method::GET, ImportJobGet),
                (Method::PUT, ImportJobAdd),
                (Method::DELETE, ImportJobDelete),
            ],
            Resource::ImportJobCancel(_) => &[(Method::POST, ImportJobCancel)],
            Resource::DeleteJobs => &[(Method::POST, DeleteJobAdd), (Method::GET, DeleteJobsList)],
            Resource::DeleteJob(_) => &[(Method::GET, DeleteJobGet)],
            Resource::QueryStream => &[(Method::POST, QueryStream)],
        }
    }
}

impl Op {
    /// ADT's operationId; the label metrics and logs use.
    pub fn name(self) -> &'static str {
        use Op::*;
        match self {
            Healthz => "Healthz",
            Metrics => "Metrics",
            ModelsAdd => "DigitalTwinModels_Add",
            ModelsList => "DigitalTwinModels_List",
            ModelGet => "DigitalTwinModels_GetById",
            ModelUpdate => "DigitalTwinModels_Update",
            ModelDelete => "DigitalTwinModels_Delete",
            Query => "Query_QueryTwins",
            TwinGet => "DigitalTwins_GetById",
            TwinAdd => "DigitalTwins_Add",
            TwinUpdate => "DigitalTwins_Update",
            TwinDelete => "DigitalTwins_Delete",
            RelationshipsList => "DigitalTwins_ListRelationships",
            IncomingList => "DigitalTwins_ListIncomingRelationships",
            RelationshipGet => "DigitalTwins_GetRelationshipById",
            RelationshipAdd => "DigitalTwins_AddRelationship",
            RelationshipUpdate => "DigitalTwins_UpdateRelationship",
            RelationshipDelete => "DigitalTwins_DeleteRelationship",
            Telemetry => "DigitalTwins_SendTelemetry",
            ComponentTelemetry => "DigitalTwins_SendComponentTelemetry",
            ComponentGet => "DigitalTwins_GetComponent",
            ComponentUpdate => "DigitalTwins_UpdateComponent",
            EventRoutesList => "EventRoutes_List",
            EventRouteGet => "EventRoutes_GetById",
            EventRouteAdd => "EventRoutes_Add",
            EventRouteDelete => "EventRoutes_Delete",
            EndpointsList => "Endpoints_List",
            DeadLettersList => "EventRoutes_ListDeadLetters",
            EventStream => "Events_Stream",
            ImportJobsList => "ImportJobs_List",
            ImportJobAdd => "ImportJobs_Add",
            ImportJobGet => "ImportJobs_GetById",
            ImportJobDelete => "ImportJobs_Delete",
            ImportJobCancel => "ImportJobs_Cancel",
            DeleteJobAdd => "DeleteJobs_Add",
            DeleteJobsList => "DeleteJobs_List",
            DeleteJobGet => "DeleteJobs_GetById",
            QueryStream => "Query_Stream",
        }
    }

    /// Whether a `reader` token may call it: reads and queries only.
    pub fn is_read(self) -> bool {
        use Op::*;
        matches!(
            self,
            Healthz
                | Metrics
                | ModelsList
                | ModelGet
                | Query
                | TwinGet
                | RelationshipsList
                | IncomingList
                | RelationshipGet
                | ComponentGet
                | EventRoutesList
                | EventRouteGet
                | EndpointsList
                | DeadLettersList
                | EventStream
                | ImportJobsList
                | ImportJobGet
                | DeleteJobsList
                | DeleteJobGet
                | QueryStream
        )
    }
}

/// Runs the handler of `op` on `resource`.
pub async fn dispatch(op: Op, resource: Resource, req: Req) -> Result<Response, ApiError> {
    use api::{components, endpoints, event_routes, events_stream, models, query};
    use api::{jobs, relationships, twins};
    use Resource as R;
    match (op, resource) {
        (Op::ModelsAdd, R::Models) => models::add(req).await,
        (Op::ModelsList, R::Models) => models::list(req).await,
        (Op::ModelGet, R::Model(id)) => models::get(req, id).await,
        (Op::ModelUpdate, R::Model(id)) => models::update(req, id).await,
        (Op::ModelDelete, R::Model(id)) => models::delete(req, id).await,
        (Op::Query, R::Query) => query::query(req).await,
        (Op::TwinGet, R::Twin(id)) => twins::get(req, id).await,
        (Op::TwinAdd, R::Twin(id)) => twins::put(req, id).await,
        (Op::TwinUpdate, R::Twin(id)) => twins::patch(req, id).await,
        (Op::TwinDelete, R::Twin(id)) => twins::delete(req, id).await,
        (Op::Telemetry, R::Telemetry(id)) => twins::telemetry(req, id, None).await,
        (Op::RelationshipsList, R::Relationships(id)) => relationships::list(req, id).await,
        (Op::IncomingList, R::Incoming(id)) => relationships::incoming(req, id).await,
        (Op::RelationshipGet, R::Relationship(src, id)) => relationships::get(req, src, id).await,
        (Op::RelationshipAdd, R::Relationship(src, id)) => relationships::put(req, src, id).await,
        (Op::RelationshipUpdate, R::Relationship(src, id)) => {
            relationships::patch(req, src, id).await
        }
        (Op::RelationshipDelete, R::Relationship(src, id)) => {
            relationships::delete(req, src, id).await
        }
        (Op::ComponentGet, R::Component(id, c)) => components::get(req, id, c).await,
        (Op::ComponentUpdate, R::Component(id, c)) => components::patch(req, id, c).await,
        (Op::ComponentTelemetry, R::ComponentTelemetry(id, c)) => {
            twins::telemetry(req, id, Some(c)).await
        }
        (Op::EventRoutesList, R::EventRoutes) => event_routes::list(req).await,
        (Op::EventRouteGet, R::EventRoute(id)) => event_routes::get(req, id).await,
        (Op::EventRouteAdd, R::EventRoute(id)) => event_routes::put(req, id).await,
        (Op::EventRouteDelete, R::EventRoute(id)) => event_routes::delete(req, id).await,
        (Op::DeadLettersList, R::DeadLetters(id)) => event_routes::dead_letters(req, id).await,
        (Op::EndpointsList, R::Endpoints) => endpoints::list(req).await,
        (Op::EventStream, R::EventStream) => events_stream::open(req).await,
        (Op::QueryStream, R::QueryStream) => api::query_stream::stream(req).await,
        (Op::ImportJobsList, R::ImportJobs) => jobs::list(req, jobs::IMPORTS).await,
        (Op::ImportJobAdd, R::ImportJob(id)) => jobs::add_import(req, id).await,
        (Op::ImportJobGet, R::ImportJob(id)) => jobs::get(req, jobs::IMPORTS, id).await,
        (Op::ImportJobDelete, R::ImportJob(id)) => jobs::delete_import(req, id).await,
        (Op::ImportJobCancel, R::ImportJobCancel(id)) => jobs::cancel_import(req, id).await,
        (Op::DeleteJobAdd, R::DeleteJobs) => jobs::add_deletion(req).await,
        (Op::DeleteJobsList, R::DeleteJobs) => jobs::list(req, jobs::DELETIONS).await,
        (Op::DeleteJobGet, R::DeleteJob(id)) => jobs::get(req, jobs::DELETIONS, id).await,
        (op, resource) => Err(ApiError::internal(format!(
            "route table has no handler for {op:?} on {resource:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_segments_ignore_case_ids_do_not() {
        assert_eq!(
            Resource::parse("/DigitalTwins/Room%2F1/Relationships/R1").unwrap(),
            Some(Resource::Relationship("Room/1".into(), "R1".into()))
        );
        assert_eq!(
            Resource::parse("/EventRoutes").unwrap(),
            Some(Resource::EventRoutes)
        );
        assert_eq!(Resource::parse("/nope").unwrap(), None);
        assert_eq!(Resource::parse("/digitaltwins/a/b").unwrap(), None);
        assert!(Resource::parse("/digitaltwins/%G1").is_err());
    }
}
