//! Instances of a resolved Interface: a JSON object (a twin's members, or a component's)
//! whose every member that does not start with `$` is a Property of the Interface holding a
//! value of its schema, or, at the top level, a Component whose object is an instance of the
//! component's own Interface. Every Component must be present.

use serde_json::{Map, Value};

use crate::catalog::{Catalog, FlatModel, RelationshipDef};

/// Why an object is not an instance; the message starts with the JSON pointer of the
/// offending member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InstanceError(pub String);

impl Catalog {
    /// Checks `instance` against `model` (see the module comment); `value` is called on each
    /// property value that conforms, with its path, for checks of the caller's own (limits).
    pub fn check_instance(
        &self,
        model: &FlatModel,
        instance: &Map<String, Value>,
        value: &mut dyn FnMut(&str, &Value) -> Result<(), String>,
    ) -> Result<(), InstanceError> {
        check_members(instance, model, "", value)?;
        for (name, interface) in &model.components {
            let Some(component) = instance.get(name) else {
                return Err(InstanceError(format!(
                    "component '{name}' is required: components must be present when a twin is created (use {{\"$metadata\": {{}}}})"
                )));
            };
            let component = component.as_object().ok_or_else(|| {
                InstanceError(format!("/{name}: a component must be a JSON object"))
            })?;
            let component_model = self.get(interface).ok_or_else(|| {
                InstanceError(format!(
                    "/{name}: the component's model {interface} is not stored"
                ))
            })?;
            check_members(component, component_model, &format!("/{name}"), value)?;
        }
        Ok(())
    }
}

impl RelationshipDef {
    /// Checks a relationship instance: every member that does not start with `$` is a
    /// Property of the relationship with a value of its schema; `value` as in
    /// `Catalog::check_instance`.
    pub fn check_instance(
        &self,
        instance: &Map<String, Value>,
        value: &mut dyn FnMut(&str, &Value) -> Result<(), String>,
    ) -> Result<(), InstanceError> {
        for (key, member) in instance.iter().filter(|(k, _)| !k.starts_with('$')) {
            let path = format!("/{key}");
            let schema = self.properties.get(key).ok_or_else(|| {
                InstanceError(format!(
                    "{path}: '{key}' is not a property of relationship '{}'",
                    self.name
                ))
            })?;
            schema
                .check(member)
                .map_err(|e| InstanceError(format!("{path}{}: {}", e.path, e.reason)))?;
            value(&path, member).map_err(InstanceError)?;
        }
        Ok(())
    }
}

/// Checks the members of a twin or of a component (`prefix` is the component's path).
fn check_members(
    object: &Map<String, Value>,
    model: &FlatModel,
    prefix: &str,
    value_check: &mut dyn FnMut(&str, &Value) -> Result<(), String>,
) -> Result<(), InstanceError> {
    let is_component = !prefix.is_empty();
    for (key, value) in object {
        if key.starts_with('$') {
            continue;
        }
        let path = format!("{prefix}/{key}");
        if let Some(schema) = model.properties.get(key) {
            schema
                .check(value)
                .map_err(|e| InstanceError(format!("{path}{}: {}", e.path, e.reason)))?;
            value_check(&path, value).map_err(InstanceError)?;
        } else if !is_component && model.components.contains_key(key) {
            // Checked against the component's own model.
        } else if model.telemetries.contains_key(key) {
            return Err(InstanceError(format!(
                "{path}: '{key}' is a Telemetry of {}; telemetry is sent, not stored",
                model.id
            )));
        } else {
            return Err(InstanceError(format!(
                "{path}: '{key}' is not a property{} of {}",
                if is_component { "" } else { " or component" },
                model.id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        let thermostat = json!({"@id": "dtmi:t:Thermostat;1", "@type": "Interface",
            "@context": "dtmi:dtdl:context;3",
            "contents": [{"@type": "Property", "name": "setPoint", "schema": "double"}]});
        let room = json!({"@id": "dtmi:t:Room;1", "@type": "Interface",
            "@context": "dtmi:dtdl:context;3",
            "contents": [
                {"@type": "Property", "name": "name", "schema": "string"},
                {"@type": "Telemetry", "name": "temp", "schema": "double"},
                {"@type": "Component", "name": "thermostat", "schema": "dtmi:t:Thermostat;1"}]});
        Catalog::build(&[thermostat, room]).unwrap()
    }

    fn check(instance: Value) -> Result<(), InstanceError> {
        let catalog = catalog();
        let room = catalog.get("dtmi:t:Room;1").unwrap().clone();
        catalog.check_instance(&room, instance.as_object().unwrap(), &mut |_, _| Ok(()))
    }

    #[test]
    fn members_conform_to_the_interface() {
        check(json!({"name": "r", "$metadata": {}, "thermostat": {"setPoint": 20.5}})).unwrap();
        let errs = [
            (json!({"thermostat": {}, "name": 3}), "/name"),
            (json!({"thermostat": {}, "temp": 1}), "Telemetry"),
            (
                json!({"thermostat": {}, "other": 1}),
                "not a property or component",
            ),
            (
                json!({"thermostat": {"setPoint": "x"}}),
                "/thermostat/setPoint",
            ),
            (
                json!({"thermostat": {"name": "x"}}),
                "is not a property of dtmi:t:Thermostat;1",
            ),
            (json!({"thermostat": 1}), "must be a JSON object"),
            (json!({}), "component 'thermostat' is required"),
        ];
        for (instance, words) in errs {
            let err = check(instance.clone()).unwrap_err().to_string();
            assert!(err.contains(words), "{instance}: {err}");
        }
    }

    #[test]
    fn the_callers_checks_see_each_conforming_value() {
        let catalog = catalog();
        let room = catalog.get("dtmi:t:Room;1").unwrap().clone();
        let instance = json!({"name": "long", "thermostat": {"setPoint": 1.0}});
        let mut seen = Vec::new();
        let result = catalog.check_instance(&room, instance.as_object().unwrap(), &mut |p, _| {
            seen.push(p.to_string());
            if p == "/thermostat/setPoint" {
                Err(format!("{p}: refused by the caller"))
            } else {
                Ok(())
            }
        });
        assert_eq!(seen, ["/name", "/thermostat/setPoint"]);
        assert_eq!(
            result.unwrap_err().0,
            "/thermostat/setPoint: refused by the caller"
        );
    }
}
