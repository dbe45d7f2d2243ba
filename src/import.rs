//! `twingraph import --data-dir DIR FILE [--continue-on-error]`: loads a bulk file into a
//! store no server has open.
//!
//! All or nothing by default. Into a store without twins this is one pass
//! (`Engine::bulk_load`: nothing is written unless every line is accepted; when one is
//! refused, a check pass lists them all). Into a store with twins, a first pass checks every
//! line (against the store and the rest of the file) and writes nothing; only when no line is
//! refused does the second pass write. With `--continue-on-error` there is one pass that
//! keeps the good lines. Refused lines are
//! printed (`line N: reason`) and written to a report, one JSON object per line.
//! Exit code 0 on success (also with --continue-on-error and refused lines), 1 when the
//! file was refused, 2 on other errors.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use twingraph_engine::bulk::{ImportOptions, ImportReport, Mode, Progress};
use twingraph_engine::{Engine, EngineConfig};

#[derive(clap::Args)]
pub struct Args {
    /// Folder holding the store (created when missing).
    #[arg(long, default_value = "./twingraph-data")]
    data_dir: PathBuf,
    /// Keep the lines that pass and skip the others, instead of importing nothing.
    #[arg(long)]
    continue_on_error: bool,
    /// Where to write refused lines as NDJSON (default: FILE.errors.ndjson).
    #[arg(long)]
    report: Option<PathBuf>,
    /// The bulk file (ADT import format: Header, Models, Twins, Relationships sections).
    file: PathBuf,
}

/// Refused lines printed on stderr; the report file has all of them.
const PRINTED_ERRORS: usize = 20;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The allocator backs its memory with transparent huge pages, and the kernel zeroes each
    // 2 MiB page at first touch: at a million twins that was a fifth of the load's CPU time
    // and half its kernel time (keeping freed memory instead, MIMALLOC_PURGE_DELAY=-1, did
    // not help). Only this process; the server keeps them.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let config = EngineConfig {
        sync_writes: false,
        ..EngineConfig::default()
    };
    let engine = Engine::open(&args.data_dir, config.clone()).with_context(|| {
        format!(
            "opening the store at {} (is a server running on it?)",
            args.data_dir.display()
        )
    })?;
    let start = Instant::now();
    let mut options = ImportOptions {
        continue_on_error: args.continue_on_error,
        size_hint: Some(size),
        ..ImportOptions::default()
    };
    let report_path = args.report.clone().unwrap_or_else(|| {
        let mut name = args.file.clone().into_os_string();
        name.push(".errors.ndjson");
        PathBuf::from(name)
    });
    if !args.continue_on_error && engine.can_bulk_load()? {
        // A store without twins: one pass that writes nothing unless every line is accepted.
        let input = open(&args.file)?;
        let mut bar = Bar::new("importing", size);
        let report = engine.bulk_load(input, &options, &mut |p| {
            bar.show(p);
            true
        });
        bar.finish();
        let report = report?;
        if report.progress.errors > 0 {
            // Nothing was written; list every refused line, not only the first.
            let engine = Engine::open(&args.data_dir, config)?;
            options.mode = Mode::Check;
            let checked = pass(&engine, &args.file, size, &options, "checking")?;
            refused(&checked, &report_path)?;
            eprintln!(
                "nothing imported: {} line(s) refused (use --continue-on-error to import the rest)",
                checked.progress.errors
            );
            return Ok(ExitCode::from(1));
        }
        done(&report, start.elapsed());
        return Ok(ExitCode::SUCCESS);
    }
    if !args.continue_on_error {
        options.mode = Mode::Check;
        let checked = pass(&engine, &args.file, size, &options, "checking")?;
        if checked.progress.errors > 0 {
            refused(&checked, &report_path)?;
            eprintln!(
                "nothing imported: {} line(s) refused (use --continue-on-error to import the rest)",
                checked.progress.errors
            );
            return Ok(ExitCode::from(1));
        }
        options.mode = Mode::Write;
    }
    let report = pass(&engine, &args.file, size, &options, "importing")?;
    done(&report, start.elapsed());
    let p = report.progress;
    if p.errors > 0 {
        refused(&report, &report_path)?;
        if let Some(line) = report.stopped_at {
            // The check pass found nothing, so only a bug or a changed file gets here.
            bail!("the import stopped at line {line}, which the check had accepted; lines before it are imported");
        }
        eprintln!("{} line(s) refused and skipped", p.errors);
    }
    Ok(ExitCode::SUCCESS)
}

fn done(report: &ImportReport, elapsed: Duration) {
    let p = report.progress;
    let items = p.models + p.twins + p.relationships;
    println!(
        "imported {} models, {} twins, {} relationships in {:.1} s ({:.0} items/s)",
        p.models,
        p.twins,
        p.relationships,
        elapsed.as_secs_f64(),
        items as f64 / elapsed.as_secs_f64().max(1e-9)
    );
}

fn open(file: &Path) -> anyhow::Result<BufReader<File>> {
    Ok(BufReader::with_capacity(
        1 << 20,
        File::open(file).with_context(|| format!("opening {}", file.display()))?,
    ))
}

fn pass(
    engine: &Engine,
    file: &Path,
    size: u64,
    options: &ImportOptions,
    verb: &str,
) -> anyhow::Result<ImportReport> {
    let input = open(file)?;
    let mut bar = Bar::new(verb, size);
    let report = engine.import(input, options, &mut |p| {
        bar.show(p);
        true
    });
    bar.finish();
    Ok(report?)
}

/// Prints the first refused lines and writes all kept ones to the report.
fn refused(report: &ImportReport, path: &Path) -> anyhow::Result<()> {
    for e in report.errors.iter().take(PRINTED_ERRORS) {
        eprintln!("line {}: {}", e.line, e.reason);
    }
    if report.progress.errors as usize > PRINTED_ERRORS {
        eprintln!(
            "… {} more",
            report.progress.errors as usize - PRINTED_ERRORS
        );
    }
    let mut out =
        BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
    for e in &report.errors {
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({"line": e.line, "reason": e.reason}),
        )?;
        out.write_all(b"\n")?;
    }
    if report.errors.len() < report.progress.errors as usize {
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({"omitted": report.progress.errors as usize - report.errors.len()}),
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprintln!("report: {}", path.display());
    Ok(())
}

/// Progress on stderr: a redrawn bar with rate and ETA on a terminal, a plain line every
/// few seconds otherwise (logs, CI).
pub(crate) struct Bar {
    verb: String,
    total: u64,
    start: Instant,
    last: Option<Instant>,
    terminal: bool,
    drawn: bool,
}

impl Bar {
    pub fn new(verb: &str, total: u64) -> Bar {
        Bar {
            verb: verb.to_string(),
            total,
            start: Instant::now(),
            last: None,
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    pub fn set_total(&mut self, total: u64) {
        self.total = total;
    }

    pub fn show(&mut self, p: &Progress) {
        let every = if self.terminal {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < every) {
            return;
        }
        self.last = Some(now);
        let items = p.models + p.twins + p.relationships;
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let fraction = if self.total == 0 {
            1.0
        } else {
            (p.bytes as f64 / self.total as f64).min(1.0)
        };
        let eta = if fraction > 0.0 {
            secs / fraction - secs
        } else {
            0.0
        };
        let rate = items as f64 / secs;
        let text = format!(
            "{} {:>5.1}%  {} items  {:.0} items/s  ETA {:.0}s  ({} refused)",
            self.verb,
            fraction * 100.0,
            items,
            rate,
            eta,
            p.errors
        );
        if self.terminal {
            let width = 30;
            let filled = (fraction * width as f64) as usize;
            eprint!(
                "\r[{}{}] {text}\x1b[K",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            self.drawn = true;
        } else {
            eprintln!("{text}");
        }
    }

    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}
