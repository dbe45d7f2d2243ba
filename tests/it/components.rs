//! Components: get (with the twin's ETag) and patch.

use serde_json::json;

use crate::harness::*;

#[test]
fn get_and_patch() {
    let s = Server::start();
    s.upload_models();
    let body = json!({"$metadata": {"$model": ROOM},
                      "thermostat": {"$metadata": {}, "setpoint": 20.5}});
    let etag = s
        .put("/digitaltwins/r", &body)
        .assert_status(200)
        .header("etag")
        .unwrap();
    let r = s.get("/digitaltwins/r/components/thermostat");
    r.assert_status(200);
    assert_eq!(r.header("etag").unwrap(), etag);
    let c = r.json();
    assert_eq!(c["setpoint"], 20.5);
    assert!(c["$metadata"].is_object());
    assert!(c["$metadata"].get("$model").is_none());

    let r = s
        .call("PATCH", "/digitaltwins/r/components/thermostat")
        .header("Content-Type", "application/json-patch+json")
        .header("If-Match", &etag)
        .body(
            json!([{"op": "replace", "path": "/setpoint", "value": 22.0}])
                .to_string()
                .into_bytes(),
        );
    r.assert_status(204);
    let new_etag = r.header("etag").unwrap();
    assert_ne!(new_etag, etag);
    assert_eq!(
        s.get("/digitaltwins/r").json()["thermostat"]["setpoint"],
        22.0
    );
    s.call("PATCH", "/digitaltwins/r/components/thermostat")
        .header("Content-Type", "application/json-patch+json")
        .header("If-Match", &etag)
        .body(b"[]".to_vec())
        .assert_error(412, "PreconditionFailed");
    s.patch(
        "/digitaltwins/r/components/thermostat",
        &json!([{"op": "add", "path": "/nope", "value": 1}]),
    )
    .assert_error(400, "ValidationFailed");

    s.patch(
        "/digitaltwins/r/components/thermostat",
        &json!([{"op": "test", "path": "/setpoint", "value": 1}]),
    )
    .assert_error(400, "JsonPatchInvalid");
    s.patch(
        "/digitaltwins/nope/components/thermostat",
        &json!([{"op": "add", "path": "/setpoint", "value": 1}]),
    )
    .assert_error(404, "DigitalTwinNotFound");
    s.get("/digitaltwins/r/components/nope")
        .assert_error(404, "ComponentNotFound");
    // A property is not a component.
    s.get("/digitaltwins/r/components/capacity")
        .assert_error(404, "ComponentNotFound");
    s.get("/digitaltwins/nope/components/thermostat")
        .assert_error(404, "DigitalTwinNotFound");
}
