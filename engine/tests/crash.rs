//! Crash consistency: a child process writes as fast as it can and reports each acknowledged
//! operation; the parent kills it with SIGKILL at varying moments, reopens the store, and
//! checks that every acknowledged operation survived, the change log has no gap, and every
//! index agrees with a full scan. (Custom harness: the same binary is parent and child.)

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::json;
use twingraph_engine::{Engine, EngineConfig};

const ROUNDS: u64 = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let dir = &args[pos + 1];
        let start: u64 = args[pos + 2].parse().expect("start index");
        child(dir, start);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo test -- --list` asks every test binary what it holds.
        println!("crash_consistency: test");
        return;
    }
    parent();
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

fn durable(dir: &std::path::Path) -> Engine {
    Engine::open(dir, EngineConfig::default()).expect("open")
}

fn child(dir: &str, start: u64) {
    let engine = durable(std::path::Path::new(dir));
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    for i in start.. {
        let id = format!("t{i}");
        engine
            .put_twin(&id, &common::room(&id), false)
            .expect("put");
        writeln!(out, "twin {id}")
            .and_then(|_| out.flush())
            .expect("stdout");
        engine
            .patch_twin(
                &id,
                &json!([{"op": "replace", "path": "/temperature", "value": i as f64}]),
                None,
                None,
            )
            .expect("patch");
        writeln!(out, "patch {id} {i}")
            .and_then(|_| out.flush())
            .expect("stdout");
        if i > start {
            let prev = format!("t{}", i - 1);
            engine
                .put_relationship(
                    &prev,
                    &format!("r{i}"),
                    &common::rel(&id, "contains"),
                    false,
                )
                .expect("relationship");
            writeln!(out, "rel {prev} r{i}")
                .and_then(|_| out.flush())
                .expect("stdout");
            if i % 7 == 0 && i > start + 1 {
                let older = format!("t{}", i - 2);
                let rel_id = format!("r{}", i - 1);
                engine
                    .delete_relationship(&older, &rel_id, None)
                    .expect("delete");
                writeln!(out, "delrel {older} {rel_id}")
                    .and_then(|_| out.flush())
                    .expect("stdout");
            }
        }
    }
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = durable(dir.path());
        let models = common::fixture("models/space.json");
        engine
            .add_models(models.as_array().unwrap(), &Default::default())
            .unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<Vec<String>> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--child",
                dir.path().to_str().unwrap(),
                &(round * 1_000_000).to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Kill after a different number of acknowledgements each round (not a timer: the
        // moment within an operation varies with scheduling anyway).
        let kill_after = 40 + round * 97 % 300;
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        while let Some(Ok(line)) = lines.next() {
            acked.push(line.split(' ').map(str::to_string).collect());
            seen += 1;
            if seen >= kill_after {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
                               // Lines written before the kill landed are acknowledged too.
        for line in lines.map_while(Result::ok) {
            acked.push(line.split(' ').map(str::to_string).collect());
        }
        child.wait().unwrap();

        let engine = durable(dir.path());
        verify(&engine, &acked);
        let report = engine.check_integrity().unwrap();
        assert!(
            report.problems.is_empty(),
            "round {round}: {:?}",
            report.problems
        );
        assert!(
            report.changes as usize >= acked.len(),
            "every ack has a change record"
        );
        eprintln!(
            "crash round {round}: {} acknowledged operations, {} twins, {} relationships, {} changes: all present",
            acked.len(), report.twins, report.relationships, report.changes
        );
    }
}

fn verify(engine: &Engine, acked: &[Vec<String>]) {
    let snap = engine.snapshot();
    let deleted: std::collections::HashSet<(&str, &str)> = acked
        .iter()
        .filter(|l| l[0] == "delrel")
        .map(|l| (l[1].as_str(), l[2].as_str()))
        .collect();
    for line in acked {
        match line[0].as_str() {
            "twin" => assert!(
                snap.twin(&line[1]).unwrap().is_some(),
                "lost twin {}",
                line[1]
            ),
            "patch" => {
                let twin = snap.twin(&line[1]).unwrap().expect("patched twin");
                let want: f64 = line[2].parse().unwrap();
                assert_eq!(
                    twin.doc["temperature"],
                    json!(want),
                    "lost patch of {}",
                    line[1]
                );
            }
            "rel" => {
                let present = snap.relationship(&line[1], &line[2]).unwrap().is_some();
                let gone = deleted.contains(&(line[1].as_str(), line[2].as_str()));
                assert!(
                    present != gone,
                    "relationship {}/{} present={present}",
                    line[1],
                    line[2]
                );
            }
            "delrel" => assert!(snap.relationship(&line[1], &line[2]).unwrap().is_none()),
            other => panic!("unknown ack {other}"),
        }
    }
}
