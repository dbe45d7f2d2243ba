//! The relationship graph held in memory: outgoing and incoming edges of every twin, as
//! persistent maps (structural sharing), so that each commit publishes a new version in
//! O(degree) and a snapshot keeps its own version for free. Traversals (JOIN, MATCH) read
//! this instead of seeking RocksDB once per hop; relationship bodies stay in RocksDB.
//!
//! Invariant: equals the `adj_out`/`adj_in` column families (checked by `check_integrity`),
//! because it is rebuilt from them at open and changed only by the batches that change them.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

/// One edge seen from one end: the relationship's name and id, and the twin at the other end.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub name: Arc<str>,
    pub id: Arc<str>,
    /// Target number for an outgoing edge, source number for an incoming one.
    pub other: u32,
}

/// Edge lists up to this long are one shared slice: compact, and copying it on a change is
/// cheap. Longer ones (hub twins: a floor with a thousand sensors) become persistent vectors,
/// so a change costs O(log n) instead of copying every edge of the hub.
const SMALL_LIST: usize = 64;

#[derive(Debug, Clone)]
enum EdgeList {
    Small(Arc<[Edge]>),
    Large(imbl::Vector<Edge>),
}

impl EdgeList {
    fn view(&self) -> Edges<'_> {
        match self {
            EdgeList::Small(edges) => Edges::slice(edges),
            EdgeList::Large(edges) => Edges {
                repr: Repr::Tree(edges, 0, edges.len()),
            },
        }
    }
}

type Adjacency = NumMap<EdgeList>;

/// A persistent map keyed by twin number. Twin numbers are allocated by the engine, never
/// chosen by clients, so they need no keyed hash (SipHash was a tenth of a traversal's time).
pub(crate) type NumMap<V> =
    imbl::GenericHashMap<u32, V, BitReversed, imbl::shared_ptr::DefaultSharedPtr>;

/// Hashes a twin number to its bits reversed. The map's trie takes the low bits of the hash
/// first, so it now branches on the number's high bits first, like a radix tree: twins created
/// together (a floor's rooms) share their path and a traversal finds it in cache. A mixing
/// hash scattered them, and map lookups were a fifth of a three-hop count.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BitReversed;

impl std::hash::BuildHasher for BitReversed {
    type Hasher = BitReversedHasher;
    fn build_hasher(&self) -> BitReversedHasher {
        BitReversedHasher(0)
    }
}

pub(crate) struct BitReversedHasher(u64);

impl std::hash::Hasher for BitReversedHasher {
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n.reverse_bits());
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u32` keys use this hasher; fold anything else in so it still hashes.
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).rotate_left(5);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The edges of one twin in one direction, in key order: a view into a snapshot's graph.
#[derive(Debug, Clone, Copy)]
pub struct Edges<'a> {
    repr: Repr<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Repr<'a> {
    Slice(&'a [Edge]),
    /// `[start, end)` of a persistent vector.
    Tree(&'a imbl::Vector<Edge>, usize, usize),
}

impl<'a> Edges<'a> {
    pub const EMPTY: Edges<'static> = Edges {
        repr: Repr::Slice(&[]),
    };

    fn slice(edges: &'a [Edge]) -> Edges<'a> {
        Edges {
            repr: Repr::Slice(edges),
        }
    }

    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Slice(s) => s.len(),
            Repr::Tree(_, start, end) => end - start,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, index: usize) -> Option<&'a Edge> {
        match self.repr {
            Repr::Slice(s) => s.get(index),
            Repr::Tree(v, start, end) => {
                if index < end - start {
                    v.get(start + index)
                } else {
                    None
                }
            }
        }
    }

    /// The index of the first edge for which `pred` is false (edges must be partitioned by it),
    /// as `slice::partition_point`.
    pub fn partition_point(&self, mut pred: impl FnMut(&Edge) -> bool) -> usize {
        match self.repr {
            Repr::Slice(s) => s.partition_point(pred),
            Repr::Tree(..) => {
                let (mut lo, mut hi) = (0, self.len());
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    match self.get(mid) {
                        Some(edge) if pred(edge) => lo = mid + 1,
                        _ => hi = mid,
                    }
                }
                lo
            }
        }
    }

    /// The edges named `name`, of a view ordered by name (outgoing edges).
    pub fn named(&self, name: &str) -> Edges<'a> {
        // A short list (most twins) is scanned: comparing lengths first skips most names
        // without reading them, where a binary search compared strings twice per step.
        if let Repr::Slice(edges) = self.repr {
            if edges.len() <= 16 {
                let same = |e: &Edge| e.name.len() == name.len() && *e.name == *name;
                let Some(start) = edges.iter().position(same) else {
                    return Edges::EMPTY;
                };
                let len = edges[start..].iter().take_while(|e| same(e)).count();
                return Edges::slice(&edges[start..start + len]);
            }
        }
        let start = self.partition_point(|e| &*e.name < name);
        let end = self.partition_point(|e| &*e.name <= name);
        self.range(start..end)
    }

    /// The edges at `range` of this view (clamped to it).
    pub fn range(&self, range: std::ops::Range<usize>) -> Edges<'a> {
        let len = self.len();
        let (from, to) = (
            range.start.min(len),
            range.end.clamp(range.start.min(len), len),
        );
        match self.repr {
            Repr::Slice(s) => Edges::slice(&s[from..to]),
            Repr::Tree(v, start, _) => Edges {
                repr: Repr::Tree(v, start + from, start + to),
            },
        }
    }

    pub fn iter(&self) -> EdgeIter<'a> {
        match self.repr {
            Repr::Slice(s) => EdgeIter::Slice(s.iter()),
            Repr::Tree(v, start, end) => EdgeIter::Tree(v.focus().narrow(start..end).into_iter()),
        }
    }

    pub fn to_vec(&self) -> Vec<Edge> {
        self.iter().cloned().collect()
    }
}

impl PartialEq for Edges<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a> IntoIterator for Edges<'a> {
    type Item = &'a Edge;
    type IntoIter = EdgeIter<'a>;
    fn into_iter(self) -> EdgeIter<'a> {
        self.iter()
    }
}

pub enum EdgeIter<'a> {
    Slice(std::slice::Iter<'a, Edge>),
    Tree(imbl::vector::Iter<'a, Edge, imbl::shared_ptr::DefaultSharedPtr>),
}

impl<'a> Iterator for EdgeIter<'a> {
    type Item = &'a Edge;
    fn next(&mut self) -> Option<&'a Edge> {
        match self {
            EdgeIter::Slice(it) => it.next(),
            EdgeIter::Tree(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            EdgeIter::Slice(it) => it.size_hint(),
            EdgeIter::Tree(it) => it.size_hint(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    /// source → edges ordered by (name, id), as `adj_out` orders them.
    out: Adjacency,
    /// target → edges ordered by (source, id), as `adj_in` orders them.
    inc: Adjacency,
    /// Relationship names are few: share one allocation per name.
    names: imbl::HashMap<Arc<str>, ()>,
}

fn out_order(a: &Edge, b: &Edge) -> Ordering {
    (&a.name, &a.id).cmp(&(&b.name, &b.id))
}

fn in_order(a: &Edge, b: &Edge) -> Ordering {
    (a.other, &a.id).cmp(&(b.other, &b.id))
}

fn list_of(mut edges: Vec<Edge>, order: fn(&Edge, &Edge) -> Ordering) -> EdgeList {
    edges.sort_by(order);
    if edges.len() > SMALL_LIST {
        EdgeList::Large(edges.into_iter().collect())
    } else {
        EdgeList::Small(Arc::from(edges))
    }
}

impl Graph {
    /// Builds the graph from (source, name, id, target) edges in any order.
    pub fn from_edges(edges: impl IntoIterator<Item = (u32, String, String, u32)>) -> Graph {
        let mut graph = Graph::default();
        let mut out: HashMap<u32, Vec<Edge>> = HashMap::new();
        let mut inc: HashMap<u32, Vec<Edge>> = HashMap::new();
        for (source, name, id, target) in edges {
            let name = graph.intern(&name);
            let id: Arc<str> = id.into();
            out.entry(source).or_default().push(Edge {
                name: name.clone(),
                id: id.clone(),
                other: target,
            });
            inc.entry(target).or_default().push(Edge {
                name,
                id,
                other: source,
            });
        }
        graph.out = out
            .into_iter()
            .map(|(k, v)| (k, list_of(v, out_order)))
            .collect();
        graph.inc = inc
            .into_iter()
            .map(|(k, v)| (k, list_of(v, in_order)))
            .collect();
        graph
    }

    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some((existing, _)) = self.names.get_key_value(name) {
            return existing.clone();
        }
        let name: Arc<str> = name.into();
        self.names.insert(name.clone(), ());
        name
    }

    pub fn add(&mut self, source: u32, name: &str, id: &str, target: u32) {
        let name = self.intern(name);
        let id: Arc<str> = id.into();
        let out = Edge {
            name: name.clone(),
            id: id.clone(),
            other: target,
        };
        insert_sorted(&mut self.out, source, out, out_order);
        let inc = Edge {
            name,
            id,
            other: source,
        };
        insert_sorted(&mut self.inc, target, inc, in_order);
    }

    pub fn remove(&mut self, source: u32, name: &str, id: &str, target: u32) {
        let probe = |other: u32| Edge {
            name: name.into(),
            id: id.into(),
            other,
        };
        remove_sorted(&mut self.out, source, &probe(target), out_order);
        remove_sorted(&mut self.inc, target, &probe(source), in_order);
    }

    /// Outgoing edges of `source`, ordered by (name, id).
    pub fn out(&self, source: u32) -> Edges<'_> {
        self.out.get(&source).map_or(Edges::EMPTY, EdgeList::view)
    }

    /// Incoming edges of `target`, ordered by (source, id).
    pub fn incoming(&self, target: u32) -> Edges<'_> {
        self.inc.get(&target).map_or(Edges::EMPTY, EdgeList::view)
    }

    #[cfg(test)]
    pub fn edge_count(&self) -> usize {
        self.out.values().map(|e| e.view().len()).sum()
    }
}

fn insert_sorted(map: &mut Adjacency, key: u32, edge: Edge, order: fn(&Edge, &Edge) -> Ordering) {
    if let Some(EdgeList::Large(edges)) = map.get_mut(&key) {
        match edges.binary_search_by(|probe| order(probe, &edge)) {
            Ok(i) => {
                edges.set(i, edge);
            }
            Err(i) => edges.insert(i, edge),
        }
        return;
    }
    let mut edges: Vec<Edge> = match map.get(&key) {
        Some(EdgeList::Small(edges)) => edges.to_vec(),
        _ => Vec::new(),
    };
    match edges.binary_search_by(|probe| order(probe, &edge)) {
        Ok(i) => edges[i] = edge,
        Err(i) => edges.insert(i, edge),
    }
    map.insert(key, list_of(edges, order));
}

fn remove_sorted(map: &mut Adjacency, key: u32, edge: &Edge, order: fn(&Edge, &Edge) -> Ordering) {
    let remaining = match map.get_mut(&key) {
        None => return,
        Some(EdgeList::Large(edges)) => {
            if let Ok(i) = edges.binary_search_by(|probe| order(probe, edge)) {
                edges.remove(i);
            }
            // Hysteresis: back to a slice well below the threshold, not at it.
            if edges.len() > SMALL_LIST / 2 {
                return;
            }
            edges.iter().cloned().collect::<Vec<_>>()
        }
        Some(EdgeList::Small(edges)) => {
            let mut kept = edges.to_vec();
            if let Ok(i) = kept.binary_search_by(|probe| order(probe, edge)) {
                kept.remove(i);
            }
            kept
        }
    };
    if remaining.is_empty() {
        map.remove(&key);
    } else {
        map.insert(key, EdgeList::Small(Arc::from(remaining)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(edges: Edges<'_>) -> Vec<(&str, &str, u32)> {
        edges.iter().map(|e| (&*e.name, &*e.id, e.other)).collect()
    }

    #[test]
    fn versions_are_independent() {
        let mut g = Graph::default();
        g.add(1, "contains", "b", 3);
        g.add(1, "contains", "a", 2);
        g.add(1, "adjacent", "z", 2);
        let before = g.clone();
        g.remove(1, "contains", "a", 2);
        g.add(4, "contains", "a", 2);
        assert_eq!(
            ids(before.out(1)),
            [
                ("adjacent", "z", 2),
                ("contains", "a", 2),
                ("contains", "b", 3)
            ]
        );
        assert_eq!(ids(g.out(1)), [("adjacent", "z", 2), ("contains", "b", 3)]);
        assert_eq!(
            ids(g.incoming(2)),
            [("adjacent", "z", 1), ("contains", "a", 4)]
        );
        assert_eq!(
            ids(before.incoming(2)),
            [("contains", "a", 1), ("adjacent", "z", 1)]
        );
        assert!(g.out(9).is_empty());
    }

    #[test]
    fn named_finds_one_names_edges_in_short_and_long_lists() {
        let mut g = Graph::default();
        let names = ["a", "bb", "b", "c", "ab"];
        for i in 0..200u32 {
            g.add(1, names[(i % 5) as usize], &format!("r{i:03}"), 10 + i);
            for twin in [1] {
                let edges = g.out(twin);
                for name in names.iter().chain(&["", "zz", "a\0"]) {
                    let want: Vec<_> = edges.iter().filter(|e| &*e.name == *name).collect();
                    let got: Vec<_> = edges.named(name).iter().collect();
                    assert_eq!(got, want, "{name} of {} edges", edges.len());
                }
            }
        }
    }

    #[test]
    fn twin_numbers_hash_to_their_reversed_bits() {
        use std::hash::BuildHasher;
        assert_eq!(BitReversed.hash_one(1u32), 1 << 31);
        assert_eq!(BitReversed.hash_one(6u32), 3 << 29);
        let mut map: NumMap<u32> = NumMap::default();
        for n in (0..5000u32).chain([u32::MAX, 1 << 31]) {
            map.insert(n, n);
        }
        assert!((0..5000u32).all(|n| map.get(&n) == Some(&n)));
        assert_eq!(map.get(&u32::MAX), Some(&u32::MAX));
        assert_eq!(map.get(&5000), None);
    }

    #[test]
    fn bulk_build_matches_incremental() {
        let edges = vec![
            (1, "n".to_string(), "b".to_string(), 2),
            (1, "n".into(), "a".into(), 3),
            (2, "m".into(), "c".into(), 3),
        ];
        let bulk = Graph::from_edges(edges.clone());
        let mut inc = Graph::default();
        for (s, n, i, t) in edges {
            inc.add(s, &n, &i, t);
        }
        for k in 1..4 {
            assert_eq!(bulk.out(k), inc.out(k));
            assert_eq!(bulk.incoming(k), inc.incoming(k));
        }
        assert_eq!(bulk.edge_count(), 3);
    }

    /// A hub twin crosses into the persistent-vector form and back; every version stays
    /// intact and ordered, and views slice and search it like a slice.
    #[test]
    fn hub_lists_stay_ordered_across_forms() {
        let mut g = Graph::default();
        let mut expected = std::collections::BTreeSet::new();
        let mut versions = Vec::new();
        // A fixed pseudo-random order of ids, so inserts land anywhere in the list.
        for i in 0..300u32 {
            let id = format!("r{:04}", (i * 7919) % 300);
            let name = if i % 3 == 0 { "a" } else { "b" };
            g.add(1, name, &id, 100 + i);
            expected.insert((name.to_string(), id));
            if i % 50 == 0 {
                versions.push((g.clone(), expected.clone()));
            }
        }
        for i in (0..300u32).step_by(2) {
            let id = format!("r{:04}", (i * 7919) % 300);
            let name = if i % 3 == 0 { "a" } else { "b" };
            g.remove(1, name, &id, 100 + i);
            expected.remove(&(name.to_string(), id));
            versions.push((g.clone(), expected.clone()));
        }
        for (graph, want) in &versions {
            let got: Vec<(String, String)> = graph
                .out(1)
                .iter()
                .map(|e| (e.name.to_string(), e.id.to_string()))
                .collect();
            assert_eq!(got, want.iter().cloned().collect::<Vec<_>>());
            let edges = graph.out(1);
            let b = edges.partition_point(|e| &*e.name < "b");
            assert!(edges.range(0..b).iter().all(|e| &*e.name == "a"));
            assert!(edges.range(b..edges.len()).iter().all(|e| &*e.name == "b"));
            assert_eq!(edges.range(b..usize::MAX).len(), edges.len() - b);
        }
        // Each target saw one incoming edge; the removed ones are gone.
        assert_eq!(g.incoming(100).len(), 0);
        assert_eq!(ids(g.incoming(101)).len(), 1);
        assert_eq!(g.edge_count(), 150);
        // Large lists equal their slice-built twins.
        let rebuilt = Graph::from_edges(
            g.out(1)
                .iter()
                .map(|e| (1, e.name.to_string(), e.id.to_string(), e.other)),
        );
        assert_eq!(rebuilt.out(1), g.out(1));
    }
}
