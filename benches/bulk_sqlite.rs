//! The SQLite peer of `twingraph import`, for `benches/run`: loads the same bulk file into
//! SQLite (rusqlite, bundled) in one transaction, storing each twin and relationship as raw
//! JSON text under a primary key, and prints one JSON line with the figures.
//!
//! Usage: `cargo bench --workspace --bench bulk_sqlite -- FILE DB`

use std::io::BufRead;
use std::time::Instant;

use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo test --all-targets` runs this without `--bench` (and maybe with a test filter):
    // a smoke run on the small generated fixture.
    if !std::env::args().any(|a| a == "--bench") {
        let dir = std::env::temp_dir().join(format!("bulk_sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/bulk/generated.ndjson"
        );
        let loaded = load(file, &dir.join("peer.sqlite").to_string_lossy());
        std::fs::remove_dir_all(&dir)?;
        let (models, twins, rels) = loaded?;
        if models == 0 || twins == 0 || rels == 0 {
            return Err(format!(
                "smoke load found {models} models, {twins} twins, {rels} relationships"
            )
            .into());
        }
        return Ok(());
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (Some(file), Some(db)) = (args.first(), args.get(1)) else {
        return Err("usage: bulk_sqlite FILE DB".into());
    };
    let start = Instant::now();
    let (models, twins, rels) = load(file, db)?;
    let secs = start.elapsed().as_secs_f64();
    let items = models + twins + rels;
    println!(
        "{}",
        serde_json::json!({"models": models, "twins": twins, "relationships": rels,
            "seconds": secs, "items_per_second": items as f64 / secs})
    );
    Ok(())
}

/// Loads `file` into a new SQLite database at `db`; returns (models, twins, relationships).
fn load(file: &str, db: &str) -> Result<(u64, u64, u64), Box<dyn std::error::Error>> {
    let _ = std::fs::remove_file(db);
    let mut conn = rusqlite::Connection::open(db)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE models (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
         CREATE TABLE twins (id TEXT PRIMARY KEY, model TEXT NOT NULL, doc TEXT NOT NULL);
         CREATE TABLE relationships (source TEXT NOT NULL, id TEXT NOT NULL, target TEXT NOT NULL,
             name TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (source, id));",
    )?;
    let tx = conn.transaction()?;
    let (mut models, mut twins, mut rels) = (0u64, 0u64, 0u64);
    {
        let mut model = tx.prepare("INSERT INTO models VALUES (?1, ?2)")?;
        let mut twin = tx.prepare("INSERT INTO twins VALUES (?1, ?2, ?3)")?;
        let mut rel = tx.prepare("INSERT INTO relationships VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
        let mut section = String::new();
        for line in input.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            // Each line is parsed once, as any loader must to find its keys.
            let v: Value = serde_json::from_str(&line)?;
            if let Some(s) = v.get("Section").and_then(Value::as_str) {
                section = s.to_string();
                continue;
            }
            let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
            match section.as_str() {
                "Models" => {
                    model.execute((text("@id"), &line))?;
                    models += 1;
                }
                "Twins" => {
                    let m = v
                        .pointer("/$metadata/$model")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    twin.execute((text("$dtId"), m, &line))?;
                    twins += 1;
                }
                "Relationships" => {
                    rel.execute((
                        text("$dtId"),
                        text("$relationshipId"),
                        text("$targetId"),
                        text("$relationshipName"),
                        &line,
                    ))?;
                    rels += 1;
                }
                _ => {}
            }
        }
    }
    tx.commit()?;
    Ok((models, twins, rels))
}
