//! Semantic checks on a parsed query: aliases and their scope, the clause combinations ADT
//! forbids, the `$dtId` anchor that JOIN and MATCH need, and the documented limits. Every error
//! names the position and the reason; nothing here reads data.

use std::collections::HashSet;

use crate::ast::*;
use crate::error::Error;
use crate::limits::{MAX_BOOLEAN_OPERATORS, MAX_IN_ITEMS, MAX_JOINS, MAX_MATCH_HOPS};

/// The collections a query binds, in the order they are written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub vars: Vec<Var>,
}

/// One collection variable: the FROM collection, a JOIN target or relationship, a MATCH node or
/// relationship variable. Unnamed MATCH nodes are variables too, without a name.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub name: Option<String>,
    pub kind: VarKind,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    Twin,
    Relationship,
}

/// Where a variable was introduced; indexes count JOINs and MATCH steps from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    From,
    JoinTarget(usize),
    JoinRelationship(usize),
    /// Node 0 is the start node; node `i` is the node of step `i - 1`.
    MatchNode(usize),
    /// The variable of the edge of step `i`.
    MatchEdge(usize),
}

impl Scope {
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.vars
            .iter()
            .position(|v| v.name.as_deref() == Some(name))
    }

    pub fn var_at(&self, origin: Origin) -> Option<usize> {
        self.vars.iter().position(|v| v.origin == origin)
    }

    /// Which variable a path reads, and the property path inside it. The first segment names a
    /// variable when it matches an alias; with a single collection it may also be a property
    /// (`WHERE temp = 79`, adt-api.md §5.3). `None`: an unknown alias with several in scope.
    pub fn resolve<'p>(&self, path: &'p Path) -> Option<(usize, &'p [Segment])> {
        if let Some(first) = path.segments.first() {
            if !first.escaped {
                if let Some(var) = self.lookup(&first.name) {
                    return Some((var, &path.segments[1..]));
                }
            }
        }
        (self.vars.len() == 1).then_some((0, path.segments.as_slice()))
    }

    /// The twin variable `IS_OF_MODEL([alias,] ...)` tests: the alias, or else the only twin
    /// collection in scope (the checks refuse the call when there are several).
    pub fn model_test_var(&self, alias: Option<&Name>) -> Option<usize> {
        match alias {
            Some(alias) => self.lookup(&alias.text),
            None => self.twin_vars().next(),
        }
    }

    pub fn twin_vars(&self) -> impl Iterator<Item = usize> + '_ {
        self.vars
            .iter()
            .enumerate()
            .filter(|(_, v)| v.kind == VarKind::Twin)
            .map(|(i, _)| i)
    }
}

/// The output key of a projection: its rename, or the last path segment (the alias itself when
/// the path is just an alias), as adt-api.md §5.6 describes.
pub fn output_name(item: &SelectItem) -> &str {
    match (&item.rename, item.path.segments.last()) {
        (Some(rename), _) => &rename.text,
        (None, Some(last)) => &last.name,
        (None, None) => "",
    }
}

pub(crate) fn check(text: &str, query: &Query) -> Result<Scope, Error> {
    Checker { text }.query(query)
}

struct Checker<'t> {
    text: &'t str,
}

impl Checker<'_> {
    fn invalid(&self, span: Span, message: impl Into<String>) -> Error {
        Error::invalid(self.text, span.start, message)
    }

    fn limit(&self, span: Span, message: impl Into<String>) -> Error {
        Error::limit(self.text, span.start, message)
    }

    fn query(&self, query: &Query) -> Result<Scope, Error> {
        self.top(&query.select)?;
        let scope = self.from(&query.from)?;
        let traverses = !query.from.joins.is_empty() || query.from.pattern.is_some();
        self.select(&query.select, &scope, traverses)?;
        if let Some(filter) = &query.filter {
            let mut operators = 0;
            self.expr(filter, &scope, &mut operators)?;
            if operators > MAX_BOOLEAN_OPERATORS {
                return Err(self.limit(
                    filter.span,
                    format!("more than {MAX_BOOLEAN_OPERATORS} AND/OR operators ({operators})"),
                ));
            }
        }
        if traverses {
            let anchored = query.filter.as_ref().is_some_and(|f| has_anchor(f, &scope));
            if !anchored {
                return Err(self.invalid(
                    query.from.span,
                    "JOIN and MATCH queries must filter on the $dtId of a twin in WHERE, \
                     as in T.$dtId = 'id' or T.$dtId IN ['a', 'b']",
                ));
            }
        }
        Ok(scope)
    }

    fn top(&self, select: &Select) -> Result<(), Error> {
        if let Some(top) = &select.top {
            if top.count == 0 {
                return Err(self.limit(top.span, "TOP must be at least 1"));
            }
            if let SelectList::Count(span) = select.list {
                return Err(self.invalid(span, "TOP cannot be combined with COUNT()"));
            }
        }
        Ok(())
    }

    fn from(&self, from: &From) -> Result<Scope, Error> {
        if from.collection == Collection::Relationships {
            if let Some(join) = from.joins.first() {
                return Err(self.invalid(join.span, "JOIN cannot be used with FROM RELATIONSHIPS"));
            }
            if let Some(pattern) = &from.pattern {
                return Err(
                    self.invalid(pattern.span, "MATCH cannot be used with FROM RELATIONSHIPS")
                );
            }
        }
        if let (Some(join), Some(_)) = (from.joins.first(), &from.pattern) {
            return Err(self.invalid(
                join.span,
                "JOIN and MATCH cannot be combined in one query (MATCH can express every JOIN)",
            ));
        }
        if let Some(extra) = from.joins.get(MAX_JOINS) {
            return Err(self.limit(extra.span, format!("more than {MAX_JOINS} JOINs")));
        }
        let mut scope = Scope { vars: Vec::new() };
        let add = |scope: &mut Scope, name: Option<&Name>, kind, origin| -> Result<(), Error> {
            if let Some(name) = name {
                if scope.lookup(&name.text).is_some() {
                    return Err(self.invalid(name.span, format!("duplicate alias '{}'", name.text)));
                }
            }
            scope.vars.push(Var {
                name: name.map(|n| n.text.clone()),
                kind,
                origin,
            });
            Ok(())
        };
        match &from.pattern {
            None => {
                let kind = match from.collection {
                    Collection::DigitalTwins => VarKind::Twin,
                    Collection::Relationships => VarKind::Relationship,
                };
                add(&mut scope, from.alias.as_ref(), kind, Origin::From)?;
            }
            Some(pattern) => {
                if let Some(alias) = &from.alias {
                    return Err(self.invalid(
                        alias.span,
                        "with MATCH, name the twins inside the pattern, not after DIGITALTWINS",
                    ));
                }
                self.pattern(pattern)?;
                add(
                    &mut scope,
                    pattern.start.alias.as_ref(),
                    VarKind::Twin,
                    Origin::MatchNode(0),
                )?;
                for (i, step) in pattern.steps.iter().enumerate() {
                    if let Some(variable) = &step.edge.variable {
                        add(
                            &mut scope,
                            Some(variable),
                            VarKind::Relationship,
                            Origin::MatchEdge(i),
                        )?;
                    }
                    add(
                        &mut scope,
                        step.node.alias.as_ref(),
                        VarKind::Twin,
                        Origin::MatchNode(i + 1),
                    )?;
                }
            }
        }
        for (i, join) in from.joins.iter().enumerate() {
            match scope.lookup(&join.source.text).map(|v| scope.vars[v].kind) {
                Some(VarKind::Twin) => {}
                Some(VarKind::Relationship) => {
                    return Err(self.invalid(
                        join.source.span,
                        format!(
                            "'{}' is a relationship; JOIN follows relationships from twins",
                            join.source.text
                        ),
                    ))
                }
                None => {
                    return Err(self.invalid(
                        join.source.span,
                        format!("unknown alias '{}' in JOIN", join.source.text),
                    ))
                }
            }
            add(
                &mut scope,
                Some(&join.target),
                VarKind::Twin,
                Origin::JoinTarget(i),
            )?;
            if let Some(alias) = &join.alias {
                add(
                    &mut scope,
                    Some(alias),
                    VarKind::Relationship,
                    Origin::JoinRelationship(i),
                )?;
            }
        }
        Ok(scope)
    }

    fn pattern(&self, pattern: &Pattern) -> Result<(), Error> {
        let mut total = 0u32;
        for step in &pattern.steps {
            let edge = &step.edge;
            match edge.hops {
                Some(Hops::Exact(0)) | Some(Hops::Range { max: 0, .. }) => {
                    return Err(self.invalid(edge.span, "a hop count must be at least 1"));
                }
                Some(Hops::Range {
                    min: Some(min),
                    max,
                }) if min >= max => {
                    return Err(self.invalid(
                        edge.span,
                        format!(
                            "*{min}..{max} is not a range: the lower bound must be below the \
                             upper bound (write *{max} for an exact count)"
                        ),
                    ));
                }
                _ => {}
            }
            let multi_hop = !matches!(edge.hops, None | Some(Hops::Exact(1)));
            if let (Some(variable), true) = (&edge.variable, multi_hop) {
                return Err(self.invalid(
                    variable.span,
                    "a relationship variable is only allowed on a single-hop edge",
                ));
            }
            total += edge.hops.map_or(1, Hops::max);
            if total > MAX_MATCH_HOPS {
                return Err(self.limit(
                    edge.span,
                    format!("MATCH traverses more than {MAX_MATCH_HOPS} hops in total"),
                ));
            }
        }
        Ok(())
    }

    fn select(&self, select: &Select, scope: &Scope, traverses: bool) -> Result<(), Error> {
        match &select.list {
            SelectList::Star(span) if traverses => Err(self.invalid(
                *span,
                "SELECT * is not allowed with JOIN or MATCH: list the aliases, as in SELECT T, CT",
            )),
            SelectList::Star(_) | SelectList::Count(_) => Ok(()),
            SelectList::Items(items) => {
                let mut names = HashSet::new();
                for item in items {
                    self.path(&item.path, scope)?;
                    let name = output_name(item);
                    if !names.insert(name) {
                        return Err(self.invalid(
                            item.span,
                            format!("duplicate output name '{name}': rename one with AS"),
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    fn path(&self, path: &Path, scope: &Scope) -> Result<(), Error> {
        if scope.resolve(path).is_some() {
            return Ok(());
        }
        let first = path.segments.first();
        let message = match first {
            Some(s) if !s.escaped && !s.name.starts_with('$') => format!(
                "unknown alias '{}' (with JOIN or MATCH, qualify every property with an alias)",
                s.name
            ),
            _ => format!("qualify '{path}' with an alias: several collections are in scope"),
        };
        Err(self.invalid(first.map_or(path.span, |s| s.span), message))
    }

    fn operand(&self, operand: &Operand, scope: &Scope) -> Result<(), Error> {
        match operand {
            Operand::Path(path) => self.path(path, scope),
            Operand::Literal(..) => Ok(()),
        }
    }

    /// Checks names and limits in a condition; `operators` counts AND/OR operators.
    fn expr(&self, expr: &Expr, scope: &Scope, operators: &mut usize) -> Result<(), Error> {
        match &expr.kind {
            ExprKind::Or(items) | ExprKind::And(items) => {
                *operators += items.len().saturating_sub(1);
                for item in items {
                    self.expr(item, scope, operators)?;
                }
                Ok(())
            }
            ExprKind::Not(inner) => self.expr(inner, scope, operators),
            ExprKind::Compare { left, right, .. } => {
                self.operand(left, scope)?;
                self.operand(right, scope)
            }
            ExprKind::In { operand, list, .. } => {
                if list.len() > MAX_IN_ITEMS {
                    return Err(self.limit(
                        expr.span,
                        format!("an IN or NIN list holds more than {MAX_IN_ITEMS} items"),
                    ));
                }
                self.operand(operand, scope)
            }
            ExprKind::IsOfModel { alias, .. } => self.is_of_model(alias.as_ref(), expr.span, scope),
            ExprKind::TypeCheck { operand, .. } => self.operand(operand, scope),
            ExprKind::StringTest {
                operand, pattern, ..
            } => {
                self.operand(operand, scope)?;
                self.operand(pattern, scope)
            }
            ExprKind::ArrayContains { array, value } => {
                self.operand(array, scope)?;
                self.operand(value, scope)
            }
        }
    }

    fn is_of_model(&self, alias: Option<&Name>, span: Span, scope: &Scope) -> Result<(), Error> {
        match alias {
            Some(alias) => match scope.lookup(&alias.text).map(|v| scope.vars[v].kind) {
                Some(VarKind::Twin) => Ok(()),
                Some(VarKind::Relationship) => Err(self.invalid(
                    alias.span,
                    format!(
                        "IS_OF_MODEL tests twins, and '{}' is a relationship",
                        alias.text
                    ),
                )),
                None => Err(self.invalid(alias.span, format!("unknown alias '{}'", alias.text))),
            },
            None => match scope.twin_vars().count() {
                1 => Ok(()),
                0 => Err(self.invalid(
                    span,
                    "IS_OF_MODEL tests twins, and FROM RELATIONSHIPS has none",
                )),
                _ => Err(self.invalid(
                    span,
                    "IS_OF_MODEL needs an alias when several collections are in scope, \
                     as in IS_OF_MODEL(T, 'dtmi:...;1')",
                )),
            },
        }
    }
}

/// Whether a top-level conjunct of `filter` pins the `$dtId` of some twin variable to a string or
/// a list of strings. Conjuncts under OR or NOT do not count: they do not bound the start set.
pub(crate) fn has_anchor(filter: &Expr, scope: &Scope) -> bool {
    !anchors(filter, scope).is_empty()
}

/// The twin variables pinned by `$dtId` in top-level conjuncts, with the pinned ids.
pub(crate) fn anchors(filter: &Expr, scope: &Scope) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    let mut stack = vec![filter];
    while let Some(expr) = stack.pop() {
        match &expr.kind {
            ExprKind::And(items) => stack.extend(items.iter()),
            ExprKind::Compare {
                left,
                op: CompareOp::Eq,
                right,
            } => {
                let pinned = match (left, right) {
                    (Operand::Path(p), Operand::Literal(Literal::String(id), _))
                    | (Operand::Literal(Literal::String(id), _), Operand::Path(p)) => {
                        dt_id_var(p, scope).map(|var| (var, vec![id.clone()]))
                    }
                    _ => None,
                };
                found.extend(pinned);
            }
            ExprKind::In {
                operand: Operand::Path(p),
                negated: false,
                list,
            } => {
                let ids: Option<Vec<String>> = list
                    .iter()
                    .map(|l| match l {
                        Literal::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                if let (Some(var), Some(ids)) = (dt_id_var(p, scope), ids) {
                    found.push((var, ids));
                }
            }
            _ => {}
        }
    }
    found
}

/// The twin variable whose `$dtId` the path reads, if it reads one.
fn dt_id_var(path: &Path, scope: &Scope) -> Option<usize> {
    let (var, rest) = scope.resolve(path)?;
    let is_id = matches!(rest, [s] if !s.escaped && s.name == "$dtId");
    (is_id && scope.vars[var].kind == VarKind::Twin).then_some(var)
}
