//! Process lifecycle: SIGTERM finishes in-flight requests and exits 0; data survives a
//! restart; overload is answered 429 with Retry-After; slow clients time out.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::*;

/// Value of the in-flight gauge, read from /metrics (which is itself never counted).
fn in_flight(s: &Server) -> Option<u64> {
    let r = s.call("GET", "/metrics").no_api_version().send();
    if r.status != 200 {
        return None;
    }
    r.body
        .lines()
        .find_map(|l| l.strip_prefix("twingraph_http_in_flight "))
        .map(|v| v.trim().parse().unwrap())
}

/// Opens a connection and sends a PUT whose body is only partly there, so the request
/// stays in flight until `finish` is called.
struct Slow(TcpStream);

const SLOW_BODY: &str =
    r#"{"$metadata": {"$model": "dtmi:twingraph:test:Sensor;1"}, "kind": "slow"}"#;

impl Slow {
    fn start(s: &Server, id: &str) -> Slow {
        let mut stream = TcpStream::connect(&s.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let head = format!(
            "PUT /digitaltwins/{id}?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            SLOW_BODY.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&SLOW_BODY.as_bytes()[..10]).unwrap();
        Slow(stream)
    }

    fn finish(mut self) -> String {
        self.0.write_all(&SLOW_BODY.as_bytes()[10..]).unwrap();
        let mut out = String::new();
        let _ = self.0.read_to_string(&mut out);
        out
    }
}

/// Polls until `want` requests are in flight.
fn wait_in_flight(s: &Server, want: u64) {
    for _ in 0..400 {
        if in_flight(s).is_some_and(|n| n >= want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the slow request never arrived");
}

#[test]
fn sigterm_finishes_in_flight_requests_and_data_survives() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, &[]);
    s.upload_models();
    let slow = Slow::start(&s, "late");
    wait_in_flight(&s, 1);
    let pid = s.pid();
    let killer = std::thread::spawn(move || {
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
    });
    assert!(killer.join().unwrap().success());
    let response = slow.finish();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let status = s.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", s.stderr_log());

    let s = Server::start_in(&data, &[]);
    assert_eq!(s.get("/digitaltwins/late").json()["kind"], "slow");
    assert_eq!(
        s.get("/models").json()["value"].as_array().unwrap().len(),
        6
    );
}

#[test]
fn overload_is_429_with_retry_after() {
    let s = Server::start_with(&["--max-in-flight", "1"]);
    s.upload_models();
    let slow = Slow::start(&s, "busy");
    // /metrics and /healthz bypass admission, so the scrape does not take the one slot.
    wait_in_flight(&s, 1);
    let r = s.get("/models");
    r.assert_error(429, "TooManyRequests");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    s.call("GET", "/healthz")
        .no_api_version()
        .send()
        .assert_status(200);
    assert!(slow.finish().starts_with("HTTP/1.1 200"));
    s.get("/models").assert_status(200);
    assert_eq!(s.get("/digitaltwins/busy").json()["kind"], "slow");
}

#[test]
fn slow_bodies_time_out() {
    let s = Server::start_with(&["--request-timeout", "1"]);
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(
            format!(
                "PUT /digitaltwins/t?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    // Headers that never finish: the connection is closed.
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(b"GET /models HTTP/1.1\r\nHost").unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    s.get("/models").assert_status(200);
}

/// A paged query keeping its snapshot does not hold up SIGTERM: shutdown releases every
/// session at once instead of waiting for their idle time (an hour here).
#[test]
fn sigterm_releases_kept_query_snapshots() {
    let mut s = Server::start_with(&["--query-session-idle", "3600"]);
    s.upload_models();
    for i in 0..3 {
        s.twin(&format!("t{i}"), ROOM, serde_json::json!({}))
            .assert_status(200);
    }
    let r = s
        .call("POST", "/query")
        .header("max-items-per-page", "1")
        .json(&serde_json::json!({"query": "SELECT * FROM DIGITALTWINS"}));
    r.assert_status(200);
    assert!(r.json()["continuationToken"].is_string());
    let pid = s.pid();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let status = s.wait_exit();
        let _ = tx.send((status, s.stderr_log()));
    });
    // Far below the session's idle time: the process must not wait for it.
    let (status, log) = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the server still runs two minutes after SIGTERM");
    assert_eq!(status.code(), Some(0), "{log}");
}
