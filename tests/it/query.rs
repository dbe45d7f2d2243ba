//! `POST /query`: results, paging with `continuationToken`, `query-charge`, and errors.

use serde_json::json;

use crate::harness::*;

#[test]
fn body_validation() {
    let s = Server::start();
    s.post("/query", &json!({})).assert_error(400, "BadRequest");
    s.post("/query", &json!({"query": 5}))
        .assert_error(400, "InvalidArgument");
    let long = format!(
        "SELECT * FROM DIGITALTWINS WHERE name = '{}'",
        "x".repeat(8000)
    );
    s.post("/query", &json!({"query": long}))
        .assert_error(400, "SqlQueryError");
    s.call("POST", "/query")
        .header("max-items-per-page", "zero")
        .json(&json!({"query": "SELECT * FROM DIGITALTWINS"}))
        .assert_error(400, "InvalidArgument");
}

#[test]
fn syntax_errors_and_hostile_queries() {
    let s = Server::start();
    let r = s.post("/query", &json!({"query": "SELEC * FROM DIGITALTWINS"}));
    r.assert_error(400, "SqlQueryError");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line 1"));
    // Deep nesting must be refused, not crash the server.
    let deep = format!(
        "SELECT * FROM DIGITALTWINS WHERE {}1 = 1{}",
        "(".repeat(3000),
        ")".repeat(3000)
    );
    s.post("/query", &json!({"query": deep}))
        .assert_error(400, "SqlQueryError");
    let many_not = format!(
        "SELECT * FROM DIGITALTWINS WHERE {}x = 1",
        "NOT ".repeat(1900)
    );
    s.post("/query", &json!({"query": many_not}))
        .assert_error(400, "SqlQueryError");
    s.get("/models").assert_status(200);
}

fn building(s: &Server) {
    s.upload_models();
    s.twin("f1", FLOOR, json!({"name": "Ground", "level": 0}))
        .assert_status(200);
    for i in 0..5 {
        let room = format!("room-{i}");
        s.twin(
            &room,
            ROOM,
            json!({"name": format!("Room {i}"), "capacity": i * 10}),
        )
        .assert_status(200);
        s.relate(
            "f1",
            &format!("c{i}"),
            "contains",
            &room,
            json!({"since": "2020"}),
        )
        .assert_status(200);
    }
}

#[test]
fn results_and_shapes() {
    let s = Server::start();
    building(&s);
    let r = s.post(
        "/query",
        &json!({"query": format!("SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('{ROOM}') AND capacity >= 20")}),
    );
    r.assert_status(200);
    assert!(r.header("query-charge").unwrap().parse::<f64>().is_ok());
    let body = r.json();
    assert!(body["continuationToken"].is_null());
    let mut ids: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["$dtId"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["room-2", "room-3", "room-4"]);

    // Queries see writes at once (read-your-writes).
    let r = s.post(
        "/query",
        &json!({"query": "SELECT COUNT() FROM DIGITALTWINS"}),
    );
    assert_eq!(r.json()["value"], json!([{"COUNT": 6}]));

    let r = s.post(
        "/query",
        &json!({"query": "SELECT F, R FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId = 'f1' AND R.capacity = 40"}),
    );
    r.assert_status(200);
    let rows = r.json()["value"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["F"]["$dtId"], "f1");
    assert_eq!(rows[0]["R"]["$dtId"], "room-4");
}

#[test]
fn paging_with_continuation_tokens() {
    let s = Server::start();
    building(&s);
    let query = "SELECT * FROM DIGITALTWINS";
    let mut seen = Vec::new();
    let mut body = json!({"query": query});
    for page in 0.. {
        assert!(page < 20);
        let r = s
            .call("POST", "/query")
            .header("max-items-per-page", "2")
            .json(&body);
        r.assert_status(200);
        assert!(r.header("query-charge").is_some(), "on every page");
        let v = r.json();
        let rows = v["value"].as_array().unwrap();
        assert!(rows.len() <= 2);
        seen.extend(
            rows.iter()
                .map(|t| t["$dtId"].as_str().unwrap().to_string()),
        );
        match &v["continuationToken"] {
            serde_json::Value::String(t) => {
                // The SDKs repeat the query text with the token.
                body = json!({"query": query, "continuationToken": t});
            }
            _ => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        vec!["f1", "room-0", "room-1", "room-2", "room-3", "room-4"]
    );
    s.post("/query", &json!({"continuationToken": "not-a-token"}))
        .assert_error(400, "BadRequest");
}
