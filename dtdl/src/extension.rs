//! The DTDL language extensions other than QuantitativeTypes (whose vocabulary is `units.rs`):
//! Annotation, Historization, Overriding and Mqtt, as data. Each adjunct type says which
//! material classes it may co-type and in which DTDL versions, which co-type it needs, and the
//! properties it adds with their value constraints. How elements refer to siblings through
//! these properties (`annotates`, `overrides`, unique `index`) is checked in `sibling.rs`.
//!
//! Source: the official parser's metamodel digest (`supplementalTypes` and the extension
//! contexts of `dtdl/dtdl_digest.json`) and the extension documents of the DTDL repository.

use super::context::Ctx;
use super::element::Model;
use super::metamodel::{self, Class};

/// What a supplemental property's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// A string, optionally of a restricted syntax.
    String(Option<Syntax>),
    /// An integer no smaller than `min`.
    Integer { min: i64 },
    /// An ISO 8601 duration.
    Duration,
    /// A term or IRI naming a property.
    Iri,
}

/// Restricted string syntaxes of the Mqtt extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// Slash-separated labels and `{token}`s, e.g. `vehicles/{modelId}/telemetry`.
    Topic,
    /// A non-empty run of topic-label characters.
    ServiceGroupId,
}

/// One property an adjunct type adds to the elements it co-types.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SuppProp {
    pub term: &'static str,
    pub kind: ValueKind,
    pub required: bool,
    /// No two elements in the same parent property may share the value.
    pub unique: bool,
}

/// How an element with this adjunct type refers to a sibling by `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sibling {
    None,
    /// `annotates` names a Property or Telemetry sibling that is not itself so annotated.
    Annotated,
    /// `annotates` names a Property or Telemetry sibling, `overrides` one of that sibling's
    /// extension properties, at most once per sibling; the element's `schema` is the type of
    /// the overridden property.
    Overridden,
}

/// An adjunct (non-material) type of an extension.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AdjunctType {
    pub term: &'static str,
    /// The type's IRI.
    pub id: &'static str,
    /// The extension context that defines the term.
    pub context: &'static str,
    pub cotypes: &'static [Class],
    pub versions: &'static [u8],
    /// The IRI of another adjunct type the element must also have.
    pub cocotype: Option<&'static str>,
    pub props: &'static [SuppProp],
    /// The class the element's `schema` must have.
    pub schema_class: Option<Class>,
    pub sibling: Sibling,
}

impl AdjunctType {
    /// The IRI of one of this type's properties.
    pub fn prop_id(&self, prop: &SuppProp) -> String {
        format!("{}:{}", self.id, prop.term)
    }
}

const fn prop(term: &'static str, kind: ValueKind, required: bool) -> SuppProp {
    SuppProp {
        term,
        kind,
        required,
        unique: false,
    }
}

const ANNOTATES: &[SuppProp] = &[prop("annotates", ValueKind::String(None), true)];
const OVERRIDES: &[SuppProp] = &[prop("overrides", ValueKind::Iri, true)];
const TTL: &[SuppProp] = &[prop("ttl", ValueKind::Duration, true)];
const INDEX: &[SuppProp] = &[SuppProp {
    unique: true,
    ..prop("index", ValueKind::Integer { min: 1 }, true)
}];
const TOPIC: ValueKind = ValueKind::String(Some(Syntax::Topic));
const GROUP: ValueKind = ValueKind::String(Some(Syntax::ServiceGroupId));
const MQTT_V1: &[SuppProp] = &[
    prop("commandTopic", TOPIC, false),
    prop("payloadFormat", ValueKind::String(None), true),
    prop("telemetryTopic", TOPIC, false),
];
const MQTT_V2: &[SuppProp] = &[
    prop("cmdServiceGroupId", GROUP, false),
    prop("commandTopic", TOPIC, false),
    prop("payloadFormat", ValueKind::String(None), true),
    prop("telemetryTopic", TOPIC, false),
    prop("telemServiceGroupId", GROUP, false),
];

const PROPERTY_OR_TELEMETRY: &[Class] = &[Class::Property, Class::Telemetry];
const V3: &[u8] = &[3];
/// The second versions of the extensions serve DTDL v3 and v4; twingraph has no v4.
const V3_V4: &[u8] = &[3, 4];

const fn adjunct(
    term: &'static str,
    id: &'static str,
    context: &'static str,
    cotypes: &'static [Class],
    versions: &'static [u8],
) -> AdjunctType {
    AdjunctType {
        term,
        id,
        context,
        cotypes,
        versions,
        cocotype: None,
        props: &[],
        schema_class: None,
        sibling: Sibling::None,
    }
}

/// Every adjunct type twingraph knows.
pub(crate) static ADJUNCT_TYPES: &[AdjunctType] = &[
    AdjunctType {
        props: ANNOTATES,
        sibling: Sibling::Annotated,
        ..adjunct(
            "ValueAnnotation",
            "dtmi:dtdl:extension:annotation:v1:ValueAnnotation",
            "dtmi:dtdl:extension:annotation;1",
            PROPERTY_OR_TELEMETRY,
            V3,
        )
    },
    AdjunctType {
        props: ANNOTATES,
        sibling: Sibling::Annotated,
        ..adjunct(
            "ValueAnnotation",
            "dtmi:dtdl:extension:annotation:v2:ValueAnnotation",
            "dtmi:dtdl:extension:annotation;2",
            PROPERTY_OR_TELEMETRY,
            V3_V4,
        )
    },
    adjunct(
        "Historized",
        "dtmi:dtdl:extension:historization:v1:Historized",
        "dtmi:dtdl:extension:historization;1",
        PROPERTY_OR_TELEMETRY,
        V3,
    ),
    adjunct(
        "Historized",
        "dtmi:dtdl:extension:historization:v2:Historized",
        "dtmi:dtdl:extension:historization;2",
        PROPERTY_OR_TELEMETRY,
        V3_V4,
    ),
    AdjunctType {
        cocotype: Some("dtmi:dtdl:extension:annotation:v1:ValueAnnotation"),
        props: OVERRIDES,
        sibling: Sibling::Overridden,
        ..adjunct(
            "Override",
            "dtmi:dtdl:extension:overriding:v1:Override",
            "dtmi:dtdl:extension:overriding;1",
            &[Class::Property],
            V3,
        )
    },
    AdjunctType {
        cocotype: Some("dtmi:dtdl:extension:annotation:v2:ValueAnnotation"),
        props: OVERRIDES,
        sibling: Sibling::Overridden,
        ..adjunct(
            "Override",
            "dtmi:dtdl:extension:overriding:v2:Override",
            "dtmi:dtdl:extension:overriding;2",
            &[Class::Property],
            V3_V4,
        )
    },
    AdjunctType {
        cocotype: Some("dtmi:dtdl:extension:mqtt:v1:Idempotent"),
        props: TTL,
        ..adjunct(
            "Cacheable",
            "dtmi:dtdl:extension:mqtt:v1:Cacheable",
            "dtmi:dtdl:extension:mqtt;1",
            &[Class::Command],
            V3,
        )
    },
    adjunct(
        "Idempotent",
        "dtmi:dtdl:extension:mqtt:v1:Idempotent",
        "dtmi:dtdl:extension:mqtt;1",
        &[Class::Command],
        V3,
    ),
    AdjunctType {
        props: INDEX,
        ..adjunct(
            "Indexed",
            "dtmi:dtdl:extension:mqtt:v1:Indexed",
            "dtmi:dtdl:extension:mqtt;1",
            &[Class::EnumValue, Class::Field, Class::Telemetry],
            V3,
        )
    },
    AdjunctType {
        props: MQTT_V1,
        ..adjunct(
            "Mqtt",
            "dtmi:dtdl:extension:mqtt:v1:Mqtt",
            "dtmi:dtdl:extension:mqtt;1",
            &[Class::Interface],
            V3,
        )
    },
    AdjunctType {
        cocotype: Some("dtmi:dtdl:extension:mqtt:v2:Idempotent"),
        props: TTL,
        ..adjunct(
            "Cacheable",
            "dtmi:dtdl:extension:mqtt:v2:Cacheable",
            "dtmi:dtdl:extension:mqtt;2",
            &[Class::Command],
            V3_V4,
        )
    },
    adjunct(
        "Idempotent",
        "dtmi:dtdl:extension:mqtt:v2:Idempotent",
        "dtmi:dtdl:extension:mqtt;2",
        &[Class::Command],
        V3_V4,
    ),
    AdjunctType {
        props: INDEX,
        ..adjunct(
            "Indexed",
            "dtmi:dtdl:extension:mqtt:v2:Indexed",
            "dtmi:dtdl:extension:mqtt;2",
            &[Class::EnumValue, Class::Field, Class::Telemetry],
            V3_V4,
        )
    },
    AdjunctType {
        props: MQTT_V2,
        ..adjunct(
            "Mqtt",
            "dtmi:dtdl:extension:mqtt:v2:Mqtt",
            "dtmi:dtdl:extension:mqtt;2",
            &[Class::Interface],
            V3_V4,
        )
    },
    AdjunctType {
        schema_class: Some(Class::Object),
        ..adjunct(
            "Transparent",
            "dtmi:dtdl:extension:mqtt:v2:Transparent",
            "dtmi:dtdl:extension:mqtt;2",
            &[Class::CommandRequest, Class::CommandResponse],
            V3_V4,
        )
    },
];

/// The adjunct type a `@type` value names: a term of an active extension context, or a type IRI.
pub(crate) fn adjunct_type(s: &str, ctx: &Ctx) -> Option<&'static AdjunctType> {
    ADJUNCT_TYPES
        .iter()
        .find(|a| a.id == s || (a.term == s && ctx.has(a.context)))
}

/// The adjunct type and property a key names (term of an active context, or property IRI).
pub(crate) fn supplemental_property(
    key: &str,
    ctx: &Ctx,
) -> Option<(&'static AdjunctType, &'static SuppProp)> {
    ADJUNCT_TYPES.iter().find_map(|a| {
        a.props
            .iter()
            .find(|p| (p.term == key && ctx.has(a.context)) || key == a.prop_id(p))
            .map(|p| (a, p))
    })
}

/// Whether an active extension context defines `term` (a type or property name).
pub(crate) fn is_term(term: &str, ctx: &Ctx) -> bool {
    ADJUNCT_TYPES
        .iter()
        .filter(|a| ctx.has(a.context))
        .any(|a| a.term == term || a.props.iter().any(|p| p.term == term))
}

/// The IRI a term or IRI names in `ctx`, for a property whose values are IRIs (`overrides`).
/// `None` when `s` is neither an IRI nor a term of an active context.
pub(crate) fn expand_iri(s: &str, ctx: &Ctx) -> Option<String> {
    let v = ctx.version;
    if let Some((scheme, _)) = s.split_once(':') {
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        return scheme_ok.then(|| s.to_string());
    }
    if metamodel::is_property_term(s) {
        return Some(format!("dtmi:dtdl:property:{s};{v}"));
    }
    if ctx.quantitative() && v >= 3 && super::units::is_property_term(s) {
        return Some(format!(
            "dtmi:dtdl:extension:quantitativeTypes:v1:property:{s}"
        ));
    }
    for a in ADJUNCT_TYPES.iter().filter(|a| ctx.has(a.context)) {
        if a.term == s {
            return Some(a.id.to_string());
        }
        if let Some(p) = a.props.iter().find(|p| p.term == s) {
            return Some(a.prop_id(p));
        }
    }
    metamodel::is_core_term(s, v).then(|| format!("dtmi:dtdl:class:{s};{v}"))
}

/// Splits the adjunct co-types an element lists into those that apply and those its class
/// or DTDL version rules out (reported here); an applying type may need another co-type.
pub(crate) fn apply(
    model: &mut Model,
    idx: usize,
    class: Class,
    listed: &[&'static AdjunctType],
) -> (Vec<&'static AdjunctType>, Vec<&'static AdjunctType>) {
    let v = model.elements[idx].version();
    let (mut applied, mut rejected) = (Vec::new(), Vec::new());
    for a in listed {
        if !a.cotypes.contains(&class) {
            let allowed: Vec<&str> = a.cotypes.iter().map(|c| c.term()).collect();
            model.error_at(
                idx,
                "invalidCotype",
                None,
                format!(
                    "{} can only co-type {}, not a {}",
                    a.term,
                    allowed.join(" or "),
                    class.term()
                ),
            );
            rejected.push(*a);
        } else if !a.versions.contains(&v) {
            model.error_at(
                idx,
                "invalidCotypeVersion",
                None,
                format!("{} cannot co-type a DTDL v{v} element", a.term),
            );
            rejected.push(*a);
        } else {
            applied.push(*a);
        }
    }
    for a in &applied {
        if let Some(needed) = a.cocotype {
            if !listed.iter().any(|l| l.id == needed) {
                let term = needed.rsplit(':').next().unwrap_or(needed);
                model.error_at(
                    idx,
                    "missingCocotype",
                    None,
                    format!("{} requires co-type {term}", a.term),
                );
            }
        }
    }
    (applied, rejected)
}

/// The IRI of the `unit` property QuantitativeTypes v1 adds with every semantic type.
pub(crate) const QUANTITATIVE_UNIT: &str = "dtmi:dtdl:extension:quantitativeTypes:v1:property:unit";

/// Whether `s` matches the restricted syntax.
pub(crate) fn conforms(syntax: Syntax, s: &str) -> bool {
    // Printable ASCII except space, `"`, `#`, `+`, `/`, `{` and `}`: what MQTT allows in a topic
    // level without wildcards, minus the characters the token and level syntax reserve.
    let label_char = |c: char| c.is_ascii_graphic() && !"\"#+/{}".contains(c);
    let label = |l: &str, first_may_be_dollar: bool| {
        !l.is_empty() && l.chars().all(label_char) && (first_may_be_dollar || !l.starts_with('$'))
    };
    let token = |t: &str| {
        let Some(inner) = t.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
            return false;
        };
        let letters = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphabetic());
        match inner.split_once(':') {
            Some((ns, name)) => letters(ns) && letters(name),
            None => letters(inner),
        }
    };
    match syntax {
        Syntax::ServiceGroupId => label(s, true),
        Syntax::Topic => s
            .split('/')
            .enumerate()
            // A topic starting with `$` is reserved to the broker.
            .all(|(i, level)| token(level) || label(level, i > 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{context, validate_batch, Options};
    use serde_json::{json, Value};

    /// The rules a one-Interface model set breaks; `extensions` follow the DTDL context.
    fn rules(version: u8, extensions: &[&str], contents: Value) -> Vec<String> {
        let mut ctx = vec![json!(format!("dtmi:dtdl:context;{version}"))];
        ctx.extend(extensions.iter().map(|e| json!(e)));
        let doc = json!({"@context": ctx, "@id": "dtmi:ex:A;1", "@type": "Interface", "contents": contents});
        match validate_batch(&[doc], &|_| None, &Options::default()) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.into_iter().map(|e| e.rule).collect(),
        }
    }

    fn ctx(specs: &[&str]) -> Ctx {
        let mut v = vec![json!("dtmi:dtdl:context;3")];
        v.extend(specs.iter().map(|s| json!(s)));
        context::combine(Some(&json!(v)), None, None).expect("known contexts")
    }

    #[test]
    fn terms_need_their_context() {
        let none = ctx(&[]);
        let ann = ctx(&["dtmi:dtdl:extension:annotation;1"]);
        assert!(adjunct_type("ValueAnnotation", &none).is_none());
        assert_eq!(
            adjunct_type("ValueAnnotation", &ann).map(|a| a.id),
            Some("dtmi:dtdl:extension:annotation:v1:ValueAnnotation")
        );
        let ann2 = ctx(&["dtmi:dtdl:extension:annotation;2"]);
        assert_eq!(
            adjunct_type("ValueAnnotation", &ann2).map(|a| a.context),
            Some("dtmi:dtdl:extension:annotation;2")
        );
        assert!(adjunct_type("dtmi:dtdl:extension:mqtt:v1:Mqtt", &none).is_some());
        assert!(is_term("annotates", &ann) && !is_term("annotates", &none));
        let (a, p) = supplemental_property("ttl", &ctx(&["dtmi:dtdl:extension:mqtt;2"]))
            .expect("ttl is an mqtt property");
        assert_eq!((a.term, p.kind), ("Cacheable", ValueKind::Duration));
        assert!(
            supplemental_property("cmdServiceGroupId", &ctx(&["dtmi:dtdl:extension:mqtt;1"]))
                .is_none()
        );
    }

    #[test]
    fn iris_expand_through_the_active_contexts() {
        let c = ctx(&[
            "dtmi:dtdl:extension:quantitativeTypes;1",
            "dtmi:dtdl:extension:annotation;1",
        ]);
        assert_eq!(expand_iri("unit", &c).as_deref(), Some(QUANTITATIVE_UNIT));
        assert_eq!(
            expand_iri("schema", &c).as_deref(),
            Some("dtmi:dtdl:property:schema;3")
        );
        assert_eq!(
            expand_iri("annotates", &c).as_deref(),
            Some("dtmi:dtdl:extension:annotation:v1:ValueAnnotation:annotates")
        );
        assert_eq!(expand_iri("unit", &ctx(&[])), None);
        assert_eq!(expand_iri("nothing", &c), None);
        assert_eq!(expand_iri("dtmi:x:y;1", &c).as_deref(), Some("dtmi:x:y;1"));
        assert_eq!(expand_iri("1x:y", &c), None);
    }

    #[test]
    fn topics() {
        for ok in [
            "vehicles/{modelId}/{senderId}/telemetry",
            "sample/{ex:modelId}/command/{commandName}",
            "a",
            "a/$b",
            "x-y.z/%&'()*,;<=>?@[]^_`|~!",
        ] {
            assert!(conforms(Syntax::Topic, ok), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "$a", "a b", "a/#", "a/+", "a/{b", "a/{}", "a/{1}", "a{b}",
            "a/{x:}", "a/\"",
        ] {
            assert!(!conforms(Syntax::Topic, bad), "{bad}");
        }
        assert!(conforms(Syntax::ServiceGroupId, "$group-1"));
        assert!(!conforms(Syntax::ServiceGroupId, ""));
        assert!(!conforms(Syntax::ServiceGroupId, "a/b"));
    }

    #[test]
    fn cotypes_classes_and_versions() {
        const ANN: &str = "dtmi:dtdl:extension:annotation;1";
        const HIST: &str = "dtmi:dtdl:extension:historization;1";
        let historized =
            |t: &str| json!([{"@type": [t, "Historized"], "name": "x", "schema": "double"}]);
        assert!(rules(3, &[HIST], historized("Property")).is_empty());
        assert!(rules(3, &[HIST], historized("Telemetry")).is_empty());
        assert_eq!(
            rules(
                3,
                &[HIST],
                json!([{"@type": ["Command", "Historized"], "name": "c"}])
            ),
            ["invalidCotype"]
        );
        // The context resolves in DTDL v2, but its types are for v3 only.
        assert_eq!(
            rules(2, &[HIST], historized("Property")),
            ["invalidCotypeVersion"]
        );
        // Without the context the term is undefined.
        assert_eq!(rules(3, &[], historized("Property")), ["typeUndefinedTerm"]);
        // A refused co-type's own properties are then not allowed, said once.
        let note =
            json!([{"@type": ["Command", "ValueAnnotation"], "name": "c", "annotates": "x"}]);
        assert_eq!(
            rules(3, &[ANN], note),
            ["invalidCotype", "noTypeThatAllows"]
        );
        let v2 = json!([{"@type": ["Property", "ValueAnnotation"], "name": "n", "annotates": "x", "schema": "string"}]);
        assert_eq!(
            rules(2, &[ANN], v2),
            ["invalidCotypeVersion", "noTypeThatAllows"]
        );
    }

    #[test]
    fn override_needs_value_annotation_of_its_version() {
        const QT: &str = "dtmi:dtdl:extension:quantitativeTypes;1";
        let temp = json!({"@type": ["Telemetry", "Temperature"], "name": "t", "schema": "double", "unit": "kelvin"});
        let unit = |types: Value| {
            json!([temp, {"@type": types, "name": "u", "annotates": "t", "overrides": "unit",
                          "schema": "TemperatureUnit", "writable": true}])
        };
        let v1 = [
            QT,
            "dtmi:dtdl:extension:annotation;1",
            "dtmi:dtdl:extension:overriding;1",
        ];
        assert!(rules(
            3,
            &v1,
            unit(json!(["Property", "ValueAnnotation", "Override"]))
        )
        .is_empty());
        assert_eq!(
            rules(3, &v1, unit(json!(["Property", "Override"]))),
            [
                "missingCocotype",
                "propertyIrrelevantDtmiOrTerm",
                "noTypeThatAllows"
            ]
        );
        let mixed = [
            QT,
            "dtmi:dtdl:extension:annotation;2",
            "dtmi:dtdl:extension:overriding;1",
        ];
        assert_eq!(
            rules(
                3,
                &mixed,
                unit(json!(["Property", "ValueAnnotation", "Override"]))
            ),
            ["missingCocotype"]
        );
    }
}
