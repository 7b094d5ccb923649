//! Rapport's terminal console: find a customer, see the unified record with value tier and
//! live interaction history, and act by policy, over the [`rapport_service::Service`] API
//! (embedded or connected to `rapport serve`).
//!
//! Elm-style: keys become [`Action`]s through the [`Keymap`] built from the one action table
//! ([`action::BINDINGS`]), `App::update` changes the state and starts background requests
//! whose replies come back as [`Event`]s (the newest request of a kind wins), and
//! `App::view` draws from the state without changing it. One loop ([`run_loop`]) handles a
//! closed set of events and is generic over the ratatui backend, so tests drive it with key
//! events into a `TestBackend`. Only this crate knows the terminal.
//!
//! ```
//! use std::path::Path;
//! use rapport_console::{Config, action::key_table_markdown};
//!
//! // Keys come from the action table; a configuration file overrides only what it names.
//! let config = Config::parse("[keys.record]\ngrant = \"g\"\n", Path::new("console.toml")).unwrap();
//! let table = key_table_markdown(&config.keymap);
//! assert!(table.contains("| `g` | grant |"));
//! assert!(table.contains("| `q` `ctrl-c` | quit |"));
//! ```

pub mod action;
mod app;
pub mod config;
mod error;
pub mod event;
mod fmt;
pub mod keymap;
mod login;
mod policy;
mod popups;
mod screens;
mod terminal;
mod theme;
mod view;

pub use action::Action;
pub use app::App;
pub use config::{Config, ConfigError};
pub use error::ConsoleError;
pub use event::{Event, Reply};
pub use keymap::Keymap;
pub use login::{LoginScreen, LoginStep, login_loop};
pub use rapport_core::Clock;
pub use screens::ScreenId;
pub use terminal::{Tui, run_loop};
pub use theme::Theme;
