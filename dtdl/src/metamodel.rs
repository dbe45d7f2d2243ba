//! The DTDL v2/v3 metamodel as data: element classes, the properties each class allows, what
//! kind of value each property takes, its cardinality, and the terms the DTDL context defines.
//! The parser is generic over these tables; class-specific rules live in `rules.rs`.

use super::extension::SuppProp;

/// A concrete (material) DTDL element class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Class {
    Interface,
    Telemetry,
    Property,
    Command,
    CommandPayload,
    CommandRequest,
    CommandResponse,
    Relationship,
    Component,
    Array,
    Enum,
    EnumValue,
    Map,
    MapKey,
    MapValue,
    Object,
    Field,
}

impl Class {
    pub fn term(self) -> &'static str {
        match self {
            Class::Interface => "Interface",
            Class::Telemetry => "Telemetry",
            Class::Property => "Property",
            Class::Command => "Command",
            Class::CommandPayload => "CommandPayload",
            Class::CommandRequest => "CommandRequest",
            Class::CommandResponse => "CommandResponse",
            Class::Relationship => "Relationship",
            Class::Component => "Component",
            Class::Array => "Array",
            Class::Enum => "Enum",
            Class::EnumValue => "EnumValue",
            Class::Map => "Map",
            Class::MapKey => "MapKey",
            Class::MapValue => "MapValue",
            Class::Object => "Object",
            Class::Field => "Field",
        }
    }

    /// The class a term names in DTDL `version`, if it is a material class of that version.
    pub fn from_term(term: &str, version: u8) -> Option<Class> {
        let c = ALL.iter().copied().find(|c| c.term() == term)?;
        match (c, version) {
            (Class::CommandPayload, 2) => Some(c),
            (Class::CommandPayload, _) => None,
            (Class::CommandRequest | Class::CommandResponse, 2) => None,
            _ => Some(c),
        }
    }

    /// Classes that may carry a semantic type (and so `unit`).
    pub fn allows_semantic_type(self, version: u8) -> bool {
        match version {
            2 => matches!(self, Class::Property | Class::Telemetry),
            _ => matches!(
                self,
                Class::Property
                    | Class::Telemetry
                    | Class::CommandRequest
                    | Class::CommandResponse
                    | Class::Field
                    | Class::MapValue
            ),
        }
    }
}

const ALL: &[Class] = &[
    Class::Interface,
    Class::Telemetry,
    Class::Property,
    Class::Command,
    Class::CommandPayload,
    Class::CommandRequest,
    Class::CommandResponse,
    Class::Relationship,
    Class::Component,
    Class::Array,
    Class::Enum,
    Class::EnumValue,
    Class::Map,
    Class::MapKey,
    Class::MapValue,
    Class::Object,
    Class::Field,
];

/// What a property's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A `name`: representational string matching the name pattern.
    Name,
    /// `comment`: representational string, ≤ 512.
    Comment,
    /// `description` / `displayName`: localizable string; the number is the v2 max length.
    LangString(usize),
    /// `writable`.
    Bool,
    /// `minMultiplicity` / `maxMultiplicity`.
    Int,
    /// `enumValue`: string or integer literal.
    Literal,
    /// `target`: a DTMI by reference (need not resolve).
    Target,
    /// `commandType`: `synchronous` / `asynchronous`.
    CommandType,
    /// Enum `valueSchema`: `integer` / `string`.
    ValueSchema,
    /// `unit` of a semantic type.
    Unit,
    /// A property an extension's adjunct type adds.
    Supplemental(&'static SuppProp),
    /// Child elements (inline or by reference) of the given classes; `schemas` says whether
    /// primitive/geospatial schema terms are also accepted.
    Elements {
        classes: &'static [Class],
        schemas: bool,
    },
}

/// One property a class allows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PropSpec {
    pub term: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// At most one value.
    pub singular: bool,
    /// Children are identified by `name` in automatic ids (`:_prop:__name`).
    pub named: bool,
}

const fn p(term: &'static str, kind: Kind, required: bool, singular: bool) -> PropSpec {
    PropSpec {
        term,
        kind,
        required,
        singular,
        named: false,
    }
}

const fn plural(term: &'static str, kind: Kind, named: bool) -> PropSpec {
    PropSpec {
        term,
        kind,
        required: false,
        singular: false,
        named,
    }
}

const SCHEMA_CLASSES: &[Class] = &[Class::Array, Class::Enum, Class::Map, Class::Object];
const CONTENT_CLASSES: &[Class] = &[
    Class::Telemetry,
    Class::Property,
    Class::Command,
    Class::Relationship,
    Class::Component,
];
const SCHEMA: Kind = Kind::Elements {
    classes: SCHEMA_CLASSES,
    schemas: true,
};

const COMMENT: PropSpec = p("comment", Kind::Comment, false, true);
const DESCRIPTION: PropSpec = p("description", Kind::LangString(512), false, false);
const DISPLAY_NAME: PropSpec = p("displayName", Kind::LangString(64), false, false);
const NAME: PropSpec = p("name", Kind::Name, true, true);
const REQUIRED_SCHEMA: PropSpec = p("schema", SCHEMA, true, true);

/// The properties `class` allows in DTDL `version`, beyond `@id`/`@type`/`@context`.
pub(crate) fn properties(class: Class, version: u8) -> Vec<PropSpec> {
    let mut v = vec![COMMENT, DESCRIPTION, DISPLAY_NAME];
    match class {
        Class::Interface => v.extend([
            plural(
                "contents",
                Kind::Elements {
                    classes: CONTENT_CLASSES,
                    schemas: false,
                },
                true,
            ),
            plural(
                "extends",
                Kind::Elements {
                    classes: &[Class::Interface],
                    schemas: false,
                },
                false,
            ),
            plural(
                "schemas",
                Kind::Elements {
                    classes: SCHEMA_CLASSES,
                    schemas: false,
                },
                false,
            ),
        ]),
        Class::Telemetry => v.extend([NAME, REQUIRED_SCHEMA]),
        Class::Property => v.extend([
            NAME,
            REQUIRED_SCHEMA,
            p("writable", Kind::Bool, false, true),
        ]),
        Class::Command => {
            let (req, resp): (&'static [Class], &'static [Class]) = if version == 2 {
                (&[Class::CommandPayload], &[Class::CommandPayload])
            } else {
                (&[Class::CommandRequest], &[Class::CommandResponse])
            };
            v.extend([
                NAME,
                p("commandType", Kind::CommandType, false, true),
                p(
                    "request",
                    Kind::Elements {
                        classes: req,
                        schemas: false,
                    },
                    false,
                    true,
                ),
                p(
                    "response",
                    Kind::Elements {
                        classes: resp,
                        schemas: false,
                    },
                    false,
                    true,
                ),
            ]);
        }
        Class::CommandPayload
        | Class::CommandRequest
        | Class::CommandResponse
        | Class::Field
        | Class::MapValue => {
            v.extend([NAME, REQUIRED_SCHEMA]);
        }
        Class::Relationship => v.extend([
            NAME,
            p("target", Kind::Target, false, true),
            p("minMultiplicity", Kind::Int, false, true),
            p("maxMultiplicity", Kind::Int, false, true),
            p("writable", Kind::Bool, false, true),
            plural(
                "properties",
                Kind::Elements {
                    classes: &[Class::Property],
                    schemas: false,
                },
                true,
            ),
        ]),
        Class::Component => v.extend([
            NAME,
            p(
                "schema",
                Kind::Elements {
                    classes: &[Class::Interface],
                    schemas: false,
                },
                true,
                true,
            ),
        ]),
        Class::Array => v.push(p("elementSchema", SCHEMA, true, true)),
        Class::Enum => v.extend([
            p("valueSchema", Kind::ValueSchema, true, true),
            PropSpec {
                required: version == 2,
                ..plural(
                    "enumValues",
                    Kind::Elements {
                        classes: &[Class::EnumValue],
                        schemas: false,
                    },
                    true,
                )
            },
        ]),
        Class::EnumValue => v.extend([NAME, p("enumValue", Kind::Literal, true, true)]),
        Class::Map => v.extend([
            p(
                "mapKey",
                Kind::Elements {
                    classes: &[Class::MapKey],
                    schemas: false,
                },
                true,
                true,
            ),
            p(
                "mapValue",
                Kind::Elements {
                    classes: &[Class::MapValue],
                    schemas: false,
                },
                true,
                true,
            ),
        ]),
        Class::MapKey => v.extend([NAME, REQUIRED_SCHEMA]),
        Class::Object => v.push(PropSpec {
            required: version == 2,
            ..plural(
                "fields",
                Kind::Elements {
                    classes: &[Class::Field],
                    schemas: false,
                },
                true,
            )
        }),
    }
    v
}

/// The class implied by a property when the child omits `@type`.
pub(crate) fn implied_class(prop: &str, version: u8) -> Option<Class> {
    match prop {
        "request" if version == 2 => Some(Class::CommandPayload),
        "response" if version == 2 => Some(Class::CommandPayload),
        "request" => Some(Class::CommandRequest),
        "response" => Some(Class::CommandResponse),
        "enumValues" => Some(Class::EnumValue),
        "fields" => Some(Class::Field),
        "mapKey" => Some(Class::MapKey),
        "mapValue" => Some(Class::MapValue),
        _ => None,
    }
}

/// Primitive schema terms (v2 and v3).
pub(crate) const PRIMITIVES: &[&str] = &[
    "boolean", "date", "dateTime", "double", "duration", "float", "integer", "long", "string",
    "time",
];
/// Geospatial schema terms.
pub(crate) const GEOSPATIAL: &[&str] = &[
    "lineString",
    "multiLineString",
    "multiPoint",
    "multiPolygon",
    "point",
    "polygon",
];

/// Maps a schema string (term or its DTMI) to the primitive or geospatial term it names.
pub(crate) fn standard_schema(s: &str, version: u8) -> Option<&'static str> {
    if let Some(t) = PRIMITIVES.iter().chain(GEOSPATIAL).find(|t| **t == s) {
        return Some(t);
    }
    let v = format!(";{version}");
    let body = s.strip_suffix(v.as_str())?;
    if let Some(t) = body.strip_prefix("dtmi:dtdl:instance:Schema:") {
        return PRIMITIVES.iter().find(|p| **p == t).copied();
    }
    if let Some(t) = body.strip_prefix("dtmi:standard:schema:geospatial:") {
        return GEOSPATIAL.iter().find(|p| **p == t).copied();
    }
    None
}

/// Terms of the DTDL core context that are not classes, properties or schemas handled above;
/// used to tell an *irrelevant* term from an *undefined* one.
const OTHER_TERMS: &[&str] = &[
    "AdjunctType",
    "Alias",
    "aliasFor",
    "asynchronous",
    "synchronous",
    "Boolean",
    "CommandType",
    "ComplexSchema",
    "Content",
    "Date",
    "DateTime",
    "Double",
    "DtdlExtension",
    "Duration",
    "Entity",
    "Float",
    "Integer",
    "languageMajorVersion",
    "LatentType",
    "Long",
    "metamodel",
    "model",
    "NamedEntity",
    "NamedLatentType",
    "NumericSchema",
    "PrimitiveSchema",
    "Schema",
    "SchemaField",
    "SemanticType",
    "SemanticUnit",
    "String",
    "symbol",
    "TemporalSchema",
    "Time",
    "Unit",
    "UnitAttribute",
    "exponent",
];

/// Property names any class defines, for the "irrelevant term" test.
const PROPERTY_TERMS: &[&str] = &[
    "comment",
    "commandType",
    "contents",
    "description",
    "displayName",
    "elementSchema",
    "enumValue",
    "enumValues",
    "extends",
    "fields",
    "mapKey",
    "mapValue",
    "maxMultiplicity",
    "minMultiplicity",
    "name",
    "properties",
    "request",
    "response",
    "schema",
    "schemas",
    "target",
    "valueSchema",
    "writable",
];

/// Whether `term` names a property of the DTDL core context.
pub(crate) fn is_property_term(term: &str) -> bool {
    PROPERTY_TERMS.contains(&term)
}

/// Whether `term` is defined by the DTDL core context of `version` (not counting extensions).
pub(crate) fn is_core_term(term: &str, version: u8) -> bool {
    ALL.iter().any(|c| c.term() == term)
        || PROPERTY_TERMS.contains(&term)
        || OTHER_TERMS.contains(&term)
        || PRIMITIVES.contains(&term)
        || GEOSPATIAL.contains(&term)
        || (version == 2 && super::units::is_vocabulary_term(2, term))
}

/// The term a core property/class DTMI (`dtmi:dtdl:property:name;3`) stands for, when it is
/// of this `version`.
pub(crate) fn core_dtmi_term(s: &str, kind: &str, version: u8) -> Option<String> {
    let body = s
        .strip_prefix("dtmi:dtdl:")?
        .strip_prefix(kind)?
        .strip_prefix(':')?;
    let (term, ver) = body.split_once(';')?;
    (ver == version.to_string()).then(|| term.to_string())
}

/// Whether `s` is any DTDL-reserved DTMI (`dtmi:dtdl:…` or `dtmi:standard:…`).
pub(crate) fn is_reserved_dtmi(s: &str) -> bool {
    s.starts_with("dtmi:dtdl:") || s.starts_with("dtmi:standard:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_per_version() {
        assert_eq!(
            Class::from_term("CommandPayload", 2),
            Some(Class::CommandPayload)
        );
        assert_eq!(Class::from_term("CommandPayload", 3), None);
        assert_eq!(Class::from_term("CommandRequest", 2), None);
        assert!(Class::Field.allows_semantic_type(3) && !Class::Field.allows_semantic_type(2));
    }

    #[test]
    fn tables() {
        let enum_v2 = properties(Class::Enum, 2);
        assert!(enum_v2.iter().any(|p| p.term == "enumValues" && p.required));
        assert!(properties(Class::Enum, 3)
            .iter()
            .any(|p| p.term == "enumValues" && !p.required));
        assert_eq!(
            standard_schema("dtmi:dtdl:instance:Schema:double;2", 2),
            Some("double")
        );
        assert_eq!(
            standard_schema("dtmi:dtdl:instance:Schema:double;2", 3),
            None
        );
        assert_eq!(
            standard_schema("dtmi:standard:schema:geospatial:point;3", 3),
            Some("point")
        );
        assert_eq!(
            core_dtmi_term("dtmi:dtdl:property:name;3", "property", 3).as_deref(),
            Some("name")
        );
        assert!(is_core_term("Temperature", 2) && !is_core_term("Temperature", 3));
    }
}
