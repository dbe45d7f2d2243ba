//! Resolution of parsed elements into the engine's view: the `extends` closure of an Interface,
//! its flattened contents (own and inherited), and schemas with named complex schemas inlined.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::catalog::{FlatModel, RelationshipDef};
use super::element::{Item, Model};
use super::metamodel::Class;
use super::Schema;

/// Deepest schema nesting followed; validation caps it at 5, so this only guards cycles.
const MAX_SCHEMA_NESTING: usize = 32;

/// `idx` and every Interface it extends, transitively: depth-first, each once, cycle-safe.
pub(crate) fn ancestors(model: &Model, idx: usize) -> Vec<usize> {
    let mut out = vec![idx];
    let mut i = 0;
    while i < out.len() {
        for p in model.children(out[i], "extends") {
            if !out.contains(&p) && model.elements[p].class == Class::Interface {
                out.push(p);
            }
        }
        i += 1;
    }
    out
}

/// The resolved schema of a `schema`/`elementSchema` item.
pub(crate) fn schema(model: &Model, item: &Item) -> Option<Schema> {
    schema_at(model, item, 0)
}

fn schema_at(model: &Model, item: &Item, depth: usize) -> Option<Schema> {
    if depth > MAX_SCHEMA_NESTING {
        return None;
    }
    let idx = match item {
        Item::Schema(t) => return Some(primitive(t)),
        Item::UnitSchema(t) => {
            // The Enum's values are the unit names themselves.
            let values = super::units::units_of(3, t)
                .map(|u| (u.to_string(), Value::String(u.to_string())))
                .collect();
            return Some(Schema::Enum {
                value_schema: Box::new(Schema::String),
                values,
            });
        }
        Item::Element(e) => *e,
        Item::Reference(r) => model.lookup(r)?,
        _ => return None,
    };
    let first = |idx: usize, prop: &str| -> Option<Schema> {
        let it = model.elements[idx].items(prop).first()?;
        schema_at(model, it, depth + 1)
    };
    let el = &model.elements[idx];
    match el.class {
        Class::Array => Some(Schema::Array {
            element: Box::new(first(idx, "elementSchema")?),
        }),
        Class::Map => {
            let value = model
                .children(idx, "mapValue")
                .first()
                .and_then(|mv| first(*mv, "schema"))?;
            Some(Schema::Map {
                value: Box::new(value),
            })
        }
        Class::Object => {
            let fields = model
                .children(idx, "fields")
                .into_iter()
                .filter_map(|f| Some((model.elements[f].name()?.to_string(), first(f, "schema")?)))
                .collect();
            Some(Schema::Object { fields })
        }
        Class::Enum => {
            let value_schema = match el.items("valueSchema").first() {
                Some(Item::Term(t)) if t == "string" => Schema::String,
                _ => Schema::Integer,
            };
            let values = model
                .children(idx, "enumValues")
                .into_iter()
                .filter_map(|v| {
                    let ev = &model.elements[v];
                    let value = match ev.items("enumValue").first() {
                        Some(Item::Literal(val)) => val.clone(),
                        _ => return None,
                    };
                    Some((ev.name()?.to_string(), value))
                })
                .collect();
            Some(Schema::Enum {
                value_schema: Box::new(value_schema),
                values,
            })
        }
        _ => None,
    }
}

fn primitive(term: &str) -> Schema {
    match term {
        "boolean" => Schema::Boolean,
        "date" => Schema::Date,
        "dateTime" => Schema::DateTime,
        "double" => Schema::Double,
        "duration" => Schema::Duration,
        "float" => Schema::Float,
        "integer" => Schema::Integer,
        "long" => Schema::Long,
        "time" => Schema::Time,
        "string" => Schema::String,
        geo => Schema::Geospatial(geo.to_string()),
    }
}

/// Interface `idx` with everything it inherits. Own definitions come first, so on a (invalid)
/// name clash the most derived one wins.
pub(crate) fn flatten(model: &Model, idx: usize) -> FlatModel {
    let lineage = ancestors(model, idx);
    let mut flat = FlatModel {
        id: model.elements[idx].id.clone(),
        ancestors: lineage
            .iter()
            .map(|a| model.elements[*a].id.clone())
            .collect(),
        properties: BTreeMap::new(),
        components: BTreeMap::new(),
        relationships: BTreeMap::new(),
        telemetries: BTreeMap::new(),
        commands: BTreeSet::new(),
    };
    let mut seen = BTreeSet::new();
    for a in lineage {
        for c in model.children(a, "contents") {
            if !seen.insert(c) {
                continue;
            }
            let el = &model.elements[c];
            let Some(name) = el.name().map(str::to_string) else {
                continue;
            };
            let schema_of = |e: usize| {
                model.elements[e]
                    .items("schema")
                    .first()
                    .and_then(|i| schema(model, i))
            };
            match el.class {
                Class::Property => {
                    if let Some(s) = schema_of(c) {
                        flat.properties.entry(name).or_insert(s);
                    }
                }
                Class::Telemetry => {
                    if let Some(s) = schema_of(c) {
                        flat.telemetries.entry(name).or_insert(s);
                    }
                }
                Class::Command => {
                    flat.commands.insert(name);
                }
                Class::Component => {
                    if let Some(target) = model.children(c, "schema").first() {
                        flat.components
                            .entry(name)
                            .or_insert_with(|| model.elements[*target].id.clone());
                    }
                }
                Class::Relationship => {
                    let target = el.items("target").iter().find_map(|i| match i {
                        Item::Reference(r) => Some(r.clone()),
                        _ => None,
                    });
                    let max_multiplicity =
                        el.items("maxMultiplicity").iter().find_map(|i| match i {
                            Item::Literal(Value::Number(n)) => n.as_u64(),
                            _ => None,
                        });
                    let properties = model
                        .children(c, "properties")
                        .into_iter()
                        .filter_map(|p| {
                            Some((model.elements[p].name()?.to_string(), schema_of(p)?))
                        })
                        .collect();
                    flat.relationships
                        .entry(name.clone())
                        .or_insert(RelationshipDef {
                            name,
                            target,
                            max_multiplicity,
                            properties,
                        });
                }
                _ => {}
            }
        }
    }
    flat
}
