//! `GET /events/stream`: the change feed as Server-Sent Events, resumed with
//! `Last-Event-ID` in the middle of a write storm (no gap, no reordering), started with
//! `?from=`, and filtered with `?filter=`.

use std::io::{BufRead, BufReader, Read};

use serde_json::{json, Value};

use crate::events_receiver::PATIENCE;
use crate::harness::*;

/// An open feed, read one event at a time.
struct Feed {
    lines: std::io::Lines<BufReader<Box<dyn Read + Send>>>,
}

impl Feed {
    fn open(server: &Server, query: &str, last_event_id: Option<u64>) -> Feed {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(PATIENCE))
            .build()
            .into();
        let url = format!(
            "{}/events/stream?api-version={API_VERSION}{query}",
            server.base
        );
        let mut request = agent.get(&url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", &id.to_string());
        }
        let response = request.call().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let reader: Box<dyn Read + Send> = Box::new(response.into_body().into_reader());
        Feed {
            lines: BufReader::new(reader).lines(),
        }
    }

    /// The next event's SSE id and CloudEvent; comments are skipped.
    fn next(&mut self) -> (u64, Value) {
        let (mut id, mut data) = (None, None);
        loop {
            let line = self.lines.next().expect("the feed ended").unwrap();
            if line.is_empty() {
                if let (Some(id), Some(data)) = (id, data.take()) {
                    return (id, data);
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.parse().unwrap());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(v).unwrap());
            } else {
                assert!(line.starts_with(':'), "unexpected SSE line {line:?}");
            }
        }
    }
}

#[test]
fn resume_with_last_event_id_during_a_write_storm() {
    const TWINS: u64 = 300;
    let s = Server::start();
    s.upload_models();
    let mut feed = Feed::open(&s, "&from=1", None);
    let mut seen = Vec::new();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 0..TWINS {
                s.twin(&format!("t{i}"), SENSOR, json!({}))
                    .assert_status(200);
            }
        });
        while seen.len() < 40 {
            let (id, event) = feed.next();
            assert_eq!(event["id"], json!(id.to_string()));
            seen.push(id);
        }
        // Disconnect mid-storm and come back as EventSource does.
        drop(feed);
        let mut feed = Feed::open(&s, "&from=1", seen.last().copied());
        while seen.last() != Some(&TWINS) {
            let (id, event) = feed.next();
            assert_eq!(event["type"], "Microsoft.DigitalTwins.Twin.Create");
            seen.push(id);
        }
        writer.join().unwrap();
    });
    assert_eq!(seen, (1..=TWINS).collect::<Vec<u64>>());
}

#[test]
fn from_and_filter() {
    let s = Server::start();
    s.upload_models();
    // The live end: a feed opened now sees only later changes.
    s.twin("before", SENSOR, json!({})).assert_status(200);
    let mut live = Feed::open(&s, "", None);
    for i in 0..4 {
        let id = format!("s{i}");
        s.twin(&id, SENSOR, json!({})).assert_status(200);
        s.call("POST", &format!("/digitaltwins/{id}/telemetry"))
            .header("Message-Id", &format!("m{i}"))
            .json(&json!({"reading": i}))
            .assert_status(204);
    }
    assert_eq!(live.next().1["data"]["$dtId"], "s0");

    let filter =
        "&filter=type%20%3D%20%27microsoft.iot.telemetry%27%20AND%20%24body.reading%20%3E%3D%202";
    let mut feed = Feed::open(&s, &format!("&from=1{filter}"), None);
    let got: Vec<(u64, Value)> = (0..2).map(|_| feed.next()).collect();
    assert_eq!(got[0].0, 7);
    assert_eq!(got[0].1["id"], "m2");
    assert_eq!(got[1].0, 9);
    assert_eq!(got[1].1["id"], "m3");
    assert_eq!(
        got[1].1["source"],
        json!(format!("{}/digitaltwins/s3", s.addr))
    );

    // Last-Event-ID wins over from.
    let mut resumed = Feed::open(&s, "&from=1", Some(8));
    assert_eq!(resumed.next().0, 9);

    let bad = s.get("/events/stream?filter=nonsense");
    assert_eq!(bad.status, 400, "{}", bad.body);
    let bad = s.get("/events/stream?from=x");
    assert_eq!(bad.status, 400, "{}", bad.body);
}
