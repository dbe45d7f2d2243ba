//! The query-language corpus in `tests/data/queries/`: every entry must parse (and round-trip
//! through `Display`) or fail with the expected kind of error and message. Also the hostile
//! inputs that are too large to keep as data files.

use std::path::{Path, PathBuf};

use twingraph_query::{parse, Error};

#[derive(Debug)]
struct Entry {
    file: String,
    line: usize,
    query: String,
    expect: Expect,
}

#[derive(Debug)]
enum Expect {
    Ok,
    Error { kind: String, substring: String },
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/queries")
}

fn load() -> Vec<Entry> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut entries = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("corpus file");
        let file = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let mut lines: Vec<&str> = Vec::new();
        let mut first_line = 0;
        for (number, line) in text.lines().enumerate() {
            if let Some(expect) = line.strip_prefix("--> ") {
                let expect = match expect.trim() {
                    "ok" => Expect::Ok,
                    other => {
                        let (kind, substring) = other
                            .split_once(": ")
                            .unwrap_or_else(|| panic!("{file}:{number}"));
                        Expect::Error {
                            kind: kind.to_string(),
                            substring: substring.to_string(),
                        }
                    }
                };
                assert!(
                    !lines.is_empty(),
                    "{file}:{}: expectation without a query",
                    number + 1
                );
                entries.push(Entry {
                    file: file.clone(),
                    line: first_line + 1,
                    query: lines.join("\n"),
                    expect,
                });
                lines.clear();
            } else if line.starts_with('#') || (lines.is_empty() && line.is_empty()) {
                continue;
            } else {
                if lines.is_empty() {
                    first_line = number;
                }
                lines.push(line);
            }
        }
        assert!(
            lines.is_empty(),
            "{file}: trailing query without an expectation"
        );
    }
    entries
}

fn kind(error: &Error) -> &'static str {
    match error {
        Error::Syntax { .. } => "syntax",
        Error::Invalid { .. } => "invalid",
        Error::LimitExceeded { .. } => "limit",
        _ => "other",
    }
}

#[test]
fn corpus() {
    let entries = load();
    assert!(
        entries.len() >= 150,
        "the corpus has only {} entries",
        entries.len()
    );
    let mut failures = Vec::new();
    for entry in &entries {
        let at = format!("{}:{}", entry.file, entry.line);
        match (&entry.expect, parse(&entry.query)) {
            (Expect::Ok, Ok(ast)) => {
                let printed = ast.to_string();
                match parse(&printed) {
                    Ok(again) if again == ast => {}
                    Ok(_) => failures.push(format!("{at}: round trip changed the tree: {printed}")),
                    Err(e) => failures.push(format!("{at}: printed text fails: {printed}: {e}")),
                }
            }
            (Expect::Ok, Err(e)) => failures.push(format!("{at}: expected ok, got: {e}")),
            (Expect::Error { .. }, Ok(_)) => failures.push(format!("{at}: expected an error")),
            (
                Expect::Error {
                    kind: want,
                    substring,
                },
                Err(e),
            ) => {
                let message = e.to_string();
                let kind_ok = want == "error" || want == kind(&e);
                if !kind_ok || !message.contains(substring.as_str()) {
                    failures.push(format!(
                        "{at}: expected {want}: {substring}; got: {message}"
                    ));
                }
                if e.position().is_none() {
                    failures.push(format!("{at}: error without a position: {message}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Hostile inputs must fail with a clear message, not overflow the stack. (Speed is not
/// asserted here: the limits are checked by a linear pre-scan before the parser runs.)
fn assert_refused(query: &str, want: &str) {
    let error = parse(query).expect_err("hostile input accepted");
    let message = error.to_string();
    assert!(message.contains(want), "expected '{want}' in: {message}");
}

#[test]
fn a_megabyte_query_is_refused_by_length() {
    let query = format!(
        "SELECT * FROM DIGITALTWINS WHERE name = '{}'",
        "x".repeat(1 << 20)
    );
    assert_refused(&query, "longer than 8000 characters");
}

#[test]
fn ten_thousand_parentheses_are_refused_without_recursion() {
    let query = format!(
        "SELECT * FROM DIGITALTWINS WHERE {}a = 1{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert_refused(&query, "longer than 8000 characters");
    // Under the length limit, the nesting bound still applies before pest runs.
    let query = format!(
        "SELECT * FROM DIGITALTWINS WHERE {}a = 1{}",
        "(".repeat(3_000),
        ")".repeat(3_000)
    );
    assert_refused(&query, "nest deeper than");
    let query = format!(
        "SELECT * FROM DIGITALTWINS WHERE {}a = 1",
        "NOT ".repeat(1_900)
    );
    assert_refused(&query, "nest deeper than");
}

#[test]
fn a_huge_in_list_is_refused() {
    let items: Vec<String> = (0..100_000).map(|i| format!("'{i}'")).collect();
    let query = format!(
        "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN [{}]",
        items.join(",")
    );
    assert_refused(&query, "longer than 8000 characters");
    let items: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let query = format!(
        "SELECT * FROM DIGITALTWINS T WHERE T.x IN [{}]",
        items.join(",")
    );
    assert_refused(&query, "more than 100 items");
    let items: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let query = format!(
        "SELECT * FROM DIGITALTWINS T WHERE T.x IN [{}]",
        items.join(",")
    );
    assert!(parse(&query).is_ok());
}

#[test]
fn the_length_limit_counts_characters_not_bytes() {
    // 7,000 two-byte characters: 14,000 bytes but under the 8,000-character limit.
    let query = format!(
        "SELECT * FROM DIGITALTWINS WHERE name = '{}'",
        "é".repeat(7_000)
    );
    assert!(parse(&query).is_ok());
    let query = format!(
        "SELECT * FROM DIGITALTWINS WHERE name = '{}'",
        "é".repeat(8_000)
    );
    assert_refused(&query, "longer than 8000 characters");
}
