//! Webhooks over HTTPS: the endpoint names the CA that signed the receiver's certificate
//! (generated in the test with rcgen); a receiver signed by another CA is refused and
//! retried. An endpoint unusable when its route starts (its CA file missing) is retried by
//! the route's supervisor until it works, each restart counted.

use std::path::Path;

use serde_json::json;

use crate::events_receiver::*;
use crate::harness::*;

fn start(dir: &Path, receiver: &Receiver, ca: &Path, other_ca: &Path) -> Server {
    let endpoints = from_template(
        dir,
        "endpoints-https.toml",
        &[
            ("receiver", &receiver.base),
            ("ca", ca.to_str().unwrap()),
            ("other_ca", other_ca.to_str().unwrap()),
        ],
    );
    Server::start_in(
        &dir.join("data"),
        &["--endpoints", endpoints.to_str().unwrap()],
    )
}

fn twin_ids(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.body["data"]["$dtId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn https_webhook_trusts_only_the_named_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, tls) = test_ca(dir.path(), "receiver");
    let (other_ca, _) = test_ca(dir.path(), "other");
    let receiver = Receiver::start_tls(tls);
    assert!(receiver.base.starts_with("https://"));
    let s = start(dir.path(), &receiver, &ca, &other_ca);
    s.upload_models();
    for (id, endpoint) in [("t", "trusted"), ("u", "untrusted")] {
        s.put(
            &format!("/eventroutes/{id}"),
            &json!({"endpointName": endpoint, "filter": "true"}),
        )
        .assert_status(204);
    }
    let ids: Vec<String> = (0..5).map(|i| format!("tls{i}")).collect();
    for id in &ids {
        s.twin(id, SENSOR, json!({})).assert_status(200);
    }
    let got = receiver.wait_for("/trusted", ids.len());
    assert_eq!(twin_ids(&got), ids);
    assert_eq!(got[0].body["type"], "Microsoft.DigitalTwins.Twin.Create");
    // The other route's handshakes fail: retried, never accepted.
    wait_metric(&s, "twingraph_events_retried_total{route=\"u\"}", |v| {
        v >= 2.0
    });
    assert!(receiver.accepted("/untrusted").is_empty());
    assert_eq!(
        metric(&s, "twingraph_events_delivered_total{route=\"u\"}"),
        Some(0.0)
    );
}

/// The CA file does not exist when the route starts, so its loop cannot build the endpoint
/// and stops; the supervisor restarts it with backoff (counted) until the file appears, and
/// then every event arrives in order.
#[test]
fn a_stopped_route_restarts_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, tls) = test_ca(dir.path(), "receiver");
    let pem = std::fs::read(&ca).unwrap();
    std::fs::remove_file(&ca).unwrap();
    let receiver = Receiver::start_tls(tls);
    let s = start(dir.path(), &receiver, &ca, &ca);
    s.upload_models();
    s.put(
        "/eventroutes/r",
        &json!({"endpointName": "trusted", "filter": "true"}),
    )
    .assert_status(204);
    let ids: Vec<String> = (0..5).map(|i| format!("late{i}")).collect();
    for id in &ids {
        s.twin(id, SENSOR, json!({})).assert_status(200);
    }
    wait_metric(
        &s,
        "twingraph_events_route_restarts_total{route=\"r\"}",
        |v| v >= 2.0,
    );
    assert!(receiver.accepted("/trusted").is_empty());
    std::fs::write(&ca, pem).unwrap();
    let got = receiver.wait_for("/trusted", ids.len());
    assert_eq!(twin_ids(&got), ids);
    assert!(s
        .stderr_log()
        .contains("route delivery stopped; restarting"));
}
