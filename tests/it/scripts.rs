//! Issue 14: the README's commands on a fresh machine. `scripts/setup` decides libclang is
//! missing the way bindgen looks for it (never fooled by a file whose name merely contains
//! "libclang"), and `scripts/test` names a missing corpus folder before building anything.
//! Both run against a fake file system: `TWINGRAPH_SETUP_ROOT`, and fake `apt-get`,
//! `ldconfig`, `llvm-config`, `sudo` and `cargo` first on `PATH`, which record their calls.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../common/corpus.rs"]
mod corpus;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fake machine: an empty root, and a bin folder whose commands log to `calls.log`.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        let fake = Fake {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(fake.root()).unwrap();
        std::fs::create_dir_all(fake.bin()).unwrap();
        let log = fake.log();
        let record = |name: &str, then: &str| {
            let script = format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{then}\n",
                log.display()
            );
            let path = fake.bin().join(name);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        record("apt-get", "exit 0");
        record("cargo", "exit 0");
        record("sudo", "exec \"$@\"");
        // No LLVM installation to ask.
        record("llvm-config", "exit 1");
        // What ldconfig lists on a machine with LLVM but no libclang: the name that fooled
        // the old check.
        record(
            "ldconfig",
            "echo '\tlibclang-cpp.so.14 (libc6,x86-64) => /lib/x86_64-linux-gnu/libclang-cpp.so.14'",
        );
        fake
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }

    /// Creates an empty file under the fake root (or anywhere, for an absolute path).
    fn file(&self, path: &str) -> PathBuf {
        let path = self.root().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"").unwrap();
        path
    }

    /// Runs a script of the repository with the fake first on PATH and `env` set.
    fn run(&self, script: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut command = Command::new(repo().join(script));
        command
            .args(args)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin().display()))
            .env("HOME", self.dir.path())
            .env("TWINGRAPH_SETUP_ROOT", self.root());
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn installs_libclang(&self) -> bool {
        self.calls()
            .lines()
            .any(|l| l.starts_with("apt-get install") && l.contains("libclang-dev"))
    }
}

fn setup(fake: &Fake, env: &[(&str, &Path)]) -> bool {
    let out = fake.run("scripts/setup", &[], env);
    assert!(
        out.status.success(),
        "scripts/setup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fake.installs_libclang()
}

#[test]
fn setup_is_not_fooled_by_libclang_cpp() {
    let fake = Fake::new();
    fake.file("/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14");
    fake.file("/usr/lib/llvm-14/lib/libclang-cpp.so.14");
    fake.file("/usr/lib/llvm-14/lib/libLLVM-14.so.1");
    assert!(setup(&fake, &[]), "calls: {}", fake.calls());
}

#[test]
fn setup_finds_libclang_where_bindgen_does() {
    // Debian's libclang1-14, and the names bindgen accepts, in its system folders.
    for file in [
        "/usr/lib/llvm-14/lib/libclang-14.so.1",
        "/usr/lib/llvm-14/lib/libclang.so.1",
        "/usr/lib/x86_64-linux-gnu/libclang-14.so.14.0.6",
        "/usr/lib/libclang.so",
        "/usr/local/lib/libclang-17.so",
        "/usr/local/llvm17/lib/libclang.so.17",
    ] {
        let fake = Fake::new();
        fake.file("/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14");
        fake.file(file);
        assert!(!setup(&fake, &[]), "{file}: calls: {}", fake.calls());
    }
}

#[test]
fn setup_follows_the_library_path_variables() {
    // LIBCLANG_PATH is the only place bindgen looks when it is set.
    let fake = Fake::new();
    fake.file("/usr/lib/llvm-14/lib/libclang-14.so.1");
    let elsewhere = fake
        .file("/opt/empty/README")
        .parent()
        .unwrap()
        .to_path_buf();
    assert!(setup(&fake, &[("LIBCLANG_PATH", &elsewhere)]));

    let fake = Fake::new();
    let lib = fake.file("/opt/llvm/lib/libclang.so");
    assert!(!setup(&fake, &[("LIBCLANG_PATH", lib.parent().unwrap())]));
    let fake = Fake::new();
    let lib = fake.file("/opt/llvm/lib/libclang.so");
    assert!(!setup(&fake, &[("LIBCLANG_PATH", &lib)]));

    // LD_LIBRARY_PATH is searched, with the same names.
    let fake = Fake::new();
    let lib = fake.file("/opt/llvm/lib/libclang-15.so.1");
    assert!(!setup(&fake, &[("LD_LIBRARY_PATH", lib.parent().unwrap())]));
    let fake = Fake::new();
    let lib = fake.file("/opt/llvm/lib/libclang-cpp.so.15");
    assert!(setup(&fake, &[("LD_LIBRARY_PATH", lib.parent().unwrap())]));
}

#[test]
fn test_command_names_a_missing_corpus_before_building() {
    let fake = Fake::new();
    let nowhere = fake.dir.path().join("no-shared");
    let out = fake.run("scripts/test", &[], &[("TWINGRAPH_SHARED", &nowhere)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let cases = nowhere.join("corpus/dtdl-cases");
    let line = stderr
        .lines()
        .find(|l| l.contains(&cases.display().to_string()))
        .unwrap_or_else(|| panic!("no line names {}: {stderr}", cases.display()));
    assert!(
        line.contains("https://github.com/digitaltwinconsortium/DTDLParser")
            && line.contains("c368fb0828aa7944747d147c1bf6e3999c095f62"),
        "{line}"
    );
    assert!(stderr.contains("corpus/dtdl/building:"), "{stderr}");
    // Nothing was installed or built.
    assert_eq!(fake.calls(), "", "{stderr}");
}

#[test]
fn a_missing_corpus_is_one_line_naming_its_origin() {
    let fake = Fake::new();
    let message = corpus::locate_in(fake.dir.path(), "corpus/dtdl-cases").unwrap_err();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains(
        &fake
            .dir
            .path()
            .join("corpus/dtdl-cases")
            .display()
            .to_string()
    ));
    assert!(message.contains("https://github.com/digitaltwinconsortium/DTDLParser"));
    assert!(message.contains("TWINGRAPH_SHARED"));
    let message = corpus::locate_in(fake.dir.path(), "corpus/dtdl/building").unwrap_err();
    assert!(message.contains("https://github.com/Azure/opendigitaltwins-building"));
    // The corpora this checkout's tests use are there.
    for folder in [
        "corpus/dtdl-cases",
        "corpus/dtdl/building",
        "corpus/dtdl/building-dtdlv2",
    ] {
        corpus::require(folder);
    }
}
