//! Paged queries read every page from the snapshot of their first page. A query whose first
//! page leaves rows over keeps its snapshot and its prepared plan in a session: the blocking
//! task that ran the first page goes on serving the next pages from them, so a continuation
//! token resumes on exactly the data the first page saw, however many writes land between
//! pages.
//!
//! Sessions are bounded: at most `max` live at once (the least recently used is closed to make
//! room) and each closes after `idle` without a request. A token of a closed session gets a
//! clear error; running the query again starts afresh. The token handed to clients is
//! `<session>.<query token>`; the query token alone carries the query and its position.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;
use twingraph_engine::Snapshot;
use twingraph_query::{Error, Page, PreparedQuery, QueryOptions};

/// A request for the next page of a session.
struct Next {
    token: String,
    size: usize,
    options: QueryOptions,
    reply: oneshot::Sender<Result<Page, Error>>,
}

struct Entry {
    tx: mpsc::Sender<Next>,
    last_used: Instant,
}

pub struct QuerySessions {
    sessions: Mutex<HashMap<u64, Entry>>,
    next_id: AtomicU64,
    max: usize,
    idle: Duration,
    /// Set at shutdown: no session outlives it (a query finishing during the graceful wait
    /// answers its page and keeps nothing).
    closed: AtomicBool,
}

/// Why a token could not be resumed.
#[derive(Debug)]
pub enum ResumeError {
    /// The session closed (idle too long, evicted, finished, or the server restarted).
    Expired,
    Query(Error),
}

impl QuerySessions {
    pub fn new(max: usize, idle: Duration) -> QuerySessions {
        QuerySessions {
            sessions: Mutex::new(HashMap::new()),
            // Distinct across restarts, so a token of an earlier run never names a session
            // of this one.
            next_id: AtomicU64::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64),
            ),
            max: max.max(1),
            idle,
            closed: AtomicBool::new(false),
        }
    }

    /// Runs the first page of `prepared` on `snapshot`; when rows are left, keeps serving the
    /// following pages from the same snapshot until the session ends. Call on a blocking
    /// thread: it returns only when the session is over. `first` gets the first page, its
    /// continuation token naming the session.
    pub fn serve(
        &self,
        snapshot: &Snapshot<'_>,
        prepared: &PreparedQuery,
        size: usize,
        options: &QueryOptions,
        first: oneshot::Sender<Result<Page, Error>>,
    ) {
        let mut page = match prepared.first_page(snapshot, size, options) {
            Ok(page) => page,
            Err(e) => {
                let _ = first.send(Err(e));
                return;
            }
        };
        let Some(token) = page.continuation.take() else {
            let _ = first.send(Ok(page));
            return;
        };
        let (tx, rx) = mpsc::channel::<Next>();
        let id = self.open(tx);
        page.continuation = Some(format!("{id:x}.{token}"));
        if first.send(Ok(page)).is_err() || self.closed.load(Ordering::SeqCst) {
            self.close(id);
            return;
        }
        loop {
            let next = match rx.recv_timeout(self.idle) {
                Ok(next) => next,
                Err(RecvTimeoutError::Timeout) => {
                    // A request may have been queued between the timeout and the close.
                    self.close(id);
                    match rx.try_recv() {
                        Ok(next) => next,
                        Err(_) => return,
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut page = match prepared.resume(snapshot, &next.token, next.size, &next.options) {
                Ok(page) => page,
                Err(e) => {
                    let _ = next.reply.send(Err(e));
                    continue;
                }
            };
            match page.continuation.take() {
                Some(token) => {
                    page.continuation = Some(format!("{id:x}.{token}"));
                    let _ = next.reply.send(Ok(page));
                }
                None => {
                    // Closed before answering, so the client never sees a finished session.
                    self.close(id);
                    let _ = next.reply.send(Ok(page));
                    return;
                }
            }
        }
    }

    /// The page after `token` (as returned by `serve` or an earlier `resume`).
    pub async fn resume(
        &self,
        token: &str,
        size: usize,
        options: &QueryOptions,
    ) -> Result<Page, ResumeError> {
        let (id, query_token) = token
            .split_once('.')
            .and_then(|(id, rest)| Some((u64::from_str_radix(id, 16).ok()?, rest)))
            .ok_or(ResumeError::Query(Error::BadContinuation(
                "the continuation token is malformed".into(),
            )))?;
        let (reply, answer) = oneshot::channel();
        {
            let mut sessions = self.sessions.lock();
            let entry = sessions.get_mut(&id).ok_or(ResumeError::Expired)?;
            entry.last_used = Instant::now();
            let next = Next {
                token: query_token.to_string(),
                size,
                options: options.clone(),
                reply,
            };
            if entry.tx.send(next).is_err() {
                sessions.remove(&id);
                return Err(ResumeError::Expired);
            }
        }
        match answer.await {
            Ok(result) => result.map_err(ResumeError::Query),
            // The session ended before answering (it timed out as the request arrived).
            Err(_) => Err(ResumeError::Expired),
        }
    }

    /// Sessions open now.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Ends every session (at shutdown): their tasks return and release their snapshots.
    pub fn close_all(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.sessions.lock().clear();
    }

    fn open(&self, tx: mpsc::Sender<Next>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut sessions = self.sessions.lock();
        if sessions.len() >= self.max {
            // Dropping a session's sender ends its task once it is idle.
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| *id)
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id,
            Entry {
                tx,
                last_used: Instant::now(),
            },
        );
        id
    }

    fn close(&self, id: u64) {
        self.sessions.lock().remove(&id);
    }
}
