//! `rapport experiment`, `rapport campaign`, `rapport handoffs` and `rapport ideas`: the
//! learning loop (#20), through the service.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use rapport_core::CustomerId;
use rapport_core::text::sanitize;
use rapport_governance::experiment::ExperimentStatus;
use rapport_governance::handoff::StepState;
use rapport_governance::idea::{IdeaState, LinkKind};
use rapport_service::Learning;
use rapport_service::learning::{
    CampaignReport, CampaignSpec, ExperimentResult, ExperimentSpec, ExperimentSummary,
    HandoffsView, IdeaEntry,
};

use crate::cmd::service::{connect, runtime};
use crate::global::Global;

/// `rapport experiment ...`.
#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Define an experiment (assign it with `experiment assign`).
    Create(DefineArgs),
    /// Declare an experiment run outside the product from the source contacts on record
    /// (the campaign named like the experiment; its list names are the arms).
    Declare(DefineArgs),
    /// Assign the eligible population at random, reproducibly from the seed.
    Assign(IdArgs),
    /// Where an experiment stands (every experiment without an id).
    Status(StatusArgs),
    /// Each arm's outcome with its 95% interval, uplift over control with p-values, cost,
    /// incremental profit and the recommendation.
    Report(IdArgs),
}

/// An experiment's definition.
#[derive(Debug, Args)]
pub struct DefineArgs {
    /// Id, e.g. APOLOGY-2027 (for `declare`: the campaign id of its contacts).
    pub id: String,
    /// What the experiment tests.
    #[arg(long)]
    pub hypothesis: String,
    /// Who is eligible, e.g. "delay >= 3h within 30d and tier in A,B" (for `declare`: a
    /// description).
    #[arg(long, default_value = "all")]
    pub population: String,
    /// A treatment arm: NAME:COST or NAME:COST:SHARE (cost per customer; share of the
    /// population, default an equal part of the rest). Repeat for each arm.
    #[arg(long = "arm", value_name = "NAME:COST[:SHARE]", value_parser = parse_arm, required = true)]
    pub arms: Vec<(String, f64, Option<f64>)>,
    /// The control group's share.
    #[arg(long, default_value_t = 0.25)]
    pub control_share: f64,
    /// revenue, bookings, rebooked or defection.
    #[arg(long)]
    pub outcome: String,
    /// Outcome window in days after assignment.
    #[arg(long, default_value_t = 90)]
    pub window_days: u32,
    /// Assign within each tier separately.
    #[arg(long)]
    pub stratify_by_tier: bool,
    /// Seed of the assignment and the bootstrap.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Money per unit of outcome, for incremental profit.
    #[arg(long)]
    pub value_per_unit: Option<f64>,
    /// The smallest uplift worth detecting (for the power warning).
    #[arg(long)]
    pub minimum_effect: Option<f64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// An experiment's id.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// The experiment.
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `experiment status [ID]`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The experiment (every one when left out).
    pub id: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_arm(s: &str) -> Result<(String, f64, Option<f64>), String> {
    let parts: Vec<&str> = s.split(':').collect();
    let cost = |c: &str| {
        c.parse::<f64>()
            .map_err(|_| format!("{s:?}: the cost {c:?} is not a number (NAME:COST[:SHARE])"))
    };
    match parts.as_slice() {
        [name, c] => Ok((name.to_string(), cost(c)?, None)),
        [name, c, share] => Ok((
            name.to_string(),
            cost(c)?,
            Some(share.parse::<f64>().map_err(|_| {
                format!("{s:?}: the share {share:?} is not a number (NAME:COST[:SHARE])")
            })?),
        )),
        _ => Err(format!(
            "{s:?}: write an arm as NAME:COST or NAME:COST:SHARE"
        )),
    }
}

impl DefineArgs {
    fn spec(&self) -> ExperimentSpec {
        ExperimentSpec {
            id: self.id.clone(),
            hypothesis: self.hypothesis.clone(),
            population: self.population.clone(),
            arms: self.arms.clone(),
            control_share: self.control_share,
            outcome: self.outcome.clone(),
            window_days: self.window_days,
            stratify_by_tier: self.stratify_by_tier,
            seed: self.seed,
            value_per_unit: self.value_per_unit,
            minimum_effect: self.minimum_effect,
        }
    }
}

/// `rapport campaign ...`.
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Build a list from the scores (best first, capped per customer manager), optionally
    /// with a random hold-out of the same size, and record the contacts.
    Create(CampaignArgs),
    /// The campaigns created here.
    List(JsonArgs),
    /// Response rate, revenue and return per campaign and list, and by list size, from the
    /// recorded contacts and responses (every campaign on record, or one).
    Report(CampaignReportArgs),
}

/// A campaign's definition.
#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// Id, e.g. WINBACK-2026-12.
    pub id: String,
    /// What is offered.
    #[arg(long, default_value = "")]
    pub offer: String,
    /// Who qualifies (a population rule, e.g. "tier in A,B"; everyone by default).
    #[arg(long, default_value = "")]
    pub rule: String,
    /// The score to rank by: clv, value, annual_value, profit, p_alive, churn or
    /// propensity:NAME.
    #[arg(long, default_value = "clv")]
    pub score: String,
    /// Only customers scoring at least this.
    #[arg(long)]
    pub min_score: Option<f64>,
    /// At most this many names per customer manager (20 rather than 300).
    #[arg(long)]
    pub cap_per_owner: Option<usize>,
    /// At most this many names in all.
    #[arg(long)]
    pub cap_total: Option<usize>,
    /// Hold out a random group of the same size from the same best candidates.
    #[arg(long)]
    pub holdout: bool,
    /// The hold-out's seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Cost per contact.
    #[arg(long, default_value_t = 0.0)]
    pub cost: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `campaign report [ID]`.
#[derive(Debug, Args)]
pub struct CampaignReportArgs {
    /// Only this campaign.
    pub id: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Just `--json`.
#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rapport ideas ...`.
#[derive(Debug, Subcommand)]
pub enum IdeasCommand {
    /// The analysts' queue: open ideas with their context, oldest first (`--all`: closed too).
    List {
        /// Closed ideas too.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pass on an idea or observation (on a customer's record with --customer).
    Add {
        /// The idea.
        text: String,
        /// The customer it is about, e.g. C00000042.
        #[arg(long)]
        customer: Option<CustomerId>,
    },
    /// Tag an idea.
    Tag {
        /// The idea's number.
        id: u64,
        /// The tag (lowercase letters, digits, '-').
        tag: String,
    },
    /// Link an idea to what it led to.
    Link {
        /// The idea's number.
        id: u64,
        /// model-change, experiment or campaign.
        kind: LinkKind,
        /// The id of the model change, experiment or campaign.
        target: String,
    },
    /// Close an idea with what became of it (its author sees it).
    Close {
        /// The idea's number.
        id: u64,
        /// What became of it.
        outcome: String,
    },
    /// Your own ideas and what became of them.
    Mine(JsonArgs),
}

/// Runs `rapport experiment`.
pub fn experiment(g: &Global, c: ExperimentCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(g).await?;
        match c {
            ExperimentCommand::Create(a) => {
                let s = client.create_experiment(a.spec()).await?;
                print_summary(&s, a.json)?;
            }
            ExperimentCommand::Declare(a) => {
                let s = client.declare_experiment(a.spec()).await?;
                print_summary(&s, a.json)?;
            }
            ExperimentCommand::Assign(a) => {
                let s = client.assign_experiment(&a.id).await?;
                print_summary(&s, a.json)?;
            }
            ExperimentCommand::Status(a) => match a.id {
                Some(id) => print_summary(&client.experiment_status(&id).await?, a.json)?,
                None => {
                    let all = client.experiments().await?;
                    if a.json {
                        println!("{}", crate::cmd::json_pretty(&all)?);
                    } else if all.is_empty() {
                        println!("no experiment yet (rapport experiment create|declare)");
                    } else {
                        for s in &all {
                            println!(
                                "{:<20} {:<10} {:>7} customers  {}",
                                sanitize(&s.definition.id),
                                status_word(&s.status),
                                s.assigned,
                                sanitize(&s.definition.hypothesis)
                            );
                        }
                    }
                }
            },
            ExperimentCommand::Report(a) => {
                let r = client.experiment_report(&a.id).await?;
                if a.json {
                    println!("{}", crate::cmd::json_pretty(&r)?);
                } else {
                    print_result(&r);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn status_word(s: &ExperimentStatus) -> String {
    match s {
        ExperimentStatus::Defined => "defined".into(),
        ExperimentStatus::Running { closes } => format!("running (closes {})", day(*closes)),
        ExperimentStatus::Closed { closed } => format!("closed {}", day(*closed)),
    }
}

fn day(t: rapport_core::Timestamp) -> String {
    rapport_repository::learning::day(t)
}

fn print_summary(s: &ExperimentSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", crate::cmd::json_pretty(s)?);
        return Ok(());
    }
    let d = &s.definition;
    println!("experiment {}: {}", sanitize(&d.id), status_word(&s.status));
    println!("  hypothesis  {}", sanitize(&d.hypothesis));
    println!("  population  {}", sanitize(&d.population.text));
    println!(
        "  outcome     {} over {} days after assignment{}",
        d.outcome,
        d.window_days,
        if d.declared {
            " (declared: assigned outside)"
        } else {
            ""
        }
    );
    for ((name, n), arm) in s.per_arm.iter().zip(&d.arms) {
        println!(
            "  {:<16} share {:>5.1}%  cost {:>8.2}  {:>7} customers",
            sanitize(name),
            arm.share * 100.0,
            arm.cost_per_customer,
            n
        );
    }
    for c in &s.conflicts {
        println!("  left out: {}", sanitize(c));
    }
    Ok(())
}

fn print_result(r: &ExperimentResult) {
    let e = &r.experiment;
    let rep = &r.report;
    println!(
        "experiment {} ({}), {} of {} customers, as of {}",
        sanitize(&e.definition.id),
        status_word(&e.status),
        e.definition.outcome,
        e.assigned,
        day(r.as_of)
    );
    if rep.preliminary {
        println!("PRELIMINARY: the outcome window is still open; do not decide on these numbers");
    }
    println!(
        "{:<16} {:>6} {:>10} {:>23} {:>9}",
        "arm", "n", "mean", "95% interval", "cost"
    );
    for a in &rep.arms {
        let i = a.interval.map_or("-".to_string(), |i| {
            format!("[{:.4}, {:.4}]", i.low, i.high)
        });
        println!(
            "{:<16} {:>6} {:>10.4} {:>23} {:>9.2}",
            sanitize(&a.name),
            a.n,
            a.mean,
            i,
            a.cost_per_customer
        );
    }
    println!();
    println!(
        "{:<16} {:>9} {:>23} {:>9} {:>9} {:>12}",
        "vs control", "uplift", "95% interval (Welch)", "p Welch", "p boot", "profit/cust"
    );
    for c in &rep.comparisons {
        let (i, p) = c.welch.map_or(("-".into(), "-".into()), |w| {
            (
                format!("[{:.4}, {:.4}]", w.interval.low, w.interval.high),
                format!("{:.4}", w.p_value),
            )
        });
        let pb = c
            .bootstrap
            .map_or("-".into(), |b| format!("{:.4}", b.p_value));
        let profit = c
            .incremental_profit_per_customer
            .map_or("-".into(), |p| format!("{p:.2}"));
        println!(
            "{:<16} {:>9.4} {:>23} {:>9} {:>9} {:>12}{}",
            sanitize(&c.arm),
            c.uplift,
            i,
            p,
            pb,
            profit,
            if c.better_than_control { "  *" } else { "" }
        );
    }
    if let Some(rec) = &rep.recommendation {
        println!();
        println!(
            "recommendation: {}{}",
            sanitize(&rec.arm),
            if rec.provisional {
                " (provisional)"
            } else {
                ""
            }
        );
        println!("  {}", sanitize(&rec.reason));
    }
    for w in &rep.warnings {
        println!("warning: {}", sanitize(&w.to_string()));
    }
}

/// Runs `rapport campaign`.
pub fn campaign(g: &Global, c: CampaignCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(g).await?;
        match c {
            CampaignCommand::Create(a) => {
                let s = client
                    .create_campaign(CampaignSpec {
                        id: a.id,
                        offer: a.offer,
                        rule: a.rule,
                        score: a.score,
                        min_score: a.min_score,
                        cap_per_owner: a.cap_per_owner,
                        cap_total: a.cap_total,
                        holdout: a.holdout,
                        seed: a.seed,
                        cost_per_contact: a.cost,
                    })
                    .await?;
                if a.json {
                    println!("{}", crate::cmd::json_pretty(&s)?);
                } else {
                    println!(
                        "campaign {}: list {} of {} contacts recorded, {} held out",
                        sanitize(&s.id),
                        s.list,
                        s.contacts,
                        s.held_out
                    );
                }
            }
            CampaignCommand::List(a) => {
                let all = client.campaigns().await?;
                if a.json {
                    println!("{}", crate::cmd::json_pretty(&all)?);
                } else if all.is_empty() {
                    println!("no campaign created here yet (rapport campaign create)");
                } else {
                    for c in &all {
                        println!(
                            "{:<20} {} {:<9} {:>6} contacts {:>6} held out  by {}  {}",
                            sanitize(&c.id),
                            day(c.created),
                            c.list,
                            c.contacts,
                            c.held_out,
                            sanitize(&c.by),
                            sanitize(&c.rule)
                        );
                    }
                }
            }
            CampaignCommand::Report(a) => {
                let r = client.campaign_report(a.id).await?;
                if a.json {
                    println!("{}", crate::cmd::json_pretty(&r)?);
                } else {
                    print_campaigns(&r);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
}

fn print_campaigns(r: &CampaignReport) {
    if r.lists.is_empty() {
        println!("no campaign contact on record");
        return;
    }
    println!(
        "{:<16} {:<22} {:>9} {:>9} {:>8} {:>9} {:>8} {:>11} {:>8}",
        "campaign", "list", "contacted", "responded", "rate", "held out", "rate", "revenue", "ROI"
    );
    for l in &r.lists {
        println!(
            "{:<16} {:<22} {:>9} {:>9} {:>8} {:>9} {:>8} {:>11.2} {:>8}",
            sanitize(&l.campaign),
            sanitize(&l.list),
            l.contacted,
            l.responders,
            pct(l.response_rate()),
            l.held_out,
            pct(l.holdout_rate()),
            l.revenue,
            pct(l.roi())
        );
    }
    println!();
    println!("by list size ({}):", r.currency);
    for b in &r.by_size {
        println!(
            "  {:<9} {:>4} lists {:>7} contacted {:>6} responded {:>8}  revenue {:.2}  ROI {}",
            b.band,
            b.lists,
            b.contacted,
            b.responders,
            pct(b.response_rate()),
            b.revenue,
            pct(b.roi())
        );
    }
}

/// Runs `rapport handoffs`.
pub fn handoffs(g: &Global, a: JsonArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(g).await?;
        let h = client.handoffs().await?;
        if a.json {
            println!("{}", crate::cmd::json_pretty(&h)?);
        } else {
            print_handoffs(&h);
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_handoffs(h: &HandoffsView) {
    println!(
        "hand-offs as of {} (leading unit: {}): {} of {} on time",
        day(h.as_of),
        sanitize(&h.status.leader),
        h.status.on_time.0,
        h.status.on_time.1
    );
    for s in &h.status.steps {
        let last = s.last_done.map_or("never".to_string(), day);
        let state = match s.state {
            StepState::OnTime { due } => format!("on time (next due {})", day(due)),
            StepState::Overdue { days, .. } => format!("OVERDUE by {days} days"),
            StepState::Skipped { by, .. } => {
                format!("SKIPPED ({} went ahead)", h.status.steps[by].name)
            }
            StepState::NeverDone => "NEVER DONE".into(),
        };
        println!(
            "  {}. {:<18} {:<10} last {:<10} {}",
            s.index + 1,
            s.name,
            sanitize(&s.owner),
            last,
            state
        );
    }
    if !h.flags.is_empty() {
        println!("flags:");
        for (to, msg) in &h.flags {
            println!("  to {}: {}", sanitize(to), sanitize(msg));
        }
    }
}

/// Runs `rapport ideas`.
pub fn ideas(g: &Global, c: IdeasCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(g).await?;
        match c {
            IdeasCommand::List { all, json } => {
                let list = client.ideas(all).await?;
                print_ideas(&list, json, "no open idea")?;
            }
            IdeasCommand::Mine(a) => {
                let list = client.my_ideas().await?;
                print_ideas(&list, a.json, "you have passed on no idea yet")?;
            }
            IdeasCommand::Add { text, customer } => {
                let i = client.add_idea(customer, &text).await?;
                println!("idea {} passed to the analysts", i.idea.id);
            }
            IdeasCommand::Tag { id, tag } => {
                let i = client.tag_idea(id, &tag).await?;
                print_ideas(&[i], false, "")?;
            }
            IdeasCommand::Link { id, kind, target } => {
                let i = client.link_idea(id, kind, &target).await?;
                print_ideas(&[i], false, "")?;
            }
            IdeasCommand::Close { id, outcome } => {
                let i = client.close_idea(id, &outcome).await?;
                print_ideas(&[i], false, "")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_ideas(list: &[IdeaEntry], json: bool, empty: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", crate::cmd::json_pretty(list)?);
        return Ok(());
    }
    if list.is_empty() {
        println!("{empty}");
    }
    for e in list {
        let i = &e.idea;
        let about = match (i.customer, &e.customer_name) {
            (Some(c), Some(n)) => format!(
                " on {c} {}{}",
                sanitize(n),
                e.tier.map(|t| format!(" (tier {t})")).unwrap_or_default()
            ),
            (Some(c), None) => format!(" on {c}"),
            _ => String::new(),
        };
        println!(
            "#{} {} by {}{}",
            i.id,
            day(i.created),
            sanitize(&i.author),
            about
        );
        println!("    {}", sanitize(&i.text));
        if !i.tags.is_empty() {
            println!("    tags: {}", sanitize(&i.tags.join(", ")));
        }
        for l in &i.links {
            println!("    linked to {} {}", l.kind.as_str(), sanitize(&l.target));
        }
        match &i.state {
            IdeaState::Open => println!("    open"),
            IdeaState::Closed { outcome, by, at } => println!(
                "    closed {} by {}: {}",
                day(*at),
                sanitize(by),
                sanitize(outcome)
            ),
        }
    }
    Ok(())
}
