//! The syntax tree of an ADT query, with the byte span of every node in the query text.
//!
//! `Display` prints canonical query text (upper-case keywords, minimal parentheses) that parses
//! back to an equal tree. Equality ignores spans: two trees are equal when they say the same thing.

use std::fmt;

/// Byte offsets `start..end` into the query text.
///
/// Invariant: `Span` equality is always true, so that deriving `PartialEq` on the tree compares
/// meaning, not layout (the print → parse round trip moves every span).
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `EXPLAIN SELECT ...`: return the plan text instead of rows.
    pub explain: bool,
    pub select: Select,
    pub from: From,
    pub filter: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub top: Option<Top>,
    pub list: SelectList,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Top {
    pub count: u64,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectList {
    /// `*`, or nothing at all after `TOP(n)`: whole documents.
    Star(Span),
    /// `COUNT()`
    Count(Span),
    Items(Vec<SelectItem>),
}

/// One projection: an alias (`T`), a property path (`T.a.b`, `name`), optionally renamed.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectItem {
    pub path: Path,
    pub rename: Option<Name>,
    pub span: Span,
}

/// An alias or output name: a plain, non-reserved identifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// A dotted path: `T.a.b`, `$dtId`, `T.$metadata.$model`, `[[Group]]`, `T.tags.[[1abc]]`.
/// Whether the first segment is an alias is decided by the semantic checks, not the parser.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<Segment>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub name: String,
    /// Written as `[[name]]`; an escaped first segment is always a property, never an alias.
    pub escaped: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct From {
    pub collection: Collection,
    pub alias: Option<Name>,
    pub joins: Vec<Join>,
    pub pattern: Option<Pattern>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    DigitalTwins,
    Relationships,
}

/// `JOIN target RELATED source.relationship [alias]`
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub target: Name,
    pub source: Name,
    pub relationship: Segment,
    pub alias: Option<Name>,
    pub span: Span,
}

/// `MATCH (a)-[...]->(b)<-[...]-(c)`
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub start: Node,
    pub steps: Vec<Step>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub edge: Edge,
    pub node: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub alias: Option<Name>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub direction: Direction,
    /// `[r:...]`: binds the relationship; only allowed on single-hop edges.
    pub variable: Option<Name>,
    /// `[:a|b]`; empty means any relationship name.
    pub names: Vec<Segment>,
    /// `None` means exactly one hop.
    pub hops: Option<Hops>,
    pub span: Span,
}

/// Direction of an edge as written, left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `-[]->`
    Right,
    /// `<-[]-`
    Left,
    /// `-[]-`
    Either,
}

/// A hop count as written. Its meaning (ADT's exclusive lower bound or Cypher's inclusive one) is
/// decided at planning time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hops {
    /// `*n`
    Exact(u32),
    /// `*n..m` or `*..m`
    Range { min: Option<u32>, max: u32 },
}

impl Hops {
    /// The largest number of relationships the edge may traverse (for the 10-hop limit).
    pub fn max(self) -> u32 {
        match self {
            Hops::Exact(n) => n,
            Hops::Range { max, .. } => max,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// Two or more operands written as one chain; `(a OR b) OR c` keeps its inner OR.
    Or(Vec<Expr>),
    /// Two or more operands written as one chain, like `Or`.
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        left: Operand,
        op: CompareOp,
        right: Operand,
    },
    /// `x IN [...]`, or `x NIN [...]` when `negated`.
    In {
        operand: Operand,
        negated: bool,
        list: Vec<Literal>,
    },
    /// `IS_OF_MODEL([alias,] 'dtmi' [, exact])`
    IsOfModel {
        alias: Option<Name>,
        model: String,
        exact: bool,
    },
    /// `IS_DEFINED(x)`, `IS_NULL(x)`, ...
    TypeCheck {
        check: TypeCheck,
        operand: Operand,
    },
    /// `STARTSWITH(x, 'p')`, `ENDSWITH`, `CONTAINS`
    StringTest {
        test: StringTest,
        operand: Operand,
        pattern: Operand,
    },
    /// `ARRAY_CONTAINS(array, value)`
    ArrayContains {
        array: Operand,
        value: Operand,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeCheck {
    Defined,
    Null,
    Bool,
    Number,
    String,
    Object,
    Primitive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringTest {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Path(Path),
    Literal(Literal, Span),
}

impl Operand {
    pub fn span(&self) -> Span {
        match self {
            Operand::Path(p) => p.span,
            Operand::Literal(_, span) => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
    Null,
}

impl Literal {
    /// The literal as a JSON value, for comparison with document values.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Literal::String(s) => serde_json::Value::String(s.clone()),
            Literal::Number(n) => serde_json::Value::Number(n.clone()),
            Literal::Bool(b) => serde_json::Value::Bool(*b),
            Literal::Null => serde_json::Value::Null,
        }
    }
}

// ---------------------------------------------------------------- Display: canonical query text

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.explain {
            f.write_str("EXPLAIN ")?;
        }
        write!(f, "{} {}", self.select, self.from)?;
        if let Some(filter) = &self.filter {
            write!(f, " WHERE {filter}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Select {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        if let Some(top) = &self.top {
            write!(f, "TOP({}) ", top.count)?;
        }
        match &self.list {
            SelectList::Star(_) => f.write_str("*"),
            SelectList::Count(_) => f.write_str("COUNT()"),
            SelectList::Items(items) => comma_separated(f, items),
        }
    }
}

impl fmt::Display for SelectItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(rename) = &self.rename {
            write!(f, " AS {rename}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{segment}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.escaped {
            write!(f, "[[{}]]", self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

impl fmt::Display for From {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.collection {
            Collection::DigitalTwins => "FROM DIGITALTWINS",
            Collection::Relationships => "FROM RELATIONSHIPS",
        })?;
        if let Some(alias) = &self.alias {
            write!(f, " {alias}")?;
        }
        for join in &self.joins {
            write!(f, " {join}")?;
        }
        if let Some(pattern) = &self.pattern {
            write!(f, " MATCH {pattern}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Join {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "JOIN {} RELATED {}.{}",
            self.target, self.source, self.relationship
        )?;
        if let Some(alias) = &self.alias {
            write!(f, " {alias}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.start)?;
        for step in &self.steps {
            write!(f, "{}{}", step.edge, step.node)?;
        }
        Ok(())
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.alias {
            Some(alias) => write!(f, "({alias})"),
            None => f.write_str("()"),
        }
    }
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_edge(f, self.direction, &|f: &mut fmt::Formatter<'_>| {
            if let Some(variable) = &self.variable {
                write!(f, "{variable}")?;
            }
            write_names(f, &self.names)?;
            match self.hops {
                None => Ok(()),
                Some(Hops::Exact(n)) => write!(f, "*{n}"),
                Some(Hops::Range {
                    min: Some(min),
                    max,
                }) => write!(f, "*{min}..{max}"),
                Some(Hops::Range { min: None, max }) => write!(f, "*..{max}"),
            }
        })
    }
}

/// Binding strength, to print the fewest parentheses that keep the tree's shape.
fn precedence(kind: &ExprKind) -> u8 {
    match kind {
        ExprKind::Or(_) => 1,
        ExprKind::And(_) => 2,
        ExprKind::Not(_) => 3,
        _ => 4,
    }
}

/// Print `child`, parenthesised when it binds no tighter than its parent. Equal strength needs
/// parentheses too: `a AND (b AND c)` must not print as a flat chain, or it would parse back as
/// one three-operand AND (the parser flattens only what was written flat).
fn write_operand(f: &mut fmt::Formatter<'_>, child: &Expr, parent: u8) -> fmt::Result {
    if precedence(&child.kind) <= parent {
        write!(f, "({child})")
    } else {
        write!(f, "{child}")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let own = precedence(&self.kind);
        match &self.kind {
            ExprKind::Or(items) | ExprKind::And(items) => {
                let op = if own == 1 { " OR " } else { " AND " };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(op)?;
                    }
                    write_operand(f, item, own)?;
                }
                Ok(())
            }
            ExprKind::Not(inner) => {
                f.write_str("NOT ")?;
                // NOT NOT x is written flat, so only weaker operators need parentheses.
                if precedence(&inner.kind) < own {
                    write!(f, "({inner})")
                } else {
                    write!(f, "{inner}")
                }
            }
            ExprKind::Compare { left, op, right } => write!(f, "{left} {op} {right}"),
            ExprKind::In {
                operand,
                negated,
                list,
            } => write_in(f, operand, *negated, list),
            ExprKind::IsOfModel {
                alias,
                model,
                exact,
            } => {
                let model = Quoted(model);
                match (alias, exact) {
                    (Some(alias), true) => write_call(f, "IS_OF_MODEL", &[alias, &model, &"exact"]),
                    (Some(alias), false) => write_call(f, "IS_OF_MODEL", &[alias, &model]),
                    (None, true) => write_call(f, "IS_OF_MODEL", &[&model, &"exact"]),
                    (None, false) => write_call(f, "IS_OF_MODEL", &[&model]),
                }
            }
            ExprKind::TypeCheck { check, operand } => write_call(f, check.name(), &[operand]),
            ExprKind::StringTest {
                test,
                operand,
                pattern,
            } => write_call(f, test.name(), &[operand, pattern]),
            ExprKind::ArrayContains { array, value } => {
                write_call(f, ARRAY_CONTAINS, &[array, value])
            }
        }
    }
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Gt => ">",
            CompareOp::Le => "<=",
            CompareOp::Ge => ">=",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl TypeCheck {
    pub fn name(self) -> &'static str {
        match self {
            TypeCheck::Defined => "IS_DEFINED",
            TypeCheck::Null => "IS_NULL",
            TypeCheck::Bool => "IS_BOOL",
            TypeCheck::Number => "IS_NUMBER",
            TypeCheck::String => "IS_STRING",
            TypeCheck::Object => "IS_OBJECT",
            TypeCheck::Primitive => "IS_PRIMITIVE",
        }
    }
}

impl StringTest {
    /// The functions reference's spelling; the parser also accepts STARTS_WITH and ENDS_WITH.
    pub fn name(self) -> &'static str {
        match self {
            StringTest::StartsWith => "STARTSWITH",
            StringTest::EndsWith => "ENDSWITH",
            StringTest::Contains => "CONTAINS",
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Path(path) => write!(f, "{path}"),
            Operand::Literal(literal, _) => write!(f, "{literal}"),
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "{}", Quoted(s)),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Bool(true) => f.write_str("true"),
            Literal::Bool(false) => f.write_str("false"),
            Literal::Null => f.write_str("null"),
        }
    }
}

// ---------------------------------------------------------------- pieces shared with EXPLAIN
//
// The plan's EXPLAIN text (plan.rs) prints predicates and edges with these same functions, so a
// plan reads like the query language and the two cannot drift apart.

pub(crate) const ARRAY_CONTAINS: &str = "ARRAY_CONTAINS";

/// A string as a single-quoted literal with backslash escapes, as the parser reads it back.
pub(crate) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'")?;
        for c in self.0.chars() {
            match c {
                '\'' => f.write_str("\\'")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("'")
    }
}

/// A JSON value from a literal (string, number, bool, null) written as that literal.
pub(crate) struct LiteralValue<'a>(pub &'a serde_json::Value);

impl fmt::Display for LiteralValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            serde_json::Value::String(s) => write!(f, "{}", Quoted(s)),
            other => write!(f, "{other}"),
        }
    }
}

/// A property or relationship name after a dot or colon: bare when the grammar's `member` or
/// `system_name` reads it back, else `[[escaped]]`.
pub(crate) struct Member<'a>(pub &'a str);

impl fmt::Display for Member<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0.strip_prefix('$').unwrap_or(self.0);
        let mut chars = name.chars();
        let plain = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if plain {
            f.write_str(self.0)
        } else {
            write!(f, "[[{}]]", self.0)
        }
    }
}

/// `NAME(a, b, ...)`: the form of every WHERE function.
pub(crate) fn write_call(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    args: &[&dyn fmt::Display],
) -> fmt::Result {
    write!(f, "{name}(")?;
    comma_separated(f, args)?;
    f.write_str(")")
}

/// `x IN [a, b]`, or `x NIN [...]` when `negated`.
pub(crate) fn write_in<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    operand: &dyn fmt::Display,
    negated: bool,
    list: &[T],
) -> fmt::Result {
    write!(f, "{operand} {} [", if negated { "NIN" } else { "IN" })?;
    comma_separated(f, list)?;
    f.write_str("]")
}

/// `-[inside]->`, `<-[inside]-` or `-[inside]-`.
pub(crate) fn write_edge(
    f: &mut fmt::Formatter<'_>,
    direction: Direction,
    inside: &dyn Fn(&mut fmt::Formatter<'_>) -> fmt::Result,
) -> fmt::Result {
    f.write_str(if direction == Direction::Left {
        "<-["
    } else {
        "-["
    })?;
    inside(f)?;
    f.write_str(if direction == Direction::Right {
        "]->"
    } else {
        "]-"
    })
}

/// `:a|b` (nothing when `names` is empty).
pub(crate) fn write_names<T: fmt::Display>(f: &mut fmt::Formatter<'_>, names: &[T]) -> fmt::Result {
    for (i, name) in names.iter().enumerate() {
        f.write_str(if i == 0 { ":" } else { "|" })?;
        write!(f, "{name}")?;
    }
    Ok(())
}

pub(crate) fn comma_separated<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}
