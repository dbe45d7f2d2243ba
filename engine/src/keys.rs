//! Every column family and key layout. All integers are big-endian so that byte order is
//! numeric order; strings are UTF-8 and never contain NUL (ids are validated on entry), so a
//! NUL byte can terminate a variable-length component.

/// Small records: format version, id counters.
pub const CF_META: &str = "meta";
/// model DTMI → model record (definition, upload time, decommissioned).
pub const CF_MODELS: &str = "models";
/// `$dtId` → twin number (u32).
pub const CF_TWIN_IDS: &str = "twin_ids";
/// twin number → twin document (ADT JSON).
pub const CF_TWINS: &str = "twins";
/// source number ‖ relationship id → relationship document (ADT JSON).
pub const CF_RELS: &str = "rels";
/// source number ‖ name ‖ NUL ‖ relationship id → target number.
pub const CF_OUT: &str = "adj_out";
/// target number ‖ source number ‖ relationship id → relationship name.
pub const CF_IN: &str = "adj_in";
/// model DTMI ‖ NUL ‖ twin number → empty: twins by exact model, loaded into bitmaps at open.
pub const CF_MODEL_TWINS: &str = "model_twins";
/// sequence number (u64) → change record.
pub const CF_CDC: &str = "cdc";
/// event route id → event route record.
pub const CF_ROUTES: &str = "routes";
/// route id ‖ NUL ‖ epoch (u64) → the next change sequence (u64) the route will deliver.
pub const CF_CURSORS: &str = "cursors";
/// route id ‖ NUL ‖ epoch (u64) ‖ sequence (u64) → dead-lettered event record.
pub const CF_DEAD_LETTERS: &str = "dead_letters";

pub const ALL_CFS: [&str; 12] = [
    CF_META,
    CF_MODELS,
    CF_TWIN_IDS,
    CF_TWINS,
    CF_RELS,
    CF_OUT,
    CF_IN,
    CF_MODEL_TWINS,
    CF_CDC,
    CF_ROUTES,
    CF_CURSORS,
    CF_DEAD_LETTERS,
];

pub const META_FORMAT_VERSION: &[u8] = b"format_version";
pub const META_NEXT_TWIN: &[u8] = b"next_twin";
pub const META_NEXT_SEQ: &[u8] = b"next_seq";
/// The epoch the next newly created event route gets (u64).
pub const META_NEXT_ROUTE_EPOCH: &[u8] = b"next_route_epoch";
/// Present while a bulk load's files are being ingested: `{"startSeq"}`, so that an open
/// finding it can roll the load back.
pub const META_BULK_LOAD: &[u8] = b"bulk\0load";
/// Import jobs: `job\0record\0<job>` holds the caller's record of the job,
/// `job\0progress\0<job>` the progress its last committed batch reached.
pub const META_JOB_RECORD: &[u8] = b"job\0record\0";
pub const META_JOB_PROGRESS: &[u8] = b"job\0progress\0";
/// Bumped whenever a key layout or value encoding changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

pub fn job_record_key(job: &str) -> Vec<u8> {
    [META_JOB_RECORD, job.as_bytes()].concat()
}

pub fn job_progress_key(job: &str) -> Vec<u8> {
    [META_JOB_PROGRESS, job.as_bytes()].concat()
}

pub fn twin_key(num: u32) -> [u8; 4] {
    num.to_be_bytes()
}

pub fn decode_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

pub fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

pub fn cdc_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub fn rel_key(source: u32, rel_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + rel_id.len());
    rel_key_into(&mut key, source, rel_id);
    key
}

/// `rel_key` into a reused buffer (cleared first).
pub fn rel_key_into(key: &mut Vec<u8>, source: u32, rel_id: &str) {
    key.clear();
    key.extend_from_slice(&source.to_be_bytes());
    key.extend_from_slice(rel_id.as_bytes());
}

pub fn out_edge_key(source: u32, name: &str, rel_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(5 + name.len() + rel_id.len());
    out_edge_key_into(&mut key, source, name, rel_id);
    key
}

/// `out_edge_key` into a reused buffer (cleared first).
pub fn out_edge_key_into(key: &mut Vec<u8>, source: u32, name: &str, rel_id: &str) {
    key.clear();
    key.extend_from_slice(&source.to_be_bytes());
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key.extend_from_slice(rel_id.as_bytes());
}

/// Prefix of the outgoing edges of `source`, optionally only those named `name`.
#[cfg(test)]
pub fn out_edge_prefix(source: u32, name: Option<&str>) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + name.map_or(0, |n| n.len() + 1));
    key.extend_from_slice(&source.to_be_bytes());
    if let Some(name) = name {
        key.extend_from_slice(name.as_bytes());
        key.push(0);
    }
    key
}

/// (source, name, relationship id) from a `CF_OUT` key.
pub fn decode_out_edge(key: &[u8]) -> Option<(u32, &str, &str)> {
    let source = decode_u32(key)?;
    let rest = key.get(4..)?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let name = std::str::from_utf8(&rest[..nul]).ok()?;
    let id = std::str::from_utf8(&rest[nul + 1..]).ok()?;
    Some((source, name, id))
}

pub fn in_edge_key(target: u32, source: u32, rel_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + rel_id.len());
    in_edge_key_into(&mut key, target, source, rel_id);
    key
}

/// `in_edge_key` into a reused buffer (cleared first).
pub fn in_edge_key_into(key: &mut Vec<u8>, target: u32, source: u32, rel_id: &str) {
    key.clear();
    key.extend_from_slice(&target.to_be_bytes());
    key.extend_from_slice(&source.to_be_bytes());
    key.extend_from_slice(rel_id.as_bytes());
}

pub fn model_twin_key(model: &str, twin: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(model.len() + 5);
    key.extend_from_slice(model.as_bytes());
    key.push(0);
    key.extend_from_slice(&twin.to_be_bytes());
    key
}

/// (model, twin number) from a `CF_MODEL_TWINS` key.
pub fn decode_model_twin(key: &[u8]) -> Option<(&str, u32)> {
    let nul = key.iter().position(|b| *b == 0)?;
    let model = std::str::from_utf8(&key[..nul]).ok()?;
    let twin = decode_u32(key.get(nul + 1..)?)?;
    Some((model, twin))
}

/// Prefix of every cursor and dead letter of route `id`, across its epochs.
pub fn route_prefix(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 1);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key
}

/// A route's cursor key; also the prefix of that route incarnation's dead letters.
pub fn cursor_key(id: &str, epoch: u64) -> Vec<u8> {
    let mut key = route_prefix(id);
    key.extend_from_slice(&epoch.to_be_bytes());
    key
}

pub fn dead_letter_key(id: &str, epoch: u64, seq: u64) -> Vec<u8> {
    let mut key = cursor_key(id, epoch);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// (epoch, sequence) from a `CF_DEAD_LETTERS` key of route `id`.
pub fn decode_dead_letter(id: &str, key: &[u8]) -> Option<(u64, u64)> {
    let rest = key.get(id.len() + 1..)?;
    Some((decode_u64(rest)?, decode_u64(rest.get(8..)?)?))
}

/// The smallest key greater than every key starting with `prefix`, for iterator upper bounds.
/// `None` when no such key exists (the prefix is all 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_edges_of_one_name_are_contiguous() {
        let a = out_edge_key(7, "contains", "r1");
        let b = out_edge_key(7, "contains", "r2");
        let c = out_edge_key(7, "containsX", "r0");
        let prefix = out_edge_prefix(7, Some("contains"));
        assert!(a.starts_with(&prefix) && b.starts_with(&prefix));
        // "contains\0" sorts before "containsX": a name that extends another never interleaves.
        assert!(!c.starts_with(&prefix));
        assert!(a < b && b < c);
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
    }

    fn decode_rel_key(key: &[u8]) -> Option<(u32, &str)> {
        Some((decode_u32(key)?, std::str::from_utf8(key.get(4..)?).ok()?))
    }

    fn decode_in_edge(key: &[u8]) -> Option<(u32, u32, &str)> {
        let target = decode_u32(key)?;
        let source = decode_u32(key.get(4..)?)?;
        Some((target, source, std::str::from_utf8(key.get(8..)?).ok()?))
    }

    proptest! {
        #[test]
        fn twin_numbers_sort_numerically(a: u32, b: u32) {
            prop_assert_eq!(a.cmp(&b), twin_key(a).cmp(&twin_key(b)));
        }

        #[test]
        fn cdc_sequences_sort_numerically(a: u64, b: u64) {
            prop_assert_eq!(a.cmp(&b), cdc_key(a).cmp(&cdc_key(b)));
        }

        #[test]
        fn out_edge_round_trip(src: u32, name in "[A-Za-z][A-Za-z0-9_]{0,20}", id in "[^\u{0}]{0,30}") {
            let key = out_edge_key(src, &name, &id);
            prop_assert_eq!(decode_out_edge(&key), Some((src, name.as_str(), id.as_str())));
        }

        #[test]
        fn in_edge_round_trip(dst: u32, src: u32, id in "[^\u{0}]{0,30}") {
            let key = in_edge_key(dst, src, &id);
            prop_assert_eq!(decode_in_edge(&key), Some((dst, src, id.as_str())));
        }

        #[test]
        fn rel_key_round_trip_and_order(src: u32, a in "[^\u{0}]{0,20}", b in "[^\u{0}]{0,20}") {
            let ka = rel_key(src, &a);
            prop_assert_eq!(decode_rel_key(&ka), Some((src, a.as_str())));
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), ka.cmp(&rel_key(src, &b)));
        }

        #[test]
        fn dead_letters_of_a_route_incarnation_are_contiguous_and_ordered(
            id in "[^\u{0}]{1,20}", other in "[^\u{0}]{1,20}", epoch: u64, a: u64, b: u64,
        ) {
            let (ka, kb) = (dead_letter_key(&id, epoch, a), dead_letter_key(&id, epoch, b));
            prop_assert_eq!(decode_dead_letter(&id, &ka), Some((epoch, a)));
            prop_assert!(ka.starts_with(&cursor_key(&id, epoch)));
            prop_assert!(ka.starts_with(&route_prefix(&id)));
            prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
            // A route whose id extends another's never falls under the other's prefix.
            if id != other {
                prop_assert!(!ka.starts_with(&route_prefix(&other)));
            }
        }

        #[test]
        fn model_twin_round_trip(model in "dtmi:[a-z:]{1,30};[1-9]", twin: u32) {
            let key = model_twin_key(&model, twin);
            prop_assert_eq!(decode_model_twin(&key), Some((model.as_str(), twin)));
        }
    }
}
