//! Event delivery to MQTT, against a real mosquitto this test starts on a free loopback port
//! (Debian's `mosquitto` package; `scripts/setup mosquitto` installs it). Without mosquitto
//! the test fails: it must not pass without having run.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

use crate::events_receiver::{from_template, PATIENCE};
use crate::harness::*;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

struct Mosquitto {
    child: Child,
    port: u16,
}

impl Mosquitto {
    fn start(dir: &Path) -> Mosquitto {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: run `scripts/setup mosquitto` (Debian package mosquitto)"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = from_template(dir, "mosquitto.conf", &[("port", &port.to_string())]);
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

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Subscribes to `filter` and returns what arrives as (topic, payload JSON).
fn subscribe(port: u16, filter: &str) -> mpsc::Receiver<(String, Value)> {
    let mut options = MqttOptions::new("twingraph-test-subscriber", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(1 << 20, 1 << 20);
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
    assert_eq!(
        crate::events_receiver::metric(&s, "twingraph_events_delivered_total{route=\"m\"}"),
        Some(23.0)
    );
}
