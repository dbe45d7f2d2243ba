//! The engine's behaviour through its public API: models, twins, relationships, the change
//! log, indexes, and refusals that leave the store as it was.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

mod common;

use common::*;
use serde_json::{json, Value};
use twingraph_dtdl as dtdl;
use twingraph_engine::{ChangeKind, Entity, Error, Invalid};

fn assert_consistent(engine: &twingraph_engine::Engine) {
    let report = engine.check_integrity().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn models_upload_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    let snap = engine.snapshot();
    assert_eq!(snap.models().count(), 5);
    let room = snap.catalog().get("dtmi:test:Room;1").unwrap();
    assert!(room.ancestors.contains("dtmi:test:Space;1"));
    assert!(room.properties.contains_key("name"), "inherited property");
    assert!(
        room.relationships.contains_key("contains"),
        "inherited relationship"
    );
    drop(snap);

    // duplicate id
    let again = fixture("models/space.json");
    let err = engine
        .add_models(&again.as_array().unwrap()[..1], &dtdl::Options::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AlreadyExists {
                entity: Entity::Model,
                ..
            }
        ),
        "{err:?}"
    );

    // a batch with one bad model stores nothing
    let before = dump(&engine);
    let batch = vec![
        json!({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Good;1", "@type": "Interface"}),
        json!({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:test:Bad;1", "@type": "Interface",
               "extends": "dtmi:test:Missing;1"}),
    ];
    let err = engine
        .add_models(&batch, &dtdl::Options::default())
        .unwrap_err();
    assert!(matches!(err, Error::Dtdl(_)), "{err:?}");
    assert_eq!(dump(&engine), before);
}

#[test]
fn model_delete_and_decommission() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    let err = engine.delete_model("dtmi:test:Space;1").unwrap_err();
    assert!(matches!(err, Error::ModelReferenced(_)), "{err:?}");
    let err = engine.delete_model("dtmi:test:Nope;1").unwrap_err();
    assert!(matches!(
        err,
        Error::NotFound {
            entity: Entity::Model,
            ..
        }
    ));

    engine
        .put_twin("s1", &space("dtmi:test:Sensor;1"), false)
        .unwrap();
    engine.decommission_model("dtmi:test:Sensor;1").unwrap();
    assert!(
        engine
            .snapshot()
            .model("dtmi:test:Sensor;1")
            .unwrap()
            .decommissioned
    );
    let err = engine
        .put_twin("s2", &space("dtmi:test:Sensor;1"), false)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                kind: Invalid::ModelDecommissioned,
                ..
            }
        ),
        "{err:?}"
    );
    // existing twins stay usable
    engine
        .patch_twin(
            "s1",
            &json!([{"op": "add", "path": "/value", "value": 1.5}]),
            None,
            None,
        )
        .unwrap();

    // deleting a model used only by twins is allowed; they become read-only
    engine.delete_model("dtmi:test:Sensor;1").unwrap();
    assert!(engine.snapshot().twin("s1").unwrap().is_some());
    let err = engine
        .patch_twin(
            "s1",
            &json!([{"op": "replace", "path": "/value", "value": 2.0}]),
            None,
            None,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                kind: Invalid::Validation,
                ..
            }
        ),
        "{err:?}"
    );
    // IS_OF_MODEL still finds twins of a deleted model
    assert_eq!(
        engine
            .snapshot()
            .model_twins("dtmi:test:Sensor;1", false)
            .len(),
        1
    );
    engine.delete_twin("s1", None).unwrap();
    assert_consistent(&engine);
}

#[test]
fn twin_create_replace_patch_delete() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    let created = engine.put_twin("r1", &room("Room 1"), false).unwrap();
    assert_eq!(created.doc["$dtId"], "r1");
    assert_eq!(created.doc["$metadata"]["$model"], "dtmi:test:Room;1");
    assert!(created.etag().starts_with("W/\""));
    assert!(created.doc["$metadata"]["name"]["lastUpdateTime"].is_string());

    let err = engine.put_twin("r1", &room("again"), true).unwrap_err();
    assert!(matches!(err, Error::PreconditionFailed(_)), "{err:?}");

    let replaced = engine.put_twin("r1", &room("Room One"), false).unwrap();
    assert_ne!(replaced.etag(), created.etag());

    let etag = engine
        .patch_twin(
            "r1",
            &json!([
                {"op": "replace", "path": "/temperature", "value": 22.0},
                {"op": "add", "path": "/tags", "value": {"wing": "east"}},
                {"op": "add", "path": "/tags/floor", "value": "2"},
                {"op": "add", "path": "/thermostat/setPoint", "value": 21.0},
                {"op": "add", "path": "/$metadata/temperature/sourceTime", "value": "2024-01-01T00:00:00Z"}
            ]),
            None,
            Some(replaced.etag()),
        )
        .unwrap();
    let twin = engine.snapshot().twin("r1").unwrap().unwrap();
    assert_eq!(twin.etag(), etag);
    assert_eq!(twin.doc["temperature"], 22.0);
    assert_eq!(twin.doc["tags"], json!({"wing": "east", "floor": "2"}));
    assert_eq!(twin.doc["thermostat"]["setPoint"], 21.0);
    assert_eq!(
        twin.doc["$metadata"]["temperature"]["sourceTime"],
        "2024-01-01T00:00:00Z"
    );

    // stale etag
    let err = engine
        .patch_twin(
            "r1",
            &json!([{"op": "remove", "path": "/tags"}]),
            None,
            Some(replaced.etag()),
        )
        .unwrap_err();
    assert!(matches!(err, Error::PreconditionFailed(_)));

    // component patch
    engine
        .patch_twin(
            "r1",
            &json!([{"op": "replace", "path": "/setPoint", "value": 19.0}]),
            Some("thermostat"),
            Some("*"),
        )
        .unwrap();
    let twin = engine.snapshot().twin("r1").unwrap().unwrap();
    assert_eq!(twin.doc["thermostat"]["setPoint"], 19.0);
    let err = engine
        .patch_twin("r1", &json!([]), Some("nope"), None)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::NotFound {
            entity: Entity::Component,
            ..
        }
    ));

    engine.delete_twin("r1", Some(twin.etag())).unwrap();
    assert!(engine.snapshot().twin("r1").unwrap().is_none());
    let err = engine.delete_twin("r1", None).unwrap_err();
    assert!(matches!(
        err,
        Error::NotFound {
            entity: Entity::Twin,
            ..
        }
    ));
    assert_consistent(&engine);
}

#[test]
fn twin_validation_refuses_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    engine.put_twin("r1", &room("Room 1"), false).unwrap();
    let before = dump(&engine);
    let bad_puts = [
        json!({"$metadata": {"$model": "dtmi:test:Room;1"}, "thermostat": {"$metadata": {}}, "colour": "red"}),
        json!({"$metadata": {"$model": "dtmi:test:Room;1"}, "thermostat": {"$metadata": {}}, "temperature": "warm"}),
        json!({"$metadata": {"$model": "dtmi:test:Room;1"}, "thermostat": {"$metadata": {}}, "capacity": 1.5}),
        json!({"$metadata": {"$model": "dtmi:test:Room;1"}, "thermostat": {"$metadata": {}}, "mode": "boiling"}),
        json!({"$metadata": {"$model": "dtmi:test:Room;1"}, "thermostat": {"$metadata": {}}, "occupancy": 3}),
        json!({"$metadata": {"$model": "dtmi:test:Room;1"}, "thermostat": {"$metadata": {}}, "name": "x".repeat(5000)}),
        json!({"$metadata": {"$model": "dtmi:test:Room;1"}}),
        json!({"$metadata": {"$model": "dtmi:test:Unknown;1"}}),
        json!({"name": "no model"}),
        json!([1, 2, 3]),
    ];
    for body in &bad_puts {
        let err = engine.put_twin("r2", body, false).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{body}: {err:?}");
        let err = engine.put_twin("r1", body, false).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{body}: {err:?}");
    }
    let bad_patches = [
        json!([{"op": "add", "path": "/colour", "value": "red"}]),
        json!([{"op": "replace", "path": "/temperature", "value": true}]),
        json!([{"op": "replace", "path": "/address/city", "value": "x"}]),
        json!([{"op": "remove", "path": "/thermostat"}]),
        json!([{"op": "move", "from": "/name", "path": "/x"}]),
        json!([{"op": "replace", "path": "/$dtId", "value": "other"}]),
        json!([{"op": "replace", "path": "/$metadata/$model", "value": "dtmi:test:Sensor;1"}]),
        json!({"op": "add"}),
    ];
    for patch in &bad_patches {
        let err = engine.patch_twin("r1", patch, None, None).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{patch}: {err:?}");
    }
    for id in ["", "a\u{0}b"] {
        assert!(engine.put_twin(id, &room("x"), false).is_err());
    }
    assert!(engine
        .put_twin(&"x".repeat(2000), &room("x"), false)
        .is_err());
    assert_eq!(dump(&engine), before);
    assert_consistent(&engine);
}

#[test]
fn relationships_follow_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    engine
        .put_twin("b1", &space("dtmi:test:Building;1"), false)
        .unwrap();
    engine.put_twin("r1", &room("Room 1"), false).unwrap();
    engine.put_twin("r2", &room("Room 2"), false).unwrap();
    engine
        .put_twin("s1", &space("dtmi:test:Sensor;1"), false)
        .unwrap();

    let created = engine
        .put_relationship("b1", "c1", &json!({"$targetId": "r1", "$relationshipName": "contains", "since": "2024-01-01T00:00:00Z"}), false)
        .unwrap();
    assert_eq!(created.doc["$sourceId"], "b1");
    engine
        .put_relationship("b1", "c2", &rel("r2", "contains"), false)
        .unwrap();
    engine
        .put_relationship("r1", "h1", &rel("s1", "hasSensor"), false)
        .unwrap();

    let before = dump(&engine);
    let refusals: Vec<(&str, serde_json::Value, fn(&Error) -> bool)> = vec![
        ("b1", rel("s1", "contains"), |e| {
            matches!(
                e,
                Error::Invalid {
                    kind: Invalid::Relationship,
                    ..
                }
            )
        }),
        ("b1", rel("r1", "hasSensor"), |e| {
            matches!(
                e,
                Error::Invalid {
                    kind: Invalid::Relationship,
                    ..
                }
            )
        }),
        ("b1", rel("b1", "contains"), |e| {
            matches!(
                e,
                Error::Invalid {
                    kind: Invalid::SelfRelationship,
                    ..
                }
            )
        }),
        ("b1", rel("ghost", "contains"), |e| {
            matches!(
                e,
                Error::NotFound {
                    entity: Entity::TargetTwin,
                    ..
                }
            )
        }),
        ("ghost", rel("r1", "contains"), |e| {
            matches!(
                e,
                Error::NotFound {
                    entity: Entity::Twin,
                    ..
                }
            )
        }),
        (
            "b1",
            json!({"$targetId": "r1", "$relationshipName": "contains", "since": 5}),
            |e| {
                matches!(
                    e,
                    Error::Invalid {
                        kind: Invalid::Validation,
                        ..
                    }
                )
            },
        ),
        (
            "b1",
            json!({"$targetId": "r1", "$relationshipName": "contains", "colour": "x"}),
            |e| {
                matches!(
                    e,
                    Error::Invalid {
                        kind: Invalid::Validation,
                        ..
                    }
                )
            },
        ),
        ("b1", json!({"$relationshipName": "contains"}), |e| {
            matches!(
                e,
                Error::Invalid {
                    kind: Invalid::Argument,
                    ..
                }
            )
        }),
    ];
    for (source, body, expected) in refusals {
        let err = engine
            .put_relationship(source, "bad", &body, false)
            .unwrap_err();
        assert!(expected(&err), "{source} {body}: {err:?}");
    }
    let err = engine
        .put_relationship("b1", "c1", &rel("r1", "contains"), true)
        .unwrap_err();
    assert!(matches!(err, Error::PreconditionFailed(_)));
    assert_eq!(dump(&engine), before);

    let snap = engine.snapshot();
    let out: Vec<String> = snap
        .outgoing("b1", None)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(out, ["c1", "c2"]);
    assert_eq!(snap.outgoing("b1", Some("contains")).unwrap().len(), 2);
    assert_eq!(snap.outgoing("b1", Some("contain")).unwrap().len(), 0);
    let incoming = snap.incoming("r1").unwrap();
    assert_eq!(incoming.len(), 1);
    assert_eq!(
        incoming[0].incoming_view()["$relationshipLink"],
        "/digitaltwins/b1/relationships/c1"
    );
    drop(snap);

    // a twin with relationships cannot be deleted
    let err = engine.delete_twin("r1", None).unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid {
            kind: Invalid::RelationshipsNotDeleted,
            ..
        }
    ));

    // replace moves the edge to a new target
    engine
        .put_relationship("b1", "c1", &rel("r2", "contains"), false)
        .unwrap();
    assert_eq!(engine.snapshot().incoming("r1").unwrap().len(), 0);
    assert_eq!(engine.snapshot().incoming("r2").unwrap().len(), 2);

    let etag = engine
        .patch_relationship(
            "b1",
            "c2",
            &json!([{"op": "add", "path": "/since", "value": "2024-02-02T00:00:00Z"}]),
            None,
        )
        .unwrap();
    let got = engine.snapshot().relationship("b1", "c2").unwrap().unwrap();
    assert_eq!(got.etag(), etag);
    assert_eq!(got.doc["since"], "2024-02-02T00:00:00Z");
    let err = engine
        .patch_relationship(
            "b1",
            "c2",
            &json!([{"op": "replace", "path": "/$targetId", "value": "r1"}]),
            None,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid {
            kind: Invalid::JsonPatch,
            ..
        }
    ));

    for (source, id) in [("b1", "c1"), ("b1", "c2"), ("r1", "h1")] {
        engine.delete_relationship(source, id, None).unwrap();
    }
    let err = engine.delete_relationship("b1", "c1", None).unwrap_err();
    assert!(matches!(
        err,
        Error::NotFound {
            entity: Entity::Relationship,
            ..
        }
    ));
    engine.delete_twin("r1", None).unwrap();
    assert_consistent(&engine);
}

#[test]
fn change_log_records_every_change_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    let first = engine.next_sequence();
    engine
        .put_twin("b1", &space("dtmi:test:Building;1"), false)
        .unwrap();
    engine.put_twin("r1", &room("R"), false).unwrap();
    engine.put_twin("r1", &room("R2"), false).unwrap();
    engine
        .patch_twin(
            "r1",
            &json!([{"op": "replace", "path": "/temperature", "value": 1.0}]),
            None,
            None,
        )
        .unwrap();
    engine
        .put_relationship("b1", "c", &rel("r1", "contains"), false)
        .unwrap();
    engine
        .patch_relationship(
            "b1",
            "c",
            &json!([{"op": "add", "path": "/since", "value": "2024-01-01T00:00:00Z"}]),
            None,
        )
        .unwrap();
    engine.delete_relationship("b1", "c", None).unwrap();
    engine
        .publish_telemetry(
            "r1",
            Some("thermostat"),
            "m-1",
            Some("2024-01-01T00:00:00Z"),
            &json!({"t": 1}),
        )
        .unwrap();
    engine.delete_twin("r1", None).unwrap();

    let changes = engine.snapshot().changes(first, 100).unwrap();
    let kinds: Vec<ChangeKind> = changes.iter().map(|c| c.kind).collect();
    use ChangeKind::*;
    assert_eq!(
        kinds,
        [
            TwinCreate,
            TwinCreate,
            TwinUpdate,
            TwinUpdate,
            RelationshipCreate,
            RelationshipUpdate,
            RelationshipDelete,
            Telemetry,
            TwinDelete
        ]
    );
    let seqs: Vec<u64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (first..first + 9).collect::<Vec<_>>());
    assert_eq!(
        changes[2].data["patch"],
        json!([{"op": "replace", "path": "/name", "value": "R2"}])
    );
    assert_eq!(changes[3].data["modelId"], "dtmi:test:Room;1");
    assert_eq!(changes[4].subject, "b1/relationships/c");
    assert_eq!(changes[7].subject, "thermostat");
    assert_eq!(changes[7].message_id.as_deref(), Some("m-1"));
    assert_eq!(
        changes[7].data_schema.as_deref(),
        Some("dtmi:test:Thermostat;1")
    );
    assert_eq!(changes[8].data["$dtId"], "r1");
    // failed writes leave no record
    assert!(engine.put_twin("x", &json!({}), false).is_err());
    assert_eq!(engine.next_sequence(), first + 9);
}

#[test]
fn is_of_model_follows_extends_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = with_models(dir.path());
        engine
            .put_twin("b1", &space("dtmi:test:Building;1"), false)
            .unwrap();
        engine.put_twin("r1", &room("R1"), false).unwrap();
        engine.put_twin("r2", &room("R2"), false).unwrap();
        engine
            .put_twin("s1", &space("dtmi:test:Sensor;1"), false)
            .unwrap();
        engine
            .put_relationship("b1", "c1", &rel("r1", "contains"), false)
            .unwrap();
    }
    let engine = open(dir.path());
    let snap = engine.snapshot();
    assert_eq!(snap.model_twins("dtmi:test:Space;1", false).len(), 3);
    assert_eq!(snap.model_twins("dtmi:test:Space;1", true).len(), 0);
    assert_eq!(snap.model_twins("dtmi:test:Room;1", false).len(), 2);
    assert_eq!(snap.twin_count(), 4);
    assert_eq!(snap.outgoing("b1", None).unwrap().len(), 1);
    drop(snap);
    // twin numbers are not reused after reopen
    engine.put_twin("r3", &room("R3"), false).unwrap();
    let nums: std::collections::BTreeSet<u32> = engine
        .snapshot()
        .twins()
        .unwrap()
        .map(|t| t.unwrap().num)
        .collect();
    assert_eq!(nums.len(), 5);
    assert_consistent(&engine);
}

#[test]
fn snapshots_do_not_see_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    engine.put_twin("r1", &room("R1"), false).unwrap();
    let snap = engine.snapshot();
    engine.put_twin("r2", &room("R2"), false).unwrap();
    engine.delete_twin("r1", None).unwrap();
    assert!(snap.twin("r1").unwrap().is_some());
    assert!(snap.twin("r2").unwrap().is_none());
    assert_eq!(snap.model_twins("dtmi:test:Room;1", false).len(), 1);
    assert_eq!(snap.twins().unwrap().count(), 1);
}

#[test]
fn a_twin_scan_reads_what_point_reads_read_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    put_rooms(&engine, 60);
    // Gaps of every width, and a deletion after the snapshot that it must not see.
    for i in [0, 3, 4, 5, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 59] {
        engine.delete_twin(&format!("r{i}"), None).unwrap();
    }
    let snap = engine.snapshot();
    engine.delete_twin("r10", None).unwrap();
    let mut asks: Vec<u32> = (0..70).collect();
    asks.extend([7, 2, 40, 41, 58, 59, 60, 1, 100, 6, 6, 9, 31, 18]);
    for stride in [1, 2, 3, 9, 17] {
        asks.extend((0..70).step_by(stride));
    }
    // Three rounds: enough lookups for a scan to judge the cache cold and stop asking it.
    let asks = asks.repeat(3);
    // What a full table scan (no cache) reads at this snapshot.
    let stored: std::collections::HashMap<u32, Value> = snap
        .twins()
        .unwrap()
        .map(|t| t.map(|t| (t.num, t.doc)))
        .collect::<Result<_, _>>()
        .unwrap();
    let parse = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap();
    // First a scan too large for the cache while the cache is cold (it stops asking the
    // cache and reads the table), then one that fills the cache, then point reads, which
    // the cache now answers.
    for expected_size in [u64::MAX / 2048, 1] {
        let mut scan = snap.twin_scan(expected_size);
        for &num in &asks {
            let got = scan.get(num).unwrap().map(|b| parse(&b));
            assert_eq!(got.as_ref(), stored.get(&num), "twin {num}");
        }
    }
    for &num in &asks {
        let got = snap.twin_bytes_by_num(num).unwrap().map(|b| parse(&b));
        assert_eq!(got.as_ref(), stored.get(&num), "twin {num}");
    }
    assert!(snap.twin_bytes_by_num(10).unwrap().is_some());
}

#[test]
fn every_snapshot_reads_its_own_version_of_a_cached_twin() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    engine.put_twin("r1", &room("A"), false).unwrap();
    let name = |snap: &twingraph_engine::Snapshot<'_>, num: u32| {
        snap.twin_by_num(num)
            .unwrap()
            .map(|t| t.doc["name"].as_str().unwrap().to_string())
    };
    let a = engine.snapshot();
    let num = a.twin_num("r1").unwrap().unwrap();
    // Read twice: the second read is served from the cache.
    assert_eq!(name(&a, num).as_deref(), Some("A"));
    assert_eq!(name(&a, num).as_deref(), Some("A"));
    let patch = json!([{"op": "replace", "path": "/name", "value": "B"}]);
    engine.patch_twin("r1", &patch, None, None).unwrap();
    let b = engine.snapshot();
    assert_eq!(name(&b, num).as_deref(), Some("B"));
    engine.put_twin("r1", &room("C"), false).unwrap();
    let c = engine.snapshot();
    assert_eq!(name(&c, num).as_deref(), Some("C"));
    engine.delete_twin("r1", None).unwrap();
    let d = engine.snapshot();
    for _ in 0..2 {
        assert_eq!(name(&a, num).as_deref(), Some("A"));
        assert_eq!(name(&b, num).as_deref(), Some("B"));
        assert_eq!(name(&c, num).as_deref(), Some("C"));
        assert_eq!(name(&d, num), None);
    }
    // A twin created again gets a new number; nothing cached leaks into it.
    engine.put_twin("r1", &room("D"), false).unwrap();
    let e = engine.snapshot();
    let again = e.twin_num("r1").unwrap().unwrap();
    assert_ne!(again, num);
    assert_eq!(name(&e, again).as_deref(), Some("D"));
    assert_eq!(name(&e, num), None);
    // The id resolves to each snapshot's own number, whichever was resolved last.
    for _ in 0..2 {
        for (snap, want) in [(&a, Some(num)), (&d, None), (&e, Some(again))] {
            assert_eq!(snap.twin_num("r1").unwrap(), want);
        }
    }
}

#[test]
fn flush_and_compact_keep_every_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    put_rooms(&engine, 30);
    engine.delete_twin("r7", None).unwrap();
    let before = dump(&engine);
    let snap = engine.snapshot();
    engine.flush().unwrap();
    engine.compact().unwrap();
    assert_eq!(dump(&engine), before);
    // A snapshot taken before the compaction still reads what it saw.
    assert!(snap.twin("r7").unwrap().is_none());
    assert!(snap.twin("r8").unwrap().is_some());
    drop(snap);
    assert_consistent(&engine);
}

/// An `extends` chain `depth` interfaces long, the last one extending nothing.
fn extends_chain(depth: usize) -> Vec<serde_json::Value> {
    (0..depth)
        .map(|i| {
            let mut doc = json!({"@context": "dtmi:dtdl:context;3",
                                 "@id": format!("dtmi:bad:Chain{i};1"), "@type": "Interface"});
            if i + 1 < depth {
                doc["extends"] = json!(format!("dtmi:bad:Chain{};1", i + 1));
            }
            doc
        })
        .collect()
}

/// A property whose Object schema nests `depth` levels.
fn nested_schema_model(depth: usize) -> serde_json::Value {
    let mut schema = json!("double");
    for level in 0..depth {
        schema =
            json!({"@type": "Object", "fields": [{"name": format!("f{level}"), "schema": schema}]});
    }
    json!({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bad:Nested;1", "@type": "Interface",
           "contents": [{"@type": "Property", "name": "deep", "schema": schema}]})
}

#[test]
fn bad_models_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_models(dir.path());
    engine.put_twin("r1", &room("Room 1"), false).unwrap();
    let before = dump(&engine);
    let options = dtdl::Options::default();

    for file in [
        "cyclic-extends.json",
        "invalid-dtmi.json",
        "wrong-types.json",
        "nested-component.json",
        "missing-context.json",
    ] {
        let batch = fixture(&format!("models/bad/{file}"));
        let err = engine
            .add_models(batch.as_array().unwrap(), &options)
            .unwrap_err();
        let Error::Dtdl(errors) = &err else {
            panic!("{file}: {err:?}")
        };
        assert!(!errors.is_empty(), "{file}");
        // Every error names a rule id the official parser would report.
        for error in errors {
            assert!(!error.rule.is_empty(), "{file}: {error:?}");
        }
    }

    // DTDL v3 allows at most 10 levels of `extends`; 11 is refused, 10 is fine elsewhere.
    let err = engine.add_models(&extends_chain(12), &options).unwrap_err();
    assert!(matches!(err, Error::Dtdl(_)), "{err:?}");

    // Complex schemas nest at most 5 levels in v3.
    let err = engine
        .add_models(&[nested_schema_model(8)], &options)
        .unwrap_err();
    assert!(matches!(err, Error::Dtdl(_)), "{err:?}");

    // One model over 1 MiB: many valid properties, refused by size before validation.
    let contents: Vec<_> = (0..20_000)
        .map(|i| json!({"@type": "Property", "name": format!("property{i:05}_with_a_long_name"), "schema": "double"}))
        .collect();
    let huge = json!({"@context": "dtmi:dtdl:context;3", "@id": "dtmi:bad:Huge;1",
                      "@type": "Interface", "contents": contents});
    assert!(serde_json::to_vec(&huge).unwrap().len() > 1024 * 1024);
    let err = engine.add_models(&[huge], &options).unwrap_err();
    assert!(matches!(err, Error::LimitExceeded(_)), "{err:?}");

    // Not an object at all, and an empty batch.
    assert!(engine
        .add_models(&[json!("dtmi:bad:X;1")], &options)
        .is_err());
    assert!(engine.add_models(&[], &options).is_err());

    // Twin values nested far deeper than any schema allows are refused, not recursed into.
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!({"x": deep});
    }
    let mut body = room("deep");
    body["address"] = deep.clone();
    let err = engine.put_twin("deep", &body, false).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let patch = json!([{"op": "add", "path": "/address", "value": deep}]);
    let err = engine.patch_twin("r1", &patch, None, None).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");

    assert_eq!(dump(&engine), before);
    assert_consistent(&engine);

    // The same engine still accepts good input afterwards.
    engine.put_twin("r2", &room("Room 2"), false).unwrap();
}

#[test]
fn strict_mode_enforces_max_multiplicity_and_default_mode_does_not() {
    for strict in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let engine = twingraph_engine::Engine::open(
            dir.path(),
            twingraph_engine::EngineConfig {
                sync_writes: false,
                strict_multiplicity: strict,
                ..Default::default()
            },
        )
        .unwrap();
        let models = fixture("models/space.json");
        engine
            .add_models(models.as_array().unwrap(), &dtdl::Options::default())
            .unwrap();
        engine.put_twin("room", &room("Room"), false).unwrap();
        for s in ["s1", "s2", "s3"] {
            engine
                .put_twin(s, &space("dtmi:test:Sensor;1"), false)
                .unwrap();
        }
        // `hasSensor` has maxMultiplicity 2 in the fixture.
        for (i, s) in ["s1", "s2"].iter().enumerate() {
            engine
                .put_relationship("room", &format!("r{i}"), &rel(s, "hasSensor"), false)
                .unwrap();
        }
        let third = engine.put_relationship("room", "r2", &rel("s3", "hasSensor"), false);
        if strict {
            let err = third.unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
            assert!(err.to_string().contains("maxMultiplicity"), "{err}");
            // Replacing an existing relationship does not count twice.
            engine
                .put_relationship("room", "r1", &rel("s3", "hasSensor"), false)
                .unwrap();
        } else {
            third.unwrap();
        }
        let snap = engine.snapshot();
        let count = snap.outgoing("room", Some("hasSensor")).unwrap().len();
        assert_eq!(count, if strict { 2 } else { 3 });
        drop(snap);
        assert_consistent(&engine);
    }
}
