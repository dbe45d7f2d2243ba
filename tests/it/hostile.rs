//! Issue 14: hostile requests are each refused with a 4xx that reaches the client as an HTTP
//! response, and leave the store as it was: ids no URL can address, oversized headers,
//! bodies over a route's limit (also over TLS, from clients that send their whole body
//! before reading), and a health check that reads the store.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

/// Sends `request` on a new connection and reads what comes back until the server closes
/// the connection or goes quiet for `quiet`; returns the text and whether it closed.
fn exchange(s: &Server, request: &[u8], quiet: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    stream.set_read_timeout(Some(quiet)).unwrap();
    // The server may answer and close before all of it is written.
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let closed = stream.read_to_end(&mut out).is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// A store holding the test models and one twin `t`; returns `t` as stored.
fn seeded(s: &Server) -> Value {
    s.upload_models();
    s.twin("t", SENSOR, json!({"kind": "a"})).json()
}

#[test]
fn dot_segment_ids_are_refused() {
    let s = Server::start();
    let before = seeded(&s);
    let twin = json!({"$metadata": {"$model": SENSOR}}).to_string();
    let rel = json!({"$targetId": "t", "$relationshipName": "isIn"}).to_string();
    let route = json!({"endpointName": "nowhere", "filter": "true"}).to_string();
    for dots in [".", "..", "%2E", "%2e", "%2E%2E", ".%2e", "%2E."] {
        let cases = [
            ("PUT", format!("/digitaltwins/{dots}"), twin.as_str()),
            ("GET", format!("/digitaltwins/{dots}"), ""),
            ("PATCH", format!("/digitaltwins/{dots}"), "[]"),
            ("PUT", format!("/digitaltwins/t/relationships/{dots}"), &rel),
            ("PUT", format!("/digitaltwins/{dots}/relationships/r"), &rel),
            ("GET", format!("/digitaltwins/{dots}/relationships"), ""),
            ("GET", format!("/models/{dots}"), ""),
            ("DELETE", format!("/models/{dots}"), ""),
            ("PUT", format!("/eventroutes/{dots}"), &route),
            ("PUT", format!("/jobs/imports/{dots}"), "{}"),
        ];
        for (method, path, body) in cases {
            let request = format!(
                "{method} {path}?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let (r, _) = exchange(&s, request.as_bytes(), Duration::from_secs(30));
            assert!(r.starts_with("HTTP/1.1 400"), "{method} {path}: {r}");
            assert!(
                r.contains("\"code\":\"InvalidArgument\""),
                "{method} {path}: {r}"
            );
        }
    }
    assert_unchanged(&s, &before);
    let rels = s.get("/digitaltwins/t/relationships");
    assert_eq!(rels.json()["value"], json!([]), "{}", rels.body);
    let routes = s.get("/eventroutes");
    assert_eq!(routes.json()["value"], json!([]), "{}", routes.body);
    // Names that merely contain dots are ordinary ids.
    s.twin("...", SENSOR, json!({})).assert_status(200);
    s.get("/digitaltwins/.a")
        .assert_error(404, "DigitalTwinNotFound");
}

#[test]
fn oversized_headers_get_431_and_a_closed_connection() {
    let s = Server::start();
    let before = seeded(&s);
    let body = json!({"$metadata": {"$model": SENSOR}, "kind": "flooded"}).to_string();
    // Keep-alive requests: the server, not the client, must end the connection.
    let request = |extra: &str| {
        format!(
            "PUT /digitaltwins/t?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n{extra}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let kib = 1024;
    let big = |name: &str, size: usize| format!("{name}: {}\r\n", "h".repeat(size));
    let cases = [
        ("one header of 17 KiB", big("X-Big", 17 * kib)),
        ("one header of 64 KiB", big("X-Big", 64 * kib)),
        ("one header of 200 KiB", big("X-Big", 200 * kib)),
        (
            "five headers of 15 KiB",
            (0..5)
                .map(|i| big(&format!("X-Big-{i}"), 15 * kib))
                .collect(),
        ),
    ];
    for (what, extra) in cases {
        let (r, closed) = exchange(&s, request(&extra).as_bytes(), Duration::from_secs(20));
        assert!(r.starts_with("HTTP/1.1 431"), "{what}: {r}");
        assert!(
            r.contains("\"code\":\"RequestHeaderFieldsTooLarge\""),
            "{what}: {r}"
        );
        assert!(closed, "{what}: the connection stayed open");
    }
    // Past hyper's own buffer for a request head: still a 431, without ADT's body.
    let huge = request(&big("X-Huge", 1024 * kib));
    let r = s.raw_streamed(huge.as_bytes(), Vec::new(), 0);
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    assert_unchanged(&s, &before);
    // Within the bounds (16 KiB each, 64 KiB together) headers are served.
    s.call("GET", "/digitaltwins/t")
        .header("X-Big", &"b".repeat(15 * kib))
        .send()
        .assert_status(200);
    let mut call = s.call("GET", "/digitaltwins/t");
    for i in 0..3 {
        call = call.header(&format!("X-Big-{i}"), &"b".repeat(15 * kib));
    }
    call.send().assert_status(200);
}

/// A client that writes its whole body before reading (as ureq and the SDKs do) gets the
/// 413 over plain HTTP and TLS, and the connection is still good for the next request.
#[test]
fn refused_bodies_are_answered_to_clients_that_send_them_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start_in(&data, &["--tls-self-signed"]);
    let pem = std::fs::read(tls_ca(&s)).unwrap();
    let s = s.with_agent(agent(Some(&pem)));
    s.wait_healthy();
    let before = seeded(&s);
    let token = "t".repeat(100 * 1024);
    let r = s.post(
        "/query",
        &json!({"query": "SELECT * FROM DIGITALTWINS", "continuationToken": token}),
    );
    r.assert_error(413, "PayloadTooLarge");
    let items: Vec<String> = (0..100_000).map(|i| format!("'id{i}'")).collect();
    let query = format!(
        "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN [{}]",
        items.join(",")
    );
    let r = s.post("/query", &json!({ "query": query }));
    r.assert_error(413, "PayloadTooLarge");
    // Twin bodies: 32 KiB at most; a route that does not exist, with a body.
    let twin = json!({"$metadata": {"$model": SENSOR}, "kind": "k".repeat(200 * 1024)});
    s.put("/digitaltwins/t", &twin)
        .assert_error(413, "PayloadTooLarge");
    s.put("/nowhere", &twin).assert_error(404, "NotFound");
    assert_unchanged(&s, &before);
}

#[test]
fn refused_bodies_over_plain_http_leave_the_connection_usable() {
    let s = Server::start();
    let before = seeded(&s);
    let body = vec![b' '; 2 * 1024 * 1024];
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    for path in ["/digitaltwins/t", "/query", "/nowhere"] {
        let method = if path == "/query" { "POST" } else { "PUT" };
        let head = format!(
            "{method} {path}?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // Everything is sent before anything is read.
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        let response = read_response(&mut stream);
        let expected = if path == "/nowhere" { "404" } else { "413" };
        assert!(
            response.starts_with(&format!("HTTP/1.1 {expected}")),
            "{path}: {response}"
        );
    }
    // The same connection serves the next request.
    let get = format!("GET /digitaltwins/t?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(get.as_bytes()).unwrap();
    let response = read_response(&mut stream);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_unchanged(&s, &before);
}

/// Reads one HTTP/1.1 response with a `content-length` body.
fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert_eq!(
            n,
            1,
            "connection closed after {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}
