//! Event delivery load: starts the release `twingraph serve` with an endpoints file whose
//! webhooks point at a receiver in this process, attaches 0, 1 or 10 event routes (filter
//! `true`, one webhook each) and measures
//! - write throughput unpaced (twin creates from `--concurrency` connections), and the rate
//!   at which the resulting events reach the receiver (write → webhook receipt);
//! - delivery latency at a fixed write rate (`--rate`, 1,000/s): from the moment the
//!   client has a write's acknowledgement to the moment each route's webhook receives its
//!   event (p50/p99 over every event of every route).
//!
//! Each route count gets a fresh server; the whole set runs `--rounds` times in rotated
//! order, so background load on the machine hits every configuration alike. The table shows
//! each round and the write-throughput ratios to 0 routes of the same round.
//!
//! `cargo bench --workspace --bench events_load -- [--secs S] [--rate N] [--concurrency C]
//!  [--routes 0,1,10,10s] [--rounds R] [--batch N] [--receiver normal|low|idle]` (`10s`: ten
//!  routes whose filter is `false`, attached but sending nothing: what routes cost the write
//!  path apart from sending; `--batch`: the webhooks' `batch`, events per request at most;
//!  `--receiver idle`: the receiver thread takes the priority the server's delivery takes by
//!  default (`low`: nice 10), so it stands in for a receiver on another machine instead of
//!  taking CPU from the server and its client on this one).
//!
//! Every event is checked: each route must receive every write's event, in log order; a
//! missing or reordered event fails the run.

#[path = "common/building.rs"]
mod building;
#[path = "http_load/client.rs"]
mod client;
#[path = "events_load/receiver.rs"]
mod receiver;
#[path = "common/server.rs"]
mod server;

use parking_lot::Mutex;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::json;

use client::Conn;
use server::Server;
use twingraph_server::DeliveryPriority;

const API: &str = "api-version=2023-10-31";
const MODEL: &str = "dtmi:bench:Sensor;1";
/// Routes the endpoints file has webhooks for; `--routes` may use up to this many.
const MAX_ROUTES: usize = 10;

struct Settings {
    /// Seconds of unpaced writes, and again of paced writes, per configuration.
    secs: f64,
    /// Writes per second of the paced (latency) phase.
    rate: u64,
    /// Connections writing in the unpaced phase.
    concurrency: usize,
    configs: Vec<Config>,
    rounds: usize,
    /// Events per webhook request at most (the endpoints' `batch`).
    batch: usize,
    /// The receiver thread's CPU priority, as the server's delivery threads take theirs.
    receiver: DeliveryPriority,
    smoke: bool,
}

/// How many routes are attached, and whether their filter passes nothing ("silent": what
/// routes cost the write path without the cost of sending events over HTTP).
#[derive(Clone, Copy, PartialEq)]
struct Config {
    routes: usize,
    silent: bool,
}

impl Config {
    fn parse(text: &str) -> anyhow::Result<Config> {
        let (number, silent) = match text.trim().strip_suffix('s') {
            Some(n) => (n, true),
            None => (text.trim(), false),
        };
        let routes = number.parse()?;
        ensure!(routes <= MAX_ROUTES, "at most {MAX_ROUTES} routes");
        Ok(Config { routes, silent })
    }

    fn label(self) -> String {
        match self.silent {
            true => format!("{} (filter `false`)", self.routes),
            false => self.routes.to_string(),
        }
    }

    /// Routes that send every event.
    fn delivering(self) -> usize {
        if self.silent {
            0
        } else {
            self.routes
        }
    }

    fn filter(self) -> &'static str {
        if self.silent {
            "false"
        } else {
            "true"
        }
    }
}

/// The settings, or `None` when `cargo test` filtered this target out.
fn settings() -> anyhow::Result<Option<Settings>> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`) this is a
    // smoke run against the debug binary, unless a test-name filter excludes it.
    if !all.iter().any(|a| a == "--bench") {
        if all
            .iter()
            .any(|a| !a.starts_with('-') && !"events_load".contains(a.as_str()))
        {
            return Ok(None);
        }
        return Ok(Some(Settings {
            secs: 0.3,
            rate: 100,
            concurrency: 4,
            configs: ["0", "1", "3", "3s"]
                .iter()
                .map(|c| Config::parse(c))
                .collect::<Result<_, _>>()?,
            rounds: 1,
            batch: 1,
            receiver: DeliveryPriority::Normal,
            smoke: true,
        }));
    }
    let mut s = Settings {
        secs: 5.0,
        rate: 1000,
        concurrency: 16,
        configs: ["0", "1", "10", "10s"]
            .iter()
            .map(|c| Config::parse(c))
            .collect::<Result<_, _>>()?,
        rounds: 3,
        batch: 1,
        receiver: DeliveryPriority::Normal,
        smoke: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--secs" => s.secs = value()?.parse()?,
            "--rate" => s.rate = value()?.parse()?,
            "--concurrency" => s.concurrency = value()?.parse()?,
            "--rounds" => s.rounds = value()?.parse()?,
            "--batch" => s.batch = value()?.parse()?,
            "--receiver" => s.receiver = value()?.parse().map_err(anyhow::Error::msg)?,
            "--routes" => {
                s.configs = value()?
                    .split(',')
                    .map(Config::parse)
                    .collect::<Result<_, _>>()?
            }
            other => bail!("unknown argument '{other}'"),
        }
    }
    ensure!(
        s.secs > 0.0 && s.rate > 0 && s.concurrency > 0 && s.rounds > 0,
        "bad settings"
    );
    Ok(Some(s))
}

/// Nanoseconds since the bench started: one clock for acknowledgements and receipts.
fn now_ns(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What the receiver saw of one phase: per route, the write index of each event received
/// and when; plus order violations.
struct Receipts {
    /// Writes of this phase are named `<prefix><index>`; other events are ignored.
    prefix: String,
    per_route: Vec<Vec<(u32, u64)>>,
    /// Last event id (log sequence) seen per route, to check log order.
    last_seq: Vec<u64>,
    out_of_order: usize,
}

struct Recorder {
    origin: Instant,
    /// The receiver thread, for its CPU use.
    thread: AtomicU64,
    phase: Mutex<Receipts>,
    received: AtomicUsize,
}

impl Recorder {
    fn new(origin: Instant) -> Recorder {
        Recorder {
            origin,
            thread: AtomicU64::new(0),
            phase: Mutex::new(Receipts {
                prefix: String::from("\u{0}"),
                per_route: vec![Vec::new(); MAX_ROUTES],
                last_seq: vec![0; MAX_ROUTES],
                out_of_order: 0,
            }),
            received: AtomicUsize::new(0),
        }
    }

    /// A new server: its log starts again at sequence 1.
    fn cpu_seconds(&self) -> f64 {
        let tid = self.thread.load(Ordering::Relaxed);
        cpu_seconds(&format!("/proc/self/task/{tid}/stat"))
    }

    fn new_server(&self) {
        self.phase.lock().last_seq.fill(0);
    }

    fn begin(&self, prefix: &str) {
        let mut p = self.phase.lock();
        p.prefix = prefix.to_string();
        p.per_route.iter_mut().for_each(Vec::clear);
        p.out_of_order = 0;
        self.received.store(0, Ordering::SeqCst);
    }

    /// Records one POST (one event, or a batch: a JSON array of them); cheap on purpose (the
    /// receiver shares the CPU with the server).
    fn record(&self, path: &str, body: &[u8]) -> bool {
        let at = now_ns(self.origin);
        let Some(route) = path
            .strip_prefix("/r")
            .and_then(|r| r.parse::<usize>().ok())
            .filter(|r| *r < MAX_ROUTES)
        else {
            return false;
        };
        if body.first() != Some(&b'[') {
            return self.record_event(route, body, at);
        }
        // Every event the server encodes starts with its `specversion`.
        const START: &[u8] = b"{\"specversion\":";
        let starts: Vec<usize> = body
            .windows(START.len())
            .enumerate()
            .filter(|(_, w)| *w == START)
            .map(|(i, _)| i)
            .collect();
        let mut ok = !starts.is_empty();
        for (k, start) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(body.len());
            ok &= self.record_event(route, &body[*start..end], at);
        }
        ok
    }

    fn record_event(&self, route: usize, body: &[u8], at: u64) -> bool {
        let (Some(seq), Some(twin)) = (
            field(body, b"\"id\":\"").and_then(|s| s.parse::<u64>().ok()),
            field(body, b"\"$dtId\":\""),
        ) else {
            return false;
        };
        let mut p = self.phase.lock();
        if seq <= p.last_seq[route] {
            p.out_of_order += 1;
        }
        p.last_seq[route] = seq;
        if let Some(index) = twin
            .strip_prefix(p.prefix.as_str())
            .and_then(|i| i.parse::<u32>().ok())
        {
            p.per_route[route].push((index, at));
            self.received.fetch_add(1, Ordering::SeqCst);
        }
        true
    }
}

/// The string value following `key` in a compact JSON text (no escapes in our ids).
fn field<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let start = body.windows(key.len()).position(|w| w == key)? + key.len();
    let len = body[start..].iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

/// The calling thread's id (Linux).
fn thread_id() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// User + system CPU seconds of a process or thread, from its `/proc/.../stat`.
fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime, stime are 12th, 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The webhook receiver on its own thread. Returns its base URL and its thread id.
fn start_receiver(
    recorder: Arc<Recorder>,
    priority: DeliveryPriority,
) -> anyhow::Result<(String, u32)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("receiver".into())
        .spawn(move || {
            let tid = thread_id().unwrap_or(0);
            let _ = tid_tx.send(tid);
            twingraph_server::background_priority(priority);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the receiver");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("the receiver listener");
                let on_event: receiver::OnEvent =
                    Arc::new(move |path, body| recorder.record(path, body));
                receiver::serve(listener, on_event).await;
            });
        })?;
    Ok((base, tid_rx.recv()?))
}

/// The server under test, with one webhook endpoint per possible route.
fn start_server(receiver: &str, batch: usize) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let mut endpoints = String::new();
    for i in 0..MAX_ROUTES {
        writeln!(
            endpoints,
            "[[endpoint]]\nname = \"hook{i}\"\nkind = \"webhook\"\nurl = \"{receiver}/r{i}\"\n\
             batch = {batch}\n"
        )?;
    }
    let endpoints_file = dir.path().join("endpoints.toml");
    std::fs::write(&endpoints_file, endpoints)?;
    let args = [
        "--max-in-flight".to_string(),
        "1024".to_string(),
        "--endpoints".to_string(),
        endpoints_file.to_string_lossy().into_owned(),
        "--max-event-routes".to_string(),
        MAX_ROUTES.to_string(),
    ];
    Server::start(dir, &args)
}

async fn expect_status(
    conn: &mut Conn,
    method: &str,
    path: &str,
    body: &[u8],
    status: u16,
) -> anyhow::Result<()> {
    let r = conn
        .send(method, path, Some(("application/json", body)))
        .await?;
    ensure!(
        r.status == status,
        "{method} {path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    Ok(())
}

async fn prepare(addr: &str, routes: usize, filter: &str) -> anyhow::Result<()> {
    let mut conn = Conn::connect(addr).await?;
    let models = serde_json::to_vec(&building::models())?;
    expect_status(&mut conn, "POST", &format!("/models?{API}"), &models, 201).await?;
    for i in 0..routes {
        let body = json!({"endpointName": format!("hook{i}"), "filter": filter}).to_string();
        expect_status(
            &mut conn,
            "PUT",
            &format!("/eventroutes/r{i}?{API}"),
            body.as_bytes(),
            204,
        )
        .await?;
    }
    Ok(())
}

fn twin_body() -> Vec<u8> {
    json!({"$metadata": {"$model": MODEL}, "kind": "bench", "value": 1.5})
        .to_string()
        .into_bytes()
}

/// Acknowledgement times of one phase's writes (0: not acknowledged).
struct Acks {
    at: Vec<AtomicU64>,
    errors: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Acks {
    fn new(n: usize) -> Arc<Acks> {
        Arc::new(Acks {
            at: (0..n).map(|_| AtomicU64::new(0)).collect(),
            errors: AtomicUsize::new(0),
            first_error: Mutex::new(None),
        })
    }

    fn acked(&self) -> usize {
        self.at
            .iter()
            .filter(|a| a.load(Ordering::Relaxed) > 0)
            .count()
    }

    fn fail(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_error.lock().get_or_insert(e);
    }
}

/// Writes twins `<prefix>0..` from `workers` connections until `until`, or until `limit`
/// writes are done; with `rate`, write `i` is not sent before `start + i / rate`.
async fn write_phase(
    addr: &str,
    origin: Instant,
    prefix: &str,
    workers: usize,
    limit: usize,
    rate: Option<u64>,
    until: Instant,
) -> anyhow::Result<Arc<Acks>> {
    let acks = Acks::new(limit);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let body = Arc::new(twin_body());
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let mut conn = Conn::connect(addr).await?;
        let (acks, next, body, prefix, addr) = (
            acks.clone(),
            next.clone(),
            body.clone(),
            prefix.to_string(),
            addr.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    return;
                }
                if let Some(rate) = rate {
                    let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                if Instant::now() >= until {
                    return;
                }
                let path = format!("/digitaltwins/{prefix}{i}?{API}");
                match conn
                    .send("PUT", &path, Some(("application/json", &body)))
                    .await
                {
                    Ok(r) if r.status == 200 => {
                        acks.at[i].store(now_ns(origin).max(1), Ordering::Relaxed);
                    }
                    Ok(r) => acks.fail(format!(
                        "PUT {path}: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    )),
                    Err(e) => {
                        acks.fail(format!("PUT {path}: {e}"));
                        match Conn::connect(&addr).await {
                            Ok(c) => conn = c,
                            Err(_) => return,
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(acks)
}

/// Waits until every route received the event of every acknowledged write (or a long
/// time passed); returns the receipts.
async fn drain(
    recorder: &Recorder,
    routes: usize,
    acked: usize,
    patience: Duration,
) -> anyhow::Result<Receipts> {
    let deadline = Instant::now() + patience;
    let want = routes * acked;
    while recorder.received.load(Ordering::SeqCst) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut phase = recorder.phase.lock();
    let receipts = Receipts {
        prefix: phase.prefix.clone(),
        per_route: std::mem::take(&mut phase.per_route),
        last_seq: phase.last_seq.clone(),
        out_of_order: phase.out_of_order,
    };
    phase.per_route = vec![Vec::new(); MAX_ROUTES];
    Ok(receipts)
}

/// Checks that each route got every acknowledged write exactly as often as expected (at
/// least once) and in order; returns per-route first receipts by write index.
fn check(receipts: &Receipts, routes: usize, acks: &Acks) -> anyhow::Result<Vec<Vec<u64>>> {
    ensure!(
        receipts.out_of_order == 0,
        "{} events arrived out of log order",
        receipts.out_of_order
    );
    let mut firsts = Vec::with_capacity(routes);
    for (route, got) in receipts.per_route.iter().take(routes).enumerate() {
        let mut first = vec![0u64; acks.at.len()];
        for (index, at) in got {
            let slot = first
                .get_mut(*index as usize)
                .with_context(|| format!("route {route}: unknown write {index}"))?;
            if *slot == 0 {
                *slot = *at;
            }
        }
        let missing = acks
            .at
            .iter()
            .zip(&first)
            .filter(|(a, f)| a.load(Ordering::Relaxed) > 0 && **f == 0)
            .count();
        ensure!(
            missing == 0,
            "route r{route} ({}): {missing} acknowledged writes never arrived",
            receipts.prefix
        );
        firsts.push(first);
    }
    Ok(firsts)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1e6
}

/// One configuration's figures.
struct Row {
    round: usize,
    config: Config,
    writes_per_s: f64,
    /// Events received per second over the unpaced phase, from its first write to the last
    /// receipt.
    events_per_s: f64,
    /// Seconds the receiver needed after the last unpaced write to have everything.
    drain_s: f64,
    cpu_per_1000: f64,
    /// The receiver's CPU seconds per 1,000 writes of the unpaced phase.
    receiver_cpu_per_1000: f64,
    paced_rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

async fn measure(
    settings: &Settings,
    recorder: &Arc<Recorder>,
    receiver: &str,
    round: usize,
    config: Config,
) -> anyhow::Result<Row> {
    let server = start_server(receiver, settings.batch)?;
    recorder.new_server();
    let result = measure_on(&server, settings, recorder, round, config).await;
    if result.is_err() {
        eprintln!(
            "--- server log ---\n{}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
    }
    result
}

async fn measure_on(
    server: &Server,
    settings: &Settings,
    recorder: &Arc<Recorder>,
    round: usize,
    config: Config,
) -> anyhow::Result<Row> {
    let origin = recorder.origin;
    prepare(&server.addr, config.routes, config.filter()).await?;
    let delivering = config.delivering();
    let routes = config.routes;
    let patience = Duration::from_secs(120);

    // Unpaced: write throughput, and how fast events follow.
    let prefix = format!("u{round}-{routes}{}-", config.filter());
    recorder.begin(&prefix);
    let server_cpu = || cpu_seconds(&format!("/proc/{}/stat", server.pid()));
    let cpu_before = server_cpu();
    let receiver_before = recorder.cpu_seconds();
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(settings.secs);
    // Room for far more writes than the server can take in the time.
    let room = (settings.secs * 50_000.0) as usize + 1000;
    let acks = write_phase(
        &server.addr,
        origin,
        &prefix,
        settings.concurrency,
        room,
        None,
        until,
    )
    .await?;
    let write_secs = start.elapsed().as_secs_f64();
    let cpu_writes = server_cpu() - cpu_before;
    let receiver_cpu = recorder.cpu_seconds() - receiver_before;
    if let Some(e) = acks.first_error.lock().as_ref() {
        bail!(
            "{} writes failed, first: {e}",
            acks.errors.load(Ordering::Relaxed)
        );
    }
    let acked = acks.acked();
    let receipts = drain(recorder, delivering, acked, patience).await?;
    check(&receipts, delivering, &acks)?;
    let last_receipt = receipts
        .per_route
        .iter()
        .flatten()
        .map(|(_, at)| *at)
        .max()
        .unwrap_or(0);
    let start_ns = u64::try_from((start - origin).as_nanos())?;
    let until_ns = u64::try_from((Instant::now().min(until) - origin).as_nanos())?;
    let events_secs = (last_receipt.saturating_sub(start_ns)) as f64 / 1e9;
    let events_per_s = if delivering == 0 {
        f64::NAN
    } else {
        (delivering * acked) as f64 / events_secs
    };
    let drain_s = last_receipt.saturating_sub(until_ns) as f64 / 1e9;

    // Paced: latency from acknowledgement to receipt.
    let prefix = format!("p{round}-{routes}{}-", config.filter());
    recorder.begin(&prefix);
    let n = (settings.rate as f64 * settings.secs).round() as usize;
    let start = Instant::now();
    // Generous end: a server slower than the rate still finishes the writes it was given.
    let until = start + Duration::from_secs_f64(settings.secs * 4.0 + 5.0);
    let workers = 64.min(n.max(1));
    let paced = write_phase(
        &server.addr,
        origin,
        &prefix,
        workers,
        n,
        Some(settings.rate),
        until,
    )
    .await?;
    let paced_secs = start.elapsed().as_secs_f64();
    if let Some(e) = paced.first_error.lock().as_ref() {
        bail!(
            "{} paced writes failed, first: {e}",
            paced.errors.load(Ordering::Relaxed)
        );
    }
    let paced_acked = paced.acked();
    let receipts = drain(recorder, delivering, paced_acked, patience).await?;
    let firsts = check(&receipts, delivering, &paced)?;
    let mut latencies: Vec<u64> = Vec::with_capacity(delivering * n);
    for first in &firsts {
        for (ack, got) in paced.at.iter().zip(first) {
            let ack = ack.load(Ordering::Relaxed);
            if ack > 0 {
                // The event can beat the acknowledgement to the client: that counts as 0.
                latencies.push(got.saturating_sub(ack));
            }
        }
    }
    latencies.sort_unstable();
    Ok(Row {
        round,
        config,
        writes_per_s: acked as f64 / write_secs,
        events_per_s,
        drain_s,
        cpu_per_1000: cpu_writes / acked.max(1) as f64 * 1000.0,
        receiver_cpu_per_1000: receiver_cpu / acked.max(1) as f64 * 1000.0,
        paced_rate: paced_acked as f64 / paced_secs,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().map_or(f64::NAN, |v| *v as f64 / 1e6),
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() -> anyhow::Result<()> {
    let Some(settings) = settings()? else {
        return Ok(());
    };
    let origin = Instant::now();
    let recorder = Arc::new(Recorder::new(origin));
    let (receiver, tid) = start_receiver(recorder.clone(), settings.receiver)?;
    recorder.thread.store(u64::from(tid), Ordering::Relaxed);
    // The writers' runtime: two threads, like a small client fleet sharing the machine.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let load_before = load_average();
    let rows = runtime.block_on(async {
        let mut rows = Vec::new();
        for round in 0..settings.rounds {
            // Rotate the order so no configuration always runs first (or last).
            let mut order = settings.configs.clone();
            let len = order.len().max(1);
            order.rotate_left(round % len);
            for config in order {
                let row = measure(&settings, &recorder, &receiver, round, config).await?;
                eprintln!(
                    "round {round}, {} routes: {:.0} writes/s, {:.0} events/s, \
                     paced {:.0}/s p50 {:.2} ms p99 {:.2} ms",
                    config.label(),
                    row.writes_per_s,
                    row.events_per_s,
                    row.paced_rate,
                    row.p50_ms,
                    row.p99_ms
                );
                rows.push(row);
            }
        }
        anyhow::Ok(rows)
    })?;
    print_table(&settings, &rows, &load_before, &load_average());
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_table(settings: &Settings, rows: &[Row], load_before: &str, load_after: &str) {
    println!(
        "\nEvent delivery on loopback{}: twin creates (durable), {} s unpaced from {} connections, \
         then {} s paced at {}/s; one webhook per route (filter `true`, or `false` to measure \
         attached routes that send nothing), at most {} event(s) per request; receiver thread at \
         {} priority; load average before {load_before}, after {load_after}\n",
        if settings.smoke { " (smoke run)" } else { "" },
        settings.secs,
        settings.concurrency,
        settings.secs,
        settings.rate,
        settings.batch,
        format!("{:?}", settings.receiver).to_lowercase(),
    );
    println!(
        "| round | routes | writes/s | vs 0 routes | events/s delivered | drain s | \
         server CPU s / 1k writes | receiver CPU s / 1k writes | paced writes/s | p50 ms | \
         p99 ms | max ms |"
    );
    println!(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let base = |round: usize| {
        rows.iter()
            .find(|b| b.round == round && b.config.routes == 0)
            .map(|b| b.writes_per_s)
    };
    for r in rows {
        let base = base(r.round);
        let ratio = base.map_or("".to_string(), |b| format!("{:.3}", r.writes_per_s / b));
        println!(
            "| {} | {} | {:.0} | {ratio} | {:.0} | {:.2} | {:.3} | {:.3} | {:.0} | {:.2} | {:.2} | \
             {:.2} |",
            r.round,
            r.config.label(),
            r.writes_per_s,
            r.events_per_s,
            r.drain_s,
            r.cpu_per_1000,
            r.receiver_cpu_per_1000,
            r.paced_rate,
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        );
    }
    let mut summary = String::new();
    for config in &settings.configs {
        if config.routes == 0 {
            continue;
        }
        let mut ratios: Vec<f64> = rows
            .iter()
            .filter(|r| r.config == *config)
            .filter_map(|r| Some(r.writes_per_s / base(r.round)?))
            .collect();
        ratios.sort_by(f64::total_cmp);
        let mut p99: Vec<f64> = rows
            .iter()
            .filter(|r| r.config == *config)
            .map(|r| r.p99_ms)
            .collect();
        p99.sort_by(f64::total_cmp);
        let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
        let _ = write!(
            summary,
            "\n- {} route(s): median write throughput {:.3} of 0 routes (target > 0.90), \
             median p99 delivery latency {:.2} ms (target < 50 ms at 1,000 writes/s)",
            config.label(),
            median(&ratios),
            median(&p99)
        );
    }
    println!("{summary}");
}
