//! The relationship graph held in memory: outgoing and incoming edges of every twin, as
//! persistent maps (structural sharing), so that each commit publishes a new version in
//! O(degree) and a snapshot keeps its own version for free. Traversals (JOIN, MATCH) read
//! this instead of seeking RocksDB once per hop; relationship bodies stay in RocksDB.
//!
//! Invariant: equals the `adj_out`/`adj_in` column families (checked by `check_integrity`),
//! because it is rebuilt from them at open and changed only by the batches that change them.

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

type Adjacency = imbl::HashMap<u32, Arc<[Edge]>>;

#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    /// source → edges ordered by (name, id), as `adj_out` orders them.
    out: Adjacency,
    /// target → edges ordered by (source, id), as `adj_in` orders them.
    inc: Adjacency,
    /// Relationship names are few: share one allocation per name.
    names: imbl::HashMap<Arc<str>, ()>,
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
            .map(|(k, mut v)| {
                v.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
                (k, Arc::from(v))
            })
            .collect();
        graph.inc = inc
            .into_iter()
            .map(|(k, mut v)| {
                v.sort_by(|a, b| (a.other, &a.id).cmp(&(b.other, &b.id)));
                (k, Arc::from(v))
            })
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
        insert_sorted(&mut self.out, source, out, |a, b| {
            (&a.name, &a.id).cmp(&(&b.name, &b.id))
        });
        let inc = Edge {
            name,
            id,
            other: source,
        };
        insert_sorted(&mut self.inc, target, inc, |a, b| {
            (a.other, &a.id).cmp(&(b.other, &b.id))
        });
    }

    pub fn remove(&mut self, source: u32, id: &str, target: u32) {
        remove_where(&mut self.out, source, |e| &*e.id == id && e.other == target);
        remove_where(&mut self.inc, target, |e| &*e.id == id && e.other == source);
    }

    /// Outgoing edges of `source`, ordered by (name, id).
    pub fn out(&self, source: u32) -> &[Edge] {
        self.out.get(&source).map_or(&[], |e| e)
    }

    /// Incoming edges of `target`, ordered by (source, id).
    pub fn incoming(&self, target: u32) -> &[Edge] {
        self.inc.get(&target).map_or(&[], |e| e)
    }

    #[cfg(test)]
    pub fn edge_count(&self) -> usize {
        self.out.values().map(|e| e.len()).sum()
    }
}

fn insert_sorted(
    map: &mut Adjacency,
    key: u32,
    edge: Edge,
    order: impl Fn(&Edge, &Edge) -> std::cmp::Ordering,
) {
    let mut edges: Vec<Edge> = map.get(&key).map(|e| e.to_vec()).unwrap_or_default();
    match edges.binary_search_by(|probe| order(probe, &edge)) {
        Ok(i) => edges[i] = edge,
        Err(i) => edges.insert(i, edge),
    }
    map.insert(key, Arc::from(edges));
}

fn remove_where(map: &mut Adjacency, key: u32, pred: impl Fn(&Edge) -> bool) {
    let Some(edges) = map.get(&key) else { return };
    let kept: Vec<Edge> = edges.iter().filter(|e| !pred(e)).cloned().collect();
    if kept.is_empty() {
        map.remove(&key);
    } else {
        map.insert(key, Arc::from(kept));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(edges: &[Edge]) -> Vec<(&str, &str, u32)> {
        edges.iter().map(|e| (&*e.name, &*e.id, e.other)).collect()
    }

    #[test]
    fn versions_are_independent() {
        let mut g = Graph::default();
        g.add(1, "contains", "b", 3);
        g.add(1, "contains", "a", 2);
        g.add(1, "adjacent", "z", 2);
        let before = g.clone();
        g.remove(1, "a", 2);
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
}
