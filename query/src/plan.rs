//! The physical plan: which twins to start from, how to expand along relationships, which
//! predicates to test at each step, and what to output. Its `Display` is the EXPLAIN text.
//!
//! Every query shape is one pipeline: a *root* set of twins (from an id lookup, model bitmaps or
//! a scan), then *steps* that each bind one more twin (and the relationship that led to it), with
//! *filters* placed at the first level where all the variables they read are bound.

use std::fmt;

use serde_json::Value;

use crate::ast::{CompareOp, StringTest, TypeCheck};
use crate::check::VarKind;

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub vars: Vec<PlanVar>,
    pub root: Root,
    /// Expansions in execution order; step `i` binds level `i + 1`.
    pub steps: Vec<Step>,
    /// `filters[level]` is tested once level `level` is bound (level 0: the root).
    pub filters: Vec<Vec<Pred>>,
    pub output: Output,
    /// `TOP(n)`: execution stops after `n` rows.
    pub limit: Option<u64>,
}

/// A variable of the plan. Relationship variables name the step that binds them.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanVar {
    /// The alias; `None` for unnamed MATCH nodes and the twins at the ends of
    /// `FROM RELATIONSHIPS` relationships, which the query cannot name.
    pub name: Option<String>,
    pub kind: VarKind,
    /// For relationship variables, the step that binds them.
    pub step: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Root {
    pub var: usize,
    pub twins: TwinSet,
}

/// A set of twins computed from indexes alone, without reading documents.
#[derive(Debug, Clone, PartialEq)]
pub enum TwinSet {
    All,
    /// Point lookups by `$dtId`.
    Ids(Vec<String>),
    /// `IS_OF_MODEL`: the model bitmap (with descendants and higher versions unless `exact`).
    Model {
        model: String,
        exact: bool,
    },
    And(Vec<TwinSet>),
    Or(Vec<TwinSet>),
    /// All twins except these.
    Not(Box<TwinSet>),
}

/// Binds `to` (and the step's relationship) from the already bound twin `from`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub from: usize,
    pub to: usize,
    /// The relationship variable bound by this step, if the query names it.
    pub relationship: Option<usize>,
    /// Relationship names to follow; empty means any.
    pub names: Vec<String>,
    /// Which way to follow relationships, seen from `from`.
    pub direction: Direction,
    pub hops: Hops,
    /// MATCH semantics: the relationship of this single-hop step differs from those of the
    /// other unique steps of the row (so a pattern never reuses a relationship).
    pub unique: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From source to target.
    Out,
    /// From target to source.
    In,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hops {
    /// One relationship: a row per relationship, which the step binds.
    One,
    /// Variable length: a row per twin whose shortest distance from `from` (along the allowed
    /// names and direction) is within `min..=max`. Distance 0 is `from` itself.
    Range { min: u32, max: u32 },
}

/// A predicate over bound variables, with paths already resolved to variables.
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
    Compare {
        left: Term,
        op: CompareOp,
        right: Term,
    },
    In {
        term: Term,
        negated: bool,
        list: Vec<Value>,
    },
    /// Membership of a twin variable in an index-computed set (IS_OF_MODEL, `$dtId` tests).
    InSet {
        var: usize,
        set: TwinSet,
    },
    TypeCheck {
        check: TypeCheck,
        term: Term,
    },
    StringTest {
        test: StringTest,
        term: Term,
        pattern: Term,
    },
    ArrayContains {
        array: Term,
        value: Term,
    },
}

/// A value in a row: a property path of a variable's document, or a constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `path` empty: the whole document.
    Prop {
        var: usize,
        path: Vec<String>,
    },
    Const(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// `SELECT *`: the variable's document itself.
    Document(usize),
    /// `SELECT a, b.c AS d`: an object keyed by output name; undefined values are omitted.
    Items(Vec<(String, Term)>),
    Count,
}

impl Plan {
    /// `COUNT()` answered from the root set's cardinality: no steps and nothing left to test.
    pub fn counts_from_index(&self) -> bool {
        self.output == Output::Count
            && self.steps.is_empty()
            && self.filters.iter().all(Vec::is_empty)
            && self.vars[self.root.var].kind == VarKind::Twin
    }

    /// The variables whose documents `pred` reads.
    pub fn documents_read(pred: &Pred, out: &mut Vec<usize>) {
        let mut term = |t: &Term| {
            if let Term::Prop { var, .. } = t {
                if !out.contains(var) {
                    out.push(*var);
                }
            }
        };
        match pred {
            Pred::And(items) | Pred::Or(items) => {
                items.iter().for_each(|p| Plan::documents_read(p, out));
            }
            Pred::Not(inner) => Plan::documents_read(inner, out),
            Pred::Compare { left, right, .. } => {
                term(left);
                term(right);
            }
            Pred::In { term: t, .. } | Pred::TypeCheck { term: t, .. } => term(t),
            Pred::InSet { .. } => {}
            Pred::StringTest {
                term: t, pattern, ..
            } => {
                term(t);
                term(pattern);
            }
            Pred::ArrayContains { array, value } => {
                term(array);
                term(value);
            }
        }
    }

    fn var_name(&self, var: usize) -> String {
        match self.vars.get(var).and_then(|v| v.name.clone()) {
            Some(name) => name,
            None => format!("_{var}"),
        }
    }
}

// ---------------------------------------------------------------- EXPLAIN text

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut depth = 0;
        let mut line = |f: &mut fmt::Formatter<'_>, text: String| -> fmt::Result {
            writeln!(f, "{:indent$}{text}", "", indent = depth * 2)?;
            depth += 1;
            Ok(())
        };
        if let Some(n) = self.limit {
            line(f, format!("Limit: {n}"))?;
        }
        match &self.output {
            Output::Count if self.counts_from_index() => {
                return line(
                    f,
                    format!("CountIndex: {}", self.show_set(&self.root.twins)),
                );
            }
            Output::Count => line(f, "Count".to_string())?,
            Output::Document(var) => line(f, format!("Document: {}", self.var_name(*var)))?,
            Output::Items(items) => {
                let shown: Vec<String> = items
                    .iter()
                    .map(|(name, term)| format!("{} AS {name}", self.show_term(term)))
                    .collect();
                line(f, format!("Project: {}", shown.join(", ")))?;
            }
        }
        for level in (0..=self.steps.len()).rev() {
            if let Some(filters) = self.filters.get(level).filter(|f| !f.is_empty()) {
                let shown: Vec<String> = filters.iter().map(|p| self.show_pred(p)).collect();
                line(f, format!("Filter: {}", shown.join(" AND ")))?;
            }
            match level.checked_sub(1).and_then(|i| self.steps.get(i)) {
                Some(step) => line(f, self.show_step(step))?,
                None => {
                    let access = match &self.root.twins {
                        TwinSet::All => "Scan".to_string(),
                        TwinSet::Ids(_) => "IdLookup".to_string(),
                        _ => "IndexScan".to_string(),
                    };
                    let set = self.show_set(&self.root.twins);
                    line(
                        f,
                        format!("{access}: {} IN {set}", self.var_name(self.root.var)),
                    )?;
                }
            }
        }
        Ok(())
    }
}

impl Plan {
    fn show_step(&self, step: &Step) -> String {
        let rel = step
            .relationship
            .map(|r| self.var_name(r))
            .unwrap_or_default();
        let names = if step.names.is_empty() {
            String::new()
        } else {
            format!(":{}", step.names.join("|"))
        };
        let hops = match step.hops {
            Hops::One => String::new(),
            Hops::Range { min, max } => format!(" hops {min}..={max} (shortest distance)"),
        };
        let (left, right) = match step.direction {
            Direction::Out => ("-", "->"),
            Direction::In => ("<-", "-"),
            Direction::Both => ("-", "-"),
        };
        let unique = if step.unique {
            " distinct relationships"
        } else {
            ""
        };
        format!(
            "Expand: ({}){left}[{rel}{names}]{right}({}){hops}{unique}",
            self.var_name(step.from),
            self.var_name(step.to)
        )
    }

    fn show_set(&self, set: &TwinSet) -> String {
        match set {
            TwinSet::All => "all twins".to_string(),
            TwinSet::Ids(ids) => format!(
                "ids {}",
                json_list(ids.iter().map(|s| Value::String(s.clone())))
            ),
            TwinSet::Model {
                model,
                exact: false,
            } => format!("model '{model}'"),
            TwinSet::Model { model, exact: true } => format!("exact model '{model}'"),
            TwinSet::And(items) => self.show_sets(items, " AND "),
            TwinSet::Or(items) => self.show_sets(items, " OR "),
            TwinSet::Not(inner) => format!("NOT {}", self.show_set(inner)),
        }
    }

    fn show_sets(&self, items: &[TwinSet], op: &str) -> String {
        let shown: Vec<String> = items.iter().map(|s| self.show_set(s)).collect();
        format!("({})", shown.join(op))
    }

    fn show_term(&self, term: &Term) -> String {
        match term {
            Term::Const(v) => v.to_string(),
            Term::Prop { var, path } if path.is_empty() => self.var_name(*var),
            Term::Prop { var, path } => format!("{}.{}", self.var_name(*var), path.join(".")),
        }
    }

    fn show_pred(&self, pred: &Pred) -> String {
        match pred {
            Pred::And(items) => self.show_preds(items, " AND "),
            Pred::Or(items) => self.show_preds(items, " OR "),
            Pred::Not(inner) => format!("NOT {}", self.show_pred(inner)),
            Pred::Compare { left, op, right } => {
                format!("{} {op} {}", self.show_term(left), self.show_term(right))
            }
            Pred::In {
                term,
                negated,
                list,
            } => format!(
                "{} {} {}",
                self.show_term(term),
                if *negated { "NIN" } else { "IN" },
                json_list(list.iter().cloned())
            ),
            Pred::InSet { var, set } => {
                format!("{} IN {}", self.var_name(*var), self.show_set(set))
            }
            Pred::TypeCheck { check, term } => {
                format!("{}({})", check.name(), self.show_term(term))
            }
            Pred::StringTest {
                test,
                term,
                pattern,
            } => {
                format!(
                    "{}({}, {})",
                    test.name(),
                    self.show_term(term),
                    self.show_term(pattern)
                )
            }
            Pred::ArrayContains { array, value } => {
                format!(
                    "ARRAY_CONTAINS({}, {})",
                    self.show_term(array),
                    self.show_term(value)
                )
            }
        }
    }

    fn show_preds(&self, items: &[Pred], op: &str) -> String {
        let shown: Vec<String> = items.iter().map(|p| self.show_pred(p)).collect();
        format!("({})", shown.join(op))
    }
}

fn json_list(items: impl Iterator<Item = Value>) -> String {
    Value::Array(items.collect()).to_string()
}
