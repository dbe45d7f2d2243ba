//! twingraph storage engine: DTDL models, twins, relationships, model indexes and the
//! change-data-capture log, on RocksDB. Blocking API; no async, no HTTP.
//!
//! `Engine` is the one entry point: write operations are its methods, reads go through a
//! `Snapshot` (`engine.snapshot()`), which sees one consistent state.

pub mod bulk;
mod cdc;
mod check;
mod clock;
mod db;
mod delivery;
mod doc_cache;
mod document;
mod error;
pub mod failpoint;
pub mod fields;
mod graph;
mod id_cache;
mod index;
pub mod json_text;
mod keys;
pub mod limits;
mod model;
mod owned_snapshot;
pub mod patch;
mod relationship;
mod snapshot;
mod stage;
mod twin;
mod twin_patch;
mod write;

pub use cdc::{with_traceparent, Change, ChangeKind};
pub use check::IntegrityReport;
pub use db::{Engine, EngineConfig};
pub use delivery::{DeadLetter, RouteCursor};
pub use error::{Entity, Error, Invalid, Result};
pub use graph::{Edge, EdgeIter, Edges};
pub use model::StoredModel;
pub use owned_snapshot::OwnedSnapshot;
pub use relationship::Relationship;
pub use snapshot::{DocBytes, Snapshot, TwinScan};
pub use twin::{Twin, TwinJson};
