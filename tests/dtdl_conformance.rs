//! DTDL conformance: runs every case of the official parser's test suite (read from
//! `../shared/corpus/dtdl-cases`, never copied) through `dtdl::validate_batch`, and every DTMI
//! case through `dtdl::Dtmi`, prints per-category agreement figures and asserts the targets.
//!
//! Set `DTDL_CONFORMANCE_VERBOSE=1` to list each disagreement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use twingraph_dtdl::{self as dtdl, Dtmi, Options};

/// Agreement targets (fractions).
const VALID_TARGET: f64 = 0.995;
const INVALID_TARGET: f64 = 0.995;
const RULE_TARGET: f64 = 0.95;

#[path = "common/corpus.rs"]
mod corpus;

fn cases_dir() -> PathBuf {
    corpus::require("corpus/dtdl-cases")
}

/// Reads a case file: every one starts with a UTF-8 BOM.
fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// Why a case is not run, if it is not.
fn skip_reason(name: &str, case: &Value) -> Option<String> {
    if let Some(ctxs) = case.get("requiredContexts").and_then(Value::as_array) {
        let missing: Vec<&str> = ctxs
            .iter()
            .filter_map(Value::as_str)
            .filter(|c| !implemented_extension(c))
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "needs extension(s) twingraph does not implement: {}",
                missing.join(", ")
            ));
        }
    }
    const LAYERING: [&str; 4] = ["LocalContext", "LocalTerm", "LocalDefinition", "Fragment"];
    if let Some(prefix) = LAYERING.iter().find(|p| name.starts_with(*p)) {
        return Some(format!(
            "JSON-LD layering/local-context feature ({prefix}*), not exposed by ADT"
        ));
    }
    if name.contains("Layer") {
        return Some("JSON-LD layering feature (*Layer*: partial definitions merged by id), not exposed by ADT".into());
    }
    // A valid case that uses an extension twingraph lacks cannot be accepted without it; an
    // invalid one must be rejected either way, so it still runs.
    let valid = case.get("valid").and_then(Value::as_bool).unwrap_or(false);
    let mut contexts = Vec::new();
    collect_contexts(case.get("input").unwrap_or(&Value::Null), &mut contexts);
    match contexts.iter().find(|c| unsupported_context(c)) {
        Some(c) if valid => Some(format!(
            "valid case using a context twingraph does not implement ({})",
            c.split(';').next().unwrap_or(c)
        )),
        _ => None,
    }
}

/// Extensions whose types and rules twingraph implements: a case that requires one runs.
/// (The IoT Central context is only recognized, not implemented, so its cases stay skipped.)
fn implemented_extension(c: &str) -> bool {
    const IMPLEMENTED: &[&str] = &[
        "dtmi:dtdl:extension:quantitativeTypes;1",
        "dtmi:dtdl:extension:historization;1",
        "dtmi:dtdl:extension:historization;2",
        "dtmi:dtdl:extension:annotation;1",
        "dtmi:dtdl:extension:annotation;2",
        "dtmi:dtdl:extension:overriding;1",
        "dtmi:dtdl:extension:overriding;2",
        "dtmi:dtdl:extension:mqtt;1",
        "dtmi:dtdl:extension:mqtt;2",
    ];
    IMPLEMENTED.contains(&c)
}

/// Published DTDL language versions and extensions twingraph does not implement. It has DTDL
/// v2/v3 with QuantitativeTypes v1, Historization v1/v2, Annotation v1/v2, Overriding v1/v2
/// and Mqtt v1/v2 (the second versions of the feature extensions serve DTDL v3 as well as v4).
/// What remains is DTDL v4 and what only it uses (QuantitativeTypes v2), Mqtt v3 and
/// Requirement. The corpus's deliberately unknown contexts (`dtmi:undefinedExtension:*`,
/// `…historization;100`) are not in this list: they test how undefined extensions are handled.
fn unsupported_context(c: &str) -> bool {
    const UNSUPPORTED: &[&str] = &[
        "dtmi:dtdl:context;4",
        "dtmi:dtdl:extension:mqtt;3",
        "dtmi:dtdl:extension:requirement;1",
        "dtmi:dtdl:extension:requirement;2",
        "dtmi:dtdl:extension:quantitativeTypes;2",
    ];
    UNSUPPORTED.contains(&c)
}

fn collect_contexts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "@context" {
                    match x {
                        Value::String(s) => out.push(s.clone()),
                        Value::Array(a) => {
                            out.extend(a.iter().filter_map(Value::as_str).map(str::to_string))
                        }
                        _ => {}
                    }
                } else {
                    collect_contexts(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_contexts(x, out)),
        _ => {}
    }
}

fn options(case: &Value) -> Options {
    let opts: Vec<&str> = case
        .get("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let allow = if opts.contains(&"AllowUndefinedExtensions") {
        Some(true)
    } else if opts.contains(&"DisallowUndefinedExtensions") {
        Some(false)
    } else {
        None
    };
    Options {
        allow_undefined_extensions: allow,
    }
}

/// What a resolver supplies for an id: the Interface with that `@id` among the `resolution`
/// responses (the parser's stand-in for models already in the store).
fn resolver(case: &Value) -> impl Fn(&str) -> Option<Value> + '_ {
    move |id: &str| {
        let responses = case.get("resolution").and_then(Value::as_array)?;
        responses
            .iter()
            .filter_map(|r| r.get("response").and_then(Value::as_array))
            .flatten()
            .flat_map(|doc| match doc {
                Value::Array(a) => a.iter().collect::<Vec<_>>(),
                d => vec![d],
            })
            .find(|doc| doc.get("@id").and_then(Value::as_str) == Some(id))
            .cloned()
    }
}

#[derive(Default)]
struct Figures {
    valid: (usize, usize),
    invalid: (usize, usize),
    /// (cases with expected ValidationIDs, primary rule reported, any expected rule reported)
    rules: (usize, usize, usize),
    skipped: BTreeMap<String, usize>,
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        1.0
    } else {
        n as f64 / d as f64
    }
}

/// Runs one category folder; returns its figures and the disagreements.
fn run_category(category: &str, verbose: bool) -> Figures {
    let mut f = Figures::default();
    for path in sorted_files(&cases_dir().join(category)) {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let name = stem
            .split_once('-')
            .filter(|_| category == "specification")
            .map_or(stem.as_str(), |(_, n)| n);
        let content = read_json(&path);
        let cases: Vec<&Value> = match &content {
            Value::Array(a) => a.iter().collect(),
            c => vec![c],
        };
        for (i, case) in cases.iter().enumerate() {
            if let Some(reason) = skip_reason(name, case) {
                *f.skipped.entry(reason).or_default() += 1;
                continue;
            }
            let valid = case.get("valid").and_then(Value::as_bool).unwrap_or(false);
            let input: Vec<Value> = case
                .get("input")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let result = dtdl::validate_batch(&input, &resolver(case), &options(case));
            let got: Vec<String> = result
                .as_ref()
                .err()
                .map(|errs| errs.iter().map(|e| e.rule.clone()).collect())
                .unwrap_or_default();
            let agree = result.is_ok() == valid;
            if valid {
                f.valid.0 += 1;
                f.valid.1 += usize::from(agree);
            } else {
                f.invalid.0 += 1;
                f.invalid.1 += usize::from(agree);
            }
            let expected: Vec<String> = case
                .pointer("/expect/parsingErrors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("ValidationID").and_then(Value::as_str))
                .map(|v| v.rsplit(':').next().unwrap_or(v).to_string())
                .collect();
            let mut rule_ok = true;
            if !valid && !expected.is_empty() {
                f.rules.0 += 1;
                rule_ok = got.contains(&expected[0]);
                f.rules.1 += usize::from(rule_ok);
                f.rules.2 += usize::from(expected.iter().any(|e| got.contains(e)));
            }
            if verbose && (!agree || !rule_ok) {
                let msgs: Vec<String> = result
                    .err()
                    .unwrap_or_default()
                    .iter()
                    .take(4)
                    .map(|e| e.to_string())
                    .collect();
                println!("MISMATCH {category}/{stem}[{i}] valid={valid} expected={expected:?} got={got:?} {msgs:?}");
            }
        }
    }
    f
}

/// Checks the DTMI cases; returns (cases, agreeing).
fn run_dtmis(verbose: bool) -> (usize, usize) {
    let mut agree = 0;
    let files = sorted_files(&cases_dir().join("dtmis"));
    for path in &files {
        let case = read_json(path);
        let text = case["idText"].as_str().unwrap_or_default();
        let parsed = Dtmi::parse(text);
        let ok = match (&parsed, case["valid"].as_bool()) {
            (Some(d), Some(true)) => {
                let e = &case["expect"];
                let labels: Vec<&str> = e["Labels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                u64::from(d.major_version()) == e["MajorVersion"].as_u64().unwrap_or(u64::MAX)
                    && u64::from(d.minor_version())
                        == e["MinorVersion"].as_u64().unwrap_or(u64::MAX)
                    && (d.complete_version() - e["CompleteVersion"].as_f64().unwrap_or(-1.0)).abs()
                        < 1e-9
                    && d.versionless() == e["Versionless"].as_str().unwrap_or_default()
                    && d.labels().iter().map(String::as_str).eq(labels)
                    && d.is_reserved() == e["IsReserved"].as_bool().unwrap_or(false)
                    && d.fragment() == e["Fragment"].as_str().unwrap_or_default()
            }
            (None, Some(false)) => true,
            _ => false,
        };
        if verbose && !ok {
            println!(
                "MISMATCH dtmis/{} {text}: parsed {parsed:?}",
                path.display()
            );
        }
        agree += usize::from(ok);
    }
    (files.len(), agree)
}

/// Checks the `instances` of generated cases whose subject is a primitive schema against
/// `Schema::check` (twin property validation); returns (instances, agreeing).
fn run_instances(verbose: bool) -> (usize, usize) {
    let (mut n, mut agree) = (0, 0);
    for path in sorted_files(&cases_dir().join("generated")) {
        let case = read_json(&path);
        for inst in case
            .get("instances")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let subject = inst["subject"].as_str().unwrap_or_default();
            let Some(term) = subject
                .strip_prefix("dtmi:dtdl:instance:Schema:")
                .and_then(|t| t.split(';').next())
            else {
                continue;
            };
            let schema = match term {
                "boolean" => dtdl::Schema::Boolean,
                "date" => dtdl::Schema::Date,
                "dateTime" => dtdl::Schema::DateTime,
                "double" => dtdl::Schema::Double,
                "duration" => dtdl::Schema::Duration,
                "float" => dtdl::Schema::Float,
                "integer" => dtdl::Schema::Integer,
                "long" => dtdl::Schema::Long,
                "string" => dtdl::Schema::String,
                "time" => dtdl::Schema::Time,
                _ => continue,
            };
            let submit = inst["submit"].as_str().unwrap_or_default();
            let conforms =
                serde_json::from_str::<Value>(submit).is_ok_and(|v| schema.check(&v).is_ok());
            n += 1;
            if conforms == inst["conforms"].as_bool().unwrap_or(false) {
                agree += 1;
            } else if verbose {
                println!(
                    "MISMATCH instance {} {term} {submit}: expected conforms={}",
                    path.display(),
                    inst["conforms"]
                );
            }
        }
    }
    (n, agree)
}

/// Runs everything and prints the report; returns (valid, invalid, rule) agreement overall.
pub fn conformance_report() -> (f64, f64, f64) {
    let verbose = std::env::var("DTDL_CONFORMANCE_VERBOSE").is_ok_and(|v| v == "1");
    let mut total = Figures::default();
    println!("DTDL conformance against {}", cases_dir().display());
    println!("rule-id match: an invalid case with expected errors matches when the ValidationIDs we report");
    println!("  include its primary rule = the first ValidationID in expect.parsingErrors (also shown: any expected ID)");
    for category in ["generated", "specification", "doc-examples"] {
        let f = run_category(category, verbose);
        println!(
            "{category:>14}: valid {}/{} ({:.1}%), invalid {}/{} ({:.1}%), rule-id primary {}/{} ({:.1}%), any {}/{} ({:.1}%)",
            f.valid.1, f.valid.0, 100.0 * pct(f.valid.1, f.valid.0),
            f.invalid.1, f.invalid.0, 100.0 * pct(f.invalid.1, f.invalid.0),
            f.rules.1, f.rules.0, 100.0 * pct(f.rules.1, f.rules.0),
            f.rules.2, f.rules.0, 100.0 * pct(f.rules.2, f.rules.0),
        );
        for (reason, n) in &f.skipped {
            println!("{:>14}  skipped {n}: {reason}", "");
            *total.skipped.entry(reason.clone()).or_default() += n;
        }
        total.valid = (total.valid.0 + f.valid.0, total.valid.1 + f.valid.1);
        total.invalid = (total.invalid.0 + f.invalid.0, total.invalid.1 + f.invalid.1);
        total.rules = (
            total.rules.0 + f.rules.0,
            total.rules.1 + f.rules.1,
            total.rules.2 + f.rules.2,
        );
    }
    let (v, i, r) = (
        pct(total.valid.1, total.valid.0),
        pct(total.invalid.1, total.invalid.0),
        pct(total.rules.1, total.rules.0),
    );
    println!(
        "{:>14}: valid {}/{} ({:.1}%), invalid {}/{} ({:.1}%), rule-id primary {}/{} ({:.1}%), skipped {}",
        "TOTAL", total.valid.1, total.valid.0, 100.0 * v, total.invalid.1, total.invalid.0, 100.0 * i,
        total.rules.1, total.rules.0, 100.0 * r, total.skipped.values().sum::<usize>(),
    );
    let (n, ok) = run_dtmis(verbose);
    println!("{:>14}: {ok}/{n} identifiers agree (validity, major/minor/complete version, versionless, labels, reserved, fragment)", "dtmis");
    assert_eq!(ok, n, "every DTMI case must agree");
    let (n, ok) = run_instances(verbose);
    println!(
        "{:>14}: {ok}/{n} primitive-schema instance values agree with Schema::check",
        "instances"
    );
    (v, i, r)
}

#[test]
fn official_cases_agree() {
    let (valid, invalid, rules) = conformance_report();
    assert!(
        valid >= VALID_TARGET,
        "valid-case agreement {valid:.3} below {VALID_TARGET}"
    );
    assert!(
        invalid >= INVALID_TARGET,
        "invalid-case agreement {invalid:.3} below {INVALID_TARGET}"
    );
    assert!(
        rules >= RULE_TARGET,
        "rule-id match {rules:.3} below {RULE_TARGET}"
    );
}

fn corpus_docs(dir: &Path, out: &mut Vec<Value>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            corpus_docs(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(read_json(&p));
        }
    }
}

/// The RealEstateCore ontology (767 Interfaces, v3 and v2 editions) validates as one batch,
/// and the catalog flattens a deep Space subtype with everything it inherits.
#[test]
fn building_ontologies_validate_as_one_batch() {
    const SPACE: &str = "dtmi:digitaltwins:rec_3_3:core:Space;1";
    const ROOM: &str = "dtmi:digitaltwins:rec_3_3:core:Room;1";
    const GARAGE: &str = "dtmi:digitaltwins:rec_3_3:building:Garage;1";
    for edition in ["building", "building-dtdlv2"] {
        let mut docs = Vec::new();
        corpus_docs(
            &corpus::require(&format!("corpus/dtdl/{edition}")),
            &mut docs,
        );
        assert_eq!(docs.len(), 767, "{edition}");
        let models = dtdl::validate_batch(&docs, &|_| None, &Options::default())
            .unwrap_or_else(|errs| panic!("{edition}: {:?}", &errs[..errs.len().min(5)]));
        assert_eq!(models.len(), 767);
        let catalog = dtdl::Catalog::build(&models)
            .unwrap_or_else(|errs| panic!("{edition}: {:?}", &errs[..errs.len().min(5)]));
        let garage = catalog.get(GARAGE).expect("Garage resolved");
        assert!(
            garage.ancestors.contains(ROOM) && garage.ancestors.contains(SPACE),
            "{:?}",
            garage.ancestors
        );
        for rel in ["isPartOf", "hasPart"] {
            assert_eq!(
                garage.relationships[rel].target.as_deref(),
                Some(SPACE),
                "{edition} {rel}"
            );
        }
        assert_eq!(
            garage.properties.get("personOccupancy"),
            Some(&dtdl::Schema::Integer)
        );
        assert_eq!(
            garage.properties.get("customTags"),
            Some(&dtdl::Schema::Map {
                value: Box::new(dtdl::Schema::Boolean)
            })
        );
        assert!(catalog
            .descendants(SPACE)
            .is_some_and(|d| d.contains(GARAGE)));
        assert!(catalog.dependencies(GARAGE).contains(SPACE));
        assert!(catalog.dependents(ROOM).contains(&GARAGE.to_string()));
    }
}
