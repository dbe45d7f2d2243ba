//! serde types for ADT's JSON wire shapes. Engine types do not derive `Serialize` for the
//! wire; handlers convert them here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use twingraph_engine::StoredModel;

/// `DigitalTwinsModelData`: what model upload, list and get return.
#[derive(Serialize)]
pub struct ModelData<'a> {
    pub id: &'a str,
    #[serde(rename = "displayName", skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Value>,
    #[serde(rename = "uploadTime")]
    pub upload_time: &'a str,
    pub decommissioned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a Value>,
}

impl<'a> ModelData<'a> {
    pub fn new(model: &'a StoredModel, include_definition: bool) -> ModelData<'a> {
        ModelData {
            id: &model.id,
            display_name: language_map(model.definition.get("displayName")),
            description: language_map(model.definition.get("description")),
            upload_time: &model.upload_time,
            decommissioned: model.decommissioned,
            model: include_definition.then_some(&model.definition),
        }
    }
}

/// DTDL allows a plain string where ADT returns a language map: a string becomes
/// `{"en": …}` (the Python SDK fails to deserialize a plain string).
fn language_map(value: Option<&Value>) -> Option<Value> {
    match value? {
        Value::String(s) => {
            let mut map = Map::new();
            map.insert("en".into(), Value::String(s.clone()));
            Some(Value::Object(map))
        }
        v @ Value::Object(_) => Some(v.clone()),
        _ => None,
    }
}

/// One page of a list: `{"value": […], "nextLink": url | null}`.
#[derive(Serialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "nextLink")]
    pub next_link: Option<String>,
}

/// An event route as GET returns it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EventRoute {
    pub id: String,
    #[serde(rename = "endpointName")]
    pub endpoint_name: String,
    pub filter: String,
}

/// The body of `POST /query` (`QuerySpecification`).
#[derive(Deserialize)]
pub struct QuerySpecification {
    #[serde(default)]
    pub query: Option<String>,
    #[serde(rename = "continuationToken", default)]
    pub continuation_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn model_data_uses_language_maps() {
        let stored = StoredModel {
            id: "dtmi:a:B;1".into(),
            definition: json!({"@id": "dtmi:a:B;1", "displayName": "B", "description": {"de": "b"}}),
            upload_time: "2022-02-28T00:30:00.1234567Z".into(),
            decommissioned: false,
        };
        let v = serde_json::to_value(ModelData::new(&stored, false)).unwrap();
        assert_eq!(
            v,
            json!({"id": "dtmi:a:B;1", "displayName": {"en": "B"}, "description": {"de": "b"},
                   "uploadTime": "2022-02-28T00:30:00.1234567Z", "decommissioned": false})
        );
        let v = serde_json::to_value(ModelData::new(&stored, true)).unwrap();
        assert_eq!(v["model"]["@id"], "dtmi:a:B;1");
    }
}
