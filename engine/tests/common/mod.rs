//! Shared setup for the engine's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use serde_json::{json, Value};
use twingraph_dtdl as dtdl;
use twingraph_engine::{Engine, EngineConfig};

pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap()
}

pub fn open(dir: &Path) -> Engine {
    Engine::open(
        dir,
        EngineConfig {
            sync_writes: false,
            ..EngineConfig::default()
        },
    )
    .unwrap()
}

/// An engine holding the test models (`testdata/models/space.json`).
pub fn with_models(dir: &Path) -> Engine {
    let engine = open(dir);
    let models = fixture("models/space.json");
    engine
        .add_models(models.as_array().unwrap(), &dtdl::Options::default())
        .unwrap();
    engine
}

pub fn room(name: &str) -> Value {
    json!({
        "$metadata": {"$model": "dtmi:test:Room;1"},
        "name": name,
        "temperature": 20.5,
        "thermostat": {"$metadata": {}}
    })
}

/// Rooms `r0` … `r{count-1}`, named `R0` …, numbered in that order.
pub fn put_rooms(engine: &Engine, count: usize) {
    for i in 0..count {
        engine
            .put_twin(&format!("r{i}"), &room(&format!("R{i}")), false)
            .unwrap();
    }
}

pub fn space(model: &str) -> Value {
    json!({"$metadata": {"$model": model}})
}

pub fn rel(target: &str, name: &str) -> Value {
    json!({"$targetId": target, "$relationshipName": name})
}

/// Everything observable in the store, for "unchanged" comparisons.
pub fn dump(engine: &Engine) -> (Vec<Value>, Vec<Value>, Vec<String>, u64) {
    let snap = engine.snapshot();
    let twins = snap.twins().unwrap().map(|t| t.unwrap().doc).collect();
    let rels = snap
        .relationships()
        .unwrap()
        .map(|r| r.unwrap().doc)
        .collect();
    let models = snap.models().map(|m| m.id.clone()).collect();
    (twins, rels, models, engine.next_sequence())
}
