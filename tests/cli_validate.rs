//! `twingraph validate` end to end: the real binary on fixture folders and on NDJSON batches.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixtures(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dtdl")
        .join(name)
}

fn twingraph(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twingraph"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn twingraph");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    child.wait_with_output().expect("wait for twingraph")
}

#[test]
fn valid_folder_exits_zero() {
    let dir = fixtures("valid");
    let out = twingraph(&["validate", dir.to_str().unwrap()], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn one_file_alone_misses_its_dependencies() {
    let file = fixtures("valid").join("thermostat.json");
    let out = twingraph(&["validate", file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("thermostat.json: dtmi:com:example:Thermostat;1: unresolvedIdentifiers:"),
        "{stdout}"
    );
}

#[test]
fn invalid_folder_reports_file_element_rule() {
    let dir = fixtures("invalid");
    let out = twingraph(&["validate", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The invalid name still yields the element's automatic id, which is what gets reported.
    let bad_name =
        "bad-name.json: dtmi:com:example:BadName:_contents:__no spaces allowed;1: stringInvalid:";
    assert!(stdout.contains(bad_name), "{stdout}");
    assert!(
        stdout.contains("missing-base.json: dtmi:com:example:Orphan;1: unresolvedIdentifiers:"),
        "{stdout}"
    );
}

#[test]
fn undefined_extensions_flag() {
    let line = r#"[{"@context": ["dtmi:dtdl:context;3", "dtmi:x:ext;1"], "@id": "dtmi:a:b;1", "@type": "Interface"}]"#;
    let deny = twingraph(&["validate", "--batches"], Some(&format!("{line}\n")));
    let allow = twingraph(
        &["validate", "--batches", "--undefined-extensions", "allow"],
        Some(&format!("{line}\n")),
    );
    let verdict =
        |o: &Output| -> Value { serde_json::from_slice(&o.stdout).expect("one JSON line") };
    assert_eq!(verdict(&deny)["valid"], false);
    assert_eq!(
        verdict(&deny)["errors"][0]["rule"],
        "unresolvableContextSpecifier"
    );
    assert_eq!(verdict(&allow)["valid"], true);
}

#[test]
fn batches_answer_every_line() {
    let input = [
        r#"[{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:a:b;1", "@type": "Interface"}]"#,
        r#"[{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:a:c;1", "@type": "Interface", "extends": "dtmi:a:zz;1"}]"#,
        "this is not json",
        r#"[{"@context": "dtmi:dtdl:context;2", "@id": "dtmi:a:d;1", "@type": "Interface", "extends": "dtmi:a:e;1"},
            {"@context": "dtmi:dtdl:context;2", "@id": "dtmi:a:e;1", "@type": "Interface"}]"#
            .replace('\n', " ")
            .as_str(),
        "42",
    ]
    .join("\n");
    let out = twingraph(&["validate", "--batches"], Some(&format!("{input}\n")));
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 5);
    let valid: Vec<bool> = lines
        .iter()
        .map(|l| l["valid"].as_bool().unwrap())
        .collect();
    assert_eq!(valid, [true, false, false, true, false]);
    assert_eq!(lines[1]["errors"][0]["rule"], "unresolvedIdentifiers");
    assert_eq!(lines[2]["errors"][0]["rule"], "notJsonObject");
    assert_eq!(lines[4]["errors"][0]["rule"], "notJsonObject");
    assert!(
        lines[1]["errors"][0]["element"].is_string()
            && lines[1]["errors"][0]["message"].is_string()
    );
}
