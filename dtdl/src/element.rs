//! The parsed element tree: every DTDL element of a model set in one arena, with its class,
//! identifier, active context and property values. Parsing (`parse.rs`) fills it; the rule
//! passes (`rules.rs`, `resolve.rs`) and the catalog read it.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::context::Ctx;
use super::extension::AdjunctType;
use super::metamodel::Class;
use super::DtdlError;

/// One value of an element property.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// A literal: name, comment, writable, multiplicity, enumValue.
    Literal(Value),
    /// A child element defined inline (index into the arena).
    Element(usize),
    /// A DTMI naming an element defined elsewhere (resolved by `resolve.rs`) or, for
    /// `target`, a twin model that need not exist.
    Reference(String),
    /// A primitive or geospatial schema term (`double`, `point`).
    Schema(&'static str),
    /// A QuantitativeTypes v1 unit type used as a schema: an Enum of its units (`TemperatureUnit`).
    UnitSchema(&'static str),
    /// A term from a closed set: a unit, a `commandType`, an Enum `valueSchema`.
    Term(String),
}

/// One DTDL element.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    /// `@id`, or the automatic id derived from the parent.
    pub id: String,
    pub class: Class,
    /// Semantic-type co-types (v2 native, v3 QuantitativeTypes).
    pub semantic: Vec<String>,
    /// Adjunct co-types of the feature extensions that apply to this element's class and version.
    pub adjuncts: Vec<&'static AdjunctType>,
    /// Has a co-type the validator accepts without knowing it (undefined term, or any
    /// unknown term while an undefined extension is active): unknown properties are then allowed.
    pub informal: bool,
    pub ctx: Ctx,
    /// Index of the input document; `None` for definitions obtained from the store.
    pub doc: Option<usize>,
    /// Structural parent and the property holding this element.
    pub parent: Option<(usize, &'static str)>,
    /// The Interface whose partition this element belongs to (itself for an Interface).
    pub partition: usize,
    pub top_level: bool,
    pub props: BTreeMap<&'static str, Vec<Item>>,
}

impl Element {
    pub fn items(&self, prop: &str) -> &[Item] {
        self.props.get(prop).map_or(&[], Vec::as_slice)
    }

    /// The first literal string of `prop` (e.g. `name`).
    pub fn string(&self, prop: &str) -> Option<&str> {
        self.items(prop).iter().find_map(|i| match i {
            Item::Literal(Value::String(s)) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn name(&self) -> Option<&str> {
        self.string("name")
    }

    pub fn version(&self) -> u8 {
        self.ctx.version
    }
}

/// All elements of a model set plus the errors found so far.
#[derive(Debug, Default)]
pub(crate) struct Model {
    pub elements: Vec<Element>,
    pub errors: Vec<DtdlError>,
    /// Explicit `@id` → elements defining it (more than one is `duplicateDefinition`).
    pub by_id: HashMap<String, Vec<usize>>,
    /// Top-level Interfaces of the input documents with their JSON, in input order.
    pub roots: Vec<(usize, Value)>,
}

impl Model {
    pub fn error(
        &mut self,
        rule: &str,
        element: &str,
        property: Option<&str>,
        doc: Option<usize>,
        message: String,
    ) {
        self.errors.push(DtdlError {
            rule: rule.to_string(),
            element: element.to_string(),
            property: property.map(str::to_string),
            document: doc,
            message,
        });
    }

    /// Reports against element `idx`.
    pub fn error_at(&mut self, idx: usize, rule: &str, property: Option<&str>, message: String) {
        let (id, doc) = (self.elements[idx].id.clone(), self.elements[idx].doc);
        self.error(rule, &id, property, doc, message);
    }

    /// The element an explicit id names, when exactly one does.
    pub fn lookup(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).and_then(|v| v.first().copied())
    }

    /// Child elements of `idx` under `prop`: inline ones and resolved references.
    pub fn children(&self, idx: usize, prop: &str) -> Vec<usize> {
        self.elements[idx]
            .items(prop)
            .iter()
            .filter_map(|i| match i {
                Item::Element(c) => Some(*c),
                Item::Reference(r) if prop != "target" => self.lookup(r),
                _ => None,
            })
            .collect()
    }
}

/// The automatic id of a child: `parent:_prop[:__name]`, inserted before `;version`.
pub(crate) fn auto_id(parent: &str, prop: &str, name: Option<&str>) -> String {
    let suffix = match name {
        Some(n) => format!(":_{prop}:__{n}"),
        None => format!(":_{prop}"),
    };
    match parent.split_once(';') {
        Some((base, ver)) => format!("{base}{suffix};{ver}"),
        None => format!("{parent}{suffix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_ids() {
        assert_eq!(
            auto_id("dtmi:a:b;1", "contents", Some("x")),
            "dtmi:a:b:_contents:__x;1"
        );
        assert_eq!(auto_id("dtmi:a:b;1", "schema", None), "dtmi:a:b:_schema;1");
        assert_eq!(auto_id("dtmi:a:b", "schema", None), "dtmi:a:b:_schema");
    }
}
