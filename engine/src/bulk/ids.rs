//! The offline bulk load's tables of millions of ids: every twin id of the load (its number
//! and model, for relationship ends) and every relationship key (for duplicates).
//!
//! The ids sit back to back in one arena and the hash table holds offsets: a boxed string
//! per id was an allocation on one thread and a free on another, per id, and its pointer one
//! more cache miss per lookup.

use std::hash::{BuildHasher, Hasher};

use crate::error::{Error, Result};

/// A seeded multiply-rotate hash, where SipHash was a tenth of the loading thread's time.
/// Seeded per table from `RandomState`, so a file cannot be prepared to make ids collide.
#[derive(Clone)]
pub(super) struct Seeded(u64);

impl Seeded {
    pub fn new() -> Seeded {
        Seeded(std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
    }

    fn hash(&self, bytes: &[u8]) -> u64 {
        let mut h = self.build_hasher();
        h.write(bytes);
        h.finish()
    }
}

impl BuildHasher for Seeded {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

pub(super) struct SeededHasher(u64);

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for SeededHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            h = (h ^ u64::from_le_bytes(w))
                .wrapping_mul(MIX)
                .rotate_left(29);
        }
        let mut tail = [0u8; 8];
        tail[..words.remainder().len()].copy_from_slice(words.remainder());
        h = (h ^ u64::from_le_bytes(tail) ^ bytes.len() as u64).wrapping_mul(MIX);
        self.0 = h.rotate_left(29);
    }

    fn finish(&self) -> u64 {
        let h = (self.0 ^ (self.0 >> 31)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        h ^ (h >> 32)
    }
}

/// A set of byte strings, each with a `u64`, for tables of millions of keys where every
/// operation is a cache miss or two.
///
/// Each key is a record in one arena: its value, its length, its bytes. The table is one
/// array of slots, probed linearly, each slot 24 bits of the key's hash and the record's
/// 40-bit offset: a probe reads one slot, and only a slot whose tag matches (all but about
/// one in sixteen million of the others) leads to the record. Adding a new key is then one
/// miss, finding a key two; a map of boxed keys took three or four.
pub(super) struct Interned {
    hasher: Seeded,
    slots: Vec<u64>,
    len: usize,
    arena: Vec<u8>,
}

/// Bytes before a record's key: the value (8) and the key's length (4).
const HEADER: usize = 12;
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

impl Interned {
    pub fn with_capacity(keys: usize) -> Interned {
        Interned {
            hasher: Seeded::new(),
            // At most half full: short probe runs.
            slots: vec![0; (keys.max(4) * 2).next_power_of_two()],
            len: 0,
            // Ids average 10–30 bytes: growing by copies from nothing to a few hundred MiB
            // faults in twice the pages; memory reserved and not yet written costs none.
            arena: Vec::with_capacity(keys * (HEADER + 24)),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// A slot's tag: the hash's top 24 bits, never 0 (0 is an empty slot).
    fn tag(hash: u64) -> u64 {
        (hash >> OFFSET_BITS) | 1
    }

    fn record(&self, at: u64) -> (u64, &[u8]) {
        let at = at as usize;
        let mut value = [0u8; 8];
        value.copy_from_slice(&self.arena[at..at + 8]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.arena[at + 8..at + HEADER]);
        let start = at + HEADER;
        let key = &self.arena[start..start + u32::from_le_bytes(len) as usize];
        (u64::from_le_bytes(value), key)
    }

    /// The slot holding `key`, or the empty slot where it would go.
    fn probe(&self, hash: u64, key: &[u8]) -> (usize, Option<u64>) {
        let mask = self.slots.len() - 1;
        let tag = Self::tag(hash);
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return (i, None);
            }
            if slot >> OFFSET_BITS == tag {
                let (value, stored) = self.record(slot & OFFSET_MASK);
                if stored == key {
                    return (i, Some(value));
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `key` with `value`; false (and nothing changes) when `key` is there already.
    pub fn insert(&mut self, key: &[u8], value: u64) -> Result<bool> {
        let hash = self.hasher.hash(key);
        let (i, found) = self.probe(hash, key);
        if found.is_some() {
            return Ok(false);
        }
        let at = self.arena.len() as u64;
        let len = u32::try_from(key.len()).ok().filter(|_| at <= OFFSET_MASK);
        let Some(len) = len else {
            return Err(Error::LimitExceeded(
                "a bulk load's ids take over 1 TiB".into(),
            ));
        };
        self.arena.extend_from_slice(&value.to_le_bytes());
        self.arena.extend_from_slice(&len.to_le_bytes());
        self.arena.extend_from_slice(key);
        self.slots[i] = Self::tag(hash) << OFFSET_BITS | at;
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        Ok(true)
    }

    pub fn get(&self, key: &[u8]) -> Option<u64> {
        self.probe(self.hasher.hash(key), key).1
    }

    fn grow(&mut self) {
        let doubled = vec![0; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| *s != 0) {
            let hash = self.hasher.hash(self.record(slot & OFFSET_MASK).1);
            let mut i = hash as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// The key stored with `value` (a scan: for messages about refused lines only).
    pub fn key_of(&self, value: u64) -> Option<&[u8]> {
        self.slots
            .iter()
            .filter(|s| **s != 0)
            .map(|s| self.record(s & OFFSET_MASK))
            .find(|(v, _)| *v == value)
            .map(|(_, key)| key)
    }
}

/// The twins a load has accepted: by id, their index in the load (number minus the load's
/// first) and their model's number, both kept in the id's record (one miss to find both).
pub(super) struct TwinIds {
    ids: Interned,
    models: Vec<u32>,
}

impl TwinIds {
    pub fn with_capacity(twins: usize) -> TwinIds {
        TwinIds {
            ids: Interned::with_capacity(twins),
            models: Vec::with_capacity(twins),
        }
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Adds the next twin; false when `id` is taken.
    pub fn push(&mut self, id: &[u8], model: u32) -> Result<bool> {
        let index = self.models.len() as u64;
        if !self.ids.insert(id, index << 32 | u64::from(model))? {
            return Ok(false);
        }
        self.models.push(model);
        Ok(true)
    }

    /// (index, model number) of twin `id`.
    pub fn get(&self, id: &str) -> Option<(u32, u32)> {
        let value = self.ids.get(id.as_bytes())?;
        Some(((value >> 32) as u32, value as u32))
    }

    /// Each twin's model number, by index.
    pub fn models(&self) -> &[u32] {
        &self.models
    }

    /// The id of the twin at `index` (for messages).
    pub fn id_of(&self, index: u32) -> String {
        let model = self.models.get(index as usize).copied().unwrap_or_default();
        let key = self.ids.key_of(u64::from(index) << 32 | u64::from(model));
        String::from_utf8_lossy(key.unwrap_or_default()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_keys_are_found_and_refused_twice() {
        let mut set = Interned::with_capacity(4);
        // More than the capacity: the table grows, rehashing from the arena.
        for i in 0..10_000u64 {
            assert!(set.insert(format!("twin-{i}").as_bytes(), i).unwrap());
        }
        assert_eq!(set.len(), 10_000);
        assert!(!set.insert(b"twin-17", 99).unwrap(), "a duplicate");
        assert_eq!(set.get(b"twin-17"), Some(17), "the first value stays");
        assert_eq!(set.get(b"twin-1"), Some(1));
        assert_eq!(set.get(b"twin-"), None, "a prefix of keys");
        assert_eq!(set.get(b"twin-170000"), None);
        assert!(set.insert(b"", 7).unwrap(), "the empty key is a key");
        assert_eq!(set.get(b""), Some(7));
        assert_eq!(set.key_of(4321), Some(&b"twin-4321"[..]));
    }

    #[test]
    fn twins_are_numbered_in_order_with_their_models() {
        let mut ids = TwinIds::with_capacity(0);
        assert!(ids.push(b"a", 3).unwrap());
        assert!(ids.push(b"b", 1).unwrap());
        assert!(!ids.push(b"a", 2).unwrap());
        assert_eq!(ids.len(), 2);
        assert_eq!(ids.get("a"), Some((0, 3)));
        assert_eq!(ids.get("b"), Some((1, 1)));
        assert_eq!(ids.get("c"), None);
        assert_eq!(ids.models(), &[3, 1]);
        assert_eq!(ids.id_of(1), "b");
    }

    #[test]
    fn the_hash_reads_every_byte() {
        let h = Seeded::new();
        let a = b"0123456789abcdef-x";
        let mut b = *a;
        for i in 0..a.len() {
            b[i] ^= 1;
            assert_ne!(h.hash(a), h.hash(&b), "byte {i}");
            b[i] ^= 1;
        }
        assert_ne!(h.hash(b"ab"), h.hash(b"ab\0"), "length counts");
    }

    proptest::proptest! {
        /// Inserts and lookups agree with a std map, through growth from the smallest table.
        #[test]
        fn interned_agrees_with_a_map(keys in proptest::collection::vec("[ab]{0,6}", 0..300)) {
            let mut set = Interned::with_capacity(0);
            let mut model = std::collections::HashMap::new();
            for (i, key) in keys.iter().enumerate() {
                let fresh = !model.contains_key(key);
                if fresh {
                    model.insert(key.clone(), i as u64);
                }
                proptest::prop_assert_eq!(set.insert(key.as_bytes(), i as u64).unwrap(), fresh);
            }
            proptest::prop_assert_eq!(set.len(), model.len());
            for key in &keys {
                proptest::prop_assert_eq!(set.get(key.as_bytes()), model.get(key).copied());
            }
            proptest::prop_assert_eq!(set.get(b"c"), None);
        }
    }
}
