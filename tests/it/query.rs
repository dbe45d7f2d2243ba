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

#[test]
fn explain_returns_the_plan_as_text_and_json() {
    let s = Server::start();
    building(&s);
    let query = format!(
        "EXPLAIN SELECT R FROM DIGITALTWINS F JOIN R RELATED F.contains \
         WHERE F.$dtId = 'f1' AND IS_OF_MODEL(R, '{ROOM}') AND R.capacity > 10"
    );
    let r = s.post("/query", &json!({ "query": query }));
    r.assert_status(200);
    assert!(r.header("query-charge").is_some());
    let body = r.json();
    assert!(body["continuationToken"].is_null());
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let expected = format!(
        "Project: R AS R\n  Filter: R IN model '{ROOM}' AND R.capacity > 10\n    \
         Expand: (F)-[:contains]->(R)\n      IdLookup: F IN ids ['f1']\n"
    );
    assert_eq!(rows[0]["plan"], expected);
    let operators: Vec<&str> = rows[0]["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["operator"].as_str().unwrap())
        .collect();
    assert_eq!(operators, ["Project", "Filter", "Expand", "IdLookup"]);
    assert_eq!(
        rows[0]["operators"][3],
        json!({"operator": "IdLookup", "variable": "F", "twins": {"ids": ["f1"]}})
    );

    // COUNT over a model is answered from the index alone.
    let r = s.post(
        "/query",
        &json!({"query": format!("explain select count() from digitaltwins where is_of_model('{ROOM}')")}),
    );
    assert_eq!(
        r.json()["value"][0]["plan"],
        format!("CountIndex: model '{ROOM}'\n")
    );

    // EXPLAIN checks the query like any other (a JOIN needs a $dtId anchor).
    let unanchored = "EXPLAIN SELECT R FROM DIGITALTWINS T JOIN R RELATED T.contains";
    s.post("/query", &json!({ "query": unanchored }))
        .assert_error(400, "SqlQueryError");
}

const NODE: &str = "dtmi:twingraph:test:Node;1";

/// `n` twins of the Node model, with a `link` from every twin to every later one.
fn complete_graph(s: &Server, n: usize) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/queries/node-model.json");
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    s.post("/models", &json!([model])).assert_status(201);
    for i in 0..n {
        s.twin(&format!("n{i}"), NODE, json!({ "n": i }))
            .assert_status(200);
    }
    for i in 0..n {
        for j in i + 1..n {
            s.relate(
                &format!("n{i}"),
                &format!("l{j}"),
                "link",
                &format!("n{j}"),
                json!({}),
            )
            .assert_status(200);
        }
    }
}

fn query_page(s: &Server, body: &serde_json::Value, page: usize) -> Resp {
    s.call("POST", "/query")
        .header("max-items-per-page", &page.to_string())
        .json(body)
}

#[test]
fn oversized_queries_are_refused_and_the_server_stays_up() {
    let s = Server::start();
    // 1 MB of query text: refused from its declared length, before the body is read (sent
    // raw, because the server answers and closes while a client would still be sending).
    let huge = json!({
        "query": format!("SELECT * FROM DIGITALTWINS WHERE name = '{}'", "x".repeat(1 << 20))
    })
    .to_string();
    let head = format!(
        "POST /query?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        huge.len()
    );
    let r = s.raw(format!("{head}{}", &huge[..1000]).as_bytes());
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    assert!(r.contains("PayloadTooLarge"), "{r}");
    // 10,000 nested parentheses fit in the body but not in ADT's 8,000 characters.
    let deep = format!(
        "SELECT * FROM DIGITALTWINS WHERE {}a = 1{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let r = s.post("/query", &json!({ "query": deep }));
    r.assert_error(400, "SqlQueryError");
    assert!(r.body.contains("8000 characters"), "{}", r.body);
    // An IN list of 100,000 items is over both limits; 101 items is over the IN limit only.
    let items: Vec<String> = (0..100_000).map(|i| format!("'n{i}'")).collect();
    let query = format!(
        "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN [{}]",
        items.join(",")
    );
    let body = json!({ "query": query }).to_string();
    assert!(body.len() > 32 * 1024);
    let head = format!(
        "POST /query?api-version={API_VERSION} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let r = s.raw(format!("{head}{}", &body[..1000]).as_bytes());
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    let query = format!(
        "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN [{}]",
        items[..101].join(",")
    );
    let r = s.post("/query", &json!({ "query": query }));
    r.assert_error(400, "SqlQueryError");
    assert!(r.body.contains("more than 100 items"), "{}", r.body);
    s.get("/models").assert_status(200);
}

#[test]
fn graph_wide_matches_stream_page_by_page() {
    let s = Server::start();
    complete_graph(&s, 16);

    // The largest IN list allowed is a point lookup per item.
    let items: Vec<String> = (0..100).map(|i| format!("'n{i}'")).collect();
    let query = format!(
        "SELECT COUNT() FROM DIGITALTWINS T WHERE T.$dtId IN [{}]",
        items.join(",")
    );
    let r = s.post("/query", &json!({ "query": query }));
    assert_eq!(r.json()["value"], json!([{"COUNT": 16}]));

    // A variable-length MATCH reaching every edge: each twin once, at its shortest distance.
    let r = s.post(
        "/query",
        &json!({"query": "SELECT COUNT() FROM DIGITALTWINS MATCH (a)-[:link*..10]-(b) WHERE a.$dtId = 'n0'"}),
    );
    assert_eq!(r.json()["value"], json!([{"COUNT": 15}]));

    // Ten undirected hops over distinct relationships: about 10^11 rows. Pages come one at a
    // time, each costing the work of its own rows, not of the whole result.
    let query = "SELECT k.$dtId AS k FROM DIGITALTWINS \
        MATCH (a)-[]-(b)-[]-(c)-[]-(d)-[]-(e)-[]-(f)-[]-(g)-[]-(h)-[]-(i)-[]-(j)-[]-(k) \
        WHERE a.$dtId = 'n0'";
    let mut body = json!({ "query": query });
    let mut seen = Vec::new();
    for _ in 0..3 {
        let r = query_page(&s, &body, 50);
        r.assert_status(200);
        let charge: f64 = r.header("query-charge").unwrap().parse().unwrap();
        assert!(charge < 1_000.0, "a page cost {charge} query units");
        let v = r.json();
        let rows = v["value"].as_array().unwrap();
        assert_eq!(rows.len(), 50);
        seen.extend(rows.iter().cloned());
        let token = v["continuationToken"].as_str().unwrap().to_string();
        body = json!({ "query": query, "continuationToken": token });
    }
    assert_eq!(seen.len(), 150);
    s.get("/models").assert_status(200);
}

/// The rows of one page of `SELECT *` in pages of `size`, and the next token.
fn page_ids(r: &Resp) -> (Vec<String>, Option<String>) {
    r.assert_status(200);
    let v = r.json();
    let ids = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}:{}", t["$dtId"].as_str().unwrap(), t["capacity"]))
        .collect();
    (ids, v["continuationToken"].as_str().map(str::to_string))
}

fn sessions_gauge(s: &Server) -> String {
    let text = s.get("/metrics").body;
    text.lines()
        .find(|l| l.starts_with("twingraph_query_sessions "))
        .unwrap_or("twingraph_query_sessions missing")
        .to_string()
}

#[test]
fn later_pages_read_the_first_pages_snapshot() {
    let s = Server::start();
    building(&s);
    let query = json!({"query": "SELECT * FROM DIGITALTWINS"});
    let (mut seen, mut token) = page_ids(&query_page(&s, &query, 2));
    assert_eq!(seen, ["f1:null", "room-0:0"]);
    assert_eq!(sessions_gauge(&s), "twingraph_query_sessions 1");
    // Writes between pages: a later row deleted, one changed, a new twin that would sort last.
    s.delete("/digitaltwins/f1/relationships/c4")
        .assert_status(204);
    s.delete("/digitaltwins/room-4").assert_status(204);
    s.patch(
        "/digitaltwins/room-3",
        &json!([{"op": "replace", "path": "/capacity", "value": 99}]),
    )
    .assert_status(204);
    s.twin("room-5", ROOM, json!({"capacity": 50}))
        .assert_status(200);
    while let Some(t) = token {
        let (ids, next) = page_ids(&query_page(
            &s,
            &json!({"query": query["query"], "continuationToken": t}),
            2,
        ));
        seen.extend(ids);
        token = next;
    }
    assert_eq!(
        seen,
        [
            "f1:null",
            "room-0:0",
            "room-1:10",
            "room-2:20",
            "room-3:30",
            "room-4:40"
        ],
        "every page reads the data as the first page saw it"
    );
    assert_eq!(sessions_gauge(&s), "twingraph_query_sessions 0");
    // A new query sees the writes.
    let (now, _) = page_ids(&query_page(&s, &query, 100));
    assert_eq!(
        now,
        [
            "f1:null",
            "room-0:0",
            "room-1:10",
            "room-2:20",
            "room-3:99",
            "room-5:50"
        ]
    );
}

#[test]
fn kept_snapshots_are_bounded_in_number_and_time() {
    let s = Server::start_with(&["--query-sessions", "1", "--query-session-idle", "1"]);
    building(&s);
    let a = json!({"query": "SELECT * FROM DIGITALTWINS"});
    let b = json!({"query": "SELECT T.$dtId FROM DIGITALTWINS T"});
    let (_, a_token) = page_ids(&query_page(&s, &a, 2));
    let a_token = a_token.unwrap();
    let r = query_page(&s, &b, 2);
    r.assert_status(200);
    let b_token = r.json()["continuationToken"].as_str().unwrap().to_string();
    // One session at most: B's replaced A's.
    let r = query_page(&s, &json!({"continuationToken": a_token}), 2);
    r.assert_error(400, "BadRequest");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    query_page(&s, &json!({"continuationToken": b_token}), 2).assert_status(200);
    // A token naming a session that never existed, and one that is not a token at all.
    let forged = format!("1.{}", b_token.split_once('.').unwrap().1);
    query_page(&s, &json!({"continuationToken": forged}), 2).assert_error(400, "BadRequest");
    query_page(&s, &json!({"continuationToken": "zz.zz"}), 2).assert_error(400, "BadRequest");
    // Idle for longer than a session may be: released.
    let (_, token) = page_ids(&query_page(&s, &a, 2));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(sessions_gauge(&s), "twingraph_query_sessions 0");
    query_page(&s, &json!({"continuationToken": token.unwrap()}), 2)
        .assert_error(400, "BadRequest");
    // The query itself still runs.
    query_page(&s, &a, 2).assert_status(200);
}

fn threads(s: &Server) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// A kept session is a stored value, not a thread waiting for its next page: forty open
/// sessions cost the server no more threads than one, and each still resumes.
#[test]
fn open_sessions_hold_no_threads() {
    let s = Server::start();
    building(&s);
    let query = json!({"query": "SELECT * FROM DIGITALTWINS"});
    let (_, first) = page_ids(&query_page(&s, &query, 2));
    let before = threads(&s);
    let mut tokens = vec![first.unwrap()];
    for _ in 0..40 {
        let (_, token) = page_ids(&query_page(&s, &query, 2));
        tokens.push(token.unwrap());
    }
    assert_eq!(sessions_gauge(&s), "twingraph_query_sessions 41");
    let after = threads(&s);
    assert!(
        after < before + 10,
        "{before} threads with one session, {after} with 41"
    );
    for token in tokens {
        let (ids, _) = page_ids(&query_page(&s, &json!({"continuationToken": token}), 2));
        assert_eq!(ids, ["room-1:10", "room-2:20"]);
    }
}

#[test]
fn queries_answer_the_same_without_the_document_cache() {
    let cached = Server::start();
    let uncached = Server::start_with(&["--doc-cache-mb", "0", "--block-cache-mb", "1"]);
    for s in [&cached, &uncached] {
        building(s);
        // A rewrite after a first read: the cached server must not answer the old version.
        query_page(s, &json!({"query": "SELECT * FROM DIGITALTWINS"}), 100).assert_status(200);
        s.patch(
            "/digitaltwins/room-2",
            &json!([{"op": "replace", "path": "/capacity", "value": 77}]),
        )
        .assert_status(204);
    }
    for query in [
        "SELECT * FROM DIGITALTWINS",
        "SELECT R FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId = 'f1'",
        "SELECT T.$dtId, T.capacity FROM DIGITALTWINS T WHERE T.capacity > 10",
    ] {
        let body = json!({ "query": query });
        let a = query_page(&cached, &body, 100).json()["value"].clone();
        let b = query_page(&uncached, &body, 100).json()["value"].clone();
        let strip = |rows: &serde_json::Value| -> Vec<String> {
            // Etags and times differ between the two servers; ids and properties must not.
            let mut out: Vec<String> = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let r = r.get("R").unwrap_or(r);
                    format!("{}:{}:{}", r["$dtId"], r["capacity"], r["T.capacity"])
                })
                .collect();
            out.sort();
            out
        };
        assert_eq!(strip(&a), strip(&b), "{query}");
        assert!(a.to_string().contains("77"), "{query}: {a}");
    }
}
