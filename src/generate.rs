//! `twingraph generate --twins N --seed S [FILE]`: the seeded smart-building graph of the
//! benches (benches/common/building.rs), written in the bulk format. The generator runs
//! twice with the same seed, twins first, then relationships, so nothing is held in memory.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Map, Value};
use twingraph_engine::bulk::format::Writer;
use twingraph_engine::bulk::Section;

#[path = "../benches/common/building.rs"]
mod building;

#[derive(clap::Args)]
pub struct Args {
    /// About how many twins (whole buildings of 611 twins, at least one).
    #[arg(long, default_value_t = 10_000)]
    twins: usize,
    /// Seed of the generator: the same seed gives the same file.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output file; standard output when absent.
    file: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let out: Box<dyn Write> = match &args.file {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = Writer::new(BufWriter::with_capacity(1 << 20, out));
    let header = serde_json::json!({"fileVersion": "1.0.0", "author": "twingraph generate",
        "organization": format!("smart building, {} twins, seed {}", args.twins, args.seed)});
    writer.write(Section::Header, &header)?;
    for model in building::models() {
        writer.write(Section::Models, &model)?;
    }
    let mut failed = None;
    building::stream(args.twins, args.seed, &mut |item| {
        if let (building::Item::Twin(t), None) = (item, &failed) {
            let mut line = Map::new();
            line.insert("$dtId".into(), Value::String(t.id));
            if let Value::Object(body) = t.body {
                line.extend(body);
            }
            if let Err(e) = writer.write(Section::Twins, &Value::Object(line)) {
                failed = Some(e);
            }
        }
    });
    building::stream(args.twins, args.seed, &mut |item| {
        if let (building::Item::Rel(r), None) = (item, &failed) {
            let line = serde_json::json!({"$dtId": r.source, "$relationshipId": r.id,
                "$targetId": r.target, "$relationshipName": r.name});
            if let Err(e) = writer.write(Section::Relationships, &line) {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e.into());
    }
    writer.finish()?.flush()?;
    Ok(ExitCode::SUCCESS)
}
