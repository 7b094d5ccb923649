//! The command-line grammar. Each command family's arguments live beside its code in `cmd/`.

use clap::{Parser, Subcommand};

use crate::cmd;
use crate::global::Global;

/// Rapport: one pooled, identity-resolved customer repository with value tiers, policy and a
/// live terminal console for everyone who serves customers.
#[derive(Debug, Parser)]
#[command(name = "rapport", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the demo world (first run or --reset) and open the console on it.
    Demo(cmd::console::DemoArgs),
    /// Open the console on the database or a server.
    Console(cmd::console::ConsoleArgs),
    /// Create an empty database.
    Init(cmd::store::InitArgs),
    /// Counts per tree and size on disk.
    Stats(cmd::store::StatsArgs),
    /// Export the whole store as JSON Lines (backup), or the identities with `export identities`.
    Export(cmd::store::ExportArgs),
    /// Import a JSON Lines export into an empty database (restore).
    Import(cmd::store::ImportArgs),
    /// Generate demo worlds.
    #[command(subcommand)]
    Fixtures(cmd::fixtures::FixturesCommand),
    /// Ingest source files through their mappings.
    Ingest(cmd::repository::IngestArgs),
    /// Work the quarantine of rows that could not be ingested.
    #[command(subcommand)]
    Quarantine(cmd::repository::QuarantineCommand),
    /// Explain merges.
    #[command(subcommand)]
    Merge(cmd::identity::MergeCommand),
    /// Work the merge-review queue.
    #[command(subcommand)]
    Review(cmd::identity::ReviewCommand),
    /// Split a customer back into the customers it was merged from.
    Unmerge(cmd::identity::UnmergeArgs),
    /// Erase a customer's personal data on request, keeping the facts under a pseudonym.
    Erase(cmd::erase::EraseArgs),
    /// Data-quality report.
    Quality(cmd::repository::QualityArgs),
    /// Find customers by name, phone, e-mail, loyalty number or source key.
    Search(cmd::repository::SearchArgs),
    /// Show a unified customer record.
    #[command(subcommand)]
    Customer(cmd::repository::CustomerCommand),
    /// Compute value, lifetime value, probability alive, churn and tiers for every customer.
    Score(cmd::analytics::ScoreArgs),
    /// Fit lifetime-value models on your own data.
    #[command(subcommand)]
    Clv(cmd::analytics::ClvCommand),
    /// Customers per value tier.
    Tiers(cmd::analytics::TiersArgs),
    /// Value skew: Lorenz curve, Gini and top shares.
    Skew(cmd::analytics::SkewArgs),
    /// Working lists (complainers, halved, single-product, lost, at-risk).
    Lists(cmd::analytics::ListsArgs),
    /// How a customer's amounts count: currency and day rate, and which source's record of an
    /// event carries the money.
    #[command(subcommand)]
    Value(cmd::analytics::ValueCommand),
    /// Exchange rates by day (load an ECB-layout rates file, show what is stored).
    #[command(subcommand)]
    Rates(cmd::analytics::RatesCommand),
    /// Run the server that owns the database and serves consoles and scripts.
    Serve(cmd::service::ServeArgs),
    /// Grant compensation for a disruption, at most once per customer and disruption.
    Compensate(cmd::service::CompensateArgs),
    /// A disrupted flight (or lost bag) with its affected passengers; --grant grants them all.
    Flight(cmd::front::FlightArgs),
    /// A customer's disruptions with what the policy entitles and any grant made.
    Disruptions(cmd::front::DisruptionsArgs),
    /// Declare a disruption the sources do not report yet.
    #[command(subcommand)]
    Disruption(cmd::front::DisruptionCommand),
    /// Log an interaction (complaint, inquiry, note, idea...) for a customer.
    Log(cmd::act::LogArgs),
    /// Complaints as cases: open (about a disruption or booking), resolve once, list.
    #[command(subcommand)]
    Complaint(cmd::act::ComplaintCommand),
    /// Record a preference the customer stated (the newest per topic wins).
    Prefer(cmd::act::PreferArgs),
    /// Manage operators.
    #[command(subcommand)]
    Operator(cmd::service::OperatorCommand),
    /// Where the organisation stands on the four stages of customer focus.
    Assess(cmd::assess::AssessArgs),
    /// Portfolios and their customer managers: list, show, assign by rules, move by hand.
    #[command(subcommand)]
    Portfolio(cmd::relationship::PortfolioCommand),
    /// Offers and rules: explain a customer's offers, record answers, the report, load files.
    #[command(subcommand)]
    Offer(cmd::relationship::OfferCommand),
    /// Customer equity by portfolio and tier, and its change since the last scoring run.
    Equity(cmd::relationship::EquityArgs),
    /// Experiments with a control group: create, declare, assign, status, report.
    #[command(subcommand)]
    Experiment(cmd::learning::ExperimentCommand),
    /// Campaigns on short scored lists: create, list, report.
    #[command(subcommand)]
    Campaign(cmd::learning::CampaignCommand),
    /// The hand-offs of the pipeline: owner, cadence, last done, overdue steps.
    Handoffs(cmd::learning::JsonArgs),
    /// Front-line ideas: the analysts' queue, tag, link, close; your own.
    #[command(subcommand)]
    Ideas(cmd::learning::IdeasCommand),
    /// The tamper-evident audit trail of every write and every record opened.
    #[command(subcommand)]
    Audit(cmd::governance::AuditCommand),
    /// The compensation policy and goodwill limits per role, as versioned data.
    #[command(subcommand)]
    Policy(cmd::governance::PolicyCommand),
    /// Grant goodwill for a disruption, up to your role's limit; above it, send it for approval.
    Goodwill(cmd::governance::GoodwillArgs),
    /// The queue of goodwill above the requester's limit: list, approve, change, refuse.
    #[command(subcommand)]
    Approvals(cmd::governance::ApprovalsCommand),
}

impl Command {
    /// Whether logs must go to a file because the terminal belongs to the console.
    pub fn logs_to_file(&self) -> bool {
        matches!(self, Command::Demo(_) | Command::Console(_))
    }
}
