//! A deliberately naive evaluator, for tests only: it reads every twin and relationship, builds
//! rows by nested loops over those lists (no indexes, no anchors, no plan) and evaluates the
//! WHERE clause on whole rows straight from the syntax tree. The differential test compares
//! the planned executor with it.

use std::collections::HashMap;

use serde_json::{Map, Value};
use twingraph_engine::Snapshot;

use super::functions::{self, Truth};
use crate::ast::{self, ExprKind, Operand};
use crate::check::{Origin, Scope};
use crate::planner::HopRules;

#[derive(Debug, Clone)]
enum Bound {
    Twin(usize),
    Rel(usize),
}

struct Data {
    twins: Vec<(u32, String, Value)>,
    /// (source index, target index, name, doc)
    rels: Vec<(usize, usize, String, Value)>,
}

/// All result rows of `query`, in no particular order (TOP is applied by the caller).
pub(crate) fn evaluate(
    snap: &Snapshot<'_>,
    query: &ast::Query,
    scope: &Scope,
    rules: HopRules,
) -> Vec<Value> {
    let twins: Vec<(u32, String, Value)> = snap
        .twins()
        .expect("twins")
        .map(|t| t.expect("twin"))
        .map(|t| (t.num, t.id, t.doc))
        .collect();
    let index: HashMap<String, usize> = twins
        .iter()
        .enumerate()
        .map(|(i, t)| (t.1.clone(), i))
        .collect();
    let rels = snap
        .relationships()
        .expect("relationships")
        .map(|r| r.expect("relationship"))
        .map(|r| (index[&r.source], index[&r.target], r.name, r.doc))
        .collect();
    let data = Data { twins, rels };

    let mut rows: Vec<Vec<Option<Bound>>> = Vec::new();
    let empty = vec![None; scope.vars.len()];
    match (&query.from.collection, &query.from.pattern) {
        (ast::Collection::Relationships, _) => {
            for r in 0..data.rels.len() {
                let mut row = empty.clone();
                row[0] = Some(Bound::Rel(r));
                rows.push(row);
            }
        }
        (_, None) => {
            for t in 0..data.twins.len() {
                let mut row = empty.clone();
                row[0] = Some(Bound::Twin(t));
                rows.push(row);
            }
            for (i, join) in query.from.joins.iter().enumerate() {
                let source = scope.lookup(&join.source.text).expect("source");
                let target = scope.var_at(Origin::JoinTarget(i)).expect("target");
                let alias = scope.var_at(Origin::JoinRelationship(i));
                let mut next = Vec::new();
                for row in rows {
                    let Some(Bound::Twin(s)) = row[source] else {
                        continue;
                    };
                    for (r, rel) in data.rels.iter().enumerate() {
                        if rel.0 == s && rel.2 == join.relationship.name {
                            let mut row = row.clone();
                            row[target] = Some(Bound::Twin(rel.1));
                            if let Some(a) = alias {
                                row[a] = Some(Bound::Rel(r));
                            }
                            next.push(row);
                        }
                    }
                }
                rows = next;
            }
        }
        (_, Some(pattern)) => rows = match_rows(&data, pattern, scope, rules, &empty),
    }

    let mut out = Vec::new();
    for row in &rows {
        let keep = match &query.filter {
            None => true,
            Some(f) => eval(f, row, scope, &data, snap) == Truth::True,
        };
        if keep {
            out.push(row);
        }
    }
    match &query.select.list {
        ast::SelectList::Count(_) => {
            let mut m = Map::new();
            m.insert("COUNT".into(), Value::from(out.len()));
            vec![Value::Object(m)]
        }
        ast::SelectList::Star(_) => out.iter().map(|row| doc(&data, &row[0]).clone()).collect(),
        ast::SelectList::Items(items) => out
            .iter()
            .map(|row| {
                let mut m = Map::new();
                for item in items {
                    if let Some(v) = path_value(&item.path, row, scope, &data) {
                        m.insert(crate::check::output_name(item).to_string(), v.clone());
                    }
                }
                Value::Object(m)
            })
            .collect(),
    }
}

/// MATCH rows: nodes bound left to right; single-hop edges bind a relationship, pairwise
/// distinct; variable-length edges bind the far node by shortest distance.
fn match_rows(
    data: &Data,
    pattern: &ast::Pattern,
    scope: &Scope,
    rules: HopRules,
    empty: &[Option<Bound>],
) -> Vec<Vec<Option<Bound>>> {
    let node_var = |i: usize| scope.var_at(Origin::MatchNode(i)).expect("node");
    // (row, relationships bound by single-hop edges)
    let mut rows: Vec<(Vec<Option<Bound>>, Vec<usize>)> = Vec::new();
    for t in 0..data.twins.len() {
        let mut row = empty.to_vec();
        row[node_var(0)] = Some(Bound::Twin(t));
        rows.push((row, Vec::new()));
    }
    for (i, step) in pattern.steps.iter().enumerate() {
        let (a, b) = (node_var(i), node_var(i + 1));
        let edge_var = scope.var_at(Origin::MatchEdge(i));
        let names: Vec<&str> = step.edge.names.iter().map(|n| n.name.as_str()).collect();
        let allowed =
            |r: &(usize, usize, String, Value)| names.is_empty() || names.contains(&r.2.as_str());
        // The ends of relationship `r` as (from, to) in the edge's direction, both ways for `-[]-`.
        let ways = |r: &(usize, usize, String, Value)| -> Vec<(usize, usize)> {
            match step.edge.direction {
                ast::Direction::Right => vec![(r.0, r.1)],
                ast::Direction::Left => vec![(r.1, r.0)],
                ast::Direction::Either => vec![(r.0, r.1), (r.1, r.0)],
            }
        };
        let hops = hop_range(step.edge.hops, rules.cypher);
        let mut next = Vec::new();
        for (row, used) in rows {
            let Some(Bound::Twin(from)) = row[a] else {
                continue;
            };
            match hops {
                None => {
                    for (r, rel) in data.rels.iter().enumerate() {
                        if !allowed(rel) || used.contains(&r) {
                            continue;
                        }
                        for (x, y) in ways(rel) {
                            if x == from {
                                let mut row = row.clone();
                                row[b] = Some(Bound::Twin(y));
                                if let Some(v) = edge_var {
                                    row[v] = Some(Bound::Rel(r));
                                }
                                let mut used = used.clone();
                                used.push(r);
                                next.push((row, used));
                                // `-[]-` lists a relationship once even if both ways fit.
                                break;
                            }
                        }
                    }
                }
                Some((min, max)) => {
                    // Relax distances over the whole relationship list, max rounds.
                    let mut dist: Vec<Option<u32>> = vec![None; data.twins.len()];
                    dist[from] = Some(0);
                    for round in 1..=max {
                        let mut updates = Vec::new();
                        for rel in data.rels.iter().filter(|r| allowed(r)) {
                            for (x, y) in ways(rel) {
                                if dist[x] == Some(round - 1) && dist[y].is_none() {
                                    updates.push(y);
                                }
                            }
                        }
                        for y in updates {
                            dist[y].get_or_insert(round);
                        }
                    }
                    for (t, d) in dist.iter().enumerate() {
                        if d.is_some_and(|d| d >= min && d <= max) {
                            let mut row = row.clone();
                            row[b] = Some(Bound::Twin(t));
                            next.push((row, used.clone()));
                        }
                    }
                }
            }
        }
        rows = next;
    }
    rows.into_iter().map(|(row, _)| row).collect()
}

/// The documented reading of a hop spec, written out again here on purpose: `None` is a single
/// hop (one row per relationship), else the inclusive distance range.
fn hop_range(hops: Option<ast::Hops>, cypher: bool) -> Option<(u32, u32)> {
    let (min, max) = match hops? {
        ast::Hops::Exact(n) => (n, n),
        ast::Hops::Range { min: None, max } => (1, max),
        ast::Hops::Range { min: Some(m), max } => (if cypher { m } else { m + 1 }, max),
    };
    ((min, max) != (1, 1)).then_some((min, max))
}

fn doc<'d>(data: &'d Data, bound: &Option<Bound>) -> &'d Value {
    match bound {
        Some(Bound::Twin(t)) => &data.twins[*t].2,
        Some(Bound::Rel(r)) => &data.rels[*r].3,
        None => &Value::Null,
    }
}

fn path_value<'d>(
    path: &ast::Path,
    row: &[Option<Bound>],
    scope: &Scope,
    data: &'d Data,
) -> Option<&'d Value> {
    let (var, rest) = scope.resolve(path)?;
    let names: Vec<String> = rest.iter().map(|s| s.name.clone()).collect();
    row[var].as_ref()?;
    functions::lookup(doc(data, &row[var]), &names)
}

fn eval(
    expr: &ast::Expr,
    row: &[Option<Bound>],
    scope: &Scope,
    data: &Data,
    snap: &Snapshot<'_>,
) -> Truth {
    let value = |o: &Operand| -> Option<Value> {
        match o {
            Operand::Literal(l, _) => Some(l.to_json()),
            Operand::Path(p) => path_value(p, row, scope, data).cloned(),
        }
    };
    match &expr.kind {
        ExprKind::Or(items) => {
            let results: Vec<Truth> = items
                .iter()
                .map(|e| eval(e, row, scope, data, snap))
                .collect();
            if results.contains(&Truth::True) {
                Truth::True
            } else if results.contains(&Truth::Unknown) {
                Truth::Unknown
            } else {
                Truth::False
            }
        }
        ExprKind::And(items) => {
            let results: Vec<Truth> = items
                .iter()
                .map(|e| eval(e, row, scope, data, snap))
                .collect();
            if results.contains(&Truth::False) {
                Truth::False
            } else if results.contains(&Truth::Unknown) {
                Truth::Unknown
            } else {
                Truth::True
            }
        }
        ExprKind::Not(inner) => eval(inner, row, scope, data, snap).not(),
        ExprKind::Compare { left, op, right } => {
            functions::compare(value(left).as_ref(), *op, value(right).as_ref())
        }
        ExprKind::In {
            operand,
            negated,
            list,
        } => {
            let list: Vec<Value> = list.iter().map(ast::Literal::to_json).collect();
            functions::in_list(value(operand).as_ref(), &list, *negated)
        }
        ExprKind::IsOfModel {
            alias,
            model,
            exact,
        } => {
            match scope
                .model_test_var(alias.as_ref())
                .and_then(|v| row[v].as_ref())
            {
                Some(Bound::Twin(t)) => {
                    Truth::of(snap.model_twins(model, *exact).contains(data.twins[*t].0))
                }
                _ => Truth::Unknown,
            }
        }
        ExprKind::TypeCheck { check, operand } => {
            functions::type_check(*check, value(operand).as_ref())
        }
        ExprKind::StringTest {
            test,
            operand,
            pattern,
        } => functions::string_test(*test, value(operand).as_ref(), value(pattern).as_ref()),
        ExprKind::ArrayContains { array, value: v } => {
            functions::array_contains(value(array).as_ref(), value(v).as_ref())
        }
    }
}
