//! A seeded smart-building graph: campus → buildings → floors → rooms → sensors, with
//! `contains`, `hasSensor` and room-to-room `adjacentTo` edges, model inheritance and mixed
//! property types. Shared by the benches and the load harness.
#![allow(dead_code)]

use serde_json::{json, Value};

pub const CONTEXT: &str = "dtmi:dtdl:context;3";

/// The DTDL models of the generated graph.
pub fn models() -> Vec<Value> {
    let space = json!({
        "@context": CONTEXT, "@id": "dtmi:bench:Space;1", "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "name", "schema": "string"},
            {"@type": "Property", "name": "area", "schema": "double"},
            {"@type": "Relationship", "name": "contains", "target": "dtmi:bench:Space;1"}
        ]
    });
    let campus = json!({"@context": CONTEXT, "@id": "dtmi:bench:Campus;1", "@type": "Interface", "extends": "dtmi:bench:Space;1"});
    let building = json!({
        "@context": CONTEXT, "@id": "dtmi:bench:Building;1", "@type": "Interface", "extends": "dtmi:bench:Space;1",
        "contents": [{"@type": "Property", "name": "address", "schema": {"@type": "Object", "fields": [
            {"name": "city", "schema": "string"}, {"name": "zip", "schema": "string"}]}}]
    });
    let floor = json!({
        "@context": CONTEXT, "@id": "dtmi:bench:Floor;1", "@type": "Interface", "extends": "dtmi:bench:Space;1",
        "contents": [{"@type": "Property", "name": "level", "schema": "integer"}]
    });
    let room = json!({
        "@context": CONTEXT, "@id": "dtmi:bench:Room;1", "@type": "Interface", "extends": "dtmi:bench:Space;1",
        "contents": [
            {"@type": "Property", "name": "capacity", "schema": "integer"},
            {"@type": "Property", "name": "occupied", "schema": "boolean"},
            {"@type": "Relationship", "name": "hasSensor", "target": "dtmi:bench:Sensor;1"},
            {"@type": "Relationship", "name": "adjacentTo", "target": "dtmi:bench:Room;1"}
        ]
    });
    let sensor = json!({
        "@context": CONTEXT, "@id": "dtmi:bench:Sensor;1", "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "kind", "schema": "string"},
            {"@type": "Property", "name": "value", "schema": "double"}
        ]
    });
    let temp = json!({"@context": CONTEXT, "@id": "dtmi:bench:TemperatureSensor;1", "@type": "Interface", "extends": "dtmi:bench:Sensor;1"});
    vec![space, campus, building, floor, room, sensor, temp]
}

/// A tiny deterministic generator (xorshift), so every run builds the same graph.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub struct Twin {
    pub id: String,
    pub body: Value,
}

pub struct Rel {
    pub source: String,
    pub id: String,
    pub target: String,
    pub name: &'static str,
}

/// One twin or relationship of the generated graph.
pub enum Item {
    Twin(Twin),
    Rel(Rel),
}

/// Shape: per building 10 floors, per floor 20 rooms, per room 2 sensors (≈ 61 twins and 98
/// relationships per floor); the number of buildings follows from `twins`.
pub fn graph(twins: usize, seed: u64) -> (Vec<Twin>, Vec<Rel>) {
    let mut out = Vec::new();
    let mut rels = Vec::new();
    stream(twins, seed, &mut |item| match item {
        Item::Twin(t) => out.push(t),
        Item::Rel(r) => rels.push(r),
    });
    (out, rels)
}

/// The graph of `graph`, item by item in the same order, without holding it in memory
/// (the bulk generator writes millions of twins this way).
pub fn stream(twins: usize, seed: u64, emit: &mut dyn FnMut(Item)) {
    let mut rng = Rng::new(seed);
    let per_building = 1 + 10 * (1 + 20 * 3);
    let buildings = (twins / per_building).max(1);
    let mut count = 1;
    emit(Item::Twin(Twin {
        id: "campus".into(),
        body: json!({"$metadata": {"$model": "dtmi:bench:Campus;1"}, "name": "Campus"}),
    }));
    for b in 0..buildings {
        let bid = format!("b{b}");
        count += 1;
        emit(Item::Twin(Twin {
            id: bid.clone(),
            body: json!({"$metadata": {"$model": "dtmi:bench:Building;1"}, "name": format!("Building {b}"),
            "address": {"city": format!("City{}", b % 17), "zip": format!("{:05}", rng.below(99999))}}),
        }));
        emit(Item::Rel(Rel {
            source: "campus".into(),
            id: format!("c-{bid}"),
            target: bid.clone(),
            name: "contains",
        }));
        for f in 0..10 {
            let fid = format!("{bid}-f{f}");
            count += 1;
            emit(Item::Twin(Twin {
                id: fid.clone(),
                body: json!({"$metadata": {"$model": "dtmi:bench:Floor;1"}, "name": format!("Floor {f}"), "level": f}),
            }));
            emit(Item::Rel(Rel {
                source: bid.clone(),
                id: format!("c-{fid}"),
                target: fid.clone(),
                name: "contains",
            }));
            for r in 0..20 {
                let rid = format!("{fid}-r{r}");
                count += 1;
                emit(Item::Twin(Twin {
                    id: rid.clone(),
                    body: json!({"$metadata": {"$model": "dtmi:bench:Room;1"}, "name": format!("Room {r}"),
                    "area": (rng.below(5000) as f64) / 10.0, "capacity": rng.below(40), "occupied": rng.below(2) == 1}),
                }));
                emit(Item::Rel(Rel {
                    source: fid.clone(),
                    id: format!("c-{rid}"),
                    target: rid.clone(),
                    name: "contains",
                }));
                if r > 0 {
                    // Neighbouring rooms point at each other (about 1.6 relationships per twin
                    // overall, the shape).
                    let previous = format!("{fid}-r{}", r - 1);
                    emit(Item::Rel(Rel {
                        source: rid.clone(),
                        id: format!("adj-{r}"),
                        target: previous.clone(),
                        name: "adjacentTo",
                    }));
                    emit(Item::Rel(Rel {
                        source: previous,
                        id: "adj-next".into(),
                        target: rid.clone(),
                        name: "adjacentTo",
                    }));
                }
                for s in 0..2 {
                    let sid = format!("{rid}-s{s}");
                    let model = if s == 0 {
                        "dtmi:bench:TemperatureSensor;1"
                    } else {
                        "dtmi:bench:Sensor;1"
                    };
                    count += 1;
                    emit(Item::Twin(Twin {
                        id: sid.clone(),
                        body: json!({"$metadata": {"$model": model},
                        "kind": if s == 0 { "temperature" } else { "co2" }, "value": (rng.below(4000) as f64) / 100.0}),
                    }));
                    emit(Item::Rel(Rel {
                        source: rid.clone(),
                        id: format!("h-{s}"),
                        target: sid,
                        name: "hasSensor",
                    }));
                }
            }
        }
        if count >= twins {
            break;
        }
    }
}
