//! Evaluates plan predicates and terms against a row of bound twins and relationships.
//! Documents are loaded by the executor before evaluation; here everything is in memory.

use std::sync::Arc;

use roaring::RoaringBitmap;
use serde_json::Value;
use twingraph_engine::Snapshot;

use super::doc::Doc;
use super::functions::{self, Truth};
use crate::error::Error;
use crate::plan::{Plan, Pred, Term, TwinSet};

/// A twin bound to a variable; `doc` is loaded on demand.
#[derive(Debug, Clone)]
pub(crate) struct TwinSlot {
    pub num: u32,
    pub doc: Option<Doc>,
}

/// A relationship bound by a single-hop step; `doc` is loaded on demand.
#[derive(Debug, Clone)]
pub(crate) struct RelSlot<'g> {
    pub source: u32,
    pub id: &'g Arc<str>,
    pub doc: Option<Doc>,
}

/// The bindings of one (partial) row: twins by variable, relationships by step.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row<'g> {
    pub twins: Vec<Option<TwinSlot>>,
    pub rels: Vec<Option<RelSlot<'g>>>,
}

impl Row<'_> {
    /// The document bound to `var`, if bound and loaded.
    /// Takes the text of `var`'s document out of the row (the document stays, without it).
    pub(crate) fn take_text(&mut self, plan: &Plan, var: usize) -> Option<super::doc::Text> {
        let doc = match plan.vars.get(var)?.step {
            Some(step) => self.rels.get_mut(step)?.as_mut()?.doc.as_mut()?,
            None => self.twins.get_mut(var)?.as_mut()?.doc.as_mut()?,
        };
        doc.text.take()
    }

    pub(crate) fn doc(&self, plan: &Plan, var: usize) -> Option<&Doc> {
        match plan.vars.get(var)?.step {
            Some(step) => self.rels.get(step)?.as_ref()?.doc.as_ref(),
            None => self.twins.get(var)?.as_ref()?.doc.as_ref(),
        }
    }

    /// The value of `term`; a property is read from the members its document was loaded with
    /// (`Executor::new` loads every member a term of the query reads).
    pub(crate) fn term<'r>(&'r self, plan: &Plan, term: &'r Term) -> Option<&'r Value> {
        match term {
            Term::Const(v) => Some(v),
            Term::Prop { var, path } => functions::lookup(&self.doc(plan, *var)?.fields, path),
        }
    }
}

/// Twin sets computed once per execution, found again by the address of their plan node.
#[derive(Default)]
pub(crate) struct Sets {
    computed: Vec<(*const TwinSet, RoaringBitmap)>,
}

impl Sets {
    pub(crate) fn get(
        &mut self,
        snap: &Snapshot<'_>,
        set: &TwinSet,
    ) -> Result<&RoaringBitmap, Error> {
        let key: *const TwinSet = set;
        let index = match self.computed.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let bitmap = twin_set(snap, set)?;
                self.computed.push((key, bitmap));
                self.computed.len() - 1
            }
        };
        Ok(&self.computed[index].1)
    }
}

/// Evaluates a twin set from the id table and the model index.
pub(crate) fn twin_set(snap: &Snapshot<'_>, set: &TwinSet) -> Result<RoaringBitmap, Error> {
    Ok(match set {
        TwinSet::All => snap.all_twins().clone(),
        TwinSet::Ids(ids) => {
            let mut bitmap = RoaringBitmap::new();
            for id in ids {
                if let Some(num) = snap.twin_num(id)? {
                    bitmap.insert(num);
                }
            }
            bitmap
        }
        TwinSet::Model { model, exact } => snap.model_twins(model, *exact),
        TwinSet::And(items) => {
            let mut iter = items.iter();
            let mut acc = match iter.next() {
                Some(first) => twin_set(snap, first)?,
                None => snap.all_twins().clone(),
            };
            for item in iter {
                acc &= twin_set(snap, item)?;
            }
            acc
        }
        TwinSet::Or(items) => {
            let mut acc = RoaringBitmap::new();
            for item in items {
                acc |= twin_set(snap, item)?;
            }
            acc
        }
        TwinSet::Not(inner) => snap.all_twins() - twin_set(snap, inner)?,
    })
}

/// Evaluates `pred` on `row`; the documents it reads must already be loaded.
pub(crate) fn eval(
    pred: &Pred,
    plan: &Plan,
    row: &Row<'_>,
    sets: &mut Sets,
    snap: &Snapshot<'_>,
) -> Result<Truth, Error> {
    Ok(match pred {
        Pred::And(items) => {
            let mut result = Truth::True;
            for item in items {
                match eval(item, plan, row, sets, snap)? {
                    Truth::False => return Ok(Truth::False),
                    Truth::Unknown => result = Truth::Unknown,
                    Truth::True => {}
                }
            }
            result
        }
        Pred::Or(items) => {
            let mut result = Truth::False;
            for item in items {
                match eval(item, plan, row, sets, snap)? {
                    Truth::True => return Ok(Truth::True),
                    Truth::Unknown => result = Truth::Unknown,
                    Truth::False => {}
                }
            }
            result
        }
        Pred::Not(inner) => eval(inner, plan, row, sets, snap)?.not(),
        Pred::Compare { left, op, right } => {
            functions::compare(row.term(plan, left), *op, row.term(plan, right))
        }
        Pred::In {
            term,
            negated,
            list,
        } => functions::in_list(row.term(plan, term), list, *negated),
        Pred::InSet { var, set } => match row.twins.get(*var).and_then(Option::as_ref) {
            Some(slot) => Truth::of(sets.get(snap, set)?.contains(slot.num)),
            None => Truth::Unknown,
        },
        Pred::TypeCheck { check, term } => functions::type_check(*check, row.term(plan, term)),
        Pred::StringTest {
            test,
            term,
            pattern,
        } => functions::string_test(*test, row.term(plan, term), row.term(plan, pattern)),
        Pred::ArrayContains { array, value } => {
            functions::array_contains(row.term(plan, array), row.term(plan, value))
        }
    })
}
