//! Parser unit tests: the tree built for each construct, and the position and message of each
//! syntax error. Semantic errors are covered by `check.rs` and the corpus.

use super::parse_syntax;
use crate::ast::*;
use crate::error::{Error, Position};

fn parse(text: &str) -> Query {
    match parse_syntax(text) {
        Ok(q) => q,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn filter(text: &str) -> ExprKind {
    parse(text).filter.expect("a WHERE clause").kind
}

fn syntax_error(text: &str) -> (Position, String) {
    match parse_syntax(text) {
        Err(Error::Syntax { position, message }) => (position, message),
        other => panic!("{text}: expected a syntax error, got {other:?}"),
    }
}

fn path(p: &Operand) -> Vec<(&str, bool)> {
    match p {
        Operand::Path(p) => p
            .segments
            .iter()
            .map(|s| (s.name.as_str(), s.escaped))
            .collect(),
        Operand::Literal(..) => panic!("not a path"),
    }
}

#[test]
fn select_star_from_twins() {
    let q = parse("SELECT * FROM DIGITALTWINS");
    assert!(!q.explain);
    assert!(q.select.top.is_none());
    assert!(matches!(q.select.list, SelectList::Star(_)));
    assert_eq!(q.from.collection, Collection::DigitalTwins);
    assert!(q.from.alias.is_none() && q.from.joins.is_empty() && q.from.pattern.is_none());
    assert!(q.filter.is_none());
}

#[test]
fn top_with_and_without_a_list() {
    for text in [
        "SELECT TOP(5) FROM DIGITALTWINS",
        "SELECT TOP (5) FROM DIGITALTWINS",
    ] {
        let q = parse(text);
        assert_eq!(q.select.top.as_ref().map(|t| t.count), Some(5));
        assert!(matches!(q.select.list, SelectList::Star(_)));
    }
    let q = parse("SELECT TOP(3) Room, Temperature FROM DIGITALTWINS");
    let SelectList::Items(items) = &q.select.list else {
        panic!("items")
    };
    assert_eq!(items.len(), 2);
    assert_eq!(q.select.top.map(|t| t.count), Some(3));
}

#[test]
fn count_and_projections() {
    assert!(matches!(
        parse("SELECT COUNT() FROM RELATIONSHIPS").select.list,
        SelectList::Count(_)
    ));
    let q = parse("SELECT T.name AS n, F, T.$metadata.$model FROM DIGITALTWINS T");
    let SelectList::Items(items) = &q.select.list else {
        panic!("items")
    };
    assert_eq!(items[0].rename.as_ref().map(|r| r.text.as_str()), Some("n"));
    assert_eq!(items[1].path.segments.len(), 1);
    let names: Vec<&str> = items[2]
        .path
        .segments
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["T", "$metadata", "$model"]);
}

#[test]
fn escaped_segments_anywhere_in_a_path() {
    let q = parse("SELECT T.tags.[[1abc]], [[Group]] FROM DIGITALTWINS T");
    let SelectList::Items(items) = &q.select.list else {
        panic!("items")
    };
    let first = &items[0].path.segments;
    assert_eq!((first[2].name.as_str(), first[2].escaped), ("1abc", true));
    assert_eq!(
        (
            items[1].path.segments[0].name.as_str(),
            items[1].path.segments[0].escaped
        ),
        ("Group", true)
    );
}

#[test]
fn joins_chain_with_optional_relationship_alias() {
    let q = parse(
        "SELECT LightBulb FROM DIGITALTWINS Room JOIN LightPanel RELATED Room.contains \
         JOIN LightBulb RELATED LightPanel.contains R WHERE Room.$dtId = 'r'",
    );
    assert_eq!(q.from.alias.as_ref().map(|a| a.text.as_str()), Some("Room"));
    let j = &q.from.joins;
    assert_eq!(j.len(), 2);
    assert_eq!(
        (j[0].target.text.as_str(), j[0].source.text.as_str()),
        ("LightPanel", "Room")
    );
    assert_eq!(j[0].relationship.name, "contains");
    assert!(j[0].alias.is_none());
    assert_eq!(j[1].alias.as_ref().map(|a| a.text.as_str()), Some("R"));
}

#[test]
fn match_directions_names_hops_and_variables() {
    let q = parse(
        "SELECT a FROM DIGITALTWINS MATCH (a)-[r:contains|feeds]->(b)<-[:has*..3]-()-[*1..3]-(d)-[*2]->(e)-[]->(f)",
    );
    let p = q.from.pattern.expect("pattern");
    assert_eq!(p.start.alias.as_ref().map(|a| a.text.as_str()), Some("a"));
    let s = &p.steps;
    assert_eq!(s.len(), 5);
    assert_eq!(s[0].edge.direction, Direction::Right);
    assert_eq!(
        s[0].edge.variable.as_ref().map(|v| v.text.as_str()),
        Some("r")
    );
    let names: Vec<&str> = s[0].edge.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["contains", "feeds"]);
    assert_eq!(s[0].edge.hops, None);
    assert_eq!(s[1].edge.direction, Direction::Left);
    assert_eq!(s[1].edge.hops, Some(Hops::Range { min: None, max: 3 }));
    assert!(s[1].node.alias.is_none());
    assert_eq!(s[2].edge.direction, Direction::Either);
    assert_eq!(
        s[2].edge.hops,
        Some(Hops::Range {
            min: Some(1),
            max: 3
        })
    );
    assert_eq!(s[3].edge.hops, Some(Hops::Exact(2)));
    assert!(s[4].edge.names.is_empty() && s[4].edge.variable.is_none());
}

#[test]
fn a_lone_node_is_a_pattern() {
    let q = parse("SELECT t FROM DIGITALTWINS MATCH (t)");
    let p = q.from.pattern.expect("pattern");
    assert!(p.steps.is_empty());
}

#[test]
fn boolean_operators_bind_not_and_or_in_that_order() {
    let ExprKind::Or(items) =
        filter("SELECT * FROM DIGITALTWINS WHERE a = 1 OR b = 2 AND NOT c = 3")
    else {
        panic!("OR at the top")
    };
    assert!(matches!(items[0].kind, ExprKind::Compare { .. }));
    let ExprKind::And(ands) = &items[1].kind else {
        panic!("AND under OR")
    };
    assert!(matches!(ands[1].kind, ExprKind::Not(_)));
}

#[test]
fn chains_are_n_ary_and_parentheses_keep_their_shape() {
    let ExprKind::And(items) = filter("SELECT * FROM DIGITALTWINS WHERE a = 1 AND b = 2 AND c = 3")
    else {
        panic!("AND")
    };
    assert_eq!(items.len(), 3);
    let ExprKind::And(items) =
        filter("SELECT * FROM DIGITALTWINS WHERE (a = 1 AND b = 2) AND c = 3")
    else {
        panic!("AND")
    };
    assert_eq!(items.len(), 2);
    assert!(matches!(items[0].kind, ExprKind::And(_)));
    assert!(matches!(
        filter("SELECT * FROM DIGITALTWINS WHERE ((a = 1))"),
        ExprKind::Compare { .. }
    ));
}

#[test]
fn comparison_operators() {
    for (text, op) in [
        ("=", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<", CompareOp::Lt),
        (">", CompareOp::Gt),
        ("<=", CompareOp::Le),
        (">=", CompareOp::Ge),
    ] {
        let kind = filter(&format!("SELECT * FROM DIGITALTWINS WHERE T.x{text}5"));
        let ExprKind::Compare {
            left,
            op: got,
            right,
        } = kind
        else {
            panic!("compare")
        };
        assert_eq!(got, op);
        assert_eq!(path(&left), [("T", false), ("x", false)]);
        assert!(matches!(right, Operand::Literal(Literal::Number(_), _)));
    }
}

#[test]
fn in_and_nin_lists() {
    let kind = filter("SELECT * FROM DIGITALTWINS WHERE x IN ['a', 1, true, null]");
    let ExprKind::In { negated, list, .. } = kind else {
        panic!("IN")
    };
    assert!(!negated);
    assert_eq!(
        list,
        [
            Literal::String("a".into()),
            Literal::Number(1.into()),
            Literal::Bool(true),
            Literal::Null
        ]
    );
    let kind = filter("SELECT * FROM DIGITALTWINS WHERE x nin []");
    assert!(matches!(kind, ExprKind::In { negated: true, ref list, .. } if list.is_empty()));
}

#[test]
fn functions_and_their_spellings() {
    let kind = filter(
        "SELECT * FROM DIGITALTWINS DT WHERE IS_OF_MODEL(DT, 'dtmi:example:thing;1', exact)",
    );
    let ExprKind::IsOfModel {
        alias,
        model,
        exact,
    } = kind
    else {
        panic!("IS_OF_MODEL")
    };
    assert_eq!(alias.map(|a| a.text), Some("DT".to_string()));
    assert_eq!(model, "dtmi:example:thing;1");
    assert!(exact);
    let kind = filter("SELECT * FROM DIGITALTWINS WHERE is_of_model('dtmi:a:b;2')");
    assert!(matches!(
        kind,
        ExprKind::IsOfModel {
            alias: None,
            exact: false,
            ..
        }
    ));
    for (name, check) in [
        ("IS_DEFINED", TypeCheck::Defined),
        ("IS_NULL", TypeCheck::Null),
        ("IS_BOOL", TypeCheck::Bool),
        ("IS_NUMBER", TypeCheck::Number),
        ("IS_STRING", TypeCheck::String),
        ("IS_OBJECT", TypeCheck::Object),
        ("is_primitive", TypeCheck::Primitive),
    ] {
        let kind = filter(&format!("SELECT * FROM DIGITALTWINS WHERE {name}(a.b)"));
        assert!(
            matches!(kind, ExprKind::TypeCheck { check: c, .. } if c == check),
            "{name}"
        );
    }
    for (name, test) in [
        ("STARTSWITH", StringTest::StartsWith),
        ("STARTS_WITH", StringTest::StartsWith),
        ("ENDSWITH", StringTest::EndsWith),
        ("ends_with", StringTest::EndsWith),
        ("CONTAINS", StringTest::Contains),
    ] {
        let kind = filter(&format!(
            "SELECT * FROM DIGITALTWINS WHERE {name}($dtId, 'x')"
        ));
        assert!(
            matches!(kind, ExprKind::StringTest { test: t, .. } if t == test),
            "{name}"
        );
    }
    let kind = filter("SELECT * FROM DIGITALTWINS WHERE ARRAY_CONTAINS(floors, 2)");
    assert!(matches!(kind, ExprKind::ArrayContains { .. }));
}

#[test]
fn string_literals_and_escapes() {
    let cases = [
        (r"'D\'Souza'", "D'Souza"),
        (r#""say \"hi\"""#, "say \"hi\""),
        (r#""it's""#, "it's"),
        (r"'a\\b\/c'", "a\\b/c"),
        (r"'\n\r\t\b\f'", "\n\r\t\u{8}\u{c}"),
        (r"'\u00e9\u6E29'", "é温"),
        ("''", ""),
    ];
    for (literal, value) in cases {
        let kind = filter(&format!("SELECT * FROM DIGITALTWINS WHERE x = {literal}"));
        let ExprKind::Compare {
            right: Operand::Literal(Literal::String(s), _),
            ..
        } = kind
        else {
            panic!("{literal}")
        };
        assert_eq!(s, value, "{literal}");
    }
}

#[test]
fn number_literals() {
    let cases: [(&str, serde_json::Value); 7] = [
        ("42", 42.into()),
        ("-42", (-42).into()),
        ("3.25", 3.25.into()),
        ("-0.5", (-0.5).into()),
        ("1e3", 1000.0.into()),
        ("2.5E-2", 0.025.into()),
        ("18446744073709551615", u64::MAX.into()),
    ];
    for (text, value) in cases {
        let kind = filter(&format!("SELECT * FROM DIGITALTWINS WHERE x = {text}"));
        let ExprKind::Compare {
            right: Operand::Literal(literal, _),
            ..
        } = kind
        else {
            panic!("{text}")
        };
        assert_eq!(literal.to_json(), value, "{text}");
    }
}

#[test]
fn keywords_are_case_insensitive_and_newlines_are_whitespace() {
    let a = parse("select top(2) T.x as y from digitaltwins T where not T.a in [1] or T.b = true");
    let b =
        parse("SELECT\nTOP(2) T.x AS y\r\nFROM DIGITALTWINS T\tWHERE NOT T.a IN [1] OR T.b = TRUE");
    assert_eq!(a, b);
}

#[test]
fn every_reserved_word_is_refused_as_an_alias() {
    let reserved = [
        "ALL",
        "AND",
        "AS",
        "ASC",
        "AVG",
        "BY",
        "COUNT",
        "DESC",
        "DEVICES_JOBS",
        "DEVICES_MODULES",
        "DEVICES",
        "ENDS_WITH",
        "FALSE",
        "FROM",
        "GROUP",
        "IN",
        "IS_BOOL",
        "IS_DEFINED",
        "IS_NULL",
        "IS_NUMBER",
        "IS_OBJECT",
        "IS_PRIMITIVE",
        "IS_STRING",
        "MAX",
        "MIN",
        "NOT",
        "NOT_IN",
        "NULL",
        "OR",
        "ORDER",
        "SELECT",
        "STARTS_WITH",
        "SUM",
        "TOP",
        "TRUE",
        "WHERE",
        "IS_OF_MODEL",
        "JOIN",
        "RELATED",
        "MATCH",
        "NIN",
        "DIGITALTWINS",
        "RELATIONSHIPS",
    ];
    for word in reserved {
        for spelling in [word.to_string(), word.to_ascii_lowercase()] {
            let text = format!("SELECT * FROM DIGITALTWINS {spelling} WHERE {spelling}.x = 1");
            assert!(
                parse_syntax(&text).is_err(),
                "{spelling} accepted as an alias"
            );
            let escaped = format!("SELECT * FROM DIGITALTWINS WHERE [[{spelling}]] = 1");
            assert!(parse_syntax(&escaped).is_ok(), "[[{spelling}]] refused");
            let member = format!("SELECT * FROM DIGITALTWINS T WHERE T.{spelling} = 1");
            assert!(parse_syntax(&member).is_ok(), "T.{spelling} refused");
        }
    }
    // Words that merely start with a reserved word are names.
    for word in [
        "orders",
        "index",
        "notes",
        "asc1",
        "tops",
        "devices_x",
        "selected",
        "Contains",
    ] {
        let text = format!("SELECT {word} FROM DIGITALTWINS {word} WHERE {word}.x = 1");
        assert!(parse_syntax(&text).is_ok(), "{word} refused");
    }
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let (at, message) = syntax_error("SELECT * FORM DIGITALTWINS");
    assert_eq!(
        at,
        Position {
            line: 1,
            column: 10
        }
    );
    assert_eq!(message, "expected FROM, found 'FORM'");
    let (at, message) = syntax_error("SELECT *\nFROM DIGITALTWINS\nWHERE x = ");
    assert_eq!(at.line, 3);
    assert_eq!(at.column, 11);
    assert!(message.contains("value or property path") && message.contains("end of the query"));
    let (at, message) = syntax_error("SELECT * FROM DIGITALTWINS WHERE x = 'abc");
    assert_eq!(
        at,
        Position {
            line: 1,
            column: 38
        }
    );
    assert_eq!(message, "unterminated string literal");
    let (at, _) = syntax_error("SELECT * FROM DIGITALTWINS WHERE FOO(x)");
    assert_eq!(at.column, 34);
}

#[test]
fn errors_for_malformed_constructs() {
    let cases = [
        ("SELECT * FROM DIGITALTWINS AS T", "AS is not used in FROM"),
        (
            "SELECT FROM DIGITALTWINS",
            "expected *, COUNT() or a projection after SELECT",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE x = '\\q'",
            "unknown escape sequence \\q",
        ),
        ("SELECT * FROM DIGITALTWINS WHERE x = 1e400", "out of range"),
        (
            "SELECT * FROM DIGITALTWINS WHERE x IN [y]",
            "literal values only",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE IS_NULL(a, b)",
            "IS_NULL takes 1 argument",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE CONTAINS(a)",
            "CONTAINS takes 2 arguments",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('x')",
            "not a valid model id",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:a:b;1', 1)",
            "bare keyword exact",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE [[]] = 1",
            "cannot be empty",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE [[x = 1",
            "unterminated escaped name",
        ),
        (
            "SELECT a FROM DIGITALTWINS MATCH (a)<-[]->(b)",
            "at most one arrow head",
        ),
        (
            "SELECT a FROM DIGITALTWINS MATCH (a)-[*]->(b)",
            "needs a hop count",
        ),
        (
            "SELECT a FROM DIGITALTWINS MATCH (a)-[*2..]->(b)",
            "needs an upper bound",
        ),
        (
            "SELECT a FROM DIGITALTWINS a JOIN b RELATED a WHERE a.$dtId = 'x'",
            "<alias>.<relationship name>",
        ),
        (
            "SELECT a FROM DIGITALTWINS a JOIN b RELATED a.r AS x",
            "AS is not used in JOIN",
        ),
    ];
    for (text, want) in cases {
        match parse_syntax(text) {
            Err(e) => assert!(e.to_string().contains(want), "{text}: {e}"),
            Ok(_) => panic!("{text}: accepted"),
        }
    }
}

#[test]
fn limits_checked_by_the_parser() {
    let long = format!(
        "SELECT * FROM DIGITALTWINS WHERE x = '{}'",
        "a".repeat(8_000)
    );
    assert!(matches!(
        parse_syntax(&long),
        Err(Error::LimitExceeded { .. })
    ));
    let deep = format!(
        "SELECT * FROM DIGITALTWINS WHERE {}x = 1{}",
        "(".repeat(33),
        ")".repeat(33)
    );
    assert!(matches!(
        parse_syntax(&deep),
        Err(Error::LimitExceeded { .. })
    ));
    let ok = format!(
        "SELECT * FROM DIGITALTWINS WHERE {}x = 1{}",
        "(".repeat(32),
        ")".repeat(32)
    );
    assert!(parse_syntax(&ok).is_ok());
    let two = "SELECT a FROM DIGITALTWINS MATCH (a) MATCH (b)";
    assert!(matches!(
        parse_syntax(two),
        Err(Error::LimitExceeded { .. })
    ));
    let top = "SELECT TOP(123456789012345678901234567890) FROM DIGITALTWINS";
    assert!(matches!(
        parse_syntax(top),
        Err(Error::LimitExceeded { .. })
    ));
}

/// The nesting bound is what keeps pest's recursion safe: the deepest query allowed must parse
/// on a thread with a small stack (tokio's blocking threads have 2 MiB; we allow far less).
#[test]
fn the_deepest_allowed_query_parses_on_a_small_stack() {
    let depth = crate::limits::MAX_NESTING;
    let mut condition = "x = 1".to_string();
    for _ in 0..depth {
        condition = format!("(NOT {condition} AND y IN [1])");
    }
    // Parentheses alone reach the bound; NOTs count towards it too, so use half of each.
    let half = depth / 2;
    let mixed = format!(
        "{}{}x = 1{}",
        "(".repeat(half),
        "NOT ".repeat(half - 1),
        ")".repeat(half)
    );
    let texts = [
        format!(
            "SELECT * FROM DIGITALTWINS WHERE {}x = 1{}",
            "(".repeat(depth),
            ")".repeat(depth)
        ),
        format!("SELECT * FROM DIGITALTWINS WHERE {mixed}"),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || texts.iter().all(|t| parse_syntax(t).is_ok()))
        .expect("spawn");
    assert!(handle.join().expect("no stack overflow"));
    // `condition` nests NOT and parentheses together: over the bound, refused.
    assert!(parse_syntax(&format!("SELECT * FROM DIGITALTWINS WHERE {condition}")).is_err());
}

#[test]
fn explain_prefix() {
    assert!(parse("EXPLAIN SELECT * FROM DIGITALTWINS").explain);
    assert!(parse("explain select * from digitaltwins").explain);
}

#[test]
fn display_prints_canonical_text() {
    let cases = [
        ("select * from digitaltwins", "SELECT * FROM DIGITALTWINS"),
        ("SELECT TOP (5) FROM DIGITALTWINS", "SELECT TOP(5) * FROM DIGITALTWINS"),
        (
            "select t.a as b from digitaltwins t where (t.x = 1 or t.y = 2) and not t.z in ['q']",
            "SELECT t.a AS b FROM DIGITALTWINS t WHERE (t.x = 1 OR t.y = 2) AND NOT t.z IN ['q']",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE a = 1 AND (b = 2 AND c = 3)",
            "SELECT * FROM DIGITALTWINS WHERE a = 1 AND (b = 2 AND c = 3)",
        ),
        (
            r#"SELECT * FROM DIGITALTWINS WHERE n = "it's \\ \u0001""#,
            r"SELECT * FROM DIGITALTWINS WHERE n = 'it\'s \\ \u0001'",
        ),
        (
            "SELECT a FROM DIGITALTWINS MATCH (a)-[r:x|[[y z]]]->()<-[*..3]-(c)-[*1..2]-(d)",
            "SELECT a FROM DIGITALTWINS MATCH (a)-[r:x|[[y z]]]->()<-[*..3]-(c)-[*1..2]-(d)",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE starts_with($dtId, 'a') AND IS_OF_MODEL('dtmi:a:b;1', exact)",
            "SELECT * FROM DIGITALTWINS WHERE STARTSWITH($dtId, 'a') AND IS_OF_MODEL('dtmi:a:b;1', exact)",
        ),
    ];
    for (text, printed) in cases {
        let q = parse(text);
        assert_eq!(q.to_string(), printed);
        assert_eq!(parse(printed), q, "{printed}");
    }
}
