//! ADT's Jobs API over HTTP: import jobs read files only from `--import-dir`, run in the
//! background, log NDJSON, fail with the refused line; delete jobs empty the store; a job
//! whose server is killed mid-way resumes after restart and ends with the same data as an
//! uninterrupted import. Also `POST /query/stream`.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::Server;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bulk")
        .join(name)
}

/// Polls a job until it leaves notstarted/running/cancelling (bounded).
fn wait_done(s: &Server, path: &str) -> Value {
    for _ in 0..2400 {
        let job = s.get(path).assert_status(200).json();
        if !matches!(
            job["status"].as_str(),
            Some("notstarted" | "running" | "cancelling")
        ) {
            return job;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("job {path} never finished");
}

fn count(s: &Server, query: &str) -> u64 {
    let r = s
        .post("/query", &json!({ "query": query }))
        .assert_status(200)
        .json();
    r["value"][0]["COUNT"].as_u64().unwrap()
}

fn start_with_imports(dir: &Path) -> Server {
    let imports = dir.join("imports");
    std::fs::create_dir_all(&imports).unwrap();
    Server::start_in(
        &dir.join("data"),
        &["--import-dir", imports.to_str().unwrap()],
    )
}

#[test]
fn import_job_runs_logs_and_can_be_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_imports(dir.path());
    std::fs::copy(
        fixture("good.ndjson"),
        dir.path().join("imports/good.ndjson"),
    )
    .unwrap();
    let created = s
        .put(
            "/jobs/imports/j1",
            &json!({"inputBlobUri": "good.ndjson", "outputBlobUri": "j1.log"}),
        )
        .assert_status(201)
        .json();
    assert_eq!(created["id"], "j1");
    assert_eq!(created["status"], "notstarted");
    assert!(created["createdDateTime"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));
    assert!(created.get("_input").is_none(), "{created}");
    let done = wait_done(&s, "/jobs/imports/j1");
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["finishedDateTime"].is_string());
    s.get("/digitaltwins/room1").assert_status(200);
    let log = std::fs::read_to_string(dir.path().join("imports/j1.log")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.first().unwrap()["details"]["status"], "Started");
    assert_eq!(lines.last().unwrap()["details"]["status"], "Succeeded");
    assert!(lines
        .iter()
        .all(|l| l["jobId"] == "j1" && l["jobType"] == "Import"));
    assert!(log.contains("\"section\":\"Twins\""), "{log}");
    let list = s.get("/jobs/imports").assert_status(200).json();
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    // The same id again while the record exists.
    s.put(
        "/jobs/imports/j1",
        &json!({"inputBlobUri": "good.ndjson", "outputBlobUri": "j1b.log"}),
    )
    .assert_error(400, "ValidationFailed");
    s.delete("/jobs/imports/j1").assert_status(204);
    s.get("/jobs/imports/j1")
        .assert_error(404, "ImportJobNotFound");
    s.get("/jobs/deletions/nope")
        .assert_error(404, "DeleteJobNotFound");
}

#[test]
fn import_job_files_are_confined_to_the_import_folder() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_imports(dir.path());
    std::fs::copy(
        fixture("good.ndjson"),
        dir.path().join("imports/good.ndjson"),
    )
    .unwrap();
    std::fs::copy(fixture("good.ndjson"), dir.path().join("outside.ndjson")).unwrap();
    let outside = format!("file://{}", dir.path().join("outside.ndjson").display());
    let inside = format!(
        "file://{}",
        dir.path().join("imports/good.ndjson").display()
    );
    for (n, input) in [
        "../outside.ndjson",
        "sub/good.ndjson",
        &outside,
        "file:///etc/passwd",
        "https://example.com/good.ndjson",
        "missing.ndjson",
    ]
    .iter()
    .enumerate()
    {
        s.put(
            &format!("/jobs/imports/bad{n}"),
            &json!({"inputBlobUri": input, "outputBlobUri": "out.log"}),
        )
        .assert_error(400, "ValidationFailed");
    }
    s.put(
        "/jobs/imports/badout",
        &json!({"inputBlobUri": "good.ndjson", "outputBlobUri": "../out.log"}),
    )
    .assert_error(400, "ValidationFailed");
    s.put(
        "/jobs/imports/nobody",
        &json!({"inputBlobUri": "good.ndjson"}),
    )
    .assert_error(400, "ValidationFailed");
    // A file:// URI inside the folder is fine.
    s.put(
        "/jobs/imports/ok",
        &json!({"inputBlobUri": inside, "outputBlobUri": "ok.log"}),
    )
    .assert_status(201);
    assert_eq!(wait_done(&s, "/jobs/imports/ok")["status"], "succeeded");
    // Without --import-dir there are no import jobs.
    let plain = Server::start();
    plain
        .put(
            "/jobs/imports/x",
            &json!({"inputBlobUri": "good.ndjson", "outputBlobUri": "x.log"}),
        )
        .assert_error(400, "ValidationFailed");
}

#[test]
fn a_refused_line_fails_the_job_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_imports(dir.path());
    std::fs::copy(
        fixture("dangling.ndjson"),
        dir.path().join("imports/d.ndjson"),
    )
    .unwrap();
    s.put(
        "/jobs/imports/d",
        &json!({"inputBlobUri": "d.ndjson", "outputBlobUri": "d.log"}),
    )
    .assert_status(201);
    let job = wait_done(&s, "/jobs/imports/d");
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "ValidationFailed");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 17:"),
        "{job}"
    );
    let log = std::fs::read_to_string(dir.path().join("imports/d.log")).unwrap();
    assert!(
        log.contains("\"logType\":\"Error\"") && log.contains("\"line\":17"),
        "{log}"
    );
    // Not atomic, as in ADT: the lines before the refused one stay.
    assert_eq!(count(&s, "SELECT COUNT() FROM DIGITALTWINS"), 4);
}

#[test]
fn delete_job_empties_the_store_and_keeps_routes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with_imports(dir.path());
    std::fs::copy(
        fixture("good.ndjson"),
        dir.path().join("imports/good.ndjson"),
    )
    .unwrap();
    s.put(
        "/jobs/imports/i",
        &json!({"inputBlobUri": "good.ndjson", "outputBlobUri": "i.log"}),
    )
    .assert_status(201);
    wait_done(&s, "/jobs/imports/i");
    let r = s
        .call("POST", "/jobs/deletions")
        .header("operation-id", "del1")
        .send();
    r.assert_status(202);
    assert!(r
        .header("operation-location")
        .unwrap()
        .contains("/jobs/deletions/del1"));
    assert_eq!(r.json()["status"], "notstarted");
    let job = wait_done(&s, "/jobs/deletions/del1");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(count(&s, "SELECT COUNT() FROM DIGITALTWINS"), 0);
    let models = s.get("/models").assert_status(200).json();
    assert!(models["value"].as_array().unwrap().is_empty());
    s.call("POST", "/jobs/deletions")
        .header("operation-id", "del1")
        .send()
        .assert_error(400, "ValidationFailed");
    let list = s.get("/jobs/deletions").assert_status(200).json();
    assert_eq!(list["value"][0]["id"], "del1");
}

#[test]
fn a_job_killed_mid_way_resumes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let imports = dir.path().join("imports");
    std::fs::create_dir_all(&imports).unwrap();
    let gen = imports.join("city.ndjson");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twingraph"))
        .args(["generate", "--twins", "40000", "--seed", "9"])
        .arg(&gen)
        .output()
        .unwrap();
    assert!(out.status.success());
    let data = dir.path().join("data");
    let args = ["--import-dir", imports.to_str().unwrap()];
    let mut s = Server::start_in(&data, &args);
    s.put(
        "/jobs/imports/city",
        &json!({"inputBlobUri": "city.ndjson", "outputBlobUri": "city.log"}),
    )
    .assert_status(201);
    // Kill as soon as some, but not all, twins are in.
    let mut seen = 0;
    for _ in 0..4000 {
        seen = count(&s, "SELECT COUNT() FROM DIGITALTWINS");
        if seen > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(seen > 0);
    let status = std::process::Command::new("kill")
        .args(["-9", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    s.wait_exit();
    drop(s);
    let s = Server::start_in(&data, &args);
    let job = wait_done(&s, "/jobs/imports/city");
    assert_eq!(job["status"], "succeeded", "{job}");
    let total = count(&s, "SELECT COUNT() FROM DIGITALTWINS");
    let spaces = count(
        &s,
        "SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:bench:Space;1')",
    );
    let sensors = count(
        &s,
        "SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:bench:Sensor;1')",
    );
    assert_eq!(total, 1 + 65 * 611);
    assert_eq!(
        spaces + sensors,
        total,
        "the model index covers every twin once"
    );
    let log = std::fs::read_to_string(imports.join("city.log")).unwrap();
    assert!(log.contains("Resumed") || seen as usize >= 39_716, "{log}");
    drop(s);
    // The data equals an uninterrupted import of the same file.
    let export = |data: &Path, file: &Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_twingraph"))
            .args(["export", "--data-dir"])
            .arg(data)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(file).unwrap()
    };
    let clean = dir.path().join("clean");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twingraph"))
        .args(["import", "--data-dir"])
        .arg(&clean)
        .arg(&gen)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = export(&data, &dir.path().join("resumed.ndjson"));
    let expected = export(&clean, &dir.path().join("expected.ndjson"));
    assert!(
        resumed == expected,
        "resumed import differs from a clean one"
    );
}

#[test]
fn query_stream_returns_every_row_as_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let imports = dir.path().join("imports");
    std::fs::create_dir_all(&imports).unwrap();
    let gen = imports.join("g.ndjson");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twingraph"))
        .args(["generate", "--twins", "2500", "--seed", "1"])
        .arg(&gen)
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = start_with_imports(dir.path());
    s.put(
        "/jobs/imports/g",
        &json!({"inputBlobUri": "g.ndjson", "outputBlobUri": "g.log"}),
    )
    .assert_status(201);
    assert_eq!(wait_done(&s, "/jobs/imports/g")["status"], "succeeded");
    let r = s.post(
        "/query/stream",
        &json!({"query": "SELECT T.$dtId FROM DIGITALTWINS T"}),
    );
    r.assert_status(200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let rows: Vec<Value> = r
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows.len(),
        1 + 4 * 611,
        "more than one page, in one response"
    );
    let ids: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["$dtId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rows.len());
    s.post("/query/stream", &json!({"query": "SELECT FROM"}))
        .assert_error(400, "SqlQueryError");
    s.post("/query/stream", &json!({}))
        .assert_error(400, "BadRequest");
}
