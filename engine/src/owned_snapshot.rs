//! A snapshot that holds its engine: a value that can be kept between requests and moved
//! between threads (a paged query's session), where `Snapshot<'_>` borrows the engine and so
//! ties whoever keeps it to a stack frame.
//!
//! RocksDB's snapshot handle borrows its database; `self_cell` keeps the `Arc<Engine>` and
//! the snapshot borrowing it together without our own unsafe code.

use std::sync::Arc;

use crate::db::Engine;
use crate::snapshot::Snapshot;

self_cell::self_cell!(
    struct Cell {
        owner: Arc<Engine>,
        #[covariant]
        dependent: Snapshot,
    }
);

/// A consistent view of the store as of the moment it was taken, for as long as it lives.
pub struct OwnedSnapshot(Cell);

impl OwnedSnapshot {
    /// The engine's current state, as `Engine::snapshot` takes it.
    pub fn new(engine: Arc<Engine>) -> OwnedSnapshot {
        OwnedSnapshot(Cell::new(engine, |engine| engine.snapshot()))
    }

    /// The snapshot, to read through.
    pub fn get(&self) -> &Snapshot<'_> {
        self.0.borrow_dependent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineConfig;

    fn model() -> serde_json::Value {
        serde_json::json!({
            "@id": "dtmi:t:Room;1", "@type": "Interface",
            "@context": "dtmi:dtdl:context;3",
            "contents": [{"@type": "Property", "name": "n", "schema": "integer"}],
        })
    }

    /// The snapshot outlives the scope that took it, moves to another thread, and keeps
    /// reading what the store held when it was taken.
    #[test]
    fn an_owned_snapshot_is_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig {
            sync_writes: false,
            ..EngineConfig::default()
        };
        let engine = Arc::new(Engine::open(dir.path(), config).unwrap());
        engine.add_models(&[model()], &Default::default()).unwrap();
        let twin = serde_json::json!({"$metadata": {"$model": "dtmi:t:Room;1"}, "n": 1});
        engine.put_twin("a", &twin, false).unwrap();
        let kept = OwnedSnapshot::new(engine.clone());
        engine.delete_twin("a", None).unwrap();
        engine.put_twin("b", &twin, false).unwrap();
        let seen = std::thread::spawn(move || {
            let snap = kept.get();
            (
                snap.twin("a").unwrap().is_some(),
                snap.twin("b").unwrap().is_some(),
            )
        })
        .join()
        .unwrap();
        assert_eq!(seen, (true, false));
        assert!(engine.snapshot().twin("a").unwrap().is_none());
    }
}
