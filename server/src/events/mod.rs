//! Event delivery from the engine's change log. Every durable change is wrapped in ADT's
//! CloudEvents envelope (`envelope`) and
//! - sent to the endpoint of each event route whose filter (`filter`) it matches, one loop
//!   per route with a persisted cursor, retries and dead letters (`route`, `webhook`, `mqtt`);
//! - streamed to `GET /events/stream` clients (`stream`).
//!
//! Both read the log through `tail`, woken by the engine's durable-commit hook rather than by
//! polling; `retention` trims the log's old end. Delivery never touches the write path: the
//! engine only publishes its durable sequence number.
//!
//! Delivery runs on a runtime of its own with one thread (plus the log reader's thread), so it
//! never takes more than about a core, and request handlers never queue behind delivery
//! tasks. Engine writes of delivery (cursors, dead letters, trimming) go to the server's
//! blocking pool.

pub mod endpoints;
pub mod envelope;
pub mod filter;
mod mqtt;
mod retention;
mod retry;
mod route;
mod stats;
pub mod stream;
mod tail;
pub mod trace;
mod webhook;

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{watch, Notify};
use twingraph_engine::Engine;

pub use endpoints::Endpoints;
use stats::Stats;
use tail::Feed;

/// How events are delivered and how long the log keeps them.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Endpoints from the `--endpoints` file. `None`: no file, so routes may name any
    /// endpoint, and routes naming one that is not configured deliver nothing (their events
    /// wait in the log).
    pub endpoints: Option<Endpoints>,
    /// `source` of twin and relationship events (telemetry adds `/digitaltwins/<id>`);
    /// `None`: the listening address.
    pub source: Option<String>,
    /// How long after its commit an event is retried before it is dead-lettered. The
    /// default is Event Grid's (ADT's endpoints): 24 hours.
    pub ttl: Duration,
    /// First retry delay; doubles per failure up to `retry_max`, with jitter.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Log entries older than this are removed, needed by a route or not.
    pub retention_age: Duration,
    /// At most this many log entries are kept, except those a route has not passed yet.
    pub retention_changes: u64,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// Event routes an instance may have; ADT's default limit is 6.
    pub max_routes: usize,
    /// Dead letters kept per route; beyond it the oldest go first (counted in metrics).
    pub dead_letter_cap: usize,
    /// CPU priority of the delivery and log-reader threads.
    pub priority: DeliveryPriority,
}

/// How delivery shares the CPU with request handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryPriority {
    /// The idle scheduling class (Linux `SCHED_IDLE`): delivery takes only CPU that request
    /// handling leaves, and is preempted the moment a handler wakes. Writes keep their
    /// throughput on a saturated machine; events fall behind and catch up afterwards (the
    /// lag shows in /metrics). A machine saturated for good delays events for as long.
    #[default]
    Idle,
    /// Nice 10: delivery gets a small share of a saturated machine, and costs writes more.
    Low,
    /// The same priority as request handling.
    Normal,
}

impl std::str::FromStr for DeliveryPriority {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "idle" => Ok(DeliveryPriority::Idle),
            "low" => Ok(DeliveryPriority::Low),
            "normal" => Ok(DeliveryPriority::Normal),
            other => Err(format!("'{other}' is not idle, low or normal")),
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            endpoints: None,
            source: None,
            ttl: Duration::from_secs(24 * 3600),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(60),
            retention_age: Duration::from_secs(7 * 24 * 3600),
            retention_changes: 10_000_000,
            retention_interval: Duration::from_secs(10),
            max_routes: 6,
            dead_letter_cap: 100_000,
            priority: DeliveryPriority::default(),
        }
    }
}

/// The running delivery machinery of one server.
pub struct Events {
    engine: Arc<Engine>,
    config: EventsConfig,
    /// Resolved endpoints (empty without an endpoints file).
    endpoints: Endpoints,
    source: String,
    /// The latest events, shared by every route and stream.
    feed: Arc<Feed>,
    /// Where delivery tasks and change feeds run.
    delivery: Handle,
    /// The server's runtime: engine writes of delivery run on its blocking pool.
    main: Handle,
    stop: watch::Sender<bool>,
    routes_changed: Notify,
    stats: Stats,
    /// The oldest sequence still in the log, as of the last retention pass (0: none yet).
    first_retained: AtomicU64,
}

impl Events {
    /// Starts route delivery and retention (must be called inside the tokio runtime).
    pub fn start(engine: Arc<Engine>, config: EventsConfig, local_addr: SocketAddr) -> Arc<Events> {
        let source = config
            .source
            .clone()
            .unwrap_or_else(|| local_addr.to_string());
        let feed = Feed::new(engine.clone(), source.clone());
        let hook = feed.clone();
        engine.on_durable(move |seq| hook.wake(seq));
        let main = Handle::current();
        let stop = watch::channel(false).0;
        let delivery = delivery_runtime(stop.subscribe(), config.priority).unwrap_or_else(|e| {
            tracing::error!(error = %e, "no separate delivery runtime; delivering on the server's");
            main.clone()
        });
        if let Err(e) = feed.spawn_reader(config.priority) {
            tracing::error!(error = %e, "starting the change log reader failed; \
                event delivery and change feeds stay at their current position");
        }
        let events = Arc::new(Events {
            source,
            endpoints: config.endpoints.clone().unwrap_or_default(),
            engine,
            config,
            feed,
            delivery,
            main,
            stop,
            routes_changed: Notify::new(),
            stats: Stats::default(),
            first_retained: AtomicU64::new(0),
        });
        events.delivery.spawn(route::manage(events.clone()));
        events.delivery.spawn(retention::run(events.clone()));
        events
    }

    /// Stops every delivery loop and ends every change feed (server shutdown). Routes save
    /// their positions as they stop.
    pub fn stop(&self) {
        self.stop.send_replace(true);
        self.feed.stop();
    }

    /// Tells delivery that routes were created, replaced or deleted.
    pub fn routes_changed(&self) {
        self.routes_changed.notify_one();
    }

    /// How many event routes the instance may have.
    pub fn max_routes(&self) -> usize {
        self.config.max_routes
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Whether a route may name `endpoint`: any name when no endpoints file was given.
    pub fn endpoint_allowed(&self, endpoint: &str) -> bool {
        self.config.endpoints.is_none() || self.endpoints.get(endpoint).is_some()
    }

    /// Appends the delivery metrics (Prometheus text) to `out`.
    pub fn render_metrics(&self, out: &mut String) {
        self.stats.render(out, self.engine.durable_sequence());
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP twingraph_events_log_first_sequence The oldest change still in the log \
             (the next sequence when it is empty), as of the last retention pass.\n\
             # TYPE twingraph_events_log_first_sequence gauge\n\
             twingraph_events_log_first_sequence {}",
            self.first_retained.load(Ordering::Relaxed)
        );
    }
}

/// Lowers the calling thread's CPU priority as `priority` says; failing the idle class, to
/// nice 10. Delivery and the log reader yield to request handling: on a saturated machine
/// writes keep their throughput and deliveries fall behind instead, catching up as soon as a
/// core has room. Nice 10 alone was not enough: a nice thread that is running keeps its core
/// until its slice ends, so a waking request handler waited behind it, and ten routes
/// sending one event per request cost the write path a quarter of its throughput; an
/// idle-class thread is preempted the moment a normal one wakes. On an unsaturated machine
/// neither changes anything.
pub fn background_priority(priority: DeliveryPriority) {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadPriority, ThreadSchedulePolicy,
        };
        if priority == DeliveryPriority::Normal {
            return;
        }
        if priority == DeliveryPriority::Idle {
            let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
            match set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
                Ok(()) => return,
                Err(e) => tracing::debug!("no idle scheduling class for events ({e:?})"),
            }
        }
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), 10) {
            tracing::debug!("could not lower the priority of an events thread: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = priority;
}

/// A runtime for delivery on a thread of its own. It runs until `stop`, then gives its tasks
/// a moment to save their positions.
fn delivery_runtime(
    mut stop: watch::Receiver<bool>,
    priority: DeliveryPriority,
) -> std::io::Result<Handle> {
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("twingraph-delivery".into())
        .spawn(move || {
            background_priority(priority);
            // One thread: delivery's many small socket round trips cost the least CPU when
            // its tasks never wake each other across threads.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let runtime = match runtime {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = handle_tx.send(Err(e));
                    return;
                }
            };
            let _ = handle_tx.send(Ok(runtime.handle().clone()));
            runtime.block_on(async move {
                while !*stop.borrow_and_update() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
    handle_rx
        .recv()
        .map_err(|_| std::io::Error::other("the delivery runtime thread ended"))?
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::{background_priority, DeliveryPriority};
    use thread_priority::{
        thread_schedule_policy, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
    };

    /// The policy and nice value a fresh thread ends with after `background_priority`.
    fn after(priority: DeliveryPriority) -> (ThreadSchedulePolicy, i32) {
        std::thread::spawn(move || {
            background_priority(priority);
            let policy = thread_schedule_policy().expect("the thread's policy");
            let tid = rustix::thread::gettid();
            let nice = rustix::process::getpriority_process(Some(tid)).expect("nice value");
            (policy, nice)
        })
        .join()
        .expect("the probe thread")
    }

    #[test]
    fn delivery_threads_run_at_the_priority_asked() {
        let normal = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let base = rustix::process::getpriority_process(None).expect("nice value");
        assert_eq!(after(DeliveryPriority::Normal), (normal, base));
        let (policy, nice) = after(DeliveryPriority::Low);
        assert_eq!(policy, normal);
        assert_eq!(nice, 10);
        // An unprivileged process may always move a thread of its own to the idle class.
        assert_eq!(after(DeliveryPriority::Idle).0, idle);
    }

    #[test]
    fn delivery_priority_parses_its_three_names_only() {
        assert_eq!("idle".parse(), Ok(DeliveryPriority::Idle));
        assert_eq!("low".parse(), Ok(DeliveryPriority::Low));
        assert_eq!("normal".parse(), Ok(DeliveryPriority::Normal));
        assert!("Idle".parse::<DeliveryPriority>().is_err());
        assert!("".parse::<DeliveryPriority>().is_err());
    }
}
