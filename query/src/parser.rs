//! Query text → syntax tree. The only module that touches pest types.
//!
//! Before pest runs, a linear pre-scan enforces the text-length limit and bounds the nesting
//! depth: pest's parser is recursive, and 10,000 parentheses would overflow the stack.
//! Afterwards the builder turns pairs into `ast` nodes and reports what the grammar leaves
//! open (function names and arity, hop ranges, string escapes) with a position and a reason.

use pest::error::{ErrorVariant, InputLocation};
use pest::Parser as _;

use crate::ast::Query;
use crate::error::Error;
use crate::limits::{MAX_NESTING, MAX_QUERY_CHARS};

mod build;
mod condition;
#[cfg(test)]
mod tests;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
pub(crate) struct QueryParser;

/// Parses the text into a tree without the semantic checks (see `check.rs`).
pub(crate) fn parse_syntax(text: &str) -> Result<Query, Error> {
    prescan(text)?;
    let mut pairs = QueryParser::parse(Rule::query, text).map_err(|e| syntax_error(text, &e))?;
    let query = pairs.next().ok_or_else(|| internal("no query pair"))?;
    build::Builder { text }.query(query)
}

/// Length and nesting checks that must happen before the recursive parser sees the text.
fn prescan(text: &str) -> Result<(), Error> {
    if text.len() > MAX_QUERY_CHARS {
        if let Some((offset, _)) = text.char_indices().nth(MAX_QUERY_CHARS) {
            return Err(Error::limit(
                text,
                offset,
                format!("the query text is longer than {MAX_QUERY_CHARS} characters"),
            ));
        }
    }
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(Error::syntax(text, start, "unterminated string literal"))
                        }
                        Some(b'\\') => i += 2,
                        Some(&b) if b == quote => break,
                        Some(_) => i += 1,
                    }
                }
            }
            b'[' if bytes.get(i + 1) == Some(&b'[') => {
                // An escaped identifier: brackets and quotes inside it are plain characters.
                match text[i + 2..].find("]]") {
                    Some(end) => i += 2 + end + 1,
                    None => {
                        return Err(Error::syntax(
                            text,
                            i,
                            "unterminated escaped name: missing ]]",
                        ))
                    }
                }
            }
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Error::limit(
                        text,
                        i,
                        format!("parentheses and brackets nest deeper than {MAX_NESTING} levels"),
                    ));
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

pub(crate) fn internal(what: &str) -> Error {
    Error::Internal(format!("grammar and parser disagree: {what}"))
}

/// Turns pest's "expected rule list" into words a query author knows.
fn syntax_error(text: &str, error: &pest::error::Error<Rule>) -> Error {
    let offset = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((start, _)) => start,
    };
    let message = match &error.variant {
        ErrorVariant::CustomError { message } => message.clone(),
        ErrorVariant::ParsingError { positives, .. } => {
            let mut expected: Vec<&str> = positives.iter().map(describe).collect();
            expected.sort_unstable();
            expected.dedup();
            let found = found_at(text, offset);
            match expected.as_slice() {
                [] => format!("unexpected {found}"),
                [one] => format!("expected {one}, found {found}"),
                [init @ .., last] => {
                    format!("expected {} or {last}, found {found}", init.join(", "))
                }
            }
        }
    };
    Error::syntax(text, offset, message)
}

fn found_at(text: &str, offset: usize) -> String {
    let rest = text.get(offset..).unwrap_or_default();
    let token: String = rest
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .chars()
        .take(24)
        .collect();
    if token.is_empty() {
        "the end of the query".to_string()
    } else {
        format!("'{token}'")
    }
}

fn describe(rule: &Rule) -> &'static str {
    match rule {
        Rule::EOI => "the end of the query",
        Rule::explain_kw => "EXPLAIN",
        // At the start of the text pest reports the whole query as expected.
        Rule::select_kw | Rule::query | Rule::select_clause => "SELECT",
        Rule::top_kw => "TOP",
        Rule::count_kw => "COUNT()",
        Rule::as_kw => "AS",
        Rule::from_kw => "FROM",
        Rule::collection | Rule::digitaltwins_kw | Rule::relationships_kw => {
            "DIGITALTWINS or RELATIONSHIPS"
        }
        Rule::join_kw | Rule::join => "JOIN",
        Rule::related_kw => "RELATED",
        Rule::match_kw | Rule::match_clause => "MATCH",
        Rule::where_kw | Rule::where_clause => "WHERE",
        Rule::and_kw => "AND",
        Rule::or_kw => "OR",
        Rule::not_kw => "NOT",
        Rule::in_kw | Rule::nin_kw | Rule::in_tail => "IN or NIN",
        Rule::compare_op | Rule::compare_tail => "a comparison operator",
        Rule::select_list | Rule::projection | Rule::star | Rule::count => {
            "*, COUNT() or a projection"
        }
        Rule::top | Rule::integer | Rule::hop_min | Rule::hop_max => "a whole number",
        Rule::alias | Rule::ident | Rule::from_alias | Rule::edge_var => "a name",
        Rule::path | Rule::member | Rule::system_name | Rule::escaped | Rule::escaped_text => {
            "a property path"
        }
        Rule::operand
        | Rule::string
        | Rule::number
        | Rule::true_kw
        | Rule::false_kw
        | Rule::null_kw
        | Rule::single_text
        | Rule::double_text => "a value or property path",
        Rule::or_expr
        | Rule::and_expr
        | Rule::unary
        | Rule::paren
        | Rule::call
        | Rule::predicate
        | Rule::func_name => "a condition",
        Rule::node => "a node such as (t)",
        Rule::edge | Rule::arrow_in | Rule::arrow_out | Rule::dash => "an edge such as -[:name]->",
        Rule::edge_names => "':' and relationship names",
        Rule::hops | Rule::hop_dots => "a hop count such as *2 or *1..3",
        // Silent and structural rules do not appear in pest's expectations.
        _ => "valid query text",
    }
}
