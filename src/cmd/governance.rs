//! `rapport audit`: the tamper-evident trail of every write and every record opened;
//! `rapport policy`: the compensation policy and goodwill limits as versioned data.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use rapport_core::text::sanitize;
use rapport_core::{CustomerId, Timestamp};
use rapport_governance::PolicyFile;
use rapport_governance::audit::AuditEntry;
use rapport_service::Governance;
use rapport_service::governance_ops::{AuditQuery, MAX_AUDIT_PAGE, MAX_POLICY_FILE, PolicyVersion};

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
                    print!("{}", sanitize(&v.to_toml()));
                }
            }
            PolicyCommand::Set { .. } => {
                let (name, text) = file.unwrap_or_default();
                let v = client.set_policy(&name, &text).await?;
                println!("{}", sanitize(&describe(&v)));
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
