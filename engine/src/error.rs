//! The engine's one error type. Variants say what the caller should do; the server maps each
//! to an HTTP status and ADT error code in one place.

use twingraph_dtdl::DtdlError;

/// What kind of thing a `NotFound` / `AlreadyExists` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Twin,
    /// The target twin named by a relationship.
    TargetTwin,
    Relationship,
    Component,
    Model,
    EventRoute,
}

/// Why a request was refused as invalid (400-class). Each maps to one ADT error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// A malformed argument: an id, a header value, a body that is not the right shape.
    Argument,
    /// The twin or relationship does not conform to its model.
    Validation,
    /// A relationship name or target the source's model does not allow.
    Relationship,
    /// Source and target are the same twin.
    SelfRelationship,
    /// A new twin of a decommissioned model.
    ModelDecommissioned,
    /// A twin that still has relationships cannot be deleted.
    RelationshipsNotDeleted,
    /// A JSON Patch document that is malformed or uses an operation ADT does not allow.
    JsonPatch,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{entity:?} not found: {id}")]
    NotFound { entity: Entity, id: String },
    #[error("{entity:?} already exists: {id}")]
    AlreadyExists { entity: Entity, id: String },
    /// An `If-Match` / `If-None-Match` condition failed.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("{message}")]
    Invalid { kind: Invalid, message: String },
    /// The DTDL documents were rejected by the validator.
    #[error("invalid DTDL: {}", summarize(.0))]
    Dtdl(Vec<DtdlError>),
    /// Another model still depends on this one (extends it or uses it as a component).
    #[error("{0}")]
    ModelReferenced(String),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("storage error: {0}")]
    Storage(#[from] rocksdb::Error),
    #[error("corrupt data: {0}")]
    Corruption(String),
    /// A bug in twingraph: an invariant did not hold.
    #[error("internal error (a bug in twingraph): {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(kind: Invalid, message: impl Into<String>) -> Error {
        Error::Invalid {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Error {
        Error::invalid(Invalid::Validation, message)
    }

    pub(crate) fn not_found(entity: Entity, id: impl Into<String>) -> Error {
        Error::NotFound {
            entity,
            id: id.into(),
        }
    }
}

fn summarize(errors: &[DtdlError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().take(10).enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&format!("{} ({}): {}", e.element, e.rule, e.message));
    }
    if errors.len() > 10 {
        out.push_str(&format!("; and {} more", errors.len() - 10));
    }
    out
}
