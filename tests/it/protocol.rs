//! HTTP-level behaviour: api-version, routing, content types, malformed and oversized input,
//! health and metrics. After bad input the server still serves and the data is unchanged.

use serde_json::json;

use crate::harness::*;

#[test]
fn api_versions() {
    let s = Server::start();
    for v in [
        "2020-10-31",
        "2021-06-30-preview",
        "2022-05-31",
        "2023-06-30",
        "2023-10-31",
    ] {
        s.call("GET", &format!("/models?api-version={v}"))
            .no_api_version()
            .send()
            .assert_status(200);
    }
    s.call("GET", "/models")
        .no_api_version()
        .send()
        .assert_error(400, "MissingArgument");
    s.call("GET", "/models?api-version=2019-01-01")
        .no_api_version()
        .send()
        .assert_error(400, "InvalidArgument");
}

#[test]
fn routing() {
    let s = Server::start();
    s.upload_models();
    s.twin("t", SENSOR, json!({})).assert_status(200);
    // Fixed segments ignore case; ids do not.
    s.get("/DigitalTwins/t").assert_status(200);
    s.get("/DIGITALTWINS/t/Relationships").assert_status(200);
    s.get("/EventRoutes").assert_status(200);
    s.get("/digitaltwins/T")
        .assert_error(404, "DigitalTwinNotFound");
    s.get("/nowhere").assert_error(404, "NotFound");
    s.get("/digitaltwins/t/nowhere")
        .assert_error(404, "NotFound");
    let r = s.call("POST", "/digitaltwins/t").json(&json!({}));
    r.assert_error(405, "MethodNotAllowed");
    assert!(r.header("allow").unwrap().contains("PATCH"));
    s.call("DELETE", "/models")
        .send()
        .assert_error(405, "MethodNotAllowed");
    s.get("/digitaltwins/%ZZ")
        .assert_error(400, "InvalidArgument");
    // %C3%28 is not UTF-8.
    s.get("/digitaltwins/%C3%28")
        .assert_error(400, "InvalidArgument");
    s.get("/jobs/imports").assert_error(501, "NotImplemented");
}

#[test]
fn bad_bodies_change_nothing() {
    let s = Server::start();
    s.upload_models();
    let before = s.twin("t", SENSOR, json!({"kind": "a"})).json();
    let put = |body: Vec<u8>, content_type: &str| {
        s.call("PUT", "/digitaltwins/t")
            .header("Content-Type", content_type)
            .body(body)
    };
    put(b"{not json".to_vec(), "application/json").assert_error(400, "InvalidArgument");
    put(b"\"\xff\xfe\"".to_vec(), "application/json").assert_error(400, "InvalidArgument");
    put(b"{\"kind\": \"\xc3\x28\"}".to_vec(), "application/json")
        .assert_error(400, "InvalidArgument");
    put(
        json!({"$metadata": {"$model": SENSOR}, "kind": "b"})
            .to_string()
            .into_bytes(),
        "text/plain",
    )
    .assert_error(400, "InvalidArgument");
    put(Vec::new(), "application/json").assert_error(400, "InvalidArgument");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    put(deep.into_bytes(), "application/json").assert_error(400, "InvalidArgument");
    let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    s.call("POST", "/models")
        .header("Content-Type", "application/json")
        .body(deep.into_bytes())
        .assert_error(400, "InvalidArgument");
    // A million-element array: refused without building it.
    let huge = format!("[{}0]", "0,".repeat(1_000_000));
    s.call("POST", "/models")
        .header("Content-Type", "application/json")
        .body(huge.into_bytes())
        .assert_error(400, "LimitExceeded");
    // Over 32 KB on a twin PUT.
    let big = json!({"$metadata": {"$model": SENSOR}, "kind": "x".repeat(40_000)});
    put(big.to_string().into_bytes(), "application/json").assert_error(413, "PayloadTooLarge");
    let big_patch = json!([{"op": "add", "path": "/kind", "value": "x".repeat(40_000)}]);
    s.patch("/digitaltwins/t", &big_patch)
        .assert_error(413, "PayloadTooLarge");

    let after = s.get("/digitaltwins/t");
    after.assert_status(200);
    assert_eq!(after.json(), before);
}

#[test]
fn raw_requests() {
    let s = Server::start();
    // Declared too large: refused before the body is read.
    let r = s.raw(
        format!(
            "PUT /digitaltwins/x?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    assert!(r.contains("PayloadTooLarge"), "{r}");
    // Chunked, no length, too large.
    let chunk = "y".repeat(16 * 1024);
    let mut req = format!(
        "POST /digitaltwins/x/telemetry?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nMessage-Id: m\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    for _ in 0..4 {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    let r = s.raw(req.as_bytes());
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    // Garbage instead of HTTP.
    let r = s.raw(b"\x00\x01\x02 nonsense\r\n\r\n");
    assert!(!r.contains("200 OK"), "{r}");
    s.get("/models").assert_status(200);
}

#[test]
fn health_and_metrics() {
    let s = Server::start();
    s.upload_models();
    s.twin("t", SENSOR, json!({})).assert_status(200);
    s.get("/digitaltwins/nope").assert_status(404);
    let r = s.call("GET", "/healthz").no_api_version().send();
    r.assert_status(200);
    let r = s.call("GET", "/metrics").no_api_version().send();
    r.assert_status(200);
    assert!(r.body.contains(
        "twingraph_http_requests_total{operation=\"DigitalTwins_GetById\",status=\"404\"} 1"
    ));
    assert!(r
        .body
        .contains("twingraph_http_request_duration_seconds_bucket{operation=\"DigitalTwins_Add\",status=\"200\",le=\"+Inf\"} 1"));
    assert!(r.body.contains("twingraph_twins 1"));
    assert!(r.body.contains("twingraph_models 6"));
    assert!(r.body.contains("twingraph_cdc_next_sequence "));
}

#[test]
fn http2_prior_knowledge() {
    let s = Server::start();
    // The HTTP/2 connection preface plus an empty SETTINGS frame; the server must answer
    // with its own SETTINGS frame (type 4) rather than an HTTP/1 error.
    let mut stream = std::net::TcpStream::connect(&s.addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let mut frame = [0u8; 9];
    stream.read_exact(&mut frame).unwrap();
    assert_eq!(frame[3], 4, "expected a SETTINGS frame, got {frame:?}");
}

#[test]
fn cors() {
    let s = Server::start_with(&["--cors-origin", "http://localhost:3000"]);
    let r = s
        .call("OPTIONS", "/digitaltwins/x")
        .no_api_version()
        .header("Origin", "http://localhost:3000")
        .header("Access-Control-Request-Method", "PUT")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type,if-none-match",
        )
        .send();
    assert!(r.status < 300, "{}", r.status);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("PUT"));
    let r = s
        .call("GET", "/digitaltwins/x")
        .header("Origin", "http://localhost:3000")
        .send();
    r.assert_error(404, "DigitalTwinNotFound");
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("etag"));
    // Other origins get no CORS headers; without --cors-origin there are none at all.
    let r = s
        .call("GET", "/models")
        .header("Origin", "http://evil.example")
        .send();
    assert!(r.header("access-control-allow-origin").is_none());
}
