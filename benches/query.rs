//! Criterion benches of the query engine: parsing and planning apart from execution, then each
//! query class of issue 3 over the generated building graph, with SQLite holding the same data
//! in the same group (`<class>/twingraph/<size>` against `<class>/sqlite/<size>`).
//! `TWINGRAPH_BENCH_SCALE=1m` adds the one-million-twin graph. The ratio table is printed by
//! `benches/query_vs_sqlite.rs`.

#[path = "query/setup.rs"]
mod setup;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use twingraph_query::{prepare, QueryOptions};

fn parse_and_plan(c: &mut Criterion) {
    let fixture = setup::load(1_000);
    let mut group = c.benchmark_group("parse_and_plan");
    group.throughput(Throughput::Elements(1));
    for class in setup::classes(&fixture) {
        group.bench_function(class.name, |b| {
            b.iter(|| black_box(prepare(&class.adt, &QueryOptions::default()).expect("prepare")))
        });
    }
    group.finish();
}

fn classes(c: &mut Criterion) {
    for scale in setup::scales() {
        let fixture = setup::load(scale);
        setup::check_equivalent(&fixture);
        let size = setup::label(scale);
        for class in setup::classes(&fixture) {
            let prepared = setup::prepared(&class.adt);
            let rows = setup::run_ours(&fixture.engine, &prepared).len();
            let mut group = c.benchmark_group(class.name);
            group.throughput(Throughput::Elements(rows as u64));
            group.sample_size(10);
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(2));
            group.bench_function(BenchmarkId::new("twingraph", &size), |b| {
                b.iter(|| black_box(setup::run_ours(&fixture.engine, &prepared)))
            });
            group.bench_function(BenchmarkId::new("sqlite", &size), |b| {
                b.iter(|| black_box(setup::run_sqlite(&fixture.sqlite, &class.sql)))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, parse_and_plan, classes);
criterion_main!(benches);
