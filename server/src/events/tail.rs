//! Following the change log from a position: batches of durable changes in sequence order,
//! waiting (not polling) for commits at the end. Shared by route delivery and the SSE feed.
//!
//! Invariant: only changes up to the engine's durable sequence are returned, so nothing is
//! sent that a crash could still take back.

use std::sync::Arc;

use twingraph_engine::Change;

use super::Events;

/// How many changes one read takes from the log.
const BATCH: usize = 256;

pub struct Tail {
    events: Arc<Events>,
    /// The next sequence to read.
    pub next: u64,
}

pub struct Batch {
    pub changes: Vec<Change>,
    /// Changes between the previous position and the first one returned that retention had
    /// already removed.
    pub dropped: u64,
}

impl Tail {
    pub fn new(events: Arc<Events>, next: u64) -> Tail {
        Tail {
            events,
            next: next.max(1),
        }
    }

    /// The next batch, waiting for commits when the log is read to its end; `None` once the
    /// server stops (or the engine fails, which is logged).
    pub async fn next_batch(&mut self) -> Option<Batch> {
        let mut durable = self.events.durable.clone();
        let mut stop = self.events.stop.subscribe();
        loop {
            if *stop.borrow_and_update() {
                return None;
            }
            durable.borrow_and_update();
            let end = self.events.engine.durable_sequence();
            if end >= self.next {
                let engine = self.events.engine.clone();
                let from = self.next;
                let read = tokio::task::spawn_blocking(move || {
                    let snapshot = engine.snapshot();
                    Ok::<_, twingraph_engine::Error>((
                        snapshot.changes(from, BATCH)?,
                        snapshot.first_change()?,
                    ))
                })
                .await;
                let (mut changes, first) = match read {
                    Ok(Ok(read)) => read,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "reading the change log failed");
                        return None;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "change log reader task failed");
                        return None;
                    }
                };
                changes.retain(|c| c.seq <= end);
                // The log has no gaps, so whatever lies between `next` and the first change
                // read was removed by retention.
                let resume = match (changes.first(), first) {
                    (Some(c), _) => c.seq,
                    (None, Some(f)) if f > self.next => f.min(end + 1),
                    (None, Some(_)) => self.next,
                    (None, None) => end + 1,
                };
                let dropped = resume.saturating_sub(self.next);
                self.next = changes.last().map_or(resume, |c| c.seq + 1);
                if !changes.is_empty() || dropped > 0 {
                    return Some(Batch { changes, dropped });
                }
            }
            tokio::select! {
                changed = durable.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = stop.changed() => {}
            }
        }
    }
}
