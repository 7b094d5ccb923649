//! One module per command family; `run` dispatches.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod act;
pub mod analytics;
pub mod assess;
pub mod console;
pub mod erase;
pub mod fixtures;
pub mod front;
pub mod governance;
pub mod identity;
pub mod learning;
pub mod relationship;
pub mod repository;
pub mod service;
pub mod store;

/// JSON for a human or a script on stdout: bidirectional and invisible characters escaped
/// (`\u202e`) as the terminal output removes them.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let text = serde_json::to_string(value)?;
    Ok(rapport_core::text::escape_json_invisible(&text).into_owned())
}

/// [`json`], pretty-printed.
pub fn json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    Ok(rapport_core::text::escape_json_invisible(&text).into_owned())
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Demo(a) => console::demo(g, a),
        Command::Console(a) => console::console(g, a),
        Command::Init(a) => store::init(g, a),
        Command::Stats(a) => store::stats(g, a),
        Command::Export(a) => store::export(g, a),
        Command::Import(a) => store::import(g, a),
        Command::Fixtures(c) => fixtures::run(g, c),
        Command::Ingest(a) => repository::ingest(g, a),
        Command::Quarantine(c) => repository::quarantine(g, c),
        Command::Merge(c) => identity::merge(g, c),
        Command::Review(c) => identity::review(g, c),
        Command::Unmerge(a) => identity::unmerge(g, a),
        Command::Erase(a) => erase::erase(g, a),
        Command::Quality(a) => repository::quality(g, a),
        Command::Search(a) => repository::search(g, a),
        Command::Customer(c) => repository::customer(g, c),
        Command::Score(a) => analytics::score(g, a),
        Command::Clv(c) => analytics::clv(g, c),
        Command::Tiers(a) => analytics::tiers(g, a),
        Command::Skew(a) => analytics::skew(g, a),
        Command::Lists(a) => analytics::lists(g, a),
        Command::Rates(c) => analytics::rates(g, c),
        Command::Value(c) => analytics::value(g, c),
        Command::Serve(a) => service::serve(g, a),
        Command::Compensate(a) => service::compensate(g, a),
        Command::Flight(a) => front::flight(g, a),
        Command::Disruptions(a) => front::disruptions(g, a),
        Command::Disruption(c) => front::disruption(g, c),
        Command::Log(a) => act::log(g, a),
        Command::Complaint(c) => act::complaint(g, c),
        Command::Prefer(a) => act::prefer(g, a),
        Command::Operator(c) => service::operator(g, c),
        Command::Assess(a) => assess::assess(g, a),
        Command::Portfolio(c) => relationship::portfolio(g, c),
        Command::Offer(c) => relationship::offer(g, c),
        Command::Equity(a) => relationship::equity(g, a),
        Command::Experiment(c) => learning::experiment(g, c),
        Command::Campaign(c) => learning::campaign(g, c),
        Command::Handoffs(a) => learning::handoffs(g, a),
        Command::Ideas(c) => learning::ideas(g, c),
        Command::Audit(c) => governance::audit(g, c),
        Command::Policy(c) => governance::policy(g, c),
        Command::Goodwill(a) => governance::goodwill(g, a),
        Command::Approvals(c) => governance::approvals(g, c),
    }
}
