//! `twingraph query --data-dir DIR "<query>"`: data written through the server, the server
//! stopped, then the CLI run on the same folder. Its NDJSON must equal what POST /query
//! answered for the same data, row for row and in order.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::harness::*;

fn cli(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twingraph"))
        .arg("query")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

/// The rows printed by a successful run, one JSON value per line.
fn ndjson(out: &Output) -> Vec<Value> {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Every row of `query` over HTTP, following continuation tokens.
fn http_rows(s: &Server, query: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut body = json!({ "query": query });
    loop {
        let r = s
            .call("POST", "/query")
            .header("max-items-per-page", "3")
            .json(&body);
        r.assert_status(200);
        let v = r.json();
        rows.extend(v["value"].as_array().unwrap().iter().cloned());
        match &v["continuationToken"] {
            Value::String(t) => body = json!({ "continuationToken": t }),
            _ => return rows,
        }
    }
}

const QUERIES: &[&str] = &[
    "SELECT * FROM DIGITALTWINS",
    "SELECT F, R, C FROM DIGITALTWINS F JOIN R RELATED F.contains C WHERE F.$dtId = 'f1'",
    "SELECT R FROM RELATIONSHIPS R WHERE R.since = '2020'",
];

#[test]
fn cli_prints_the_rows_the_server_returned() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, &[]);
    server.upload_models();
    server
        .twin("f1", FLOOR, json!({"name": "Ground", "level": 0}))
        .assert_status(200);
    for i in 0..7 {
        let room = format!("room-{i}");
        let props = json!({"name": format!("Room {i}"), "capacity": i * 10});
        server.twin(&room, ROOM, props).assert_status(200);
        let since = if i % 2 == 0 { "2020" } else { "2021" };
        server
            .relate(
                "f1",
                &format!("c{i}"),
                "contains",
                &room,
                json!({ "since": since }),
            )
            .assert_status(200);
    }
    let expected: Vec<Vec<Value>> = QUERIES.iter().map(|q| http_rows(&server, q)).collect();
    drop(server);

    for (query, expected) in QUERIES.iter().zip(&expected) {
        assert!(!expected.is_empty(), "{query}");
        assert_eq!(&ndjson(&cli(&data, &[query])), expected, "{query}");
        // Small pages: the continuation tokens must neither lose nor repeat a row.
        let paged = cli(&data, &["--page-size", "2", query]);
        assert_eq!(&ndjson(&paged), expected, "{query}, pages of 2");
    }

    let rows = ndjson(&cli(
        &data,
        &[&format!(
            "SELECT T.$dtId AS id, T.capacity FROM DIGITALTWINS T \
             WHERE IS_OF_MODEL(T, '{ROOM}') AND T.capacity >= 40"
        )],
    ));
    assert_eq!(
        rows,
        vec![
            json!({"id": "room-4", "capacity": 40}),
            json!({"id": "room-5", "capacity": 50}),
            json!({"id": "room-6", "capacity": 60}),
        ]
    );
    let rows = ndjson(&cli(
        &data,
        &[&format!(
            "SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('{SPACE}')"
        )],
    ));
    assert_eq!(rows, vec![json!({"COUNT": 8})]);
    let rows = ndjson(&cli(&data, &["SELECT TOP(2) T.name FROM DIGITALTWINS T"]));
    assert_eq!(
        rows,
        vec![json!({"name": "Ground"}), json!({"name": "Room 0"})]
    );
    let rows = ndjson(&cli(
        &data,
        &["SELECT * FROM DIGITALTWINS WHERE name = 'nobody'"],
    ));
    assert!(rows.is_empty());
}

#[test]
fn cli_explains_and_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(Server::start_in(&data, &[]));

    let out = cli(
        &data,
        &["EXPLAIN SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 'a' AND T.x > 1"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Document: T\n  Filter: T.x > 1\n    IdLookup: T IN ids ['a']\n"
    );

    let out = cli(&data, &["SELEC * FROM DIGITALTWINS"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("syntax error at line 1, column 1"),
        "{stderr}"
    );

    let missing = dir.path().join("missing");
    let out = cli(&missing, &["SELECT * FROM DIGITALTWINS"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("no store"));
    assert!(!missing.exists(), "the CLI must not create a store");

    // While a server holds the store, the CLI says so instead of waiting or corrupting it.
    let server = Server::start_in(&data, &[]);
    let out = cli(&data, &["SELECT * FROM DIGITALTWINS"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("is a server running on it?"), "{stderr}");
    drop(server);
}
