//! `merge explain`, `review list|accept|reject`, `unmerge`: the information steward's
//! identity-resolution commands, through the service (embedded, or the server that holds the
//! database), acting as the signed-in operator (embedded: the local admin).

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rapport_core::text::sanitize;
use rapport_repository::identity::Evidence;
use rapport_repository::merge::{MergeKind, MergeRecord};
use rapport_service::Operations;
use rapport_service::data::Decision;

use crate::cmd::service::{connect, finish, runtime};
use crate::global::Global;

#[derive(Debug, Subcommand)]
pub enum MergeCommand {
    /// Explain a merge: which fields agreed and disagreed, their weights and the score.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A merge id (from `review accept` or `unmerge`), a customer id (every merge into it) or
    /// a source record (`source:key`).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// List the open review items: new customers that may duplicate existing ones.
    List(ReviewListArgs),
    /// Accept a review item: merge the new customer into the candidate.
    Accept(ReviewDecideArgs),
    /// Reject a review item: keep the records apart, now and in later ingests.
    Reject(ReviewDecideArgs),
}

#[derive(Debug, Args)]
pub struct ReviewListArgs {
    /// Print JSON lines, one item per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReviewDecideArgs {
    /// The review item's id, as `review list` prints it (the new record, `source:key`).
    #[arg(value_name = "ID")]
    pub id: String,
}

#[derive(Debug, Args)]
pub struct UnmergeArgs {
    /// What to undo: a merge id, a customer id (its latest merge) or a source record that
    /// ingest attached to a customer (`source:key`, split off into a customer of its own).
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<String>,
    /// Print JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// Prints text built from data line by line, each line made safe for the terminal.
fn print_safe(text: &str) -> anyhow::Result<()> {
    for line in text.lines() {
        emit(&sanitize(line))?;
    }
    Ok(())
}

/// Writes one line to stdout; a closed pipe (`rapport review list | head`) ends quietly.
fn emit(line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => Ok(r?),
    }
}

pub fn merge(g: &Global, c: MergeCommand) -> anyhow::Result<ExitCode> {
    let MergeCommand::Explain(a) = c;
    let rt = runtime()?;
    let client = rt.block_on(connect(g))?;
    let ex = rt
        .block_on(client.explain_merge(&a.id))
        .with_context(|| format!("explaining {}", sanitize(&a.id)))?;
    finish(client)?;
    if a.json {
        emit(&crate::cmd::json_pretty(&ex)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for (record, customer, e) in &ex.attaches {
        let now = customer.map_or_else(|| "-".to_owned(), |c| c.to_string());
        writeln!(out, "attach: {record} joined customer {now} at ingest")?;
        out.push_str(&evidence_text(e));
    }
    for m in &ex.merges {
        out.push_str(&merge_text(m));
    }
    print_safe(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn evidence_text(e: &Evidence) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  compared {} with {}: score {:.1} (merge at {:.1}, review at {:.1})",
        e.record, e.matched, e.score, e.upper, e.lower
    );
    if let Some(rule) = &e.rule {
        let _ = writeln!(out, "  decided by rule: {rule}");
    }
    let _ = writeln!(
        out,
        "  {:<17} {:<22} {:>6}  values",
        "field", "outcome", "weight"
    );
    for f in &e.fields {
        let outcome = if f.level == "missing" {
            "missing".to_owned()
        } else if f.agreed {
            format!("agreed: {}", f.level)
        } else {
            format!("disagreed: {}", f.level)
        };
        let _ = writeln!(
            out,
            "  {:<17} {:<22} {:>+6.1}  {} | {}  ({})",
            f.field.as_str(),
            outcome,
            f.weight,
            f.ours.as_deref().unwrap_or("-"),
            f.theirs.as_deref().unwrap_or("-"),
            f.detail
        );
    }
    if !e.others.is_empty() {
        let others: Vec<String> = e
            .others
            .iter()
            .map(|(c, s)| format!("{c} ({s:.1})"))
            .collect();
        let _ = writeln!(out, "  also close: {}", others.join(", "));
    }
    out
}

fn merge_text(m: &MergeRecord) -> String {
    let mut out = String::new();
    match m.kind {
        MergeKind::Merge => {
            let _ = writeln!(
                out,
                "merge {}: {} merged into {} by {} at {}{}",
                m.id,
                m.other,
                m.survivor,
                m.by,
                m.at,
                m.undone_by
                    .as_ref()
                    .map(|u| format!(" (undone by {u})"))
                    .unwrap_or_default()
            );
        }
        MergeKind::Unmerge => {
            let _ = writeln!(
                out,
                "unmerge {}: {} split from {} by {} at {}, undoing {}",
                m.id,
                m.other,
                m.survivor,
                m.by,
                m.at,
                m.undoes.as_deref().unwrap_or("-")
            );
        }
    }
    let records: Vec<String> = m.records.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "  records moved: {}", records.join(", "));
    let _ = writeln!(
        out,
        "  interactions moved: {}, grants moved: {}{}",
        m.interactions.len(),
        m.grants.len(),
        if m.grant_conflicts.is_empty() {
            String::new()
        } else {
            format!(", both had a grant for: {}", m.grant_conflicts.join(", "))
        }
    );
    if let Some(e) = &m.evidence {
        out.push_str(&evidence_text(e));
    }
    out
}

pub fn review(g: &Global, c: ReviewCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let client = rt.block_on(connect(g))?;
    match c {
        ReviewCommand::List(a) => {
            let mut items = Vec::new();
            let mut after = None;
            loop {
                let page = rt.block_on(
                    client.reviews(after.take(), rapport_service::data::MAX_PAGE_ITEMS),
                )?;
                items.extend(page.items.into_iter().map(|r| (r.id, r.item)));
                match page.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            if a.json {
                for (id, item) in &items {
                    let line = serde_json::json!({ "id": id, "item": item });
                    emit(&crate::cmd::json(&line)?)?;
                }
                finish(client)?;
                return Ok(ExitCode::SUCCESS);
            }
            if items.is_empty() {
                emit("no open review items")?;
                finish(client)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = String::new();
            for (id, item) in &items {
                let cands: Vec<String> = item.candidates.iter().map(ToString::to_string).collect();
                writeln!(
                    out,
                    "{id}: new customer {} may be {} (score {:.1}; merge at {:.1})",
                    item.customer,
                    cands.join(" or "),
                    item.evidence.score,
                    item.evidence.upper
                )?;
                let agreed: Vec<&str> = item.evidence.agreed().map(|f| f.field.as_str()).collect();
                let disagreed: Vec<&str> = item
                    .evidence
                    .disagreed()
                    .map(|f| f.field.as_str())
                    .collect();
                writeln!(
                    out,
                    "  agreed: {}; disagreed: {}",
                    if agreed.is_empty() {
                        "-".to_owned()
                    } else {
                        agreed.join(", ")
                    },
                    if disagreed.is_empty() {
                        "-".to_owned()
                    } else {
                        disagreed.join(", ")
                    }
                )?;
            }
            writeln!(
                out,
                "{} open; `rapport review accept ID` merges, `rapport review reject ID` keeps apart",
                items.len()
            )?;
            print_safe(&out)?;
        }
        ReviewCommand::Accept(a) => {
            let decided = rt
                .block_on(client.decide_review(&a.id, true))
                .with_context(|| format!("accepting review item {}", sanitize(&a.id)))?;
            let Decision::Merged(m) = decided else {
                bail!("accepting review item {}: no merge made", sanitize(&a.id));
            };
            emit(&format!(
                "merged {} into {} (merge {}); `rapport unmerge {}` undoes it",
                m.other, m.survivor, m.id, m.id
            ))?;
        }
        ReviewCommand::Reject(a) => {
            let decided = rt
                .block_on(client.decide_review(&a.id, false))
                .with_context(|| format!("rejecting review item {}", sanitize(&a.id)))?;
            let Decision::KeptApart(pairs) = decided else {
                bail!("rejecting review item {}: it was merged", sanitize(&a.id));
            };
            emit(&format!(
                "kept apart: {} record pair(s) will not be merged by later ingests",
                pairs.len()
            ))?;
        }
    }
    finish(client)?;
    Ok(ExitCode::SUCCESS)
}

pub fn unmerge(g: &Global, a: UnmergeArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let client = rt.block_on(connect(g))?;
    for id in &a.ids {
        let u = rt
            .block_on(client.unmerge(id))
            .with_context(|| format!("unmerging {}", sanitize(id)))?;
        if a.json {
            emit(&crate::cmd::json(&u)?)?;
        } else {
            emit(&format!(
                "unmerged: {} restored beside {} with {} interaction(s) (unmerge {})",
                u.restored, u.survivor, u.interactions, u.record.id
            ))?;
        }
    }
    finish(client)?;
    Ok(ExitCode::SUCCESS)
}
