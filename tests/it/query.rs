//! `POST /query`: request validation. (Result tests arrive with the query executor.)

use serde_json::json;

use crate::harness::*;

#[test]
fn body_validation() {
    let s = Server::start();
    s.post("/query", &json!({}))
        .assert_error(400, "BadRequest");
    s.post("/query", &json!({"query": 5}))
        .assert_error(400, "InvalidArgument");
    let long = format!("SELECT * FROM DIGITALTWINS WHERE name = '{}'", "x".repeat(8000));
    s.post("/query", &json!({"query": long}))
        .assert_error(400, "SqlQueryError");
    s.call("POST", "/query")
        .header("max-items-per-page", "zero")
        .json(&json!({"query": "SELECT * FROM DIGITALTWINS"}))
        .assert_error(400, "InvalidArgument");
}
