//! End-to-end tests of the real `rapport` binary, each in its own temporary directory.
//! One module per area; `util` holds the shared harness.

mod act;
mod analytics;
mod assess;
mod console;
mod door;
mod erase;
mod fixtures;
mod governance;
mod identity;
mod learning;
mod portfolio;
mod repository;
mod service;
mod store;
mod util;
