//! The streaming executor: walks a plan depth-first over one engine snapshot, one level per
//! step, and stops as soon as a page is full. Memory is one candidate list per level plus the
//! page; the position of the last row returned is the continuation cursor.

mod cursor;
mod doc;
mod expr;
mod functions;
mod traverse;

#[cfg(test)]
mod differential;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use std::time::Instant;

use roaring::RoaringBitmap;
use serde_json::Value;
use twingraph_engine::{DocBytes, Snapshot, TwinScan};

pub(crate) use cursor::{decode, encode, Cursor, Resume};
use doc::{Doc, Wanted};
use expr::{eval, RelSlot, Row, Sets, TwinSlot};
use functions::Truth;
use traverse::{expand, Cand, Key, RelRef};

use crate::error::Error;
use crate::plan::{Output, Plan, Term};
use crate::prepared::JsonRow;

/// Work done by one execution, from which the page's query charge is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Work {
    /// Twin and relationship documents read from storage.
    pub documents: u64,
    /// Relationships followed in the in-memory graph.
    pub edges: u64,
    /// Candidate bindings considered (twins from indexes, relationships from the graph).
    pub candidates: u64,
}

impl Work {
    /// Query Units: ADT publishes no formula, so ours is deterministic and proportional to the
    /// work: a base of 1, 1 per document read, 0.1 per edge or candidate (adt-api.md §5.5).
    pub fn charge(&self) -> f64 {
        let units = 1.0 + self.documents as f64 + (self.edges + self.candidates) as f64 / 10.0;
        (units * 100.0).round() / 100.0
    }
}

pub(crate) struct Outcome {
    pub rows: Vec<JsonRow>,
    /// Set when more rows may follow: where the next page starts.
    pub next: Option<Cursor>,
    pub work: Work,
}

/// Runs `plan` from `cursor` (or the start) until `max_items` rows are found.
pub(crate) fn run(
    snap: &Snapshot<'_>,
    plan: &Plan,
    max_items: usize,
    cursor: Option<&Cursor>,
    deadline: Option<Instant>,
) -> Result<Outcome, Error> {
    let mut exec = Executor::new(snap, plan, deadline);
    if plan.output == Output::Count {
        let count = if plan.counts_from_index() {
            let set = expr::twin_set(snap, &plan.root.twins)?;
            exec.work.candidates += set.len() / 100;
            set.len()
        } else {
            exec.walk(None, true, &mut |_, _| Ok(Flow::Continue))?
        };
        return Ok(Outcome {
            rows: vec![JsonRow::new(format!("{{\"COUNT\":{count}}}"))],
            next: None,
            work: exec.work,
        });
    }
    let emitted_before = cursor.map_or(0, |c| c.emitted);
    let limit = plan.limit.map(|n| n.saturating_sub(emitted_before));
    if limit == Some(0) {
        return Ok(Outcome {
            rows: Vec::new(),
            next: None,
            work: exec.work,
        });
    }
    let mut rows = Vec::new();
    let mut last_keys = Vec::new();
    let mut more = false;
    let page = max_items.max(1);
    exec.walk(cursor, false, &mut |exec, levels| {
        if rows.len() == page {
            // One row beyond the page proves there is a next page; it is not returned.
            more = true;
            return Ok(Flow::Stop);
        }
        rows.push(exec.output()?);
        // Only the page's last row can become the cursor.
        if rows.len() == page {
            last_keys = levels.iter().filter_map(Level::current).collect();
        }
        let reached = limit.is_some_and(|l| rows.len() as u64 >= l);
        Ok(if reached { Flow::Stop } else { Flow::Continue })
    })?;
    let next = more.then(|| Cursor {
        keys: last_keys,
        emitted: emitted_before + rows.len() as u64,
    });
    Ok(Outcome {
        rows,
        next,
        work: exec.work,
    })
}

enum Flow {
    Continue,
    Stop,
}

/// Called with each row found by `Executor::walk`, and the levels whose current candidates
/// make it (their keys are the row's position).
type Emit<'f, 'a, 's> = dyn FnMut(&mut Executor<'a, 's>, &[Level<'a>]) -> Result<Flow, Error> + 'f;

/// The candidates of one level, in key order.
enum Candidates<'g> {
    /// The root: twin numbers from a bitmap, and the one the level is at. One iterator for
    /// the whole page: asking the bitmap for the range after each twin searched its
    /// containers again every row.
    Bitmap {
        twins: roaring::bitmap::IntoIter,
        at: Option<u32>,
    },
    List {
        items: Vec<Cand<'g>>,
        pos: usize,
    },
}

struct Level<'g> {
    candidates: Candidates<'g>,
    /// The level was entered on the cursor's path; its first candidate may continue it.
    on_path: bool,
}

impl<'g> Level<'g> {
    /// Moves to the next candidate and returns it (borrowed: no id is cloned per candidate).
    fn next(&mut self) -> Option<(u32, Option<&RelRef<'g>>)> {
        match &mut self.candidates {
            Candidates::Bitmap { twins, at } => {
                *at = twins.next();
                Some(((*at)?, None))
            }
            Candidates::List { items, pos } => {
                let cand = items.get(*pos)?;
                *pos += 1;
                Some((cand.twin, cand.rel.as_ref()))
            }
        }
    }

    /// The key of the current candidate (the cursor's position in this level).
    fn current(&self) -> Option<Key> {
        match &self.candidates {
            Candidates::Bitmap { at, .. } => at.map(|twin| Key { twin, rel: None }),
            Candidates::List { items, pos } => items.get(pos.checked_sub(1)?).map(Cand::key),
        }
    }
}

struct Executor<'a, 's> {
    snap: &'a Snapshot<'s>,
    plan: &'a Plan,
    deadline: Option<Instant>,
    row: Row<'a>,
    sets: Sets,
    /// `reads[level]`: variables whose documents the filters of that level read.
    reads: Vec<Vec<usize>>,
    output_reads: Vec<usize>,
    /// `wanted[var]`: what the query reads of that variable's document.
    wanted: Vec<Wanted>,
    /// `text_vars[var]`: the output copies that variable's whole document.
    text_vars: Vec<bool>,
    /// Reads the root variable's documents: its candidates come in ascending twin order, so
    /// one iterator serves them all (opened on first use).
    root_scan: Option<TwinScan<'a>>,
    /// Twins in the root set (how much the root scan reads at most).
    root_size: u64,
    /// Candidate lists of finished levels, reused by the next expansions.
    spare: Vec<Vec<Cand<'a>>>,
    /// The output items' names as JSON object keys (`"name":`), encoded once.
    item_keys: Vec<String>,
    /// Documents read for a few members are summarised into the field cache (until it
    /// proves full or off).
    summarising: bool,
    work: Work,
}

impl<'a, 's> Executor<'a, 's> {
    fn new(snap: &'a Snapshot<'s>, plan: &'a Plan, deadline: Option<Instant>) -> Self {
        let reads = plan
            .filters
            .iter()
            .map(|preds| {
                let mut vars = Vec::new();
                preds
                    .iter()
                    .for_each(|p| Plan::documents_read(p, &mut vars));
                vars
            })
            .collect();
        // What the output reads: whole documents are copied out as stored (their text),
        // paths into a document are parsed from it (wanted members).
        let mut text_vars = vec![false; plan.vars.len()];
        let outputs: Vec<(usize, &[String])> = match &plan.output {
            Output::Document(var) => vec![(*var, &[][..])],
            Output::Items(items) => items
                .iter()
                .filter_map(|(_, term)| match term {
                    Term::Prop { var, path } => Some((*var, path.as_slice())),
                    Term::Const(_) => None,
                })
                .collect(),
            Output::Count => Vec::new(),
        };
        let mut output_reads: Vec<usize> = Vec::new();
        for (var, _) in &outputs {
            if !output_reads.contains(var) {
                output_reads.push(*var);
            }
        }
        let mut wanted = vec![Wanted::none(); plan.vars.len()];
        for pred in plan.filters.iter().flatten() {
            Plan::properties_read(pred, &mut |var, path| {
                if let Some(w) = wanted.get_mut(var) {
                    w.add(path);
                }
            });
        }
        for (var, path) in outputs {
            match (path.is_empty(), text_vars.get_mut(var), wanted.get_mut(var)) {
                (true, Some(text), _) => *text = true,
                (false, _, Some(w)) => w.add(path),
                _ => {}
            }
        }
        let item_keys = match &plan.output {
            Output::Items(items) => items
                .iter()
                .map(|(name, _)| format!("{}:", Value::String(name.clone())))
                .collect(),
            _ => Vec::new(),
        };
        Executor {
            snap,
            plan,
            deadline,
            row: Row {
                twins: vec![None; plan.vars.len()],
                rels: vec![None; plan.steps.len()],
            },
            sets: Sets::default(),
            reads,
            output_reads,
            wanted,
            text_vars,
            root_scan: None,
            root_size: 0,
            spare: Vec::new(),
            item_keys,
            summarising: true,
            work: Work::default(),
        }
    }

    /// Depth-first over all rows (after `cursor`), calling `emit` with each row's keys.
    /// Returns the number of rows emitted. `count_last`: the caller only counts rows, so a
    /// last level with nothing to check is counted from the graph, not walked (and `emit` is
    /// not called for its rows).
    #[allow(clippy::type_complexity)]
    fn walk(
        &mut self,
        cursor: Option<&Cursor>,
        count_last: bool,
        emit: &mut Emit<'_, 'a, 's>,
    ) -> Result<u64, Error> {
        let last = self.plan.steps.len();
        let path: Option<&[Key]> = match cursor {
            Some(c) if c.keys.len() == last + 1 => Some(&c.keys),
            Some(_) => {
                return Err(Error::BadContinuation(
                    "the token does not fit this query".into(),
                ))
            }
            None => None,
        };
        let root = expr::twin_set(self.snap, &self.plan.root.twins)?;
        self.root_size = root.len();
        let next = match path.map(|p| &p[0]) {
            None => Some(0),
            Some(key) if last == 0 => key.twin.checked_add(1),
            Some(key) => Some(key.twin),
        };
        let twins = match next {
            Some(first) => {
                let mut twins = root.into_iter();
                twins.advance_to(first);
                twins
            }
            None => RoaringBitmap::new().into_iter(),
        };
        let mut levels = vec![Level {
            candidates: Candidates::Bitmap { twins, at: None },
            on_path: path.is_some(),
        }];
        let mut emitted = 0u64;
        let mut ticks = 0u32;
        while !levels.is_empty() {
            ticks = ticks.wrapping_add(1);
            if ticks.is_multiple_of(256) {
                self.check_deadline()?;
            }
            let depth = levels.len() - 1;
            let level = &mut levels[depth];
            let on_path = std::mem::take(&mut level.on_path);
            let Some((twin, rel)) = level.next() else {
                if let Some(Level {
                    candidates: Candidates::List { items, .. },
                    ..
                }) = levels.pop()
                {
                    self.spare.push(items);
                }
                continue;
            };
            self.work.candidates += 1;
            let continues_path = on_path && path.is_some_and(|p| p[depth].is(twin, rel));
            self.bind(depth, twin, rel);
            if !self.accept(depth)? {
                continue;
            }
            if depth == last {
                emitted += 1;
                if let Flow::Stop = emit(self, &levels)? {
                    break;
                }
                continue;
            }
            let step = &self.plan.steps[depth];
            let from = self.row.twins[step.from].as_ref().map(|t| t.num);
            let from = from.ok_or_else(|| Error::Internal("step from an unbound twin".into()))?;
            if count_last && depth + 1 == last && self.plan.filters[last].is_empty() && !step.unique
            {
                let found = traverse::count(self.snap, step, from, &mut self.work.edges);
                self.work.candidates += found;
                emitted += found;
                continue;
            }
            let spare = self.spare.pop().unwrap_or_default();
            let mut items = expand(self.snap, step, from, &mut self.work.edges, spare);
            let mut pos = 0;
            if let (true, Some(path)) = (continues_path, path) {
                let key = &path[depth + 1];
                // Inner levels restart at the cursor's candidate; the last one just after it.
                pos = if depth + 1 == last {
                    items.partition_point(|c| c.key() <= *key)
                } else {
                    items.partition_point(|c| c.key() < *key)
                };
            }
            if pos > 0 {
                items.drain(..pos);
            }
            levels.push(Level {
                candidates: Candidates::List { items, pos: 0 },
                on_path: continues_path,
            });
        }
        Ok(emitted)
    }

    fn check_deadline(&self) -> Result<(), Error> {
        match self.deadline {
            Some(deadline) if Instant::now() > deadline => Err(Error::Timeout(60)),
            _ => Ok(()),
        }
    }

    fn bind(&mut self, depth: usize, twin: u32, rel: Option<&RelRef<'a>>) {
        let var = match depth.checked_sub(1) {
            None => self.plan.root.var,
            Some(step) => {
                self.row.rels[step] = rel.map(|r| RelSlot {
                    source: r.source,
                    id: r.id,
                    doc: None,
                });
                self.plan.steps[step].to
            }
        };
        self.row.twins[var] = Some(TwinSlot {
            num: twin,
            doc: None,
        });
    }

    /// Whether the row bound up to `depth` passes the checks of that level.
    fn accept(&mut self, depth: usize) -> Result<bool, Error> {
        if let Some(step) = depth.checked_sub(1) {
            if self.plan.steps[step].unique && self.reuses_relationship(step) {
                return Ok(false);
            }
        }
        let reads = std::mem::take(&mut self.reads[depth]);
        let loaded = self.load(&reads, false);
        self.reads[depth] = reads;
        if !loaded? {
            return Ok(false);
        }
        for pred in &self.plan.filters[depth] {
            if eval(pred, self.plan, &self.row, &mut self.sets, self.snap)? != Truth::True {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// About how many root documents this run reads: the root set, or for a `TOP` with no
    /// JOIN a few times its limit (most scans of it stop early).
    fn expected_reads(&self) -> u64 {
        match self.plan.limit {
            Some(limit) if self.plan.steps.is_empty() => {
                self.root_size.min(limit.saturating_mul(4))
            }
            _ => self.root_size,
        }
    }

    /// MATCH never binds one relationship to two single-hop edges of the same row.
    fn reuses_relationship(&self, step: usize) -> bool {
        let Some(Some(rel)) = self.row.rels.get(step) else {
            return false;
        };
        (0..step).any(|other| {
            self.plan.steps[other].unique
                && matches!(&self.row.rels[other], Some(r) if r.source == rel.source && r.id == rel.id)
        })
    }

    /// Loads the documents of `vars`, with their text when `with_text` and the output copies
    /// the whole document; false when one no longer exists. Filters load without the text,
    /// so a candidate that fails them costs no copy of its document.
    fn load(&mut self, vars: &[usize], with_text: bool) -> Result<bool, Error> {
        for &var in vars {
            let keep_text = with_text && self.text_vars.get(var).copied().unwrap_or(false);
            let wanted = &self.wanted[var];
            let complete = |doc: &Option<Doc>| match doc {
                Some(doc) => !keep_text || doc.text.is_some(),
                None => false,
            };
            match self.plan.vars.get(var).and_then(|v| v.step) {
                Some(step) => {
                    let Some(slot) = self.row.rels.get_mut(step).and_then(Option::as_mut) else {
                        return Ok(false);
                    };
                    if complete(&slot.doc) {
                        continue;
                    }
                    self.work.documents += u64::from(slot.doc.is_none());
                    match self.snap.relationship_bytes_by_num(slot.source, slot.id)? {
                        Some(bytes) => {
                            fill(&mut slot.doc, DocBytes::Owned(bytes), wanted, keep_text)?
                        }
                        None => return Ok(false),
                    }
                }
                None => {
                    let expected = self.expected_reads();
                    let Some(slot) = self.row.twins.get_mut(var).and_then(Option::as_mut) else {
                        return Ok(false);
                    };
                    if complete(&slot.doc) {
                        continue;
                    }
                    self.work.documents += u64::from(slot.doc.is_none());
                    // A few scalar members (what filters mostly read) come from the twin's
                    // field summary when the field cache holds it: no document read or parse.
                    // One that holds it without answering (a wanted member is an object or
                    // array) is not summarised again: that would give the same summary.
                    let mut summarise = None;
                    if let Wanted::Members(members) = wanted {
                        if !keep_text && !members.is_empty() && slot.doc.is_none() {
                            match self.snap.twin_fields(slot.num) {
                                Some(summary) => {
                                    slot.doc = Doc::from_summary(&summary, members);
                                    if slot.doc.is_some() {
                                        continue;
                                    }
                                }
                                None if self.summarising => summarise = Some(members),
                                None => {}
                            }
                        }
                    }
                    let bytes = if var == self.plan.root.var {
                        let scan = self
                            .root_scan
                            .get_or_insert_with(|| self.snap.twin_scan(expected));
                        scan.get(slot.num)?
                    } else {
                        self.snap.twin_bytes_by_num(slot.num)?
                    };
                    let Some(bytes) = bytes else {
                        return Ok(false);
                    };
                    if let Some(members) = summarise {
                        match self.snap.summarise_twin(slot.num, &bytes) {
                            Some(summary) => {
                                slot.doc = Doc::from_summary(&summary, members);
                                if slot.doc.is_some() {
                                    continue;
                                }
                            }
                            // The cache is off or full: the rest of the run picks members
                            // out of documents (cheaper than summarising them for nothing).
                            None => self.summarising = false,
                        }
                    }
                    fill(&mut slot.doc, bytes, wanted, keep_text)?;
                }
            }
        }
        Ok(true)
    }

    /// Whether `var` is bound at the last level: every row binds it afresh, so nothing reads
    /// its document after the row is made.
    fn rebound_every_row(&self, var: usize) -> bool {
        let plan = self.plan;
        match (plan.vars.get(var).and_then(|v| v.step), plan.steps.last()) {
            (Some(step), _) => step + 1 == plan.steps.len(),
            (None, Some(last)) => last.to == var,
            (None, None) => var == plan.root.var,
        }
    }

    /// The output row for the current bindings (adt-api.md §5.6), as JSON text: whole
    /// documents are copied as stored, never parsed and printed again.
    fn output(&mut self) -> Result<JsonRow, Error> {
        let reads = std::mem::take(&mut self.output_reads);
        let loaded = self.load(&reads, true);
        self.output_reads = reads;
        loaded?;
        let plan = self.plan;
        if let Output::Document(var) = &plan.output {
            if self.rebound_every_row(*var) {
                // Its document is read again for the next row anyway: the row takes its text.
                if self.row.doc(plan, *var).is_none() {
                    return Ok(JsonRow::new("null".into()));
                }
                let text = self.row.take_text(plan, *var).ok_or_else(|| {
                    Error::Internal("an output document was loaded without its text".into())
                })?;
                return Ok(JsonRow::new(text.into_string()));
            }
        }
        let row = &self.row;
        let text = match &plan.output {
            Output::Document(var) => match row.doc(plan, *var) {
                Some(doc) => doc.text()?.as_str().to_string(),
                None => "null".to_string(),
            },
            Output::Items(items) => {
                // Sized up front: rows are mostly whole documents, copied once.
                let size: usize = items
                    .iter()
                    .map(|(name, term)| {
                        name.len()
                            + 4
                            + match term {
                                Term::Prop { var, path } if path.is_empty() => row
                                    .doc(plan, *var)
                                    .and_then(|d| d.text.as_ref())
                                    .map_or(0, |t| t.len()),
                                _ => 16,
                            }
                    })
                    .sum();
                let mut out = String::with_capacity(size + 2);
                out.push('{');
                for ((_, term), key) in items.iter().zip(&self.item_keys) {
                    let start = out.len();
                    if out.len() > 1 {
                        out.push(',');
                    }
                    out.push_str(key);
                    let written = match term {
                        Term::Prop { var, path } if path.is_empty() => match row.doc(plan, *var) {
                            Some(doc) => {
                                out.push_str(doc.text()?.as_str());
                                true
                            }
                            None => false,
                        },
                        term => match row.term(plan, term) {
                            Some(value) => write_json(&mut out, value).map(|()| true)?,
                            None => false,
                        },
                    };
                    // Missing properties are omitted, never null.
                    if !written {
                        out.truncate(start);
                    }
                }
                out.push('}');
                out
            }
            Output::Count => "null".to_string(),
        };
        Ok(JsonRow::new(text))
    }
}

/// Loads `bytes` into `doc`, or adds the text to a document loaded without it.
fn fill(
    doc: &mut Option<Doc>,
    bytes: DocBytes<'_>,
    wanted: &Wanted,
    text: bool,
) -> Result<(), Error> {
    match doc {
        Some(doc) => doc.add_text(bytes)?,
        None => *doc = Some(Doc::load(bytes, wanted, text)?),
    }
    Ok(())
}

fn write_json(out: &mut String, value: &Value) -> Result<(), Error> {
    use std::fmt::Write;
    // `Value`'s Display prints compact JSON straight into the row.
    write!(out, "{value}").map_err(|e| Error::Internal(format!("printing a value: {e}")))
}
