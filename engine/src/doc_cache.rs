//! Twin documents recently read, kept in memory so that traversals and point reads skip
//! RocksDB. A second instance holds twins' field summaries (`fields.rs`) the same way. Each entry is a twin's document at one version and never changes: a snapshot knows
//! the version of every twin it can see (`State::versions`: the commit that last wrote the
//! twin, 0 for a twin not written since the store was opened), so an entry it finds holds
//! exactly the bytes RocksDB would return at that snapshot. Writes do not touch the cache;
//! superseded versions are never asked for again and are replaced or age out.
//!
//! Twin numbers are dense (allocated in order, never reused), so the cache is an array
//! indexed by twin number, not a hash table: a lookup is one slot, where a hash table's probe
//! cost a traversal two or three cache misses per twin at a million twins. Slots live in
//! segments allocated when a twin of their range is first cached. Memory is bounded by a CLOCK
//! sweep: a read marks its slot, the sweep clears marks and evicts unmarked entries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// Slots per segment (a power of two). A segment is 2 MiB; a cache smaller than that holds
/// nothing.
const SEGMENT_BITS: u32 = 16;
const SEGMENT: usize = 1 << SEGMENT_BITS;
/// Bytes an entry costs beyond its document (its slot's share and the allocation).
const ENTRY_OVERHEAD: u64 = 64;
/// Slots one insert sweeps at most while making room: bounds an insert's work.
const SWEEP_LIMIT: usize = 4 * SEGMENT;

type Slot<T> = Mutex<Entry<T>>;
/// A run of `SEGMENT` slots, allocated when first written.
type Segment<T> = OnceLock<Box<[Slot<T>]>>;

struct Entry<T: ?Sized> {
    /// The document and its version.
    doc: Option<(u64, Arc<T>)>,
    /// Read since the sweep last passed.
    used: bool,
}

impl<T: ?Sized> Default for Entry<T> {
    fn default() -> Self {
        Entry {
            doc: None,
            used: false,
        }
    }
}

/// What a segment of slots costs; counted against the budget while it exists (the same for
/// every `T`: an entry holds a pointer to it).
const SEGMENT_BYTES: u64 = (SEGMENT * std::mem::size_of::<Slot<[u8]>>()) as u64;

/// What an entry holding `doc` counts against the budget.
fn weight_of<T: AsRef<[u8]> + ?Sized>(doc: &T) -> u64 {
    doc.as_ref().len() as u64 + ENTRY_OVERHEAD
}

/// Cached per twin and version: documents as `str` (checked UTF-8 once, when cached), field
/// summaries as bytes.
pub(crate) struct DocCache<T: AsRef<[u8]> + ?Sized> {
    /// `segments[n >> SEGMENT_BITS]` holds twin `n`'s slot. Empty when configured with no memory.
    segments: Box<[Segment<T>]>,
    budget: u64,
    /// Bytes held: documents plus `ENTRY_OVERHEAD` each, and the allocated segments.
    held: AtomicU64,
    /// The CLOCK hand: the next twin number the sweep looks at.
    hand: Mutex<u64>,
}

impl<T: AsRef<[u8]> + ?Sized> DocCache<T> {
    pub fn new(bytes: usize) -> DocCache<T> {
        let segments = match bytes {
            0 => 0,
            _ => 1usize << (32 - SEGMENT_BITS),
        };
        DocCache {
            segments: (0..segments).map(|_| OnceLock::new()).collect(),
            budget: bytes as u64,
            held: AtomicU64::new(0),
            hand: Mutex::new(0),
        }
    }

    /// Whether `documents` read in a row may go into the cache: a scan larger than a fraction
    /// of it would only push out what point reads keep there, and be pushed out itself.
    pub fn fits(&self, documents: u64) -> bool {
        documents.saturating_mul(1024) <= self.budget / 4
    }

    /// Whether the cache was given any memory.
    pub fn enabled(&self) -> bool {
        !self.segments.is_empty()
    }

    fn slot(&self, num: u32) -> Option<&Slot<T>> {
        let segment = self.segments.get((num >> SEGMENT_BITS) as usize)?.get()?;
        segment.get(num as usize & (SEGMENT - 1))
    }

    pub fn get(&self, num: u32, version: u64) -> Option<Arc<T>> {
        let mut entry = self.slot(num)?.lock();
        let doc = match &entry.doc {
            Some((v, doc)) if *v == version => doc.clone(),
            _ => return None,
        };
        entry.used = true;
        Some(doc)
    }

    /// Caches `doc` as twin `num`'s document at `version`, unless the cache holds a later
    /// version of it or cannot make room. False when it could not make room.
    pub fn insert(&self, num: u32, version: u64, doc: Arc<T>) -> bool {
        let Some(segment) = self.segments.get((num >> SEGMENT_BITS) as usize) else {
            return false;
        };
        let weight = weight_of(&*doc);
        if weight > self.budget / 8 {
            return false;
        }
        let slots = match segment.get() {
            Some(slots) => slots,
            None => {
                if !self.make_room(SEGMENT_BYTES) {
                    return false;
                }
                let mut created = false;
                let slots = segment.get_or_init(|| {
                    created = true;
                    (0..SEGMENT).map(|_| Slot::default()).collect()
                });
                if !created {
                    // Another thread allocated it first (and counted it).
                    self.held.fetch_sub(SEGMENT_BYTES, Ordering::Relaxed);
                }
                slots
            }
        };
        if !self.make_room(weight) {
            return false;
        }
        let Some(slot) = slots.get(num as usize & (SEGMENT - 1)) else {
            self.held.fetch_sub(weight, Ordering::Relaxed);
            return false;
        };
        let mut entry = slot.lock();
        // A reader of an older snapshot leaves the newer version in place.
        let refund = if matches!(&entry.doc, Some((v, _)) if *v > version) {
            weight
        } else {
            let old = entry.doc.replace((version, doc));
            old.map_or(0, |(_, old)| weight_of(&*old))
        };
        drop(entry);
        self.held.fetch_sub(refund, Ordering::Relaxed);
        true
    }

    /// Reserves `weight` bytes, evicting entries not read since the sweep last passed them.
    /// False when no room was made within the sweep's limit (the entry is not cached).
    fn make_room(&self, weight: u64) -> bool {
        let reserve = || {
            let fits = |held: u64| (held + weight <= self.budget).then_some(held + weight);
            self.held
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, fits)
                .is_ok()
        };
        if reserve() {
            return true;
        }
        // One sweeper at a time; the others do not cache while it works.
        let Some(mut hand) = self.hand.try_lock() else {
            return false;
        };
        let end = (self.segments.len() as u64) << SEGMENT_BITS;
        let mut swept = 0;
        while swept < SWEEP_LIMIT {
            let segment = (*hand >> SEGMENT_BITS) as usize;
            match self.segments.get(segment).and_then(OnceLock::get) {
                None => {
                    // Skip an unallocated segment whole; wrap at the end.
                    *hand = ((segment as u64 + 1) << SEGMENT_BITS) % end;
                    swept += 64;
                    continue;
                }
                Some(slots) => {
                    let slot = &slots[(*hand as usize) & (SEGMENT - 1)];
                    *hand = (*hand + 1) % end;
                    swept += 1;
                    let mut entry = slot.lock();
                    if std::mem::take(&mut entry.used) {
                        continue;
                    }
                    let evicted = entry.doc.take();
                    drop(entry);
                    if let Some((_, doc)) = evicted {
                        self.held.fetch_sub(weight_of(&*doc), Ordering::Relaxed);
                    }
                }
            }
            if reserve() {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Arc<str> {
        Arc::from(text)
    }

    #[test]
    fn an_entry_answers_only_for_its_version_and_later_versions_win() {
        let cache = DocCache::<str>::new(2 * SEGMENT_BYTES as usize + (64 << 10));
        cache.insert(1, 0, doc("{\"v\":0}"));
        assert_eq!(cache.get(1, 0).as_deref(), Some("{\"v\":0}"));
        cache.insert(1, 7, doc("{\"v\":7}"));
        assert_eq!(cache.get(1, 7).as_deref(), Some("{\"v\":7}"));
        assert!(cache.get(1, 0).is_none());
        // A reader of an older snapshot does not push out the newer version.
        cache.insert(1, 3, doc("{\"v\":3}"));
        assert!(cache.get(1, 3).is_none());
        assert!(cache.get(1, 7).is_some());
        assert!(cache.get(2, 0).is_none());
        assert!(cache.get(u32::MAX, 0).is_none());
        cache.insert(u32::MAX, 0, doc("{}"));
        assert!(cache.get(u32::MAX, 0).is_some());
        assert_eq!(
            cache.held.load(Ordering::Relaxed),
            2 * SEGMENT_BYTES + 2 * ENTRY_OVERHEAD + 9,
            "replaced and refused entries are not counted"
        );
        assert!(DocCache::<str>::new(0).get(1, 0).is_none());
        assert!(!DocCache::<str>::new(0).insert(1, 0, doc("{}")));
    }

    #[test]
    fn memory_is_bounded_and_read_entries_survive_the_sweep() {
        let budget = SEGMENT_BYTES as usize + (64 << 10);
        let cache = DocCache::<[u8]>::new(budget);
        let big: Arc<[u8]> = Arc::from(vec![b' '; 100]);
        cache.insert(5, 1, big.clone());
        for n in 10..10_000u32 {
            cache.insert(n, 1, big.clone());
            // Twin 5 is hot: read all along.
            assert!(cache.get(5, 1).is_some(), "hot entry evicted at {n}");
            assert!(cache.held.load(Ordering::Relaxed) <= budget as u64);
        }
        let held = (10..10_000u32)
            .filter(|n| cache.get(*n, 1).is_some())
            .count();
        assert!(
            held > 100 && held < 400,
            "{held} entries of 164 bytes in 64 KiB"
        );
        // Documents larger than an eighth of the cache are not cached at all.
        cache.insert(20_000, 1, Arc::from(vec![b' '; budget / 4]));
        assert!(cache.get(20_000, 1).is_none());
    }
}
