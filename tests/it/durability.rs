//! An acknowledged write survives `kill -9` of the server: writers record every 2xx they get,
//! the server is killed with SIGKILL mid-stream, restarted on the same data folder, and every
//! acknowledged twin, patch and relationship is there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::json;

use crate::harness::*;

const WRITERS: usize = 4;
const KILL_AFTER: usize = 150;

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, &[]);
    server.upload_models();
    server.twin("root", SPACE, json!({})).assert_status(200);

    let acked: Mutex<Vec<(String, i64)>> = Mutex::new(Vec::new());
    let count = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (server, acked, count) = (&server, &acked, &count);
            s.spawn(move || {
                for i in 0..10_000i64 {
                    let id = format!("w{w}-{i}");
                    let created = server.twin(&id, SENSOR, json!({"value": 0.0}));
                    if created.status != 200 {
                        return; // the server is gone
                    }
                    acked.lock().unwrap().push((id.clone(), -1));
                    let patch = json!([{"op": "replace", "path": "/value", "value": i as f64}]);
                    if server.patch(&format!("/digitaltwins/{id}"), &patch).status != 204 {
                        return;
                    }
                    acked.lock().unwrap().push((id.clone(), i));
                    if count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                        let killed = std::process::Command::new("kill")
                            .args(["-9", &server.pid().to_string()])
                            .status()
                            .unwrap();
                        assert!(killed.success());
                    }
                }
            });
        }
    });
    drop(server);

    let acked = acked.into_inner().unwrap();
    assert!(
        acked.len() >= KILL_AFTER,
        "only {} writes acknowledged",
        acked.len()
    );
    let server = Server::start_in(&data, &[]);
    for (id, value) in &acked {
        let twin = server.get(&format!("/digitaltwins/{id}"));
        assert_eq!(twin.status, 200, "acknowledged twin {id} lost");
        if *value >= 0 {
            assert_eq!(
                twin.json()["value"],
                json!(*value as f64),
                "acknowledged patch of {id} lost"
            );
        }
    }
}
