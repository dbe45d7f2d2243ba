//! One delivery loop per event route: follow the log from the route's persisted cursor,
//! test each event against the route's filter, send matches to the endpoint one at a time
//! (so in log order), retry failures with exponential backoff and jitter until the event's
//! time-to-live runs out, then dead-letter it.
//!
//! The cursor is saved at most every `SAVE_EVERY` while events flow (and when the loop
//! stops), and at once with each dead letter, in the same batch. After a crash a route
//! resumes at its last saved cursor: at least once, never a gap, and at most `SAVE_EVERY`
//! of events delivered again. A route keeps at most `dead_letter_cap` dead letters; the
//! oldest go first, removed in the batch that adds the new one.
//!
//! A loop that stops on an error (the store, an unusable endpoint) is started again by its
//! supervisor after a backoff, and counted. Routes are independent tasks; a slow or failing
//! endpoint holds up only its own route. Nothing here runs under the engine's writer lock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::endpoints::{Endpoint, EndpointKind};
use super::envelope::Event;
use super::filter;
use super::retry::Backoff;
use super::stats::RouteStats;
use super::tail::Tail;
use super::{mqtt, webhook, Events};

/// How often a route's cursor is saved while it moves.
const SAVE_EVERY: Duration = Duration::from_millis(100);
/// How long a stopping server waits for routes to save their cursors.
const STOP_GRACE: Duration = Duration::from_millis(400);

/// What a route loop is started with; a change in any of it restarts the loop.
#[derive(Clone, PartialEq)]
struct Spec {
    id: String,
    epoch: u64,
    endpoint_name: String,
    filter_text: String,
    endpoint: Option<Endpoint>,
}

/// Keeps one delivery loop per stored route, restarting loops whose route changed. Wakes
/// when the routes API reports a change (or, after failing to read the routes, on a timer).
pub async fn manage(events: Arc<Events>) {
    let mut running: HashMap<String, (Spec, JoinHandle<()>)> = HashMap::new();
    let mut stop = events.stop.subscribe();
    let mut backoff = Backoff::new(events.config.retry_initial, events.config.retry_max);
    loop {
        let retry = match load_specs(&events).await {
            Ok(specs) => {
                backoff.reset();
                running.retain(|id, (spec, handle)| {
                    let keep = specs.iter().any(|s| s == spec) && !handle.is_finished();
                    if !keep {
                        tracing::debug!(route = %id, "stopping route delivery");
                        handle.abort();
                    }
                    keep
                });
                for spec in specs {
                    if running.contains_key(&spec.id) {
                        continue;
                    }
                    let stats = events.stats.route(&spec.id);
                    let handle = tokio::spawn(supervise(events.clone(), spec.clone(), stats));
                    running.insert(spec.id.clone(), (spec, handle));
                }
                let live: Vec<String> = running.keys().cloned().collect();
                events.stats.retain(&live);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "loading event routes failed; retrying");
                Some(backoff.next_wait())
            }
        };
        let retry = async move {
            match retry {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = events.routes_changed.notified() => {}
            () = retry => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            // The loops see the stop themselves and save their cursors.
            for (_, (_, handle)) in running.drain() {
                let _ = tokio::time::timeout(STOP_GRACE, handle).await;
            }
            return;
        }
    }
}

async fn load_specs(events: &Arc<Events>) -> Result<Vec<Spec>, String> {
    let engine = events.engine.clone();
    let routes = tokio::task::spawn_blocking(move || {
        let snapshot = engine.snapshot();
        let mut out = Vec::new();
        for (id, record) in snapshot.event_routes()? {
            if let Some(cursor) = snapshot.route_cursor(&id)? {
                out.push((id, record, cursor.epoch));
            }
        }
        Ok::<_, twingraph_engine::Error>(out)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    Ok(routes
        .into_iter()
        .map(|(id, record, epoch)| {
            let text = |k: &str| {
                record
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let endpoint_name = text("endpointName");
            Spec {
                endpoint: events.endpoints.get(&endpoint_name).cloned(),
                id,
                epoch,
                endpoint_name,
                filter_text: text("filter"),
            }
        })
        .collect())
}

/// Why a delivery loop ended.
enum Exit {
    /// The server stops, the route is gone, or it cannot deliver until it is changed.
    Done,
    /// An error that may pass: start the loop again after a backoff.
    Failed { reason: String, progressed: bool },
}

/// Runs the route's delivery loop, starting it again after each failure.
async fn supervise(events: Arc<Events>, spec: Spec, stats: Arc<RouteStats>) {
    let mut backoff = Backoff::new(events.config.retry_initial, events.config.retry_max);
    let mut stop = events.stop.subscribe();
    loop {
        let (reason, progressed) = match run(&events, &spec, &stats).await {
            Exit::Done => return,
            Exit::Failed { reason, progressed } => (reason, progressed),
        };
        if progressed {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        RouteStats::add(&stats.restarts, 1);
        tracing::warn!(route = %spec.id, %reason, ?wait, "route delivery stopped; restarting");
        if *stop.borrow_and_update() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

/// An endpoint connection, kept between events.
enum Sink {
    Webhook(webhook::Sender),
    // Boxed: the MQTT event loop is large, and a route holds one sink for its lifetime.
    Mqtt(Box<mqtt::Sender>),
}

impl Sink {
    fn new(endpoint: &Endpoint, route: &str) -> Result<Sink, String> {
        Ok(match &endpoint.kind {
            EndpointKind::Webhook(w) => Sink::Webhook(webhook::Sender::new(w)?),
            EndpointKind::Mqtt(m) => Sink::Mqtt(Box::new(mqtt::Sender::new(m, route))),
        })
    }

    async fn send(&mut self, event: &Event) -> Result<(), String> {
        match self {
            Sink::Webhook(s) => s.send(event).await,
            Sink::Mqtt(s) => s.send(event).await,
        }
    }

    /// Most events `send_batch` takes (1: the endpoint takes them one by one).
    fn batch(&self) -> usize {
        match self {
            Sink::Webhook(s) => s.batch(),
            Sink::Mqtt(_) => 1,
        }
    }

    async fn send_batch(&mut self, group: &[&Event]) -> Result<(), String> {
        match self {
            Sink::Webhook(s) => s.send_batch(group).await,
            Sink::Mqtt(_) => Err("MQTT endpoints take one event at a time".into()),
        }
    }
}

/// Where a route stands: what it has passed, what is saved, which dead letters it holds.
struct Position {
    start: u64,
    next: u64,
    saved: u64,
    saved_at: Instant,
    /// Sequences of the route's dead letters, oldest first.
    dead: VecDeque<u64>,
}

async fn run(events: &Arc<Events>, spec: &Spec, stats: &RouteStats) -> Exit {
    let id = spec.id.as_str();
    let (cursor, dead) = match load_state(events, id, spec.epoch).await {
        Ok(Some(state)) => state,
        // Deleted or re-created meanwhile; the manager catches up.
        Ok(None) => return Exit::Done,
        Err(reason) => {
            return Exit::Failed {
                reason,
                progressed: false,
            }
        }
    };
    stats.set_next(cursor);
    let filter = match filter::parse(&spec.filter_text) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(route = %id, error = %e, "stored route filter does not parse");
            return Exit::Done;
        }
    };
    let Some(endpoint) = spec.endpoint.as_ref() else {
        // The events wait in the log (the route's lag grows) until the endpoint exists.
        tracing::warn!(route = %id, endpoint = %spec.endpoint_name,
            "event route names an endpoint that is not configured; nothing is delivered");
        return Exit::Done;
    };
    let mut sink = match Sink::new(endpoint, id) {
        Ok(sink) => sink,
        Err(e) => {
            return Exit::Failed {
                reason: format!("endpoint '{}' unusable: {e}", spec.endpoint_name),
                progressed: false,
            }
        }
    };
    let mut at = Position {
        start: cursor,
        next: cursor,
        saved: cursor,
        saved_at: Instant::now(),
        dead,
    };
    let failed = |reason: String, at: &Position| Exit::Failed {
        reason,
        progressed: at.next > at.start,
    };
    // A cap lowered since the last run applies at once.
    if at.dead.len() > events.config.dead_letter_cap {
        if let Err(reason) = save(events, spec, stats, &mut at, None).await {
            return failed(reason, &at);
        }
    }
    let mut tail = Tail::new(events.clone(), cursor);
    loop {
        let batch = if at.next != at.saved {
            tokio::select! {
                batch = tail.next_batch() => batch,
                () = tokio::time::sleep_until((at.saved_at + SAVE_EVERY).into()) => {
                    if let Err(reason) = save(events, spec, stats, &mut at, None).await {
                        return failed(reason, &at);
                    }
                    continue;
                }
            }
        } else {
            tail.next_batch().await
        };
        let batch = match batch {
            Ok(Some(batch)) => batch,
            Ok(None) => {
                // Stopping: keep what was delivered (best effort; at least once either way).
                let _ = save(events, spec, stats, &mut at, None).await;
                return Exit::Done;
            }
            Err(reason) => return failed(reason, &at),
        };
        if batch.dropped > 0 {
            tracing::warn!(route = %id, count = batch.dropped,
                "changes removed by retention before this route delivered them");
            RouteStats::add(&stats.dropped, batch.dropped);
        }
        let list = &batch.events;
        let mut i = 0;
        while i < list.len() {
            let most = sink.batch();
            if most > 1 {
                // The matching events among the next ones go as one request.
                let mut group: Vec<&Event> = Vec::new();
                let mut end = i;
                while end < list.len() && group.len() < most {
                    if list[end].matches(&filter) {
                        group.push(&list[end]);
                    }
                    end += 1;
                }
                if group.len() > 1 && sink.send_batch(&group).await.is_ok() {
                    RouteStats::add(&stats.delivered, group.len() as u64);
                    at.next = list[end - 1].seq + 1;
                    stats.set_next(at.next);
                    i = end;
                    continue;
                }
                // Refused (or a single event): each goes on its own below, with retries and
                // dead letters, until the endpoint takes batches again.
            }
            let event = &list[i];
            if event.matches(&filter) {
                match deliver(events, stats, id, &mut sink, event).await {
                    Outcome::Delivered => {}
                    Outcome::Expired { reason, attempts } => {
                        let letter = json!({
                            "sequence": event.seq,
                            "reason": reason,
                            "attempts": attempts,
                            "deadLetteredTime": chrono::Utc::now().to_rfc3339(),
                            "event": event.cloud,
                        });
                        at.next = event.seq + 1;
                        if let Err(reason) =
                            save(events, spec, stats, &mut at, Some((event.seq, letter))).await
                        {
                            return failed(reason, &at);
                        }
                    }
                    Outcome::Stopped => {
                        let _ = save(events, spec, stats, &mut at, None).await;
                        return Exit::Done;
                    }
                }
            }
            at.next = event.seq + 1;
            stats.set_next(at.next);
            i += 1;
        }
        // Also past changes retention removed.
        at.next = tail.next;
        stats.set_next(at.next);
        if at.saved_at.elapsed() >= SAVE_EVERY && at.next != at.saved {
            if let Err(reason) = save(events, spec, stats, &mut at, None).await {
                return failed(reason, &at);
            }
        }
    }
}

/// The route's cursor and dead letters, if the route still has incarnation `epoch`.
async fn load_state(
    events: &Arc<Events>,
    id: &str,
    epoch: u64,
) -> Result<Option<(u64, VecDeque<u64>)>, String> {
    let engine = events.engine.clone();
    let id = id.to_string();
    let read = tokio::task::spawn_blocking(move || {
        let snapshot = engine.snapshot();
        match snapshot.route_cursor(&id)? {
            Some(c) if c.epoch == epoch => {
                let dead = snapshot.dead_letter_seqs(&id, epoch)?;
                Ok(Some((c.next, VecDeque::from(dead))))
            }
            _ => Ok::<_, twingraph_engine::Error>(None),
        }
    })
    .await;
    match read {
        Ok(Ok(state)) => Ok(state),
        Ok(Err(e)) => Err(format!("reading the route's cursor: {e}")),
        Err(e) => Err(format!("route state reader task failed: {e}")),
    }
}

/// Saves the route's position, with a new dead letter and without the oldest ones beyond
/// the cap, in one batch.
async fn save(
    events: &Arc<Events>,
    spec: &Spec,
    stats: &RouteStats,
    at: &mut Position,
    dead_letter: Option<(u64, Value)>,
) -> Result<(), String> {
    let mut kept = at.dead.len() + usize::from(dead_letter.is_some());
    let mut forget = Vec::new();
    while kept > events.config.dead_letter_cap {
        match at.dead.get(forget.len()) {
            Some(seq) => forget.push(*seq),
            None => break,
        }
        kept -= 1;
    }
    let engine = events.engine.clone();
    let (id, epoch, next) = (spec.id.clone(), spec.epoch, at.next);
    let letter = dead_letter.as_ref().map(|(seq, _)| *seq);
    let removed = forget.len();
    // On the server's blocking pool, not a low-priority delivery thread: a write joins
    // RocksDB's write queue, which the write path shares.
    let result = events
        .main
        .spawn_blocking(move || {
            engine.advance_route_capped(
                &id,
                epoch,
                next,
                dead_letter.as_ref().map(|(s, v)| (*s, v)),
                &forget,
            )
        })
        .await;
    match result {
        Ok(Ok(())) => {
            at.saved = next;
            at.saved_at = Instant::now();
            at.dead.drain(..removed);
            // Removed before added: a scrape never sees more dead letters counted than the
            // removals that made room for them.
            RouteStats::add(&stats.dead_letters_removed, removed as u64);
            if let Some(seq) = letter {
                at.dead.push_back(seq);
                RouteStats::add(&stats.dead_lettered, 1);
            }
            Ok(())
        }
        Ok(Err(e)) => Err(format!("saving the route cursor: {e}")),
        Err(e) => Err(format!("route cursor writer task failed: {e}")),
    }
}

enum Outcome {
    Delivered,
    Expired { reason: String, attempts: u32 },
    Stopped,
}

/// Sends until the endpoint accepts or the event's time-to-live (from its commit time) is
/// over; an event already past it gets exactly one attempt.
async fn deliver(
    events: &Arc<Events>,
    stats: &RouteStats,
    route: &str,
    sink: &mut Sink,
    event: &Event,
) -> Outcome {
    // The common case: accepted at once, nothing else to do.
    let mut reason = match sink.send(event).await {
        Ok(()) => {
            RouteStats::add(&stats.delivered, 1);
            return Outcome::Delivered;
        }
        Err(reason) => reason,
    };
    let committed = chrono::DateTime::parse_from_rfc3339(&event.time)
        .map(SystemTime::from)
        .unwrap_or_else(|_| SystemTime::now());
    let deadline = committed + events.config.ttl;
    let mut stop = events.stop.subscribe();
    let mut backoff = Backoff::new(events.config.retry_initial, events.config.retry_max);
    let mut attempts = 1;
    loop {
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        if left.is_zero() {
            tracing::warn!(route, seq = event.seq, attempts, %reason, "event dead-lettered");
            return Outcome::Expired { reason, attempts };
        }
        tracing::debug!(route, seq = event.seq, attempts, %reason, "delivery failed; retrying");
        RouteStats::add(&stats.retried, 1);
        if *stop.borrow_and_update() {
            return Outcome::Stopped;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_wait().min(left)) => {}
            _ = stop.changed() => return Outcome::Stopped,
        }
        attempts += 1;
        match sink.send(event).await {
            Ok(()) => {
                RouteStats::add(&stats.delivered, 1);
                return Outcome::Delivered;
            }
            Err(r) => reason = r,
        }
    }
}
