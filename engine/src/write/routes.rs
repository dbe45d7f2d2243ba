//! Event route records. The engine stores them; the server validates filters and endpoints.
//! Creating a route also places its cursor at the end of the change log (the route sees
//! the changes committed after it), in the same batch; deleting it removes its delivery
//! state (cursor, dead letters).

use serde_json::Value;

use crate::db::Engine;
use crate::error::{Entity, Error, Result};
use crate::keys::{decode_u64, CF_META, META_NEXT_ROUTE_EPOCH};
use crate::limits;
use crate::stage::{self, RouteStart};

impl Engine {
    /// Creates or replaces an event route. Replacing keeps the route's cursor and dead letters.
    pub fn put_event_route(&self, id: &str, record: &Value) -> Result<()> {
        limits::check_id("event route", id)?;
        let mut commit = self.begin();
        let bytes = serde_json::to_vec(record)
            .map_err(|e| Error::Internal(format!("encoding an event route: {e}")))?;
        let snapshot = self.snapshot();
        let exists = snapshot.event_route(id)?.is_some() && snapshot.route_cursor(id)?.is_some();
        let start = if exists {
            None
        } else {
            let epoch = match self.db.get_cf(self.cf(CF_META)?, META_NEXT_ROUTE_EPOCH)? {
                Some(v) => {
                    decode_u64(&v).ok_or_else(|| Error::Corruption("next_route_epoch".into()))?
                }
                None => 1,
            };
            Some(RouteStart {
                epoch,
                cursor: commit.writer.next_seq,
            })
        };
        stage::route_stored(&mut commit, id, &bytes, start)?;
        self.commit(commit)?;
        Ok(())
    }

    pub fn delete_event_route(&self, id: &str) -> Result<()> {
        let mut commit = self.begin();
        if self.snapshot().event_route(id)?.is_none() {
            return Err(Error::not_found(Entity::EventRoute, id));
        }
        stage::route_deleted(&mut commit, id)?;
        self.commit(commit)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::db::{Engine, EngineConfig};

    fn engine(dir: &tempfile::TempDir) -> Engine {
        let config = EngineConfig {
            sync_writes: false,
            ..EngineConfig::default()
        };
        Engine::open(dir.path(), config).unwrap()
    }

    #[test]
    fn a_route_starts_at_the_end_and_a_recreated_route_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(&dir);
        let record = json!({"endpointName": "e", "filter": "true"});
        e.put_event_route("r", &record).unwrap();
        let first = e.snapshot().route_cursor("r").unwrap().unwrap();
        assert_eq!(first.next, e.next_sequence());

        e.advance_route(
            "r",
            first.epoch,
            first.next + 5,
            Some((first.next, &json!({"x": 1}))),
        )
        .unwrap();
        // Replacing keeps the position and the dead letters.
        e.put_event_route("r", &record).unwrap();
        let replaced = e.snapshot().route_cursor("r").unwrap().unwrap();
        assert_eq!(replaced.epoch, first.epoch);
        assert_eq!(replaced.next, first.next + 5);
        assert_eq!(
            e.snapshot()
                .dead_letters("r", first.epoch, None, 10)
                .unwrap()
                .len(),
            1
        );

        e.delete_event_route("r").unwrap();
        assert_eq!(e.snapshot().route_cursor("r").unwrap(), None);
        // A late write of the deleted incarnation's delivery loop is not the new route's.
        e.advance_route("r", first.epoch, first.next + 9, None)
            .unwrap();
        e.put_event_route("r", &record).unwrap();
        let again = e.snapshot().route_cursor("r").unwrap().unwrap();
        assert!(again.epoch > first.epoch);
        assert_eq!(again.next, e.next_sequence());
        assert!(e
            .snapshot()
            .dead_letters("r", again.epoch, None, 10)
            .unwrap()
            .is_empty());
        assert!(e
            .snapshot()
            .dead_letters("r", first.epoch, None, 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn dead_letters_page_by_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(&dir);
        e.put_event_route("r", &json!({})).unwrap();
        e.put_event_route("r2", &json!({})).unwrap();
        let c = e.snapshot().route_cursor("r").unwrap().unwrap();
        for seq in [3u64, 7, 300] {
            e.advance_route("r", c.epoch, seq + 1, Some((seq, &json!({"seq": seq}))))
                .unwrap();
        }
        let c2 = e.snapshot().route_cursor("r2").unwrap().unwrap();
        e.advance_route("r2", c2.epoch, 5, Some((4, &json!({}))))
            .unwrap();
        let snap = e.snapshot();
        let seqs = |after, limit| -> Vec<u64> {
            snap.dead_letters("r", c.epoch, after, limit)
                .unwrap()
                .iter()
                .map(|d| d.seq)
                .collect()
        };
        assert_eq!(seqs(None, 10), vec![3, 7, 300]);
        assert_eq!(seqs(None, 2), vec![3, 7]);
        assert_eq!(seqs(Some(7), 2), vec![300]);
        assert_eq!(snap.route_cursor("r").unwrap().unwrap().next, 301);
    }
}
