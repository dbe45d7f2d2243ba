//! twingraph-dtdl: DTDL v2/v3 models, as the official parser (DTDLParser) judges them, with
//! its rule ids. A library of its own, with no storage behind it:
//!
//! - `validate_batch` parses and validates a model set (documents that may refer to each
//!   other and, through a lookup, to models already held elsewhere);
//! - `Catalog::build` resolves validated Interfaces into `FlatModel`s (inherited contents,
//!   components, relationships, ancestors) and answers what extends or needs what;
//! - `Catalog::check_instance` / `RelationshipDef::check_instance` validate an instance (a
//!   twin's or a relationship's members) against a resolved Interface;
//! - `Dtmi` parses identifiers; `Schema::check` checks one value.
//!
//! Pipeline: `parse` (JSON → element arena, per-element rules in `rules`, extensions in
//! `extension` and `sibling`) → lookups for unresolved references → `validate`
//! (cross-element rules) → `resolve` (flattening, in `Catalog`).

mod catalog;
mod context;
mod dtmi;
mod element;
mod extension;
mod instance;
mod literal;
mod metamodel;
mod parse;
mod property;
mod resolve;
mod rules;
mod schema;
mod sibling;
mod units;
mod validate;

use std::collections::BTreeSet;

use serde_json::Value;

pub use catalog::{Catalog, FlatModel, RelationshipDef};
pub use dtmi::{dtmi_is_valid, is_valid_user_dtmi, major_version, versionless, Dtmi};
pub use instance::InstanceError;
pub use schema::{Schema, SchemaError};

/// Parser options, mirroring the official parser's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `None`: the DTDL version's default (v2 allows undefined extension contexts, v3 denies).
    pub allow_undefined_extensions: Option<bool>,
}

/// One validation error, as the official parser reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{element}: {rule}: {message}")]
pub struct DtdlError {
    /// The `ValidationID` suffix of the official parser, e.g. `excludedType`.
    pub rule: String,
    /// The element the error is about (its `@id`, or the automatic id).
    pub element: String,
    /// The offending property, when there is one.
    pub property: Option<String>,
    /// Index of the input document the element came from, when known.
    pub document: Option<usize>,
    pub message: String,
}

/// Largest DTDL v3 Interface definition, in bytes of JSON text.
const MAX_INTERFACE_BYTES: usize = 1 << 20;

/// Validates `new_docs` (each an Interface object or an array of them) as one model set.
/// `extends` and Component `schema` references may point anywhere in the batch or, through
/// `stored(id)`, at an already stored Interface definition. Returns the top-level Interfaces
/// to store, in input order. Whether an id is already stored is the caller's check.
pub fn validate_batch(
    new_docs: &[Value],
    stored: &dyn Fn(&str) -> Option<Value>,
    opts: &Options,
) -> Result<Vec<Value>, Vec<DtdlError>> {
    let mut parser = parse::Parser::new(*opts);
    for (i, doc) in new_docs.iter().enumerate() {
        parser.document(doc, Some(i));
    }
    // Stored definitions passed validation when they were uploaded, under their own options.
    parser.opts = Options {
        allow_undefined_extensions: Some(true),
    };
    let mut asked = BTreeSet::new();
    loop {
        let missing: Vec<String> = unresolved(&parser.model)
            .into_iter()
            .filter(|id| !asked.contains(id))
            .collect();
        if missing.is_empty() {
            break;
        }
        for id in missing {
            if let Some(def) = stored(&id) {
                parser.document(&def, None);
            }
            asked.insert(id);
        }
    }
    let mut model = parser.model;
    validate::run(&mut model);
    let oversized: Vec<(usize, usize)> = model
        .roots
        .iter()
        .map(|(idx, json)| (*idx, serde_json::to_string(json).map_or(0, |s| s.len())))
        .filter(|(idx, size)| model.elements[*idx].version() >= 3 && *size > MAX_INTERFACE_BYTES)
        .collect();
    for (idx, size) in oversized {
        model.error_at(
            idx,
            "partitionTooLarge",
            None,
            format!("Interface is {size} bytes, over {MAX_INTERFACE_BYTES}"),
        );
    }
    // Problems inside stored definitions are not this batch's to report.
    model.errors.retain(|e| e.document.is_some());
    if model.errors.is_empty() {
        Ok(model.roots.into_iter().map(|(_, json)| json).collect())
    } else {
        Err(model.errors)
    }
}

/// Ids that dependent references name but no parsed element defines.
fn unresolved(model: &element::Model) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for el in &model.elements {
        for (prop, items) in &el.props {
            if *prop == "target" {
                continue;
            }
            for item in items {
                if let element::Item::Reference(r) = item {
                    if !model.by_id.contains_key(r) {
                        out.insert(r.clone());
                    }
                }
            }
        }
    }
    out
}

/// Helpers the modules' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use serde_json::json;

    /// An Interface `id` under `context`, with the members of `extra`.
    pub fn interface(context: Value, id: &str, extra: Value) -> Value {
        let mut v = json!({"@context": context, "@id": id, "@type": "Interface"});
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v
    }

    /// The rule ids a batch is refused with; none when it is valid.
    pub fn rules(docs: &[Value]) -> Vec<String> {
        match validate_batch(docs, &|_| None, &Options::default()) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.into_iter().map(|e| e.rule).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::rules;
    use super::*;
    use serde_json::json;

    fn iface(version: u8, id: &str, extra: Value) -> Value {
        testing::interface(json!(format!("dtmi:dtdl:context;{version}")), id, extra)
    }

    fn prop(name: &str) -> Value {
        json!({"@type": "Property", "name": name, "schema": "double"})
    }

    #[test]
    fn batch_resolves_in_any_order_and_returns_interfaces() {
        let a = iface(3, "dtmi:ex:A;1", json!({"extends": "dtmi:ex:B;1"}));
        let b = iface(3, "dtmi:ex:B;1", json!({}));
        let out = validate_batch(
            &[json!([a.clone()]), b.clone()],
            &|_| None,
            &Options::default(),
        )
        .unwrap();
        assert_eq!(out, [a, b]);
    }

    #[test]
    fn stored_models_resolve_references() {
        let a = iface(
            3,
            "dtmi:ex:A;1",
            json!({"contents": [{"@type": "Component", "name": "c", "schema": "dtmi:ex:S;1"}]}),
        );
        let stored = |id: &str| {
            (id == "dtmi:ex:S;1").then(|| iface(2, "dtmi:ex:S;1", json!({"contents": [prop("p")]})))
        };
        assert_eq!(
            validate_batch(std::slice::from_ref(&a), &stored, &Options::default())
                .unwrap()
                .len(),
            1
        );
        assert_eq!(rules(&[a]), ["unresolvedIdentifiers"]);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(
            rules(&[iface(
                3,
                "dtmi:ex:A;1",
                json!({"contents": [prop("bad name")]})
            )]),
            ["stringInvalid"]
        );
        assert_eq!(
            rules(&[iface(
                2,
                "dtmi:ex:A;1",
                json!({"contents": [prop(&"n".repeat(65))]})
            )]),
            ["stringTooLong"]
        );
        assert!(rules(&[iface(
            3,
            "dtmi:ex:A;1",
            json!({"contents": [prop(&"n".repeat(512))]})
        )])
        .is_empty());
        assert_eq!(
            rules(&[iface(
                3,
                "dtmi:ex:A;1",
                json!({"contents": [prop("x"), prop("x")]})
            )]),
            ["nonUniquePropertyValue"]
        );
        assert_eq!(
            rules(&[iface(3, "dtmi:ex:A;1", json!({"name": "x"}))]),
            ["propertyIrrelevantDtmiOrTerm", "noTypeThatAllows"]
        );
    }

    #[test]
    fn inherited_names_clash_except_through_a_diamond() {
        let d = iface(3, "dtmi:ex:D;1", json!({"contents": [prop("shared")]}));
        let b = iface(3, "dtmi:ex:B;1", json!({"extends": "dtmi:ex:D;1"}));
        let c = iface(3, "dtmi:ex:C;1", json!({"extends": "dtmi:ex:D;1"}));
        let a = iface(
            3,
            "dtmi:ex:A;1",
            json!({"extends": ["dtmi:ex:B;1", "dtmi:ex:C;1"]}),
        );
        assert!(rules(&[a, b.clone(), c, d.clone()]).is_empty());
        let clash = iface(
            3,
            "dtmi:ex:E;1",
            json!({"extends": "dtmi:ex:B;1", "contents": [prop("shared")]}),
        );
        assert_eq!(rules(&[clash, b, d]), ["nonUniqueImportedPropertyValue"]);
    }

    #[test]
    fn extends_limits() {
        let cycle = [
            iface(3, "dtmi:ex:A;1", json!({"extends": "dtmi:ex:B;1"})),
            iface(3, "dtmi:ex:B;1", json!({"extends": "dtmi:ex:A;1"})),
        ];
        assert!(rules(&cycle).contains(&"recursiveStructureNarrow".to_string()));
        assert_eq!(
            rules(&[iface(3, "dtmi:ex:A;1", json!({"extends": "dtmi:ex:A;1"}))]),
            ["recursiveStructureNarrow"]
        );
        let chain = |n: usize| -> Vec<Value> {
            (0..=n)
                .map(|i| {
                    let extra = if i < n {
                        json!({"extends": format!("dtmi:ex:I{};1", i + 1)})
                    } else {
                        json!({})
                    };
                    iface(3, &format!("dtmi:ex:I{i};1"), extra)
                })
                .collect()
        };
        assert!(rules(&chain(10)).is_empty());
        assert!(rules(&chain(11)).contains(&"excessiveDepthNarrow".to_string()));
        let three = iface(
            2,
            "dtmi:ex:A;1",
            json!({"extends": ["dtmi:ex:B;1", "dtmi:ex:C;1", "dtmi:ex:D;1"]}),
        );
        let bases = ["B", "C", "D"].map(|n| iface(2, &format!("dtmi:ex:{n};1"), json!({})));
        let mut docs = vec![three];
        docs.extend(bases);
        assert_eq!(rules(&docs), ["objectCountAboveMax"]);
        let v3 = iface(3, "dtmi:ex:A;1", json!({"extends": "dtmi:ex:B;1"}));
        let v2 = iface(2, "dtmi:ex:A;1", json!({"extends": "dtmi:ex:B;1"}));
        assert!(rules(&[v3, iface(2, "dtmi:ex:B;1", json!({}))]).is_empty());
        assert_eq!(
            rules(&[v2, iface(3, "dtmi:ex:B;1", json!({}))]),
            ["disallowedVersionReference"]
        );
    }

    #[test]
    fn v2_contents_limit_counts_inherited() {
        let many = |id: &str, from: usize, n: usize| {
            iface(
                2,
                id,
                json!({"contents": (from..from + n).map(|i| prop(&format!("p{i}"))).collect::<Vec<_>>()}),
            )
        };
        let mut base = many("dtmi:ex:B;1", 0, 200);
        assert!(rules(&[base.clone()]).is_empty());
        let mut derived = many("dtmi:ex:A;1", 200, 101);
        derived["extends"] = json!("dtmi:ex:B;1");
        assert_eq!(
            rules(&[derived.clone(), base.clone()]),
            ["objectCountAboveMax"]
        );
        base["@context"] = json!("dtmi:dtdl:context;3");
        derived["@context"] = json!("dtmi:dtdl:context;3");
        assert!(rules(&[derived, base]).is_empty());
    }

    #[test]
    fn components_do_not_nest() {
        let inner = iface(3, "dtmi:ex:Inner;1", json!({}));
        let middle = iface(
            3,
            "dtmi:ex:Middle;1",
            json!({"contents": [{"@type": "Component", "name": "i", "schema": "dtmi:ex:Inner;1"}]}),
        );
        let derived = iface(
            3,
            "dtmi:ex:Derived;1",
            json!({"extends": "dtmi:ex:Middle;1"}),
        );
        let outer = iface(
            3,
            "dtmi:ex:Outer;1",
            json!({"contents": [{"@type": "Component", "name": "m", "schema": "dtmi:ex:Derived;1"}]}),
        );
        assert!(rules(&[middle.clone(), inner.clone()]).is_empty());
        assert_eq!(rules(&[outer, derived, middle, inner]), ["excludedType"]);
        let own = iface(
            3,
            "dtmi:ex:Self;1",
            json!({"contents": [{"@type": "Component", "name": "me", "schema": "dtmi:ex:Self;1"}]}),
        );
        assert_eq!(rules(&[own]), ["recursiveStructureNarrow"]);
        let primitive = iface(
            3,
            "dtmi:ex:A;1",
            json!({"contents": [{"@type": "Component", "name": "c", "schema": "double"}]}),
        );
        assert_eq!(rules(&[primitive]), ["badType", "objectCountBelowMin"]);
    }

    #[test]
    fn complex_schema_depth_and_arrays_in_v2_properties() {
        let nest = |n: usize| {
            let mut s = json!("double");
            for _ in 0..n {
                s = json!({"@type": "Array", "elementSchema": s});
            }
            s
        };
        let tele = |n: usize| {
            iface(
                3,
                "dtmi:ex:A;1",
                json!({"contents": [{"@type": "Telemetry", "name": "t", "schema": nest(n)}]}),
            )
        };
        assert!(rules(&[tele(5)]).is_empty());
        assert!(rules(&[tele(6)]).contains(&"excessiveDepthWide".to_string()));
        let in_v2 = |schema: Value| {
            iface(
                2,
                "dtmi:ex:A;1",
                json!({"contents": [{"@type": "Property", "name": "p", "schema": schema}]}),
            )
        };
        let deep_array = json!({"@type": "Map", "mapKey": {"name": "k", "schema": "string"},
            "mapValue": {"name": "v", "schema": {"@type": "Object", "fields": [{"name": "f", "schema": nest(1)}]}}});
        assert_eq!(rules(&[in_v2(deep_array.clone())]), ["excludedType"]);
        assert_eq!(rules(&[in_v2(json!("point"))]), ["excludedType"]);
        let mut v3 = in_v2(deep_array);
        v3["@context"] = json!("dtmi:dtdl:context;3");
        assert!(rules(&[v3]).is_empty());
    }

    #[test]
    fn relationship_and_semantic_rules() {
        let rel = |extra: Value| {
            let mut r = json!({"@type": "Relationship", "name": "r"});
            r.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            r
        };
        let with = |v: u8, c: Value| iface(v, "dtmi:ex:A;1", json!({"contents": [c]}));
        assert_eq!(
            rules(&[with(3, rel(json!({"minMultiplicity": 1})))]),
            ["valueNotExact"]
        );
        assert_eq!(
            rules(&[with(2, rel(json!({"maxMultiplicity": 501})))]),
            ["valueAboveMax"]
        );
        assert!(rules(&[with(
            3,
            rel(json!({"maxMultiplicity": 501, "target": "dtmi:not:there;1"}))
        )])
        .is_empty());
        assert_eq!(
            rules(&[with(3, rel(json!({"target": "urn:x"})))]),
            ["identifierNotDtmi"]
        );
        let temp = |v: u8, unit: &str, schema: &str| {
            with(
                v,
                json!({"@type": ["Telemetry", "Temperature"], "name": "t", "schema": schema, "unit": unit}),
            )
        };
        assert!(rules(&[temp(2, "kelvin", "double")]).is_empty());
        assert_eq!(rules(&[temp(2, "kelvin", "string")]), ["notRequiredType"]);
        assert_eq!(
            rules(&[temp(2, "metre", "double")]),
            ["notRequiredType", "wrongParent"]
        );
        assert_eq!(
            rules(&[temp(3, "kelvin", "double")])[0],
            "typeUndefinedTerm"
        );
        let mut qt = temp(3, "kelvin", "double");
        qt["@context"] = json!([
            "dtmi:dtdl:context;3",
            "dtmi:dtdl:extension:quantitativeTypes;1"
        ]);
        assert!(rules(&[qt]).is_empty());
    }

    #[test]
    fn ids_and_duplicates() {
        assert_eq!(
            rules(&[iface(3, "dtmi:dtdl:mine;1", json!({}))]),
            ["reservedId"]
        );
        assert_eq!(
            rules(&[iface(2, "dtmi:ex:NoVersion", json!({}))]),
            ["invalidId"]
        );
        assert!(rules(&[iface(3, "dtmi:ex:NoVersion", json!({}))]).is_empty());
        assert_eq!(
            rules(&[iface(
                3,
                &format!("dtmi:ex:{};1", "x".repeat(130)),
                json!({})
            )]),
            ["idTooLongForType"]
        );
        let a = iface(3, "dtmi:ex:A;1", json!({}));
        assert_eq!(rules(&[a.clone(), a]), ["duplicateDefinition"]);
        assert_eq!(rules(&[json!(42)]), ["notJsonObject"]);
        assert_eq!(
            rules(&[
                json!({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:T;1", "@type": "Telemetry"})
            ]),
            ["typeNotRootable"]
        );
    }
}
