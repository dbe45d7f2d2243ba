//! The physical plan: which twins to start from, how to expand along relationships, which
//! predicates to test at each step, and what to output. Its `Display` is the EXPLAIN text.
//!
//! Every query shape is one pipeline: a *root* set of twins (from an id lookup, model bitmaps or
//! a scan), then *steps* that each bind one more twin (and the relationship that led to it), with
//! *filters* placed at the first level where all the variables they read are bound.

use std::fmt;

use serde_json::{json, Value};

use crate::ast::{self, CompareOp, LiteralValue, Member, Quoted, StringTest, TypeCheck};
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
        Plan::properties_read(pred, &mut |var, _| {
            if !out.contains(&var) {
                out.push(var);
            }
        });
    }

    /// Calls `f` with the variable and path of every property `pred` reads.
    pub fn properties_read(pred: &Pred, f: &mut impl FnMut(usize, &[String])) {
        let mut term = |t: &Term| {
            if let Term::Prop { var, path } = t {
                f(*var, path);
            }
        };
        match pred {
            Pred::And(items) | Pred::Or(items) => {
                items.iter().for_each(|p| Plan::properties_read(p, f));
            }
            Pred::Not(inner) => Plan::properties_read(inner, f),
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

// ---------------------------------------------------------------- EXPLAIN: text and JSON

/// One operator of the EXPLAIN output (outermost first): its text line and its JSON form, built
/// together so that the two forms always describe the same plan.
struct Operator {
    text: String,
    json: Value,
}

impl Plan {
    /// EXPLAIN's structured form: the operators, outermost first, each an object with an
    /// `operator` name and its details; predicates and terms are in query syntax.
    pub fn to_json(&self) -> Value {
        Value::Array(self.operators().into_iter().map(|o| o.json).collect())
    }

    fn operators(&self) -> Vec<Operator> {
        let mut ops = Vec::new();
        if let Some(n) = self.limit {
            ops.push(Operator {
                text: format!("Limit: {n}"),
                json: json!({"operator": "Limit", "count": n}),
            });
        }
        match &self.output {
            Output::Count if self.counts_from_index() => {
                ops.push(Operator {
                    text: format!("CountIndex: {}", self.show(&self.root.twins)),
                    json: json!({"operator": "CountIndex", "twins": self.set_json(&self.root.twins)}),
                });
                return ops;
            }
            Output::Count => ops.push(Operator {
                text: "Count".into(),
                json: json!({"operator": "Count"}),
            }),
            Output::Document(var) => ops.push(Operator {
                text: format!("Document: {}", self.var_name(*var)),
                json: json!({"operator": "Document", "variable": self.var_name(*var)}),
            }),
            Output::Items(items) => {
                let shown: Vec<String> = items
                    .iter()
                    .map(|(name, term)| format!("{} AS {name}", self.show(term)))
                    .collect();
                let json_items: Vec<Value> = items
                    .iter()
                    .map(|(name, term)| json!({"name": name, "value": self.show(term).to_string()}))
                    .collect();
                ops.push(Operator {
                    text: format!("Project: {}", shown.join(", ")),
                    json: json!({"operator": "Project", "items": json_items}),
                });
            }
        }
        for level in (0..=self.steps.len()).rev() {
            if let Some(filters) = self.filters.get(level).filter(|f| !f.is_empty()) {
                let shown: Vec<String> = filters.iter().map(|p| self.show(p).to_string()).collect();
                ops.push(Operator {
                    text: format!("Filter: {}", shown.join(" AND ")),
                    json: json!({"operator": "Filter", "predicates": shown}),
                });
            }
            match level.checked_sub(1).and_then(|i| self.steps.get(i)) {
                Some(step) => ops.push(self.expand(step)),
                None => {
                    let access = match &self.root.twins {
                        TwinSet::All => "Scan",
                        TwinSet::Ids(_) => "IdLookup",
                        _ => "IndexScan",
                    };
                    let var = self.var_name(self.root.var);
                    ops.push(Operator {
                        text: format!("{access}: {var} IN {}", self.show(&self.root.twins)),
                        json: json!({
                            "operator": access,
                            "variable": var,
                            "twins": self.set_json(&self.root.twins),
                        }),
                    });
                }
            }
        }
        ops
    }

    fn expand(&self, step: &Step) -> Operator {
        let (from, to) = (self.var_name(step.from), self.var_name(step.to));
        let rel = step.relationship.map(|r| self.var_name(r));
        let direction = match step.direction {
            Direction::Out => ast::Direction::Right,
            Direction::In => ast::Direction::Left,
            Direction::Both => ast::Direction::Either,
        };
        let names: Vec<Member<'_>> = step.names.iter().map(|n| Member(n)).collect();
        let edge = Show(|f: &mut fmt::Formatter<'_>| {
            ast::write_edge(f, direction, &|f: &mut fmt::Formatter<'_>| {
                f.write_str(rel.as_deref().unwrap_or_default())?;
                ast::write_names(f, &names)
            })
        });
        let (hops, hops_json) = match step.hops {
            Hops::One => (String::new(), Value::Null),
            Hops::Range { min, max } => (
                format!(" hops {min}..={max} (shortest distance)"),
                json!({"min": min, "max": max}),
            ),
        };
        let unique = if step.unique {
            " distinct relationships"
        } else {
            ""
        };
        Operator {
            text: format!("Expand: ({from}){edge}({to}){hops}{unique}"),
            json: json!({
                "operator": "Expand",
                "from": from,
                "to": to,
                "relationship": rel,
                "names": step.names,
                "direction": match step.direction {
                    Direction::Out => "out",
                    Direction::In => "in",
                    Direction::Both => "both",
                },
                "hops": hops_json,
                "distinctRelationships": step.unique,
            }),
        }
    }

    fn set_json(&self, set: &TwinSet) -> Value {
        match set {
            TwinSet::All => json!("all"),
            TwinSet::Ids(ids) => json!({ "ids": ids }),
            TwinSet::Model { model, exact } => json!({"model": model, "exact": exact}),
            TwinSet::And(items) => {
                json!({"and": items.iter().map(|s| self.set_json(s)).collect::<Vec<_>>()})
            }
            TwinSet::Or(items) => {
                json!({"or": items.iter().map(|s| self.set_json(s)).collect::<Vec<_>>()})
            }
            TwinSet::Not(inner) => json!({"not": self.set_json(inner)}),
        }
    }

    /// `item` as EXPLAIN text, with variables named by this plan.
    fn show<'p, T>(&'p self, item: &'p T) -> Shown<'p, T> {
        Shown { plan: self, item }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (depth, op) in self.operators().iter().enumerate() {
            writeln!(f, "{:indent$}{}", "", op.text, indent = depth * 2)?;
        }
        Ok(())
    }
}

/// A plan node shown in query syntax.
struct Shown<'p, T> {
    plan: &'p Plan,
    item: &'p T,
}

/// A closure as a `Display` value.
struct Show<F>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Show<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

impl fmt::Display for Shown<'_, TwinSet> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = self.plan;
        match self.item {
            TwinSet::All => f.write_str("all twins"),
            TwinSet::Ids(ids) => {
                let quoted: Vec<Quoted<'_>> = ids.iter().map(|id| Quoted(id)).collect();
                f.write_str("ids [")?;
                ast::comma_separated(f, &quoted)?;
                f.write_str("]")
            }
            TwinSet::Model { model, exact } => {
                let exact = if *exact { "exact " } else { "" };
                write!(f, "{exact}model {}", Quoted(model))
            }
            TwinSet::And(items) => write_joined(f, items.iter().map(|s| plan.show(s)), " AND "),
            TwinSet::Or(items) => write_joined(f, items.iter().map(|s| plan.show(s)), " OR "),
            TwinSet::Not(inner) => write!(f, "NOT {}", plan.show(&**inner)),
        }
    }
}

impl fmt::Display for Shown<'_, Term> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.item {
            Term::Const(v) => write!(f, "{}", LiteralValue(v)),
            Term::Prop { var, path } => {
                f.write_str(&self.plan.var_name(*var))?;
                for segment in path {
                    write!(f, ".{}", Member(segment))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Shown<'_, Pred> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = self.plan;
        match self.item {
            Pred::And(items) => write_joined(f, items.iter().map(|p| plan.show(p)), " AND "),
            Pred::Or(items) => write_joined(f, items.iter().map(|p| plan.show(p)), " OR "),
            Pred::Not(inner) => write!(f, "NOT {}", plan.show(&**inner)),
            Pred::Compare { left, op, right } => {
                write!(f, "{} {op} {}", plan.show(left), plan.show(right))
            }
            Pred::In {
                term,
                negated,
                list,
            } => {
                let list: Vec<LiteralValue<'_>> = list.iter().map(LiteralValue).collect();
                ast::write_in(f, &plan.show(term), *negated, &list)
            }
            Pred::InSet { var, set } => write!(f, "{} IN {}", plan.var_name(*var), plan.show(set)),
            Pred::TypeCheck { check, term } => {
                ast::write_call(f, check.name(), &[&plan.show(term)])
            }
            Pred::StringTest {
                test,
                term,
                pattern,
            } => ast::write_call(f, test.name(), &[&plan.show(term), &plan.show(pattern)]),
            Pred::ArrayContains { array, value } => ast::write_call(
                f,
                ast::ARRAY_CONTAINS,
                &[&plan.show(array), &plan.show(value)],
            ),
        }
    }
}

/// `(a OP b OP c)`: the plan keeps every And/Or node parenthesised, which is always unambiguous.
fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = T>,
    op: &str,
) -> fmt::Result {
    f.write_str("(")?;
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str(op)?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(")")
}
