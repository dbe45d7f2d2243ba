//! Executor tests over a real engine: result shapes (adt-api.md §5.6), MATCH hop readings,
//! paging with continuation tokens, and the plans chosen (EXPLAIN text).

use serde_json::{json, Value};
use twingraph_dtdl as dtdl;
use twingraph_engine::{Engine, EngineConfig};

use crate::{next_page, prepare, Error, Page, QueryOptions};

/// The models every executor test uses: a `Space` with every property kind and three
/// relationships, and subtypes (`Room` in two versions) to exercise IS_OF_MODEL.
pub(super) fn models() -> Vec<Value> {
    let space = json!({
        "@id": "dtmi:test:Space;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [
            {"@type": "Property", "name": "name", "schema": "string"},
            {"@type": "Property", "name": "temperature", "schema": "double"},
            {"@type": "Property", "name": "level", "schema": "integer"},
            {"@type": "Property", "name": "active", "schema": "boolean"},
            {"@type": "Property", "name": "tags", "schema": {"@type": "Map",
                "mapKey": {"name": "key", "schema": "string"},
                "mapValue": {"name": "value", "schema": "string"}}},
            {"@type": "Property", "name": "floors", "schema": {"@type": "Array", "elementSchema": "integer"}},
            {"@type": "Relationship", "name": "contains",
                "properties": [{"@type": "Property", "name": "weight", "schema": "integer"}]},
            {"@type": "Relationship", "name": "feeds",
                "properties": [{"@type": "Property", "name": "weight", "schema": "integer"}]},
            {"@type": "Relationship", "name": "near"}
        ]
    });
    let sub = |id: &str| {
        json!({"@id": id, "@type": "Interface", "@context": "dtmi:dtdl:context;3",
               "extends": "dtmi:test:Space;1"})
    };
    vec![
        space,
        sub("dtmi:test:Room;1"),
        sub("dtmi:test:Room;2"),
        sub("dtmi:test:Floor;1"),
        sub("dtmi:test:Sensor;1"),
    ]
}

pub(super) fn open(dir: &std::path::Path) -> Engine {
    let engine = Engine::open(
        dir,
        EngineConfig {
            sync_writes: false,
            ..EngineConfig::default()
        },
    )
    .expect("open engine");
    engine
        .add_models(&models(), &dtdl::Options::default())
        .expect("models");
    engine
}

pub(super) fn twin(engine: &Engine, id: &str, model: &str, props: Value) {
    let mut body = props;
    body["$metadata"] = json!({"$model": model});
    engine.put_twin(id, &body, false).expect("put twin");
}

pub(super) fn relate(
    engine: &Engine,
    source: &str,
    id: &str,
    name: &str,
    target: &str,
    props: Value,
) {
    let mut body = props;
    body["$targetId"] = json!(target);
    body["$relationshipName"] = json!(name);
    engine
        .put_relationship(source, id, &body, false)
        .expect("put relationship");
}

/// building → floor1, floor2 → rooms → sensors; one `feeds` cycle between rooms.
fn building(engine: &Engine) {
    twin(
        engine,
        "building",
        "dtmi:test:Space;1",
        json!({"name": "HQ"}),
    );
    twin(
        engine,
        "floor1",
        "dtmi:test:Floor;1",
        json!({"name": "F1", "level": 1}),
    );
    twin(
        engine,
        "floor2",
        "dtmi:test:Floor;1",
        json!({"name": "F2", "level": 2}),
    );
    twin(
        engine,
        "room1",
        "dtmi:test:Room;1",
        json!({"name": "R1", "temperature": 21.5, "tags": {"color": "red"}}),
    );
    twin(
        engine,
        "room2",
        "dtmi:test:Room;2",
        json!({"name": "R2", "temperature": 25, "floors": [1, 2]}),
    );
    twin(
        engine,
        "room3",
        "dtmi:test:Room;1",
        json!({"temperature": 19}),
    );
    twin(
        engine,
        "sensor1",
        "dtmi:test:Sensor;1",
        json!({"name": "S1", "active": true}),
    );
    relate(
        engine,
        "building",
        "b-f1",
        "contains",
        "floor1",
        json!({"weight": 1}),
    );
    relate(
        engine,
        "building",
        "b-f2",
        "contains",
        "floor2",
        json!({"weight": 2}),
    );
    relate(engine, "floor1", "f1-r1", "contains", "room1", json!({}));
    relate(
        engine,
        "floor1",
        "f1-r2",
        "contains",
        "room2",
        json!({"weight": 5}),
    );
    relate(engine, "floor2", "f2-r3", "contains", "room3", json!({}));
    relate(engine, "room1", "r1-s1", "contains", "sensor1", json!({}));
    relate(
        engine,
        "room1",
        "r1-r2",
        "feeds",
        "room2",
        json!({"weight": 3}),
    );
    relate(engine, "room2", "r2-r1", "feeds", "room1", json!({}));
}

fn with_building<T>(f: impl FnOnce(&Engine) -> T) -> T {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(dir.path());
    building(&engine);
    f(&engine)
}

fn rows_with(engine: &Engine, text: &str, options: &QueryOptions) -> Vec<Value> {
    let prepared = prepare(text, options).unwrap_or_else(|e| panic!("{text}: {e}"));
    let snap = engine.snapshot();
    let mut page = prepared
        .first_page(&snap, 1000, options)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut rows = std::mem::take(&mut page.rows);
    while let Some(token) = page.continuation.take() {
        page = next_page(&snap, &token, 1000, options).expect("next page");
        rows.append(&mut page.rows);
    }
    values(&rows)
}

/// Rows parsed: each must be JSON.
pub(super) fn values(rows: &[crate::JsonRow]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            r.to_value()
                .unwrap_or_else(|e| panic!("row {r} is not JSON: {e}"))
        })
        .collect()
}

fn rows(engine: &Engine, text: &str) -> Vec<Value> {
    rows_with(engine, text, &QueryOptions::default())
}

fn ids(rows: &[Value], key: Option<&str>) -> Vec<String> {
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| {
            let doc = key.map_or(r, |k| &r[k]);
            doc["$dtId"]
                .as_str()
                .or(doc.as_str())
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

fn explain(text: &str) -> String {
    prepare(text, &QueryOptions::default())
        .expect("prepare")
        .explain()
}

#[test]
fn select_star_returns_bare_documents() {
    with_building(|e| {
        let all = rows(e, "SELECT * FROM DIGITALTWINS");
        assert_eq!(all.len(), 7);
        assert!(all
            .iter()
            .all(|r| r["$etag"].is_string() && r["$metadata"]["$model"].is_string()));
        let rels = rows(
            e,
            "SELECT * FROM RELATIONSHIPS WHERE $sourceId IN ['floor1', 'room1']",
        );
        let mut got: Vec<&str> = rels
            .iter()
            .filter_map(|r| r["$relationshipId"].as_str())
            .collect();
        got.sort_unstable();
        assert_eq!(got, ["f1-r1", "f1-r2", "r1-r2", "r1-s1"]);
    });
}

#[test]
fn projections_are_keyed_by_alias_or_last_segment_and_omit_missing() {
    with_building(|e| {
        let r = rows(e, "SELECT T FROM DIGITALTWINS T WHERE T.$dtId = 'room1'");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["T"]["$dtId"], "room1");
        let r = rows(
            e,
            "SELECT name, temperature AS t FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:test:Room;1')",
        );
        let mut r: Vec<String> = r.iter().map(Value::to_string).collect();
        r.sort();
        assert_eq!(
            r,
            [
                r#"{"name":"R1","t":21.5}"#,
                r#"{"name":"R2","t":25}"#,
                r#"{"t":19}"#
            ]
        );
        let r = rows(
            e,
            "SELECT T.tags.color, T.$metadata.$model FROM DIGITALTWINS T WHERE T.$dtId = 'room1'",
        );
        assert_eq!(r, [json!({"color": "red", "$model": "dtmi:test:Room;1"})]);
    });
}

#[test]
fn join_rows_carry_twins_and_relationships() {
    with_building(|e| {
        let r = rows(
            e,
            "SELECT F, R, C FROM DIGITALTWINS F JOIN R RELATED F.contains C WHERE F.$dtId = 'floor1'",
        );
        assert_eq!(ids(&r, Some("R")), ["room1", "room2"]);
        assert!(r
            .iter()
            .all(|row| row["F"]["$dtId"] == "floor1" && row["C"]["$sourceId"] == "floor1"));
        let r = rows(
            e,
            "SELECT R.name, C.weight FROM DIGITALTWINS F JOIN R RELATED F.contains C \
             WHERE F.$dtId = 'floor1' AND C.weight > 1",
        );
        assert_eq!(r, [json!({"name": "R2", "weight": 5})]);
        // Anchored at the target: the planner walks the relationship backwards.
        let r = rows(
            e,
            "SELECT F FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE R.$dtId = 'room3'",
        );
        assert_eq!(ids(&r, Some("F")), ["floor2"]);
        let plan = explain(
            "SELECT F FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE R.$dtId = 'room3'",
        );
        assert!(plan.contains("IdLookup: R IN ids ['room3']"), "{plan}");
        assert!(plan.contains("Expand: (R)<-[:contains]-(F)"), "{plan}");
    });
}

#[test]
fn count_and_top() {
    with_building(|e| {
        assert_eq!(
            rows(e, "SELECT COUNT() FROM DIGITALTWINS"),
            [json!({"COUNT": 7})]
        );
        assert_eq!(
            rows(e, "SELECT COUNT() FROM RELATIONSHIPS"),
            [json!({"COUNT": 8})]
        );
        let n = rows(
            e,
            "SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:test:Room;1')",
        );
        assert_eq!(n, [json!({"COUNT": 3})], "Room;1 matches Room;2 too");
        let n = rows(
            e,
            "SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:test:Room;1', exact)",
        );
        assert_eq!(n, [json!({"COUNT": 2})]);
        let n = rows(e, "SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:test:Space;1') AND temperature > 20");
        assert_eq!(n, [json!({"COUNT": 2})]);
        assert_eq!(rows(e, "SELECT TOP(2) FROM DIGITALTWINS").len(), 2);
        assert_eq!(
            rows(e, "SELECT TOP(100) T.name FROM DIGITALTWINS T").len(),
            7
        );
        let plan = explain("SELECT COUNT() FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:test:Room;1') AND NOT $dtId = 'x'");
        assert!(
            plan.starts_with("CountIndex: (model 'dtmi:test:Room;1' AND NOT ids ['x'])"),
            "{plan}"
        );
    });
}

#[test]
fn three_valued_where() {
    with_building(|e| {
        // `!=` and NOT exclude twins where the property is missing.
        let r = rows(e, "SELECT * FROM DIGITALTWINS WHERE name != 'R1'");
        assert_eq!(
            ids(&r, None),
            ["building", "floor1", "floor2", "room2", "sensor1"]
        );
        let r = rows(e, "SELECT * FROM DIGITALTWINS WHERE NOT temperature < 20");
        assert_eq!(ids(&r, None), ["room1", "room2"]);
        let r = rows(e, "SELECT * FROM DIGITALTWINS WHERE ARRAY_CONTAINS(floors, 2) OR STARTSWITH($dtId, 'sen')");
        assert_eq!(ids(&r, None), ["room2", "sensor1"]);
        let r = rows(e, "SELECT * FROM DIGITALTWINS WHERE name = 'r1'");
        assert!(r.is_empty(), "string comparison is case-sensitive");
    });
}

#[test]
fn match_hops_follow_the_documented_reading_or_cypher() {
    with_building(|e| {
        let q = "SELECT b, x FROM DIGITALTWINS MATCH (b)-[:contains*1..3]->(x) WHERE b.$dtId = 'building'";
        // ADT: lower bound exclusive, so 2 or 3 hops: the rooms and the sensor.
        assert_eq!(
            ids(&rows(e, q), Some("x")),
            ["room1", "room2", "room3", "sensor1"]
        );
        let cypher = QueryOptions {
            cypher_hops: true,
            ..QueryOptions::default()
        };
        assert_eq!(
            ids(&rows_with(e, q, &cypher), Some("x")),
            ["floor1", "floor2", "room1", "room2", "room3", "sensor1"]
        );
        let q = "SELECT x FROM DIGITALTWINS MATCH (b)-[*..2]->(x) WHERE b.$dtId = 'floor1'";
        assert_eq!(ids(&rows(e, q), Some("x")), ["room1", "room2", "sensor1"]);
        // Incoming and either direction, anchored at the far end.
        let q = "SELECT f FROM DIGITALTWINS MATCH (f)-[:contains]->(r) WHERE r.$dtId = 'room2'";
        assert_eq!(ids(&rows(e, q), Some("f")), ["floor1"]);
        let q = "SELECT x FROM DIGITALTWINS MATCH (r)-[:feeds]-(x) WHERE r.$dtId = 'room1'";
        assert_eq!(
            ids(&rows(e, q), Some("x")),
            ["room2", "room2"],
            "one row per relationship"
        );
        // A pattern never reuses a relationship: r1 -feeds- x -feeds- y cannot walk back along
        // the same relationship, but can return over the other one.
        let q = "SELECT y FROM DIGITALTWINS MATCH (r)-[:feeds]-(x)-[:feeds]-(y) WHERE r.$dtId = 'room1'";
        assert_eq!(ids(&rows(e, q), Some("y")), ["room1", "room1"]);
        let q = "SELECT x FROM DIGITALTWINS MATCH (f)-[c:contains]->(x) WHERE f.$dtId = 'floor1' AND c.weight = 5";
        assert_eq!(ids(&rows(e, q), Some("x")), ["room2"]);
    });
}

fn all_pages(engine: &Engine, text: &str, size: usize) -> (Vec<Value>, Vec<Page>) {
    let options = QueryOptions::default();
    let snap = engine.snapshot();
    let prepared = prepare(text, &options).expect("prepare");
    let mut pages = vec![prepared
        .first_page(&snap, size, &options)
        .expect("first page")];
    while let Some(token) = pages.last().and_then(|p| p.continuation.clone()) {
        pages.push(next_page(&snap, &token, size, &options).expect("next page"));
    }
    let rows: Vec<_> = pages.iter().flat_map(|p| p.rows.clone()).collect();
    (values(&rows), pages)
}

#[test]
fn paging_resumes_exactly_where_the_last_page_stopped() {
    with_building(|e| {
        for text in [
            "SELECT * FROM DIGITALTWINS",
            "SELECT * FROM RELATIONSHIPS",
            "SELECT a, b FROM DIGITALTWINS MATCH (a)-[]-(b)-[]-(c) WHERE a.$dtId IN ['room1', 'floor1']",
            "SELECT TOP(5) T FROM DIGITALTWINS T",
            // Documents moved out of the row (R) next to ones that must stay (F, and R when
            // another item reads it too).
            "SELECT F, R FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId IN ['building', 'floor1', 'floor2']",
            "SELECT R, R.name FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId IN ['floor1', 'floor2']",
        ] {
            let (whole, pages) = all_pages(e, text, 1000);
            assert_eq!(pages.len(), 1);
            for size in 1..=4 {
                let (paged, pages) = all_pages(e, text, size);
                assert_eq!(paged, whole, "{text} in pages of {size}");
                assert!(pages.iter().all(|p| p.rows.len() <= size && !p.rows.is_empty()));
                assert!(pages.iter().all(|p| p.charge >= 1.0));
                assert!(pages.last().is_some_and(|p| p.continuation.is_none()));
            }
        }
    });
}

#[test]
fn a_kept_prepared_query_resumes_its_own_tokens_only() {
    with_building(|e| {
        let snap = e.snapshot();
        let options = QueryOptions::default();
        let text = "SELECT * FROM DIGITALTWINS";
        let prepared = prepare(text, &options).expect("prepare");
        let first = prepared.first_page(&snap, 3, &options).expect("first");
        let token = first.continuation.clone().expect("token");
        let resumed = prepared.resume(&snap, &token, 3, &options).expect("resume");
        assert_eq!(
            resumed,
            next_page(&snap, &token, 3, &options).expect("next")
        );
        let other = prepare("SELECT T FROM DIGITALTWINS T", &options).expect("prepare");
        let err = other
            .resume(&snap, &token, 3, &options)
            .expect_err("foreign token");
        assert!(matches!(err, Error::BadContinuation(_)), "{err}");
    });
}

#[test]
fn bad_tokens_are_refused() {
    with_building(|e| {
        let snap = e.snapshot();
        let options = QueryOptions::default();
        let err = next_page(&snap, "garbage", 10, &options).expect_err("garbage token");
        assert!(matches!(err, Error::BadContinuation(_)));
    });
}

#[test]
fn explain_shows_the_access_path() {
    let plan =
        explain("SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN ['a', 'b'] AND T.temperature > 5");
    assert_eq!(
        plan,
        "Document: T\n  Filter: T.temperature > 5\n    IdLookup: T IN ids ['a', 'b']\n"
    );
    let plan = explain("SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:a:b;1') OR name = 'x'");
    assert!(plan.contains("Scan: _0 IN all twins"), "{plan}");
    let plan = explain(
        "SELECT LightBulb FROM DIGITALTWINS Room JOIN LightPanel RELATED Room.contains \
         JOIN LightBulb RELATED LightPanel.contains WHERE IS_OF_MODEL(LightPanel, 'dtmi:c:lp;1') \
         AND IS_OF_MODEL(LightBulb, 'dtmi:c:lb;1') AND Room.$dtId IN ['room1','room2']",
    );
    let expected = "Project: LightBulb AS LightBulb
  Filter: LightBulb IN model 'dtmi:c:lb;1'
    Expand: (LightPanel)-[:contains]->(LightBulb)
      Filter: LightPanel IN model 'dtmi:c:lp;1'
        Expand: (Room)-[:contains]->(LightPanel)
          IdLookup: Room IN ids ['room1', 'room2']
";
    assert_eq!(plan, expected);
    let plan =
        explain("SELECT TOP(3) R FROM RELATIONSHIPS R WHERE R.$targetId = 't' AND R.weight > 1");
    assert!(plan.starts_with("Limit: 3\n"), "{plan}");
    assert!(plan.contains("IdLookup: _2 IN ids ['t']"), "{plan}");
    let plan =
        explain("EXPLAIN SELECT a FROM DIGITALTWINS MATCH (a)-[:x*1..3]->(b) WHERE b.$dtId = 'z'");
    assert!(
        plan.contains("Expand: (b)<-[:x]-(a) hops 2..=3 (shortest distance)"),
        "{plan}"
    );
}

#[test]
fn explain_prints_predicates_in_query_syntax() {
    let plan = explain(
        "SELECT T.[[1st floor]] AS f FROM DIGITALTWINS T WHERE STARTSWITH(T.name, 'it\\'s') \
         AND T.kind NIN ['a', 2, true, null] AND NOT IS_NULL(T.$metadata.x) \
         AND (ARRAY_CONTAINS(T.tags, 'x') OR T.v <= -1.5)",
    );
    let expected = "Project: T.[[1st floor]] AS f
  Filter: STARTSWITH(T.name, 'it\\'s') AND T.kind NIN ['a', 2, true, null] AND NOT IS_NULL(T.$metadata.x) AND (ARRAY_CONTAINS(T.tags, 'x') OR T.v <= -1.5)
    Scan: T IN all twins
";
    assert_eq!(plan, expected);
}

#[test]
fn explain_json_lists_the_same_operators() {
    let prepared = prepare(
        "SELECT TOP(5) B FROM DIGITALTWINS MATCH (a)-[r:feeds]->(b)-[:near*..2]-(B) \
         WHERE a.$dtId = 'x' AND IS_OF_MODEL(B, 'dtmi:test:Room;1', exact) AND r.weight > 2",
        &QueryOptions::default(),
    )
    .expect("prepare");
    let text = prepared.explain();
    let json = prepared.plan().to_json();
    let operators = json.as_array().expect("array");
    assert_eq!(operators.len(), text.lines().count(), "{text}");
    let names: Vec<&str> = operators
        .iter()
        .map(|o| o["operator"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        names,
        ["Limit", "Project", "Filter", "Expand", "Filter", "Expand", "IdLookup"],
        "{text}"
    );
    assert_eq!(operators[0], json!({"operator": "Limit", "count": 5}));
    assert_eq!(
        operators[2],
        json!({"operator": "Filter", "predicates": ["B IN exact model 'dtmi:test:Room;1'"]})
    );
    assert_eq!(
        operators[3],
        json!({"operator": "Expand", "from": "b", "to": "B", "relationship": null,
               "names": ["near"], "direction": "both", "hops": {"min": 1, "max": 2},
               "distinctRelationships": false})
    );
    assert_eq!(
        operators[5],
        json!({"operator": "Expand", "from": "a", "to": "b", "relationship": "r",
               "names": ["feeds"], "direction": "out", "hops": null,
               "distinctRelationships": true})
    );
    assert_eq!(
        operators[6],
        json!({"operator": "IdLookup", "variable": "a", "twins": {"ids": ["x"]}})
    );
    assert!(
        text.contains("Expand: (a)-[r:feeds]->(b) distinct relationships"),
        "{text}"
    );
}

/// 14 twins, each `near` every later one: ten-hop patterns over it have ~10^11 rows.
fn complete_graph(engine: &Engine) {
    for i in 0..14 {
        twin(engine, &format!("n{i}"), "dtmi:test:Space;1", json!({}));
    }
    for i in 0..14 {
        for j in i + 1..14 {
            let (from, to) = (format!("n{i}"), format!("n{j}"));
            relate(engine, &from, &format!("l{j}"), "near", &to, json!({}));
        }
    }
}

const TEN_HOPS: &str = "FROM DIGITALTWINS \
    MATCH (a)-[]-(b)-[]-(c)-[]-(d)-[]-(e)-[]-(f)-[]-(g)-[]-(h)-[]-(i)-[]-(j)-[]-(k) \
    WHERE a.$dtId = 'n0'";

#[test]
fn an_exploding_count_ends_with_a_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(dir.path());
    complete_graph(&engine);
    let options = QueryOptions {
        timeout: Some(std::time::Duration::from_secs(1)),
        ..QueryOptions::default()
    };
    let prepared = prepare(&format!("SELECT COUNT() {TEN_HOPS}"), &options).expect("prepare");
    let err = prepared
        .first_page(&engine.snapshot(), 10, &options)
        .expect_err("10^11 rows cannot be counted in a second");
    assert!(matches!(err, Error::Timeout(1)), "{err}");
}

#[test]
fn a_page_costs_the_work_of_its_rows_not_of_the_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(dir.path());
    complete_graph(&engine);
    let options = QueryOptions::default();
    let snap = engine.snapshot();
    let text = format!("SELECT k.$dtId AS k {TEN_HOPS}");
    let first = prepare(&text, &options)
        .expect("prepare")
        .first_page(&snap, 20, &options)
        .expect("first page");
    assert_eq!(first.rows.len(), 20);
    let token = first.continuation.clone().expect("more pages");
    let second = next_page(&snap, &token, 20, &options).expect("second page");
    assert_eq!(second.rows.len(), 20);
    // Depth-first with one candidate list per level: ten levels of at most 13 neighbours
    // each, then the rows. Materialising the result would read billions of edges.
    for page in [&first, &second] {
        assert!(page.charge < 100.0, "charge {}", page.charge);
    }
    // A variable-length step holds each reachable twin once (its shortest distance), never
    // one entry per path: 13 rows here, however many paths of up to ten hops there are.
    let reach = rows(
        &engine,
        "SELECT b FROM DIGITALTWINS MATCH (a)-[:near*..10]-(b) WHERE a.$dtId = 'n0'",
    );
    assert_eq!(reach.len(), 13);
}
