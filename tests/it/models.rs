//! `/models`: upload, list, get, decommission, delete, and their error codes.

use serde_json::json;

use crate::harness::*;

#[test]
fn upload_returns_201_with_model_data() {
    let s = Server::start();
    let r = s.post("/models", &all_models());
    r.assert_status(201);
    let items = r.json();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 6);
    let space = items.iter().find(|m| m["id"] == SPACE).unwrap();
    // A string displayName/description becomes a language map; no `model` field.
    assert_eq!(space["displayName"], json!({"en": "Space"}));
    assert_eq!(
        space["description"],
        json!({"en": "Anything in a building that has a name."})
    );
    assert_eq!(space["decommissioned"], false);
    assert!(space["uploadTime"].as_str().unwrap().ends_with('Z'));
    assert!(space.get("model").is_none());
    let thermostat = items.iter().find(|m| m["id"] == THERMOSTAT).unwrap();
    assert_eq!(
        thermostat["displayName"],
        json!({"en": "Thermostat", "de": "Thermostat"})
    );
}

#[test]
fn upload_errors() {
    let s = Server::start();
    s.upload_models();
    // Models are immutable: the same id again is a conflict, and nothing of the batch lands.
    let again = json!([model("space")]);
    s.post("/models", &again)
        .assert_error(409, "ModelAlreadyExists");
    s.post("/models", &json!([model("invalid-model")]))
        .assert_error(400, "DTDLParserError");
    s.post("/models", &json!([model("future-version-model")]))
        .assert_error(400, "ModelVersionNotSupported");
    s.get(&format!("/models/{}", enc("dtmi:twingraph:test:Broken;1")))
        .assert_error(404, "ModelNotFound");
    s.post("/models", &json!([]))
        .assert_error(400, "InvalidArgument");
    s.post("/models", &json!({"@id": "x"}))
        .assert_error(400, "InvalidArgument");
    let many: Vec<_> = (0..251)
        .map(|i| json!({"@id": format!("dtmi:x:M{i};1"), "@type": "Interface", "@context": "dtmi:dtdl:context;2"}))
        .collect();
    s.post("/models", &json!(many))
        .assert_error(400, "LimitExceeded");
}

#[test]
fn upload_is_atomic() {
    let s = Server::start();
    let batch = json!([model("space"), model("invalid-model")]);
    s.post("/models", &batch)
        .assert_error(400, "DTDLParserError");
    s.get(&format!("/models/{}", enc(SPACE)))
        .assert_error(404, "ModelNotFound");
}

#[test]
fn get_and_list() {
    let s = Server::start();
    s.upload_models();
    let r = s.get(&format!("/models/{}", enc(ROOM)));
    r.assert_status(200);
    assert_eq!(r.json()["id"], ROOM);
    assert!(r.json().get("model").is_none());
    let r = s.get(&format!(
        "/models/{}?includeModelDefinition=true",
        enc(ROOM)
    ));
    assert_eq!(r.json()["model"]["@id"], ROOM);
    assert_eq!(r.json()["model"]["extends"], SPACE);
    s.get(&format!("/models/{}", enc("dtmi:nope:X;1")))
        .assert_error(404, "ModelNotFound");

    let r = s.get("/models?includeModelDefinition=false");
    r.assert_status(200);
    let list = r.json();
    assert_eq!(list["value"].as_array().unwrap().len(), 6);
    assert!(list["nextLink"].is_null());
}

#[test]
fn dependencies_for() {
    let s = Server::start();
    s.upload_models();
    let ids = |r: &Resp| {
        let mut ids: Vec<String> = r.json()["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    // Room extends Space and uses Thermostat as a component; the Sensor target is no dependency.
    let r = s.get(&format!("/models?dependenciesFor={}", enc(ROOM)));
    assert_eq!(ids(&r), vec![ROOM, SPACE, THERMOSTAT]);
    // Python repeats the parameter, JavaScript joins with commas.
    let r = s.get(&format!(
        "/models?dependenciesFor={}&dependenciesFor={}&includeModelDefinition=true",
        enc(SENSOR),
        enc(BUILDING)
    ));
    assert_eq!(ids(&r), vec![BUILDING, SENSOR, SPACE]);
    assert!(r.json()["value"][0]["model"].is_object());
    let r = s.get(&format!(
        "/models?dependenciesFor={},{}",
        enc(SENSOR),
        enc(BUILDING)
    ));
    assert_eq!(ids(&r), vec![BUILDING, SENSOR, SPACE]);
    s.get(&format!("/models?dependenciesFor={}", enc("dtmi:nope:X;1")))
        .assert_error(404, "ModelNotFound");
    let too_many: Vec<String> = (0..251)
        .map(|i| format!("dependenciesFor={}", enc(&format!("dtmi:x:M{i};1"))))
        .collect();
    s.get(&format!("/models?{}", too_many.join("&")))
        .assert_error(400, "LimitExceeded");
    s.get(&format!(
        "/models/{}?includeModelDefinition=maybe",
        enc(ROOM)
    ))
    .assert_error(400, "InvalidArgument");
}

#[test]
fn decommission() {
    let s = Server::start();
    s.upload_models();
    s.twin("old-sensor", SENSOR, json!({})).assert_status(200);
    let path = format!("/models/{}", enc(SENSOR));
    let patch = json!([{"op": "replace", "path": "/decommissioned", "value": true}]);
    s.patch(&path, &patch).assert_status(204);
    assert_eq!(s.get(&path).json()["decommissioned"], true);
    // New twins are refused; existing ones keep working.
    s.twin("new-sensor", SENSOR, json!({}))
        .assert_error(400, "ModelDecommissioned");
    s.patch(
        "/digitaltwins/old-sensor",
        &json!([{"op": "add", "path": "/kind", "value": "co2"}]),
    )
    .assert_status(204);
    for bad in [
        json!([{"op": "replace", "path": "/displayName", "value": "x"}]),
        json!([{"op": "replace", "path": "/decommissioned", "value": false}]),
        json!([]),
    ] {
        s.patch(&path, &bad).assert_error(400, "JsonPatchInvalid");
    }
    s.patch(&format!("/models/{}", enc("dtmi:nope:X;1")), &patch)
        .assert_error(404, "ModelNotFound");
}

#[test]
fn delete() {
    let s = Server::start();
    s.upload_models();
    // Room extends Space: Space cannot go while Room exists.
    s.delete(&format!("/models/{}", enc(SPACE)))
        .assert_error(409, "ModelReferencesNotDeleted");
    // A model twins use can be deleted; the twins stay readable.
    s.twin("b1", BUILDING, json!({"name": "HQ"}))
        .assert_status(200);
    s.delete(&format!("/models/{}", enc(BUILDING)))
        .assert_status(204);
    s.get(&format!("/models/{}", enc(BUILDING)))
        .assert_error(404, "ModelNotFound");
    assert_eq!(s.get("/digitaltwins/b1").json()["name"], "HQ");
    s.delete(&format!("/models/{}", enc(BUILDING)))
        .assert_error(404, "ModelNotFound");
}

/// A model set from `tests/data/dtdl/extensions/`.
fn extension_models(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dtdl/extensions")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Issue 14: DTDL v3 models using the QuantitativeTypes, Historization, Annotation, Overriding
/// and Mqtt extensions are accepted, their twins validate as before, and a misuse is a DTDL
/// error naming the official parser's rule.
#[test]
fn language_extensions() {
    const SENSOR_EXT: &str = "dtmi:twingraph:ext:Sensor;1";
    let s = Server::start();
    let r = s.post("/models", &extension_models("valid"));
    r.assert_status(201);
    assert_eq!(r.json().as_array().map(Vec::len), Some(3));
    // Co-typed Properties are still properties; an Override of a unit takes unit names.
    s.twin(
        "s1",
        SENSOR_EXT,
        json!({"targetTemp": 21.5, "targetTempNote": "calibrated", "currentTempUnit": "degreeCelsius"}),
    )
    .assert_status(200);
    s.twin("s2", SENSOR_EXT, json!({"currentTempUnit": "metre"}))
        .assert_error(400, "ValidationFailed");
    let r = s.post("/models", &extension_models("invalid"));
    r.assert_error(400, "DTDLParserError");
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("siblingPropertyMismatch"), "{message}");
    s.get(&format!(
        "/models/{}",
        enc("dtmi:twingraph:ext:BadSensor;1")
    ))
    .assert_error(404, "ModelNotFound");
}
