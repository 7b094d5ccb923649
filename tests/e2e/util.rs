//! The harness: run the real binary in a temporary directory with its own database.

#![allow(dead_code)] // each test module uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary working directory with a database path, running the real binary.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn db(&self) -> PathBuf {
        self.tmp.path().join("db")
    }

    /// The repository root (for fixtures).
    pub fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// A command for the binary with `--db` set, `RAPPORT_*` cleared and the data directory
    /// pointed into the temporary directory.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rapport"));
        c.current_dir(self.path())
            .env_remove("RAPPORT_DB")
            .env_remove("RAPPORT_CONNECT")
            .env_remove("RAPPORT_USER")
            .env_remove("RAPPORT_PASSWORD")
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("HOME", self.path())
            .arg("--db")
            .arg(self.db())
            .stdin(Stdio::null());
        c
    }

    /// Runs with these arguments and returns the output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run rapport")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rapport {args:?} failed: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }
}
