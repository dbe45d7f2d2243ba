//! The `twingraph` binary: a thin CLI over the engine, query and server crates.

mod export;
mod generate;
mod import;
mod query;
mod serve;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: the import pipeline and the server allocate on one
/// thread and free on another (staged lines, request bodies, rows), which glibc pays for in
/// arena locking and `malloc_consolidate`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "twingraph",
    version,
    about = "A digital twin graph database server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Azure Digital Twins data-plane API over HTTP(S).
    Serve(Box<serve::Args>),
    /// Validate DTDL files and folders as one model set.
    Validate(validate::Args),
    /// Run a query on a store (no server running on it) and print the rows as NDJSON.
    Query(query::Args),
    /// Load a bulk file (ADT import format) into a store no server has open.
    Import(import::Args),
    /// Write the whole store as a bulk file (the format `import` reads).
    Export(export::Args),
    /// Write the seeded smart-building graph of the benches as a bulk file.
    Generate(generate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Validate(args) => validate::run(args),
        Command::Query(args) => query::run(args),
        Command::Import(args) => import::run(args),
        Command::Export(args) => export::run(args),
        Command::Generate(args) => generate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
