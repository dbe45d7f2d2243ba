//! ADT's Jobs API: import jobs (`/jobs/imports/{id}`: create, get, list, cancel, delete) and
//! delete jobs (`POST /jobs/deletions`, get, list).
//!
//! Files: an import reads a bulk file from the folder the operator named with `--import-dir`
//! (a `file://` URI inside it, or a plain file name) and appends its output log, NDJSON, to
//! a file in the same folder. Nothing outside that folder can be named.
//!
//! Jobs are records in the engine (`Engine::put_job_record`) and run on their own thread, one
//! at a time, through the engine's bulk import (thousands of lines per batch, queries keep
//! running on snapshots). Every import batch also records the last line it covers, so a job
//! interrupted by a crash resumes after exactly that line when the server starts again, or,
//! if its input file changed meanwhile, fails saying how far it got. As in ADT, a job is not
//! atomic: the first refused line fails it and what was imported before it stays.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use twingraph_engine::bulk::{ImportOptions, Section};
use twingraph_engine::{limits, Engine};

use super::{blocking, json_response, no_content, Req, SMALL_BODY};
use crate::app::App;
use crate::error::{ApiError, Code};

pub const IMPORTS: &str = "imports/";
pub const DELETIONS: &str = "deletions/";
/// Serializes job creation, so two requests cannot both pass the one-job check.
static CREATE: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// ADT's job time format: `2022-01-01T00:00:00.0000000+00:00` (chrono has no 7-digit
/// fraction specifier).
fn timestamp(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    format!(
        "{}.{:07}+00:00",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.nanosecond() % 1_000_000_000 / 100
    )
}

fn now() -> String {
    timestamp(Utc::now())
}

fn purge_time() -> String {
    timestamp(Utc::now() + chrono::Duration::days(30))
}

fn not_found(kind: &str, id: &str) -> ApiError {
    let code = if kind == IMPORTS {
        Code::ImportJobNotFound
    } else {
        Code::DeleteJobNotFound
    };
    ApiError::new(code, format!("There is no job with id '{id}'."))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::ValidationFailed, message)
}

/// The wire form of a record: the ADT fields only (the record also keeps where the files are).
fn wire(record: &Value) -> Value {
    let mut out = Map::new();
    if let Some(obj) = record.as_object() {
        for (k, v) in obj.iter().filter(|(k, _)| !k.starts_with('_')) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn is_active(record: &Value) -> bool {
    matches!(
        record.get("status").and_then(Value::as_str),
        Some("notstarted" | "running" | "cancelling")
    )
}

fn check_job_id(id: &str) -> Result<(), ApiError> {
    limits::check_id("job", id).map_err(|e| invalid(e.to_string()))
}

/// Resolves a `file://` URI or a plain file name to a path inside `dir`, refusing anything
/// else (other schemes, `..`, separators in a plain name, symlinks leading out).
pub fn resolve(dir: &Path, uri: &str, must_exist: bool) -> Result<PathBuf, String> {
    let root = dir
        .canonicalize()
        .map_err(|e| format!("the import folder {} is unusable: {e}", dir.display()))?;
    let candidate = if let Some(rest) = uri.strip_prefix("file://") {
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        let decoded: String =
            form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
        PathBuf::from(decoded)
    } else if uri.contains("://") {
        return Err(format!(
            "'{uri}' is not a file:// URI or a file name in the import folder"
        ));
    } else {
        if uri.is_empty() || uri.contains(['/', '\\']) || uri == "." || uri == ".." {
            return Err(format!("'{uri}' is not a plain file name"));
        }
        root.join(uri)
    };
    if candidate
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("'{uri}' leaves the import folder"));
    }
    let resolved = if must_exist {
        candidate
            .canonicalize()
            .map_err(|_| format!("'{uri}' does not exist in the import folder"))?
    } else {
        let parent = candidate
            .parent()
            .ok_or_else(|| format!("'{uri}' names no file"))?
            .canonicalize()
            .map_err(|_| format!("'{uri}' is not in the import folder"))?;
        let name = candidate
            .file_name()
            .ok_or_else(|| format!("'{uri}' names no file"))?;
        parent.join(name)
    };
    if !resolved.starts_with(&root) || resolved == root {
        return Err(format!("'{uri}' is not inside the import folder"));
    }
    Ok(resolved)
}

/// What identifies the input file's content well enough to refuse resuming on another one.
fn fingerprint(path: &Path) -> Value {
    match std::fs::metadata(path) {
        Ok(m) => json!({
            "size": m.len(),
            "modified": m.modified().ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos().to_string()),
        }),
        Err(_) => Value::Null,
    }
}

pub async fn add_import(mut req: Req, id: String) -> Result<Response, ApiError> {
    check_job_id(&id)?;
    let body = req.json(SMALL_BODY).await?;
    let uri = |name: &str| -> Result<String, ApiError> {
        match body.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(invalid(format!("{name} is required (a string)"))),
        }
    };
    let (input_uri, output_uri) = (uri("inputBlobUri")?, uri("outputBlobUri")?);
    let Some(dir) = req.app.config.import_dir.clone() else {
        return Err(invalid(
            "import jobs need a folder for their files: start the server with --import-dir DIR",
        ));
    };
    let input = resolve(&dir, &input_uri, true).map_err(invalid)?;
    let output = resolve(&dir, &output_uri, false).map_err(invalid)?;
    if input == output {
        return Err(invalid("the output log cannot be the input file"));
    }
    let app = req.app.clone();
    let record = blocking(&req.app, move |engine| {
        let _creating = CREATE.lock();
        let key = format!("{IMPORTS}{id}");
        if engine.job_record(&key)?.is_some() {
            return Err(invalid(format!(
                "an import job with id '{id}' already exists"
            )));
        }
        if engine.job_records("")?.iter().any(|(_, r)| is_active(r)) {
            return Err(ApiError::new(
                Code::JobLimitReached,
                "only one import or delete job may run at a time",
            ));
        }
        let created = now();
        let record = json!({
            "id": id,
            "inputBlobUri": input_uri,
            "outputBlobUri": output_uri,
            "status": "notstarted",
            "createdDateTime": created,
            "lastActionDateTime": created,
            "purgeDateTime": purge_time(),
            "_input": input,
            "_output": output,
            "_fingerprint": fingerprint(&input),
        });
        engine.put_job_record(&key, &record)?;
        Ok(record)
    })
    .await?;
    start(
        &app,
        format!("{IMPORTS}{}", record["id"].as_str().unwrap_or_default()),
    );
    Ok(json_response(StatusCode::CREATED, &wire(&record)))
}

pub async fn add_deletion(req: Req) -> Result<Response, ApiError> {
    let id = match req.header("operation-id")? {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => uuid_like(),
    };
    check_job_id(&id)?;
    let timeout = match req.param("timeoutInMinutes") {
        None => 12 * 60,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (15..=24 * 60).contains(&n) => n,
            _ => {
                return Err(invalid(format!(
                    "timeoutInMinutes must be between 15 and 1440, not '{v}'"
                )))
            }
        },
    };
    let app = req.app.clone();
    let location = format!(
        "{}/jobs/deletions/{}?api-version={}",
        req.base_url(),
        id,
        req.api_version
    );
    let record = blocking(&req.app, move |engine| {
        let _creating = CREATE.lock();
        let key = format!("{DELETIONS}{id}");
        if engine.job_record(&key)?.is_some() {
            return Err(invalid("Operation-Id already exists"));
        }
        if engine.job_records("")?.iter().any(|(_, r)| is_active(r)) {
            return Err(ApiError::new(
                Code::JobLimitReached,
                "only one import or delete job may run at a time",
            ));
        }
        let record = json!({
            "id": id,
            "status": "notstarted",
            "createdDateTime": now(),
            "purgeDateTime": purge_time(),
            "_timeoutMinutes": timeout,
        });
        engine.put_job_record(&key, &record)?;
        Ok(record)
    })
    .await?;
    let id = record["id"].as_str().unwrap_or_default().to_string();
    start(&app, format!("{DELETIONS}{id}"));
    let mut response = json_response(StatusCode::ACCEPTED, &wire(&record));
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert("operation-location", v);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("operation-id", v);
    }
    Ok(response)
}

fn uuid_like() -> String {
    format!("deletejob-{}", Utc::now().format("%Y%m%dT%H%M%S%.9f"))
}

pub async fn get(req: Req, kind: &'static str, id: String) -> Result<Response, ApiError> {
    let record = blocking(&req.app, move |engine| {
        engine
            .job_record(&format!("{kind}{id}"))?
            .ok_or_else(|| not_found(kind, &id))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &wire(&record)))
}

pub async fn list(req: Req, kind: &'static str) -> Result<Response, ApiError> {
    let size = req.page_size(100, 100)?;
    let after: Option<String> = crate::paging::token(&req)?;
    let path = if kind == IMPORTS {
        "/jobs/imports"
    } else {
        "/jobs/deletions"
    };
    let records = blocking(&req.app, move |engine| Ok(engine.job_records(kind)?)).await?;
    let mut page: Vec<(String, Value)> = records
        .into_iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
        .take(size + 1)
        .collect();
    let next_link = if page.len() > size {
        page.truncate(size);
        let last = page.last().map(|(k, _)| k.clone()).unwrap_or_default();
        Some(crate::paging::next_link(&req, path, &last)?)
    } else {
        None
    };
    let value: Vec<Value> = page.iter().map(|(_, r)| wire(r)).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"value": value, "nextLink": next_link}),
    ))
}

pub async fn delete_import(req: Req, id: String) -> Result<Response, ApiError> {
    blocking(&req.app, move |engine| {
        let key = format!("{IMPORTS}{id}");
        if engine.job_record(&key)?.is_none() {
            return Err(not_found(IMPORTS, &id));
        }
        // As ADT: only the record goes; a running import is not stopped by this.
        engine.delete_job_record(&key)?;
        Ok(())
    })
    .await?;
    Ok(no_content())
}

pub async fn cancel_import(req: Req, id: String) -> Result<Response, ApiError> {
    let record = blocking(&req.app, move |engine| {
        let _creating = CREATE.lock();
        let key = format!("{IMPORTS}{id}");
        let mut record = engine
            .job_record(&key)?
            .ok_or_else(|| not_found(IMPORTS, &id))?;
        if is_active(&record) {
            record["status"] = json!("cancelling");
            record["lastActionDateTime"] = json!(now());
            engine.put_job_record(&key, &record)?;
        }
        Ok(record)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &wire(&record)))
}

/// At startup: resumes the jobs a stop interrupted.
pub fn resume(app: &Arc<App>) {
    let records = match app.engine.job_records("") {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(error = %e, "reading job records");
            return;
        }
    };
    for (key, _) in records.into_iter().filter(|(_, r)| is_active(r)) {
        tracing::info!(job = %key, "resuming job");
        start(app, key);
    }
}

fn start(app: &Arc<App>, key: String) {
    let engine = app.engine.clone();
    let spawned = std::thread::Builder::new()
        .name("twingraph-job".into())
        .spawn(move || {
            let result = if key.starts_with(IMPORTS) {
                run_import(&engine, &key)
            } else {
                run_deletion(&engine, &key)
            };
            if let Err(e) = result {
                tracing::error!(job = %key, error = %e, "job failed");
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "starting a job thread");
    }
}

/// Updates a job's record, unless it was deleted meanwhile.
fn update(
    engine: &Engine,
    key: &str,
    f: impl FnOnce(&mut Value),
) -> twingraph_engine::Result<Value> {
    let _creating = CREATE.lock();
    let Some(mut record) = engine.job_record(key)? else {
        return Ok(Value::Null);
    };
    f(&mut record);
    engine.put_job_record(key, &record)?;
    Ok(record)
}

fn finish(
    engine: &Engine,
    key: &str,
    status: &str,
    error: Option<Value>,
) -> twingraph_engine::Result<()> {
    update(engine, key, |r| {
        let t = now();
        r["status"] = json!(status);
        r["lastActionDateTime"] = json!(t);
        r["finishedDateTime"] = json!(t);
        if let Some(e) = error {
            r["error"] = e;
        }
    })?;
    Ok(())
}

/// The output log: one JSON object per line, appended.
struct Log {
    file: Option<File>,
    job: String,
}

impl Log {
    fn open(path: Option<&str>, job: &str) -> Log {
        let file = path.and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok());
        Log {
            file,
            job: job.to_string(),
        }
    }

    fn line(&mut self, kind: &str, details: Value) {
        let line = json!({"timestamp": now(), "jobId": self.job, "jobType": "Import",
            "logType": kind, "details": details});
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn run_import(engine: &Engine, key: &str) -> twingraph_engine::Result<()> {
    let Some(record) = engine.job_record(key)? else {
        return Ok(());
    };
    let id = record["id"].as_str().unwrap_or_default().to_string();
    let mut log = Log::open(record["_output"].as_str(), &id);
    if record["status"] == "cancelling" {
        log.line("Info", json!({"status": "Cancelled"}));
        return finish(engine, key, "cancelled", None);
    }
    let input = PathBuf::from(record["_input"].as_str().unwrap_or_default());
    let done = engine.job_progress(key)?;
    let resume_after = done.as_ref().and_then(|p| p["line"].as_u64()).unwrap_or(0);
    if resume_after > 0 && fingerprint(&input) != record["_fingerprint"] {
        let message = format!(
            "the input file changed while the job was interrupted; lines up to {resume_after} were imported"
        );
        log.line("Error", json!({"status": "Failed", "message": message}));
        let error = json!({"code": "ValidationFailed", "message": message});
        return finish(engine, key, "failed", Some(error));
    }
    update(engine, key, |r| {
        r["status"] = json!("running");
        r["lastActionDateTime"] = json!(now());
    })?;
    log.line(
        "Info",
        if resume_after > 0 {
            json!({"status": "Resumed", "afterLine": resume_after})
        } else {
            json!({"status": "Started"})
        },
    );
    let file = match File::open(&input) {
        Ok(f) => f,
        Err(e) => {
            let message = format!("reading the input file: {e}");
            log.line("Error", json!({"status": "Failed", "message": message}));
            return finish(
                engine,
                key,
                "failed",
                Some(json!({"code": "ValidationFailed", "message": message})),
            );
        }
    };
    let options = ImportOptions {
        job: Some(key.to_string()),
        resume_after_line: resume_after,
        ..ImportOptions::default()
    };
    let mut section: Option<Section> = None;
    let mut checked = Instant::now();
    let mut cancelled = false;
    let result = engine.import(
        BufReader::with_capacity(1 << 20, file),
        &options,
        &mut |p| {
            if p.section != section {
                if let Some(done) = section {
                    log.line(
                        "Info",
                        json!({"section": done.name(), "status": "Succeeded"}),
                    );
                }
                if let Some(now) = p.section {
                    log.line("Info", json!({"section": now.name(), "status": "Started"}));
                }
                section = p.section;
            }
            // The cancel request is a record change; reading it once a second is enough.
            if checked.elapsed() > Duration::from_secs(1) {
                checked = Instant::now();
                cancelled =
                    matches!(engine.job_record(key), Ok(Some(r)) if r["status"] == "cancelling");
            }
            !cancelled
        },
    );
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            let message = e.to_string();
            log.line("Error", json!({"status": "Failed", "message": message}));
            return finish(
                engine,
                key,
                "failed",
                Some(json!({"code": "ValidationFailed", "message": message})),
            );
        }
    };
    for e in &report.errors {
        log.line("Error", json!({"line": e.line, "message": e.reason}));
    }
    if report.cancelled {
        log.line("Info", json!({"status": "Cancelled"}));
        return finish(engine, key, "cancelled", None);
    }
    if let Some(first) = report.errors.first() {
        log.line("Info", json!({"status": "Failed"}));
        let message = format!("line {}: {}", first.line, first.reason);
        return finish(
            engine,
            key,
            "failed",
            Some(json!({"code": "ValidationFailed", "message": message})),
        );
    }
    if let Some(done) = section {
        log.line(
            "Info",
            json!({"section": done.name(), "status": "Succeeded"}),
        );
    }
    log.line("Info", json!({"status": "Succeeded"}));
    finish(engine, key, "succeeded", None)
}

fn run_deletion(engine: &Engine, key: &str) -> twingraph_engine::Result<()> {
    let Some(record) = engine.job_record(key)? else {
        return Ok(());
    };
    let minutes = record["_timeoutMinutes"].as_u64().unwrap_or(12 * 60);
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    update(engine, key, |r| r["status"] = json!("running"))?;
    // Deleting everything is idempotent, so an interrupted delete job just runs again.
    let result = engine.delete_all(4096, &mut |_| Instant::now() < deadline);
    match result {
        Err(e) => finish(
            engine,
            key,
            "failed",
            Some(json!({"code": "InternalServerError", "message": e.to_string()})),
        ),
        Ok(_) if Instant::now() >= deadline => finish(
            engine,
            key,
            "failed",
            Some(
                json!({"code": "Timeout", "message": format!("the job did not finish within {minutes} minutes")}),
            ),
        ),
        Ok(_) => finish(engine, key, "succeeded", None),
    }
}
