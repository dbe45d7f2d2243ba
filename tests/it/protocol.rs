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

/// Issue 4: a 50 MB body, declared or streamed chunked, is refused with ADT's 413 while it
/// is still arriving, and nothing is stored.
#[test]
fn fifty_megabyte_bodies() {
    let s = Server::start();
    s.upload_models();
    let before = s.twin("t", SENSOR, json!({"kind": "a"})).json();
    let mb = 1024 * 1024;
    for path in ["/models", "/digitaltwins/t"] {
        let method = if path == "/models" { "POST" } else { "PUT" };
        let head = format!(
            "{method} {path}?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            50 * mb
        );
        let r = s.raw_streamed(head.as_bytes(), vec![b' '; mb], 50);
        assert!(r.starts_with("HTTP/1.1 413"), "{method} {path}: {r}");
        assert!(r.contains("\"code\":\"PayloadTooLarge\""), "{r}");
        // Chunked: no length to refuse up front, so the server counts until its limit.
        let head = format!(
            "{method} {path}?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let mut chunk = format!("{mb:x}\r\n").into_bytes();
        chunk.extend(std::iter::repeat_n(b' ', mb));
        chunk.extend(b"\r\n");
        let r = s.raw_streamed(head.as_bytes(), chunk, 50);
        assert!(
            r.starts_with("HTTP/1.1 413"),
            "{method} {path} chunked: {r}"
        );
        assert!(r.contains("\"code\":\"PayloadTooLarge\""), "{r}");
    }
    assert_unchanged(&s, &before);
}

/// Issue 4: thousands of headers, or one huge header, are refused by the HTTP layer with 431
/// before any handler runs (hyper answers these itself, without ADT's error body); a header
/// value that is not text is ADT's 400.
#[test]
fn header_floods() {
    let s = Server::start();
    s.upload_models();
    let before = s.twin("t", SENSOR, json!({"kind": "a"})).json();
    let body = json!({"$metadata": {"$model": SENSOR}, "kind": "flooded"}).to_string();
    let request = |extra: &str| {
        format!(
            "PUT /digitaltwins/t?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n{extra}\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let many: String = (0..10_000)
        .map(|i| format!("X-Flood-{i}: {i}\r\n"))
        .collect();
    let r = s.raw_streamed(request(&many).as_bytes(), Vec::new(), 0);
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    let huge = format!("X-Huge: {}\r\n", "h".repeat(1024 * 1024));
    let r = s.raw_streamed(request(&huge).as_bytes(), Vec::new(), 0);
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    // Not text: read by the handler (If-None-Match), so ADT's error body.
    let mut bad = request("If-None-Match: *\r\n").into_bytes();
    let at = bad.windows(3).position(|w| w == b"*\r\n").unwrap();
    bad.splice(at..at + 1, [0xff, 0xfe]);
    let r = s.raw_streamed(&bad, Vec::new(), 0);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r.contains("\"code\":\"InvalidArgument\""), "{r}");
    assert_unchanged(&s, &before);
}

/// Issue 4: unknown methods, malformed percent-encoding and a bad api-version over raw
/// HTTP, each with ADT's error body.
#[test]
fn odd_requests() {
    let s = Server::start();
    s.upload_models();
    let before = s.twin("t", SENSOR, json!({"kind": "a"})).json();
    let send = |line: &str| {
        s.raw_streamed(
            format!("{line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            Vec::new(),
            0,
        )
    };
    let cases = [
        (
            format!("BREW /digitaltwins/t?api-version={API_VERSION}"),
            "405",
            "MethodNotAllowed",
        ),
        (
            format!("BREW /coffee?api-version={API_VERSION}"),
            "404",
            "NotFound",
        ),
        (
            format!("DELETE /digitaltwins/%?api-version={API_VERSION}"),
            "400",
            "InvalidArgument",
        ),
        (
            format!("DELETE /digitaltwins/t%4?api-version={API_VERSION}"),
            "400",
            "InvalidArgument",
        ),
        (
            format!("DELETE /digitaltwins/t%G1?api-version={API_VERSION}"),
            "400",
            "InvalidArgument",
        ),
        (
            format!("DELETE /digitaltwins/t/relationships/%FF?api-version={API_VERSION}"),
            "400",
            "InvalidArgument",
        ),
        (
            "DELETE /digitaltwins/t?api-version=%FF".to_string(),
            "400",
            "InvalidArgument",
        ),
    ];
    for (line, status, code) in cases {
        let r = send(&line);
        assert!(r.starts_with(&format!("HTTP/1.1 {status}")), "{line}: {r}");
        assert!(r.contains(&format!("\"code\":\"{code}\"")), "{line}: {r}");
    }
    assert_unchanged(&s, &before);
}

/// Issue 4: a client that connects and sends nothing, starts an HTTP/2 preface and stops,
/// or goes quiet on a keep-alive connection, is disconnected after the request timeout
/// (a read that never ends would fail the test through its 60 s read timeout).
#[test]
fn half_open_clients_are_disconnected() {
    let s = Server::start_with(&["--request-timeout", "1"]);
    let keep_alive = format!("GET /models?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\r\n");
    for (sent, answered) in [
        ("", false),
        ("PRI * HTTP/2.0\r\n", false),
        (keep_alive.as_str(), true),
    ] {
        let mut stream = std::net::TcpStream::connect(&s.addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        use std::io::{Read, Write};
        stream.write_all(sent.as_bytes()).unwrap();
        let mut out = Vec::new();
        let result = stream.read_to_end(&mut out);
        // Closed (a reset counts: unread bytes were left) rather than timed out.
        let timed_out = matches!(&result, Err(e) if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
        assert!(!timed_out, "{sent:?}: the server kept the connection open");
        let out = String::from_utf8_lossy(&out);
        assert_eq!(out.starts_with("HTTP/1.1 200"), answered, "{sent:?}: {out}");
    }
    s.get("/models").assert_status(200);
}

/// Issue 4: over TLS, a client that picks HTTP/2 by ALPN and then sends nothing is
/// disconnected after the request timeout (hyper's HTTP/2 handshake waits without one).
/// The client is a short Python script (the standard library speaks TLS with ALPN).
#[test]
fn silent_tls_http2_client_is_disconnected() {
    let s = Server::start_with(&["--tls-self-signed", "--request-timeout", "1"]);
    let ca = s
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("TLS CA certificate: "))
        .unwrap()
        .to_string();
    let port = s.addr.rsplit(':').next().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/http/silent_h2_client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(port)
        .arg(&ca)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "closed",
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = s.with_agent(agent(Some(&std::fs::read(&ca).unwrap())));
    s.get("/models").assert_status(200);
}
