//! Pest pairs → `ast` conditions, operands, literals and paths: function names and arity,
//! string escapes, number ranges, and the nesting bound on NOT and parentheses.

use pest::iterators::Pair;

use super::build::{next, span_of, Builder};
use super::{internal, Rule};
use crate::ast::*;
use crate::error::Error;
use crate::limits::MAX_NESTING;

impl Builder<'_> {
    /// `depth` counts the parentheses and NOTs around `pair`, so that the trees every later
    /// pass walks recursively stay shallow.
    pub(super) fn or_expr(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Expr, Error> {
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
        Ok(Expr {
            kind: make(operands),
            span,
        })
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
            expr = Expr {
                kind: ExprKind::Not(Box::new(expr)),
                span: Span { start, end },
            };
        }
        Ok(expr)
    }

    fn primary(&self, pair: Pair<'_, Rule>, depth: usize) -> Result<Expr, Error> {
        match pair.as_rule() {
            Rule::paren => {
                let inner = pair
                    .into_inner()
                    .next()
                    .ok_or_else(|| internal("parenthesis"))?;
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
                ExprKind::In {
                    operand: left,
                    negated,
                    list,
                }
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
        let mut compared = None;
        let mut args = Vec::new();
        for p in inner {
            match p.as_rule() {
                Rule::compare_tail => compared = Some(span_of(&p)),
                _ => args.push(self.operand(p)?),
            }
        }
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
            let operand = args
                .into_iter()
                .next()
                .ok_or_else(|| internal("argument"))?;
            ExprKind::TypeCheck { check, operand }
        } else if let Some(test) = string_test {
            arity(2)?;
            let [operand, pattern] = two(args)?;
            ExprKind::StringTest {
                test,
                operand,
                pattern,
            }
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
        if let Some(at) = compared {
            return Err(self.syntax(
                at,
                format!("{function}(...) is a condition and cannot be compared with a value"),
            ));
        }
        Ok(Expr { kind, span })
    }

    /// `IS_OF_MODEL([alias,] 'dtmi' [, exact])`
    fn is_of_model(&self, args: Vec<Operand>, span: Span) -> Result<ExprKind, Error> {
        let usage = "IS_OF_MODEL expects ([alias,] 'model id' [, exact])";
        let mut args = args.into_iter().peekable();
        let alias = match args.peek() {
            Some(Operand::Path(path)) => match path.segments.as_slice() {
                [segment] if !segment.escaped => {
                    let alias = Name {
                        text: segment.name.clone(),
                        span: segment.span,
                    };
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
        if twingraph_dtdl::Dtmi::parse(&model).is_none() {
            return Err(self.syntax(
                model_span,
                format!("'{model}' is not a valid model id (DTMI)"),
            ));
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
        Ok(ExprKind::IsOfModel {
            alias,
            model,
            exact,
        })
    }

    fn operand(&self, pair: Pair<'_, Rule>) -> Result<Operand, Error> {
        let pair = match pair.as_rule() {
            Rule::operand => pair
                .into_inner()
                .next()
                .ok_or_else(|| internal("operand"))?,
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
                let body = pair
                    .into_inner()
                    .next()
                    .ok_or_else(|| internal("string body"))?;
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
                    let code = u32::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == 4);
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

    pub(super) fn path(&self, pair: Pair<'_, Rule>) -> Result<Path, Error> {
        let span = span_of(&pair);
        let segments = pair
            .into_inner()
            .map(|p| self.segment(p))
            .collect::<Result<_, _>>()?;
        Ok(Path { segments, span })
    }

    pub(super) fn segment(&self, pair: Pair<'_, Rule>) -> Result<Segment, Error> {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::escaped => {
                let name = pair
                    .into_inner()
                    .next()
                    .map(|t| t.as_str())
                    .unwrap_or_default();
                if name.is_empty() {
                    return Err(self.syntax(span, "an escaped name [[...]] cannot be empty"));
                }
                Ok(Segment {
                    name: name.to_string(),
                    escaped: true,
                    span,
                })
            }
            Rule::ident | Rule::member | Rule::system_name => Ok(Segment {
                name: pair.as_str().to_string(),
                escaped: false,
                span,
            }),
            _ => Err(internal("path segment")),
        }
    }
}

fn two(args: Vec<Operand>) -> Result<[Operand; 2], Error> {
    <[Operand; 2]>::try_from(args).map_err(|_| internal("two arguments"))
}
