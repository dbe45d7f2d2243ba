//! `twingraph import / export / generate` on a stopped store: the round trip is byte-identical,
//! every class of bad input is refused with its line number and nothing is written, and
//! `--continue-on-error` keeps the good lines and writes a report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::Server;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bulk")
        .join(name)
}

fn twingraph(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twingraph"))
        .args(args)
        .output()
        .unwrap()
}

fn import(data: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["import", "--data-dir", data.to_str().unwrap()];
    // Never the default report path, which is beside the fixture in the source tree.
    let report = data.with_extension("report.ndjson");
    if !extra.contains(&"--report") {
        args.extend_from_slice(&["--report", report.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    twingraph(&args)
}

fn export(data: &Path, file: &Path) -> String {
    let out = twingraph(&[
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::read_to_string(file).unwrap()
}

/// `twingraph generate` of the smart-building graph into `file`.
fn generate(file: &Path, twins: usize, seed: u64) {
    let out = twingraph(&[
        "generate",
        "--twins",
        &twins.to_string(),
        "--seed",
        &seed.to_string(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The data lines of a section of an exported file.
fn section(text: &str, name: &str) -> Vec<Value> {
    let marker = format!("{{\"Section\":\"{name}\"}}");
    text.lines()
        .skip_while(|l| *l != marker)
        .skip(1)
        .take_while(|l| !l.starts_with("{\"Section\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn export_import_export_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let out = import(&a, &fixture("good.ndjson"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("4 models, 4 twins, 3 relationships"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let first = export(&a, &dir.path().join("first.ndjson"));
    let out = import(&b, &dir.path().join("first.ndjson"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let second = export(&b, &dir.path().join("second.ndjson"));
    assert_eq!(first, second);
    // What came out is what went in (volatile fields aside).
    let twins = section(&first, "Twins");
    assert_eq!(twins.len(), 4);
    assert_eq!(twins[1]["$dtId"], "room1");
    assert_eq!(
        twins[1]["$metadata"]["temperature"]["sourceTime"],
        "2022-05-31T12:00:00.000125009Z"
    );
    assert_eq!(twins[1]["thermostat"]["setPoint"], 20.5);
    assert!(twins[1].get("$etag").is_none());
    let rels = section(&first, "Relationships");
    assert_eq!(rels.len(), 3);
    assert_eq!(rels[0]["$dtId"], "floor1");
    assert_eq!(rels[0]["since"], "2020");
    assert_eq!(section(&first, "Models").len(), 4);
}

#[test]
fn imported_data_is_served_with_its_change_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = import(&data, &fixture("good.ndjson"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = Server::start_in(&data, &[]);
    let twin = s.get("/digitaltwins/room1").assert_status(200).json();
    assert_eq!(twin["temperature"], 21.5);
    assert!(twin["$etag"].as_str().unwrap().starts_with("W/\""));
    let rows = s
        .post(
            "/query",
            &serde_json::json!({"query": "SELECT R FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId = 'floor1'"}),
        )
        .json();
    assert_eq!(rows["value"].as_array().unwrap().len(), 2);
    let incoming = s
        .get("/digitaltwins/s1/incomingrelationships")
        .assert_status(200)
        .json();
    assert_eq!(incoming["value"][0]["$sourceId"], "room1");
    // A twin with relationships cannot be deleted: the graph knows the imported edges.
    s.delete("/digitaltwins/s1")
        .assert_error(400, "RelationshipsNotDeleted");
}

/// (fixture, line expected in the message, words of the reason)
const REFUSED: &[(&str, u64, &str)] = &[
    ("bad-order.ndjson", 8, "order"),
    ("bad-json.ndjson", 11, "invalid JSON"),
    ("unknown-model.ndjson", 13, "dtmi:bulk:Nope;1"),
    ("duplicate-id.ndjson", 13, "twice"),
    ("dangling.ndjson", 17, "ghost"),
    ("bad-model.ndjson", 8, "invalid DTDL"),
    ("duplicate-relationship.ndjson", 16, "twice"),
    (
        "wrong-target.ndjson",
        15,
        "must target a twin of dtmi:bulk:Sensor;1",
    ),
    ("no-twins.ndjson", 10, "source twin floor1"),
    // Issue 14: an id no URL can address.
    ("dot-id.ndjson", 13, "must not be '..'"),
];

#[test]
fn every_error_class_is_refused_with_its_line_and_nothing_is_written() {
    for (name, line, words) in REFUSED {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = import(&data, &fixture(name), &[]);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{name}: {err}");
        assert!(
            err.contains(&format!("line {line}:")) && err.contains(words),
            "{name}: expected line {line} and '{words}' in: {err}"
        );
        let text = export(&data, &dir.path().join("after.ndjson"));
        assert!(section(&text, "Models").is_empty(), "{name}: {text}");
        assert!(section(&text, "Twins").is_empty(), "{name}: {text}");
    }
}

#[test]
fn continue_on_error_keeps_good_lines_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = dir.path().join("report.ndjson");
    let out = import(
        &data,
        &fixture("dangling.ndjson"),
        &["--continue-on-error", "--report", report.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 17:"), "{}", stderr(&out));
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["line"], 17);
    assert!(lines[0]["reason"].as_str().unwrap().contains("ghost"));
    let text = export(&data, &dir.path().join("after.ndjson"));
    assert_eq!(section(&text, "Twins").len(), 4);
    assert_eq!(section(&text, "Relationships").len(), 3);
    // Importing the same file again: models are identical and skipped, every twin is a
    // duplicate of a stored one.
    let again = import(&data, &fixture("good.ndjson"), &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn generated_graph_imports_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let gen = dir.path().join("gen.ndjson");
    generate(&gen, 1300, 3);
    let again = dir.path().join("gen2.ndjson");
    generate(&again, 1300, 3);
    assert_eq!(
        std::fs::read(&gen).unwrap(),
        std::fs::read(&again).unwrap(),
        "same seed, same file"
    );
    imports_whole_generated_graph(&dir.path().join("data"), &gen);
}

/// Imports `gen` (`generate` of 1300 twins) into `data`, then checks the export holds the
/// whole graph and the store is consistent.
fn imports_whole_generated_graph(data: &Path, gen: &Path) {
    let out = import(data, gen, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out_file = data.with_file_name("out.ndjson");
    let text = export(data, &out_file);
    // Two buildings of 611 twins plus the campus; 991 relationships per building (campus →
    // building, building → 10 floors, per floor 20 rooms, 2 × 19 room links, 40 sensors).
    assert_eq!(section(&text, "Twins").len(), 1 + 2 * 611);
    assert_eq!(section(&text, "Relationships").len(), 2 * 991);
    assert_eq!(consistent_store(data).twins, 1 + 2 * 611);
}

/// The integrity report of the store at `data`, which must find no problem.
fn consistent_store(data: &Path) -> twingraph_engine::IntegrityReport {
    let engine = twingraph_engine::Engine::open(data, Default::default()).unwrap();
    let report = engine.check_integrity().unwrap();
    assert!(
        report.problems.is_empty(),
        "{} problems, first {:?}",
        report.problems.len(),
        &report.problems[..report.problems.len().min(5)]
    );
    report
}

/// `twingraph import` killed (SIGKILL) while a bulk load's files are being ingested, with
/// part of them in the store and the load's marker set: the next open rolls the load back,
/// leaving an empty, consistent store, and importing the file again then succeeds.
#[test]
#[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
fn a_bulk_load_killed_mid_ingestion_is_rolled_back_at_the_next_open() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let gen = dir.path().join("gen.ndjson");
    generate(&gen, 1300, 5);
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_twingraph"))
        .args(["import", "--data-dir", data.to_str().unwrap()])
        .arg(&gen)
        .env("TWINGRAPH_FAILPOINTS", "bulk-load-mid-ingestion=600000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let paused = line.contains("paused mid-ingestion");
        said.push(line);
        if paused {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        said.last()
            .is_some_and(|l| l.contains("paused mid-ingestion")),
        "the import ended ({status}) before pausing: {said:?}"
    );

    let report = consistent_store(&data);
    assert_eq!(
        (report.twins, report.relationships, report.changes),
        (0, 0, 0),
        "nothing of the killed load is left"
    );
    let engine = twingraph_engine::Engine::open(&data, Default::default()).unwrap();
    assert_eq!(engine.snapshot().twin_count(), 0);
    drop(engine);

    imports_whole_generated_graph(&data, &gen);
}
