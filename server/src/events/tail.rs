//! Following the change log from a position: batches of durable changes as events, in
//! sequence order, waiting (not polling) for commits. Shared by route delivery and the SSE
//! feed.
//!
//! One reader thread (`Feed`) follows the durable end of the log and keeps the latest
//! events in memory, each built and JSON-encoded once, so ten routes at the live end cost
//! one log read and one encoding per change, not ten. A route or stream behind what memory
//! holds (after a restart, or behind a slow endpoint) reads the log itself.
//!
//! The write path only hands the reader a number (`Feed::wake`, the engine's durable hook):
//! it never waits for delivery, and wakes one thread however many routes there are. The hand
//! over takes no lock: the reader runs in the idle scheduling class, and a lock it held when
//! a request handler preempted it would stall that handler's write until the reader got a
//! core again.
//!
//! Invariant: only changes up to the engine's durable sequence are returned, so nothing is
//! sent that a crash could still take back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use twingraph_engine::Engine;

use super::envelope::Event;
use super::Events;

/// How many changes one read takes from the log.
const BATCH: usize = 256;
/// Events kept in memory for routes at the live end: at most this many, and at most this
/// many bytes of encoded JSON.
const MEMORY_EVENTS: usize = 16_384;
const MEMORY_BYTES: usize = 64 << 20;

/// The latest events, read and encoded once for every route and stream.
pub struct Feed {
    engine: Arc<Engine>,
    source: String,
    memory: Mutex<Memory>,
    /// The last sequence in memory; tails at the live end wait for it to move.
    filled: watch::Sender<u64>,
    /// What the engine announced; the reader thread parks until it changes.
    durable: AtomicU64,
    stop: AtomicBool,
    reader: OnceLock<Thread>,
}

struct Memory {
    /// Consecutive events from sequence `start` on.
    events: VecDeque<Arc<Event>>,
    bytes: usize,
    /// The first sequence memory answers for; tails before it read the log.
    start: u64,
}

/// What memory holds for a tail at some position.
enum Take {
    Events(Vec<Arc<Event>>),
    /// Nothing yet: wait for the reader.
    Ahead,
    /// Before what memory holds: read the log.
    Behind,
}

impl Feed {
    pub fn new(engine: Arc<Engine>, source: String) -> Arc<Feed> {
        let durable = engine.durable_sequence();
        Arc::new(Feed {
            engine,
            source,
            memory: Mutex::new(Memory {
                events: VecDeque::new(),
                bytes: 0,
                start: durable + 1,
            }),
            filled: watch::channel(durable).0,
            durable: AtomicU64::new(durable),
            stop: AtomicBool::new(false),
            reader: OnceLock::new(),
        })
    }

    /// The engine's durable hook: called on the write path, so it only records the number
    /// and wakes the reader.
    pub fn wake(&self, durable: u64) {
        if self.durable.fetch_max(durable, Ordering::SeqCst) < durable {
            self.unpark_reader();
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.unpark_reader();
    }

    fn unpark_reader(&self) {
        // Lock-free: `unpark` sets the thread's token and makes a futex call only when the
        // reader is parked. A token set before the reader parks makes its `park` return.
        if let Some(reader) = self.reader.get() {
            reader.unpark();
        }
    }

    /// Starts the reader thread.
    pub fn spawn_reader(
        self: &Arc<Feed>,
        priority: super::DeliveryPriority,
    ) -> std::io::Result<()> {
        let feed = self.clone();
        std::thread::Builder::new()
            .name("twingraph-events-log".into())
            .spawn(move || {
                super::background_priority(priority);
                // Set before the first look at `durable`: a wake either sees the reader or
                // happened before that look.
                let _ = feed.reader.set(std::thread::current());
                feed.read()
            })?;
        Ok(())
    }

    fn read(&self) {
        let mut next = self.memory.lock().start;
        let mut failures = 0u32;
        loop {
            while !self.stop.load(Ordering::SeqCst) && self.durable.load(Ordering::SeqCst) < next {
                std::thread::park();
            }
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            match self.engine.durable_changes(next, BATCH) {
                Ok(changes) => {
                    failures = 0;
                    let events: Vec<Arc<Event>> = changes
                        .iter()
                        .map(|c| Arc::new(Event::new(c, &self.source)))
                        .collect();
                    next = match events.last() {
                        Some(last) => {
                            let next = last.seq + 1;
                            self.append(events);
                            next
                        }
                        // Retention removed everything up to the durable end before the
                        // reader got to it: start over after it.
                        None => {
                            let end = self.engine.durable_sequence();
                            if end >= next {
                                self.restart(end + 1);
                                end + 1
                            } else {
                                next
                            }
                        }
                    };
                }
                Err(e) => {
                    failures += 1;
                    tracing::error!(error = %e, "reading the change log failed; retrying");
                    std::thread::sleep(Duration::from_millis(100) * failures.min(50));
                }
            }
        }
    }

    /// Adds consecutive events; a gap before them (retention removed what the reader had not
    /// read yet) restarts memory at the first.
    fn append(&self, events: Vec<Arc<Event>>) {
        let Some(last) = events.last().map(|e| e.seq) else {
            return;
        };
        {
            let mut memory = self.memory.lock();
            let expected = memory.start + memory.events.len() as u64;
            if events.first().is_some_and(|e| e.seq != expected) {
                memory.events.clear();
                memory.bytes = 0;
                memory.start = events.first().map_or(expected, |e| e.seq);
            }
            for event in events {
                memory.bytes += event.json.len();
                memory.events.push_back(event);
            }
            while memory.events.len() > MEMORY_EVENTS || memory.bytes > MEMORY_BYTES {
                let Some(old) = memory.events.pop_front() else {
                    break;
                };
                memory.bytes -= old.json.len();
                memory.start = old.seq + 1;
            }
        }
        self.filled.send_replace(last);
    }

    /// Drops events retention removed from the log, so tails still needing them count them
    /// as dropped, as they would after a restart.
    pub fn forget_before(&self, seq: u64) {
        let mut memory = self.memory.lock();
        while memory.events.front().is_some_and(|e| e.seq < seq) {
            if let Some(old) = memory.events.pop_front() {
                memory.bytes -= old.json.len();
                memory.start = old.seq + 1;
            }
        }
    }

    fn restart(&self, next: u64) {
        {
            let mut memory = self.memory.lock();
            memory.events.clear();
            memory.bytes = 0;
            memory.start = next;
        }
        self.filled.send_replace(next - 1);
    }

    fn take(&self, next: u64, max: usize) -> Take {
        let memory = self.memory.lock();
        if next < memory.start {
            return Take::Behind;
        }
        let skip = usize::try_from(next - memory.start).unwrap_or(usize::MAX);
        if skip >= memory.events.len() {
            return Take::Ahead;
        }
        Take::Events(memory.events.range(skip..).take(max).cloned().collect())
    }
}

pub struct Tail {
    events: Arc<Events>,
    /// The next sequence to read.
    pub next: u64,
    filled: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
}

pub struct Batch {
    pub events: Vec<Arc<Event>>,
    /// Changes between the previous position and the first event returned that retention
    /// had already removed.
    pub dropped: u64,
}

impl Tail {
    pub fn new(events: Arc<Events>, next: u64) -> Tail {
        Tail {
            filled: events.feed.filled.subscribe(),
            stop: events.stop.subscribe(),
            events,
            next: next.max(1),
        }
    }

    /// The next batch, waiting for commits when the log is read to its end; `Ok(None)` once
    /// the server stops, `Err` when the log cannot be read.
    ///
    /// Cancel-safe: the position moves only when a batch is returned.
    pub async fn next_batch(&mut self) -> Result<Option<Batch>, String> {
        loop {
            if *self.stop.borrow_and_update() {
                return Ok(None);
            }
            // Marked seen before looking, so a fill after the look wakes the wait below.
            self.filled.borrow_and_update();
            match self.events.feed.take(self.next, BATCH) {
                Take::Events(events) => {
                    if let Some(last) = events.last() {
                        self.next = last.seq + 1;
                    }
                    return Ok(Some(Batch { events, dropped: 0 }));
                }
                Take::Behind => {
                    if let Some(batch) = self.read_log().await? {
                        return Ok(Some(batch));
                    }
                }
                Take::Ahead => {}
            }
            tokio::select! {
                changed = self.filled.changed() => {
                    if changed.is_err() {
                        return Ok(None);
                    }
                }
                _ = self.stop.changed() => {}
            }
        }
    }

    /// Reads from the log itself, for a position memory no longer (or not yet) holds.
    async fn read_log(&mut self) -> Result<Option<Batch>, String> {
        let engine = self.events.engine.clone();
        let source = self.events.source.clone();
        let from = self.next;
        let read = tokio::task::spawn_blocking(move || {
            let end = engine.durable_sequence();
            let changes = engine.durable_changes(from, BATCH)?;
            // Only an empty read needs to know where the log now begins.
            let first = match changes.is_empty() {
                true => engine.snapshot().first_change()?,
                false => None,
            };
            let events: Vec<Arc<Event>> = changes
                .iter()
                .map(|c| Arc::new(Event::new(c, &source)))
                .collect();
            Ok::<_, twingraph_engine::Error>((events, first, end))
        })
        .await
        .map_err(|e| format!("change log reader task failed: {e}"))?;
        let (events, first, end) = read.map_err(|e| format!("reading the change log: {e}"))?;
        // The log has no gaps, so whatever lies between `next` and the first change read
        // was removed by retention.
        let resume = match (events.first(), first) {
            (Some(e), _) => e.seq,
            (None, Some(f)) if f > self.next => f.min(end + 1),
            (None, Some(_)) => self.next,
            (None, None) => self.next.max(end + 1),
        };
        let dropped = resume.saturating_sub(self.next);
        self.next = events.last().map_or(resume, |e| e.seq + 1);
        if events.is_empty() && dropped == 0 {
            return Ok(None);
        }
        Ok(Some(Batch { events, dropped }))
    }
}
