//! Options every command shares, and what they resolve to: the database path, the server to
//! connect to, logging.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The database directory [default: the user's data directory, rapport/db].
    #[arg(long, global = true, env = "RAPPORT_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Connect to a running `rapport serve` at this address (host:port or a socket path)
    /// instead of opening the database in this process.
    #[arg(long, global = true, env = "RAPPORT_CONNECT", value_name = "ADDR")]
    pub connect: Option<String>,

    /// Log filter (e.g. `info`, `rapport=debug`); logs go to stderr, or to the log file for
    /// the console.
    #[arg(long, global = true, env = "RAPPORT_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Write logs to this file instead of stderr.
    #[arg(long, global = true, env = "RAPPORT_LOG_FILE", value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// MiB of store pages to keep in memory [default: 1024]. Not a hard limit: the process
    /// uses several times more (see docs/benchmarks.md).
    #[arg(long, global = true, env = "RAPPORT_CACHE_MIB", value_name = "MIB")]
    pub cache_mib: Option<u64>,
}

impl Global {
    /// The data directory that holds the default database, the demo database and logs.
    pub fn data_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("rapport")
    }

    /// The database path: `--db`, else `RAPPORT_DB`, else the data directory's `db`.
    pub fn db_path(&self) -> PathBuf {
        self.db
            .clone()
            .unwrap_or_else(|| Self::data_dir().join("db"))
    }

    /// The store's open options: the page cache of `--cache-mib`.
    pub fn open_options(&self) -> rapport_store::OpenOptions {
        let options = rapport_store::OpenOptions::default();
        match self.cache_mib {
            Some(mib) => options.with_cache_capacity(mib.max(1) << 20),
            None => options,
        }
    }

    /// Whether a database exists at the path (the storage engine writes `conf` in a new one).
    pub fn db_exists(&self) -> bool {
        self.db_path().join("conf").exists()
    }

    /// The one local-only guard: refuses `--connect` for a command that works on the
    /// database file itself (creating, restoring, or streaming it to stdout).
    pub fn local_only(&self, what: &str) -> anyhow::Result<()> {
        if self.connect.is_some() {
            anyhow::bail!(
                "`rapport {what}` works on the database file itself and cannot run over \
                 --connect: run it with --db on the server's machine (with the server stopped)"
            );
        }
        Ok(())
    }

    /// Refuses a path where there is no database: a mistyped `--db` must not silently create
    /// an empty database (and serve 0 customers). Only `init` and `demo` create one.
    pub fn require_db(&self) -> anyhow::Result<()> {
        if !self.db_exists() {
            anyhow::bail!(
                "no database at {}: create one with `rapport init --db PATH` (or check --db and RAPPORT_DB)",
                rapport_core::text::sanitize(&self.db_path().display().to_string())
            );
        }
        warn_if_readable_by_others(&self.db_path());
        Ok(())
    }

    /// Opens an existing database embedded, with a message that says what to do when a
    /// server holds it.
    pub fn open_store(&self) -> anyhow::Result<rapport_store::Store> {
        self.require_db()?;
        self.create_store()
    }

    /// Opens the database, creating it (its directory readable by its owner only) when there
    /// is none.
    pub fn create_store(&self) -> anyhow::Result<rapport_store::Store> {
        let path = self.db_path();
        if !path.exists() {
            create_private_dir(&path)
                .with_context(|| format!("creating the database directory {}", path.display()))?;
        } else {
            warn_if_readable_by_others(&path);
        }
        rapport_store::Store::open_with(&path, &self.open_options())
            .with_context(|| format!("opening the database at {}", path.display()))
    }
}

/// Creates a directory (and its missing parents) readable by its owner only (0700).
pub fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path)
}

/// Warns on stderr when the database directory can be read by other users.
pub fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                eprintln!(
                    "warning: the database {} can be read by other users (mode {mode:o}); \
                     restrict it with `chmod 700 {}`",
                    rapport_core::text::sanitize(&path.display().to_string()),
                    rapport_core::text::sanitize(&path.display().to_string())
                );
            }
        }
    }
}

/// Keeps the log file writer alive until the end of `main`.
pub struct LogGuard;

/// Sets up `tracing`: to the log file when the terminal belongs to the console (or
/// `--log-file` is given), else to stderr. Default level `warn`.
pub fn init_logging(global: &Global, console: bool) -> LogGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(global.log.as_deref().unwrap_or("warn"))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let file = global
        .log_file
        .clone()
        .or_else(|| console.then(|| Global::data_dir().join("rapport.log")));
    match file {
        Some(path) => {
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
                && !dir.exists()
            {
                let _ = create_private_dir(dir);
            }
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(f) => {
                    let _ = tracing_subscriber::fmt()
                        .with_env_filter(filter)
                        // A log line that cannot be written (stderr a pipe whose reader is
                        // gone) is dropped; the default would print about it to stderr,
                        // which panics whichever thread was logging (a stuck shutdown).
                        .log_internal_errors(false)
                        .with_ansi(false)
                        .with_writer(std::sync::Mutex::new(f))
                        .try_init();
                }
                Err(_) if console => {
                    // No log file and the terminal is the console's: drop logs rather than
                    // corrupt the screen.
                }
                Err(_) => {
                    let _ = tracing_subscriber::fmt()
                        .with_env_filter(filter)
                        // A log line that cannot be written (stderr a pipe whose reader is
                        // gone) is dropped; the default would print about it to stderr,
                        // which panics whichever thread was logging (a stuck shutdown).
                        .log_internal_errors(false)
                        .with_ansi(stderr_colours())
                        .with_writer(std::io::stderr)
                        .try_init();
                }
            }
        }
        None => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                // A log line that cannot be written (stderr a pipe whose reader is
                // gone) is dropped; the default would print about it to stderr,
                // which panics whichever thread was logging (a stuck shutdown).
                .log_internal_errors(false)
                .with_ansi(stderr_colours())
                .with_writer(std::io::stderr)
                .try_init();
        }
    }
    LogGuard
}

/// Colour in log lines only on a terminal, and not with `NO_COLOR` set: a log redirected
/// to a file or a pipe gets no escape sequences.
fn stderr_colours() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
