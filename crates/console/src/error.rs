//! The console's errors.

/// Why the console could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The terminal could not be set up, drawn or restored.
    #[error("terminal: {0}")]
    Terminal(String),
    /// Reading the terminal or a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The configuration file is wrong.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}
