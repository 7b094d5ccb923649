//! The harness: run the real binary in a temporary directory with its own database.

#![allow(dead_code)] // each test module uses a different part of the harness

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

    /// `rapport init`: every command but `init` and `demo` needs an existing database.
    pub fn init(&self) {
        self.init_on(&self.db());
    }

    /// `rapport init` on another database path.
    pub fn init_on(&self, db: &Path) {
        let out = self
            .cmd_on(db)
            .arg("init")
            .output()
            .expect("run rapport init");
        assert!(out.status.success(), "rapport init: {out:?}");
    }

    /// A command for the binary with `--db` set, `RAPPORT_*` cleared and the data directory
    /// pointed into the temporary directory.
    pub fn cmd(&self) -> Command {
        self.cmd_on(&self.db())
    }

    /// The same on another database path (e.g. the demo database the test built).
    pub fn cmd_on(&self, db: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rapport"));
        c.current_dir(self.path())
            .env_remove("RAPPORT_DB")
            .env_remove("RAPPORT_CONNECT")
            .env_remove("RAPPORT_USER")
            .env_remove("RAPPORT_PASSWORD")
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("HOME", self.path())
            .arg("--db")
            .arg(db)
            .stdin(Stdio::null());
        c
    }

    /// `rapport operator add NAME --role ROLE --password-stdin` on `db`; returns stdout.
    pub fn add_operator_on(&self, db: &Path, name: &str, role: &str, password: &str) -> String {
        let mut child = self
            .cmd_on(db)
            .args(["operator", "add", name, "--role", role, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rapport operator add");
        writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write password");
        let out = child.wait_with_output().expect("wait for operator add");
        assert!(
            out.status.success(),
            "operator add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `rapport serve` on `db` on a free loopback port and waits for its server file;
    /// returns the server and its address.
    pub fn start_server_on(&self, db: &Path) -> (Server, String) {
        let server = Server(
            self.cmd_on(db)
                .args(["serve", "--listen", "127.0.0.1:0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run rapport serve"),
        );
        let t0 = Instant::now();
        loop {
            if let Some(a) = rapport_service::running_server(db)
                && let Some(l) = a.listen
                && a.pid == Some(server.0.id())
            {
                return (server, l);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
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

/// A `rapport serve` child, killed and reaped when dropped (also when an assertion fails).
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
