//! The `twingraph serve` a load bench measures: the binary cargo built, on a free loopback
//! port, its data and log in a temporary folder; killed when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};

pub struct Server {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server with its data in `dir` (which files the caller put there, such as
    /// an endpoints file, share) and `args` after `serve --data-dir --listen`; returns once
    /// it listens.
    pub fn start(dir: tempfile::TempDir, args: &[String]) -> anyhow::Result<Server> {
        let log = dir.path().join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_twingraph"))
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log)?))
            .spawn()
            .context("starting twingraph serve")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(line) => {
                    if let Some(url) = line?.strip_prefix("listening on http://") {
                        break url.to_string();
                    }
                }
                None => bail!(
                    "the server exited before listening: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Server {
            child,
            addr,
            log,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
