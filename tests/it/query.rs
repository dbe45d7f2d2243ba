//! `POST /query`: request validation. (Result tests arrive with the query executor.)

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
