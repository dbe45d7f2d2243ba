//! Engine hot paths: twin create/get/patch, relationship create, IS_OF_MODEL count, and
//! durable patches under concurrency (group commit).

#[path = "common/building.rs"]
mod building;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use twingraph_dtdl as dtdl;
use twingraph_engine::{Engine, EngineConfig};

fn open(dir: &std::path::Path, sync_writes: bool) -> Engine {
    let engine = Engine::open(
        dir,
        EngineConfig {
            sync_writes,
            ..EngineConfig::default()
        },
    )
    .expect("open");
    engine
        .add_models(&building::models(), &dtdl::Options::default())
        .expect("models");
    engine
}

fn load(engine: &Engine, twins: usize) {
    let (twins, rels) = building::graph(twins, 42);
    for t in &twins {
        engine.put_twin(&t.id, &t.body, false).expect("twin");
    }
    for r in &rels {
        engine
            .put_relationship(
                &r.source,
                &r.id,
                &json!({"$targetId": r.target, "$relationshipName": r.name}),
                false,
            )
            .expect("relationship");
    }
}

fn single_ops(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(dir.path(), false);
    load(&engine, 10_000);
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    group.bench_function("create_twin", |b| {
        b.iter(|| {
            n += 1;
            let body =
                json!({"$metadata": {"$model": "dtmi:bench:Sensor;1"}, "kind": "x", "value": 1.0});
            engine
                .put_twin(&format!("new{n}"), &body, false)
                .expect("put");
        })
    });
    group.bench_function("get_twin", |b| {
        b.iter(|| {
            let snap = engine.snapshot();
            black_box(snap.twin("b0-f3-r7").expect("get"));
        })
    });
    let mut v = 0.0;
    group.bench_function("patch_property", |b| {
        b.iter(|| {
            v += 1.0;
            engine
                .patch_twin(
                    "b0-f3-r7-s0",
                    &json!([{"op": "replace", "path": "/value", "value": v}]),
                    None,
                    None,
                )
                .expect("patch");
        })
    });
    // The usual case: relationships spread over many rooms, each with a few edges.
    let (twins, _) = building::graph(10_000, 42);
    let rooms: Vec<&str> = twins
        .iter()
        .filter(|t| t.body["$metadata"]["$model"] == "dtmi:bench:Room;1")
        .map(|t| t.id.as_str())
        .collect();
    let mut k = 0usize;
    group.bench_function("create_relationship", |b| {
        b.iter(|| {
            k += 1;
            let (from, to) = (rooms[k % rooms.len()], rooms[(k + 1) % rooms.len()]);
            engine
                .put_relationship(
                    from,
                    &format!("y{k}"),
                    &json!({"$targetId": to, "$relationshipName": "adjacentTo"}),
                    false,
                )
                .expect("relationship");
        })
    });
    // A hub: every new relationship has the same source and target, whose edge lists grow
    // to thousands.
    let mut r = 0u64;
    group.bench_function("create_relationship_hub", |b| {
        b.iter(|| {
            r += 1;
            engine
                .put_relationship(
                    "b0-f1-r1",
                    &format!("x{r}"),
                    &json!({"$targetId": "b0-f1-r2", "$relationshipName": "adjacentTo"}),
                    false,
                )
                .expect("relationship");
        })
    });
    group.finish();
}

fn is_of_model_count(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = open(dir.path(), false);
    load(&engine, 100_000);
    let mut group = c.benchmark_group("is_of_model_count");
    group.throughput(Throughput::Elements(1));
    group.bench_function("100k/Space_with_descendants", |b| {
        b.iter(|| {
            black_box(
                engine
                    .snapshot()
                    .model_twins("dtmi:bench:Space;1", false)
                    .len(),
            )
        })
    });
    group.bench_function("100k/Sensor_exact", |b| {
        b.iter(|| {
            black_box(
                engine
                    .snapshot()
                    .model_twins("dtmi:bench:Sensor;1", true)
                    .len(),
            )
        })
    });
    group.finish();
}

/// Durable patches (fsync before acknowledging) from 1, 8 and 64 threads: group commit should
/// make throughput grow with concurrency.
fn durable_patches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Arc::new(open(dir.path(), true));
    for i in 0..64 {
        engine
            .put_twin(
                &format!("s{i}"),
                &json!({"$metadata": {"$model": "dtmi:bench:Sensor;1"}, "value": 0.0}),
                false,
            )
            .expect("twin");
    }
    let mut group = c.benchmark_group("durable_patch");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for writers in [1usize, 8, 64] {
        group.throughput(Throughput::Elements(writers as u64));
        group.bench_with_input(BenchmarkId::from_parameter(writers), &writers, |b, &writers| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for w in 0..writers {
                        let engine = engine.clone();
                        s.spawn(move || {
                            for i in 0..iters {
                                engine
                                    .patch_twin(&format!("s{w}"), &json!([{"op": "replace", "path": "/value", "value": i as f64}]), None, None)
                                    .expect("patch");
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, single_ops, is_of_model_count, durable_patches);
criterion_main!(benches);
