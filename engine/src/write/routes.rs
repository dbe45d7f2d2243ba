//! Event route records. The engine stores them; the server validates filters and endpoints.

use serde_json::Value;

use crate::db::Engine;
use crate::error::{Entity, Error, Result};
use crate::keys::CF_ROUTES;
use crate::limits;

impl Engine {
    /// Creates or replaces an event route.
    pub fn put_event_route(&self, id: &str, record: &Value) -> Result<()> {
        limits::check_id("event route", id)?;
        let mut commit = self.begin();
        let bytes = serde_json::to_vec(record)
            .map_err(|e| Error::Internal(format!("encoding an event route: {e}")))?;
        commit
            .batch
            .put_cf(self.cf(CF_ROUTES)?, id.as_bytes(), bytes);
        self.commit(commit)?;
        Ok(())
    }

    pub fn delete_event_route(&self, id: &str) -> Result<()> {
        let mut commit = self.begin();
        if self.snapshot().event_route(id)?.is_none() {
            return Err(Error::not_found(Entity::EventRoute, id));
        }
        commit.batch.delete_cf(self.cf(CF_ROUTES)?, id.as_bytes());
        self.commit(commit)?;
        Ok(())
    }
}
