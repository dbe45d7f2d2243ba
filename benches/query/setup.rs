//! Shared by the query benches: the generated smart-building graph loaded into the engine and,
//! the way a careful user would store it, into SQLite; and the query classes, each as ADT query
//! text and the equivalent SQL.
//!
//! SQLite layout: `twins(id PRIMARY KEY, model, doc JSON)` with an index on `model`;
//! `relationships(source, id, target, name, doc)` keyed by (source, id) and indexed both ways
//! (source, name, target) and (target, name, source); `model_ancestry(ancestor, model)` (every
//! model with each model it extends, itself included) so that IS_OF_MODEL is one indexed
//! semi-join. Properties are read with `json_extract`; no per-property indexes, since ADT
//! queries may filter on any property.
#![allow(dead_code)]

use std::path::Path;

use rusqlite::{params, Connection};
use serde_json::Value;
use twingraph_dtdl as dtdl;
use twingraph_engine::{Engine, EngineConfig};
use twingraph_query::{prepare, JsonRow, PreparedQuery, QueryOptions};

#[path = "../common/building.rs"]
mod building;

/// Set to `1m` (or `1000000`) to also run at one million twins; the default is 100k only.
pub const SCALE_ENV: &str = "TWINGRAPH_BENCH_SCALE";

/// Whether this is a measuring run (`cargo bench` passes `--bench`), not the one-pass smoke
/// run of `cargo test --all-targets`.
pub fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The twin counts to run at: a small graph when smoke-testing.
pub fn scales() -> Vec<usize> {
    if !measuring() {
        return vec![2_000];
    }
    let mut scales = vec![100_000];
    let wanted = std::env::var(SCALE_ENV).unwrap_or_default().to_lowercase();
    if wanted == "1m" || wanted == "1000000" {
        scales.push(1_000_000);
    }
    scales
}

pub fn label(twins: usize) -> String {
    if twins >= 1_000_000 {
        format!("{}m", twins / 1_000_000)
    } else {
        format!("{}k", twins / 1_000)
    }
}

/// Both stores holding the same generated graph.
pub struct Fixture {
    pub twins: usize,
    pub engine: Engine,
    pub sqlite: Connection,
    /// A building in the middle of the campus, and one of its floors and rooms.
    pub building: String,
    pub floor: String,
    pub room: String,
    _dir: tempfile::TempDir,
}

pub fn load(twins: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(
        dir.path().join("engine"),
        EngineConfig {
            sync_writes: false,
            // The same memory for data as SQLite's page cache below (1 GiB), shared by the
            // block cache, the document cache and the field cache.
            block_cache_bytes: (1 << 30) - (128 << 20) - (256 << 20),
            doc_cache_bytes: 128 << 20,
            field_cache_bytes: 256 << 20,
            ..EngineConfig::default()
        },
    )
    .expect("open engine");
    let models = building::models();
    engine
        .add_models(&models, &dtdl::Options::default())
        .expect("models");
    let sqlite = sqlite_open(&dir.path().join("sqlite.db"), &models);
    let (generated, rels) = building::graph(twins, 42);
    let count = generated.len();

    let tx = sqlite.unchecked_transaction().expect("begin");
    {
        let mut insert = tx
            .prepare("INSERT INTO twins (id, model, doc) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for t in &generated {
            let stored = engine.put_twin(&t.id, &t.body, false).expect("put twin");
            let model = t.body["$metadata"]["$model"].as_str().unwrap_or_default();
            // SQLite holds the very document the engine stores ($etag, $metadata included).
            insert
                .execute(params![t.id, model, stored.doc.to_string()])
                .expect("insert twin");
        }
        let mut insert = tx
            .prepare(
                "INSERT INTO relationships (source, id, target, name, doc) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .expect("prepare");
        for r in &rels {
            let body = serde_json::json!({"$targetId": r.target, "$relationshipName": r.name});
            let stored = engine
                .put_relationship(&r.source, &r.id, &body, false)
                .expect("put relationship");
            insert
                .execute(params![
                    r.source,
                    r.id,
                    r.target,
                    r.name,
                    stored.doc.to_string()
                ])
                .expect("insert relationship");
        }
    }
    tx.commit().expect("commit");
    sqlite
        .execute_batch("ANALYZE; PRAGMA optimize;")
        .expect("analyze");
    // Each store settles after the load: SQLite gathers its statistics, the engine writes its
    // memtables to table files (as a store loaded by `twingraph import` already is).
    engine.compact().expect("compact");
    let mid = count / 611 / 2;
    Fixture {
        twins: count,
        engine,
        sqlite,
        building: format!("b{mid}"),
        floor: format!("b{mid}-f3"),
        room: format!("b{mid}-f3-r10"),
        _dir: dir,
    }
}

fn sqlite_open(path: &Path, models: &[Value]) -> Connection {
    let db = Connection::open(path).expect("open sqlite");
    // What a careful user sets: WAL, a page cache large enough for the data, memory-mapped reads.
    db.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -1048576;
         PRAGMA mmap_size = 4294967296;
         PRAGMA temp_store = MEMORY;
         CREATE TABLE twins (id TEXT PRIMARY KEY, model TEXT NOT NULL, doc TEXT NOT NULL);
         CREATE INDEX twins_by_model ON twins (model);
         CREATE TABLE relationships (
             source TEXT NOT NULL, id TEXT NOT NULL, target TEXT NOT NULL, name TEXT NOT NULL,
             doc TEXT NOT NULL, PRIMARY KEY (source, id)) WITHOUT ROWID;
         CREATE INDEX relationships_out ON relationships (source, name, target);
         CREATE INDEX relationships_in ON relationships (target, name, source);
         CREATE TABLE model_ancestry (ancestor TEXT NOT NULL, model TEXT NOT NULL,
             PRIMARY KEY (ancestor, model)) WITHOUT ROWID;",
    )
    .expect("schema");
    for (model, ancestors) in ancestry(models) {
        for ancestor in ancestors {
            db.execute(
                "INSERT INTO model_ancestry (ancestor, model) VALUES (?1, ?2)",
                params![ancestor, model],
            )
            .expect("ancestry");
        }
    }
    db
}

/// Every model with itself and everything it extends, transitively.
fn ancestry(models: &[Value]) -> Vec<(String, Vec<String>)> {
    let parent = |id: &str| -> Option<String> {
        models
            .iter()
            .find(|m| m["@id"] == id)
            .and_then(|m| m["extends"].as_str())
            .map(str::to_string)
    };
    models
        .iter()
        .filter_map(|m| m["@id"].as_str())
        .map(|id| {
            let mut chain = vec![id.to_string()];
            while let Some(p) = parent(chain.last().map(String::as_str).unwrap_or_default()) {
                chain.push(p);
            }
            (id.to_string(), chain)
        })
        .collect()
}

/// One query class: the same question in the ADT language and in SQL.
pub struct Class {
    pub name: &'static str,
    pub adt: String,
    pub sql: String,
}

const ROOM: &str = "dtmi:bench:Room;1";
const SENSOR: &str = "dtmi:bench:Sensor;1";
const SPACE: &str = "dtmi:bench:Space;1";
const BUILDING: &str = "dtmi:bench:Building;1";

fn of_model(model: &str) -> String {
    format!("t.model IN (SELECT model FROM model_ancestry WHERE ancestor = '{model}')")
}

fn prop(path: &str) -> String {
    format!("json_extract(t.doc, '$.{path}')")
}

pub fn classes(f: &Fixture) -> Vec<Class> {
    let (b, fl, r) = (&f.building, &f.floor, &f.room);
    let class = |name, adt: String, sql: String| Class { name, adt, sql };
    vec![
        class(
            "point lookup",
            format!("SELECT * FROM DIGITALTWINS T WHERE T.$dtId = '{r}'"),
            format!("SELECT t.doc FROM twins t WHERE t.id = '{r}'"),
        ),
        class(
            "IS_OF_MODEL (inheritance, all rows)",
            format!("SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{SPACE}')"),
            format!("SELECT t.doc FROM twins t WHERE {}", of_model(SPACE)),
        ),
        class(
            "COUNT over IS_OF_MODEL",
            format!("SELECT COUNT() FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{SENSOR}')"),
            format!("SELECT COUNT(*) FROM twins t WHERE {}", of_model(SENSOR)),
        ),
        class(
            "range filter (model-restricted)",
            format!(
                "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{ROOM}') AND T.capacity >= 38"
            ),
            format!(
                "SELECT t.doc FROM twins t WHERE {} AND {} >= 38",
                of_model(ROOM),
                prop("capacity")
            ),
        ),
        class(
            "STARTSWITH (model-restricted)",
            format!(
                "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{ROOM}') \
                 AND STARTSWITH(T.name, 'Room 7')"
            ),
            format!(
                "SELECT t.doc FROM twins t WHERE {} AND {} GLOB 'Room 7*'",
                of_model(ROOM),
                prop("name")
            ),
        ),
        class(
            "IN list (model-restricted)",
            format!(
                "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{ROOM}') \
                 AND T.capacity IN [1, 7, 13]"
            ),
            format!(
                "SELECT t.doc FROM twins t WHERE {} AND {} IN (1, 7, 13)",
                of_model(ROOM),
                prop("capacity")
            ),
        ),
        class(
            "nested object (model-restricted)",
            format!(
                "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{BUILDING}') \
                 AND T.address.city = 'City1'"
            ),
            format!(
                "SELECT t.doc FROM twins t WHERE {} AND {} = 'City1'",
                of_model(BUILDING),
                prop("address.city")
            ),
        ),
        class(
            "multi-predicate (model-restricted)",
            format!(
                "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{ROOM}') \
                 AND T.occupied = true AND T.capacity > 30 AND T.area < 100"
            ),
            format!(
                "SELECT t.doc FROM twins t WHERE {} AND {} = 1 AND {} > 30 AND {} < 100",
                of_model(ROOM),
                prop("occupied"),
                prop("capacity"),
                prop("area")
            ),
        ),
        class(
            "TOP(100)",
            format!(
                "SELECT TOP(100) * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, '{SENSOR}') \
                 AND T.value > 20"
            ),
            format!(
                "SELECT t.doc FROM twins t WHERE {} AND {} > 20 LIMIT 100",
                of_model(SENSOR),
                prop("value")
            ),
        ),
        class(
            "1-hop JOIN from one twin",
            format!(
                "SELECT R FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId = '{fl}'"
            ),
            format!(
                "SELECT t.doc FROM relationships c JOIN twins t ON t.id = c.target \
                 WHERE c.source = '{fl}' AND c.name = 'contains'"
            ),
        ),
        class(
            "2-hop JOIN from one twin",
            format!(
                "SELECT S FROM DIGITALTWINS F JOIN R RELATED F.contains \
                 JOIN S RELATED R.hasSensor WHERE F.$dtId = '{fl}'"
            ),
            format!(
                "SELECT t.doc FROM relationships c \
                 JOIN relationships h ON h.source = c.target AND h.name = 'hasSensor' \
                 JOIN twins t ON t.id = h.target \
                 WHERE c.source = '{fl}' AND c.name = 'contains'"
            ),
        ),
        class(
            "3-hop JOIN from one twin",
            format!(
                "SELECT S FROM DIGITALTWINS B JOIN F RELATED B.contains \
                 JOIN R RELATED F.contains JOIN S RELATED R.hasSensor WHERE B.$dtId = '{b}'"
            ),
            format!(
                "SELECT t.doc FROM relationships c1 \
                 JOIN relationships c2 ON c2.source = c1.target AND c2.name = 'contains' \
                 JOIN relationships h ON h.source = c2.target AND h.name = 'hasSensor' \
                 JOIN twins t ON t.id = h.target \
                 WHERE c1.source = '{b}' AND c1.name = 'contains'"
            ),
        ),
        class(
            "MATCH *1..4 from one twin",
            format!("SELECT X FROM DIGITALTWINS MATCH (B)-[*..4]->(X) WHERE B.$dtId = '{b}'"),
            // Shortest distance 1..=4, as our MATCH reads variable hops; the graph is a tree
            // plus same-floor room links, so every reached twin has one shortest distance.
            format!(
                "WITH RECURSIVE reach(id, d) AS ( \
                   SELECT '{b}', 0 \
                   UNION SELECT r.target, reach.d + 1 FROM reach \
                     JOIN relationships r ON r.source = reach.id WHERE reach.d < 4) \
                 SELECT t.doc FROM twins t WHERE t.id IN ( \
                   SELECT id FROM reach GROUP BY id HAVING MIN(d) BETWEEN 1 AND 4)"
            ),
        ),
        class(
            "COUNT over a 3-hop JOIN from one twin",
            format!(
                "SELECT COUNT() FROM DIGITALTWINS B JOIN F RELATED B.contains \
                 JOIN R RELATED F.contains JOIN S RELATED R.hasSensor WHERE B.$dtId = '{b}'"
            ),
            format!(
                "SELECT COUNT(*) FROM relationships c1 \
                 JOIN relationships c2 ON c2.source = c1.target AND c2.name = 'contains' \
                 JOIN relationships h ON h.source = c2.target AND h.name = 'hasSensor' \
                 WHERE c1.source = '{b}' AND c1.name = 'contains'"
            ),
        ),
        class(
            "COUNT over MATCH *1..4 from one twin",
            format!(
                "SELECT COUNT() FROM DIGITALTWINS MATCH (B)-[*..4]->(X) WHERE B.$dtId = '{b}'"
            ),
            format!(
                "WITH RECURSIVE reach(id, d) AS ( \
                   SELECT '{b}', 0 \
                   UNION SELECT r.target, reach.d + 1 FROM reach \
                     JOIN relationships r ON r.source = reach.id WHERE reach.d < 4) \
                 SELECT COUNT(*) FROM (SELECT id FROM reach GROUP BY id HAVING MIN(d) BETWEEN 1 AND 4)"
            ),
        ),
        class(
            "broad scan (no model, small result)",
            "SELECT * FROM DIGITALTWINS T WHERE T.value > 39.9".to_string(),
            format!("SELECT t.doc FROM twins t WHERE {} > 39.9", prop("value")),
        ),
    ]
}

pub fn prepared(text: &str) -> PreparedQuery {
    prepare(text, &QueryOptions::default()).expect("prepare")
}

/// Runs a prepared ADT query to the end, page by page (1,000 rows, ADT's largest page), on one
/// snapshot; returns the rows. The query is prepared once by the caller, as SQLite's
/// statements are (`prepare_cached`); parsing and planning are measured on their own.
pub fn run_ours(engine: &Engine, query: &PreparedQuery) -> Vec<JsonRow> {
    let options = QueryOptions::default();
    let snap = engine.snapshot();
    let mut page = query.first_page(&snap, 1000, &options).expect("first page");
    let mut rows = std::mem::take(&mut page.rows);
    while let Some(token) = page.continuation.take() {
        page = query
            .resume(&snap, &token, 1000, &options)
            .expect("next page");
        rows.append(&mut page.rows);
    }
    rows
}

/// Runs the SQL; returns each row's first column as text (the stored JSON, or the count).
pub fn run_sqlite(db: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = db.prepare_cached(sql).expect("prepare sql");
    let rows = stmt
        .query_map([], |row| {
            let v: rusqlite::types::Value = row.get(0)?;
            Ok(match v {
                rusqlite::types::Value::Text(s) => s,
                rusqlite::types::Value::Integer(n) => n.to_string(),
                other => format!("{other:?}"),
            })
        })
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}

/// The `$dtId`s of a result, sorted, to check that both stores answer the same question.
pub fn ours_ids(rows: &[JsonRow]) -> Vec<String> {
    let mut ids: Vec<String> = rows
        .iter()
        .map(|row| {
            let row = &row.to_value().expect("rows are JSON");
            if let Some(n) = row.get("COUNT") {
                return n.to_string();
            }
            let doc = match row.as_object() {
                Some(o) if o.len() == 1 && !o.contains_key("$dtId") => {
                    o.values().next().unwrap_or(row)
                }
                _ => row,
            };
            doc["$dtId"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    ids.sort();
    ids
}

pub fn sqlite_ids(rows: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = rows
        .iter()
        .map(|text| match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(doc)) => doc
                .get("$dtId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => text.clone(),
        })
        .collect();
    ids.sort();
    ids
}

/// Panics unless both stores return the same rows for every class (TOP: the same count).
pub fn check_equivalent(f: &Fixture) {
    for class in classes(f) {
        let ours = run_ours(&f.engine, &prepared(&class.adt));
        let theirs = run_sqlite(&f.sqlite, &class.sql);
        assert!(!measuring() || !ours.is_empty(), "{}: no rows", class.name);
        if class.name.starts_with("TOP") {
            assert_eq!(ours.len(), theirs.len(), "{}", class.name);
        } else {
            assert_eq!(ours_ids(&ours), sqlite_ids(&theirs), "{}", class.name);
        }
    }
}
