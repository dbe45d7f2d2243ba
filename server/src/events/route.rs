//! One delivery loop per event route: follow the log from the route's persisted cursor,
//! test each event against the route's filter, send matches to the endpoint one at a time
//! (so in log order), retry failures with exponential backoff and jitter until the event's
//! time-to-live runs out, then dead-letter it. The cursor is persisted after every delivered
//! or dead-lettered event (the dead letter in the same batch), so a restart resumes there:
//! at least once, never a gap.
//!
//! Routes are independent tasks; a slow or failing endpoint holds up only its own route.
//! Nothing here runs under the engine's writer lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::endpoints::{Endpoint, EndpointKind};
use super::envelope::Event;
use super::filter;
use super::tail::Tail;
use super::{mqtt, webhook, Events};

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
/// when the routes API reports a change.
pub async fn manage(events: Arc<Events>) {
    let mut running: HashMap<String, (Spec, JoinHandle<()>)> = HashMap::new();
    let mut stop = events.stop.subscribe();
    loop {
        match load_specs(&events).await {
            Ok(specs) => {
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
                    let handle = tokio::spawn(run(events.clone(), spec.clone()));
                    running.insert(spec.id.clone(), (spec, handle));
                }
                let live: Vec<String> = running.keys().cloned().collect();
                events.stats.retain(&live);
            }
            Err(e) => tracing::error!(error = %e, "loading event routes failed"),
        }
        tokio::select! {
            () = events.routes_changed.notified() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            for (_, (_, handle)) in running.drain() {
                handle.abort();
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

/// An endpoint connection, kept between events.
enum Sink {
    Webhook(webhook::Sender),
    // Boxed: the MQTT event loop is large, and a route holds one sink for its lifetime.
    Mqtt(Box<mqtt::Sender>),
}

impl Sink {
    async fn send(&mut self, event: &Event) -> Result<(), String> {
        match self {
            Sink::Webhook(s) => s.send(event).await,
            Sink::Mqtt(s) => s.send(event).await,
        }
    }
}

async fn run(events: Arc<Events>, spec: Spec) {
    let id = spec.id.clone();
    let start = match load_cursor(&events, &id).await {
        Some(c) if c.epoch == spec.epoch => c.next,
        _ => return, // deleted or re-created meanwhile; the manager catches up
    };
    events.stats.update(&id, |s| s.next = start);
    let filter = match filter::parse(&spec.filter_text) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(route = %id, error = %e, "stored route filter does not parse");
            return;
        }
    };
    let Some(endpoint) = spec.endpoint.clone() else {
        // The events wait in the log (the route's lag grows) until the endpoint exists.
        tracing::warn!(route = %id, endpoint = %spec.endpoint_name,
            "event route names an endpoint that is not configured; nothing is delivered");
        return;
    };
    let mut sink = match &endpoint.kind {
        EndpointKind::Webhook(w) => match webhook::Sender::new(w) {
            Ok(s) => Sink::Webhook(s),
            Err(e) => {
                tracing::error!(route = %id, error = %e, "webhook endpoint unusable");
                return;
            }
        },
        EndpointKind::Mqtt(m) => Sink::Mqtt(Box::new(mqtt::Sender::new(m, &id))),
    };
    let mut tail = Tail::new(events.clone(), start);
    let mut persisted = start;
    while let Some(batch) = tail.next_batch().await {
        if batch.dropped > 0 {
            tracing::warn!(route = %id, count = batch.dropped,
                "changes removed by retention before this route delivered them");
            events.stats.update(&id, |s| s.dropped += batch.dropped);
        }
        for change in &batch.changes {
            let event = Event::new(change, &events.source);
            if !event.matches(&filter) {
                events.stats.update(&id, |s| s.next = change.seq + 1);
                continue;
            }
            let outcome = deliver(&events, &id, &mut sink, &event, &change.time).await;
            let dead_letter = match outcome {
                Outcome::Delivered => None,
                Outcome::Expired { reason, attempts } => Some(json!({
                    "sequence": change.seq,
                    "reason": reason,
                    "attempts": attempts,
                    "deadLetteredTime": chrono::Utc::now().to_rfc3339(),
                    "event": event.cloud,
                })),
                Outcome::Stopped => return,
            };
            let next = change.seq + 1;
            if !persist(&events, &spec, next, dead_letter.map(|d| (change.seq, d))).await {
                return;
            }
            persisted = next;
            events.stats.update(&id, |s| s.next = next);
        }
        // Filtered-out changes move the cursor too; saved once per batch.
        events.stats.update(&id, |s| s.next = tail.next);
        if tail.next != persisted {
            if !persist(&events, &spec, tail.next, None).await {
                return;
            }
            persisted = tail.next;
        }
    }
}

async fn load_cursor(events: &Arc<Events>, id: &str) -> Option<twingraph_engine::RouteCursor> {
    let engine = events.engine.clone();
    let id = id.to_string();
    match tokio::task::spawn_blocking(move || engine.snapshot().route_cursor(&id)).await {
        Ok(Ok(cursor)) => cursor,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading a route cursor failed");
            None
        }
        Err(_) => None,
    }
}

/// Saves the route's position (and a dead letter); false when the store refused.
async fn persist(
    events: &Arc<Events>,
    spec: &Spec,
    next: u64,
    dead_letter: Option<(u64, Value)>,
) -> bool {
    let engine = events.engine.clone();
    let (id, epoch) = (spec.id.clone(), spec.epoch);
    let dead = dead_letter.is_some();
    let result = tokio::task::spawn_blocking(move || {
        engine.advance_route(&id, epoch, next, dead_letter.as_ref().map(|(s, v)| (*s, v)))
    })
    .await;
    match result {
        Ok(Ok(())) => {
            if dead {
                events.stats.update(&spec.id, |s| s.dead_lettered += 1);
            }
            true
        }
        Ok(Err(e)) => {
            tracing::error!(route = %spec.id, error = %e, "saving the route cursor failed");
            false
        }
        Err(_) => false,
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
    route: &str,
    sink: &mut Sink,
    event: &Event,
    time: &str,
) -> Outcome {
    let committed = chrono::DateTime::parse_from_rfc3339(time)
        .map(SystemTime::from)
        .unwrap_or_else(|_| SystemTime::now());
    let deadline = committed + events.config.ttl;
    let mut stop = events.stop.subscribe();
    let mut delay = events.config.retry_initial;
    let mut attempts = 0;
    let mut jitter = Jitter::new();
    loop {
        attempts += 1;
        let reason = match sink.send(event).await {
            Ok(()) => {
                events.stats.update(route, |s| s.delivered += 1);
                return Outcome::Delivered;
            }
            Err(reason) => reason,
        };
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        if left.is_zero() {
            tracing::warn!(route, seq = event.seq, attempts, %reason, "event dead-lettered");
            return Outcome::Expired { reason, attempts };
        }
        tracing::debug!(route, seq = event.seq, attempts, %reason, "delivery failed; retrying");
        events.stats.update(route, |s| s.retried += 1);
        let wait = jitter.apply(delay).min(left);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return Outcome::Stopped,
        }
        delay = (delay * 2).min(events.config.retry_max);
    }
}

/// "Equal jitter": a delay between half and all of the nominal backoff, so routes failing
/// together do not retry in lockstep.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Jitter(seed | 1)
    }

    fn apply(&mut self, delay: Duration) -> Duration {
        // xorshift64: plenty for spreading retries.
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let fraction = (self.0 % 1000) as f64 / 1000.0;
        delay.mul_f64(0.5 + fraction / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        let mut j = Jitter::new();
        let d = Duration::from_millis(1000);
        let samples: Vec<Duration> = (0..200).map(|_| j.apply(d)).collect();
        assert!(samples
            .iter()
            .all(|s| *s >= Duration::from_millis(500) && *s <= d));
        assert!(samples.iter().any(|s| *s != samples[0]), "no spread");
    }
}
