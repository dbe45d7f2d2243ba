//! The entry points: prepare a query (parse, check, plan), then read it page by page from an
//! engine snapshot. A later page needs only its continuation token and a snapshot.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use twingraph_engine::Snapshot;

use crate::ast;
use crate::error::Error;
use crate::exec::{self, Resume};
use crate::plan::Plan;
use crate::planner::{self, HopRules};

/// Options of a query run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Read MATCH hop ranges as Cypher does (`*1..3` is 1 to 3 hops) instead of as ADT
    /// documents them (`*1..3` is 2 or 3 hops). A token keeps the reading of its first page.
    pub cypher_hops: bool,
    /// Fail with `Error::Timeout` when a page takes longer (ADT: 60 s).
    pub timeout: Option<Duration>,
}

/// One result row as JSON text. Stored documents reach it unparsed, so a server writes rows
/// into its response as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonRow(String);

impl JsonRow {
    pub(crate) fn new(text: String) -> JsonRow {
        JsonRow(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The row parsed (for callers that inspect rows rather than pass them on).
    pub fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::from_str(&self.0)
    }
}

impl std::fmt::Display for JsonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of results, as POST /query returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The rows, shaped by the SELECT clause (adt-api.md §5.6).
    pub rows: Vec<JsonRow>,
    /// Present when more rows follow.
    pub continuation: Option<String>,
    /// Query Units consumed by this page, for the `query-charge` header.
    pub charge: f64,
}

/// A parsed, checked and planned query.
#[derive(Debug, Clone)]
pub struct PreparedQuery {
    text: String,
    query: ast::Query,
    plan: Plan,
    cypher_hops: bool,
}

/// Parses, checks and plans `text`.
pub fn prepare(text: &str, options: &QueryOptions) -> Result<PreparedQuery, Error> {
    let query = crate::parser::parse_syntax(text)?;
    let scope = crate::check::check(text, &query)?;
    let plan = planner::plan(
        &query,
        &scope,
        HopRules {
            cypher: options.cypher_hops,
        },
    )?;
    Ok(PreparedQuery {
        text: text.to_string(),
        query,
        plan,
        cypher_hops: options.cypher_hops,
    })
}

/// The page after the one that returned `token`.
pub fn next_page(
    snapshot: &Snapshot<'_>,
    token: &str,
    max_items: usize,
    options: &QueryOptions,
) -> Result<Page, Error> {
    let resume = exec::decode(token)?;
    let options = QueryOptions {
        cypher_hops: resume.cypher_hops,
        ..options.clone()
    };
    let prepared = prepare(&resume.text, &options)
        .map_err(|_| Error::BadContinuation("the token's query no longer parses".into()))?;
    prepared.page(snapshot, max_items, Some(&resume.cursor), &options)
}

impl PreparedQuery {
    pub fn query(&self) -> &ast::Query {
        &self.query
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// `EXPLAIN SELECT ...`: `first_page` returns the plan text instead of rows.
    pub fn is_explain(&self) -> bool {
        self.query.explain
    }

    /// The plan as text (the EXPLAIN output).
    pub fn explain(&self) -> String {
        self.plan.to_string()
    }

    /// The first page: at most `max_items` rows (at least 1). For EXPLAIN, one row
    /// `{"plan": "<text>", "operators": [...]}`: the plan as text and as JSON
    /// ([`Plan::to_json`]); nothing is read from the snapshot.
    pub fn first_page(
        &self,
        snapshot: &Snapshot<'_>,
        max_items: usize,
        options: &QueryOptions,
    ) -> Result<Page, Error> {
        if self.is_explain() {
            let mut row = Map::new();
            row.insert("plan".into(), Value::String(self.explain()));
            row.insert("operators".into(), self.plan.to_json());
            return Ok(Page {
                rows: vec![JsonRow(Value::Object(row).to_string())],
                continuation: None,
                charge: 1.0,
            });
        }
        self.page(snapshot, max_items, None, options)
    }

    /// The page after the one that returned `token`, for a caller that kept this prepared
    /// query: as [`next_page`], without parsing and planning the text again.
    pub fn resume(
        &self,
        snapshot: &Snapshot<'_>,
        token: &str,
        max_items: usize,
        options: &QueryOptions,
    ) -> Result<Page, Error> {
        let resume = exec::decode(token)?;
        if resume.text != self.text || resume.cypher_hops != self.cypher_hops {
            return Err(Error::BadContinuation(
                "the token belongs to another query".into(),
            ));
        }
        self.page(snapshot, max_items, Some(&resume.cursor), options)
    }

    fn page(
        &self,
        snapshot: &Snapshot<'_>,
        max_items: usize,
        cursor: Option<&exec::Cursor>,
        options: &QueryOptions,
    ) -> Result<Page, Error> {
        let deadline = options.timeout.map(|t| Instant::now() + t);
        let outcome =
            exec::run(snapshot, &self.plan, max_items, cursor, deadline).map_err(|e| {
                match (e, options.timeout) {
                    (Error::Timeout(_), Some(t)) => Error::Timeout(t.as_secs()),
                    (e, _) => e,
                }
            })?;
        let continuation = outcome.next.map(|cursor| {
            exec::encode(&Resume {
                text: self.text.clone(),
                cypher_hops: self.cypher_hops,
                cursor,
            })
        });
        Ok(Page {
            rows: outcome.rows,
            continuation,
            charge: outcome.work.charge(),
        })
    }
}
