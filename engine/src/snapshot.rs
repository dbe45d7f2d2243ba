//! The read API: one consistent view of twins, relationships, models and the model index.
//! A multi-step read (a query, a page of a list) takes one snapshot and reads only from it.

use std::sync::Arc;

use roaring::RoaringBitmap;
use rocksdb::{Direction, IteratorMode, ReadOptions};
use serde_json::Value;

use crate::cdc::Change;
use crate::db::{Engine, State};
use crate::error::{Entity, Error, Result};
use crate::graph::Edges;
use crate::keys::*;
use crate::model::StoredModel;
use crate::relationship::Relationship;
use crate::twin::{Twin, TwinJson};
use twingraph_dtdl::Catalog;

/// A document's stored bytes: shared from the document cache (checked UTF-8 there), borrowed
/// from a reader, or read into a buffer of their own.
pub enum DocBytes<'a> {
    Cached(Arc<str>),
    Read(&'a [u8]),
    Owned(Vec<u8>),
}

impl std::ops::Deref for DocBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            DocBytes::Cached(doc) => doc.as_bytes(),
            DocBytes::Read(bytes) => bytes,
            DocBytes::Owned(bytes) => bytes,
        }
    }
}

/// See [`Snapshot::twin_scan`].
pub struct TwinScan<'a> {
    snap: &'a Snapshot<'a>,
    /// Opened at the first document the cache does not hold.
    iter: Option<rocksdb::DBRawIteratorWithThreadMode<'a, rocksdb::DB>>,
    positioned: bool,
    /// Documents this scan may still put into the cache (none for a scan too large for it).
    fill_left: u64,
    /// Whether to look in the cache first; a large scan stops once the cache proves cold.
    probe: bool,
    lookups: u32,
    hits: u32,
}

impl<'a> TwinScan<'a> {
    /// Numbers at most this far past the current one are reached with `next`, not a seek.
    const STEPS: u32 = 8;
    /// Lookups after which a scan that may not fill the cache judges whether it is worth
    /// asking: with fewer than one hit in eight it reads everything with the iterator.
    const PROBES: u32 = 256;

    /// The stored JSON of twin `num`, if it exists: from the document cache, else read. A
    /// scan the cache can hold fills it; a larger one would only churn it, so it borrows what
    /// it reads from the iterator instead, and stops asking the cache when it misses. Asking
    /// for a lower number than the last one works but may cost a seek.
    pub fn get(&mut self, num: u32) -> Result<Option<DocBytes<'_>>> {
        let version = self.snap.version(num);
        if self.probe {
            self.lookups += 1;
            if let Some(doc) = self.snap.engine.docs.get(num, version) {
                self.hits += 1;
                return Ok(Some(DocBytes::Cached(doc)));
            }
            if self.fill_left == 0 && self.lookups >= Self::PROBES {
                self.probe = self.hits >= self.lookups / 8;
            }
        }
        if self.fill_left == 0 {
            return Ok(self.read(num)?.map(DocBytes::Read));
        }
        self.fill_left -= 1;
        let snap = self.snap;
        Ok(self.read(num)?.map(|bytes| snap.cache(num, version, bytes)))
    }

    fn read(&mut self, num: u32) -> Result<Option<&[u8]>> {
        let iter = match self.iter.take() {
            Some(iter) => iter,
            None => {
                let cf = self.snap.engine.cf(CF_TWINS)?;
                let db = &self.snap.engine.db;
                db.raw_iterator_cf_opt(cf, self.snap.read_options())
            }
        };
        let iter = self.iter.insert(iter);
        Self::position(iter, &mut self.positioned, num)
    }

    fn position<'i>(
        iter: &'i mut rocksdb::DBRawIteratorWithThreadMode<'a, rocksdb::DB>,
        positioned: &mut bool,
        num: u32,
    ) -> Result<Option<&'i [u8]>> {
        let current = |iter: &rocksdb::DBRawIteratorWithThreadMode<'a, rocksdb::DB>| {
            iter.key()
                .and_then(decode_u32)
                .ok_or_else(|| Error::Corruption("twin key".into()))
        };
        if *positioned {
            let mut steps = 0;
            loop {
                if !iter.valid() {
                    iter.status()?;
                    if steps > 0 {
                        // Stepped off the end on the way to `num`.
                        return Ok(None);
                    }
                    break;
                }
                let at = current(iter)?;
                if at == num {
                    return Ok(iter.value());
                }
                if at > num {
                    if steps > 0 {
                        // Stepped past where `num` would be.
                        return Ok(None);
                    }
                    break;
                }
                if num - at > Self::STEPS || steps == Self::STEPS {
                    break;
                }
                iter.next();
                steps += 1;
            }
        }
        iter.seek(twin_key(num));
        *positioned = true;
        iter.status()?;
        if iter.valid() && current(iter)? == num {
            return Ok(iter.value());
        }
        Ok(None)
    }
}

pub struct Snapshot<'a> {
    engine: &'a Engine,
    snap: rocksdb::Snapshot<'a>,
    state: State,
}

fn parse_json(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corruption(format!("{what}: {e}")))
}

fn decode_twin(num: u32, bytes: &[u8]) -> Result<Twin> {
    let doc = parse_json(bytes, "twin")?;
    let id = doc
        .get("$dtId")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Corruption(format!("twin {num} has no $dtId")))?
        .to_string();
    Ok(Twin { id, num, doc })
}

impl Engine {
    /// The latest committed twin number and stored document of `id`, read without a
    /// snapshot. The two reads cannot mix two twins because twin numbers are never reused;
    /// a delete between them reads as not found.
    fn committed_twin_bytes(&self, id: &str) -> Result<Option<(u32, Vec<u8>)>> {
        let Some(num) = self.db.get_cf(self.cf(CF_TWIN_IDS)?, id.as_bytes())? else {
            return Ok(None);
        };
        let num = decode_u32(&num).ok_or_else(|| Error::Corruption("twin number".into()))?;
        Ok(self
            .db
            .get_cf(self.cf(CF_TWINS)?, twin_key(num))?
            .map(|bytes| (num, bytes)))
    }

    /// The latest committed twin, without the cost of a snapshot. Writers call it under the
    /// writer lock, where no commit can land between its reads and their batch.
    pub(crate) fn committed_twin(&self, id: &str) -> Result<Option<Twin>> {
        match self.committed_twin_bytes(id)? {
            Some((num, bytes)) => decode_twin(num, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The latest committed twin as stored, for `GET /digitaltwins/{id}`: no snapshot, and
    /// only the etag is decoded from the document.
    pub fn twin_json(&self, id: &str) -> Result<Option<TwinJson>> {
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(rename = "$etag")]
            etag: String,
        }
        let Some((num, json)) = self.committed_twin_bytes(id)? else {
            return Ok(None);
        };
        let head: Head = serde_json::from_slice(&json)
            .map_err(|e| Error::Corruption(format!("twin {num}: {e}")))?;
        Ok(Some(TwinJson {
            etag: head.etag,
            json,
        }))
    }

    pub fn snapshot(&self) -> Snapshot<'_> {
        // Taken under the publish lock so the RocksDB snapshot and the in-memory state match.
        let published = self.published.read();
        let snap = self.db.snapshot();
        let state = published.clone();
        drop(published);
        Snapshot {
            engine: self,
            snap,
            state,
        }
    }
}

impl<'a> Snapshot<'a> {
    fn read_options(&self) -> ReadOptions {
        let mut options = ReadOptions::default();
        options.set_snapshot(&self.snap);
        options
    }

    fn prefix_options(&self, prefix: &[u8]) -> ReadOptions {
        let mut options = self.read_options();
        if let Some(end) = prefix_end(prefix) {
            options.set_iterate_upper_bound(end);
        }
        options
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.snap.get_cf(self.engine.cf(cf)?, key)?)
    }

    /// Calls `f` for every (key, value) under `prefix`, in key order, until it returns false.
    pub(crate) fn scan_prefix(
        &self,
        cf: &str,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let iter = self.engine.db.iterator_cf_opt(
            self.engine.cf(cf)?,
            self.prefix_options(prefix),
            IteratorMode::From(prefix, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) || !f(&key, &value)? {
                break;
            }
        }
        Ok(())
    }

    pub fn catalog(&self) -> &Catalog {
        &self.state.catalog
    }

    pub fn catalog_arc(&self) -> Arc<Catalog> {
        self.state.catalog.clone()
    }

    pub fn model(&self, id: &str) -> Option<&StoredModel> {
        self.state.models.get(id)
    }

    /// All stored models, ordered by id.
    pub fn models(&self) -> impl Iterator<Item = &StoredModel> {
        self.state.models.values()
    }

    pub fn twin_num(&self, id: &str) -> Result<Option<u32>> {
        if let Some(num) = self.engine.ids.get(id) {
            // Sound because numbers are never reused: see `id_cache.rs`.
            if self.state.index.all().contains(num) {
                return Ok(Some(num));
            }
        }
        let Some(v) = self.get(CF_TWIN_IDS, id.as_bytes())? else {
            return Ok(None);
        };
        let num = decode_u32(&v).ok_or_else(|| Error::Corruption("twin number".into()))?;
        self.engine.ids.insert(id, num);
        Ok(Some(num))
    }

    pub fn twin_by_num(&self, num: u32) -> Result<Option<Twin>> {
        match self.twin_bytes_by_num(num)? {
            Some(bytes) => decode_twin(num, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The stored JSON of twin `num` (its ADT wire form), unparsed: for readers that pass
    /// documents through or pick a few fields out of them.
    /// Served from the document cache when it holds this twin's version.
    pub fn twin_bytes_by_num(&self, num: u32) -> Result<Option<DocBytes<'static>>> {
        let version = self.version(num);
        if let Some(doc) = self.engine.docs.get(num, version) {
            return Ok(Some(DocBytes::Cached(doc)));
        }
        let bytes = self
            .snap
            .get_pinned_cf(self.engine.cf(CF_TWINS)?, twin_key(num))?;
        Ok(bytes.map(|bytes| self.cache(num, version, &bytes)))
    }

    /// Puts twin `num`'s document as read at `version` into the document cache. Documents are
    /// checked as UTF-8 here, once, so that rows copy cached ones without checking again; one
    /// that is not (a damaged store) is not cached, and its reader reports it.
    fn cache(&self, num: u32, version: u64, bytes: &[u8]) -> DocBytes<'static> {
        match simdutf8::basic::from_utf8(bytes) {
            Ok(text) => {
                let doc: Arc<str> = Arc::from(text);
                self.engine.docs.insert(num, version, doc.clone());
                DocBytes::Cached(doc)
            }
            Err(_) => DocBytes::Owned(bytes.to_vec()),
        }
    }

    /// Twin `num`'s field summary (`fields::members` reads it) as this snapshot sees the
    /// twin, if the field cache holds it.
    pub fn twin_fields(&self, num: u32) -> Option<Arc<[u8]>> {
        self.engine.fields.get(num, self.version(num))
    }

    /// Summarises `doc`, twin `num`'s document as read from this snapshot, and caches the
    /// summary. `None` when it was not cached: the field cache is off or full (a caller
    /// scanning many twins stops summarising), or the document is not an object.
    pub fn summarise_twin(&self, num: u32, doc: &[u8]) -> Option<Arc<[u8]>> {
        if !self.engine.fields.enabled() {
            return None;
        }
        let summary: Arc<[u8]> = Arc::from(crate::fields::summarise(doc)?);
        let cached = self
            .engine
            .fields
            .insert(num, self.version(num), summary.clone());
        cached.then_some(summary)
    }

    /// A reader of twins' stored JSON for numbers asked in ascending order (a scan over a
    /// bitmap): the document cache first, then one iterator that steps to near numbers and
    /// seeks to far ones, instead of a point read per twin.
    /// `expected`: about how many twins the scan will read; a scan too large for the
    /// document cache reads from it but does not fill it.
    pub fn twin_scan(&self, expected: u64) -> TwinScan<'_> {
        TwinScan {
            snap: self,
            iter: None,
            positioned: false,
            fill_left: if self.engine.docs.fits(expected) {
                expected
            } else {
                0
            },
            probe: true,
            lookups: 0,
            hits: 0,
        }
    }

    /// The version of twin `num`'s document in this snapshot (the document cache's key).
    fn version(&self, num: u32) -> u64 {
        self.state.versions.get(&num).copied().unwrap_or(0)
    }

    /// The stored JSON of relationship `id` of twin `source`, unparsed.
    pub fn relationship_bytes_by_num(&self, source: u32, id: &str) -> Result<Option<Vec<u8>>> {
        self.get(CF_RELS, &rel_key(source, id))
    }

    pub fn twin(&self, id: &str) -> Result<Option<Twin>> {
        match self.twin_num(id)? {
            Some(num) => self.twin_by_num(num),
            None => Ok(None),
        }
    }

    /// The twin, or `NotFound`.
    pub fn existing_twin(&self, id: &str) -> Result<Twin> {
        self.twin(id)?
            .ok_or_else(|| Error::not_found(Entity::Twin, id))
    }

    /// Every twin, in twin-number order.
    pub fn twins(&self) -> Result<impl Iterator<Item = Result<Twin>> + '_> {
        let iter = self.engine.db.iterator_cf_opt(
            self.engine.cf(CF_TWINS)?,
            self.read_options(),
            IteratorMode::Start,
        );
        Ok(iter.map(|item| {
            let (key, value) = item?;
            let num = decode_u32(&key).ok_or_else(|| Error::Corruption("twin key".into()))?;
            let doc = parse_json(&value, "twin")?;
            let id = doc
                .get("$dtId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Ok(Twin { id, num, doc })
        }))
    }

    pub fn twin_count(&self) -> u64 {
        self.state.index.all().len()
    }

    /// Numbers of all twins.
    pub fn all_twins(&self) -> &RoaringBitmap {
        self.state.index.all()
    }

    /// `IS_OF_MODEL(model)` (or `IS_OF_MODEL(model, exact)`) as a bitmap of twin numbers.
    pub fn model_twins(&self, model: &str, exact: bool) -> RoaringBitmap {
        if exact {
            self.state.index.exact(model)
        } else {
            self.state.index.is_of_model(&self.state.catalog, model)
        }
    }

    pub fn relationship(&self, source: &str, id: &str) -> Result<Option<Relationship>> {
        let Some(num) = self.twin_num(source)? else {
            return Ok(None);
        };
        self.relationship_by_num(num, id)
    }

    pub fn relationship_by_num(&self, source: u32, id: &str) -> Result<Option<Relationship>> {
        match self.get(CF_RELS, &rel_key(source, id))? {
            Some(bytes) => Ok(Some(Relationship::from_doc(parse_json(
                &bytes,
                "relationship",
            )?)?)),
            None => Ok(None),
        }
    }

    /// Outgoing relationships of `source`, optionally only those named `name`, in
    /// (name, id) order. `NotFound` when the twin does not exist.
    pub fn outgoing(&self, source: &str, name: Option<&str>) -> Result<Vec<Relationship>> {
        let num = self
            .twin_num(source)?
            .ok_or_else(|| Error::not_found(Entity::Twin, source))?;
        self.outgoing_by_num(num, name)
    }

    pub fn outgoing_by_num(&self, source: u32, name: Option<&str>) -> Result<Vec<Relationship>> {
        self.out_edges(source, name)
            .iter()
            .map(|edge| {
                self.relationship_by_num(source, &edge.id)?.ok_or_else(|| {
                    Error::Corruption(format!("edge without relationship: {source}/{}", edge.id))
                })
            })
            .collect()
    }

    /// Outgoing edges of `source` (optionally only those named `name`), ordered by
    /// (name, id), from the in-memory graph: what traversal needs, without reading bodies.
    pub fn out_edges(&self, source: u32, name: Option<&str>) -> Edges<'_> {
        let edges = self.state.graph.out(source);
        match name {
            None => edges,
            Some(name) => edges.named(name),
        }
    }

    /// Incoming edges of `target` (`other` is the source), ordered by (source, id).
    pub fn in_edges(&self, target: u32) -> Edges<'_> {
        self.state.graph.incoming(target)
    }

    /// Incoming relationships of `target`. `NotFound` when the twin does not exist.
    pub fn incoming(&self, target: &str) -> Result<Vec<Relationship>> {
        let num = self
            .twin_num(target)?
            .ok_or_else(|| Error::not_found(Entity::Twin, target))?;
        self.in_edges(num)
            .iter()
            .map(|edge| {
                self.relationship_by_num(edge.other, &edge.id)?
                    .ok_or_else(|| {
                        Error::Corruption(format!(
                            "incoming edge without relationship: {}/{}",
                            edge.other, edge.id
                        ))
                    })
            })
            .collect()
    }

    /// Every relationship, ordered by (source number, id).
    pub fn relationships(&self) -> Result<impl Iterator<Item = Result<Relationship>> + '_> {
        let iter = self.engine.db.iterator_cf_opt(
            self.engine.cf(CF_RELS)?,
            self.read_options(),
            IteratorMode::Start,
        );
        Ok(iter.map(|item| {
            let (_, value) = item?;
            Relationship::from_doc(parse_json(&value, "relationship")?)
        }))
    }

    /// Whether `twin` has any relationship, outgoing or incoming.
    pub fn has_relationships(&self, twin: u32) -> bool {
        !self.out_edges(twin, None).is_empty() || !self.in_edges(twin).is_empty()
    }

    /// Change records from sequence `from` on, at most `limit` of them.
    pub fn changes(&self, from: u64, limit: usize) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        let start = cdc_key(from);
        let iter = self.engine.db.iterator_cf_opt(
            self.engine.cf(CF_CDC)?,
            self.read_options(),
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter.take(limit) {
            let (_, value) = item?;
            out.push(Change::decode(&value)?);
        }
        Ok(out)
    }

    /// Stored event routes: (id, record), ordered by id.
    pub fn event_routes(&self) -> Result<Vec<(String, Value)>> {
        let mut out = Vec::new();
        self.scan_prefix(CF_ROUTES, b"", |key, value| {
            let id = String::from_utf8(key.to_vec())
                .map_err(|_| Error::Corruption("route id".into()))?;
            out.push((id, parse_json(value, "event route")?));
            Ok(true)
        })?;
        Ok(out)
    }

    pub fn event_route(&self, id: &str) -> Result<Option<Value>> {
        match self.get(CF_ROUTES, id.as_bytes())? {
            Some(v) => Ok(Some(parse_json(&v, "event route")?)),
            None => Ok(None),
        }
    }
}
