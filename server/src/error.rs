//! `ApiError` and the single table that turns every failure into an HTTP status plus an ADT
//! error code, sent as ADT's body `{"error":{"code","message"}}` with the `x-ms-error-code`
//! header. Nothing else in the server picks a status code for an error.
//!
//! Invariant: ordinary client errors are 4xx other than 408 and 429, because the Azure SDKs
//! retry 408, 429 and 5xx (sdk-wire.md §1.6). 5xx is reserved for storage failures and bugs,
//! whose details are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use twingraph_engine::{Entity, Error as EngineError, Invalid};

/// A failed request: what the client is told.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// ADT's error code, e.g. `DigitalTwinNotFound`.
    pub code: &'static str,
    pub message: String,
    /// Extra response headers (`Allow`, `Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: &'static str) -> ApiError {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// 400 `InvalidArgument`: a malformed id, header, parameter or body.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(entity: Entity, id: &str) -> ApiError {
        let (code, what) = not_found_code(entity);
        ApiError::new(
            StatusCode::NOT_FOUND,
            code,
            format!("There is no {what} with id '{id}'."),
        )
    }

    /// 413: the body is larger than the operation allows.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("The request body exceeds the {limit}-byte limit of this operation."),
        )
    }

    /// 500 with a generic message; the detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "An internal error occurred. See the server log for details.",
        )
    }
}

impl ApiError {
    /// `PUT /digitaltwins/{id}`: the only limit the engine enforces there is the twin count,
    /// which ADT reports as `TwinLimitReached`.
    pub fn twin_put(err: EngineError) -> ApiError {
        match err {
            EngineError::LimitExceeded(message) => {
                ApiError::bad_request("TwinLimitReached", message)
            }
            other => other.into(),
        }
    }
}

fn not_found_code(entity: Entity) -> (&'static str, &'static str) {
    match entity {
        Entity::Twin => ("DigitalTwinNotFound", "digital twin"),
        Entity::TargetTwin => ("TargetTwinNotFound", "target digital twin"),
        Entity::Relationship => ("RelationshipNotFound", "relationship"),
        Entity::Component => ("ComponentNotFound", "component"),
        Entity::Model => ("ModelNotFound", "model"),
        Entity::EventRoute => ("EventRouteNotFound", "event route"),
    }
}

/// The one engine error → (status, ADT code) table.
impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> ApiError {
        use StatusCode as S;
        match err {
            EngineError::NotFound { entity, id } => ApiError::not_found(entity, &id),
            EngineError::AlreadyExists { entity, id } => match entity {
                Entity::Model => ApiError::new(
                    S::CONFLICT,
                    "ModelAlreadyExists",
                    format!("Model '{id}' already exists; models are immutable."),
                ),
                // Only models report AlreadyExists today; anything else is a conflict too.
                _ => ApiError::new(
                    S::CONFLICT,
                    "RelationshipAlreadyExists",
                    format!("'{id}' already exists."),
                ),
            },
            EngineError::PreconditionFailed(message) => {
                ApiError::new(S::PRECONDITION_FAILED, "PreconditionFailed", message)
            }
            EngineError::Invalid { kind, message } => {
                let code = match kind {
                    Invalid::Argument => "InvalidArgument",
                    Invalid::Validation => "ValidationFailed",
                    Invalid::Relationship => "InvalidRelationship",
                    Invalid::SelfRelationship => "OperationNotAllowed",
                    Invalid::ModelDecommissioned => "ModelDecommissioned",
                    Invalid::RelationshipsNotDeleted => "RelationshipsNotDeleted",
                    Invalid::JsonPatch => "JsonPatchInvalid",
                };
                ApiError::new(S::BAD_REQUEST, code, message)
            }
            EngineError::Dtdl(errors)
                if errors
                    .iter()
                    .any(|e| e.rule == "unrecognizedContextVersion") =>
            {
                let err = EngineError::Dtdl(errors);
                ApiError::new(S::BAD_REQUEST, "ModelVersionNotSupported", err.to_string())
            }
            err @ EngineError::Dtdl(_) => {
                // The engine's Display lists element, rule id and message for each error.
                ApiError::new(S::BAD_REQUEST, "DTDLParserError", err.to_string())
            }
            EngineError::ModelReferenced(message) => {
                ApiError::new(S::CONFLICT, "ModelReferencesNotDeleted", message)
            }
            EngineError::LimitExceeded(message) => {
                ApiError::new(S::BAD_REQUEST, "LimitExceeded", message)
            }
            err @ (EngineError::Storage(_)
            | EngineError::Corruption(_)
            | EngineError::Internal(_)) => ApiError::internal(err),
        }
    }
}

/// Query errors: every one a user can cause is a 400 (the SDKs retry 408, 429 and 5xx).
impl From<twingraph_query::Error> for ApiError {
    fn from(err: twingraph_query::Error) -> ApiError {
        use twingraph_query::Error as Q;
        match err {
            e @ (Q::Syntax { .. } | Q::Invalid { .. } | Q::LimitExceeded { .. }) => {
                ApiError::bad_request("SqlQueryError", e.to_string())
            }
            e @ Q::BadContinuation(_) => ApiError::bad_request("BadRequest", e.to_string()),
            e @ Q::Timeout(_) => ApiError::bad_request("TimeoutError", e.to_string()),
            Q::Engine(e) => e.into(),
            e @ Q::Internal(_) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"code": self.code, "message": self.message}
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert("x-ms-error-code", HeaderValue::from_static(self.code));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: Vec<(EngineError, u16, &str)> = vec![
            (
                EngineError::NotFound {
                    entity: Entity::TargetTwin,
                    id: "t".into(),
                },
                404,
                "TargetTwinNotFound",
            ),
            (
                EngineError::AlreadyExists {
                    entity: Entity::Model,
                    id: "m".into(),
                },
                409,
                "ModelAlreadyExists",
            ),
            (
                EngineError::Invalid {
                    kind: Invalid::RelationshipsNotDeleted,
                    message: "x".into(),
                },
                400,
                "RelationshipsNotDeleted",
            ),
            (
                EngineError::ModelReferenced("x".into()),
                409,
                "ModelReferencesNotDeleted",
            ),
            (EngineError::LimitExceeded("x".into()), 400, "LimitExceeded"),
            (
                EngineError::Corruption("secret".into()),
                500,
                "InternalServerError",
            ),
        ];
        for (err, status, code) in cases {
            let api = ApiError::from(err);
            assert_eq!(api.status.as_u16(), status);
            assert_eq!(api.code, code);
            assert!(!api.message.contains("secret"));
        }
        let full = ApiError::twin_put(EngineError::LimitExceeded("full".into()));
        assert_eq!((full.status.as_u16(), full.code), (400, "TwinLimitReached"));
    }

    #[test]
    fn query_errors_from_the_engine_use_the_engine_table() {
        let corrupt = twingraph_query::Error::from(EngineError::Corruption("secret".into()));
        let api = ApiError::from(corrupt);
        assert_eq!(
            (api.status.as_u16(), api.code),
            (500, "InternalServerError")
        );
        assert!(!api.message.contains("secret"));
    }
}
