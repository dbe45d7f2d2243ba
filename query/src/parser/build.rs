//! Pest pairs → `ast` clauses: SELECT, FROM, JOIN and MATCH (conditions are in
//! `condition.rs`). Reports what the grammar leaves open, such as hop ranges, with a position
//! and a reason.

use pest::iterators::{Pair, Pairs};

use super::{internal, Rule};
use crate::ast::*;
use crate::error::Error;
use crate::limits::MAX_HOP_LITERAL;

/// Builds the tree; `text` is kept for error positions.
pub(super) struct Builder<'t> {
    pub(super) text: &'t str,
}

pub(super) fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let span = pair.as_span();
    Span {
        start: span.start(),
        end: span.end(),
    }
}

pub(super) fn next<'i>(pairs: &mut Pairs<'i, Rule>, what: &str) -> Result<Pair<'i, Rule>, Error> {
    pairs.next().ok_or_else(|| internal(what))
}

impl Builder<'_> {
    pub(super) fn syntax(&self, span: Span, message: impl Into<String>) -> Error {
        Error::syntax(self.text, span.start, message)
    }

    pub(super) fn query(&self, pair: Pair<'_, Rule>) -> Result<Query, Error> {
        let span = span_of(&pair);
        let mut explain = false;
        let mut select = None;
        let mut from = None;
        let mut filter = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::explain_kw => explain = true,
                Rule::select_clause => select = Some(self.select(p)?),
                Rule::from_clause => from = Some(self.from(p)?),
                Rule::where_clause => {
                    let mut inner = p.into_inner();
                    let _where = next(&mut inner, "WHERE keyword")?;
                    filter = Some(self.or_expr(next(&mut inner, "WHERE condition")?, 0)?);
                }
                _ => {}
            }
        }
        Ok(Query {
            explain,
            select: select.ok_or_else(|| internal("SELECT clause"))?,
            from: from.ok_or_else(|| internal("FROM clause"))?,
            filter,
            span,
        })
    }

    fn select(&self, pair: Pair<'_, Rule>) -> Result<Select, Error> {
        let span = span_of(&pair);
        let mut top = None;
        let mut list = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::top => {
                    let top_span = span_of(&p);
                    let digits = p.into_inner().find(|p| p.as_rule() == Rule::integer);
                    let digits = digits.ok_or_else(|| internal("TOP count"))?;
                    let count = digits.as_str().parse::<u64>().map_err(|_| {
                        Error::limit(self.text, top_span.start, "the TOP count is too large")
                    })?;
                    top = Some(Top {
                        count,
                        span: top_span,
                    });
                }
                Rule::select_list => list = Some(self.select_list(p)?),
                _ => {}
            }
        }
        let list = match (list, &top) {
            (Some(list), _) => list,
            // `SELECT TOP(5) FROM ...` returns whole documents, like `*`.
            (None, Some(top)) => SelectList::Star(Span {
                start: top.span.end,
                end: top.span.end,
            }),
            (None, None) => {
                let at = Span {
                    start: span.end,
                    end: span.end,
                };
                return Err(self.syntax(at, "expected *, COUNT() or a projection after SELECT"));
            }
        };
        Ok(Select { top, list, span })
    }

    fn select_list(&self, pair: Pair<'_, Rule>) -> Result<SelectList, Error> {
        let mut items = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::star => return Ok(SelectList::Star(span_of(&p))),
                Rule::count => return Ok(SelectList::Count(span_of(&p))),
                Rule::projection => {
                    let span = span_of(&p);
                    let mut inner = p.into_inner();
                    let path = self.path(next(&mut inner, "projection path")?)?;
                    let rename = inner.find(|p| p.as_rule() == Rule::alias).map(|p| name(&p));
                    items.push(SelectItem { path, rename, span });
                }
                _ => {}
            }
        }
        Ok(SelectList::Items(items))
    }

    fn from(&self, pair: Pair<'_, Rule>) -> Result<From, Error> {
        let span = span_of(&pair);
        let mut collection = Collection::DigitalTwins;
        let mut alias = None;
        let mut joins = Vec::new();
        let mut pattern: Option<Pattern> = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::collection => {
                    let is_twins = p.into_inner().any(|k| k.as_rule() == Rule::digitaltwins_kw);
                    collection = if is_twins {
                        Collection::DigitalTwins
                    } else {
                        Collection::Relationships
                    };
                }
                Rule::from_alias => {
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::as_kw => {
                                return Err(self.syntax(
                                    span_of(&q),
                                    "AS is not used in FROM: write FROM DIGITALTWINS T",
                                ))
                            }
                            Rule::alias => alias = Some(name(&q)),
                            _ => {}
                        }
                    }
                }
                Rule::join => joins.push(self.join(p)?),
                Rule::match_clause => {
                    if pattern.is_some() {
                        return Err(Error::limit(
                            self.text,
                            p.as_span().start(),
                            "only one MATCH clause is allowed per query",
                        ));
                    }
                    pattern = Some(self.pattern(p)?);
                }
                _ => {}
            }
        }
        Ok(From {
            collection,
            alias,
            joins,
            pattern,
            span,
        })
    }

    fn join(&self, pair: Pair<'_, Rule>) -> Result<Join, Error> {
        let span = span_of(&pair);
        let mut target = None;
        let mut path = None;
        let mut alias = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::alias if target.is_none() => target = Some(name(&p)),
                Rule::alias => alias = Some(name(&p)),
                Rule::path => path = Some(self.path(p)?),
                Rule::as_kw => {
                    return Err(self.syntax(
                        span_of(&p),
                        "AS is not used in JOIN: write JOIN B RELATED A.rel R",
                    ))
                }
                _ => {}
            }
        }
        let target = target.ok_or_else(|| internal("JOIN target"))?;
        let path = path.ok_or_else(|| internal("JOIN path"))?;
        let [source, relationship] = <[Segment; 2]>::try_from(path.segments).map_err(|_| {
            self.syntax(
                path.span,
                "JOIN ... RELATED needs <alias>.<relationship name>",
            )
        })?;
        if source.escaped {
            return Err(self.syntax(source.span, "the JOIN source must be an alias"));
        }
        let source = Name {
            text: source.name,
            span: source.span,
        };
        Ok(Join {
            target,
            source,
            relationship,
            alias,
            span,
        })
    }

    fn pattern(&self, pair: Pair<'_, Rule>) -> Result<Pattern, Error> {
        let span = span_of(&pair);
        let mut start = None;
        let mut steps = Vec::new();
        let mut pending_edge = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::node => {
                    let node = Node {
                        span: span_of(&p),
                        alias: p.into_inner().next().map(|a| name(&a)),
                    };
                    match pending_edge.take() {
                        None => start = Some(node),
                        Some(edge) => steps.push(Step { edge, node }),
                    }
                }
                Rule::edge => pending_edge = Some(self.edge(p)?),
                _ => {}
            }
        }
        let start = start.ok_or_else(|| internal("MATCH start node"))?;
        Ok(Pattern { start, steps, span })
    }

    fn edge(&self, pair: Pair<'_, Rule>) -> Result<Edge, Error> {
        let span = span_of(&pair);
        let mut left_head = false;
        let mut right_head = false;
        let mut variable = None;
        let mut names = Vec::new();
        let mut hops = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::arrow_in => left_head = true,
                Rule::arrow_out => right_head = true,
                Rule::edge_var => variable = p.into_inner().next().map(|a| name(&a)),
                Rule::edge_names => {
                    for n in p.into_inner() {
                        names.push(self.segment(n)?);
                    }
                }
                Rule::hops => hops = Some(self.hops(p)?),
                _ => {}
            }
        }
        let direction = match (left_head, right_head) {
            (true, true) => {
                return Err(self.syntax(
                    span,
                    "an edge has at most one arrow head: use -[...]- for either direction",
                ))
            }
            (true, false) => Direction::Left,
            (false, true) => Direction::Right,
            (false, false) => Direction::Either,
        };
        Ok(Edge {
            direction,
            variable,
            names,
            hops,
            span,
        })
    }

    fn hops(&self, pair: Pair<'_, Rule>) -> Result<Hops, Error> {
        let span = span_of(&pair);
        let mut min = None;
        let mut max = None;
        let mut range = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::hop_min => min = Some(self.hop_count(&p)?),
                Rule::hop_max => max = Some(self.hop_count(&p)?),
                Rule::hop_dots => range = true,
                _ => {}
            }
        }
        match (min, range, max) {
            (Some(n), false, _) => Ok(Hops::Exact(n)),
            (min, true, Some(max)) => Ok(Hops::Range { min, max }),
            (_, true, None) => Err(self.syntax(
                span,
                "a hop range needs an upper bound, as in *1..3 (unbounded traversal is not allowed)",
            )),
            (None, false, _) => {
                Err(self.syntax(span, "'*' needs a hop count, as in *3, *1..3 or *..3"))
            }
        }
    }

    fn hop_count(&self, pair: &Pair<'_, Rule>) -> Result<u32, Error> {
        match pair.as_str().parse::<u32>() {
            Ok(n) if n <= MAX_HOP_LITERAL => Ok(n),
            _ => Err(Error::limit(
                self.text,
                pair.as_span().start(),
                "the hop count is too large",
            )),
        }
    }
}

fn name(pair: &Pair<'_, Rule>) -> Name {
    Name {
        text: pair.as_str().to_string(),
        span: span_of(pair),
    }
}
