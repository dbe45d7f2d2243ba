//! `twingraph validate`: DTDL files and folders, or NDJSON batches on stdin.
//!
//! Files mode validates every `*.json` under the given paths as one model set and prints each
//! error as `file: element: rule: message`; exit code 0 when valid, 1 when not. Batches mode
//! (`--batches`) reads one JSON array of documents per stdin line and answers each with one
//! JSON line `{"valid": …, "errors": [{"rule", "element", "message"}]}`; it never stops on bad
//! input and exits 0 once stdin is drained.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{json, Value};
use twingraph_dtdl::{self as dtdl, DtdlError, Options};

#[derive(clap::Args)]
pub struct Args {
    /// Files or folders of DTDL documents (folders are searched recursively for `*.json`),
    /// validated together as one set.
    pub paths: Vec<PathBuf>,
    /// Whether unknown extension contexts are accepted; by default DTDL v2 allows and v3 denies.
    #[arg(long, value_enum)]
    pub undefined_extensions: Option<UndefinedExtensions>,
    /// Read NDJSON from stdin, one JSON array of documents per line, and write one JSON result
    /// line per input line.
    #[arg(long, conflicts_with = "paths")]
    pub batches: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum UndefinedExtensions {
    Allow,
    Deny,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = Options {
        allow_undefined_extensions: args
            .undefined_extensions
            .map(|u| matches!(u, UndefinedExtensions::Allow)),
    };
    if args.batches {
        return batches(&opts);
    }
    if args.paths.is_empty() {
        anyhow::bail!("give at least one file or folder to validate, or --batches");
    }
    let mut files = Vec::new();
    for path in &args.paths {
        collect(path, &mut files).with_context(|| format!("reading {}", path.display()))?;
    }
    let mut docs = Vec::new();
    let mut doc_files = Vec::new();
    let mut unreadable = 0;
    let mut out = std::io::stdout().lock();
    for file in &files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        match serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}')) {
            Ok(doc) => {
                docs.push(doc);
                doc_files.push(file.clone());
            }
            Err(e) => {
                unreadable += 1;
                writeln!(
                    out,
                    "{}: : notJsonObject: not valid JSON: {e}",
                    file.display()
                )?;
            }
        }
    }
    let result = dtdl::validate_batch(&docs, &|_| None, &opts);
    match result {
        Ok(models) if unreadable == 0 => {
            eprintln!(
                "{} model(s) in {} file(s) are valid",
                models.len(),
                files.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(_) => Ok(ExitCode::from(1)),
        Err(errors) => {
            for e in &errors {
                let file = e
                    .document
                    .and_then(|d| doc_files.get(d))
                    .map_or_else(|| "-".to_string(), |f| f.display().to_string());
                writeln!(out, "{file}: {}: {}: {}", e.element, e.rule, e.message)?;
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// `path` itself if it is a file, else every `*.json` below it, in sorted order.
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, files)?;
        } else if entry.extension().is_some_and(|x| x == "json") {
            files.push(entry);
        }
    }
    Ok(())
}

/// NDJSON mode: one verdict line per input line.
fn batches(opts: &Options) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    for line in stdin.lines() {
        let line = line.context("reading stdin")?;
        let verdict = match serde_json::from_str::<Value>(line.trim_start_matches('\u{feff}')) {
            Ok(Value::Array(docs)) => verdict(dtdl::validate_batch(&docs, &|_| None, opts)),
            Ok(doc) => verdict(dtdl::validate_batch(
                std::slice::from_ref(&doc),
                &|_| None,
                opts,
            )),
            Err(e) => json!({
                "valid": false,
                "errors": [{"rule": "notJsonObject", "element": "", "message": format!("line is not valid JSON: {e}")}],
            }),
        };
        writeln!(out, "{verdict}")?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn verdict(result: Result<Vec<Value>, Vec<DtdlError>>) -> Value {
    match result {
        Ok(_) => json!({"valid": true, "errors": []}),
        Err(errors) => json!({
            "valid": false,
            "errors": errors
                .iter()
                .map(|e| json!({"rule": e.rule, "element": e.element, "message": e.message}))
                .collect::<Vec<_>>(),
        }),
    }
}
