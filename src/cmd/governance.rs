//! `rapport audit`: the tamper-evident trail of every write and every record opened;
//! `rapport policy`: the compensation policy and goodwill limits as versioned data;
//! `rapport goodwill` and `rapport approvals`: goodwill within the role's limit, and the queue
//! of requests above it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rapport_core::text::sanitize;
use rapport_core::{Currency, Money};
use rapport_core::{CustomerId, Timestamp};
use rapport_governance::PolicyFile;
use rapport_governance::audit::AuditEntry;
use rapport_service::Governance;
use rapport_service::governance_ops::{
    Approval, ApprovalDecision, ApprovalState, AuditQuery, GoodwillOutcome, GoodwillRequest,
    MAX_AUDIT_PAGE, MAX_POLICY_FILE, PolicyVersion,
};

use crate::cmd::service::{connect, finish, runtime};
use crate::global::Global;

/// `rapport audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Entries of the trail, oldest first: who opened or changed which customer, when and from
    /// where.
    List {
        /// Only entries about this customer (C0000000042 or 42).
        #[arg(long, value_name = "ID")]
        customer: Option<String>,
        /// Only entries by this operator.
        #[arg(long, value_name = "NAME")]
        operator: Option<String>,
        /// Only entries from this time on: RFC 3339 (2026-12-07T09:00:00Z), a day
        /// (2026-12-07, from midnight UTC), or a span back from now (30m, 12h, 7d).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// At most this many entries (default: all that match).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Checks the whole chain: any edited, removed, inserted or reordered entry, or entries
    /// cut off the end, is reported with where the chain breaks (exit code 1).
    Verify {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rapport policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The policy in force as a policy file (edit it and `policy set` it as the next version).
    Show {
        /// Print JSON (with who set it and when).
        #[arg(long)]
        json: bool,
    },
    /// Checks a policy file and makes it the next version, in force for every grant from now
    /// on; every mistake is reported with the file, the line and the problem.
    Set {
        /// The policy file (TOML; see `rapport policy show`).
        file: PathBuf,
        /// Only check the file; set nothing.
        #[arg(long)]
        check: bool,
    },
    /// Every version, oldest first: who set it, when, from which file.
    History {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compensation and goodwill by value tier and by portfolio, before and after a version
    /// was set: count, total and mean per policy rule and for goodwill.
    // `--version` here is the policy's: the program's version flag is off for this command
    // (a debug build panics on the clash).
    #[command(disable_version_flag = true)]
    Report {
        /// The version to split at (default: the one in force).
        #[arg(long, value_name = "N")]
        version: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `rapport goodwill`.
#[derive(Debug, Args)]
pub struct GoodwillArgs {
    /// The customer, e.g. C0000000042.
    #[arg(long)]
    pub customer: CustomerId,
    /// The disruption on record it is for (any reference shape: RP123/2026-11-23).
    #[arg(long)]
    pub disruption: String,
    /// How much, in major units (200, 150.50).
    #[arg(long)]
    pub amount: f64,
    /// The currency.
    #[arg(long, default_value = "EUR")]
    pub currency: String,
    /// voucher or cash.
    #[arg(long, default_value = "voucher")]
    pub instrument: String,
    /// Why (goes with the grant, or to whoever approves).
    #[arg(long)]
    pub reason: String,
    /// Where, e.g. `call center`.
    #[arg(long, default_value = "command line")]
    pub touchpoint: String,
    /// Above your role's limit, send it for approval (else it is refused).
    #[arg(long)]
    pub send_for_approval: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rapport approvals ...`.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Goodwill waiting for approval, oldest first (`--all`: decided ones too; `--customer`:
    /// one customer's requests, decided ones included).
    List {
        /// Decided requests too.
        #[arg(long)]
        all: bool,
        /// Only this customer's requests (waiting and decided), e.g. C00000042.
        #[arg(long)]
        customer: Option<CustomerId>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a request as asked: the goodwill is granted.
    Approve {
        /// The request, e.g. A0000000042.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Approve another amount.
    Change {
        /// The request.
        id: String,
        /// The amount granted instead, in major units.
        #[arg(long)]
        amount: f64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Refuse: nothing is granted; the reason goes on the customer's record.
    Refuse {
        /// The request.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// An amount typed in major units as minor units of `currency`.
fn money(amount: f64, currency: Currency) -> anyhow::Result<Money> {
    let scale = 10f64.powi(currency.minor_digits() as i32);
    let minor = (amount * scale).round();
    if !amount.is_finite() || amount <= 0.0 || minor > 1e12 || (minor - amount * scale).abs() > 1e-6
    {
        bail!(
            "--amount {amount}: more than 0, with at most {} decimals",
            currency.minor_digits()
        );
    }
    Ok(Money::new(minor as i64, currency))
}

fn describe_approval(a: &Approval) -> String {
    let state = match &a.state {
        ApprovalState::Pending => "waiting".to_string(),
        ApprovalState::Approved {
            by,
            at,
            amount,
            changed,
            reason,
        } => format!(
            "{} by {by} at {at}: {amount} granted ({reason})",
            if *changed { "changed" } else { "approved" }
        ),
        ApprovalState::Refused { by, at, reason } => format!("refused by {by} at {at} ({reason})"),
    };
    sanitize(&format!(
        "{}  {}  {} {} for {}  asked by {} ({}) at {}: {}  -> {state}",
        a.id,
        a.request.customer,
        a.request.amount,
        a.request.instrument,
        a.disruption,
        a.requested_by,
        a.requested_role,
        a.requested_at,
        a.request.reason
    ))
    .into_owned()
}

/// Runs `rapport goodwill`.
pub fn goodwill(g: &Global, a: GoodwillArgs) -> anyhow::Result<ExitCode> {
    let currency: Currency = a.currency.parse().map_err(|_| {
        anyhow::anyhow!("--currency {}: a three-letter code", sanitize(&a.currency))
    })?;
    let amount = money(a.amount, currency)?;
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(g).await?;
        let outcome = client
            .goodwill(GoodwillRequest {
                customer: a.customer,
                disruption: a.disruption,
                amount,
                instrument: a.instrument,
                reason: a.reason,
                touchpoint: a.touchpoint,
                send_for_approval: a.send_for_approval,
            })
            .await?;
        let code = if a.json {
            println!("{}", crate::cmd::json_pretty(&outcome)?);
            match outcome {
                GoodwillOutcome::Refused(_) => ExitCode::from(3),
                _ => ExitCode::SUCCESS,
            }
        } else {
            match outcome {
                GoodwillOutcome::Granted(g) => {
                    println!(
                        "granted {} {} to {} for {}",
                        g.amount,
                        sanitize(&g.instrument),
                        g.customer,
                        sanitize(&g.disruption)
                    );
                    ExitCode::SUCCESS
                }
                GoodwillOutcome::Queued(a) => {
                    println!("sent for approval: {}", describe_approval(&a));
                    ExitCode::SUCCESS
                }
                GoodwillOutcome::Refused(g) => {
                    println!(
                        "refused: goodwill for this disruption was already granted by {} at {} ({}, {})",
                        sanitize(&g.granted_by),
                        sanitize(&g.touchpoint),
                        g.at,
                        g.amount
                    );
                    ExitCode::from(3)
                }
            }
        };
        finish(client)?;
        Ok(code)
    })
}

/// Runs `rapport approvals`.
pub fn approvals(g: &Global, c: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(g).await?;
        match c {
            ApprovalsCommand::List {
                customer: Some(customer),
                json,
                ..
            } => {
                let list = client.approvals_of(customer).await?;
                if json {
                    println!("{}", crate::cmd::json_pretty(&list)?);
                } else {
                    if list.is_empty() {
                        println!("no goodwill requests for {customer}");
                    }
                    for a in &list {
                        println!("{}", describe_approval(a));
                    }
                }
            }
            ApprovalsCommand::List {
                all,
                json,
                customer: None,
            } => {
                if json {
                    let list = client.approvals(!all).await?;
                    println!("{}", crate::cmd::json_pretty(&list)?);
                } else {
                    // With the customers' names and what this operator may do with each.
                    let list = client.approval_queue(!all).await?;
                    if list.is_empty() {
                        println!("nothing waiting for approval");
                    }
                    for q in &list {
                        println!("{}", describe_approval(&q.approval));
                        println!("    {}: {}", sanitize(&q.customer_name), sanitize(&q.why));
                    }
                }
            }
            ApprovalsCommand::Approve { id, reason } => {
                let (a, _) = client
                    .decide_approval(&id, ApprovalDecision::Approve, &reason)
                    .await?;
                println!("{}", describe_approval(&a));
            }
            ApprovalsCommand::Change { id, amount, reason } => {
                let waiting = client
                    .approvals(true)
                    .await?
                    .into_iter()
                    .find(|a| a.id == id)
                    .ok_or_else(|| {
                        anyhow::anyhow!("{} is not waiting for approval", sanitize(&id))
                    })?;
                let amount = money(amount, waiting.request.amount.currency)?;
                let (a, _) = client
                    .decide_approval(&id, ApprovalDecision::Change(amount.minor), &reason)
                    .await?;
                println!("{}", describe_approval(&a));
            }
            ApprovalsCommand::Refuse { id, reason } => {
                let (a, _) = client
                    .decide_approval(&id, ApprovalDecision::Refuse, &reason)
                    .await?;
                println!("{}", describe_approval(&a));
            }
        }
        finish(client)?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `rapport policy`.
pub fn policy(g: &Global, c: PolicyCommand) -> anyhow::Result<ExitCode> {
    // Read and check the file before reaching the database.
    let file = match &c {
        PolicyCommand::Set { file, check } => {
            let meta =
                std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
            if meta.len() > MAX_POLICY_FILE as u64 {
                bail!(
                    "{}: a policy file is at most {MAX_POLICY_FILE} bytes",
                    file.display()
                );
            }
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let name = file.display().to_string();
            PolicyFile::parse(&name, &text)
                .map_err(|e| anyhow::anyhow!("{}", sanitize(&e.to_string())))?;
            if *check {
                println!("{}: the policy holds", sanitize(&name));
                return Ok(ExitCode::SUCCESS);
            }
            Some((name, text))
        }
        _ => None,
    };
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(g).await?;
        match c {
            PolicyCommand::Show { json } => {
                let v = client.policy().await?;
                if json {
                    println!("{}", crate::cmd::json_pretty(&v)?);
                } else {
                    println!("# {}", sanitize(&describe(&v)));
                    // Line by line: sanitising removes line ends too.
                    for line in v.to_toml().lines() {
                        println!("{}", sanitize(line));
                    }
                }
            }
            PolicyCommand::Set { .. } => {
                let (name, text) = file.unwrap_or_default();
                let v = client.set_policy(&name, &text).await?;
                println!("{}", sanitize(&describe(&v)));
            }
            PolicyCommand::Report { version, json } => {
                let r = client.policy_report(version).await?;
                if json {
                    println!("{}", crate::cmd::json_pretty(&r)?);
                } else {
                    print_report(&r);
                }
            }
            PolicyCommand::History { json } => {
                let all = client.policy_history().await?;
                if json {
                    println!("{}", crate::cmd::json_pretty(&all)?);
                } else {
                    for v in &all {
                        println!("{}", sanitize(&describe(v)));
                    }
                }
            }
        }
        finish(client)?;
        Ok(ExitCode::SUCCESS)
    })
}

fn print_report(r: &rapport_service::governance_ops::PolicyReport) {
    match r.since {
        Some(t) => println!(
            "policy v{} set {t}: grants before and after it, in {}",
            r.version, r.currency
        ),
        None => println!(
            "policy v{} (the built-in version, never set): every grant is before it, in {}",
            r.version, r.currency
        ),
    }
    for (title, lines) in [
        ("by value tier", &r.by_tier),
        ("by portfolio", &r.by_portfolio),
    ] {
        println!("\n{title}");
        println!(
            "{:<20} {:<7} {:<24} {:>7} {:>12} {:>9}",
            "group", "period", "what", "grants", "total", "mean"
        );
        for l in lines {
            println!(
                "{:<20} {:<7} {:<24} {:>7} {:>12.2} {:>9.2}",
                sanitize(&l.group),
                l.period,
                sanitize(&l.what),
                l.grants,
                l.total,
                l.mean
            );
        }
    }
    if r.other_currency > 0 {
        println!(
            "\n{} grants in other currencies are not counted",
            r.other_currency
        );
    }
}

fn describe(v: &PolicyVersion) -> String {
    let when = v.set_at.map(|t| format!(" on {t}")).unwrap_or_default();
    let from = if v.file.is_empty() {
        String::new()
    } else {
        format!(" from {}", v.file)
    };
    format!(
        "policy v{}: set by {}{when}{from}; {} rules, {} care items, limits for {} roles",
        v.version,
        v.set_by,
        v.policy.rules.len(),
        v.policy.care.len(),
        v.limits.limits.len()
    )
}

/// Parses `--since`.
fn since(s: &str, now: Timestamp) -> anyhow::Result<Timestamp> {
    let s = s.trim();
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Ok(t);
    }
    if let Ok(day) = s.parse::<jiff::civil::Date>() {
        let z = day
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|e| anyhow::anyhow!("--since {}: {e}", sanitize(s)))?;
        return Ok(Timestamp::from_millis(z.timestamp().as_millisecond()));
    }
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    match n.parse::<i64>() {
        Ok(n) if ms > 0 && (0..=100_000).contains(&n) => Ok(now.plus_millis(-n * ms)),
        _ => bail!(
            "--since {}: give a time (2026-12-07T09:00:00Z), a day (2026-12-07) or a span (30m, 12h, 7d)",
            sanitize(s)
        ),
    }
}

fn print_entry(e: &AuditEntry) {
    println!(
        "{:>8}  {}  {:<22} {:<16} {:<20} {:<12} {:<24} {}",
        e.seq,
        e.at,
        sanitize(&e.action),
        sanitize(&e.operator),
        sanitize(&e.role),
        e.customer.map(|c| c.to_string()).unwrap_or_default(),
        sanitize(&e.origin),
        sanitize(&e.detail),
    );
}

/// Runs `rapport audit`.
pub fn audit(g: &Global, c: AuditCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(g).await?;
        let code = match c {
            AuditCommand::List {
                customer,
                operator,
                since: when,
                limit,
                json,
            } => {
                let customer = match customer {
                    Some(c) => Some(
                        c.parse::<CustomerId>()
                            .or_else(|_| c.trim().parse::<u64>().map(CustomerId))
                            .map_err(|_| {
                                anyhow::anyhow!(
                                    "--customer {}: not a customer id (C0000000042 or 42)",
                                    sanitize(&c)
                                )
                            })?,
                    ),
                    None => None,
                };
                let since = match when {
                    Some(s) => Some(since(&s, Timestamp::now())?),
                    None => None,
                };
                let mut q = AuditQuery {
                    customer,
                    operator,
                    since,
                    after: None,
                    limit: MAX_AUDIT_PAGE,
                };
                let mut left = limit.unwrap_or(usize::MAX);
                if !json {
                    println!(
                        "{:>8}  {:<24} {:<22} {:<16} {:<20} {:<12} {:<24} detail",
                        "seq", "at", "action", "operator", "role", "customer", "origin"
                    );
                }
                while left > 0 {
                    q.limit = left.min(MAX_AUDIT_PAGE);
                    let page = client.audit(q.clone()).await?;
                    for e in &page.entries {
                        if json {
                            println!("{}", crate::cmd::json(e)?);
                        } else {
                            print_entry(e);
                        }
                    }
                    left = left.saturating_sub(page.entries.len());
                    match page.next {
                        Some(n) => q.after = Some(n),
                        None => break,
                    }
                }
                ExitCode::SUCCESS
            }
            AuditCommand::Verify { json } => {
                let v = client.verify_audit().await?;
                if json {
                    println!("{}", crate::cmd::json_pretty(&v)?);
                } else if let Some(p) = &v.problem {
                    println!(
                        "the audit trail does NOT hold: {}\n{} entries checked before the break; \
                         the head says {} entries",
                        sanitize(p),
                        v.checked,
                        v.head.seq
                    );
                } else {
                    println!(
                        "the audit trail holds: {} entries, each linked to the one before, the \
                         last matching the head ({})",
                        v.checked, &v.head.hash
                    );
                }
                if v.holds() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
        };
        finish(client)?;
        Ok(code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_times_days_and_spans() {
        let now = Timestamp::from_secs(1_800_000_000);
        assert_eq!(
            since("2026-12-07T09:00:00Z", now).unwrap(),
            Timestamp::parse_rfc3339("2026-12-07T09:00:00Z").unwrap()
        );
        assert_eq!(
            since("2026-12-07", now).unwrap(),
            Timestamp::parse_rfc3339("2026-12-07T00:00:00Z").unwrap()
        );
        assert_eq!(since("2h", now).unwrap(), now.plus_millis(-7_200_000));
        assert_eq!(since("7d", now).unwrap(), now.plus_millis(-7 * 86_400_000));
        assert!(since("yesterday", now).is_err());
        assert!(since("5x", now).is_err());
    }
}
