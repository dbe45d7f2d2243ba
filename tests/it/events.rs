//! Event delivery to webhooks: each operation kind produces exactly the expected CloudEvent
//! (tests/data/events/operations.json), route filters select exactly what they should,
//! binary mode, a receiver failing for a while, dead letters after the time-to-live, log
//! retention, and SIGKILL in the middle of delivery. The receiver is an axum server inside
//! the test on a free loopback port.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::events_receiver::*;
use crate::harness::*;

/// Starts a server with the endpoints file made from `template` for `receiver`.
fn start(dir: &Path, receiver: &Receiver, template: &str, extra: &[&str]) -> Server {
    start_armed(dir, receiver, template, extra, "")
}

/// `start` with failpoints armed (engine/src/failpoint.rs).
fn start_armed(
    dir: &Path,
    receiver: &Receiver,
    template: &str,
    extra: &[&str],
    failpoints: &str,
) -> Server {
    let endpoints = from_template(dir, template, &[("receiver", &receiver.base)]);
    let mut args = vec!["--endpoints", endpoints.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start_armed(&dir.join("data"), &args, failpoints)
}

fn route(server: &Server, id: &str, endpoint: &str, filter: &str) {
    server
        .put(
            &format!("/eventroutes/{id}"),
            &json!({"endpointName": endpoint, "filter": filter}),
        )
        .assert_status(204);
}

/// Creates sensor twins `t{i}` for every `i` of `ids`, each acknowledged.
fn create_sensors(s: &Server, ids: std::ops::Range<usize>) {
    for i in ids {
        s.twin(&format!("t{i}"), SENSOR, json!({}))
            .assert_status(200);
    }
}

/// Replaces what differs between runs (times, etags, the port in `source`) with markers.
fn normalize(value: &mut Value, source: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match (k.as_str(), v.as_str()) {
                    ("time" | "lastUpdateTime" | "$lastUpdateTime", Some(_)) => {
                        *v = json!("<time>")
                    }
                    ("$etag", Some(_)) => *v = json!("<etag>"),
                    ("source", Some(s)) => *v = json!(s.replacen(source, "<source>", 1)),
                    _ => normalize(v, source),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, source)),
        _ => {}
    }
}

/// Each step of operations.json, sent with its own traceparent, produces exactly its
/// events, in order; the binary-mode endpoint gets the same events as `ce-*` headers.
/// `TWINGRAPH_BLESS=1` rewrites the expectations from what the server sends.
#[test]
fn every_operation_produces_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let s = start(dir.path(), &receiver, "endpoints.toml", &[]);
    let listed = s.get("/endpoints");
    listed.assert_status(200);
    assert_eq!(
        listed.json(),
        serde_json::from_str::<Value>(
            &std::fs::read_to_string(data_file("endpoints-listed.json"))
                .unwrap()
                .replace("{receiver}", &receiver.base)
        )
        .unwrap()
    );
    s.upload_models();
    route(&s, "all", "structured", "true");
    route(&s, "bin", "binary", "true");

    let path = data_file("operations.json");
    let mut steps: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let source = s.addr.clone();
    let mut expected_total = 0;
    let bless = std::env::var_os("TWINGRAPH_BLESS").is_some();
    for (i, step) in steps.iter_mut().enumerate() {
        let traceparent = format!("00-{:032x}-{:016x}-01", i + 1, i + 1);
        let mut call = s
            .call(
                step["method"].as_str().unwrap(),
                step["path"].as_str().unwrap(),
            )
            .header("traceparent", &traceparent);
        if let Some(headers) = step["headers"].as_object() {
            for (k, v) in headers {
                call = call.header(k, v.as_str().unwrap());
            }
        }
        let resp = match step.get("body") {
            Some(body) if step["method"] == "PATCH" => call
                .header("Content-Type", "application/json-patch+json")
                .body(body.to_string().into_bytes()),
            Some(body) => call.json(body),
            None => call.send(),
        };
        assert!(
            resp.status / 100 == 2,
            "step {i}: {} {}",
            resp.status,
            resp.body
        );
        let want = step["events"].as_array().map_or(0, Vec::len);
        let got = if bless {
            // Expectations may be wrong while blessing: wait for the log to settle instead.
            std::thread::sleep(Duration::from_millis(500));
            receiver.accepted("/structured")
        } else {
            receiver.wait_for("/structured", expected_total + want)
        };
        let mut events: Vec<Value> = got[expected_total..]
            .iter()
            .map(|r| r.body.clone())
            .collect();
        events.iter_mut().for_each(|e| normalize(e, &source));
        for e in &events {
            assert_eq!(e["traceparent"], json!(traceparent), "step {i}");
        }
        if bless {
            step["events"] = Value::Array(events.clone());
        } else {
            assert_eq!(
                Value::Array(events.clone()),
                step["events"],
                "step {i}: {step}"
            );
        }
        expected_total += events.len();
    }
    if bless {
        std::fs::write(&path, serde_json::to_string_pretty(&steps).unwrap() + "\n").unwrap();
    }

    // Structured mode: the whole CloudEvent as the body, with the configured static header.
    let structured = receiver.wait_for("/structured", expected_total);
    assert_eq!(structured.len(), expected_total, "no extra events");
    for r in &structured {
        assert_eq!(
            r.headers["content-type"],
            "application/cloudevents+json; charset=utf-8"
        );
        assert_eq!(r.headers["x-secret"], "s3cret");
    }
    // Binary mode: data as the body, attributes as ce-* headers, the same events in order.
    let binary = receiver.wait_for("/binary", expected_total);
    assert_eq!(binary.len(), expected_total);
    for (b, s) in binary.iter().zip(&structured) {
        assert_eq!(b.body, s.body["data"]);
        assert_eq!(b.headers["content-type"], "application/json");
        for attr in ["id", "type", "source", "specversion", "traceparent"] {
            assert_eq!(
                b.headers[format!("ce-{attr}").as_str()],
                s.body[attr].as_str().unwrap(),
                "{attr}"
            );
        }
        assert!(b.headers.get("ce-data").is_none());
        assert!(b.headers.get("x-secret").is_none());
    }
    // The receiver has each event before the server has its answer: wait for the count.
    wait_metric(&s, "twingraph_events_delivered_total{route=\"all\"}", |v| {
        v == expected_total as f64
    });
}

/// Filters select exactly the events they should, each route independently.
#[test]
fn filters_select_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let s = start(dir.path(), &receiver, "endpoints.toml", &[]);
    s.upload_models();
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(data_file("filters.json")).unwrap()).unwrap();
    let routes: Vec<String> = (0..cases.len()).map(|i| format!("f{i}")).collect();
    for (case, id) in cases.iter().zip(&routes) {
        route(&s, id, "structured", case["filter"].as_str().unwrap());
    }
    // The same operations as operations.json (ids 1.. in log order; telemetry: Message-Id).
    let steps: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(data_file("operations.json")).unwrap())
            .unwrap();
    let mut all_ids = Vec::new();
    for step in &steps {
        let mut call = s.call(
            step["method"].as_str().unwrap(),
            step["path"].as_str().unwrap(),
        );
        if let Some(headers) = step["headers"].as_object() {
            for (k, v) in headers {
                call = call.header(k, v.as_str().unwrap());
            }
        }
        let resp = match step.get("body") {
            Some(body) if step["method"] == "PATCH" => call
                .header("Content-Type", "application/json-patch+json")
                .body(body.to_string().into_bytes()),
            Some(body) => call.json(body),
            None => call.send(),
        };
        assert!(resp.status / 100 == 2, "{}", resp.body);
        for e in step["events"].as_array().unwrap() {
            all_ids.push(e["id"].as_str().unwrap().to_string());
        }
    }
    // Every route has passed every change: what it got is all it will get.
    for id in &routes {
        wait_metric(
            &s,
            &format!("twingraph_events_lag{{route=\"{id}\"}}"),
            |v| v == 0.0,
        );
    }
    let got: Vec<String> = receiver
        .accepted("/structured")
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_string())
        .collect();
    let mut expected_multiset: Vec<String> = Vec::new();
    for case in &cases {
        let want: Vec<String> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        for w in &want {
            assert!(all_ids.contains(w), "filters.json names unknown id {w}");
        }
        expected_multiset.extend(want);
    }
    let mut got_sorted = got.clone();
    got_sorted.sort();
    expected_multiset.sort();
    assert_eq!(got_sorted, expected_multiset, "cases: {cases:?}");
    for (case, id) in cases.iter().zip(&routes) {
        let n = case["ids"].as_array().unwrap().len() as f64;
        assert_eq!(
            metric(
                &s,
                &format!("twingraph_events_delivered_total{{route=\"{id}\"}}")
            ),
            Some(n),
            "{}",
            case["filter"]
        );
    }
}

fn twin_ids(got: &[Received]) -> Vec<u64> {
    got.iter()
        .map(|r| r.body["id"].as_str().unwrap().parse::<u64>().unwrap())
        .collect()
}

/// A receiver answering 500 for a while gets every event once it recovers, in order, each
/// once; the retries are counted.
#[test]
fn failing_receiver_gets_everything_in_order_after_recovering() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    receiver.fail_next(5);
    let s = start(dir.path(), &receiver, "endpoints.toml", &[]);
    s.upload_models();
    route(&s, "r", "structured", "true");
    create_sensors(&s, 0..20);
    let got = receiver.wait_for("/structured", 20);
    assert_eq!(twin_ids(&got), (1..=20).collect::<Vec<u64>>());
    assert_eq!(receiver.calls(), 25);
    assert_eq!(
        metric(&s, "twingraph_events_retried_total{route=\"r\"}"),
        Some(5.0)
    );
    assert_eq!(
        metric(&s, "twingraph_events_dead_lettered_total{route=\"r\"}"),
        Some(0.0)
    );
}

/// An endpoint with `batch = 8` gets the events that queued up while it failed in requests
/// of several events (a JSON array, the batch content type), every event once and in order.
#[test]
fn batched_webhook_gets_every_event_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    receiver.fail_always(true);
    let s = start(dir.path(), &receiver, "endpoints.toml", &[]);
    s.upload_models();
    route(&s, "r", "batched", "true");
    create_sensors(&s, 0..40);
    receiver.fail_always(false);
    let got = receiver.wait_for("/batched", 40);
    assert_eq!(twin_ids(&got), (1..=40).collect::<Vec<u64>>());
    assert!(got.iter().all(|r| r.batch <= 8));
    let batched: Vec<&Received> = got.iter().filter(|r| r.batch > 1).collect();
    assert!(
        !batched.is_empty(),
        "no request carried more than one event"
    );
    for r in batched {
        assert_eq!(
            r.headers["content-type"],
            "application/cloudevents-batch+json; charset=utf-8"
        );
        assert_eq!(r.body["specversion"], "1.0");
    }
    assert_eq!(
        metric(&s, "twingraph_events_delivered_total{route=\"r\"}"),
        Some(40.0)
    );
}

/// After the time-to-live an event goes to the route's dead letters, in order, readable
/// over the API; the route then carries on.
#[test]
fn dead_letters_after_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    receiver.fail_always(true);
    let s = start(
        dir.path(),
        &receiver,
        "endpoints.toml",
        &["--event-ttl", "1"],
    );
    s.upload_models();
    route(&s, "r", "structured", "true");
    create_sensors(&s, 0..3);
    wait_metric(
        &s,
        "twingraph_events_dead_lettered_total{route=\"r\"}",
        |v| v == 3.0,
    );
    let page = s
        .call("GET", "/eventroutes/r/deadletters")
        .header("max-items-per-page", "2")
        .send();
    page.assert_status(200);
    let page = page.json();
    let mut letters = page["value"].as_array().unwrap().clone();
    let next = page["nextLink"].as_str().unwrap();
    let rest = s.follow(next).json();
    assert!(rest["nextLink"].is_null());
    letters.extend(rest["value"].as_array().unwrap().iter().cloned());
    let seqs: Vec<u64> = letters
        .iter()
        .map(|d| d["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    for (d, seq) in letters.iter().zip(1..) {
        assert_eq!(d["event"]["id"], json!(seq.to_string()));
        assert_eq!(d["event"]["type"], "Microsoft.DigitalTwins.Twin.Create");
        assert_eq!(d["reason"], "HTTP 500 Internal Server Error");
        assert!(d["attempts"].as_u64().unwrap() >= 1);
    }
    assert!(receiver.accepted("/structured").is_empty());

    receiver.fail_always(false);
    s.twin("t-after", SENSOR, json!({})).assert_status(200);
    let got = receiver.wait_for("/structured", 1);
    assert_eq!(twin_ids(&got), vec![4]);
    s.get("/eventroutes/nope/deadletters")
        .assert_error(404, "EventRouteNotFound");
    // A re-created route starts afresh: no dead letters.
    s.delete("/eventroutes/r").assert_status(204);
    route(&s, "r", "structured", "true");
    let fresh = s.get("/eventroutes/r/deadletters").json();
    assert_eq!(fresh["value"], json!([]));
}

/// A route keeps at most `--event-dead-letter-cap` dead letters: the oldest go first, and
/// each one removed is counted.
#[test]
fn dead_letters_are_capped_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    receiver.fail_always(true);
    let s = start(
        dir.path(),
        &receiver,
        "endpoints.toml",
        &["--event-ttl", "1", "--event-dead-letter-cap", "2"],
    );
    s.upload_models();
    route(&s, "r", "structured", "true");
    create_sensors(&s, 0..5);
    wait_metric(
        &s,
        "twingraph_events_dead_lettered_total{route=\"r\"}",
        |v| v == 5.0,
    );
    assert_eq!(
        metric(
            &s,
            "twingraph_events_dead_letters_removed_total{route=\"r\"}"
        ),
        Some(3.0)
    );
    let letters = s.get("/eventroutes/r/deadletters").json();
    let seqs: Vec<u64> = letters["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![4, 5]);
    // A restart with a smaller cap applies it at once.
    drop(s);
    let s = start(
        dir.path(),
        &receiver,
        "endpoints.toml",
        &["--event-ttl", "1", "--event-dead-letter-cap", "1"],
    );
    wait_metric(
        &s,
        "twingraph_events_dead_letters_removed_total{route=\"r\"}",
        |v| v == 1.0,
    );
    let letters = s.get("/eventroutes/r/deadletters").json();
    assert_eq!(letters["value"][0]["sequence"], 5);
    assert_eq!(letters["value"].as_array().unwrap().len(), 1);
}

/// `--max-event-routes` raises ADT's limit of 6 routes per instance.
#[test]
fn the_route_limit_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let s = start(
        dir.path(),
        &receiver,
        "endpoints.toml",
        &["--max-event-routes", "10"],
    );
    for i in 0..10 {
        route(&s, &format!("r{i}"), "structured", "true");
    }
    s.put(
        "/eventroutes/r10",
        &json!({"endpointName": "structured", "filter": "true"}),
    )
    .assert_error(400, "LimitExceeded");
}

/// Retention by size keeps what a route still needs; retention by age removes it anyway
/// and the route counts it as dropped.
#[test]
#[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
fn retention_keeps_what_routes_need_and_counts_what_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    receiver.fail_next(4);
    let s = start_armed(
        dir.path(),
        &receiver,
        "endpoints.toml",
        &["--events-retention-changes", "5"],
        "events-retention-interval=20",
    );
    s.upload_models();
    route(&s, "r", "structured", "true");
    create_sensors(&s, 0..20);
    // The route was stuck on its first event while retention ran: nothing it needed went.
    let got = receiver.wait_for("/structured", 20);
    assert_eq!(twin_ids(&got), (1..=20).collect::<Vec<u64>>());
    wait_metric(&s, "twingraph_events_log_first_sequence", |v| v == 16.0);
    assert_eq!(
        metric(&s, "twingraph_events_dropped_total{route=\"r\"}"),
        Some(0.0)
    );
    drop(s);

    let dir = tempfile::tempdir().unwrap();
    receiver.fail_always(true);
    let s = start_armed(
        dir.path(),
        &receiver,
        "endpoints.toml",
        &["--events-retention-age", "1"],
        "events-retention-interval=20",
    );
    s.upload_models();
    route(&s, "r", "structured", "true");
    let before = receiver.accepted("/structured").len();
    s.twin("t0", SENSOR, json!({})).assert_status(200);
    // Once the route is retrying event 1, it has not read events 2 and 3 yet.
    let calls = receiver.calls();
    let deadline = Instant::now() + PATIENCE;
    while receiver.calls() == calls {
        assert!(Instant::now() < deadline, "event 1 was never attempted");
        std::thread::sleep(Duration::from_millis(5));
    }
    create_sensors(&s, 1..3);
    // Everything ages out while the route is stuck on event 1.
    wait_metric(&s, "twingraph_events_log_first_sequence", |v| v == 4.0);
    receiver.fail_always(false);
    wait_metric(&s, "twingraph_events_dropped_total{route=\"r\"}", |v| {
        v == 2.0
    });
    let got = receiver.accepted("/structured");
    assert_eq!(twin_ids(&got[before..]), vec![1]);
    assert_eq!(got[before].body["data"]["$dtId"], "t0");
}

/// SIGKILL while events are in flight, restart: every acknowledged write's event arrives
/// (duplicates allowed, ids stable), with no gap, in order apart from one rewind at the
/// restart.
#[test]
fn sigkill_mid_delivery_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    // A slow receiver keeps a backlog in flight when the kill comes.
    let receiver = Receiver::start_slow(Duration::from_millis(10));
    // A fixed source: the restarted server listens on another port, and redelivered events
    // must be identical.
    let fixed = ["--events-source", "test-instance"];
    let s = start(dir.path(), &receiver, "endpoints.toml", &fixed);
    s.upload_models();
    route(&s, "r", "structured", "true");
    let mut acked = Vec::new();
    for i in 0..300 {
        let id = format!("t{i}");
        if s.twin(&id, SENSOR, json!({})).status != 200 {
            break;
        }
        acked.push(id);
        if i == 150 {
            let killed = std::process::Command::new("kill")
                .args(["-9", &s.pid().to_string()])
                .status()
                .unwrap();
            assert!(killed.success());
        }
    }
    drop(s);
    let delivered_before = receiver.accepted("/structured").len();
    assert!(
        delivered_before < acked.len(),
        "the kill came after delivery caught up ({delivered_before} of {})",
        acked.len()
    );
    let s = start(dir.path(), &receiver, "endpoints.toml", &fixed);
    let got = receiver.wait_until("/structured", |got| {
        let ids: BTreeSet<&str> = got
            .iter()
            .filter_map(|r| r.body["data"]["$dtId"].as_str())
            .collect();
        acked.iter().all(|a| ids.contains(a.as_str()))
    });
    let ids = twin_ids(&got);
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    let max = *distinct.iter().max().unwrap();
    assert_eq!(distinct, (1..=max).collect(), "a gap in the event ids");
    let rewinds = ids.windows(2).filter(|w| w[1] <= w[0]).count();
    assert!(rewinds <= 1, "events out of order: {ids:?}");
    for w in ids.windows(2) {
        assert!(
            w[1] <= w[0] || w[1] == w[0] + 1,
            "skipped from {} to {}",
            w[0],
            w[1]
        );
    }
    // Same id, same event: redeliveries are exact duplicates.
    for r in &got {
        let first = got.iter().find(|o| o.body["id"] == r.body["id"]).unwrap();
        assert_eq!(first.body, r.body);
    }
    drop(s);
}
