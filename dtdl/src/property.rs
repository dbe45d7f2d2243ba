//! One element property at a time: which keys an element may carry, and the shape of each
//! value (literals, localizable strings, closed terms, `target`, and child elements inline or
//! by reference). Part of the parser; `parse.rs` walks the elements.

use serde_json::{Map, Value};

use super::context::{self, Ctx};
use super::dtmi::{self, Dtmi};
use super::element::Item;
use super::extension::{self, Syntax, ValueKind};
use super::literal::{self, Datatype};
use super::metamodel::{self, is_core_term, Class, Kind, PropSpec};
use super::parse::{classify, is_name, Cotypes, Parser, Slot, Term};
use super::{rules, units};

impl Parser {
    pub(crate) fn properties(
        &mut self,
        idx: usize,
        obj: &Map<String, Value>,
        class: Class,
        ctx: &Ctx,
        cotypes: &Cotypes<'_>,
        top: bool,
    ) {
        let v = ctx.version;
        let mut specs = metamodel::properties(class, v);
        if cotypes.semantic {
            specs.push(PropSpec {
                term: "unit",
                kind: Kind::Unit,
                required: true,
                singular: true,
                named: false,
            });
        }
        for a in cotypes.adjuncts {
            specs.extend(a.props.iter().map(|sp| PropSpec {
                term: sp.term,
                kind: Kind::Supplemental(sp),
                required: sp.required,
                singular: true,
                named: false,
            }));
        }
        let mut seen: Vec<&'static str> = Vec::new();
        for (key, value) in obj {
            if let Some(kw) = key.strip_prefix('@') {
                match kw {
                    "context" | "id" | "type" => {}
                    "graph" => {
                        let rule = if top {
                            "topLevelGraphDisallowed"
                        } else {
                            "graphDisallowed"
                        };
                        self.model
                            .error_at(idx, rule, Some(key), "'@graph' is not allowed".into());
                    }
                    _ if v >= 3 => {
                        let rule = if top {
                            "topLevelKeywordDisallowed"
                        } else {
                            "keywordDisallowed"
                        };
                        self.model.error_at(
                            idx,
                            rule,
                            Some(key),
                            format!("'{key}' is not allowed"),
                        );
                    }
                    _ => {}
                }
                continue;
            }
            let spec = specs
                .iter()
                .find(|s| s.term == key)
                .or_else(|| {
                    let term = metamodel::core_dtmi_term(key, "property", v)?;
                    specs.iter().find(|s| s.term == term)
                })
                .or_else(|| {
                    let (a, sp) = extension::supplemental_property(key, ctx)?;
                    let applies = cotypes.adjuncts.contains(&a);
                    specs.iter().find(|s| applies && s.term == sp.term)
                });
            match spec {
                Some(s) if seen.contains(&s.term) => {
                    self.model.error_at(
                        idx,
                        "duplicatePropertyName",
                        Some(s.term),
                        format!("'{}' is given twice", s.term),
                    );
                }
                Some(s) => {
                    seen.push(s.term);
                    let s = *s;
                    self.property(idx, s, value, ctx);
                }
                None => self.unknown_property(idx, key, ctx, cotypes),
            }
        }
        for s in specs
            .iter()
            .filter(|s| s.required && !seen.contains(&s.term))
        {
            let rule = match s.kind {
                Kind::Elements { .. } | Kind::ValueSchema => "missingObjectProperty",
                Kind::Unit => "missingSupplementalObjectProperty",
                Kind::Supplemental(sp) if sp.kind == ValueKind::Iri => {
                    "missingSupplementalIdentifierProperty"
                }
                Kind::Supplemental(_) => "missingSupplementalLiteralProperty",
                _ => "missingLiteralProperty",
            };
            self.model.error_at(
                idx,
                rule,
                Some(s.term),
                format!("required property '{}' is missing", s.term),
            );
        }
    }

    fn unknown_property(&mut self, idx: usize, key: &str, ctx: &Ctx, cotypes: &Cotypes<'_>) {
        let class = self.model.elements[idx].class.term();
        if let Some((a, _)) = extension::supplemental_property(key, ctx) {
            if cotypes.rejected.contains(&a) {
                // The co-type that would allow it was already refused for this element.
                self.model.error_at(
                    idx,
                    "noTypeThatAllows",
                    Some(key),
                    format!("no applicable @type of this {class} allows property '{key}'"),
                );
                return;
            }
        }
        let informal = self.model.elements[idx].informal;
        let (rule, ok) = match classify(key, ctx) {
            Term::InvalidDtmi => ("propertyInvalidDtmi", informal && ctx.version == 2),
            Term::Irrelevant => ("propertyIrrelevantDtmiOrTerm", informal),
            Term::NotDtmiNorTerm => ("propertyNotDtmiNorTerm", informal && ctx.version == 2),
            Term::Undefined => ("propertyUndefinedTerm", informal),
        };
        if ok {
            return;
        }
        self.model.error_at(
            idx,
            rule,
            Some(key),
            format!("property '{key}' is not allowed on a {class}"),
        );
        if !cotypes.rejected_cotype {
            let rule = if cotypes.untyped {
                "inferredTypeDoesNotAllow"
            } else {
                "noTypeThatAllows"
            };
            self.model.error_at(
                idx,
                rule,
                Some(key),
                format!("no @type of this {class} allows property '{key}'"),
            );
        }
    }

    fn property(&mut self, idx: usize, spec: PropSpec, value: &Value, ctx: &Ctx) {
        let v = ctx.version;
        let mut issues: Vec<literal::Issue> = Vec::new();
        let items: Vec<Item> = match spec.kind {
            Kind::Name | Kind::Comment => {
                let max = match spec.kind {
                    Kind::Name if v == 2 => 64,
                    _ => 512,
                };
                let vals = literal::literals(value, Datatype::String, true, v, &mut issues);
                for s in vals.iter().filter_map(Value::as_str) {
                    if s.chars().count() > max {
                        issues.push((
                            "stringTooLong",
                            format!("'{}' is longer than {max}", spec.term),
                        ));
                    } else if spec.kind == Kind::Name && !is_name(s) {
                        issues.push((
                            "stringInvalid",
                            format!("name '{s}' is not a valid DTDL name"),
                        ));
                    }
                }
                if spec.kind == Kind::Name && vals.is_empty() && issues.is_empty() {
                    issues.push(("stringCountBelowMin", "'name' has no value".into()));
                }
                vals.into_iter().map(Item::Literal).collect()
            }
            Kind::LangString(max_v2) => {
                literal::lang_string(value, if v == 2 { max_v2 } else { 512 }, v, &mut issues);
                Vec::new()
            }
            Kind::Bool => literal::literals(value, Datatype::Boolean, true, v, &mut issues)
                .into_iter()
                .map(Item::Literal)
                .collect(),
            Kind::Literal => {
                let vals = literal::literals(value, Datatype::Literal, true, v, &mut issues);
                if vals.is_empty() && issues.is_empty() {
                    issues.push(("literalCountBelowMin", "'enumValue' has no value".into()));
                }
                vals.into_iter().map(Item::Literal).collect()
            }
            Kind::Int => {
                let vals = literal::literals(value, Datatype::Integer, true, v, &mut issues);
                rules::multiplicity(spec.term, v, &vals, &mut issues);
                vals.into_iter().map(Item::Literal).collect()
            }
            Kind::Target => self.targets(value, v, &mut issues),
            Kind::CommandType | Kind::ValueSchema | Kind::Unit => {
                let semantic = self.model.elements[idx].semantic.clone();
                rules::terms(spec.kind, value, ctx, &semantic, &mut issues)
            }
            Kind::Elements { classes, schemas } => {
                self.children(idx, spec, classes, schemas, value, ctx, &mut issues)
            }
            Kind::Supplemental(sp) => supplemental(sp, value, ctx, &mut issues),
        };
        for (rule, msg) in issues {
            self.model.error_at(idx, rule, Some(spec.term), msg);
        }
        self.model.elements[idx].props.insert(spec.term, items);
    }

    fn targets(&mut self, value: &Value, v: u8, issues: &mut Vec<literal::Issue>) -> Vec<Item> {
        let list = literal::values(value);
        let mut out = Vec::new();
        for item in &list {
            match item {
                Value::String(s) if dtmi::is_valid_user_dtmi(s, v) => {
                    out.push(Item::Reference(s.clone()))
                }
                Value::String(s) if s.len() > dtmi::MAX_USER_DTMI_LEN => {
                    issues.push(("identifierTooLong", "target is too long".into()));
                }
                Value::String(s) => issues.push((
                    "identifierNotDtmi",
                    format!("target '{s}' is not a valid DTMI"),
                )),
                Value::Null => {
                    issues.push(("propertyValueNull", "target is null".into()));
                    issues.push(("identifierNotString", "target is not a string".into()));
                }
                _ => issues.push(("identifierNotString", "target is not a string".into())),
            }
        }
        if list.len() > 1 {
            issues.push((
                "identifierMultipleValues",
                "target has multiple values".into(),
            ));
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn children(
        &mut self,
        idx: usize,
        spec: PropSpec,
        classes: &'static [Class],
        schemas: bool,
        value: &Value,
        ctx: &Ctx,
        issues: &mut Vec<literal::Issue>,
    ) -> Vec<Item> {
        let v = ctx.version;
        let list = literal::values(value);
        let mut out = Vec::new();
        let doc = self.model.elements[idx].doc;
        let slot = Slot {
            parent: Some(idx),
            prop: spec.term,
            classes,
            named: spec.named,
        };
        for item in &list {
            match item {
                Value::Object(o) if o.len() == 1 && o.contains_key("@id") => {
                    issues.push((
                        "idReference",
                        format!("'{}' has an inline definition with only '@id'", spec.term),
                    ));
                }
                Value::Object(o) => {
                    let child_ctx = match context::combine(
                        o.get("@context"),
                        Some(ctx),
                        self.opts.allow_undefined_extensions,
                    ) {
                        Ok(c) => c,
                        Err(errors) => {
                            for (rule, msg) in errors {
                                issues.push((rule, msg));
                            }
                            ctx.clone()
                        }
                    };
                    let mixable = matches!(
                        spec.term,
                        "contents" | "extends" | "schema" | "elementSchema" | "properties"
                    );
                    if child_ctx.version < v && !mixable {
                        issues.push((
                            "disallowedVersionDefinition",
                            format!(
                                "'{}' may not hold an element of an earlier DTDL version",
                                spec.term
                            ),
                        ));
                        continue;
                    }
                    if let Some(c) = self.element(o, child_ctx, slot, doc) {
                        out.push(Item::Element(c));
                    }
                }
                Value::String(s) => {
                    if schemas {
                        if let Some(t) = metamodel::standard_schema(s, v) {
                            out.push(Item::Schema(t));
                            continue;
                        }
                        if let Some(t) = unit_schema(s, ctx) {
                            out.push(Item::UnitSchema(t));
                            continue;
                        }
                    }
                    if Dtmi::parse(s).is_some_and(|d| d.fragment().is_empty())
                        && !metamodel::is_reserved_dtmi(s)
                    {
                        out.push(Item::Reference(s.clone()));
                    } else if is_core_term(s, v)
                        || metamodel::is_reserved_dtmi(s)
                        || (ctx.quantitative() && units::is_vocabulary_term(v, s))
                    {
                        issues.push((
                            "badType",
                            format!("'{s}' is not a valid value of '{}'", spec.term),
                        ));
                    } else {
                        issues.push((
                            "badDtmiOrTerm",
                            format!("'{s}' is neither a DTMI nor a DTDL term"),
                        ));
                    }
                }
                Value::Null => {
                    issues.push(("propertyValueNull", format!("'{}' is null", spec.term)));
                    issues.push((
                        "refNotStringOrObject",
                        format!("'{}' is not an object or DTMI", spec.term),
                    ));
                }
                _ => issues.push((
                    "refNotStringOrObject",
                    format!("'{}' is not an object or DTMI", spec.term),
                )),
            }
        }
        let given = list.iter().filter(|x| !x.is_null()).count();
        if spec.singular && given > 1 {
            issues.push((
                "objectMultipleValues",
                format!("'{}' has multiple values", spec.term),
            ));
        } else if spec.required && out.is_empty() {
            issues.push((
                "objectCountBelowMin",
                format!("'{}' has no valid value", spec.term),
            ));
        }
        if v == 2 {
            let max = match spec.term {
                "extends" => 2,
                "fields" => 30,
                "enumValues" => 100,
                "properties" | "contents" => 300,
                _ => usize::MAX,
            };
            if given > max {
                issues.push((
                    "objectCountAboveMax",
                    format!("'{}' has {given} values, more than {max}", spec.term),
                ));
            }
        }
        out
    }
}

/// A QuantitativeTypes v1 unit type named as a schema: in v3 unit types are Enums.
fn unit_schema(s: &str, ctx: &Ctx) -> Option<&'static str> {
    if ctx.version < 3 {
        return None;
    }
    let t = units::unit_type_schema(s)?;
    (ctx.quantitative() || s.starts_with("dtmi:")).then_some(t)
}

/// Parses the value of a property an adjunct type adds.
fn supplemental(
    sp: &extension::SuppProp,
    value: &Value,
    ctx: &Ctx,
    issues: &mut Vec<literal::Issue>,
) -> Vec<Item> {
    let v = ctx.version;
    let vals = match sp.kind {
        ValueKind::String(syntax) => {
            let vals = literal::literals(value, Datatype::String, true, v, issues);
            for s in vals.iter().filter_map(Value::as_str) {
                if syntax.is_some_and(|x| !extension::conforms(x, s)) {
                    let what = match syntax {
                        Some(Syntax::Topic) => "an MQTT topic pattern",
                        _ => "a service group id",
                    };
                    issues.push((
                        "stringInvalid",
                        format!("'{}' value '{s}' is not {what}", sp.term),
                    ));
                }
            }
            vals
        }
        ValueKind::Integer { min } => {
            let vals = literal::literals(value, Datatype::Integer, true, v, issues);
            for n in vals.iter().filter_map(Value::as_i64).filter(|n| *n < min) {
                issues.push((
                    "valueBelowMin",
                    format!("'{}' is {n}, below the minimum {min}", sp.term),
                ));
            }
            vals
        }
        ValueKind::Duration => literal::literals(value, Datatype::Duration, true, v, issues),
        ValueKind::Iri => return iris(sp.term, value, ctx, issues),
    };
    vals.into_iter().map(Item::Literal).collect()
}

/// Parses an IRI-valued property (`overrides`): each value a term of an active context or an
/// absolute IRI, kept expanded.
fn iris(term: &str, value: &Value, ctx: &Ctx, issues: &mut Vec<literal::Issue>) -> Vec<Item> {
    let list = literal::values(value);
    let mut out = Vec::new();
    for item in &list {
        match item {
            Value::String(s) => match extension::expand_iri(s, ctx) {
                Some(iri) => out.push(Item::Term(iri)),
                None => issues.push((
                    "identifierNotUri",
                    format!("'{term}' value '{s}' is neither an IRI nor a defined term"),
                )),
            },
            Value::Null => {
                issues.push(("propertyValueNull", format!("'{term}' is null")));
                issues.push(("identifierNotString", format!("'{term}' is not a string")));
            }
            _ => issues.push(("identifierNotString", format!("'{term}' is not a string"))),
        }
    }
    if list.len() > 1 {
        issues.push((
            "identifierMultipleValues",
            format!("'{term}' has multiple values"),
        ));
    } else if list.is_empty() {
        issues.push(("identifierCountBelowMin", format!("'{term}' has no value")));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::{validate_batch, Options};
    use serde_json::{json, Value};

    fn rules(doc: Value) -> Vec<String> {
        match validate_batch(&[doc], &|_| None, &Options::default()) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.into_iter().map(|e| e.rule).collect(),
        }
    }

    fn mqtt(extra: Value, contents: Value) -> Value {
        let mut v = json!({"@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:mqtt;1"],
            "@id": "dtmi:ex:M;1", "@type": ["Interface", "Mqtt"], "contents": contents});
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v
    }

    #[test]
    fn supplemental_values() {
        let fmt = json!({"payloadFormat": "Json/ecma/404"});
        assert!(rules(mqtt(fmt.clone(), json!([]))).is_empty());
        assert_eq!(
            rules(mqtt(json!({}), json!([]))),
            ["missingSupplementalLiteralProperty"]
        );
        assert_eq!(
            rules(mqtt(json!({"payloadFormat": 7}), json!([]))),
            ["stringNotString"]
        );
        for topic in ["", "a/+/b", "{bad}/x y"] {
            let extra = json!({"payloadFormat": "raw", "telemetryTopic": topic});
            assert_eq!(rules(mqtt(extra, json!([]))), ["stringInvalid"], "{topic}");
        }
        let by_iri = json!({"dtmi:dtdl:extension:mqtt:v1:Mqtt:payloadFormat": "raw"});
        assert!(rules(mqtt(by_iri, json!([]))).is_empty());
        // mqtt;2 adds the service group ids; mqtt;1 does not know them.
        let group = json!({"payloadFormat": "raw", "cmdServiceGroupId": "g1"});
        assert_eq!(
            rules(mqtt(group, json!([]))),
            ["propertyUndefinedTerm", "noTypeThatAllows"]
        );
        let indexed = |index: Value| json!([{"@type": ["Telemetry", "Indexed"], "name": "t", "schema": "double", "index": index}]);
        assert!(rules(mqtt(fmt.clone(), indexed(json!(1)))).is_empty());
        assert_eq!(
            rules(mqtt(fmt.clone(), indexed(json!(0)))),
            ["valueBelowMin"]
        );
        assert_eq!(
            rules(mqtt(fmt.clone(), indexed(json!("1")))),
            ["integerNotInteger"]
        );
        let cached = |ttl: Value| json!([{"@type": ["Command", "Idempotent", "Cacheable"], "name": "c", "ttl": ttl}]);
        assert!(rules(mqtt(fmt.clone(), cached(json!("PT15S")))).is_empty());
        assert_eq!(
            rules(mqtt(fmt.clone(), cached(json!("15s")))),
            ["durationInvalid"]
        );
        assert_eq!(
            rules(mqtt(
                fmt.clone(),
                json!([{"@type": ["Command", "Cacheable"], "name": "c", "ttl": "PT1S"}])
            )),
            ["missingCocotype"]
        );
        assert_eq!(
            rules(mqtt(
                fmt,
                json!([{"@type": ["Command", "Idempotent", "Cacheable"], "name": "c"}])
            )),
            ["missingSupplementalLiteralProperty"]
        );
    }

    #[test]
    fn unit_types_are_schemas_with_quantitative_types() {
        let doc = |ctx: Value, schema: &str| {
            json!({"@context": ctx, "@id": "dtmi:ex:U;1", "@type": "Interface",
                   "contents": [{"@type": "Property", "name": "u", "schema": schema}]})
        };
        let qt = json!([
            "dtmi:dtdl:context;3",
            "dtmi:dtdl:extension:quantitativeTypes;1"
        ]);
        assert!(rules(doc(qt.clone(), "TemperatureUnit")).is_empty());
        assert!(rules(doc(qt.clone(), "EnergyRateUnit")).is_empty());
        assert!(rules(doc(
            qt,
            "dtmi:dtdl:extension:quantitativeTypes:v1:enum:LengthUnit"
        ))
        .is_empty());
        assert!(rules(doc(json!("dtmi:dtdl:context;3"), "TemperatureUnit"))
            .contains(&"badDtmiOrTerm".to_string()));
    }

    #[test]
    fn overrides_is_required_and_single() {
        let doc = |extra: Value| {
            let mut p = json!({"@type": ["Property", "ValueAnnotation", "Override"], "name": "u",
                               "annotates": "t", "schema": "TemperatureUnit"});
            if let (Some(o), Value::Object(e)) = (p.as_object_mut(), extra) {
                o.extend(e);
            }
            json!({"@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1",
                                "dtmi:dtdl:extension:annotation;2", "dtmi:dtdl:extension:overriding;2"],
                   "@id": "dtmi:ex:O;1", "@type": "Interface",
                   "contents": [{"@type": ["Telemetry", "Temperature"], "name": "t", "schema": "double",
                                 "unit": "kelvin"}, p]})
        };
        assert!(rules(doc(json!({"overrides": "unit"}))).is_empty());
        assert!(rules(doc(json!({
            "overrides": "dtmi:dtdl:extension:quantitativeTypes:v1:property:unit"
        })))
        .is_empty());
        assert_eq!(
            rules(doc(json!({}))),
            ["missingSupplementalIdentifierProperty"]
        );
        assert_eq!(
            rules(doc(json!({"overrides": ["unit", "schema"]}))),
            ["identifierMultipleValues"]
        );
        assert_eq!(rules(doc(json!({"overrides": 3}))), ["identifierNotString"]);
    }
}
