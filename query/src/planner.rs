//! Checked syntax tree → plan. Rule-based: resolve paths to variables, turn index-answerable
//! conjuncts (`$dtId` tests, IS_OF_MODEL) into twin sets, start from the most selective anchored
//! twin, orient JOIN and MATCH edges away from it, and test each remaining conjunct at the first
//! level where its variables are bound.

use serde_json::Value;

use crate::ast::{self, CompareOp, ExprKind, Literal, Operand};
use crate::check::{Origin, Scope, VarKind};
use crate::error::Error;
use crate::plan::*;

/// How to read MATCH hop ranges (adt-api.md §5.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HopRules {
    /// `false` (ADT's documented reading): in `*n..m` the lower bound is exclusive, so `*1..3`
    /// is 2 or 3 hops. `true`: Cypher's reading, `*1..3` is 1, 2 or 3 hops.
    pub cypher: bool,
}

/// One relationship pattern between two twin variables, as written (`a` on the left).
struct Link {
    a: usize,
    b: usize,
    relationship: Option<usize>,
    names: Vec<String>,
    /// Seen from `a`.
    direction: Direction,
    hops: Hops,
    unique: bool,
}

pub(crate) fn plan(query: &ast::Query, scope: &Scope, rules: HopRules) -> Result<Plan, Error> {
    let mut vars: Vec<PlanVar> = scope
        .vars
        .iter()
        .map(|v| PlanVar {
            name: v.name.clone(),
            kind: v.kind,
            step: None,
        })
        .collect();
    let mut links = Vec::new();
    // Written (source, target) twin variables of each relationship variable, where known, so
    // that `R.$sourceId` can be read as `source.$dtId` and answered from indexes.
    let mut ends: Vec<Option<(usize, usize)>> = vec![None; vars.len()];

    match (&query.from.pattern, query.from.collection) {
        (_, ast::Collection::Relationships) => {
            // FROM RELATIONSHIPS R: a twin-to-twin step between two unnamed ends.
            let source = push_hidden_twin(&mut vars);
            let target = push_hidden_twin(&mut vars);
            ends[0] = Some((source, target));
            links.push(Link {
                a: source,
                b: target,
                relationship: Some(0),
                names: Vec::new(),
                direction: Direction::Out,
                hops: Hops::One,
                unique: false,
            });
        }
        (Some(pattern), _) => {
            for (i, step) in pattern.steps.iter().enumerate() {
                let a = var_at(scope, Origin::MatchNode(i))?;
                let b = var_at(scope, Origin::MatchNode(i + 1))?;
                let relationship = scope.var_at(Origin::MatchEdge(i));
                let direction = match step.edge.direction {
                    ast::Direction::Right => Direction::Out,
                    ast::Direction::Left => Direction::In,
                    ast::Direction::Either => Direction::Both,
                };
                if let Some(r) = relationship {
                    ends[r] = match direction {
                        Direction::Out => Some((a, b)),
                        Direction::In => Some((b, a)),
                        Direction::Both => None,
                    };
                }
                let hops = hops(step.edge.hops, rules);
                let names = step.edge.names.iter().map(|n| n.name.clone()).collect();
                links.push(Link {
                    a,
                    b,
                    relationship,
                    names,
                    direction,
                    hops,
                    unique: hops == Hops::One,
                });
            }
        }
        (None, _) => {
            for (i, join) in query.from.joins.iter().enumerate() {
                let a = scope
                    .lookup(&join.source.text)
                    .ok_or_else(|| internal("JOIN source"))?;
                let b = var_at(scope, Origin::JoinTarget(i))?;
                let relationship = scope.var_at(Origin::JoinRelationship(i));
                if let Some(r) = relationship {
                    ends[r] = Some((a, b));
                }
                links.push(Link {
                    a,
                    b,
                    relationship,
                    names: vec![join.relationship.name.clone()],
                    direction: Direction::Out,
                    hops: Hops::One,
                    unique: false,
                });
            }
        }
    }

    let resolver = Resolver { scope, ends: &ends };
    let mut conjuncts = Vec::new();
    if let Some(filter) = &query.filter {
        for expr in flatten_and(filter) {
            conjuncts.push(resolver.pred(expr)?);
        }
    }
    let is_twin = |v: usize| vars.get(v).is_some_and(|v| v.kind == VarKind::Twin);
    let conjuncts: Vec<Pred> = conjuncts
        .into_iter()
        .map(|p| index_form(p, &is_twin))
        .collect();

    // FROM RELATIONSHIPS: `$relationshipName` tests narrow the step's names.
    if query.from.collection == ast::Collection::Relationships {
        if let Some(names) = conjuncts.iter().find_map(|p| relationship_names(p, 0)) {
            if let Some(link) = links.first_mut() {
                link.names = names;
            }
        }
    }

    let root = choose_root(&vars, &links, &conjuncts);
    let (steps, level_of) = orient(root, &links, &mut vars)?;

    let mut root_sets = Vec::new();
    let mut filters: Vec<Vec<Pred>> = vec![Vec::new(); steps.len() + 1];
    for pred in conjuncts {
        match pred {
            Pred::InSet { var, set } if var == root => root_sets.push(set),
            pred => {
                let mut read = Vec::new();
                Plan::documents_read(&pred, &mut read);
                if let Pred::InSet { var, .. } = &pred {
                    read.push(*var);
                }
                collect_set_vars(&pred, &mut read);
                let level = read.iter().map(|v| level_of[*v]).max().unwrap_or(0);
                filters[level].push(pred);
            }
        }
    }
    let twins = match root_sets.len() {
        0 => TwinSet::All,
        1 => root_sets.pop().unwrap_or(TwinSet::All),
        _ => TwinSet::And(root_sets),
    };

    let output = match &query.select.list {
        ast::SelectList::Star(_) => Output::Document(0),
        ast::SelectList::Count(_) => Output::Count,
        ast::SelectList::Items(items) => {
            let mut out = Vec::new();
            for item in items {
                let name = crate::check::output_name(item).to_string();
                out.push((name, resolver.term_of_path(&item.path)?));
            }
            Output::Items(out)
        }
    };
    Ok(Plan {
        vars,
        root: Root { var: root, twins },
        steps,
        filters,
        output,
        limit: query.select.top.as_ref().map(|t| t.count),
    })
}

fn internal(what: &str) -> Error {
    Error::Internal(format!("planner: {what} missing from the checked scope"))
}

fn var_at(scope: &Scope, origin: Origin) -> Result<usize, Error> {
    scope
        .var_at(origin)
        .ok_or_else(|| internal("pattern variable"))
}

fn push_hidden_twin(vars: &mut Vec<PlanVar>) -> usize {
    vars.push(PlanVar {
        name: None,
        kind: VarKind::Twin,
        step: None,
    });
    vars.len() - 1
}

/// The hop range of a MATCH edge under the chosen reading.
fn hops(written: Option<ast::Hops>, rules: HopRules) -> Hops {
    let (min, max) = match written {
        None => (1, 1),
        Some(ast::Hops::Exact(n)) => (n, n),
        Some(ast::Hops::Range { min: None, max }) => (1, max),
        Some(ast::Hops::Range {
            min: Some(min),
            max,
        }) if rules.cypher => (min, max),
        Some(ast::Hops::Range {
            min: Some(min),
            max,
        }) => (min + 1, max),
    };
    if (min, max) == (1, 1) {
        Hops::One
    } else {
        Hops::Range { min, max }
    }
}

fn flatten_and(expr: &ast::Expr) -> Vec<&ast::Expr> {
    match &expr.kind {
        ExprKind::And(items) => items.iter().flat_map(flatten_and).collect(),
        _ => vec![expr],
    }
}

/// Picks the root: the anchored twin variable with the fewest pinned ids, else the first
/// variable (a single collection, or the source end of FROM RELATIONSHIPS).
fn choose_root(vars: &[PlanVar], links: &[Link], conjuncts: &[Pred]) -> usize {
    let mut best: Option<(usize, usize)> = None;
    for pred in conjuncts {
        if let Pred::InSet {
            var,
            set: TwinSet::Ids(ids),
        } = pred
        {
            if best.is_none_or(|(_, n)| ids.len() < n) {
                best = Some((*var, ids.len()));
            }
        }
    }
    match best {
        Some((var, _)) => var,
        None => links.first().map_or_else(|| first_twin(vars), |l| l.a),
    }
}

fn first_twin(vars: &[PlanVar]) -> usize {
    vars.iter()
        .position(|v| v.kind == VarKind::Twin)
        .unwrap_or(0)
}

/// Orders the links as steps away from `root` and returns the binding level of each variable.
fn orient(
    root: usize,
    links: &[Link],
    vars: &mut [PlanVar],
) -> Result<(Vec<Step>, Vec<usize>), Error> {
    let mut level_of = vec![usize::MAX; vars.len()];
    level_of[root] = 0;
    let mut steps = Vec::new();
    let mut used = vec![false; links.len()];
    while steps.len() < links.len() {
        let next = (0..links.len()).find(|&i| {
            !used[i] && (level_of[links[i].a] != usize::MAX) != (level_of[links[i].b] != usize::MAX)
        });
        let Some(i) = next else {
            return Err(Error::Internal(
                "planner: the pattern is not connected".into(),
            ));
        };
        used[i] = true;
        let link = &links[i];
        let forward = level_of[link.a] != usize::MAX;
        let (from, to) = if forward {
            (link.a, link.b)
        } else {
            (link.b, link.a)
        };
        let direction = match (link.direction, forward) {
            (d, true) | (d @ Direction::Both, _) => d,
            (Direction::Out, false) => Direction::In,
            (Direction::In, false) => Direction::Out,
        };
        let level = steps.len() + 1;
        level_of[to] = level;
        if let Some(r) = link.relationship {
            level_of[r] = level;
            vars[r].step = Some(steps.len());
        }
        steps.push(Step {
            from,
            to,
            relationship: link.relationship,
            names: link.names.clone(),
            direction,
            hops: link.hops,
            unique: link.unique,
        });
    }
    // Variables no step binds (none in a checked query) are read at the root.
    for level in &mut level_of {
        if *level == usize::MAX {
            *level = 0;
        }
    }
    Ok((steps, level_of))
}

fn collect_set_vars(pred: &Pred, out: &mut Vec<usize>) {
    match pred {
        Pred::InSet { var, .. } => out.push(*var),
        Pred::And(items) | Pred::Or(items) => items.iter().for_each(|p| collect_set_vars(p, out)),
        Pred::Not(inner) => collect_set_vars(inner, out),
        _ => {}
    }
}

/// `R.$relationshipName = 'x'` or `IN [...]` on relationship variable `var`: the names.
fn relationship_names(pred: &Pred, var: usize) -> Option<Vec<String>> {
    let is_name = |t: &Term| matches!(t, Term::Prop { var: v, path } if *v == var && path.len() == 1 && path[0] == "$relationshipName");
    let strings = |values: &[Value]| -> Option<Vec<String>> {
        values
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    match pred {
        Pred::Compare {
            left,
            op: CompareOp::Eq,
            right: Term::Const(v),
        } if is_name(left) => strings(std::slice::from_ref(v)),
        Pred::Compare {
            left: Term::Const(v),
            op: CompareOp::Eq,
            right,
        } if is_name(right) => strings(std::slice::from_ref(v)),
        Pred::In {
            term,
            negated: false,
            list,
        } if is_name(term) => strings(list),
        _ => None,
    }
}

/// Rewrites a predicate that only tests one twin variable's `$dtId` or model into `InSet`, so
/// that it is answered from indexes. Both tests are two-valued (`$dtId` is always a string), so
/// NOT and OR over them stay exact.
fn index_form(pred: Pred, is_twin: &dyn Fn(usize) -> bool) -> Pred {
    match twin_set(&pred, is_twin) {
        Some((var, set)) => Pred::InSet { var, set },
        None => pred,
    }
}

fn twin_set(pred: &Pred, is_twin: &dyn Fn(usize) -> bool) -> Option<(usize, TwinSet)> {
    let id_var = |t: &Term| match t {
        Term::Prop { var, path } if path.len() == 1 && path[0] == "$dtId" && is_twin(*var) => {
            Some(*var)
        }
        _ => None,
    };
    match pred {
        Pred::InSet { var, set } => Some((*var, set.clone())),
        Pred::Compare { left, op, right } => {
            let (var, value) = match (left, right) {
                (t, Term::Const(Value::String(s))) | (Term::Const(Value::String(s)), t) => {
                    (id_var(t)?, s.clone())
                }
                _ => return None,
            };
            match op {
                CompareOp::Eq => Some((var, TwinSet::Ids(vec![value]))),
                CompareOp::Ne => Some((var, TwinSet::Not(Box::new(TwinSet::Ids(vec![value]))))),
                _ => None,
            }
        }
        Pred::In {
            term,
            negated,
            list,
        } => {
            let var = id_var(term)?;
            let ids: Option<Vec<String>> = list
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            let set = TwinSet::Ids(ids?);
            Some((
                var,
                if *negated {
                    TwinSet::Not(Box::new(set))
                } else {
                    set
                },
            ))
        }
        Pred::Not(inner) => twin_set(inner, is_twin).map(|(v, s)| (v, TwinSet::Not(Box::new(s)))),
        Pred::And(items) | Pred::Or(items) => {
            let sets: Option<Vec<(usize, TwinSet)>> =
                items.iter().map(|p| twin_set(p, is_twin)).collect();
            let sets = sets?;
            let var = sets.first()?.0;
            if sets.iter().any(|(v, _)| *v != var) {
                return None;
            }
            let sets = sets.into_iter().map(|(_, s)| s).collect();
            Some((
                var,
                if matches!(pred, Pred::And(_)) {
                    TwinSet::And(sets)
                } else {
                    TwinSet::Or(sets)
                },
            ))
        }
        _ => None,
    }
}

/// Resolves paths to (variable, property path) terms.
struct Resolver<'a> {
    scope: &'a Scope,
    ends: &'a [Option<(usize, usize)>],
}

impl Resolver<'_> {
    fn term_of_path(&self, path: &ast::Path) -> Result<Term, Error> {
        let (var, rest) = self
            .scope
            .resolve(path)
            .ok_or_else(|| internal("path alias"))?;
        let rest: Vec<String> = rest.iter().map(|s| s.name.clone()).collect();
        // A relationship's `$sourceId`/`$targetId` is the `$dtId` of the twin at that end.
        if let (Some(Some((source, target))), [field]) = (self.ends.get(var), rest.as_slice()) {
            match field.as_str() {
                "$sourceId" => {
                    return Ok(Term::Prop {
                        var: *source,
                        path: vec!["$dtId".into()],
                    })
                }
                "$targetId" => {
                    return Ok(Term::Prop {
                        var: *target,
                        path: vec!["$dtId".into()],
                    })
                }
                _ => {}
            }
        }
        Ok(Term::Prop { var, path: rest })
    }

    fn term(&self, operand: &Operand) -> Result<Term, Error> {
        match operand {
            Operand::Path(path) => self.term_of_path(path),
            Operand::Literal(literal, _) => Ok(Term::Const(literal.to_json())),
        }
    }

    fn pred(&self, expr: &ast::Expr) -> Result<Pred, Error> {
        Ok(match &expr.kind {
            ExprKind::Or(items) => Pred::Or(
                items
                    .iter()
                    .map(|e| self.pred(e))
                    .collect::<Result<_, _>>()?,
            ),
            ExprKind::And(items) => Pred::And(
                items
                    .iter()
                    .map(|e| self.pred(e))
                    .collect::<Result<_, _>>()?,
            ),
            ExprKind::Not(inner) => Pred::Not(Box::new(self.pred(inner)?)),
            ExprKind::Compare { left, op, right } => Pred::Compare {
                left: self.term(left)?,
                op: *op,
                right: self.term(right)?,
            },
            ExprKind::In {
                operand,
                negated,
                list,
            } => Pred::In {
                term: self.term(operand)?,
                negated: *negated,
                list: list.iter().map(Literal::to_json).collect(),
            },
            ExprKind::IsOfModel {
                alias,
                model,
                exact,
            } => {
                let var = self
                    .scope
                    .model_test_var(alias.as_ref())
                    .ok_or_else(|| internal("IS_OF_MODEL variable"))?;
                Pred::InSet {
                    var,
                    set: TwinSet::Model {
                        model: model.clone(),
                        exact: *exact,
                    },
                }
            }
            ExprKind::TypeCheck { check, operand } => Pred::TypeCheck {
                check: *check,
                term: self.term(operand)?,
            },
            ExprKind::StringTest {
                test,
                operand,
                pattern,
            } => Pred::StringTest {
                test: *test,
                term: self.term(operand)?,
                pattern: self.term(pattern)?,
            },
            ExprKind::ArrayContains { array, value } => Pred::ArrayContains {
                array: self.term(array)?,
                value: self.term(value)?,
            },
        })
    }
}
