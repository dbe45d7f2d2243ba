//! The public corpora the tests read beside the project (`tests/data/corpora.tsv` lists
//! them with their origin), and the one-line refusal when one is missing: a test that needs
//! a folder says which and where it comes from, instead of failing deep in a helper.

use std::path::{Path, PathBuf};

/// Where the corpora live: `$TWINGRAPH_SHARED`, else the folder `shared` beside the
/// repository root.
pub fn shared_root() -> PathBuf {
    match std::env::var_os("TWINGRAPH_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
}

/// The origin `tests/data/corpora.tsv` gives for `folder`.
fn origin(folder: &str) -> String {
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpora.tsv");
    std::fs::read_to_string(&list)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, origin) = l.split_once('\t')?;
            (name == folder).then(|| origin.to_string())
        })
        .unwrap_or_else(|| format!("(not listed in {})", list.display()))
}

/// `folder` (e.g. `corpus/dtdl-cases`) under `root`, or the message naming what is missing.
pub fn locate_in(root: &Path, folder: &str) -> Result<PathBuf, String> {
    let path = root.join(folder);
    if path.is_dir() {
        Ok(path)
    } else {
        Err(format!(
            "missing corpus folder {}: it holds {}; put it there or set TWINGRAPH_SHARED to the folder that holds corpus/",
            path.display(),
            origin(folder)
        ))
    }
}

/// `folder` under the shared root; a missing one fails the test with its one-line message.
pub fn require(folder: &str) -> PathBuf {
    locate_in(&shared_root(), folder).unwrap_or_else(|message| panic!("{message}"))
}
