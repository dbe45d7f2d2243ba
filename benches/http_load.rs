//! HTTP load harness: starts the release `twingraph serve` on a free loopback port with a
//! temporary data folder (durable writes, the default), seeds the building graph over HTTP,
//! then drives each operation at each concurrency for a fixed time and prints throughput and
//! p50/p99 latency as a markdown table.
//!
//! `cargo bench --workspace --bench http_load -- [--secs S] [--warmup S] [--twins N]
//!  [--concurrency 1,16,64] [--ops get,patch,relate,point,join] [--client-threads T]`
//!
//! Every cell first checks one response for the right result (the twin, one row, 40 joined
//! rows), and counts any unexpected status as an error, so a fast wrong answer cannot pass.

#[path = "common/building.rs"]
mod building;
#[path = "http_load/client.rs"]
mod client;
#[path = "common/server.rs"]
mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};

use building::Rng;
use client::Conn;
use server::Server;

const API: &str = "api-version=2023-10-31";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Get,
    Patch,
    Relate,
    Point,
    Join,
}

impl Op {
    const ALL: [Op; 5] = [Op::Get, Op::Patch, Op::Relate, Op::Point, Op::Join];

    fn key(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Patch => "patch",
            Op::Relate => "relate",
            Op::Point => "point",
            Op::Join => "join",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Op::Get => "GET twin",
            Op::Patch => "PATCH twin (durable)",
            Op::Relate => "create relationship (durable)",
            Op::Point => "query: point ($dtId)",
            Op::Join => "query: 2-hop JOIN (40 rows)",
        }
    }

    fn expected_status(self) -> u16 {
        match self {
            Op::Patch => 204,
            _ => 200,
        }
    }
}

struct Settings {
    secs: f64,
    warmup: f64,
    twins: usize,
    concurrency: Vec<usize>,
    ops: Vec<Op>,
    client_threads: usize,
}

/// The settings, or `None` when `cargo test` filtered this target out.
fn settings() -> anyhow::Result<Option<Settings>> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this target without
    // it, with libtest's arguments: then it is a smoke test (a small graph, short cells, the
    // debug binary) unless a test-name filter excludes it.
    if !all.iter().any(|a| a == "--bench") {
        if all
            .iter()
            .any(|a| !a.starts_with('-') && !"http_load".contains(a.as_str()))
        {
            return Ok(None);
        }
        return Ok(Some(Settings {
            secs: 0.3,
            warmup: 0.1,
            twins: 700,
            concurrency: vec![1, 4],
            ops: Op::ALL.to_vec(),
            client_threads: 1,
        }));
    }
    let mut s = Settings {
        secs: 3.0,
        warmup: 0.5,
        twins: 5_000,
        concurrency: vec![1, 16, 64],
        ops: Op::ALL.to_vec(),
        client_threads: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            // Passed by `cargo bench` to every bench target.
            "--bench" => {}
            "--secs" => s.secs = value()?.parse()?,
            "--warmup" => s.warmup = value()?.parse()?,
            "--twins" => s.twins = value()?.parse()?,
            "--client-threads" => s.client_threads = value()?.parse()?,
            "--concurrency" => {
                s.concurrency = value()?
                    .split(',')
                    .map(|c| c.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--ops" => {
                let list = value()?;
                s.ops = list
                    .split(',')
                    .map(|k| {
                        Op::ALL
                            .into_iter()
                            .find(|op| op.key() == k.trim())
                            .with_context(|| format!("unknown op '{k}'"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => bail!("unknown argument '{other}'"),
        }
    }
    ensure!(s.secs > 0.0 && s.client_threads > 0, "bad settings");
    ensure!(
        s.concurrency.iter().all(|c| *c > 0),
        "concurrency must be positive"
    );
    Ok(Some(s))
}

/// What the workers pick from: the seeded ids by kind.
struct Data {
    twins: Vec<String>,
    sensors: Vec<String>,
    rooms: Vec<String>,
    floors: Vec<String>,
}

fn enc(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One request of `op`, drawn with `rng`; `n` makes relationship ids unique.
fn request(
    op: Op,
    data: &Data,
    rng: &mut Rng,
    worker: usize,
    n: u64,
) -> (&'static str, String, Option<Vec<u8>>) {
    let pick = |list: &[String], rng: &mut Rng| list[rng.below(list.len() as u64) as usize].clone();
    match op {
        Op::Get => (
            "GET",
            format!("/digitaltwins/{}?{API}", enc(&pick(&data.twins, rng))),
            None,
        ),
        Op::Patch => {
            let body = json!([{"op": "replace", "path": "/value", "value": rng.below(10_000) as f64 / 100.0}]);
            (
                "PATCH",
                format!("/digitaltwins/{}?{API}", enc(&pick(&data.sensors, rng))),
                Some(body.to_string().into_bytes()),
            )
        }
        Op::Relate => {
            // Two different rooms: ADT refuses a relationship from a twin to itself.
            let rooms = data.rooms.len() as u64;
            let from = rng.below(rooms);
            let to = (from + 1 + rng.below(rooms.saturating_sub(1).max(1))) % rooms;
            let source = data.rooms[from as usize].clone();
            let body =
                json!({"$relationshipName": "adjacentTo", "$targetId": data.rooms[to as usize]});
            (
                "PUT",
                format!(
                    "/digitaltwins/{}/relationships/load-{worker}-{n}?{API}",
                    enc(&source)
                ),
                Some(body.to_string().into_bytes()),
            )
        }
        Op::Point => {
            let q = format!(
                "SELECT * FROM DIGITALTWINS T WHERE T.$dtId = '{}'",
                pick(&data.twins, rng)
            );
            (
                "POST",
                format!("/query?{API}"),
                Some(json!({"query": q}).to_string().into_bytes()),
            )
        }
        Op::Join => {
            let q = format!(
                "SELECT R, S FROM DIGITALTWINS F JOIN R RELATED F.contains \
                 JOIN S RELATED R.hasSensor WHERE F.$dtId = '{}'",
                pick(&data.floors, rng)
            );
            (
                "POST",
                format!("/query?{API}"),
                Some(json!({"query": q}).to_string().into_bytes()),
            )
        }
    }
}

fn content_type(op: Op) -> &'static str {
    match op {
        Op::Patch => "application/json-patch+json",
        _ => "application/json",
    }
}

/// Checks one response of `op` for the right content, before a cell is timed.
fn verify(op: Op, response: &client::Response) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(&response.body);
    ensure!(
        response.status == op.expected_status(),
        "{}: status {} ({text})",
        op.key(),
        response.status
    );
    let rows = |v: &Value| v["value"].as_array().map_or(0, Vec::len);
    match op {
        Op::Patch => {}
        Op::Get | Op::Relate => {
            let v: Value = serde_json::from_slice(&response.body)?;
            ensure!(v["$etag"].is_string(), "{}: no $etag in {text}", op.key());
        }
        Op::Point => {
            let v: Value = serde_json::from_slice(&response.body)?;
            ensure!(rows(&v) == 1, "point query: expected 1 row, got {text}");
        }
        Op::Join => {
            let v: Value = serde_json::from_slice(&response.body)?;
            ensure!(rows(&v) == 40, "join query: expected 40 rows, got {text}");
        }
    }
    Ok(())
}

struct Cell {
    op: Op,
    concurrency: usize,
    requests: usize,
    errors: usize,
    first_error: Option<String>,
    seconds: f64,
    latencies_us: Vec<u32>,
}

impl Cell {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

struct WorkerResult {
    latencies_us: Vec<u32>,
    errors: usize,
    first_error: Option<String>,
}

async fn run_cell(
    addr: &str,
    data: Arc<Data>,
    op: Op,
    concurrency: usize,
    settings: &Settings,
) -> anyhow::Result<Cell> {
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(Conn::connect(addr).await?);
    }
    let mut rng = Rng::new(0x5eed ^ concurrency as u64);
    let (method, path, body) = request(op, &data, &mut rng, usize::MAX, 0);
    let probe = conns[0]
        .send(
            method,
            &path,
            body.as_deref().map(|b| (content_type(op), b)),
        )
        .await?;
    verify(op, &probe)?;

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(settings.warmup);
    let end = measure_from + Duration::from_secs_f64(settings.secs);
    let mut tasks = Vec::with_capacity(concurrency);
    for (worker, mut conn) in conns.into_iter().enumerate() {
        let data = data.clone();
        let addr = addr.to_string();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(worker as u64 * 7919 + 17);
            let mut result = WorkerResult {
                latencies_us: Vec::with_capacity(64 * 1024),
                errors: 0,
                first_error: None,
            };
            let mut n = 0u64;
            loop {
                n += 1;
                let (method, path, body) = request(op, &data, &mut rng, worker, n);
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let response = conn
                    .send(
                        method,
                        &path,
                        body.as_deref().map(|b| (content_type(op), b)),
                    )
                    .await;
                let elapsed = sent.elapsed();
                let failed = match response {
                    Ok(r) if r.status == op.expected_status() => None,
                    Ok(r) => Some(format!(
                        "status {}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    )),
                    Err(e) => Some(e.to_string()),
                };
                if sent >= measure_from {
                    result
                        .latencies_us
                        .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                    if let Some(e) = &failed {
                        result.errors += 1;
                        result.first_error.get_or_insert_with(|| e.clone());
                    }
                }
                if failed.is_some() {
                    // A broken connection cannot carry on; reconnect.
                    match Conn::connect(&addr).await {
                        Ok(c) => conn = c,
                        Err(_) => break,
                    }
                }
            }
            result
        }));
    }
    let mut cell = Cell {
        op,
        concurrency,
        requests: 0,
        errors: 0,
        first_error: None,
        seconds: settings.secs,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let r = task.await?;
        cell.errors += r.errors;
        if cell.first_error.is_none() {
            cell.first_error = r.first_error;
        }
        cell.latencies_us.extend(r.latencies_us);
    }
    // Requests started in the window may finish after it; the window is what they ran in.
    cell.seconds = (Instant::now() - measure_from)
        .as_secs_f64()
        .max(settings.secs);
    cell.requests = cell.latencies_us.len();
    cell.latencies_us.sort_unstable();
    Ok(cell)
}

/// Uploads the models and creates the twins and relationships, `concurrency` at a time.
async fn seed(addr: &str, twins: usize) -> anyhow::Result<Data> {
    let mut conn = Conn::connect(addr).await?;
    let models = serde_json::to_vec(&building::models())?;
    let r = conn
        .send(
            "POST",
            &format!("/models?{API}"),
            Some(("application/json", &models)),
        )
        .await?;
    ensure!(
        r.status == 201,
        "model upload: {}",
        String::from_utf8_lossy(&r.body)
    );
    let (twin_list, rels) = building::graph(twins, 42);
    let mut requests: Vec<(String, Vec<u8>)> = Vec::new();
    for t in &twin_list {
        requests.push((
            format!("/digitaltwins/{}?{API}", enc(&t.id)),
            t.body.to_string().into_bytes(),
        ));
    }
    put_all(addr, requests).await.context("creating twins")?;
    let mut requests = Vec::new();
    for r in &rels {
        requests.push((
            format!(
                "/digitaltwins/{}/relationships/{}?{API}",
                enc(&r.source),
                enc(&r.id)
            ),
            json!({"$relationshipName": r.name, "$targetId": r.target})
                .to_string()
                .into_bytes(),
        ));
    }
    put_all(addr, requests)
        .await
        .context("creating relationships")?;
    let model = |t: &building::Twin| {
        t.body["$metadata"]["$model"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let of = |models: &[&str]| -> Vec<String> {
        twin_list
            .iter()
            .filter(|t| models.contains(&model(t).as_str()))
            .map(|t| t.id.clone())
            .collect()
    };
    Ok(Data {
        twins: twin_list.iter().map(|t| t.id.clone()).collect(),
        sensors: of(&["dtmi:bench:Sensor;1", "dtmi:bench:TemperatureSensor;1"]),
        rooms: of(&["dtmi:bench:Room;1"]),
        floors: of(&["dtmi:bench:Floor;1"]),
    })
}

async fn put_all(addr: &str, requests: Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    let requests = Arc::new(requests);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (requests, next, addr) = (requests.clone(), next.clone(), addr.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((path, body)) = requests.get(i) else {
                    return anyhow::Ok(());
                };
                let r = conn
                    .send("PUT", path, Some(("application/json", body)))
                    .await?;
                ensure!(
                    r.status == 200,
                    "PUT {path}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let Some(settings) = settings()? else {
        return Ok(());
    };
    let max_conc = settings.concurrency.iter().copied().max().unwrap_or(1);
    let in_flight = (max_conc.max(64) * 4).to_string();
    let server = Server::start(
        tempfile::tempdir()?,
        &["--max-in-flight".to_string(), in_flight],
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let seeding = Instant::now();
        let data = Arc::new(seed(&server.addr, settings.twins).await?);
        eprintln!(
            "seeded {} twins over HTTP in {:.1} s",
            data.twins.len(),
            seeding.elapsed().as_secs_f64()
        );
        let mut cells = Vec::new();
        for op in &settings.ops {
            for c in &settings.concurrency {
                let cell = run_cell(&server.addr, data.clone(), *op, *c, &settings).await?;
                eprintln!(
                    "{} c={}: {:.0} req/s",
                    op.key(),
                    c,
                    cell.requests as f64 / cell.seconds
                );
                cells.push(cell);
            }
        }
        anyhow::Ok((data.twins.len(), cells))
    });
    let (twins, cells) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "--- server log ---\n{}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            return Err(e);
        }
    };
    print_table(&settings, twins, &cells);
    let failed: Vec<&Cell> = cells.iter().filter(|c| c.errors > 0).collect();
    for c in &failed {
        eprintln!(
            "{} c={}: {} errors, first: {}",
            c.op.key(),
            c.concurrency,
            c.errors,
            c.first_error.as_deref().unwrap_or("?")
        );
    }
    ensure!(failed.is_empty(), "some requests failed");
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_table(settings: &Settings, twins: usize, cells: &[Cell]) {
    println!(
        "\nHTTP/1.1 keep-alive on loopback, {twins} twins seeded, {} s per cell after {} s warm-up, \
         {} client thread(s), durable writes (fsync per group commit)\n",
        settings.secs, settings.warmup, settings.client_threads
    );
    println!("| operation | concurrency | requests | req/s | p50 ms | p99 ms | errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for c in cells {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            c.op.title(),
            c.concurrency,
            c.requests,
            c.requests as f64 / c.seconds,
            c.percentile(0.50),
            c.percentile(0.99),
            c.errors
        );
    }
}
