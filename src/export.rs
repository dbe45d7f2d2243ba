//! `twingraph export --data-dir DIR [FILE]`: writes the whole store (one snapshot) in the
//! bulk format, to FILE or standard output. Importing the output into an empty store and
//! exporting again gives the same bytes. Opens the store read-only (`export_store`), without
//! building the in-memory graph a server needs.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use twingraph_engine::bulk::export_store;

#[derive(clap::Args)]
pub struct Args {
    /// Folder holding the store (no server may have it open).
    #[arg(long, default_value = "./twingraph-data")]
    data_dir: PathBuf,
    /// Output file; standard output when absent.
    file: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.data_dir.is_dir() {
        bail!("no store at {}", args.data_dir.display());
    }
    let start = Instant::now();
    let out: Box<dyn Write> = match &args.file {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let out = BufWriter::with_capacity(1 << 20, out);
    // The bar's total is RocksDB's estimate of the twins and relationships.
    let mut bar = crate::import::Bar::new("exporting", 0);
    let done = export_store(&args.data_dir, out, &mut |p| {
        bar.set_total(p.estimated_items);
        bar.show(&twingraph_engine::bulk::Progress {
            bytes: p.twins + p.relationships,
            models: p.models,
            twins: p.twins,
            relationships: p.relationships,
            ..Default::default()
        });
    });
    bar.finish();
    let done = match done {
        Ok(done) => done,
        // `twingraph export | head` closes the pipe early: not a failure.
        Err(e) if args.file.is_none() && e.to_string().contains("Broken pipe") => {
            return Ok(ExitCode::SUCCESS)
        }
        Err(e) => return Err(e.into()),
    };
    let secs = start.elapsed().as_secs_f64();
    let items = done.models + done.twins + done.relationships;
    eprintln!(
        "exported {} models, {} twins, {} relationships in {secs:.1} s ({:.0} items/s)",
        done.models,
        done.twins,
        done.relationships,
        items as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
