//! Errors of the relationship-governance files (portfolios, offers, rules), each naming the
//! file, the line and the problem, and the TOML plumbing that locates them.
//!
//! The caller reads the file and passes its name and text: this crate does no I/O.

use std::fmt;
use std::ops::Range;

use serde::de::DeserializeOwned;

/// One mistake in a governance file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct ConfigError {
    /// The file, as the caller named it.
    pub file: String,
    /// 1-based line (0 when the problem concerns the whole file).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// Every mistake found in a governance file (loading goes on after the first one, so that
/// one round of fixes is enough).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors for one file.
pub(crate) struct Problems<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
    pub(crate) errors: Vec<ConfigError>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Problems<'a> {
        Problems {
            file,
            text,
            errors: Vec::new(),
        }
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line_of(&self, span: &Range<usize>) -> usize {
        let start = span.start.min(self.text.len());
        self.text[..start].bytes().filter(|&b| b == b'\n').count() + 1
    }

    pub(crate) fn at(&mut self, span: &Range<usize>, problem: impl Into<String>) {
        let line = self.line_of(span);
        self.line(line, problem);
    }

    pub(crate) fn line(&mut self, line: usize, problem: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            problem: problem.into(),
        });
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    /// Parses the TOML text into the raw form, or the one error TOML reports.
    pub(crate) fn toml<T: DeserializeOwned>(&self) -> Result<T, ConfigErrors> {
        toml::from_str(self.text).map_err(|e| {
            let line = e.span().map(|s| self.line_of(&s)).unwrap_or(0);
            ConfigErrors(vec![ConfigError {
                file: self.file.to_string(),
                line,
                problem: e.message().trim().to_string(),
            }])
        })
    }
}

/// An id of a portfolio or offer: 1-40 lower-case letters, digits, `-` or `_`.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 40
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid id (1-40 lower-case letters, digits, `-` or `_`)",
            id.chars().take(40).collect::<String>()
        ))
    }
}
