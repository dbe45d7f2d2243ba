//! The stateless half of importing a line: parse, build the stored document, validate it
//! against its model, encode it. Runs on worker threads, in parallel; everything that needs
//! to know about other lines or the store (duplicates, relationship ends) is `apply.rs`'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::format::{Line, LineError, Section};
use crate::error::{Error, Invalid};
use crate::model::StoredModel;
use crate::relationship::{self, Relationship};
use crate::{limits, twin};
use twingraph_dtdl::Catalog;

/// What the workers read: the models in force for the Twins and Relationships sections.
pub(crate) struct Context {
    pub catalog: Arc<Catalog>,
    pub models: Arc<BTreeMap<String, StoredModel>>,
    /// Encode documents for writing (a check only validates).
    pub encode: bool,
}

pub(crate) enum Prepared {
    Twin {
        line: u64,
        id: String,
        model: String,
        doc: Value,
        bytes: Vec<u8>,
    },
    Relationship {
        line: u64,
        rel: Relationship,
        bytes: Vec<u8>,
    },
    /// A Header line after the first, or a Models line outside the Models phase.
    Failed(LineError),
}

impl Prepared {
    pub fn line(&self) -> u64 {
        match self {
            Prepared::Twin { line, .. } | Prepared::Relationship { line, .. } => *line,
            Prepared::Failed(e) => e.line,
        }
    }
}

pub(crate) fn prepare(line: &Line, ctx: &Context, now: &str) -> Prepared {
    let result = match line.section {
        Section::Twins => prepare_twin(line, ctx, now),
        Section::Relationships => prepare_relationship(line, ctx),
        Section::Header | Section::Models => Err(format!(
            "a {} line after the Twins section started",
            line.section.name()
        )),
    };
    result.unwrap_or_else(|reason| {
        Prepared::Failed(LineError {
            line: line.number,
            reason,
        })
    })
}

fn reason(err: Error) -> String {
    err.to_string()
}

pub(crate) fn parse_line(line: &Line) -> Result<Value, String> {
    serde_json::from_str(&line.text).map_err(|e| format!("invalid JSON: {e}"))
}

fn text_field<'v>(body: &'v Value, names: &[&str]) -> Result<&'v str, String> {
    for name in names {
        match body.get(*name) {
            Some(Value::String(s)) => return Ok(s),
            Some(_) => return Err(format!("{name} must be a string")),
            None => {}
        }
    }
    Err(format!("{} is required", names.join(" or ")))
}

fn prepare_twin(line: &Line, ctx: &Context, now: &str) -> Result<Prepared, String> {
    let body = parse_line(line)?;
    if !body.is_object() {
        return Err("a twin must be a JSON object".into());
    }
    let id = text_field(&body, &["$dtId"])?.to_string();
    limits::check_id("twin", &id).map_err(reason)?;
    let model_id = twin::requested_model(&body).map_err(reason)?;
    let model = ctx.catalog.get(&model_id).ok_or_else(|| {
        format!("model {model_id} is neither stored nor in the Models section of the file")
    })?;
    if ctx.models.get(&model_id).is_some_and(|m| m.decommissioned) {
        return Err(reason(Error::invalid(
            Invalid::ModelDecommissioned,
            format!("model {model_id} is decommissioned: no new twins may use it"),
        )));
    }
    let doc = twin::build(
        &id,
        &body,
        &|k| model.components.contains_key(k),
        now,
        &twin::new_etag(),
    )
    .map_err(reason)?;
    twin::validate(&doc, model, &ctx.catalog).map_err(reason)?;
    let bytes = if ctx.encode {
        serde_json::to_vec(&doc).map_err(|e| format!("encoding the twin: {e}"))?
    } else {
        Vec::new()
    };
    Ok(Prepared::Twin {
        line: line.number,
        id,
        model: model_id,
        doc,
        bytes,
    })
}

fn prepare_relationship(line: &Line, ctx: &Context) -> Result<Prepared, String> {
    let body = parse_line(line)?;
    if !body.is_object() {
        return Err("a relationship must be a JSON object".into());
    }
    // ADT's import format names the source `$dtId`; a relationship as GET returns it has
    // `$sourceId`.
    let source = text_field(&body, &["$dtId", "$sourceId"])?;
    let id = text_field(&body, &["$relationshipId"])?;
    limits::check_id("twin", source).map_err(reason)?;
    limits::check_id("relationship", id).map_err(reason)?;
    let rel = relationship::build(source, id, &body, &twin::new_etag()).map_err(reason)?;
    let bytes = if ctx.encode {
        serde_json::to_vec(&rel.doc).map_err(|e| format!("encoding the relationship: {e}"))?
    } else {
        Vec::new()
    };
    Ok(Prepared::Relationship {
        line: line.number,
        rel,
        bytes,
    })
}
