//! Twin documents recently read, kept in memory so that traversals and point reads skip
//! RocksDB. Entries are keyed by (twin number, version) and never change: a snapshot knows
//! the version of every twin it can see (`State::versions`: the commit that last wrote the
//! twin, 0 for a twin not written since the store was opened), so an entry it finds holds
//! exactly the bytes RocksDB would return at that snapshot. Writes do not touch the cache;
//! superseded versions are never asked for again and age out.

use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

type Key = (u32, u64);

/// Weighs an entry by its document's size (plus the entry's own overhead).
#[derive(Clone)]
struct Size;

impl Weighter<Key, Arc<[u8]>> for Size {
    fn weight(&self, _: &Key, doc: &Arc<[u8]>) -> u64 {
        doc.len() as u64 + 64
    }
}

pub(crate) struct DocCache {
    /// `None` when configured with no memory.
    cache: Option<Cache<Key, Arc<[u8]>, Size>>,
    bytes: usize,
}

impl DocCache {
    pub fn new(bytes: usize) -> DocCache {
        let cache = (bytes > 0).then(|| {
            // Twin documents are typically a few hundred bytes.
            Cache::with_weighter((bytes / 512).max(16), bytes as u64, Size)
        });
        DocCache { cache, bytes }
    }

    /// Whether `documents` read in a row may go into the cache: a scan larger than a fraction
    /// of it would only push out what point reads keep there, and be pushed out itself.
    pub fn fits(&self, documents: u64) -> bool {
        documents.saturating_mul(1024) <= (self.bytes / 4) as u64
    }

    pub fn get(&self, num: u32, version: u64) -> Option<Arc<[u8]>> {
        self.cache.as_ref()?.get(&(num, version))
    }

    pub fn insert(&self, num: u32, version: u64, doc: Arc<[u8]>) {
        if let Some(cache) = &self.cache {
            cache.insert((num, version), doc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_separate_entries_and_memory_is_bounded() {
        let cache = DocCache::new(64 << 10);
        cache.insert(1, 0, Arc::from(&b"{\"v\":0}"[..]));
        cache.insert(1, 7, Arc::from(&b"{\"v\":7}"[..]));
        assert_eq!(cache.get(1, 0).as_deref(), Some(&b"{\"v\":0}"[..]));
        assert_eq!(cache.get(1, 7).as_deref(), Some(&b"{\"v\":7}"[..]));
        assert!(cache.get(1, 3).is_none());
        for n in 0..10_000u32 {
            cache.insert(n, 1, Arc::from(vec![b' '; 100]));
        }
        let held = (0..10_000u32)
            .filter(|n| cache.get(*n, 1).is_some())
            .count();
        assert!(held < 1_000, "{held} entries of 164 bytes in 64 KiB");
        assert!(DocCache::new(0).get(1, 0).is_none());
    }
}
