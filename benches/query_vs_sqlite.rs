//! The query classes of issue 3 side by side with SQLite, in one process and one run, printed
//! as a markdown table of median times and ratios. `cargo bench --bench query_vs_sqlite`;
//! `TWINGRAPH_BENCH_PROFILE=<seconds>` first runs each class on our side alone that long,
//! for a profiler. `TWINGRAPH_BENCH_SCALE=1m` adds the one-million-twin graph; an argument that is not a
//! flag keeps only the classes whose name contains it. Under `cargo test --all-targets` it runs
//! once over a small graph, as a check that both stores give the same rows.
//!
//! Both sides return every row of the result: ours as JSON text rows, page by page (1,000 rows
//! per page, ADT's largest) on one snapshot; SQLite as the stored JSON text. Both run prepared
//! statements; our parse+plan time is its own column.

#[path = "query/setup.rs"]
mod setup;

/// The allocator of the `twingraph` binary (src/main.rs), so that the engine is measured as
/// the server runs it. Both sides' Rust allocations (our rows, rusqlite's row strings) come
/// from it; SQLite's own C allocations use the C library's malloc, as they would anywhere.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `f` until `BUDGET` has passed (at least `MIN_RUNS`, after one warm-up run) and returns
/// the median time of one run.
fn median(mut f: impl FnMut() -> usize) -> Duration {
    const BUDGET: Duration = Duration::from_secs(2);
    const MIN_RUNS: usize = 5;
    const MAX_RUNS: usize = 10_000;
    if !setup::measuring() {
        // `cargo test --all-targets`: one pass checks that every class runs.
        let t = Instant::now();
        black_box(f());
        return t.elapsed();
    }
    black_box(f());
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < MIN_RUNS || (started.elapsed() < BUDGET && times.len() < MAX_RUNS) {
        let t = Instant::now();
        black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// `TWINGRAPH_BENCH_PROFILE=<seconds>`: loop each class's query on our side that long first.
fn profile_secs() -> Option<u64> {
    std::env::var("TWINGRAPH_BENCH_PROFILE").ok()?.parse().ok()
}

fn show(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    for scale in setup::scales() {
        let started = Instant::now();
        let fixture = setup::load(scale);
        eprintln!(
            "loaded {} twins into both stores in {:.1} s",
            fixture.twins,
            started.elapsed().as_secs_f64()
        );
        setup::check_equivalent(&fixture);
        println!("\n### {} twins ({})\n", fixture.twins, setup::label(scale));
        println!(
            "| query class | rows | twingraph | SQLite | twingraph/SQLite | speed-up | our parse+plan |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for class in setup::classes(&fixture) {
            if !class.name.contains(&filter) {
                continue;
            }
            let prepared = setup::prepared(&class.adt);
            if let Some(secs) = profile_secs() {
                // Runs only our side for a while, for a profiler to attach to.
                eprintln!("profiling {} for {secs} s", class.name);
                let until = Instant::now() + Duration::from_secs(secs);
                while Instant::now() < until {
                    black_box(setup::run_ours(&fixture.engine, &prepared).len());
                }
            }
            let rows = setup::run_ours(&fixture.engine, &prepared).len();
            let ours = median(|| setup::run_ours(&fixture.engine, &prepared).len());
            let theirs = median(|| setup::run_sqlite(&fixture.sqlite, &class.sql).len());
            let planning = median(|| {
                black_box(setup::prepared(&class.adt));
                1
            });
            let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
            println!(
                "| {} | {rows} | {} | {} | {ratio:.3} | {:.1}× | {} |",
                class.name,
                show(ours),
                show(theirs),
                1.0 / ratio,
                show(planning)
            );
        }
    }
}
