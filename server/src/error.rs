//! `ApiError`, the table of error codes (`Code`, each with its one status), and the table
//! that turns every engine and query failure into a code. Errors are sent as ADT's body
//! `{"error":{"code","message"}}` with the `x-ms-error-code` header. Handlers name a
//! `Code`; nothing else in the server picks a status for an error.
//!
//! Invariant: ordinary client errors are 4xx other than 408 and 429, because the Azure SDKs
//! retry 408, 429 and 5xx (sdk-wire.md §1.6). 5xx is reserved for storage failures and bugs,
//! whose details are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use twingraph_engine::{Entity, Error as EngineError, Invalid};

/// Declares `Code` and its one table: each error code with the status it is sent with.
macro_rules! codes {
    ($($code:ident => $status:ident,)*) => {
        /// Every error code the server sends (ADT's, plus a few of ours), by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($code,)*
        }

        impl Code {
            pub fn status(self) -> StatusCode {
                match self {
                    $(Code::$code => StatusCode::$status,)*
                }
            }

            /// The code as sent in the body and in `x-ms-error-code`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)*
                }
            }
        }
    };
}

codes! {
    // 400: the request is wrong; retrying it unchanged cannot help.
    InvalidArgument => BAD_REQUEST,
    BadRequest => BAD_REQUEST,
    MissingArgument => BAD_REQUEST,
    ValidationFailed => BAD_REQUEST,
    JsonPatchInvalid => BAD_REQUEST,
    InvalidRelationship => BAD_REQUEST,
    OperationNotAllowed => BAD_REQUEST,
    ModelDecommissioned => BAD_REQUEST,
    RelationshipsNotDeleted => BAD_REQUEST,
    DTDLParserError => BAD_REQUEST,
    ModelVersionNotSupported => BAD_REQUEST,
    SqlQueryError => BAD_REQUEST,
    TimeoutError => BAD_REQUEST,
    LimitExceeded => BAD_REQUEST,
    TwinLimitReached => BAD_REQUEST,
    JobLimitReached => BAD_REQUEST,
    EventRouteIdInvalid => BAD_REQUEST,
    EventRouteEndpointInvalid => BAD_REQUEST,
    EventRouteFilterInvalid => BAD_REQUEST,
    // Who is calling.
    Unauthorized => UNAUTHORIZED,
    Forbidden => FORBIDDEN,
    // What is not there.
    NotFound => NOT_FOUND,
    DigitalTwinNotFound => NOT_FOUND,
    TargetTwinNotFound => NOT_FOUND,
    RelationshipNotFound => NOT_FOUND,
    ComponentNotFound => NOT_FOUND,
    ModelNotFound => NOT_FOUND,
    EventRouteNotFound => NOT_FOUND,
    ImportJobNotFound => NOT_FOUND,
    DeleteJobNotFound => NOT_FOUND,
    MethodNotAllowed => METHOD_NOT_ALLOWED,
    // What is there already, or has changed.
    ModelAlreadyExists => CONFLICT,
    RelationshipAlreadyExists => CONFLICT,
    ModelReferencesNotDeleted => CONFLICT,
    PreconditionFailed => PRECONDITION_FAILED,
    // The request's size and pace.
    RequestTimeout => REQUEST_TIMEOUT,
    PayloadTooLarge => PAYLOAD_TOO_LARGE,
    RequestHeaderFieldsTooLarge => REQUEST_HEADER_FIELDS_TOO_LARGE,
    TooManyRequests => TOO_MANY_REQUESTS,
    QuotaReachedError => TOO_MANY_REQUESTS,
    // Our failures: storage and bugs.
    InternalServerError => INTERNAL_SERVER_ERROR,
}

/// A failed request: what the client is told.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// Extra response headers (`Allow`, `Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn with_header(mut self, name: header::HeaderName, value: &'static str) -> ApiError {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// 400 `InvalidArgument`: a malformed id, header, parameter or body.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::InvalidArgument, message)
    }

    pub fn not_found(entity: Entity, id: &str) -> ApiError {
        let (code, what) = not_found_code(entity);
        ApiError::new(code, format!("There is no {what} with id '{id}'."))
    }

    /// 413: the body is larger than the operation allows.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            Code::PayloadTooLarge,
            format!("The request body exceeds the {limit}-byte limit of this operation."),
        )
    }

    /// 500 with a generic message; the detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal error");
        ApiError::new(
            Code::InternalServerError,
            "An internal error occurred. See the server log for details.",
        )
    }
}

impl ApiError {
    /// `PUT /digitaltwins/{id}`: the only limit the engine enforces there is the twin count,
    /// which ADT reports as `TwinLimitReached`.
    pub fn twin_put(err: EngineError) -> ApiError {
        match err {
            EngineError::LimitExceeded(message) => ApiError::new(Code::TwinLimitReached, message),
            other => other.into(),
        }
    }
}

fn not_found_code(entity: Entity) -> (Code, &'static str) {
    match entity {
        Entity::Twin => (Code::DigitalTwinNotFound, "digital twin"),
        Entity::TargetTwin => (Code::TargetTwinNotFound, "target digital twin"),
        Entity::Relationship => (Code::RelationshipNotFound, "relationship"),
        Entity::Component => (Code::ComponentNotFound, "component"),
        Entity::Model => (Code::ModelNotFound, "model"),
        Entity::EventRoute => (Code::EventRouteNotFound, "event route"),
    }
}

/// The one engine error → ADT code table.
impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> ApiError {
        match err {
            EngineError::NotFound { entity, id } => ApiError::not_found(entity, &id),
            EngineError::AlreadyExists { entity, id } => match entity {
                Entity::Model => ApiError::new(
                    Code::ModelAlreadyExists,
                    format!("Model '{id}' already exists; models are immutable."),
                ),
                // Only models report AlreadyExists today; anything else is a conflict too.
                _ => ApiError::new(
                    Code::RelationshipAlreadyExists,
                    format!("'{id}' already exists."),
                ),
            },
            EngineError::PreconditionFailed(message) => {
                ApiError::new(Code::PreconditionFailed, message)
            }
            EngineError::Invalid { kind, message } => {
                let code = match kind {
                    Invalid::Argument => Code::InvalidArgument,
                    Invalid::Validation => Code::ValidationFailed,
                    Invalid::Relationship => Code::InvalidRelationship,
                    Invalid::SelfRelationship => Code::OperationNotAllowed,
                    Invalid::ModelDecommissioned => Code::ModelDecommissioned,
                    Invalid::RelationshipsNotDeleted => Code::RelationshipsNotDeleted,
                    Invalid::JsonPatch => Code::JsonPatchInvalid,
                };
                ApiError::new(code, message)
            }
            EngineError::Dtdl(errors)
                if errors
                    .iter()
                    .any(|e| e.rule == "unrecognizedContextVersion") =>
            {
                let err = EngineError::Dtdl(errors);
                ApiError::new(Code::ModelVersionNotSupported, err.to_string())
            }
            err @ EngineError::Dtdl(_) => {
                // The engine's Display lists element, rule id and message for each error.
                ApiError::new(Code::DTDLParserError, err.to_string())
            }
            EngineError::ModelReferenced(message) => {
                ApiError::new(Code::ModelReferencesNotDeleted, message)
            }
            EngineError::LimitExceeded(message) => ApiError::new(Code::LimitExceeded, message),
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
                ApiError::new(Code::SqlQueryError, e.to_string())
            }
            e @ Q::BadContinuation(_) => ApiError::new(Code::BadRequest, e.to_string()),
            e @ Q::Timeout(_) => ApiError::new(Code::TimeoutError, e.to_string()),
            Q::Engine(e) => e.into(),
            e @ Q::Internal(_) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"code": self.code.name(), "message": self.message}
        });
        let mut response = (self.status(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert(
            "x-ms-error-code",
            HeaderValue::from_static(self.code.name()),
        );
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
            assert_eq!(api.status().as_u16(), status);
            assert_eq!(api.code.name(), code);
            assert!(!api.message.contains("secret"));
        }
        let full = ApiError::twin_put(EngineError::LimitExceeded("full".into()));
        assert_eq!(
            (full.status().as_u16(), full.code.name()),
            (400, "TwinLimitReached")
        );
    }

    #[test]
    fn query_errors_from_the_engine_use_the_engine_table() {
        let corrupt = twingraph_query::Error::from(EngineError::Corruption("secret".into()));
        let api = ApiError::from(corrupt);
        assert_eq!(
            (api.status().as_u16(), api.code.name()),
            (500, "InternalServerError")
        );
        assert!(!api.message.contains("secret"));
    }
}
