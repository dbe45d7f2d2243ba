//! nextLink paging: absolute links carrying all their state, followed the way the Python SDK
//! follows them (no original parameters, no max-items-per-page header).

use serde_json::{json, Value};

use crate::harness::*;

/// Follows nextLinks from `first` and returns every item's `key` and the page count.
fn collect(s: &Server, first: Resp, key: &str) -> (Vec<String>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut r = first;
    loop {
        r.assert_status(200);
        pages += 1;
        let body = r.json();
        for v in body["value"].as_array().unwrap() {
            items.push(v[key].as_str().unwrap().to_string());
        }
        match &body["nextLink"] {
            Value::String(link) => r = s.follow(link),
            Value::Null => break,
            other => panic!("nextLink {other}"),
        }
        assert!(pages < 100);
    }
    (items, pages)
}

#[test]
fn models() {
    let s = Server::start();
    s.upload_models();
    let first = s
        .call("GET", "/models?includeModelDefinition=true")
        .header("max-items-per-page", "2")
        .send();
    let link = first.json()["nextLink"].as_str().unwrap().to_string();
    assert!(link.starts_with(&format!("{}/models?", s.base)), "{link}");
    let (ids, pages) = collect(&s, first, "id");
    assert_eq!(pages, 3);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "pages continue in order");
    assert_eq!(ids.len(), 6);
    // includeModelDefinition survives into later pages.
    let second = s.follow(&link).json();
    assert!(second["value"][0]["model"].is_object());

    let first = s
        .call("GET", &format!("/models?dependenciesFor={}", enc(ROOM)))
        .header("max-items-per-page", "1")
        .send();
    let (ids, pages) = collect(&s, first, "id");
    assert_eq!(pages, 3);
    assert_eq!(ids, vec![ROOM, SPACE, THERMOSTAT]);

    s.get("/models?continuationToken=garbage")
        .assert_error(400, "InvalidArgument");
    s.call("GET", "/models")
        .header("max-items-per-page", "0")
        .send()
        .assert_error(400, "InvalidArgument");
}

#[test]
fn relationships_and_incoming() {
    let s = Server::start();
    s.upload_models();
    s.twin("f", FLOOR, json!({})).assert_status(200);
    s.twin("sensor", SENSOR, json!({})).assert_status(200);
    for i in 0..5 {
        let room = format!("room {i}");
        s.twin(&room, ROOM, json!({})).assert_status(200);
        s.relate("f", &format!("c/{i}"), "contains", &room, json!({}))
            .assert_status(200);
        s.relate(&room, "hs", "hasSensor", "sensor", json!({}))
            .assert_status(200);
    }
    let first = s
        .call(
            "GET",
            "/digitaltwins/f/relationships?relationshipName=contains",
        )
        .header("max-items-per-page", "2")
        .send();
    let (ids, pages) = collect(&s, first, "$relationshipId");
    assert_eq!(pages, 3);
    assert_eq!(ids, vec!["c/0", "c/1", "c/2", "c/3", "c/4"]);

    let first = s
        .call("GET", "/digitaltwins/sensor/incomingrelationships")
        .header("max-items-per-page", "2")
        .send();
    let (sources, pages) = collect(&s, first, "$sourceId");
    assert_eq!(pages, 3);
    let mut sorted = sources.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["room 0", "room 1", "room 2", "room 3", "room 4"]
    );

    // A token is bound to its twin.
    let link = s
        .call("GET", "/digitaltwins/f/relationships")
        .header("max-items-per-page", "2")
        .send()
        .json()["nextLink"]
        .as_str()
        .unwrap()
        .replace("/digitaltwins/f/", "/digitaltwins/sensor/");
    s.follow(&link).assert_error(400, "InvalidArgument");
}

#[test]
fn event_routes() {
    let s = Server::start();
    for i in 0..5 {
        s.put(
            &format!("/eventroutes/r{i}"),
            &json!({"endpointName": "e", "filter": "true"}),
        )
        .assert_status(204);
    }
    let first = s
        .call("GET", "/eventroutes")
        .header("max-items-per-page", "2")
        .send();
    let (ids, pages) = collect(&s, first, "id");
    assert_eq!(pages, 3);
    assert_eq!(ids, vec!["r0", "r1", "r2", "r3", "r4"]);
}
