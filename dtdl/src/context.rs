//! `@context` handling: which DTDL version governs an element and which extensions are active.
//! Contexts combine down the element tree; a lower `@context` overrides a higher one per
//! de-versioned specifier. JSON-LD local context objects are rejected (DTDL disallows them).

use std::collections::BTreeMap;

use serde_json::Value;

use super::dtmi::Dtmi;
use super::literal;

/// The DTDL context prefix; the version follows the semicolon.
const DTDL_CONTEXT: &str = "dtmi:dtdl:context";
const MAX_CONTEXT_LEN: usize = 2048;

/// Extensions twingraph understands, by full specifier, with the DTDL versions in which the
/// context resolves. Anything else is "undefined": accepted only when undefined extensions are
/// allowed, and then it makes unknown terms tenable. The feature extensions resolve in v2 as
/// well, as they do for the official parser: their types then fail on `invalidCotypeVersion`.
const KNOWN_EXTENSIONS: &[(&str, &[u8])] = &[
    ("dtmi:dtdl:extension:quantitativeTypes;1", &[3]),
    ("dtmi:dtdl:extension:historization;1", &[2, 3]),
    ("dtmi:dtdl:extension:historization;2", &[2, 3]),
    ("dtmi:dtdl:extension:annotation;1", &[2, 3]),
    ("dtmi:dtdl:extension:annotation;2", &[2, 3]),
    ("dtmi:dtdl:extension:overriding;1", &[2, 3]),
    ("dtmi:dtdl:extension:overriding;2", &[2, 3]),
    ("dtmi:dtdl:extension:mqtt;1", &[2, 3]),
    ("dtmi:dtdl:extension:mqtt;2", &[2, 3]),
    ("dtmi:iotcentral:context;2", &[2]),
];

/// The active context of one element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ctx {
    /// DTDL language version: 2 or 3.
    pub version: u8,
    /// de-versioned specifier → full specifier, for every extension in effect.
    extensions: BTreeMap<String, String>,
    /// An extension the validator does not know is in effect (and was allowed).
    pub undefined: bool,
}

impl Ctx {
    pub fn has(&self, specifier: &str) -> bool {
        self.extensions.values().any(|s| s == specifier)
    }

    /// Semantic types and `unit` are defined: natively in v2, through QuantitativeTypes in v3.
    pub fn quantitative(&self) -> bool {
        self.version == 2 || self.has("dtmi:dtdl:extension:quantitativeTypes;1")
    }

    pub fn iotcentral(&self) -> bool {
        self.has("dtmi:iotcentral:context;2")
    }
}

/// A context problem: (ValidationID, message).
pub(crate) type CtxError = (&'static str, String);

/// Combines an element's `@context` value with its parent's active context. `parent` is `None`
/// for a top-level element, which must name a DTDL context. `allow_undefined` is the
/// option value, `None` meaning the version's default (v2 allows, v3 denies).
pub(crate) fn combine(
    value: Option<&Value>,
    parent: Option<&Ctx>,
    allow_undefined: Option<bool>,
) -> Result<Ctx, Vec<CtxError>> {
    let mut errors = Vec::new();
    let Some(value) = value else {
        return match parent {
            Some(p) => Ok(p.clone()),
            None => Err(vec![(
                "missingContext",
                "top-level element has no @context".into(),
            )]),
        };
    };
    let items = literal::values(value);
    if parent.is_none() && items.is_empty() {
        return Err(vec![("emptyContext", "top-level @context is empty".into())]);
    }
    let mut version = parent.map(|p| p.version);
    let mut extensions = parent.map(|p| p.extensions.clone()).unwrap_or_default();
    let mut undefined_specs = Vec::new();
    let mut seen_dtdl = false;
    let mut seen_affiliate = false;
    for item in &items {
        let s = match item {
            Value::String(s) => s.as_str(),
            Value::Object(_) => {
                errors.push((
                    "disallowedLocalContext",
                    "@context contains local term definitions".into(),
                ));
                continue;
            }
            _ => {
                errors.push(("invalidContext", "@context value is not a string".into()));
                continue;
            }
        };
        if s.len() > MAX_CONTEXT_LEN {
            errors.push((
                "invalidContextSpecifier",
                format!("@context specifier is longer than {MAX_CONTEXT_LEN}"),
            ));
            continue;
        }
        if !s.starts_with("dtmi:") {
            errors.push((
                "nonDtmiContextSpecifier",
                format!("@context specifier '{s}' is not a DTMI"),
            ));
            continue;
        }
        let Some(dtmi) = Dtmi::parse(s) else {
            errors.push((
                "invalidContextSpecifier",
                format!("@context specifier '{s}' is not a legal DTMI"),
            ));
            continue;
        };
        if !dtmi.fragment().is_empty() {
            errors.push((
                "disallowedContextFragment",
                format!("@context specifier '{s}' has a fragment"),
            ));
            continue;
        }
        if !s.contains(';') {
            errors.push((
                "missingContextVersion",
                format!("@context specifier '{s}' has no version"),
            ));
            continue;
        }
        let base = dtmi.versionless();
        if base == DTDL_CONTEXT {
            if seen_affiliate {
                errors.push((
                    "dtdlContextFollowsAffiliate",
                    format!("DTDL context '{s}' follows an extension context"),
                ));
                continue;
            }
            match (dtmi.major_version(), dtmi.minor_version()) {
                (v @ (2 | 3), 0) => {
                    let v = v as u8;
                    if let Some(p) = parent {
                        if v > p.version {
                            errors.push((
                                "disallowedVersionDefinition",
                                format!(
                                    "DTDL v{v} element nested in a DTDL v{} element",
                                    p.version
                                ),
                            ));
                            continue;
                        }
                    }
                    if version != Some(v) {
                        // A different language version starts afresh: its extensions do not carry over.
                        extensions.clear();
                    }
                    version = Some(v);
                    seen_dtdl = true;
                }
                (2, _) => errors.push((
                    "invalidContextSpecifierForVersion",
                    format!("'{s}' is not a valid DTDL v2 context"),
                )),
                _ => errors.push((
                    "unrecognizedContextVersion",
                    format!("'{s}' specifies an unrecognized DTDL version"),
                )),
            }
            continue;
        }
        if !seen_dtdl && parent.is_none() && s != "dtmi:iotcentral:context;2" {
            seen_affiliate = true;
        }
        if s == "dtmi:iotcentral:context;2" && !seen_dtdl && parent.is_none() {
            // Tolerated before the v2 context, as the official parser does.
            seen_affiliate = false;
        }
        extensions.insert(base, s.to_string());
        if !KNOWN_EXTENSIONS.iter().any(|(k, _)| *k == s) {
            undefined_specs.push(s.to_string());
        }
    }
    let Some(version) = version else {
        errors.push((
            "missingDtdlContext",
            "@context has no DTDL context specifier".into(),
        ));
        return Err(errors);
    };
    if seen_affiliate && parent.is_none() {
        errors.push((
            "missingDtdlContext",
            "DTDL context is not the first @context specifier".into(),
        ));
    }
    // Known extensions must match the language version they were defined for.
    for (spec, versions) in KNOWN_EXTENSIONS {
        if extensions.values().any(|s| s == spec) && !versions.contains(&version) {
            undefined_specs.push((*spec).to_string());
        }
    }
    let allow = allow_undefined.unwrap_or(version == 2);
    let undefined = parent.is_some_and(|p| p.undefined) || !undefined_specs.is_empty();
    if !undefined_specs.is_empty() && !allow {
        for s in &undefined_specs {
            errors.push((
                "unresolvableContextSpecifier",
                format!("@context specifier '{s}' is not a known extension"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(Ctx {
            version,
            extensions,
            undefined,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn top(v: Value, allow: Option<bool>) -> Result<Ctx, Vec<CtxError>> {
        combine(Some(&v), None, allow)
    }

    fn rules(r: Result<Ctx, Vec<CtxError>>) -> Vec<&'static str> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.0)
            .collect()
    }

    #[test]
    fn versions() {
        assert_eq!(top(json!("dtmi:dtdl:context;2"), None).unwrap().version, 2);
        let c = top(
            json!([
                "dtmi:dtdl:context;3",
                "dtmi:dtdl:extension:quantitativeTypes;1"
            ]),
            None,
        )
        .unwrap();
        assert!(c.quantitative() && !c.undefined);
        assert!(!top(json!("dtmi:dtdl:context;3"), None)
            .unwrap()
            .quantitative());
        assert_eq!(
            rules(top(json!("dtmi:dtdl:context;4"), None)),
            ["unrecognizedContextVersion", "missingDtdlContext"]
        );
        assert_eq!(
            rules(top(json!("dtmi:dtdl:context;2.1"), None))[0],
            "invalidContextSpecifierForVersion"
        );
    }

    #[test]
    fn missing_and_malformed() {
        assert_eq!(rules(combine(None, None, None)), ["missingContext"]);
        assert_eq!(rules(top(json!([]), None)), ["emptyContext"]);
        assert_eq!(
            rules(top(json!(["dtmi:dtdl:context;3", 626]), None)),
            ["invalidContext"]
        );
        assert_eq!(
            rules(top(json!(["dtmi:dtdl:context;3", {"a": "b"}]), None)),
            ["disallowedLocalContext"]
        );
        assert_eq!(
            rules(top(json!(["dtmi:dtdl:context;3", "http://x"]), None)),
            ["nonDtmiContextSpecifier"]
        );
        assert_eq!(
            rules(top(json!(["dtmi:dtdl:context;3#limits"]), None))[0],
            "disallowedContextFragment"
        );
        assert_eq!(
            rules(top(json!(["dtmi:dtdl:context;3", "dtmi:a:b"]), None)),
            ["missingContextVersion"]
        );
    }

    #[test]
    fn undefined_extensions_follow_the_version_default() {
        assert!(
            top(json!(["dtmi:dtdl:context;2", "dtmi:x:y;1"]), None)
                .unwrap()
                .undefined
        );
        assert_eq!(
            rules(top(json!(["dtmi:dtdl:context;3", "dtmi:x:y;1"]), None)),
            ["unresolvableContextSpecifier"]
        );
        assert!(
            top(json!(["dtmi:dtdl:context;3", "dtmi:x:y;1"]), Some(true))
                .unwrap()
                .undefined
        );
        assert!(top(json!(["dtmi:dtdl:context;2", "dtmi:x:y;1"]), Some(false)).is_err());
    }

    #[test]
    fn feature_extensions_resolve_in_v2_and_v3() {
        for spec in [
            "dtmi:dtdl:extension:annotation;1",
            "dtmi:dtdl:extension:annotation;2",
            "dtmi:dtdl:extension:historization;2",
            "dtmi:dtdl:extension:overriding;1",
            "dtmi:dtdl:extension:mqtt;2",
        ] {
            for v in [2, 3] {
                let c = top(json!([format!("dtmi:dtdl:context;{v}"), spec]), Some(false))
                    .unwrap_or_else(|e| panic!("{spec} in v{v}: {e:?}"));
                assert!(c.has(spec) && !c.undefined, "{spec} in v{v}");
            }
        }
        assert_eq!(
            rules(top(
                json!(["dtmi:dtdl:context;3", "dtmi:dtdl:extension:mqtt;3"]),
                None
            )),
            ["unresolvableContextSpecifier"]
        );
        assert!(
            top(
                json!([
                    "dtmi:dtdl:context;2",
                    "dtmi:dtdl:extension:quantitativeTypes;1"
                ]),
                None
            )
            .unwrap()
            .undefined
        );
    }

    #[test]
    fn order_and_nesting() {
        assert!(top(
            json!([
                "dtmi:dtdl:extension:quantitativeTypes;1",
                "dtmi:dtdl:context;3"
            ]),
            None
        )
        .is_err());
        assert!(top(
            json!(["dtmi:iotcentral:context;2", "dtmi:dtdl:context;2"]),
            None
        )
        .is_ok());
        let v3 = top(json!("dtmi:dtdl:context;3"), None).unwrap();
        let nested = combine(
            Some(&json!("dtmi:dtdl:extension:quantitativeTypes;1")),
            Some(&v3),
            None,
        )
        .unwrap();
        assert!(nested.quantitative());
        assert_eq!(combine(Some(&json!([])), Some(&v3), None).unwrap(), v3);
        let v2 = top(json!("dtmi:dtdl:context;2"), None).unwrap();
        assert_eq!(
            rules(combine(
                Some(&json!("dtmi:dtdl:context;3")),
                Some(&v2),
                None
            )),
            ["disallowedVersionDefinition"]
        );
        assert_eq!(
            combine(Some(&json!("dtmi:dtdl:context;2")), Some(&v3), None)
                .unwrap()
                .version,
            2
        );
    }
}
