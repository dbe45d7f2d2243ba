//! Class-specific rules one element can check on its own once its children are parsed: name
//! uniqueness among siblings, Enum value datatypes, Map keys, multiplicities, and the closed
//! term sets (`unit`, `commandType`, `valueSchema`).

use std::collections::HashSet;

use serde_json::Value;

use super::context::Ctx;
use super::element::{Item, Model};
use super::literal::{self, Issue};
use super::metamodel::{self, Class, Kind};
use super::units;

/// Runs the rules for element `idx` after its properties are parsed.
pub(crate) fn local(model: &mut Model, idx: usize) {
    let class = model.elements[idx].class;
    match class {
        Class::Interface => unique_names(model, idx, "contents"),
        Class::Object => unique_names(model, idx, "fields"),
        Class::Relationship => unique_names(model, idx, "properties"),
        Class::Enum => enum_values(model, idx),
        Class::MapKey => {
            let ok = model.elements[idx]
                .items("schema")
                .iter()
                .all(|i| matches!(i, Item::Schema("string")));
            if !ok {
                model.error_at(
                    idx,
                    "notRequiredValue",
                    Some("schema"),
                    "a MapKey schema must be 'string'".into(),
                );
            }
        }
        _ => {}
    }
}

/// Sibling elements in `prop` must have distinct names.
fn unique_names(model: &mut Model, idx: usize, prop: &'static str) {
    let mut seen = HashSet::new();
    let mut dups = Vec::new();
    for c in model.elements[idx]
        .items(prop)
        .iter()
        .filter_map(|i| match i {
            Item::Element(c) => Some(*c),
            _ => None,
        })
    {
        if let Some(n) = model.elements[c].name() {
            if !seen.insert(n.to_string()) {
                dups.push(n.to_string());
            }
        }
    }
    for n in dups {
        model.error_at(
            idx,
            "nonUniquePropertyValue",
            Some(prop),
            format!("more than one element in '{prop}' is named '{n}'"),
        );
    }
}

/// Enum values: unique names and values, and each value of the `valueSchema` datatype.
fn enum_values(model: &mut Model, idx: usize) {
    unique_names(model, idx, "enumValues");
    let value_schema = model.elements[idx]
        .items("valueSchema")
        .iter()
        .find_map(|i| match i {
            Item::Term(t) => Some(t.clone()),
            _ => None,
        });
    let children: Vec<usize> = model.elements[idx]
        .items("enumValues")
        .iter()
        .filter_map(|i| match i {
            Item::Element(c) => Some(*c),
            _ => None,
        })
        .collect();
    let mut values: Vec<Value> = Vec::new();
    for c in children {
        let Some(Item::Literal(val)) = model.elements[c].items("enumValue").first().cloned() else {
            continue;
        };
        if values.contains(&val) {
            model.error_at(
                idx,
                "nonUniquePropertyValue",
                Some("enumValues"),
                format!("enum value {val} repeats"),
            );
        }
        let conforms = match value_schema.as_deref() {
            Some("integer") => val.is_i64(),
            Some("string") => val.is_string(),
            _ => true,
        };
        if !conforms {
            let want = value_schema.clone().unwrap_or_default();
            model.error_at(
                c,
                "nonConformantDatatype",
                Some("enumValue"),
                format!("enum value {val} is not of valueSchema '{want}'"),
            );
        }
        values.push(val);
    }
}

/// `minMultiplicity` must be 0; `maxMultiplicity` at least 1 (and at most 500 in v2).
pub(crate) fn multiplicity(term: &str, version: u8, vals: &[Value], issues: &mut Vec<Issue>) {
    for n in vals.iter().filter_map(Value::as_i64) {
        match term {
            "minMultiplicity" if n != 0 => issues.push((
                "valueNotExact",
                format!("minMultiplicity is {n}; only 0 is allowed"),
            )),
            "maxMultiplicity" if n < 1 => {
                issues.push(("valueBelowMin", format!("maxMultiplicity {n} is below 1")))
            }
            "maxMultiplicity" if version == 2 && n > 500 => {
                issues.push(("valueAboveMax", format!("maxMultiplicity {n} is above 500")));
            }
            _ => {}
        }
    }
}

/// The term a string names in a closed set, accepting the DTMI spelling too.
fn closed_term(s: &str, version: u8, allowed: &[&str], dtmi_prefix: &str) -> Option<String> {
    if allowed.contains(&s) {
        return Some(s.to_string());
    }
    let local = s
        .strip_prefix(dtmi_prefix)?
        .strip_suffix(&format!(";{version}"))?;
    allowed.contains(&local).then(|| local.to_string())
}

/// Parses `unit`, `commandType` and Enum `valueSchema`.
pub(crate) fn terms(
    kind: Kind,
    value: &Value,
    ctx: &Ctx,
    semantic: &[String],
    issues: &mut Vec<Issue>,
) -> Vec<Item> {
    let v = ctx.version;
    let list = literal::values(value);
    let mut out = Vec::new();
    for item in &list {
        let Some(s) = item.as_str() else {
            match item {
                Value::Null => {
                    issues.push(("propertyValueNull", "value is null".into()));
                    issues.push(("refNotStringOrObject", "value is not a string".into()));
                }
                Value::Object(_) => {
                    issues.push(("badType", "value must be a term, not an element".into()))
                }
                _ => issues.push(("refNotStringOrObject", "value is not a string".into())),
            }
            continue;
        };
        let term = match kind {
            Kind::CommandType => closed_term(
                s,
                v,
                &["synchronous", "asynchronous"],
                "dtmi:dtdl:instance:CommandType:",
            ),
            Kind::ValueSchema => {
                let t = metamodel::standard_schema(s, v);
                match t {
                    Some(t @ ("integer" | "string")) => Some(t.to_string()),
                    Some(_) => {
                        issues.push((
                            "notRequiredValue",
                            format!("valueSchema '{s}' is not integer or string"),
                        ));
                        continue;
                    }
                    None => None,
                }
            }
            _ => {
                let unit = if ctx.quantitative() && units::is_unit(v, s) {
                    Some(s.to_string())
                } else {
                    units::unit_from_iri(v, s).map(str::to_string)
                };
                if let Some(u) = &unit {
                    unit_family(v, u, semantic, issues);
                }
                unit
            }
        };
        match term {
            Some(t) => out.push(Item::Term(t)),
            None if metamodel::is_core_term(s, v) || units::is_vocabulary_term(v, s) => {
                issues.push(("badType", format!("'{s}' is not an allowed value here")));
                if kind == Kind::Unit {
                    issues.push(("wrongParent", format!("'{s}' is not a unit")));
                }
            }
            None => issues.push((
                "badDtmiOrTerm",
                format!("'{s}' is neither a valid DTMI reference nor a DTDL term"),
            )),
        }
    }
    if list.len() > 1 {
        issues.push((
            "objectMultipleValues",
            "property has multiple values but only one is allowed".into(),
        ));
    } else if out.is_empty() && issues.is_empty() && kind != Kind::CommandType {
        issues.push(("objectCountBelowMin", "property has no value".into()));
    }
    out
}

/// The unit must belong to the unit type of every semantic type on the element.
fn unit_family(version: u8, unit: &str, semantic: &[String], issues: &mut Vec<Issue>) {
    for st in semantic {
        let Some(unit_type) = units::semantic_unit_type(version, st) else {
            continue;
        };
        if !units::unit_in_type(version, unit_type, unit) {
            let first = if version == 2 {
                "notRequiredType"
            } else {
                "badType"
            };
            issues.push((first, format!("unit '{unit}' is not a {unit_type}")));
            issues.push((
                "wrongParent",
                format!("unit '{unit}' is not a {unit_type} as {st} requires"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn multiplicities() {
        let mut i = Vec::new();
        multiplicity("minMultiplicity", 3, &[json!(1)], &mut i);
        multiplicity("maxMultiplicity", 2, &[json!(501)], &mut i);
        multiplicity("maxMultiplicity", 3, &[json!(501)], &mut i);
        multiplicity("maxMultiplicity", 3, &[json!(0)], &mut i);
        let rules: Vec<_> = i.iter().map(|x| x.0).collect();
        assert_eq!(rules, ["valueNotExact", "valueAboveMax", "valueBelowMin"]);
    }

    #[test]
    fn closed_terms() {
        assert_eq!(
            closed_term(
                "dtmi:dtdl:instance:CommandType:synchronous;3",
                3,
                &["synchronous"],
                "dtmi:dtdl:instance:CommandType:"
            )
            .as_deref(),
            Some("synchronous")
        );
        assert_eq!(
            closed_term(
                "dtmi:dtdl:instance:CommandType:synchronous;2",
                3,
                &["synchronous"],
                "dtmi:dtdl:instance:CommandType:"
            ),
            None
        );
    }
}
