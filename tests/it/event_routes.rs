//! `/eventroutes`: put (204), get, list, delete; filter validation and the route limit.

use serde_json::json;

use crate::harness::*;

#[test]
fn crud() {
    let s = Server::start();
    let route = json!({"endpointName": "ep1",
                       "filter": "type = 'Microsoft.DigitalTwins.Twin.Create' OR type = 'microsoft.iot.telemetry'"});
    let r = s.put("/eventroutes/route-1", &route);
    r.assert_status(204);
    assert!(r.body.is_empty());
    let r = s.get("/eventroutes/route-1");
    r.assert_status(200);
    assert_eq!(
        r.json(),
        json!({"id": "route-1", "endpointName": "ep1", "filter": route["filter"]})
    );
    // PUT replaces.
    s.put(
        "/eventroutes/route-1",
        &json!({"endpointName": "ep2", "filter": "true"}),
    )
    .assert_status(204);
    assert_eq!(s.get("/eventroutes/route-1").json()["endpointName"], "ep2");
    let list = s.get("/eventroutes").json();
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert!(list["nextLink"].is_null());
    s.delete("/eventroutes/route-1").assert_status(204);
    s.get("/eventroutes/route-1")
        .assert_error(404, "EventRouteNotFound");
    s.delete("/eventroutes/route-1")
        .assert_error(404, "EventRouteNotFound");
}

#[test]
fn validation() {
    let s = Server::start();
    s.put("/eventroutes/r", &json!({"filter": "true"}))
        .assert_error(400, "EventRouteEndpointInvalid");
    s.put(
        "/eventroutes/r",
        &json!({"endpointName": "", "filter": "true"}),
    )
    .assert_error(400, "EventRouteEndpointInvalid");
    s.put("/eventroutes/r", &json!({"endpointName": "e"}))
        .assert_error(400, "EventRouteFilterInvalid");
    for filter in [
        "type = ",
        "nonsense",
        "(type = 'a'",
        "typ = 'a'",
        "STARTS_WITH($body.x)",
    ] {
        s.put(
            "/eventroutes/r",
            &json!({"endpointName": "e", "filter": filter}),
        )
        .assert_error(400, "EventRouteFilterInvalid");
    }
    for filter in [
        "false",
        "STARTS_WITH($body.$metadata.$model, 'dtmi:example:com:floor')",
        "$body.temperature <= 5.5 AND $body.prop != null",
    ] {
        s.put(
            "/eventroutes/ok",
            &json!({"endpointName": "e", "filter": filter}),
        )
        .assert_status(204);
    }
    s.get("/eventroutes/r")
        .assert_error(404, "EventRouteNotFound");
}

#[test]
fn at_most_six_routes() {
    let s = Server::start();
    let route = json!({"endpointName": "e", "filter": "true"});
    for i in 0..6 {
        s.put(&format!("/eventroutes/r{i}"), &route)
            .assert_status(204);
    }
    s.put("/eventroutes/r6", &route)
        .assert_error(400, "LimitExceeded");
    // Replacing an existing route is not a new one.
    s.put("/eventroutes/r5", &route).assert_status(204);
    s.delete("/eventroutes/r0").assert_status(204);
    s.put("/eventroutes/r6", &route).assert_status(204);
}
