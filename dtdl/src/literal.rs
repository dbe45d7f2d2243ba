//! Literal property values as DTDL's JSON-LD subset writes them: bare values, value objects
//! (`{"@value": …, "@type": "xsd:…"}`), one-element arrays, and localizable strings (a string,
//! a language map, or an array of language-tagged value objects).

use serde_json::{Map, Value};

/// One problem: (ValidationID, message).
pub(crate) type Issue = (&'static str, String);

/// The datatype a representational literal must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Datatype {
    String,
    Integer,
    Boolean,
    /// An ISO 8601 duration string (the Mqtt extension's `ttl`).
    Duration,
    /// `enumValue`: a string or an integer (or, as JSON-LD allows, a boolean).
    Literal,
}

impl Datatype {
    fn prefix(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::Integer => "integer",
            Datatype::Boolean => "boolean",
            Datatype::Duration => "duration",
            Datatype::Literal => "literal",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            Datatype::String | Datatype::Duration => v.is_string(),
            Datatype::Integer => v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            Datatype::Boolean => v.is_boolean(),
            Datatype::Literal => {
                v.is_string()
                    || v.is_boolean()
                    || v.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
            }
        }
    }
}

/// ValidationID `<type><suffix>`, e.g. `stringNotString`, `integerValueNotInteger`.
fn rule(dt: Datatype, suffix: &str) -> &'static str {
    match (dt, suffix) {
        (Datatype::String, "Not") => "stringNotString",
        (Datatype::String, "ValueNot") => "stringValueNotString",
        (Datatype::String, "TypeNot") => "stringTypeNotString",
        (Datatype::String, "NoValue") => "stringObjectNoValue",
        (Datatype::String, "Multiple") => "stringMultipleValues",
        (Datatype::String, _) => "stringCountBelowMin",
        (Datatype::Integer, "Not") => "integerNotInteger",
        (Datatype::Integer, "ValueNot") => "integerValueNotInteger",
        (Datatype::Integer, "TypeNot") => "integerTypeNotInteger",
        (Datatype::Integer, "NoValue") => "integerObjectNoValue",
        (Datatype::Integer, "Multiple") => "integerMultipleValues",
        (Datatype::Integer, _) => "integerCountBelowMin",
        (Datatype::Boolean, "Not") => "booleanNotBoolean",
        (Datatype::Boolean, "ValueNot") => "booleanValueNotBoolean",
        (Datatype::Boolean, "TypeNot") => "booleanTypeNotBoolean",
        (Datatype::Boolean, "NoValue") => "booleanObjectNoValue",
        (Datatype::Boolean, "Multiple") => "booleanMultipleValues",
        (Datatype::Boolean, _) => "booleanCountBelowMin",
        (Datatype::Duration, "Not") => "durationNotString",
        (Datatype::Duration, "ValueNot") => "durationValueNotString",
        (Datatype::Duration, "TypeNot") => "durationTypeNotDuration",
        (Datatype::Duration, "NoValue") => "durationObjectNoValue",
        (Datatype::Duration, "Multiple") => "durationMultipleValues",
        (Datatype::Duration, _) => "durationCountBelowMin",
        (Datatype::Literal, "NoValue") => "literalObjectNoValue",
        (Datatype::Literal, "Multiple") => "literalMultipleValues",
        (Datatype::Literal, "Count") => "literalCountBelowMin",
        (Datatype::Literal, _) => "literalNotValid",
    }
}

/// The XSD datatype a value object's `@type` names.
fn xsd(t: &str) -> Option<Datatype> {
    let local = t
        .strip_prefix("xsd:")
        .or_else(|| t.strip_prefix("http://www.w3.org/2001/XMLSchema#"))?;
    match local {
        "string" => Some(Datatype::String),
        "integer" | "int" => Some(Datatype::Integer),
        "boolean" => Some(Datatype::Boolean),
        "duration" => Some(Datatype::Duration),
        _ => None,
    }
}

/// Checks the `@`-members a value object may not have; shared by every literal kind.
fn value_object_members(obj: &Map<String, Value>, version: u8, issues: &mut Vec<Issue>) {
    for key in obj.keys() {
        match key.as_str() {
            "@value" | "@type" => {}
            "@context" => issues.push(("valueObjectContext", "value object has '@context'".into())),
            "@id" => issues.push(("valueObjectId", "value object has '@id'".into())),
            "@graph" => issues.push(("valueObjectGraph", "value object has '@graph'".into())),
            "@language" if version >= 3 => {
                issues.push(("valueObjectLanguage", "value object has '@language'".into()))
            }
            k if k.starts_with('@') => {
                if version >= 3 {
                    issues.push(("valueObjectKeyword", format!("value object has '{k}'")));
                }
            }
            k => issues.push((
                "valueObjectInvalidProp",
                format!("value object has property '{k}'"),
            )),
        }
    }
}

/// Parses a representational literal property: each value (a bare literal or a value object),
/// then the count. Returns the values that parsed.
/// A property's values: the items of an array, or the one value given alone (JSON-LD
/// treats both as a set).
pub(crate) fn values(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    }
}

pub(crate) fn literals(
    value: &Value,
    dt: Datatype,
    singular: bool,
    version: u8,
    issues: &mut Vec<Issue>,
) -> Vec<Value> {
    let items = values(value);
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Null => {
                issues.push(("propertyValueNull", "value is null".into()));
                issues.push((
                    rule(dt, "Not"),
                    format!("value is not a JSON {}", dt.prefix()),
                ));
            }
            Value::Object(obj) => {
                value_object_members(obj, version, issues);
                let declared_type = match obj.get("@type") {
                    Some(Value::Array(a)) if a.len() == 1 => a.first(),
                    t => t,
                };
                let declared = match declared_type {
                    None => None,
                    Some(Value::String(t)) => match xsd(t) {
                        Some(d) if dt == Datatype::Literal || d == dt => Some(d),
                        _ => {
                            issues.push((
                                rule(dt, "TypeNot"),
                                format!("value object '@type' {t} is not xsd:{}", dt.prefix()),
                            ));
                            continue;
                        }
                    },
                    Some(_) => {
                        issues.push((
                            "literalTypeNotSingular",
                            "value object '@type' is not a single type".into(),
                        ));
                        continue;
                    }
                };
                match obj.get("@value") {
                    None => {
                        issues.push((rule(dt, "NoValue"), "value object has no '@value'".into()))
                    }
                    Some(v) => {
                        let want = declared.unwrap_or(dt);
                        if want.accepts(v) {
                            out.push(v.clone());
                        } else {
                            issues.push((
                                rule(want, "ValueNot"),
                                format!("'@value' is not a {}", want.prefix()),
                            ));
                            if dt == Datatype::Literal && want != Datatype::Literal {
                                issues.push((
                                    "literalNotValid",
                                    "value is not a string, integer or boolean".into(),
                                ));
                            }
                        }
                    }
                }
            }
            v if dt.accepts(v) => out.push(v.clone()),
            _ => issues.push((
                rule(dt, "Not"),
                format!("value is not a JSON {}", dt.prefix()),
            )),
        }
    }
    if dt == Datatype::Duration {
        out.retain(|v| {
            let ok = v.as_str().is_some_and(super::schema::is_duration);
            if !ok {
                issues.push((
                    "durationInvalid",
                    format!("{v} is not an ISO 8601 duration"),
                ));
            }
            ok
        });
    }
    if singular && out.len() > 1 {
        issues.push((
            rule(dt, "Multiple"),
            "property has multiple values but only one is allowed".into(),
        ));
    }
    out
}

/// Language tags DTDL accepts (a BCP 47 subset).
pub(crate) fn is_language_code(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(lang) = parts.next() else {
        return false;
    };
    if !(2..=4).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    let is_script = |p: &str| {
        p.len() == 4
            && p.as_bytes()[0].is_ascii_uppercase()
            && p.bytes().skip(1).all(|b| b.is_ascii_lowercase())
    };
    let is_region = |p: &str| {
        (p.len() == 2 && p.bytes().all(|b| b.is_ascii_uppercase()))
            || (p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match rest.as_slice() {
        [] => true,
        [a] => is_script(a) || is_region(a),
        [a, b] => is_script(a) && is_region(b),
        _ => false,
    }
}

/// Parses a localizable string into (language, text) pairs; `None` language = default (en).
pub(crate) fn lang_string(
    value: &Value,
    max_len: usize,
    version: u8,
    issues: &mut Vec<Issue>,
) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    match value {
        Value::String(s) => out.push((None, s.clone())),
        Value::Object(map) => {
            for (k, v) in map {
                if k.starts_with('@') {
                    issues.push(("langMapObjKeyword", format!("language map has '{k}'")));
                    continue;
                }
                if !is_language_code(k) {
                    issues.push((
                        "langStringInvalidCode",
                        format!("language code '{k}' is not valid"),
                    ));
                }
                match v {
                    Value::String(s) => out.push((Some(k.clone()), s.clone())),
                    _ => issues.push((
                        "langStringValueNotString",
                        format!("value for language '{k}' is not a string"),
                    )),
                }
            }
        }
        Value::Array(items) => {
            let mut defaults = 0;
            let mut codes: Vec<String> = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => {
                        defaults += 1;
                        out.push((None, s.clone()));
                    }
                    Value::Object(obj) => {
                        if let Some(entry) = tagged_value(obj, version, issues) {
                            match &entry.0 {
                                None => defaults += 1,
                                Some(c) if c == "en" => defaults += 1,
                                Some(c) => {
                                    if codes.contains(c) {
                                        issues.push((
                                            "langStringElementCodeNotUnique",
                                            format!("language '{c}' repeats"),
                                        ));
                                    }
                                    codes.push(c.clone());
                                }
                            }
                            out.push(entry);
                        }
                    }
                    _ => issues.push((
                        "langStringElementNotStringOrObject",
                        "array element is not a string or object".into(),
                    )),
                }
            }
            if defaults > 1 {
                issues.push((
                    "langStringElementCodeNotUnique",
                    "more than one value for the default language".into(),
                ));
            }
        }
        Value::Null => issues.push(("propertyValueNull", "value is null".into())),
        _ => issues.push((
            "langStringValueInvalid",
            "value is not a string, array or language map".into(),
        )),
    }
    for (_, text) in &out {
        if text.chars().count() > max_len {
            issues.push((
                "langStringValueTooLong",
                format!("value is longer than {max_len} characters"),
            ));
        }
    }
    out
}

/// A language-tagged value object inside a localizable-string array.
fn tagged_value(
    obj: &Map<String, Value>,
    version: u8,
    issues: &mut Vec<Issue>,
) -> Option<(Option<String>, String)> {
    let mut ok = true;
    for key in obj.keys() {
        let issue = match key.as_str() {
            "@value" | "@language" => continue,
            "@context" => "langStringElementContext",
            "@id" => "langStringElementId",
            "@graph" => "langStringElementGraph",
            "@type" if version >= 3 => "langStringElementType",
            k if k.starts_with('@') => {
                if version < 3 {
                    continue;
                }
                "langStringElementKeyword"
            }
            _ => "langStringElementInvalidProp",
        };
        ok = false;
        issues.push((issue, format!("language-tagged value has '{key}'")));
    }
    let lang = match obj.get("@language") {
        None => None,
        Some(Value::String(c)) => {
            if !is_language_code(c) {
                issues.push((
                    "langStringElementInvalidCode",
                    format!("language code '{c}' is not valid"),
                ));
                ok = false;
            }
            Some(c.clone())
        }
        Some(_) => {
            issues.push((
                "langStringElementCodeNotString",
                "'@language' is not a string".into(),
            ));
            issues.push((
                "langStringElementInvalidCode",
                "'@language' is not a valid code".into(),
            ));
            ok = false;
            None
        }
    };
    let text = match obj.get("@value") {
        None => {
            issues.push((
                "langStringElementNoValue",
                "language-tagged value has no '@value'".into(),
            ));
            return None;
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            issues.push((
                "langStringElementValueNotString",
                "'@value' is not a string".into(),
            ));
            return None;
        }
    };
    ok.then_some((lang, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value, dt: Datatype, version: u8) -> (Vec<Value>, Vec<&'static str>) {
        let mut issues = Vec::new();
        let out = literals(&v, dt, true, version, &mut issues);
        (out, issues.into_iter().map(|i| i.0).collect())
    }

    #[test]
    fn representational_strings() {
        assert_eq!(run(json!("a"), Datatype::String, 3).0, [json!("a")]);
        assert_eq!(
            run(
                json!([{"@value": "a", "@type": "xsd:string"}]),
                Datatype::String,
                3
            )
            .0,
            [json!("a")]
        );
        assert_eq!(
            run(json!({"@value": 1}), Datatype::String, 3).1,
            ["stringValueNotString"]
        );
        assert_eq!(
            run(
                json!({"@value": "a", "@type": "xsd:integer"}),
                Datatype::String,
                3
            )
            .1,
            ["stringTypeNotString"]
        );
        assert_eq!(
            run(json!(["a", "b"]), Datatype::String, 3).1,
            ["stringMultipleValues"]
        );
        assert_eq!(
            run(
                json!({"@value": "a", "@language": "en"}),
                Datatype::String,
                3
            )
            .1,
            ["valueObjectLanguage"]
        );
        assert!(run(
            json!({"@value": "a", "@language": "en"}),
            Datatype::String,
            2
        )
        .1
        .is_empty());
        assert_eq!(
            run(json!(null), Datatype::Boolean, 2).1,
            ["propertyValueNull", "booleanNotBoolean"]
        );
        assert_eq!(
            run(json!({}), Datatype::Boolean, 2).1,
            ["booleanObjectNoValue"]
        );
    }

    #[test]
    fn literals_follow_declared_type() {
        assert_eq!(
            run(
                json!({"@value": 3, "@type": "xsd:integer"}),
                Datatype::Literal,
                3
            )
            .0,
            [json!(3)]
        );
        assert_eq!(
            run(
                json!({"@value": 3, "@type": "xsd:boolean"}),
                Datatype::Literal,
                3
            )
            .1,
            ["booleanValueNotBoolean", "literalNotValid"]
        );
        assert_eq!(run(json!(2.5), Datatype::Literal, 3).1, ["literalNotValid"]);
    }

    #[test]
    fn localizable_strings() {
        let mut i = Vec::new();
        assert_eq!(
            lang_string(&json!({"en": "a", "zh-Hant": "b"}), 64, 3, &mut i).len(),
            2
        );
        assert!(i.is_empty());
        lang_string(&json!(["a", "b"]), 64, 3, &mut i);
        assert_eq!(i[0].0, "langStringElementCodeNotUnique");
        let mut i = Vec::new();
        lang_string(&json!({"English": "a"}), 64, 3, &mut i);
        assert_eq!(i[0].0, "langStringInvalidCode");
        let mut i = Vec::new();
        lang_string(&json!("x".repeat(65)), 64, 2, &mut i);
        assert_eq!(i[0].0, "langStringValueTooLong");
        assert!(
            is_language_code("sr-Latn-RS")
                && is_language_code("fr-155")
                && !is_language_code("en-us")
        );
    }
}
