//! Paged queries read every page from the snapshot of their first page. A query whose first
//! page leaves rows over is kept as a session: its owned snapshot and its prepared plan,
//! stored here as a value. A continuation token resumes that plan on that snapshot, so it
//! sees exactly the data the first page saw, however many writes land between pages, and
//! nothing is parsed or planned again. No thread waits between pages.
//!
//! Sessions are bounded: at most `max` live at once (the least recently used is closed to make
//! room) and each closes after `idle` without a request (`sweep`, which the server runs every
//! second; `len` and every page sweep too). A token of a closed session gets a clear error;
//! running the query again starts afresh. The token handed to clients is
//! `<session>.<query token>`; the query token alone carries the query and its position.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use twingraph_engine::OwnedSnapshot;
use twingraph_query::{Error, Page, PreparedQuery, QueryOptions};

/// What a paged query keeps between pages.
struct Session {
    snapshot: OwnedSnapshot,
    prepared: PreparedQuery,
}

struct Entry {
    /// Locked while a page runs: two requests for one session take their turns.
    session: Arc<Mutex<Session>>,
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

    /// Runs the first page of `prepared` on `snapshot`; when rows are left, keeps both as a
    /// session that the page's continuation token names. Reads the store: call it off the
    /// async workers.
    pub fn first_page(
        &self,
        snapshot: OwnedSnapshot,
        prepared: PreparedQuery,
        size: usize,
        options: &QueryOptions,
    ) -> Result<Page, Error> {
        let mut page = prepared.first_page(snapshot.get(), size, options)?;
        if let Some(token) = page.continuation.take() {
            let id = self.open(Session { snapshot, prepared });
            page.continuation = Some(format!("{id:x}.{token}"));
        }
        Ok(page)
    }

    /// The page after `token` (as a page of this session returned it). Reads the store: call
    /// it off the async workers.
    pub fn next_page(
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
        let session = {
            let mut sessions = self.sessions.lock();
            self.sweep_locked(&mut sessions);
            let entry = sessions.get_mut(&id).ok_or(ResumeError::Expired)?;
            entry.last_used = Instant::now();
            entry.session.clone()
        };
        let session = session.lock();
        let mut page = session
            .prepared
            .resume(session.snapshot.get(), query_token, size, options)
            .map_err(ResumeError::Query)?;
        match page.continuation.take() {
            Some(token) => page.continuation = Some(format!("{id:x}.{token}")),
            // The last page: the session is done.
            None => self.close(id),
        }
        Ok(page)
    }

    /// Sessions open now.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        let mut sessions = self.sessions.lock();
        self.sweep_locked(&mut sessions);
        sessions.len()
    }

    /// Closes the sessions idle for longer than they may be, releasing their snapshots.
    pub fn sweep(&self) {
        self.sweep_locked(&mut self.sessions.lock());
    }

    fn sweep_locked(&self, sessions: &mut HashMap<u64, Entry>) {
        sessions.retain(|_, entry| entry.last_used.elapsed() <= self.idle);
    }

    /// Ends every session (at shutdown), releasing their snapshots.
    pub fn close_all(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.sessions.lock().clear();
    }

    fn open(&self, session: Session) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if self.closed.load(Ordering::SeqCst) {
            // Shutting down: the token is handed out, and will be "expired".
            return id;
        }
        let mut sessions = self.sessions.lock();
        self.sweep_locked(&mut sessions);
        if sessions.len() >= self.max {
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
                session: Arc::new(Mutex::new(session)),
                last_used: Instant::now(),
            },
        );
        id
    }

    fn close(&self, id: u64) {
        self.sessions.lock().remove(&id);
    }
}
