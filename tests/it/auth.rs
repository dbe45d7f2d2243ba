//! Bearer tokens: 401 without a valid token, 403 for a reader that writes; and the refusal
//! to listen on the network without authentication.

use std::process::Command;

use serde_json::json;

use crate::harness::*;

#[test]
fn tokens_file() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        "# token role\nowner-secret owner\nreader-secret reader\n",
    )
    .unwrap();
    let mut s = Server::start_with(&["--tokens", tokens.to_str().unwrap()]);

    let r = s.get("/models");
    r.assert_error(401, "Unauthorized");
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    s.with_token(Some("wrong"));
    s.get("/models").assert_error(401, "Unauthorized");
    // Unknown paths are not revealed to unauthenticated callers.
    s.get("/nowhere").assert_error(401, "Unauthorized");
    // Health needs no token.
    s.call("GET", "/healthz")
        .no_api_version()
        .send()
        .assert_status(200);

    s.with_token(Some("owner-secret"));
    s.upload_models();
    s.twin("t", SENSOR, json!({})).assert_status(200);

    s.with_token(Some("reader-secret"));
    s.get("/digitaltwins/t").assert_status(200);
    s.call("GET", "/metrics")
        .no_api_version()
        .send()
        .assert_status(200);
    s.get("/models").assert_status(200);
    s.twin("u", SENSOR, json!({}))
        .assert_error(403, "Forbidden");
    s.delete("/digitaltwins/t").assert_error(403, "Forbidden");
    s.patch(
        "/digitaltwins/t",
        &json!([{"op": "add", "path": "/kind", "value": "x"}]),
    )
    .assert_error(403, "Forbidden");
    s.put(
        "/eventroutes/r",
        &json!({"endpointName": "e", "filter": "true"}),
    )
    .assert_error(403, "Forbidden");
    s.with_token(Some("owner-secret"));
    s.get("/digitaltwins/u")
        .assert_error(404, "DigitalTwinNotFound");
}

#[test]
fn any_token_without_tokens_file() {
    let mut s = Server::start();
    s.with_token(Some("anything"));
    s.get("/models").assert_status(200);
}

#[test]
fn refuses_network_listen_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_twingraph"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tokens"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
}
