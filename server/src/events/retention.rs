//! Change-log retention: now and then, remove the log's oldest entries. Two bounds:
//! - size: at most `retention_changes` entries, but an entry some route has not passed yet is
//!   kept (the route would lose it);
//! - age: entries older than `retention_age` go even when a route still needs them; the
//!   route then counts them as dropped (`twingraph_events_dropped_total`) when it gets there.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use super::Events;

pub async fn run(events: Arc<Events>) {
    let mut stop = events.stop.subscribe();
    loop {
        tokio::select! {
            () = tokio::time::sleep(events.config.retention_interval) => {}
            _ = stop.changed() => return,
        }
        let pass_events = events.clone();
        // On the server's blocking pool: trimming writes to RocksDB (see `events`).
        match events.main.spawn_blocking(move || pass(&pass_events)).await {
            Ok(Ok(Some((from, to)))) => {
                tracing::debug!(from, to, "change log trimmed");
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "change log retention failed"),
            Err(e) => tracing::error!(error = %e, "change log retention task failed"),
        }
    }
}

/// One retention pass; returns the removed range `[from, to)` if any.
fn pass(events: &Events) -> twingraph_engine::Result<Option<(u64, u64)>> {
    let engine = &events.engine;
    let config = &events.config;
    let snapshot = engine.snapshot();
    let end = engine.durable_sequence();
    let Some(first) = snapshot.first_change()? else {
        events.first_retained.store(end + 1, Ordering::Relaxed);
        return Ok(None);
    };
    let mut cut = (end + 1).saturating_sub(config.retention_changes);
    for (id, _) in snapshot.event_routes()? {
        if let Some(cursor) = snapshot.route_cursor(&id)? {
            cut = cut.min(cursor.next);
        }
    }
    let cutoff = SystemTime::now()
        .checked_sub(config.retention_age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let aged = snapshot.first_change_since(cutoff)?.unwrap_or(end + 1);
    let cut = cut.max(aged);
    drop(snapshot);
    if cut <= first {
        events.first_retained.store(first, Ordering::Relaxed);
        return Ok(None);
    }
    let kept = engine.trim_changes(cut)?;
    events.feed.forget_before(kept);
    events.first_retained.store(kept, Ordering::Relaxed);
    Ok((kept > first).then_some((first, kept)))
}
