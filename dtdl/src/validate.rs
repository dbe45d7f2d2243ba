//! Rules across elements, run once the whole model set (batch plus what the store supplied) is
//! parsed: duplicate ids, reference resolution and referenceability, `extends` cycles, depth
//! and count, inherited name clashes, component nesting, complex-schema depth and recursion,
//! the v2 ban on Arrays under Properties, and numeric schemas for semantic types.

use std::collections::{BTreeMap, HashSet};

use super::element::{Item, Model};
use super::metamodel::{self, Class, Kind};
use super::{resolve, sibling};

const MAX_EXTENDS_DEPTH: usize = 10;
const MAX_EXTENDS_COUNT_V3: usize = 1024;
const MAX_SCHEMA_DEPTH: usize = 5;
const MAX_CONTENTS_V2: usize = 300;
const MAX_ELEMENTS_V3: usize = 100_000;

/// Runs every cross-element rule, appending to `model.errors`.
pub(crate) fn run(model: &mut Model) {
    duplicates(model);
    references(model);
    // The graph walks below are cycle-safe, so they run even when references were bad.
    for idx in 0..model.elements.len() {
        match model.elements[idx].class {
            Class::Interface => {
                extends(model, idx);
                inherited_names(model, idx);
                element_count(model, idx);
            }
            Class::Component => component(model, idx),
            Class::Array | Class::Map | Class::Object => schema_depth(model, idx),
            Class::Property
            | Class::Telemetry
            | Class::Field
            | Class::MapValue
            | Class::CommandRequest
            | Class::CommandResponse => semantic_schema(model, idx),
            _ => {}
        }
        if model.elements[idx].class == Class::Property && model.elements[idx].version() == 2 {
            v2_property_schema(model, idx);
        }
    }
    sibling::run(model);
}

fn duplicates(model: &mut Model) {
    let dups: Vec<(String, usize)> = model
        .by_id
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(id, v)| (id.clone(), v[1]))
        .collect();
    for (id, idx) in dups {
        model.error_at(
            idx,
            "duplicateDefinition",
            None,
            format!("{id} has more than one definition"),
        );
    }
}

/// Every dependent reference must name an element that exists, may be referenced from here,
/// and is of a class the property allows.
fn references(model: &mut Model) {
    for idx in 0..model.elements.len() {
        let el = &model.elements[idx];
        let specs = metamodel::properties(el.class, el.version());
        let mut problems = Vec::new();
        for (prop, items) in &el.props {
            let Some(Kind::Elements { classes, .. }) =
                specs.iter().find(|s| s.term == *prop).map(|s| s.kind)
            else {
                continue;
            };
            for item in items {
                let Item::Reference(r) = item else { continue };
                let Some(t) = model.lookup(r) else {
                    problems.push((
                        "unresolvedIdentifiers",
                        *prop,
                        format!("'{r}' refers to a definition that was not supplied"),
                    ));
                    continue;
                };
                let target = &model.elements[t];
                if target.class != Class::Interface
                    && !target.top_level
                    && target.partition != el.partition
                {
                    problems.push((
                        "crossPartitionReference",
                        *prop,
                        format!("'{r}' is defined within another Interface"),
                    ));
                } else if !classes.contains(&target.class) {
                    problems.push((
                        "badType",
                        *prop,
                        format!(
                            "'{r}' is a {}, not allowed in '{prop}'",
                            target.class.term()
                        ),
                    ));
                } else if target.version() > el.version() {
                    problems.push((
                        "disallowedVersionReference",
                        *prop,
                        format!("'{r}' is defined in a later DTDL version"),
                    ));
                }
            }
        }
        for (rule, prop, msg) in problems {
            model.error_at(idx, rule, Some(prop), msg);
        }
    }
}

/// `extends`: no cycles, depth ≤ 10, v3 ≤ 1024 Interfaces in the hierarchy.
fn extends(model: &mut Model, idx: usize) {
    let mut path = vec![idx];
    let mut count = 0;
    let (cycle, depth) = walk_extends(model, idx, &mut path, &mut count);
    if cycle {
        model.error_at(
            idx,
            "recursiveStructureNarrow",
            Some("extends"),
            "Interface extends itself".into(),
        );
    } else if depth > MAX_EXTENDS_DEPTH {
        model.error_at(
            idx,
            "excessiveDepthNarrow",
            Some("extends"),
            format!("extends chain is {depth} levels deep, over {MAX_EXTENDS_DEPTH}"),
        );
    } else if model.elements[idx].version() >= 3 && count > MAX_EXTENDS_COUNT_V3 {
        model.error_at(
            idx,
            "excessiveCount",
            Some("extends"),
            format!("extends hierarchy has {count} values, over {MAX_EXTENDS_COUNT_V3}"),
        );
    }
}

/// Returns (cycle found, depth) of the extends tree under `idx`.
fn walk_extends(
    model: &Model,
    idx: usize,
    path: &mut Vec<usize>,
    count: &mut usize,
) -> (bool, usize) {
    let mut depth = 0;
    for p in model.children(idx, "extends") {
        *count += 1;
        if path.contains(&p) {
            return (true, depth);
        }
        if path.len() > MAX_EXTENDS_DEPTH + 1 || *count > MAX_EXTENDS_COUNT_V3 + 1 {
            return (false, path.len());
        }
        path.push(p);
        let (cycle, d) = walk_extends(model, p, path, count);
        path.pop();
        if cycle {
            return (true, depth);
        }
        depth = depth.max(d + 1);
    }
    (false, depth)
}

/// Content names stay unique once inherited contents are added (the same element reached
/// twice through a diamond is not a clash); v2 caps the total at 300.
fn inherited_names(model: &mut Model, idx: usize) {
    let own: Vec<usize> = model.children(idx, "contents");
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for &c in &own {
        if let Some(n) = model.elements[c].name() {
            by_name.entry(n.to_string()).or_insert(c);
        }
    }
    let mut total: HashSet<usize> = own.iter().copied().collect();
    let mut clashes = Vec::new();
    for a in resolve::ancestors(model, idx).into_iter().skip(1) {
        for c in model.children(a, "contents") {
            if !total.insert(c) {
                continue;
            }
            let Some(n) = model.elements[c].name() else {
                continue;
            };
            match by_name.get(n) {
                Some(&prev) if prev != c => {
                    clashes.push((n.to_string(), model.elements[a].id.clone()))
                }
                Some(_) => {}
                None => {
                    by_name.insert(n.to_string(), c);
                }
            }
        }
    }
    for (n, from) in clashes {
        model.error_at(
            idx,
            "nonUniqueImportedPropertyValue",
            Some("contents"),
            format!("inherits a second element named '{n}' from {from}"),
        );
    }
    if model.elements[idx].version() == 2 && total.len() > MAX_CONTENTS_V2 {
        model.error_at(
            idx,
            "objectCountAboveMax",
            Some("contents"),
            format!(
                "{} contents including inherited ones, over {MAX_CONTENTS_V2}",
                total.len()
            ),
        );
    }
}

/// DTDL v3: at most 100,000 elements under an Interface's contents, inherited ones included
/// (each payload, schema, field, enum value, map value and relationship property counts).
fn element_count(model: &mut Model, idx: usize) {
    if model.elements[idx].version() < 3 {
        return;
    }
    const EDGES: [&str; 9] = [
        "contents",
        "fields",
        "enumValues",
        "request",
        "response",
        "properties",
        "schema",
        "elementSchema",
        "mapValue",
    ];
    let mut seen = HashSet::new();
    let mut stack: Vec<usize> = resolve::ancestors(model, idx)
        .iter()
        .flat_map(|a| model.children(*a, "contents"))
        .collect();
    while let Some(e) = stack.pop() {
        if seen.len() > MAX_ELEMENTS_V3 {
            break;
        }
        // Component schemas are Interfaces with limits of their own.
        if model.elements[e].class == Class::Interface || !seen.insert(e) {
            continue;
        }
        for prop in EDGES {
            stack.extend(model.children(e, prop));
        }
    }
    if seen.len() > MAX_ELEMENTS_V3 {
        model.error_at(
            idx,
            "excessiveCount",
            Some("contents"),
            format!("more than {MAX_ELEMENTS_V3} elements under contents"),
        );
    }
}

/// A Component's Interface (with what it inherits) may not contain Components, nor lead back
/// to the Interface holding the Component.
fn component(model: &mut Model, idx: usize) {
    let Some(holder) = model.elements[idx].parent.map(|(p, _)| p) else {
        return;
    };
    for schema in model.children(idx, "schema") {
        let ancestors = resolve::ancestors(model, schema);
        if ancestors.contains(&holder) {
            model.error_at(
                holder,
                "recursiveStructureNarrow",
                Some("contents"),
                "Interface contains itself as a component".into(),
            );
            continue;
        }
        let nested = ancestors
            .iter()
            .flat_map(|a| model.children(*a, "contents"))
            .find(|c| model.elements[*c].class == Class::Component);
        if let Some(n) = nested {
            let nested_id = model.elements[n].id.clone();
            model.error_at(
                idx,
                "excludedType",
                Some("schema"),
                format!("component schema contains component {nested_id}"),
            );
        }
    }
}

/// Complex schemas nest at most 5 deep and never contain themselves.
fn schema_depth(model: &mut Model, idx: usize) {
    let mut path = vec![idx];
    match depth_of(model, idx, &mut path) {
        None => model.error_at(
            idx,
            "recursiveStructureWide",
            None,
            "schema contains itself".into(),
        ),
        Some(d) if d > MAX_SCHEMA_DEPTH => {
            model.error_at(
                idx,
                "excessiveDepthWide",
                None,
                format!("schema hierarchy is {d} levels deep, over {MAX_SCHEMA_DEPTH}"),
            );
        }
        _ => {}
    }
}

/// The complex schemas directly nested in schema `idx`.
fn nested_schemas(model: &Model, idx: usize) -> Vec<usize> {
    let holders: Vec<usize> = match model.elements[idx].class {
        Class::Array => return model.children(idx, "elementSchema"),
        Class::Map => model.children(idx, "mapValue"),
        Class::Object => model.children(idx, "fields"),
        _ => Vec::new(),
    };
    holders
        .into_iter()
        .flat_map(|h| model.children(h, "schema"))
        .collect()
}

/// Nesting depth counted in complex schemas; `None` on a cycle.
fn depth_of(model: &Model, idx: usize, path: &mut Vec<usize>) -> Option<usize> {
    let mut max = 0;
    for c in nested_schemas(model, idx) {
        if path.contains(&c) {
            return None;
        }
        if path.len() > MAX_SCHEMA_DEPTH + 1 {
            return Some(path.len() + 1);
        }
        path.push(c);
        let d = depth_of(model, c, path);
        path.pop();
        max = max.max(d?);
    }
    Some(max + 1)
}

/// DTDL v2 forbids Arrays (and so geospatial schemas) anywhere under a Property's schema.
fn v2_property_schema(model: &mut Model, idx: usize) {
    let mut stack: Vec<&Item> = model.elements[idx].items("schema").iter().collect();
    let mut seen = HashSet::new();
    let mut bad = None;
    while let Some(item) = stack.pop() {
        let el = match item {
            Item::Schema(t) if metamodel::GEOSPATIAL.contains(t) => {
                bad = Some((*t).to_string());
                break;
            }
            Item::Element(e) => *e,
            Item::Reference(r) => match model.lookup(r) {
                Some(e) => e,
                None => continue,
            },
            _ => continue,
        };
        if !seen.insert(el) {
            continue;
        }
        let e = &model.elements[el];
        if e.class == Class::Array {
            bad = Some(e.id.clone());
            break;
        }
        for prop in ["elementSchema", "mapValue", "fields", "schema"] {
            stack.extend(e.items(prop).iter());
        }
    }
    if let Some(b) = bad {
        model.error_at(
            idx,
            "excludedType",
            Some("schema"),
            format!("{b} is an Array, which a DTDL v2 Property schema may not contain"),
        );
    }
}

/// An element with a semantic type needs a numeric schema.
fn semantic_schema(model: &mut Model, idx: usize) {
    if model.elements[idx].semantic.is_empty() {
        return;
    }
    let numeric = model.elements[idx]
        .items("schema")
        .iter()
        .all(|i| matches!(i, Item::Schema("double" | "float" | "integer" | "long")));
    if !numeric {
        model.error_at(
            idx,
            "notRequiredType",
            Some("schema"),
            "a semantic type needs a numeric schema".into(),
        );
    }
}
