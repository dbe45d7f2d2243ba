//! Expansion along relationships: the candidates a step binds from one bound twin, read from
//! the engine's in-memory adjacency (no document reads), in a stable order for paging.

use std::collections::HashMap;
use std::sync::Arc;

use twingraph_engine::{Edge, Edges, Snapshot};

use crate::plan::{Direction, Hops, Step};

/// One candidate binding of a level: a twin, and for single-hop steps the relationship.
#[derive(Debug, Clone)]
pub(crate) struct Cand<'g> {
    pub twin: u32,
    pub rel: Option<RelRef<'g>>,
}

/// A relationship of the snapshot's graph. Its id is borrowed from the graph: cloning the
/// shared id per candidate touched every relationship's allocation, a cache miss each in a
/// large graph.
#[derive(Debug, Clone)]
pub(crate) struct RelRef<'g> {
    pub source: u32,
    pub target: u32,
    pub id: &'g Arc<str>,
}

/// The position of a candidate: twin number, then the relationship's (source, id).
/// Invariant: each level's candidates are sorted by this key, so a cursor can resume by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub twin: u32,
    pub rel: Option<(u32, Arc<str>)>,
}

/// A candidate's key fields, borrowed: comparing keys without cloning ids.
type KeyRef<'k> = (u32, Option<(u32, &'k str)>);

fn key_ref<'k>(twin: u32, rel: Option<&'k RelRef<'_>>) -> KeyRef<'k> {
    (twin, rel.map(|r| (r.source, &**r.id)))
}

impl Key {
    /// Whether this is the key of the candidate (`twin`, `rel`).
    pub(crate) fn is(&self, twin: u32, rel: Option<&RelRef<'_>>) -> bool {
        let own = (self.twin, self.rel.as_ref().map(|(s, id)| (*s, &**id)));
        own == key_ref(twin, rel)
    }
}

impl Cand<'_> {
    fn key_ref(&self) -> KeyRef<'_> {
        key_ref(self.twin, self.rel.as_ref())
    }

    pub(crate) fn key(&self) -> Key {
        Key {
            twin: self.twin,
            rel: self.rel.as_ref().map(|r| (r.source, r.id.clone())),
        }
    }
}

fn name_allowed(step: &Step, edge: &Edge) -> bool {
    step.names.is_empty() || step.names.iter().any(|n| **n == *edge.name)
}

/// Edges of `twin` the step may follow, as (relationship, other end).
fn neighbours<'s>(
    snap: &'s Snapshot<'_>,
    step: &'s Step,
    twin: u32,
) -> impl Iterator<Item = RelRef<'s>> + 's {
    let out = matches!(step.direction, Direction::Out | Direction::Both);
    let inc = matches!(step.direction, Direction::In | Direction::Both);
    // Outgoing edges are sorted by name: one name is a range of them, not a filter.
    let (outgoing, filter_out) = match (out, step.names.as_slice()) {
        (false, _) => (Edges::EMPTY, false),
        (true, [name]) => (snap.out_edges(twin, Some(name)), false),
        (true, _) => (snap.out_edges(twin, None), true),
    };
    let incoming = if inc {
        snap.in_edges(twin)
    } else {
        Edges::EMPTY
    };
    let outgoing = outgoing
        .iter()
        .filter(move |e| !filter_out || name_allowed(step, e))
        .map(move |e| RelRef {
            source: twin,
            target: e.other,
            id: &e.id,
        });
    let incoming = incoming
        .iter()
        .filter(|e| name_allowed(step, e))
        .map(move |e| RelRef {
            source: e.other,
            target: twin,
            id: &e.id,
        });
    outgoing.chain(incoming)
}

/// The candidates of `step` from the twin `from`, sorted by key, in `into` (cleared first:
/// callers hand back lists they are done with); `edges` counts edges read.
pub(crate) fn expand<'g>(
    snap: &'g Snapshot<'_>,
    step: &'g Step,
    from: u32,
    edges: &mut u64,
    mut into: Vec<Cand<'g>>,
) -> Vec<Cand<'g>> {
    into.clear();
    match step.hops {
        Hops::One => into.extend(neighbours(snap, step, from).map(|rel| {
            *edges += 1;
            let twin = if rel.source == from {
                rel.target
            } else {
                rel.source
            };
            Cand {
                twin,
                rel: Some(rel),
            }
        })),
        Hops::Range { min, max } => into.extend(
            shortest_distances(snap, step, from, max, edges)
                .into_iter()
                .filter(|(_, d)| (min..=max).contains(d))
                .map(|(twin, _)| Cand { twin, rel: None }),
        ),
    }
    into.sort_unstable_by(|a, b| a.key_ref().cmp(&b.key_ref()));
    // A relationship is listed once even when both directions are followed.
    into.dedup_by(|a, b| a.key_ref() == b.key_ref());
    into
}

/// How many candidates `expand` would give, without listing them when it can: a single-hop
/// step in one direction meets each relationship once.
pub(crate) fn count(snap: &Snapshot<'_>, step: &Step, from: u32, edges: &mut u64) -> u64 {
    match (step.hops, step.direction, step.names.as_slice()) {
        // One name outward: the count is the length of that name's range of edges.
        (Hops::One, Direction::Out, [name]) => {
            let found = snap.out_edges(from, Some(name)).len() as u64;
            *edges += found;
            found
        }
        (Hops::One, Direction::Out | Direction::In, _) => {
            let found = neighbours(snap, step, from).count() as u64;
            *edges += found;
            found
        }
        _ => expand(snap, step, from, edges, Vec::new()).len() as u64,
    }
}

/// Breadth-first distances from `from`, up to `max` relationships away. Each twin is reached
/// once, at its shortest distance, and each relationship is followed at most once from each
/// end: cycles end the search instead of repeating it.
pub(crate) fn shortest_distances(
    snap: &Snapshot<'_>,
    step: &Step,
    from: u32,
    max: u32,
    edges: &mut u64,
) -> HashMap<u32, u32> {
    let mut distance = HashMap::from([(from, 0)]);
    let mut frontier = vec![from];
    for d in 1..=max {
        let mut next = Vec::new();
        for twin in frontier {
            for rel in neighbours(snap, step, twin) {
                *edges += 1;
                let other = if rel.source == twin {
                    rel.target
                } else {
                    rel.source
                };
                if let std::collections::hash_map::Entry::Vacant(e) = distance.entry(other) {
                    e.insert(d);
                    next.push(other);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    distance
}
