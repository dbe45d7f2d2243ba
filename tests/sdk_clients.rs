//! Client compatibility: the official Azure Digital Twins SDKs (Python
//! `azure-digitaltwins-core`, JavaScript `@azure/digital-twins-core`) drive a full scenario
//! over TLS against the real `twingraph serve`. The suite itself is `scripts/sdk-test`
//! (tests/sdk/); this test runs it with the binary cargo just built, so the README's test
//! command covers it.
//!
//! Needs python3 (with venv) and node/npm; the first run installs the SDKs from PyPI and npm
//! into tests/sdk/.venv and tests/sdk/js/node_modules, later runs reuse them.

use std::path::Path;
use std::process::Command;

#[test]
fn official_sdks_drive_the_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("scripts").join("sdk-test");
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(root)
        .env("TWINGRAPH_BIN", env!("CARGO_BIN_EXE_twingraph"))
        .output()
        .expect("running scripts/sdk-test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("sdk: "))
        .unwrap_or("no `sdk:` summary line");
    assert!(
        out.status.success(),
        "scripts/sdk-test failed ({}): {summary}; the failing checks are the FAIL lines above",
        out.status
    );
}
