//! The console's configuration file: display options and partial key overrides.
//!
//! ```toml
//! ascii = true          # ASCII borders and charts (no box-drawing characters)
//! color = false         # no colours, like NO_COLOR
//! channel = "gate"      # the channel this operator works at (forms start with it)
//! touchpoint = "gate C12"
//!
//! [keys.record]
//! grant = "g"           # replaces only the keys of `grant` on the record screen
//!
//! [keys.global]
//! quit = ["q", "ctrl-q"]
//! ```
//!
//! The file is read into a plain struct first, then checked: an unknown section, action or
//! key is an error naming the file, the line and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::action::{BINDINGS, Context};
use crate::keymap::{KeyBinding, Keymap};

/// Display options and keys.
#[derive(Debug, Clone)]
pub struct Config {
    /// Keys, defaults with overrides applied.
    pub keymap: Keymap,
    /// Draw with ASCII only (borders, charts, markers).
    pub ascii: bool,
    /// Use colours (false with `NO_COLOR` or `color = false`).
    pub color: bool,
    /// The channel this operator works at (`channel = "call_center"`); forms start with it.
    /// Unset, every form asks for it: no channel is assumed for everyone.
    pub channel: Option<String>,
    /// The touchpoint forms start with (`touchpoint = "gate C12"`), by default empty.
    pub touchpoint: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            keymap: Keymap::default(),
            ascii: false,
            color: true,
            channel: None,
            touchpoint: String::new(),
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown field.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field has a value that makes no sense.
    #[error("{file}:{line}: {field}: {message}")]
    Field {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// The field, e.g. `keys.record.grant`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    ascii: Option<bool>,
    color: Option<bool>,
    channel: Option<Spanned<String>>,
    touchpoint: Option<String>,
    #[serde(default)]
    keys: BTreeMap<String, Spanned<BTreeMap<String, Spanned<OneOrMany>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Config {
    /// Reads the file if it exists; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                file: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses configuration text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let mut config = Config::default();
        if let Some(a) = raw.ascii {
            config.ascii = a;
        }
        if let Some(c) = raw.color {
            config.color = c;
        }
        if let Some(ch) = raw.channel {
            let line = line_of(ch.span().start);
            let name = ch.into_inner();
            if !rapport_core::Channel::BUILT_IN
                .iter()
                .any(|c| c.as_str() == name)
            {
                return Err(ConfigError::Field {
                    file: file.to_path_buf(),
                    line,
                    field: "channel".into(),
                    message: format!(
                        "unknown channel {name:?} (expected one of: {})",
                        rapport_core::Channel::BUILT_IN
                            .iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            config.channel = Some(name);
        }
        if let Some(t) = raw.touchpoint {
            config.touchpoint = t;
        }
        for (ctx_name, table) in raw.keys {
            let Some(ctx) = Context::ALL.into_iter().find(|c| c.as_str() == ctx_name) else {
                return Err(ConfigError::Field {
                    file: file.to_path_buf(),
                    line: line_of(table.span().start),
                    field: format!("keys.{ctx_name}"),
                    message: format!(
                        "unknown section (expected one of: {})",
                        Context::ALL.map(|c| c.as_str()).join(", ")
                    ),
                });
            };
            for (action_name, keys) in table.into_inner() {
                let line = line_of(keys.span().start);
                let field = format!("keys.{ctx_name}.{action_name}");
                let err = |message: String| ConfigError::Field {
                    file: file.to_path_buf(),
                    line,
                    field: field.clone(),
                    message,
                };
                let Some(action) = BINDINGS
                    .iter()
                    .filter(|b| b.context == ctx)
                    .map(|b| b.action)
                    .find(|a| a.name() == action_name)
                else {
                    let known: Vec<&str> = BINDINGS
                        .iter()
                        .filter(|b| b.context == ctx)
                        .map(|b| b.action.name())
                        .collect();
                    return Err(err(format!(
                        "no such action here (expected one of: {})",
                        known.join(", ")
                    )));
                };
                let names = match keys.into_inner() {
                    OneOrMany::One(k) => vec![k],
                    OneOrMany::Many(ks) => ks,
                };
                let mut parsed: Vec<KeyBinding> = Vec::new();
                for name in &names {
                    parsed.push(name.parse().map_err(|e| err(format!("{e}")))?);
                }
                config.keymap.set(ctx, action, parsed);
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    #[test]
    fn overrides_only_what_it_names() {
        let text = "ascii = true\n[keys.record]\ngrant = \"g\"\n[keys.global]\nquit = [\"Q\"]\n";
        let c = Config::parse(text, Path::new("console.toml")).unwrap();
        assert!(c.ascii);
        let key = |ch| KeyEvent::new(KeyCode::Char(ch), KeyModifiers::NONE);
        let ctx = [Context::Record, Context::Navigation, Context::Global];
        assert_eq!(c.keymap.lookup(&ctx, &key('g')), Some(Action::Grant));
        assert_eq!(c.keymap.lookup(&ctx, &key('c')), None);
        assert_eq!(c.keymap.lookup(&ctx, &key('Q')), Some(Action::Quit));
        assert_eq!(c.keymap.lookup(&ctx, &key('q')), None);
        // Untouched actions keep their defaults.
        assert_eq!(c.keymap.lookup(&ctx, &key('p')), Some(Action::Preference));
        assert_eq!(c.keymap.lookup(&ctx, &key('j')), Some(Action::Down));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let f = Path::new("console.toml");
        let e = Config::parse("[keys.record]\n\ngrnt = \"g\"\n", f).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("console.toml:3: keys.record.grnt: no such action"),
            "{msg}"
        );
        let e = Config::parse("[keys.record]\ngrant = \"hyper-g\"\n", f).unwrap_err();
        assert!(
            e.to_string()
                .contains("console.toml:2: keys.record.grant: unknown key")
        );
        let e = Config::parse("[keys.nowhere]\nquit = \"q\"\n", f).unwrap_err();
        assert!(
            e.to_string().contains("keys.nowhere: unknown section"),
            "{e}"
        );
        let e = Config::parse("colour = true\n", f).unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }
}
