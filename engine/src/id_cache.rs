//! Twin ids recently resolved to twin numbers, so that a query anchored on `$dtId` (every
//! JOIN and MATCH from one twin) skips the RocksDB read of the id index: that read was a
//! fifth of a one-hop JOIN.
//!
//! No invalidation is needed. A twin number is given to one id when the twin is created and is
//! never reused, so an entry `id → n` can only be wrong for a snapshot in which twin `n` does
//! not exist (the id was deleted, or recreated under a new number, or not created yet); a
//! reader trusts an entry only when its snapshot's set of twins holds `n`.
//!
//! A direct-mapped table: each id hashes to one slot, a newer id replaces an older one. Memory
//! is fixed by the slot count, and a lookup is one hash and one lock.

use std::hash::BuildHasher;

use parking_lot::Mutex;

/// An id and its twin number, or nothing.
type Slot = Mutex<Option<(Box<str>, u32)>>;

pub(crate) struct IdCache {
    slots: Box<[Slot]>,
    /// Keyed per process: ids are user input, and a fixed hash would let one user choose ids
    /// that evict each other (slower reads, never wrong ones).
    hasher: std::collections::hash_map::RandomState,
}

impl IdCache {
    /// A cache of `slots` entries (rounded up to a power of two); 0 turns it off.
    pub fn new(slots: usize) -> IdCache {
        let slots = match slots {
            0 => 0,
            n => n.next_power_of_two(),
        };
        IdCache {
            slots: (0..slots).map(|_| Mutex::new(None)).collect(),
            hasher: Default::default(),
        }
    }

    fn slot(&self, id: &str) -> Option<&Slot> {
        let mask = self.slots.len().checked_sub(1)?;
        let hash = self.hasher.hash_one(id) as usize;
        self.slots.get(hash & mask)
    }

    /// The number `id` was last seen with; the caller checks that its snapshot holds it.
    pub fn get(&self, id: &str) -> Option<u32> {
        match &*self.slot(id)?.lock() {
            Some((cached, num)) if **cached == *id => Some(*num),
            _ => None,
        }
    }

    pub fn insert(&self, id: &str, num: u32) {
        if let Some(slot) = self.slot(id) {
            *slot.lock() = Some((id.into(), num));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_and_only_that() {
        let cache = IdCache::new(1000);
        assert_eq!(cache.slots.len(), 1024);
        assert_eq!(cache.get("a"), None);
        cache.insert("a", 7);
        assert_eq!(cache.get("a"), Some(7));
        cache.insert("a", 9);
        assert_eq!(cache.get("a"), Some(9));
        assert_eq!(cache.get("b"), None);
        // Ids that share a slot replace each other; neither is ever answered for the other.
        for n in 0..5000u32 {
            cache.insert(&format!("id{n}"), n);
        }
        let found = (0..5000u32)
            .filter(|n| {
                let got = cache.get(&format!("id{n}"));
                assert!(got.is_none() || got == Some(*n));
                got.is_some()
            })
            .count();
        assert!(found > 0 && found <= 1024, "{found}");
        let off = IdCache::new(0);
        off.insert("a", 1);
        assert_eq!(off.get("a"), None);
    }
}
