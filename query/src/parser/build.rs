//! Pest pairs → `ast` nodes. Reports what the grammar leaves open (function names and arity,
//! hop ranges, string escapes, nesting of NOT) with a position and a reason.

use pest::iterators::{Pair, Pairs};

use super::{internal, Rule};
use crate::ast::*;
use crate::error::Error;
use crate::limits::{MAX_HOP_LITERAL, MAX_NESTING};

/// Builds the tree; `text` is kept for error positions.
pub(super) struct Builder<'t> {
    pub(super) text: &'t str,
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let span = pair.as_span();
    Span { start: span.start(), end: span.end() }
}

fn next<'i>(pairs: &mut Pairs<'i, Rule>, what: &str) -> Result<Pair<'i, Rule>, Error> {
    pairs.next().ok_or_else(|| internal(what))
}

impl Builder<'_> {
    fn syntax(&self, span: Span, message: impl Into<String>) -> Error {
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
                    top = Some(Top { count, span: top_span });
                }
                Rule::select_list => list = Some(self.select_list(p)?),
                _ => {}
            }
        }
        let list = match (list, &top) {
            (Some(list), _) => list,
            // `SELECT TOP(5) FROM ...` returns whole documents, like `*`.
            (None, Some(top)) => SelectList::Star(Span { start: top.span.end, end: top.span.end }),
            (None, None) => {
                let at = Span { start: span.end, end: span.end };
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
                    collection =
                        if is_twins { Collection::DigitalTwins } else { Collection::Relationships };
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
        Ok(From { collection, alias, joins, pattern, span })
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
            self.syntax(path.span, "JOIN ... RELATED needs <alias>.<relationship name>")
        })?;
        if source.escaped {
            return Err(self.syntax(source.span, "the JOIN source must be an alias"));
        }
        let source = Name { text: source.name, span: source.span };
        Ok(Join { target, source, relationship, alias, span })
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
        Ok(Edge { direction, variable, names, hops, span })
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
            _ => Err(Error::limit(self.text, pair.as_span().start(), "the hop count is too large")),
        }
    }

    /// `depth` counts the parentheses and NOTs around `pair`, so that the trees every later
    /// pass walks recursively stay shallow.
    fn or_expr(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Expr, Error> {
        self.chain(pair, Rule::and_expr, ExprKind::Or, depth)
    }

    /// `a OP b OP c` as one n-ary node; a single operand is returned as is.
    fn chain(
        &self,
        pair: Pair<'_, Rule>,
        operand_rule: Rule,
        make: fn(Vec<Expr>) -> ExprKind,
        depth: usize,
    ) -> Result<Expr, Error> {
        let span = span_of(&pair);
        let mut operands = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::and_expr if operand_rule == Rule::and_expr => {
                    operands.push(self.chain(p, Rule::unary, ExprKind::And, depth)?)
                }
                Rule::unary if operand_rule == Rule::unary => operands.push(self.unary(p, depth)?),
                _ => {}
            }
        }
        if operands.len() == 1 {
            return operands.pop().ok_or_else(|| internal("chain operand"));
        }
        Ok(Expr { kind: make(operands), span })
    }

    fn unary(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Expr, Error> {
        let mut nots = Vec::new();
        let mut primary = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::not_kw => {
                    nots.push(p.as_span().start());
                    if depth + nots.len() > MAX_NESTING {
                        return Err(Error::limit(
                            self.text,
                            p.as_span().start(),
                            format!("conditions nest deeper than {MAX_NESTING} levels"),
                        ));
                    }
                }
                _ => primary = Some(self.primary(p, depth + nots.len())?),
            }
        }
        let mut expr = primary.ok_or_else(|| internal("condition after NOT"))?;
        let end = expr.span.end;
        // Innermost NOT first, so each node's span starts at its own keyword.
        for start in nots.into_iter().rev() {
            expr = Expr { kind: ExprKind::Not(Box::new(expr)), span: Span { start, end } };
        }
        Ok(expr)
    }

    fn primary(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Expr, Error> {
        match pair.as_rule() {
            Rule::paren => {
                let inner = pair.into_inner().next().ok_or_else(|| internal("parenthesis"))?;
                if depth >= MAX_NESTING {
                    return Err(Error::limit(
                        self.text,
                        inner.as_span().start(),
                        format!("conditions nest deeper than {MAX_NESTING} levels"),
                    ));
                }
                self.or_expr(inner, depth + 1)
            }
            Rule::call => self.call(pair),
            Rule::predicate => self.predicate(pair),
            _ => Err(internal("primary condition")),
        }
    }

    fn predicate(&self, pair: Pair<'_, Rule>) -> Result<Expr, Error> {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let left = self.operand(next(&mut inner, "predicate operand")?)?;
        let tail = next(&mut inner, "predicate tail")?;
        let kind = match tail.as_rule() {
            Rule::compare_tail => {
                let mut parts = tail.into_inner();
                let op = match next(&mut parts, "comparison operator")?.as_str() {
                    "=" => CompareOp::Eq,
                    "!=" => CompareOp::Ne,
                    "<" => CompareOp::Lt,
                    ">" => CompareOp::Gt,
                    "<=" => CompareOp::Le,
                    ">=" => CompareOp::Ge,
                    _ => return Err(internal("comparison operator")),
                };
                let right = self.operand(next(&mut parts, "right operand")?)?;
                ExprKind::Compare { left, op, right }
            }
            Rule::in_tail => {
                let mut negated = false;
                let mut list = Vec::new();
                for p in tail.into_inner() {
                    match p.as_rule() {
                        Rule::nin_kw => negated = true,
                        Rule::operand => match self.operand(p)? {
                            Operand::Literal(literal, _) => list.push(literal),
                            Operand::Path(path) => {
                                return Err(self.syntax(
                                    path.span,
                                    "IN and NIN lists hold literal values only",
                                ))
                            }
                        },
                        _ => {}
                    }
                }
                ExprKind::In { operand: left, negated, list }
            }
            _ => return Err(internal("predicate tail")),
        };
        Ok(Expr { kind, span })
    }

    fn call(&self, pair: Pair<'_, Rule>) -> Result<Expr, Error> {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let name_pair = next(&mut inner, "function name")?;
        let function = name_pair.as_str().to_ascii_uppercase();
        let args = inner.map(|p| self.operand(p)).collect::<Result<Vec<_>, _>>()?;
        let arity = |n: usize| -> Result<(), Error> {
            if args.len() == n {
                Ok(())
            } else {
                let plural = if n == 1 { "" } else { "s" };
                Err(self.syntax(span, format!("{function} takes {n} argument{plural}")))
            }
        };
        let type_check = match function.as_str() {
            "IS_DEFINED" => Some(TypeCheck::Defined),
            "IS_NULL" => Some(TypeCheck::Null),
            "IS_BOOL" => Some(TypeCheck::Bool),
            "IS_NUMBER" => Some(TypeCheck::Number),
            "IS_STRING" => Some(TypeCheck::String),
            "IS_OBJECT" => Some(TypeCheck::Object),
            "IS_PRIMITIVE" => Some(TypeCheck::Primitive),
            _ => None,
        };
        let string_test = match function.as_str() {
            "STARTSWITH" | "STARTS_WITH" => Some(StringTest::StartsWith),
            "ENDSWITH" | "ENDS_WITH" => Some(StringTest::EndsWith),
            "CONTAINS" => Some(StringTest::Contains),
            _ => None,
        };
        let kind = if let Some(check) = type_check {
            arity(1)?;
            let operand = args.into_iter().next().ok_or_else(|| internal("argument"))?;
            ExprKind::TypeCheck { check, operand }
        } else if let Some(test) = string_test {
            arity(2)?;
            let [operand, pattern] = two(args)?;
            ExprKind::StringTest { test, operand, pattern }
        } else if function == "ARRAY_CONTAINS" {
            arity(2)?;
            let [array, value] = two(args)?;
            ExprKind::ArrayContains { array, value }
        } else if function == "IS_OF_MODEL" {
            self.is_of_model(args, span)?
        } else {
            let message = format!(
                "unknown function {}: the functions are IS_OF_MODEL, IS_DEFINED, IS_NULL, \
                 IS_BOOL, IS_NUMBER, IS_STRING, IS_OBJECT, IS_PRIMITIVE, STARTSWITH, ENDSWITH, \
                 CONTAINS and ARRAY_CONTAINS",
                name_pair.as_str()
            );
            return Err(self.syntax(span_of(&name_pair), message));
        };
        Ok(Expr { kind, span })
    }

    /// `IS_OF_MODEL([alias,] 'dtmi' [, exact])`
    fn is_of_model(&self, args: Vec<Operand>, span: Span) -> Result<ExprKind, Error> {
        let usage = "IS_OF_MODEL expects ([alias,] 'model id' [, exact])";
        let mut args = args.into_iter().peekable();
        let alias = match args.peek() {
            Some(Operand::Path(path)) => match path.segments.as_slice() {
                [segment] if !segment.escaped => {
                    let alias = Name { text: segment.name.clone(), span: segment.span };
                    args.next();
                    Some(alias)
                }
                _ => return Err(self.syntax(path.span, usage)),
            },
            _ => None,
        };
        let (model, model_span) = match args.next() {
            Some(Operand::Literal(Literal::String(model), span)) => (model, span),
            Some(other) => return Err(self.syntax(other.span(), usage)),
            None => return Err(self.syntax(span, usage)),
        };
        if twingraph_engine::dtdl::Dtmi::parse(&model).is_none() {
            return Err(self.syntax(model_span, format!("'{model}' is not a valid model id (DTMI)")));
        }
        let exact = match args.next() {
            None => false,
            Some(Operand::Path(path))
                if matches!(path.segments.as_slice(),
                    [s] if !s.escaped && s.name.eq_ignore_ascii_case("exact")) =>
            {
                true
            }
            Some(other) => {
                return Err(self.syntax(
                    other.span(),
                    "the third argument of IS_OF_MODEL is the bare keyword exact",
                ))
            }
        };
        if let Some(extra) = args.next() {
            return Err(self.syntax(extra.span(), usage));
        }
        Ok(ExprKind::IsOfModel { alias, model, exact })
    }

    fn operand(&self, pair: Pair<'_, Rule>) -> Result<Operand, Error> {
        let pair = match pair.as_rule() {
            Rule::operand => pair.into_inner().next().ok_or_else(|| internal("operand"))?,
            _ => pair,
        };
        let span = span_of(&pair);
        let literal = match pair.as_rule() {
            Rule::path => return Ok(Operand::Path(self.path(pair)?)),
            Rule::true_kw => Literal::Bool(true),
            Rule::false_kw => Literal::Bool(false),
            Rule::null_kw => Literal::Null,
            Rule::number => Literal::Number(self.number(&pair)?),
            Rule::string => {
                let body = pair.into_inner().next().ok_or_else(|| internal("string body"))?;
                Literal::String(self.unescape(&body)?)
            }
            _ => return Err(internal("operand kind")),
        };
        Ok(Operand::Literal(literal, span))
    }

    fn number(&self, pair: &Pair<'_, Rule>) -> Result<serde_json::Number, Error> {
        let text = pair.as_str();
        let is_integer = !text.contains(['.', 'e', 'E']);
        if is_integer {
            if let Ok(n) = text.parse::<i64>() {
                return Ok(n.into());
            }
            if let Ok(n) = text.parse::<u64>() {
                return Ok(n.into());
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .ok_or_else(|| self.syntax(span_of(pair), format!("the number {text} is out of range")))
    }

    /// Decodes backslash escapes: `\'`, `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\uXXXX`.
    fn unescape(&self, body: &Pair<'_, Rule>) -> Result<String, Error> {
        let raw = body.as_str();
        let base = body.as_span().start();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let bad = |message: &str| Error::syntax(self.text, base + i, message);
            match chars.next().map(|(_, e)| e) {
                Some(e @ ('\'' | '"' | '\\' | '/')) => out.push(e),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                    let code = u32::from_str_radix(&hex, 16).ok().filter(|_| hex.len() == 4);
                    match code.and_then(char::from_u32) {
                        Some(decoded) => out.push(decoded),
                        None => return Err(bad("\\u needs four hex digits of a valid character")),
                    }
                }
                Some(other) => return Err(bad(&format!("unknown escape sequence \\{other}"))),
                None => return Err(bad("a string cannot end with a lone backslash")),
            }
        }
        Ok(out)
    }

    fn path(&self, pair: Pair<'_, Rule>) -> Result<Path, Error> {
        let span = span_of(&pair);
        let segments = pair.into_inner().map(|p| self.segment(p)).collect::<Result<_, _>>()?;
        Ok(Path { segments, span })
    }

    fn segment(&self, pair: Pair<'_, Rule>) -> Result<Segment, Error> {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::escaped => {
                let name = pair.into_inner().next().map(|t| t.as_str()).unwrap_or_default();
                if name.is_empty() {
                    return Err(self.syntax(span, "an escaped name [[...]] cannot be empty"));
                }
                Ok(Segment { name: name.to_string(), escaped: true, span })
            }
            Rule::ident | Rule::member | Rule::system_name => {
                Ok(Segment { name: pair.as_str().to_string(), escaped: false, span })
            }
            _ => Err(internal("path segment")),
        }
    }
}

fn name(pair: &Pair<'_, Rule>) -> Name {
    Name { text: pair.as_str().to_string(), span: span_of(pair) }
}

fn two(args: Vec<Operand>) -> Result<[Operand; 2], Error> {
    <[Operand; 2]>::try_from(args).map_err(|_| internal("two arguments"))
}
