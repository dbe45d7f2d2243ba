//! Rules of the feature extensions (`extension.rs`) that span elements, run once the model set
//! is parsed: an element co-typed ValueAnnotation names a sibling in `annotates`, which must be
//! a Property or Telemetry and not itself annotate; an Override also names in `overrides` an
//! extension property of that sibling (at most one Override per sibling and property), and its
//! `schema` must be that property's type; an Mqtt `index` is unique among its siblings; a
//! Transparent payload's schema is an Object.
//!
//! The siblings of an Interface's contents include everything it inherits, so an element may
//! annotate one defined in a base Interface (and be checked again in each derived Interface).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::element::{Item, Model};
use super::extension::{Sibling, QUANTITATIVE_UNIT};
use super::metamodel::{self, Class};
use super::{resolve, units};

/// One finding: (ValidationID, element, property, message); the element's document stands in
/// for a stored element's, so a new model's problem with an inherited element is still its own.
struct Finding {
    rule: &'static str,
    element: usize,
    property: &'static str,
    /// The Interface (or other holder) being checked, for the document when the element has none.
    holder: usize,
    message: String,
}

pub(crate) fn run(model: &mut Model) {
    let mut found = Vec::new();
    for idx in 0..model.elements.len() {
        match model.elements[idx].class {
            Class::Interface => {
                let contents = full_contents(model, idx);
                references(model, idx, &contents, &mut found);
                unique(model, idx, "contents", &contents, &mut found);
            }
            Class::Object => {
                let fields = model.children(idx, "fields");
                unique(model, idx, "fields", &fields, &mut found);
            }
            Class::Enum => {
                let values = model.children(idx, "enumValues");
                unique(model, idx, "enumValues", &values, &mut found);
            }
            Class::CommandRequest | Class::CommandResponse => {
                payload_schema(model, idx, &mut found)
            }
            _ => {}
        }
    }
    let mut reported = BTreeSet::new();
    for f in found {
        if !reported.insert((f.rule, f.element, f.property)) {
            continue;
        }
        let el = &model.elements[f.element];
        let (id, doc) = (el.id.clone(), el.doc.or(model.elements[f.holder].doc));
        model.error(f.rule, &id, Some(f.property), doc, f.message);
    }
}

/// An Interface's own contents, then what it inherits, each element once.
fn full_contents(model: &Model, idx: usize) -> Vec<usize> {
    let mut seen = HashSet::new();
    resolve::ancestors(model, idx)
        .into_iter()
        .flat_map(|a| model.children(a, "contents"))
        .filter(|c| seen.insert(*c))
        .collect()
}

/// `annotates` and `overrides` of the elements among `contents`.
fn references(model: &Model, iface: usize, contents: &[usize], found: &mut Vec<Finding>) {
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for &c in contents {
        if let Some(n) = model.elements[c].name() {
            by_name.entry(n).or_insert(c);
        }
    }
    let mut overridden: HashSet<(&str, &str)> = HashSet::new();
    for &c in contents {
        let el = &model.elements[c];
        let Some(name) = el.string("annotates") else {
            continue;
        };
        // A name no sibling has is not an error: the annotation then applies to nothing.
        let Some(&target) = by_name.get(name) else {
            continue;
        };
        let t = &model.elements[target];
        for a in el.adjuncts.iter().filter(|a| a.sibling != Sibling::None) {
            let mut push = |rule, element, property, message| {
                found.push(Finding {
                    rule,
                    element,
                    property,
                    holder: iface,
                    message,
                });
            };
            if !matches!(t.class, Class::Property | Class::Telemetry) {
                push(
                    "notSiblingRequiredType",
                    c,
                    "annotates",
                    format!(
                        "'{name}' is a {}, not a Property or Telemetry",
                        t.class.term()
                    ),
                );
            }
            match a.sibling {
                Sibling::Annotated if t.adjuncts.iter().any(|b| b.id == a.id) => push(
                    "disallowedType",
                    c,
                    "annotates",
                    format!("'{name}' is itself a {}", a.term),
                ),
                Sibling::Overridden => {
                    let Some(iri) = el.items("overrides").iter().find_map(|i| match i {
                        Item::Term(iri) => Some(iri.as_str()),
                        _ => None,
                    }) else {
                        continue;
                    };
                    if !overridden.insert((name, iri)) {
                        push(
                            "multipleReference",
                            iface,
                            "contents",
                            format!("more than one element overrides '{iri}' of '{name}'"),
                        );
                    }
                    match extension_property(model, target, iri) {
                        Some(expected) => {
                            let schema = el.items("schema").first();
                            let matches = match (schema, expected) {
                                (Some(Item::UnitSchema(s)), Some(e)) => *s == e,
                                (None, _) => true,
                                _ => false,
                            };
                            if !matches {
                                push(
                                    "siblingPropertyMismatch",
                                    c,
                                    "schema",
                                    format!(
                                        "schema must be {} to override '{iri}' of '{name}'",
                                        expected.unwrap_or("the type of the overridden property")
                                    ),
                                );
                            }
                        }
                        None if is_material(model, target, iri) => push(
                            "matchingPropertyNotSupplemental",
                            c,
                            "annotates",
                            format!(
                                "'{iri}' of '{name}' belongs to its {} type and cannot be overridden",
                                t.class.term()
                            ),
                        ),
                        None => push(
                            "noMatchingSupplementalProperty",
                            c,
                            "annotates",
                            format!("'{name}' has no co-type with property '{iri}'"),
                        ),
                    }
                }
                _ => {}
            }
        }
    }
}

/// Whether element `idx` has a co-type adding the property `iri`; `Some(type)` then names the
/// schema an override of it must have (`None` when the property has no such type).
fn extension_property(model: &Model, idx: usize, iri: &str) -> Option<Option<&'static str>> {
    let el = &model.elements[idx];
    if iri == QUANTITATIVE_UNIT && el.version() >= 3 {
        if let Some(st) = el.semantic.first() {
            return Some(units::semantic_unit_type(3, st));
        }
    }
    el.adjuncts
        .iter()
        .any(|a| a.props.iter().any(|p| a.prop_id(p) == iri))
        .then_some(None)
}

/// Whether `iri` is a DTDL core property the element's class has.
fn is_material(model: &Model, idx: usize, iri: &str) -> bool {
    let el = &model.elements[idx];
    let v = el.version();
    metamodel::core_dtmi_term(iri, "property", v).is_some_and(|term| {
        metamodel::properties(el.class, v)
            .iter()
            .any(|s| s.term == term)
    })
}

/// Values of a `unique` supplemental property differ among `children` of `parent`.
fn unique(
    model: &Model,
    parent: usize,
    prop: &'static str,
    children: &[usize],
    found: &mut Vec<Finding>,
) {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for &c in children {
        let el = &model.elements[c];
        for a in &el.adjuncts {
            for p in a.props.iter().filter(|p| p.unique) {
                let Some(Item::Literal(v)) = el.items(p.term).first() else {
                    continue;
                };
                let count = seen.entry((a.prop_id(p), v.to_string())).or_default();
                *count += 1;
                if *count == 2 {
                    found.push(Finding {
                        rule: "nonUniquePropertyValue",
                        element: parent,
                        property: prop,
                        holder: c,
                        message: format!("more than one element in '{prop}' has {} {v}", p.term),
                    });
                }
            }
        }
    }
}

/// An adjunct type may require the class of a payload's schema (Transparent: Object).
fn payload_schema(model: &Model, idx: usize, found: &mut Vec<Finding>) {
    let el = &model.elements[idx];
    for want in el.adjuncts.iter().filter_map(|a| a.schema_class) {
        let class = match el.items("schema").first() {
            Some(Item::Element(e)) => Some(model.elements[*e].class),
            Some(Item::Reference(r)) => model.lookup(r).map(|e| model.elements[e].class),
            Some(_) => None,
            None => continue,
        };
        if class != Some(want) {
            found.push(Finding {
                rule: "notRequiredType",
                element: idx,
                property: "schema",
                holder: idx,
                message: format!("schema must be an {}", want.term()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{interface, rules};
    use crate::{validate_batch, Options};
    use serde_json::{json, Value};

    const CONTEXT: [&str; 4] = [
        "dtmi:dtdl:context;3",
        "dtmi:dtdl:extension:quantitativeTypes;1",
        "dtmi:dtdl:extension:annotation;1",
        "dtmi:dtdl:extension:overriding;1",
    ];

    fn iface(id: &str, extra: Value) -> Value {
        interface(json!(CONTEXT), id, extra)
    }

    fn one(contents: Value) -> Vec<String> {
        rules(&[iface("dtmi:ex:A;1", json!({"contents": contents}))])
    }

    fn temp(name: &str) -> Value {
        json!({"@type": ["Telemetry", "Temperature"], "name": name, "schema": "double", "unit": "kelvin"})
    }

    fn note(name: &str, annotates: &str) -> Value {
        json!({"@type": ["Property", "ValueAnnotation"], "name": name, "annotates": annotates, "schema": "string"})
    }

    fn unit(name: &str, annotates: &str, overrides: &str, schema: &str) -> Value {
        json!({"@type": ["Property", "ValueAnnotation", "Override"], "name": name,
               "annotates": annotates, "overrides": overrides, "schema": schema})
    }

    #[test]
    fn annotates_names_a_property_or_telemetry() {
        assert!(one(json!([temp("t"), note("n", "t")])).is_empty());
        // Naming nothing is allowed: the official parser then has no sibling to check.
        assert!(one(json!([note("n", "nothing")])).is_empty());
        let command = json!({"@type": "Command", "name": "c"});
        assert_eq!(
            one(json!([command, note("n", "c")])),
            ["notSiblingRequiredType"]
        );
        assert_eq!(
            one(json!([temp("t"), note("n", "t"), note("m", "n")])),
            ["disallowedType"]
        );
        assert_eq!(
            one(
                json!([{"@type": ["Property", "ValueAnnotation"], "name": "n", "schema": "string"}])
            ),
            ["missingSupplementalLiteralProperty"]
        );
    }

    #[test]
    fn inherited_siblings_count() {
        let base = iface("dtmi:ex:Base;1", json!({"contents": [note("n", "c")]}));
        let derived = iface(
            "dtmi:ex:D;1",
            json!({"extends": "dtmi:ex:Base;1", "contents": [{"@type": "Command", "name": "c"}]}),
        );
        assert_eq!(rules(&[base, derived]), ["notSiblingRequiredType"]);
        let base = iface("dtmi:ex:Base;1", json!({"contents": [temp("t")]}));
        let derived = iface(
            "dtmi:ex:D;1",
            json!({"extends": "dtmi:ex:Base;1", "contents": [unit("u", "t", "unit", "TemperatureUnit")]}),
        );
        assert!(rules(&[base.clone(), derived.clone()]).is_empty());
        // A stored base element that only goes wrong in the new derived model is still reported.
        let base = iface(
            "dtmi:ex:Base;1",
            json!({"contents": [temp("t"), note("m", "n")]}),
        );
        let stored = |id: &str| (id == "dtmi:ex:Base;1").then(|| base.clone());
        let bad = iface(
            "dtmi:ex:D;1",
            json!({"extends": "dtmi:ex:Base;1", "contents": [note("n", "t")]}),
        );
        let errs = validate_batch(&[bad], &stored, &Options::default()).unwrap_err();
        assert_eq!(errs[0].rule, "disallowedType");
    }

    #[test]
    fn overrides_an_extension_property_once() {
        assert!(one(json!([
            temp("t"),
            unit("u", "t", "unit", "TemperatureUnit")
        ]))
        .is_empty());
        assert_eq!(
            one(json!([temp("t"), unit("u", "t", "unit", "VelocityUnit")])),
            ["siblingPropertyMismatch"]
        );
        assert_eq!(
            one(json!([temp("t"), unit("u", "t", "unit", "string")])),
            ["siblingPropertyMismatch"]
        );
        assert_eq!(
            one(json!([temp("t"), unit("u", "t", "schema", "string")])),
            ["matchingPropertyNotSupplemental"]
        );
        let plain = json!({"@type": "Telemetry", "name": "t", "schema": "double"});
        assert_eq!(
            one(json!([plain, unit("u", "t", "unit", "TemperatureUnit")])),
            ["noMatchingSupplementalProperty"]
        );
        assert_eq!(
            one(json!([
                temp("t"),
                unit("u", "t", "unit", "TemperatureUnit"),
                unit("v", "t", "unit", "TemperatureUnit")
            ])),
            ["multipleReference"]
        );
        assert!(one(json!([
            temp("t"),
            temp("s"),
            unit("u", "t", "unit", "TemperatureUnit"),
            unit("v", "s", "unit", "TemperatureUnit")
        ]))
        .is_empty());
        assert_eq!(
            one(json!([
                temp("t"),
                unit("u", "t", "nothing", "TemperatureUnit")
            ])),
            ["identifierNotUri"]
        );
    }

    #[test]
    fn mqtt_indexes_are_unique_and_payloads_transparent() {
        let doc = |contents: Value| {
            json!({"@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:mqtt;2"],
                   "@id": "dtmi:ex:M;1", "@type": ["Interface", "Mqtt"], "payloadFormat": "Json/ecma/404",
                   "contents": contents})
        };
        let indexed = |name: &str, index: i64| json!({"@type": ["Telemetry", "Indexed"], "name": name, "schema": "double", "index": index});
        assert!(rules(&[doc(json!([indexed("a", 1), indexed("b", 2)]))]).is_empty());
        assert_eq!(
            rules(&[doc(json!([indexed("a", 1), indexed("b", 1)]))]),
            ["nonUniquePropertyValue"]
        );
        let fields = json!({"@type": "Object", "fields": [
            {"@type": ["Field", "Indexed"], "name": "f", "schema": "double", "index": 3},
            {"@type": ["Field", "Indexed"], "name": "g", "schema": "double", "index": 3}]});
        let tele = json!({"@type": "Telemetry", "name": "o", "schema": fields});
        assert_eq!(rules(&[doc(json!([tele]))]), ["nonUniquePropertyValue"]);
        let command = |schema: Value| {
            json!({"@type": "Command", "name": "c",
                   "request": {"@type": ["CommandRequest", "Transparent"], "name": "r", "schema": schema}})
        };
        let object = json!({"@type": "Object", "fields": [{"name": "x", "schema": "double"}]});
        assert!(rules(&[doc(json!([command(object)]))]).is_empty());
        assert_eq!(
            rules(&[doc(json!([command(json!("double"))]))]),
            ["notRequiredType"]
        );
    }
}
