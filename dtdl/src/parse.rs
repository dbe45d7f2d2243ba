//! JSON documents → the element arena (`element.rs`), checking everything one element can
//! tell about itself: context, `@type`, `@id`, which properties it may have and the shape of
//! each value. Cross-element rules (references, inheritance, limits) come afterwards.

use serde_json::{Map, Value};

use super::context::{self, Ctx};
use super::dtmi::{self, Dtmi};
use super::element::{auto_id, Element, Model};
use super::extension::{self, AdjunctType};
use super::metamodel::{self, implied_class, is_core_term, Class};
use super::{rules, units, Options};

/// Where a child element sits.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub parent: Option<usize>,
    pub prop: &'static str,
    pub classes: &'static [Class],
    pub named: bool,
}

/// How an unknown `@type` value or property name relates to the active context.
#[derive(PartialEq)]
#[allow(clippy::enum_variant_names)] // the official parser's own category names
pub(crate) enum Term {
    InvalidDtmi,
    Irrelevant,
    NotDtmiNorTerm,
    Undefined,
}

pub(crate) fn classify(s: &str, ctx: &Ctx) -> Term {
    if s.starts_with("dtmi:") {
        if Dtmi::parse(s).is_some() {
            Term::Irrelevant
        } else {
            Term::InvalidDtmi
        }
    } else if s.contains(':') {
        Term::NotDtmiNorTerm
    } else if is_core_term(s, ctx.version)
        || (ctx.quantitative() && units::is_vocabulary_term(ctx.version, s))
        || extension::is_term(s, ctx)
    {
        Term::Irrelevant
    } else {
        Term::Undefined
    }
}

/// The semantic type a `@type` value names (term or DTMI), if semantic types are in context.
fn semantic_type(t: &str, ctx: &Ctx) -> Option<String> {
    if !ctx.quantitative() {
        return None;
    }
    let v = ctx.version;
    let term = if v == 2 {
        t.strip_prefix("dtmi:standard:class:")
            .and_then(|r| r.strip_suffix(";2"))
            .unwrap_or(t)
    } else {
        t.strip_prefix("dtmi:dtdl:extension:quantitativeTypes:v1:class:")
            .unwrap_or(t)
    };
    units::semantic_unit_type(v, term).map(|_| term.to_string())
}

/// A DTDL name: letter first, letters/digits/underscores, not ending in `_`.
pub(crate) fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    matches!((b.first(), b.last()), (Some(f), Some(l)) if f.is_ascii_alphabetic() && l.is_ascii_alphanumeric())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The name an element will have, for building its automatic id before parsing it.
fn peek_name(obj: &Map<String, Value>, version: u8) -> Option<String> {
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("@value").and_then(Value::as_str).map(str::to_string),
            Value::Array(a) if a.len() == 1 => text(&a[0]),
            _ => None,
        }
    }
    obj.get("name")
        .or_else(|| obj.get(&format!("dtmi:dtdl:property:name;{version}")))
        .and_then(text)
}

/// What an element's co-types mean for the properties it may have.
pub(crate) struct Cotypes<'a> {
    /// A semantic type applies, which adds `unit`.
    pub semantic: bool,
    /// Adjunct types that apply, with the properties they add.
    pub adjuncts: &'a [&'static AdjunctType],
    /// Adjunct types listed but ruled out for this element: their properties are not allowed,
    /// and saying so once (`noTypeThatAllows`) is enough.
    pub rejected: &'a [&'static AdjunctType],
    /// A co-type was refused as a term (undefined, irrelevant): an unknown property may be its.
    pub rejected_cotype: bool,
    /// The element has no `@type`; its class was inferred from the property holding it.
    pub untyped: bool,
}

pub(crate) struct Parser {
    pub model: Model,
    /// Options for the documents parsed next (stored definitions get permissive ones).
    pub opts: Options,
}

impl Parser {
    pub fn new(opts: Options) -> Self {
        Parser {
            model: Model::default(),
            opts,
        }
    }

    /// Parses one input document: an Interface object or an array of them.
    pub fn document(&mut self, value: &Value, doc: Option<usize>) {
        match value {
            Value::Object(obj) => self.top_level(obj, value, doc),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(obj) => self.top_level(obj, item, doc),
                        _ => self.model.error(
                            "notJsonObject",
                            "",
                            None,
                            doc,
                            "array element is not a JSON object".into(),
                        ),
                    }
                }
            }
            _ => self.model.error(
                "notJsonObject",
                "",
                None,
                doc,
                "document is not a JSON object or array".into(),
            ),
        }
    }

    fn top_level(&mut self, obj: &Map<String, Value>, json: &Value, doc: Option<usize>) {
        if obj.contains_key("@graph") {
            if !obj.contains_key("@context") {
                self.model.error(
                    "missingContext",
                    "",
                    None,
                    doc,
                    "top-level object has no @context".into(),
                );
            }
            self.model.error(
                "topLevelGraphDisallowed",
                "",
                None,
                doc,
                "top-level object has '@graph'".into(),
            );
            return;
        }
        let ctx = match context::combine(
            obj.get("@context"),
            None,
            self.opts.allow_undefined_extensions,
        ) {
            Ok(c) => c,
            Err(errors) => {
                for (rule, msg) in errors {
                    self.model.error(rule, "", None, doc, msg);
                }
                return;
            }
        };
        let id = obj
            .get("@id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let is_interface = |t: &Value| {
            t.as_str().is_some_and(|s| {
                s == "Interface"
                    || metamodel::core_dtmi_term(s, "class", ctx.version).as_deref()
                        == Some("Interface")
            })
        };
        let rootable = match obj.get("@type") {
            Some(Value::Array(a)) => a.iter().any(is_interface),
            Some(t) => is_interface(t),
            None => false,
        };
        if !rootable {
            self.model.error(
                "typeNotRootable",
                &id,
                None,
                doc,
                "top-level element is not an Interface".into(),
            );
            if obj.get("@type").is_none() {
                self.model
                    .error("badType", &id, None, doc, "element has no @type".into());
            }
            return;
        }
        if obj.get("@id").is_none() {
            self.model.error(
                "missingTopLevelId",
                "",
                None,
                doc,
                "top-level element has no '@id'".into(),
            );
            return;
        }
        let slot = Slot {
            parent: None,
            prop: "",
            classes: &[Class::Interface],
            named: false,
        };
        if let Some(idx) = self.element(obj, ctx, slot, doc) {
            self.model.elements[idx].top_level = true;
            if doc.is_some() {
                self.model.roots.push((idx, json.clone()));
            }
        }
    }

    /// Reports a problem with the value of `slot.prop` on the parent.
    fn slot_error(&mut self, slot: Slot, doc: Option<usize>, rule: &str, msg: String) {
        match slot.parent {
            Some(p) => self.model.error_at(p, rule, Some(slot.prop), msg),
            None => self.model.error(rule, "", None, doc, msg),
        }
    }

    /// Parses one element object with its active context already combined.
    pub(crate) fn element(
        &mut self,
        obj: &Map<String, Value>,
        ctx: Ctx,
        slot: Slot,
        doc: Option<usize>,
    ) -> Option<usize> {
        let v = ctx.version;
        let types: Vec<&str> = match obj.get("@type") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                a.iter().filter_map(Value::as_str).collect()
            }
            Some(_) => {
                self.slot_error(
                    slot,
                    doc,
                    "badType",
                    "@type is not a string or an array of strings".into(),
                );
                return None;
            }
        };
        let mut material = Vec::new();
        let mut semantic = Vec::new();
        let mut informal = false;
        let mut foreign_material = false;
        let mut listed_adjuncts: Vec<&'static AdjunctType> = Vec::new();
        let mut type_errors: Vec<(&'static str, String)> = Vec::new();
        for t in &types {
            let class = Class::from_term(t, v).or_else(|| {
                metamodel::core_dtmi_term(t, "class", v).and_then(|c| Class::from_term(&c, v))
            });
            if let Some(c) = class {
                if !material.contains(&c) {
                    material.push(c);
                }
                continue;
            }
            if let Some(st) = semantic_type(t, &ctx) {
                if !semantic.contains(&st) {
                    semantic.push(st);
                }
                continue;
            }
            if v == 2 && units::is_unit_type(2, t) {
                // DTDL v2 unit types are material classes of their own.
                foreign_material = true;
                continue;
            }
            if let Some(a) = extension::adjunct_type(t, &ctx) {
                if !listed_adjuncts.contains(&a) {
                    listed_adjuncts.push(a);
                }
                continue;
            }
            match classify(t, &ctx) {
                Term::InvalidDtmi => {
                    type_errors.push(("typeInvalidDtmi", format!("@type '{t}' is an invalid DTMI")))
                }
                Term::Irrelevant if ctx.undefined => informal = true,
                Term::Irrelevant => type_errors.push((
                    "typeIrrelevantDtmiOrTerm",
                    format!("@type '{t}' is not a type here"),
                )),
                Term::NotDtmiNorTerm if v == 2 => informal = true,
                Term::NotDtmiNorTerm => type_errors.push((
                    "typeNotDtmiNorTerm",
                    format!("@type '{t}' is an IRI but not a DTMI"),
                )),
                Term::Undefined if v == 2 || ctx.undefined => informal = true,
                Term::Undefined => type_errors.push((
                    "typeUndefinedTerm",
                    format!("@type '{t}' is an undefined term"),
                )),
            }
        }
        let class = match material.as_slice() {
            [] if types.is_empty() && implied_class(slot.prop, v).is_some() => {
                implied_class(slot.prop, v)?
            }
            // One DTDL type beside a foreign material one is several types (below).
            [c] if !foreign_material => *c,
            [] => {
                self.slot_error(
                    slot,
                    doc,
                    "badType",
                    format!("element's @type {types:?} names no allowed DTDL type"),
                );
                for (rule, msg) in type_errors {
                    self.slot_error(slot, doc, rule, msg);
                }
                return None;
            }
            _ => {
                self.slot_error(
                    slot,
                    doc,
                    "multipleMaterialTypes",
                    format!("@type {types:?} names several DTDL types"),
                );
                return None;
            }
        };
        if !slot.classes.contains(&class) {
            self.slot_error(
                slot,
                doc,
                "badType",
                format!("a {} is not allowed in '{}'", class.term(), slot.prop),
            );
            return None;
        }
        let parent_id = slot.parent.map(|p| self.model.elements[p].id.clone());
        let (id, explicit_id) = match obj.get("@id") {
            Some(Value::String(s)) if !s.is_empty() => (s.clone(), true),
            Some(_) => {
                self.slot_error(
                    slot,
                    doc,
                    "idNotString",
                    "'@id' is empty or not a string".into(),
                );
                (String::new(), false)
            }
            None => (String::new(), false),
        };
        let name = peek_name(obj, v);
        if slot.named && name.is_none() {
            let rule = if explicit_id {
                "missingDictKeyPropertyValue"
            } else {
                "missingDtmiSegPropertyValue"
            };
            self.slot_error(
                slot,
                doc,
                rule,
                format!("element in '{}' has no 'name'", slot.prop),
            );
            if !explicit_id {
                return None;
            }
        }
        if !explicit_id
            && obj.get("@id").is_none()
            && (class == Class::Interface || slot.prop == "schemas")
        {
            self.slot_error(
                slot,
                doc,
                "missingRequiredId",
                format!("element in '{}' has no '@id'", slot.prop),
            );
        }
        let id = match (explicit_id, &parent_id) {
            (true, _) => id,
            (false, Some(pid)) => auto_id(
                pid,
                slot.prop,
                if slot.named { name.as_deref() } else { None },
            ),
            (false, None) => id,
        };
        let idx = self.model.elements.len();
        let partition = match (class, slot.parent) {
            (Class::Interface, _) | (_, None) => idx,
            (_, Some(p)) => self.model.elements[p].partition,
        };
        self.model.elements.push(Element {
            id: id.clone(),
            class,
            semantic: Vec::new(),
            adjuncts: Vec::new(),
            informal,
            ctx: ctx.clone(),
            doc,
            parent: slot.parent.map(|p| (p, slot.prop)),
            partition,
            top_level: false,
            props: Default::default(),
        });
        if explicit_id {
            self.check_id(idx);
            self.model.by_id.entry(id).or_default().push(idx);
        }
        let rejected_cotype = !type_errors.is_empty();
        for (rule, msg) in type_errors {
            self.model.error_at(idx, rule, None, msg);
        }
        if !semantic.is_empty() {
            if !class.allows_semantic_type(v) {
                for s in &semantic {
                    self.model.error_at(
                        idx,
                        "invalidCotype",
                        None,
                        format!("semantic type {s} cannot apply to a {}", class.term()),
                    );
                }
                semantic.clear();
            } else if semantic.len() > 1 {
                self.model.error_at(
                    idx,
                    "conflictingSupplementalTypes",
                    Some("unit"),
                    format!("semantic types {semantic:?} conflict"),
                );
            }
        }
        let (adjuncts, rejected) = extension::apply(&mut self.model, idx, class, &listed_adjuncts);
        self.model.elements[idx].semantic = semantic.clone();
        self.model.elements[idx].adjuncts = adjuncts.clone();
        let cotypes = Cotypes {
            semantic: !semantic.is_empty(),
            adjuncts: &adjuncts,
            rejected: &rejected,
            rejected_cotype,
            untyped: types.is_empty(),
        };
        self.properties(idx, obj, class, &ctx, &cotypes, slot.parent.is_none());
        rules::local(&mut self.model, idx);
        Some(idx)
    }

    fn check_id(&mut self, idx: usize) {
        let el = &self.model.elements[idx];
        let (id, v, class) = (el.id.clone(), el.ctx.version, el.class);
        let rule = if id.len() > dtmi::MAX_USER_DTMI_LEN {
            Some((
                "idTooLong",
                format!("identifier is longer than {}", dtmi::MAX_USER_DTMI_LEN),
            ))
        } else if !dtmi::is_valid_user_dtmi(&id, v) {
            Some((
                "invalidId",
                format!("identifier '{id}' is invalid for DTDL v{v}"),
            ))
        } else if metamodel::is_reserved_dtmi(&id)
            || (el.ctx.iotcentral() && id.starts_with("dtmi:iotcentral:"))
        {
            Some((
                "reservedId",
                format!("identifier '{id}' begins with a reserved prefix"),
            ))
        } else if class == Class::Interface && id.len() > dtmi::MAX_INTERFACE_ID_LEN {
            Some((
                "idTooLongForType",
                format!(
                    "Interface identifier is longer than {}",
                    dtmi::MAX_INTERFACE_ID_LEN
                ),
            ))
        } else {
            None
        };
        if let Some((rule, msg)) = rule {
            self.model.error_at(idx, rule, None, msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_name("a") && is_name("a_b1") && is_name("Ab"));
        assert!(
            !is_name("_a") && !is_name("a_") && !is_name("1a") && !is_name("") && !is_name("a-b")
        );
    }
}
