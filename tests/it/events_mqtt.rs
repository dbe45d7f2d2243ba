//! Event delivery to MQTT, against a real mosquitto this test starts on a free loopback port
//! (Debian's `mosquitto` package; `scripts/setup mosquitto` installs it), also across a
//! restart of the broker. Without mosquitto the tests fail: they must not pass without
//! having run.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

use crate::events_receiver::{from_template, wait_metric, PATIENCE};
use crate::harness::*;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

struct Mosquitto {
    child: Child,
    port: u16,
}

impl Mosquitto {
    fn start(dir: &Path) -> Mosquitto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Mosquitto::start_on(dir, "mosquitto.conf", port)
    }

    /// Starts mosquitto with `tests/data/events/<template>` on `port`.
    fn start_on(dir: &Path, template: &str, port: u16) -> Mosquitto {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: run `scripts/setup mosquitto` (Debian package mosquitto)"
        );
        let conf = from_template(
            dir,
            template,
            &[("port", &port.to_string()), ("dir", dir.to_str().unwrap())],
        );
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Mosquitto { child, port }
    }
}

impl Mosquitto {
    /// Stops mosquitto the way an operator would (SIGTERM: it saves its sessions first).
    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Subscribes to `filter` and returns what arrives as (topic, payload JSON).
fn subscribe(port: u16, filter: &str) -> mpsc::Receiver<(String, Value)> {
    subscribe_as(port, filter, "twingraph-test-subscriber", true)
}

/// Subscribes as client `id`; with `clean` off the broker keeps the session (and queues
/// QoS 1 messages) while the subscriber is away, and the subscriber keeps reconnecting.
fn subscribe_as(port: u16, filter: &str, id: &str, clean: bool) -> mpsc::Receiver<(String, Value)> {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(1 << 20, 1 << 20);
    options.set_clean_session(clean);
    let (client, mut connection) = Client::new(options, 16);
    client.subscribe(filter, QoS::AtLeastOnce).unwrap();
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _client = client; // keeps the connection open
        for event in connection.iter() {
            match event {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let body = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                    if tx.send((p.topic.clone(), body)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // The next iteration reconnects; a pause keeps a down broker from
                // spinning this loop.
                Err(_) if !clean => std::thread::sleep(Duration::from_millis(50)),
                Err(_) => return,
            }
        }
    });
    ready_rx.recv_timeout(PATIENCE).expect("no SUBACK");
    rx
}

#[test]
fn events_reach_mosquitto_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let received = subscribe(broker.port, "twingraph/#");
    let endpoints = from_template(
        dir.path(),
        "endpoints-mqtt.toml",
        &[("broker", &format!("127.0.0.1:{}", broker.port))],
    );
    let s = Server::start_in(
        &dir.path().join("data"),
        &["--endpoints", endpoints.to_str().unwrap()],
    );
    s.upload_models();
    s.put(
        "/eventroutes/m",
        &json!({"endpointName": "broker", "filter": "true"}),
    )
    .assert_status(204);
    s.twin("dev/1", SENSOR, json!({"value": 1.0}))
        .assert_status(200);
    s.patch(
        "/digitaltwins/dev%2F1",
        &json!([{"op": "replace", "path": "/value", "value": 2.0}]),
    )
    .assert_status(204);
    s.call("POST", "/digitaltwins/dev%2F1/telemetry")
        .header("Message-Id", "m-1")
        .json(&json!({"reading": 3.5}))
        .assert_status(204);
    for i in 0..20 {
        s.twin(&format!("t{i}"), SENSOR, json!({}))
            .assert_status(200);
    }

    let next = || received.recv_timeout(PATIENCE).expect("no MQTT message");
    let (topic, event) = next();
    assert_eq!(
        topic,
        "twingraph/Microsoft.DigitalTwins.Twin.Create/dev%2F1"
    );
    assert_eq!(event["id"], "1");
    assert_eq!(event["data"]["value"], json!(1.0));
    let (topic, event) = next();
    assert_eq!(
        topic,
        "twingraph/Microsoft.DigitalTwins.Twin.Update/dev%2F1"
    );
    assert_eq!(
        event["data"],
        json!({"modelId": SENSOR, "patch": [{"op": "replace", "path": "/value", "value": 2.0}]})
    );
    let (topic, event) = next();
    assert_eq!(topic, "twingraph/microsoft.iot.telemetry/dev%2F1");
    assert_eq!(event["id"], "m-1");
    assert_eq!(event["data"], json!({"reading": 3.5}));
    let ids: Vec<String> = (0..20)
        .map(|_| next().1["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, (4..24).map(|i| i.to_string()).collect::<Vec<_>>());
    // The subscriber can have an event before the server has the broker's PUBACK.
    wait_metric(&s, "twingraph_events_delivered_total{route=\"m\"}", |v| {
        v == 23.0
    });
}

/// The broker goes away (SIGTERM) while events are being published and comes back on the
/// same port: every event still arrives, in log order (a redelivered event may repeat, with
/// its id, right after the original).
#[test]
fn events_survive_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // mosquitto started as root drops to its own user, which must be able to save there.
    let store = dir.path().join("broker");
    std::fs::create_dir(&store).unwrap();
    for (path, mode) in [(dir.path(), 0o755), (store.as_path(), 0o777)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let broker = Mosquitto::start_on(&store, "mosquitto-persistent.conf", port);
    let received = subscribe_as(port, "twingraph/#", "twingraph-test-durable", false);
    let endpoints = from_template(
        dir.path(),
        "endpoints-mqtt.toml",
        &[("broker", &format!("127.0.0.1:{port}"))],
    );
    let s = Server::start_in(
        &dir.path().join("data"),
        &["--endpoints", endpoints.to_str().unwrap()],
    );
    s.upload_models();
    s.put(
        "/eventroutes/m",
        &json!({"endpointName": "broker", "filter": "true"}),
    )
    .assert_status(204);
    let mut ids: Vec<u64> = Vec::new();
    let next = |ids: &mut Vec<u64>| {
        let (_, event) = received
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("no MQTT message after {ids:?}"));
        ids.push(event["id"].as_str().unwrap().parse().unwrap());
    };
    for i in 0..10 {
        s.twin(&format!("a{i}"), SENSOR, json!({}))
            .assert_status(200);
    }
    while ids.len() < 5 {
        next(&mut ids);
    }
    // Down in the middle of the stream; writes go on.
    broker.terminate();
    for i in 0..10 {
        s.twin(&format!("b{i}"), SENSOR, json!({}))
            .assert_status(200);
    }
    // Delivery has met the outage before the broker comes back.
    wait_metric(&s, "twingraph_events_retried_total{route=\"m\"}", |v| {
        v >= 1.0
    });
    let broker = Mosquitto::start_on(&store, "mosquitto-persistent.conf", port);
    while ids.iter().copied().max() < Some(20) {
        next(&mut ids);
    }
    let distinct: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct, (1..=20).collect(), "{ids:?}");
    for w in ids.windows(2) {
        assert!(
            w[1] == w[0] + 1 || w[1] <= w[0],
            "skipped from {} to {}: {ids:?}",
            w[0],
            w[1]
        );
    }
    drop(broker);
}
