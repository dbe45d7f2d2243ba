//! Relationships: create/replace, get, patch, delete, outgoing and incoming lists, errors.

use serde_json::json;

use crate::harness::*;

fn building(s: &Server) {
    s.upload_models();
    s.twin("b", BUILDING, json!({})).assert_status(200);
    s.twin("f1", FLOOR, json!({"level": 1})).assert_status(200);
    s.twin("r1", ROOM, json!({})).assert_status(200);
    s.twin("r2", ROOM, json!({})).assert_status(200);
    s.twin("s1", SENSOR, json!({})).assert_status(200);
}

#[test]
fn create_get_patch_delete() {
    let s = Server::start();
    building(&s);
    let r = s.relate("f1", "c1", "contains", "r1", json!({"since": "2020"}));
    r.assert_status(200);
    let rel = r.json();
    let etag = r.header("etag").unwrap();
    assert_eq!(rel["$relationshipId"], "c1");
    assert_eq!(rel["$sourceId"], "f1");
    assert_eq!(rel["$targetId"], "r1");
    assert_eq!(rel["$relationshipName"], "contains");
    assert_eq!(rel["since"], "2020");
    assert_eq!(rel["$etag"], etag);

    let r = s.get("/digitaltwins/f1/relationships/c1");
    r.assert_status(200);
    assert_eq!(r.json(), rel);
    assert_eq!(r.header("etag").unwrap(), etag);

    let patch = json!([{"op": "replace", "path": "/since", "value": "2021"}]);
    let r = s
        .call("PATCH", "/digitaltwins/f1/relationships/c1")
        .header("Content-Type", "application/json-patch+json")
        .header("If-Match", &etag)
        .body(patch.to_string().into_bytes());
    r.assert_status(204);
    let new_etag = r.header("etag").unwrap();
    assert_ne!(new_etag, etag);
    assert_eq!(
        s.get("/digitaltwins/f1/relationships/c1").json()["since"],
        "2021"
    );
    s.call("PATCH", "/digitaltwins/f1/relationships/c1")
        .header("Content-Type", "application/json-patch+json")
        .header("If-Match", &etag)
        .body(patch.to_string().into_bytes())
        .assert_error(412, "PreconditionFailed");
    s.patch(
        "/digitaltwins/f1/relationships/c1",
        &json!([{"op": "add", "path": "/unknown", "value": 1}]),
    )
    .assert_error(400, "ValidationFailed");
    s.patch(
        "/digitaltwins/f1/relationships/c1",
        &json!([{"op": "copy", "from": "/since", "path": "/x"}]),
    )
    .assert_error(400, "JsonPatchInvalid");

    // create-only
    s.call("PUT", "/digitaltwins/f1/relationships/c1")
        .header("If-None-Match", "*")
        .json(&json!({"$relationshipName": "contains", "$targetId": "r2"}))
        .assert_error(412, "PreconditionFailed");

    s.call("DELETE", "/digitaltwins/f1/relationships/c1")
        .header("If-Match", &etag)
        .send()
        .assert_error(412, "PreconditionFailed");
    s.delete("/digitaltwins/f1/relationships/c1")
        .assert_status(204);
    s.get("/digitaltwins/f1/relationships/c1")
        .assert_error(404, "RelationshipNotFound");
    s.delete("/digitaltwins/f1/relationships/c1")
        .assert_error(404, "RelationshipNotFound");
    s.get("/digitaltwins/nope/relationships/c1")
        .assert_error(404, "DigitalTwinNotFound");
}

#[test]
fn put_errors() {
    let s = Server::start();
    building(&s);
    s.relate("f1", "x", "contains", "missing", json!({}))
        .assert_error(404, "TargetTwinNotFound");
    s.relate("nope", "x", "contains", "r1", json!({}))
        .assert_error(404, "DigitalTwinNotFound");
    s.relate("f1", "x", "contains", "f1", json!({}))
        .assert_error(400, "OperationNotAllowed");
    // Not a relationship of Floor, and a target of the wrong model.
    s.relate("f1", "x", "hasSensor", "s1", json!({}))
        .assert_error(400, "InvalidRelationship");
    s.relate("f1", "x", "contains", "s1", json!({}))
        .assert_error(400, "InvalidRelationship");
    s.relate("f1", "x", "contains", "r1", json!({"since": 5}))
        .assert_error(400, "ValidationFailed");
    s.put(
        "/digitaltwins/f1/relationships/x",
        &json!({"$targetId": "r1"}),
    )
    .assert_error(400, "InvalidArgument");
}

#[test]
fn lists() {
    let s = Server::start();
    building(&s);
    s.relate("b", "h1", "hasFloor", "f1", json!({}))
        .assert_status(200);
    s.relate("f1", "c1", "contains", "r1", json!({}))
        .assert_status(200);
    s.relate("f1", "c2", "contains", "r2", json!({"since": "x"}))
        .assert_status(200);
    s.relate("r1", "hs", "hasSensor", "s1", json!({}))
        .assert_status(200);

    let r = s.get("/digitaltwins/f1/relationships");
    r.assert_status(200);
    let v = r.json();
    let ids: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["$relationshipId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["c1", "c2"]);
    assert_eq!(v["value"][1]["since"], "x");
    assert!(v["value"][1]["$etag"].is_string());

    let r = s.get("/digitaltwins/b/relationships?relationshipName=hasFloor");
    assert_eq!(r.json()["value"].as_array().unwrap().len(), 1);
    let r = s.get("/digitaltwins/b/relationships?relationshipName=contains");
    assert_eq!(r.json()["value"], json!([]));

    let r = s.get("/digitaltwins/r1/incomingrelationships");
    r.assert_status(200);
    assert_eq!(
        r.json()["value"],
        json!([{"$relationshipId": "c1", "$sourceId": "f1", "$relationshipName": "contains",
                "$relationshipLink": "/digitaltwins/f1/relationships/c1"}])
    );
    s.get("/digitaltwins/nope/relationships")
        .assert_error(404, "DigitalTwinNotFound");
    s.get("/digitaltwins/nope/incomingrelationships")
        .assert_error(404, "DigitalTwinNotFound");
}
