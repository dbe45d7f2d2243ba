//! `twingraph query`: run one query on the embedded store and print its rows as NDJSON, one
//! JSON value per line, for scripts. `EXPLAIN <query>` prints the plan text instead.
//!
//! The store must exist and no server may have it open (RocksDB allows one process). Every
//! page is read from one snapshot, so the output is one consistent state even for large results.
//! Exit code 0 on success, 1 when the query is refused (syntax, semantics, limits), 2 otherwise.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use twingraph_engine::{Engine, EngineConfig};
use twingraph_query::{next_page, prepare, Error, QueryOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Folder holding the store (as given to `twingraph serve`).
    #[arg(long, default_value = "./twingraph-data")]
    data_dir: PathBuf,
    /// Read MATCH hop ranges as Cypher does (`*1..3` is 1 to 3 hops).
    #[arg(long)]
    cypher_hops: bool,
    /// Rows read per page: the output is streamed page by page, so this bounds memory.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    page_size: u32,
    /// The query text, e.g. "SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:x:Room;1')".
    query: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.data_dir.is_dir() {
        bail!("no store at {}", args.data_dir.display());
    }
    let options = QueryOptions {
        cypher_hops: args.cypher_hops,
        timeout: None,
    };
    // Refuse a bad query before opening the store, so the message is about the query.
    let prepared = match prepare(&args.query, &options) {
        Ok(prepared) => prepared,
        Err(err) => return Ok(refused(&err)),
    };
    let mut out = std::io::stdout().lock();
    if prepared.is_explain() {
        write!(out, "{}", prepared.explain())?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = EngineConfig {
        sync_writes: false,
        ..EngineConfig::default()
    };
    let engine = Engine::open(&args.data_dir, config).with_context(|| {
        format!(
            "opening the store at {} (is a server running on it?)",
            args.data_dir.display()
        )
    })?;
    let snapshot = engine.snapshot();
    let page_size = args.page_size as usize;
    let mut page = match prepared.first_page(&snapshot, page_size, &options) {
        Ok(page) => page,
        Err(err) => return Ok(refused(&err)),
    };
    loop {
        for row in &page.rows {
            let written = out
                .write_all(row.as_str().as_bytes())
                .and_then(|()| out.write_all(b"\n"));
            if let Err(err) = written {
                // `twingraph query ... | head` closes the pipe early: not a failure.
                if err.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(err.into());
            }
        }
        let Some(token) = page.continuation.take() else {
            break;
        };
        page = next_page(&snapshot, &token, page_size, &options)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A query the user can fix: the message on stderr and exit code 1; a bug is still an error.
fn refused(err: &Error) -> ExitCode {
    eprintln!("error: {err}");
    match err {
        Error::Internal(_) | Error::Engine(_) => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}
