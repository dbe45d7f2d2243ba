//! `/digitaltwins/{id}`: create/replace, get, JSON Patch, delete, telemetry; etags and errors.

use serde_json::json;

use crate::harness::*;

#[test]
fn create_get_replace() {
    let s = Server::start();
    s.upload_models();
    let r = s.twin("room-1", ROOM, json!({"name": "Lab", "capacity": 12}));
    // 200 (never 201) on creation, with the stored twin and its ETag.
    r.assert_status(200);
    let twin = r.json();
    let etag = r.header("etag").unwrap();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(twin["$etag"], etag);
    assert_eq!(twin["$dtId"], "room-1");
    assert_eq!(twin["$metadata"]["$model"], ROOM);
    assert!(twin["$metadata"]["$lastUpdateTime"].is_string());
    assert_eq!(twin["capacity"], 12);
    assert!(twin["thermostat"]["$metadata"].is_object());

    let put_body = r.body.clone();
    let r = s.get("/digitaltwins/room-1");
    r.assert_status(200);
    assert_eq!(r.header("etag").unwrap(), etag);
    assert_eq!(r.json(), twin);
    // GET sends the stored bytes; they are the same serialization PUT answered with.
    assert_eq!(r.body, put_body);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));

    // Replace: properties not supplied go away; the etag changes; $dtId in the body is ignored.
    let body = json!({"$dtId": "other", "$metadata": {"$model": ROOM}, "name": "Lab 2",
                      "thermostat": {"$metadata": {}}});
    let r = s.put("/digitaltwins/room-1", &body);
    r.assert_status(200);
    assert_eq!(r.json()["$dtId"], "room-1");
    assert!(r.json().get("capacity").is_none());
    assert_ne!(r.header("etag").unwrap(), etag);
}

#[test]
fn create_only_with_if_none_match() {
    let s = Server::start();
    s.upload_models();
    let body = json!({"$metadata": {"$model": SENSOR}});
    s.call("PUT", "/digitaltwins/s1")
        .header("If-None-Match", "*")
        .json(&body)
        .assert_status(200);
    s.call("PUT", "/digitaltwins/s1")
        .header("If-None-Match", "*")
        .json(&body)
        .assert_error(412, "PreconditionFailed");
    s.call("PUT", "/digitaltwins/s1")
        .header("If-None-Match", "W/\"abc\"")
        .json(&body)
        .assert_error(400, "InvalidArgument");
}

#[test]
fn put_errors() {
    let s = Server::start();
    s.upload_models();
    s.twin("x", SENSOR, json!({"nope": 1}))
        .assert_error(400, "ValidationFailed");
    s.twin("x", SENSOR, json!({"kind": 5}))
        .assert_error(400, "ValidationFailed");
    s.put("/digitaltwins/x", &json!({"kind": "a"}))
        .assert_error(400, "ValidationFailed");
    // A component must be present at creation.
    s.put("/digitaltwins/x", &json!({"$metadata": {"$model": ROOM}}))
        .assert_error(400, "ValidationFailed");
    s.get("/digitaltwins/x")
        .assert_error(404, "DigitalTwinNotFound");
}

#[test]
fn patch_with_etags() {
    let s = Server::start();
    s.upload_models();
    let etag = s
        .twin("r", ROOM, json!({"capacity": 1}))
        .header("etag")
        .unwrap();
    let patch = json!([{"op": "replace", "path": "/capacity", "value": 2},
                       {"op": "add", "path": "/name", "value": "Kitchen"}]);
    let r = s
        .call("PATCH", "/digitaltwins/r")
        .header("Content-Type", "application/json-patch+json")
        .header("If-Match", &etag)
        .body(patch.to_string().into_bytes());
    r.assert_status(204);
    assert!(r.body.is_empty());
    let new_etag = r.header("etag").unwrap();
    assert_ne!(new_etag, etag);
    let twin = s.get("/digitaltwins/r").json();
    assert_eq!(twin["capacity"], 2);
    assert_eq!(twin["name"], "Kitchen");
    assert_eq!(twin["$etag"], new_etag);

    // The old etag no longer matches; `*` always does.
    s.call("PATCH", "/digitaltwins/r")
        .header("If-Match", &etag)
        .header("Content-Type", "application/json-patch+json")
        .body(patch.to_string().into_bytes())
        .assert_error(412, "PreconditionFailed");
    s.call("PATCH", "/digitaltwins/r")
        .header("If-Match", "*")
        .header("Content-Type", "application/json-patch+json")
        .body(patch.to_string().into_bytes())
        .assert_status(204);

    s.patch(
        "/digitaltwins/r",
        &json!([{"op": "move", "from": "/name", "path": "/x"}]),
    )
    .assert_error(400, "JsonPatchInvalid");
    s.patch(
        "/digitaltwins/r",
        &json!([{"op": "add", "path": "/capacity", "value": "many"}]),
    )
    .assert_error(400, "ValidationFailed");
    s.patch(
        "/digitaltwins/nope",
        &json!([{"op": "add", "path": "/capacity", "value": 1}]),
    )
    .assert_error(404, "DigitalTwinNotFound");
}

#[test]
fn delete_with_and_without_relationships() {
    let s = Server::start();
    s.upload_models();
    s.twin("f", FLOOR, json!({})).assert_status(200);
    let etag = s.twin("r", ROOM, json!({})).header("etag").unwrap();
    s.relate("f", "c1", "contains", "r", json!({}))
        .assert_status(200);
    // Relationships in either direction block deletion (400, not 409).
    s.delete("/digitaltwins/r")
        .assert_error(400, "RelationshipsNotDeleted");
    s.delete("/digitaltwins/f")
        .assert_error(400, "RelationshipsNotDeleted");
    s.delete("/digitaltwins/f/relationships/c1")
        .assert_status(204);
    s.call("DELETE", "/digitaltwins/r")
        .header("If-Match", "W/\"stale\"")
        .send()
        .assert_error(412, "PreconditionFailed");
    s.call("DELETE", "/digitaltwins/r")
        .header("If-Match", &etag)
        .send()
        .assert_status(204);
    s.get("/digitaltwins/r")
        .assert_error(404, "DigitalTwinNotFound");
    s.delete("/digitaltwins/r")
        .assert_error(404, "DigitalTwinNotFound");
}

#[test]
fn ids_are_single_percent_encoded_segments() {
    let s = Server::start();
    s.upload_models();
    for id in ["room 1/ä", "a%b", "dtmi:like;1", "UPPER-lower"] {
        let path = format!("/digitaltwins/{}", enc(id));
        s.twin(id, SENSOR, json!({})).assert_status(200);
        assert_eq!(s.get(&path).json()["$dtId"], id);
    }
    // Ids are case-sensitive.
    s.get("/digitaltwins/upper-lower")
        .assert_error(404, "DigitalTwinNotFound");
}

#[test]
fn telemetry() {
    let s = Server::start();
    s.upload_models();
    s.twin("r", ROOM, json!({})).assert_status(200);
    let send = |path: &str, headers: &[(&str, &str)]| {
        let mut c = s.call("POST", path);
        for (k, v) in headers {
            c = c.header(k, v);
        }
        c.json(&json!({"temperature": 21.5}))
    };
    send(
        "/digitaltwins/r/telemetry",
        &[
            ("Message-Id", "m1"),
            ("Telemetry-Source-Time", "2026-11-27T00:39:28.209087Z"),
        ],
    )
    .assert_status(204);
    send(
        "/digitaltwins/r/components/thermostat/telemetry",
        &[("Message-Id", "m2")],
    )
    .assert_status(204);
    send("/digitaltwins/r/telemetry", &[]).assert_error(400, "InvalidArgument");
    send(
        "/digitaltwins/r/telemetry",
        &[("Message-Id", "m3"), ("Telemetry-Source-Time", "yesterday")],
    )
    .assert_error(400, "InvalidArgument");
    send("/digitaltwins/nope/telemetry", &[("Message-Id", "m4")])
        .assert_error(404, "DigitalTwinNotFound");
    send(
        "/digitaltwins/r/components/nope/telemetry",
        &[("Message-Id", "m5")],
    )
    .assert_error(404, "ComponentNotFound");
    // Nothing is stored on the twin.
    assert!(s.get("/digitaltwins/r").json().get("temperature").is_none());
}
