//! The resolved model set: every stored Interface flattened once (inherited contents, component
//! interfaces, relationship definitions, ancestors), plus the reverse `extends` index and the
//! dependency edges model deletion and `dependenciesFor` need.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::element::Model;
use super::metamodel::Class;
use super::parse::Parser;
use super::{resolve, validate, Options, Schema};

/// One relationship a model defines or inherits.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationshipDef {
    pub name: String,
    /// Target Interface DTMI; `None` means any twin.
    pub target: Option<String>,
    pub max_multiplicity: Option<u64>,
    /// Relationship properties by name.
    pub properties: BTreeMap<String, Schema>,
}

/// An Interface with everything it inherits, ready for twin validation.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatModel {
    pub id: String,
    /// `id` itself and every Interface it extends, transitively.
    pub ancestors: BTreeSet<String>,
    /// Property name → schema (own and inherited).
    pub properties: BTreeMap<String, Schema>,
    /// Component name → the component's Interface DTMI.
    pub components: BTreeMap<String, String>,
    /// Relationship name → definition.
    pub relationships: BTreeMap<String, RelationshipDef>,
    /// Telemetry name → schema.
    pub telemetries: BTreeMap<String, Schema>,
    /// Command names.
    pub commands: BTreeSet<String>,
}

/// All stored models, resolved.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Every Interface, top-level or defined inline (components of twins may refer to either).
    models: HashMap<String, Arc<FlatModel>>,
    /// model id → ids of models that extend it directly or transitively (not including itself).
    descendants: HashMap<String, BTreeSet<String>>,
    /// stored model id → stored models it needs directly (through `extends` or a component
    /// schema, its inline Interfaces' needs included).
    needs: BTreeMap<String, BTreeSet<String>>,
}

/// The top-level Interface whose definition contains element `idx`.
fn owner(model: &Model, mut idx: usize) -> usize {
    while let Some((p, _)) = model.elements[idx].parent {
        idx = p;
    }
    idx
}

impl Catalog {
    /// Resolves every stored definition. The definitions were validated when stored, so an
    /// error here means the store holds something the validator no longer accepts.
    pub fn build(definitions: &[serde_json::Value]) -> Result<Catalog, Vec<super::DtdlError>> {
        // Stored models were accepted under whatever options their upload used.
        let opts = Options {
            allow_undefined_extensions: Some(true),
        };
        let mut parser = Parser::new(opts);
        for (i, d) in definitions.iter().enumerate() {
            parser.document(d, Some(i));
        }
        let mut model = parser.model;
        validate::run(&mut model);
        if !model.errors.is_empty() {
            return Err(model.errors);
        }
        let mut catalog = Catalog::default();
        for idx in 0..model.elements.len() {
            let el = &model.elements[idx];
            if el.class != Class::Interface {
                continue;
            }
            let flat = resolve::flatten(&model, idx);
            for a in resolve::ancestors(&model, idx).into_iter().skip(1) {
                catalog
                    .descendants
                    .entry(model.elements[a].id.clone())
                    .or_default()
                    .insert(el.id.clone());
            }
            let own = model.elements[owner(&model, idx)].id.clone();
            let mut direct = model.children(idx, "extends");
            for c in model.children(idx, "contents") {
                if model.elements[c].class == Class::Component {
                    direct.extend(model.children(c, "schema"));
                }
            }
            let needs = catalog.needs.entry(own.clone()).or_default();
            for d in direct {
                let dep = model.elements[owner(&model, d)].id.clone();
                if dep != own {
                    needs.insert(dep);
                }
            }
            catalog.models.insert(el.id.clone(), Arc::new(flat));
        }
        Ok(catalog)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<FlatModel>> {
        self.models.get(id)
    }

    /// Models that extend `id`, transitively (not `id` itself).
    pub fn descendants(&self, id: &str) -> Option<&BTreeSet<String>> {
        self.descendants.get(id)
    }

    /// Stored models `id` needs, transitively, through `extends` and component schemas
    /// (`GET /models?dependenciesFor=`). Does not include `id`.
    pub fn dependencies(&self, id: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo = vec![id.to_string()];
        while let Some(next) = todo.pop() {
            for d in self.needs.get(&next).into_iter().flatten() {
                if d != id && out.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        out
    }

    /// Stored models that extend `id` or use it as a component schema, directly; a model
    /// cannot be deleted while any exist.
    pub fn dependents(&self, id: &str) -> Vec<String> {
        self.needs
            .iter()
            .filter(|(m, needs)| *m != id && needs.contains(id))
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// Ids of every resolved Interface, inline ones included.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }

    /// Number of resolved Interfaces, inline ones included.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        let base = json!({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Base;1", "@type": "Interface",
            "contents": [{"@type": "Property", "name": "p", "schema": "double"},
                         {"@type": "Relationship", "name": "r", "target": "dtmi:ex:Base;1", "maxMultiplicity": 3}]});
        let part = json!({"@context": "dtmi:dtdl:context;2", "@id": "dtmi:ex:Part;1", "@type": "Interface",
            "contents": [{"@type": "Telemetry", "name": "t", "schema": "integer"}]});
        let derived = json!({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:Derived;1", "@type": "Interface",
            "extends": "dtmi:ex:Base;1",
            "contents": [{"@type": "Component", "name": "c", "schema": "dtmi:ex:Part;1"},
                         {"@type": "Component", "name": "inline", "schema": {"@id": "dtmi:ex:Inline;1", "@type": "Interface",
                             "extends": "dtmi:ex:Part;1"}},
                         {"@type": "Command", "name": "go"}]});
        Catalog::build(&[derived, base, part]).unwrap()
    }

    #[test]
    fn flattens_inheritance() {
        let c = catalog();
        let d = c.get("dtmi:ex:Derived;1").unwrap();
        assert!(
            d.ancestors.contains("dtmi:ex:Base;1") && d.ancestors.contains("dtmi:ex:Derived;1")
        );
        assert_eq!(d.properties.get("p"), Some(&Schema::Double));
        assert_eq!(d.relationships["r"].max_multiplicity, Some(3));
        assert_eq!(d.components["c"], "dtmi:ex:Part;1");
        assert!(d.commands.contains("go"));
        assert_eq!(
            c.get("dtmi:ex:Inline;1").unwrap().telemetries.get("t"),
            Some(&Schema::Integer)
        );
        assert!(c
            .descendants("dtmi:ex:Base;1")
            .unwrap()
            .contains("dtmi:ex:Derived;1"));
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn dependency_edges() {
        let c = catalog();
        let deps = c.dependencies("dtmi:ex:Derived;1");
        assert_eq!(
            deps.into_iter().collect::<Vec<_>>(),
            ["dtmi:ex:Base;1", "dtmi:ex:Part;1"]
        );
        assert_eq!(c.dependents("dtmi:ex:Part;1"), ["dtmi:ex:Derived;1"]);
        assert!(c.dependents("dtmi:ex:Derived;1").is_empty());
    }

    /// Extension co-types do not change what an element is to a twin: a Historized or
    /// annotating Property is a property, an Override of a unit an Enum of unit names.
    #[test]
    fn extension_cotypes_keep_properties() {
        let sensor = json!({"@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1",
                                         "dtmi:dtdl:extension:historization;1", "dtmi:dtdl:extension:annotation;1",
                                         "dtmi:dtdl:extension:overriding;1"],
            "@id": "dtmi:ex:Sensor;1", "@type": "Interface",
            "contents": [
                {"@type": ["Property", "Temperature", "Historized"], "name": "temp", "schema": "double", "unit": "kelvin"},
                {"@type": ["Property", "ValueAnnotation"], "name": "note", "annotates": "temp", "schema": "string"},
                {"@type": ["Property", "ValueAnnotation", "Override"], "name": "tempUnit", "annotates": "temp",
                 "overrides": "unit", "schema": "TemperatureUnit", "writable": true},
                {"@type": ["Telemetry", "Historized"], "name": "t", "schema": "integer"}]});
        let c = Catalog::build(&[sensor]).unwrap();
        let m = c.get("dtmi:ex:Sensor;1").unwrap();
        assert_eq!(m.properties.get("temp"), Some(&Schema::Double));
        assert_eq!(m.properties.get("note"), Some(&Schema::String));
        assert_eq!(m.telemetries.get("t"), Some(&Schema::Integer));
        let unit = &m.properties["tempUnit"];
        assert!(unit.check(&json!("degreeCelsius")).is_ok());
        assert!(unit.check(&json!("metre")).is_err());
    }

    #[test]
    fn rejects_what_does_not_resolve() {
        let lone = json!({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:A;1", "@type": "Interface", "extends": "dtmi:ex:Missing;1"});
        let errs = Catalog::build(&[lone]).unwrap_err();
        assert_eq!(errs[0].rule, "unresolvedIdentifiers");
    }
}
