//! twingraph query engine: ADT query text → syntax tree → plan → rows, over an engine snapshot.
//!
//! `parse` reads and checks a query; `prepare` also plans it, and `PreparedQuery::first_page` /
//! `next_page` stream its results page by page. Nothing here writes to the engine.

pub mod ast;
mod check;
mod error;
mod exec;
pub mod limits;
mod parser;
pub mod plan;
mod planner;
mod prepared;

pub use check::{output_name, Origin, Scope, Var, VarKind};
pub use error::{Error, Position};
pub use exec::Work;
pub use prepared::{next_page, prepare, JsonRow, Page, PreparedQuery, QueryOptions};

/// Parses and checks a query: syntax, aliases and their scope, clause combinations, the `$dtId`
/// anchor of JOIN and MATCH, and the limits of adt-api.md §5.5.
pub fn parse(text: &str) -> Result<ast::Query, Error> {
    let query = parser::parse_syntax(text)?;
    check::check(text, &query)?;
    Ok(query)
}
