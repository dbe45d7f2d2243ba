//! HTTPS with a generated local CA: a client trusting the CA connects, one that does not is
//! refused, and a restart reuses the same CA.

use serde_json::json;

use crate::harness::*;

#[test]
fn self_signed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start_in(&data, &["--tls-self-signed"]);
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    assert!(s.banner.iter().any(|l| l.contains("REQUESTS_CA_BUNDLE=")));
    let ca = tls_ca(&s);
    let pem = std::fs::read(&ca).unwrap();
    let s = s.with_agent(agent(Some(&pem)));
    s.wait_healthy();
    s.upload_models();
    s.twin("t", SENSOR, json!({})).assert_status(200);
    // The nextLink of an HTTPS server is https.
    let r = s
        .call("GET", "/models")
        .header("max-items-per-page", "1")
        .send();
    assert!(r.json()["nextLink"]
        .as_str()
        .unwrap()
        .starts_with("https://"));

    // A client with no trust in the CA fails the handshake.
    let untrusting = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    assert!(untrusting
        .get(format!("{}/healthz", s.base))
        .call()
        .is_err());
    drop(s);

    let s = Server::start_in(&data, &["--tls-self-signed"]);
    assert_eq!(std::fs::read(tls_ca(&s)).unwrap(), pem, "the CA is reused");
    let s = s.with_agent(agent(Some(&pem)));
    s.wait_healthy();
    assert_eq!(s.get("/digitaltwins/t").json()["$dtId"], "t");
}
