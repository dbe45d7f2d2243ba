//! The write operations, one file per resource; each builds one batch and commits it.

mod models;
mod relationships;
mod routes;
pub(crate) mod twins;
