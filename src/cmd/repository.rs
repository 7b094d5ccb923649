//! `ingest`, `quarantine`, `quality`, `search`, `customer`, `export identities`: the communal
//! repository from the command line, through the service (embedded, or the server that holds
//! the database). Files are read where the database is: paths are made absolute here.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use rapport_core::text::sanitize;
use rapport_core::{Channel, ContactKind, CustomerId, InteractionKind, Timestamp};
use rapport_repository::ingest::IngestReport;
use rapport_repository::{InteractionFilter, quality};
use rapport_service::data::{IngestRequest, QuarantineItem};
use rapport_service::{Operations, Service};

use crate::global::Global;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// A manifest listing sources (`ingest.toml`), or with --source the data files.
    #[arg(value_name = "MANIFEST|FILE", required = true)]
    pub paths: Vec<PathBuf>,
    /// Ingest FILE... through this one mapping instead of a manifest.
    #[arg(long, value_name = "MAPPING.toml")]
    pub source: Option<PathBuf>,
    /// Add this many whole days to every time in the data (not birth dates).
    #[arg(
        long,
        default_value_t = 0,
        allow_negative_numbers = true,
        value_name = "DAYS"
    )]
    pub time_shift_days: i64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Merge existing customers that a record ties together (it scores above the attach
    /// threshold against both). On by default with --source (deduplicating one source), off
    /// by default for a manifest (many sources: it would merge households).
    #[arg(long, conflicts_with = "no_merge_ties")]
    pub merge_ties: bool,
    /// Do not merge customers a record ties together.
    #[arg(long)]
    pub no_merge_ties: bool,
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List quarantined rows.
    List {
        /// Only rows of this source.
        #[arg(long)]
        source: Option<String>,
        /// Only rows with this reason (e.g. `ambiguous_date`).
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one quarantined row with its original bytes.
    Show {
        /// The entry id (`Q...`).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove quarantined rows for good (also entries too large to read).
    Remove {
        /// The entry ids (`Q...`).
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Ingest the quarantined rows of a source again, with its (fixed) mapping.
    Retry {
        /// The source's mapping.
        #[arg(long, value_name = "MAPPING.toml")]
        mapping: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct QualityArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Name (typos allowed), phone, e-mail, loyalty number, booking reference, source key
    /// or customer id.
    #[arg(required = true)]
    pub query: Vec<String>,
    /// Most hits to show.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Show the unified record of a customer.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The customer id, e.g. C00000042.
    #[arg(required_unless_present = "find", conflicts_with = "find")]
    pub id: Option<String>,
    /// Show the best search hit for this query instead.
    #[arg(long, value_name = "QUERY")]
    pub find: Option<String>,
    /// Interactions to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Only interactions of this kind (repeatable).
    #[arg(long = "kind")]
    pub kinds: Vec<String>,
    /// Only interactions through this channel (repeatable).
    #[arg(long = "channel")]
    pub channels: Vec<String>,
    /// Only interactions since this date (YYYY-MM-DD) or time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Format of `rapport export identities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdentitiesFormat {
    /// JSON Lines: `{"source": .., "source_key": .., "customer_id": ..}`.
    Jsonl,
    /// CSV with a header `source,source_key,customer_id`.
    Csv,
}

/// Arguments of `rapport export identities` (dispatched from `rapport export`).
#[derive(Debug, Args)]
pub struct IdentitiesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = IdentitiesFormat::Jsonl)]
    pub format: IdentitiesFormat,
    /// Write to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Rows an ingest stores before it reopens the store at the end ([`rapport_store::Store::reopen`]).
const REOPEN_AFTER_ROWS: u64 = 500_000;

/// A path as the side that holds the database reads it: absolute (on this machine, which is
/// the server's when it runs here).
pub(crate) fn absolute(p: &Path) -> anyhow::Result<String> {
    let abs = std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?;
    abs.to_str().map(str::to_string).with_context(|| {
        format!(
            "{}: the path is not valid UTF-8",
            sanitize(&abs.display().to_string())
        )
    })
}

pub fn ingest(g: &Global, a: IngestArgs) -> anyhow::Result<ExitCode> {
    if a.source.is_none() && a.paths.len() != 1 {
        bail!(
            "give one manifest (`rapport ingest ingest.toml`), or a mapping and files \
             (`rapport ingest --source mapping.toml FILE...`)"
        );
    }
    let request = IngestRequest {
        paths: a
            .paths
            .iter()
            .map(|p| absolute(p))
            .collect::<anyhow::Result<_>>()?,
        mapping: a.source.as_deref().map(absolute).transpose()?,
        time_shift_days: a.time_shift_days,
        merge_ties: a.merge_ties || (a.source.is_some() && !a.no_merge_ties),
        progress: !a.quiet && !a.json && std::io::stderr().is_terminal(),
    };
    let rt = crate::cmd::service::runtime()?;
    let client = rt.block_on(crate::cmd::service::connect(g))?;
    let report = rt.block_on(client.ingest(request))?;
    if a.json {
        println!("{}", crate::cmd::json_pretty(&report)?);
    } else {
        print_ingest(&report);
    }
    match client {
        rapport_service::Client::Embedded(e) if report.rows_stored >= REOPEN_AFTER_ROWS => {
            // So that the next open (the server's, a console's) does not replay the whole run.
            // Everything is stored by now: a failure here costs the next open time, not data.
            e.engine().flush()?;
            drop(e);
            let began = std::time::Instant::now();
            match rapport_store::Store::open_with(&g.db_path(), &g.open_options()) {
                Ok(store) => {
                    tracing::info!(
                        seconds = format!("{:.1}", began.elapsed().as_secs_f64()),
                        "store reopened: its snapshot is written, the next open is quick"
                    );
                    drop(store);
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "could not reopen the store; the next open replays this run's writes"
                ),
            }
        }
        other => crate::cmd::service::finish(other)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_ingest(r: &IngestReport) {
    for f in &r.files {
        println!(
            "{:<14} {:>9} read {:>9} stored {:>7} quarantined {:>9} known  {}",
            sanitize(&f.source),
            f.rows_read,
            f.rows_stored,
            f.rows_quarantined,
            f.rows_known,
            sanitize(&f.file)
        );
    }
    println!(
        "rows: {} read = {} stored + {} quarantined + {} already known",
        r.rows_read, r.rows_stored, r.rows_quarantined, r.rows_known
    );
    println!(
        "customers created {}, records attached {}, customers merged {}, review items {}, interactions {}, grants {}",
        r.customers_created,
        r.merges,
        r.customers_merged,
        r.review_items,
        r.interactions_stored,
        r.grants_stored
    );
    println!(
        "{:.1} s, {:.0} rows/s, quarantine rate {:.2}%",
        r.seconds,
        r.rows_per_second,
        r.quarantine_rate * 100.0
    );
    if !r.quarantined_by_reason.is_empty() {
        let parts: Vec<String> = r
            .quarantined_by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "quarantined by reason: {} (see `rapport quarantine list`)",
            parts.join(", ")
        );
    }
}

pub fn quarantine(g: &Global, c: QuarantineCommand) -> anyhow::Result<ExitCode> {
    let rt = crate::cmd::service::runtime()?;
    let client = rt.block_on(crate::cmd::service::connect(g))?;
    match c {
        QuarantineCommand::List {
            source,
            reason,
            json,
        } => {
            let mut out = std::io::stdout().lock();
            let mut n = 0;
            let mut after = None;
            loop {
                let page = rt.block_on(client.quarantine(
                    source.clone(),
                    reason.clone(),
                    after.take(),
                    rapport_service::data::MAX_PAGE_ITEMS,
                ))?;
                for p in &page.problems {
                    eprintln!(
                        "warning: {} (remove it with `rapport quarantine remove ID`)",
                        sanitize(p)
                    );
                }
                for e in &page.items {
                    n += 1;
                    if json {
                        writeln!(out, "{}", crate::cmd::json(&entry_json(e))?)?;
                    } else {
                        writeln!(
                            out,
                            "{}  {:<18} {}:{}  {}  {}",
                            e.id,
                            e.reason,
                            sanitize(&e.file),
                            e.line,
                            sanitize(&e.field),
                            sanitize(&e.detail)
                        )?;
                    }
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            if !json {
                writeln!(out, "{n} quarantined rows")?;
            }
        }
        QuarantineCommand::Show { id, json } => {
            let e = match rt.block_on(client.quarantined(&id)) {
                Ok(e) => e,
                Err(rapport_service::ServiceError::NotFound(_)) => {
                    bail!("no quarantined row {}", sanitize(&id))
                }
                Err(e) => return Err(e.into()),
            };
            if json {
                println!("{}", crate::cmd::json_pretty(&entry_json(&e))?);
            } else {
                println!("id:      {}", e.id);
                println!(
                    "source:  {} (mapping {})",
                    sanitize(&e.source),
                    sanitize(&e.mapping)
                );
                println!("file:    {}:{}", sanitize(&e.file), e.line);
                println!("field:   {}", sanitize(&e.field));
                println!("reason:  {}", e.reason);
                println!("detail:  {}", sanitize(&e.detail));
                println!("at:      {}", e.at);
                if let (false, Some(digest)) = (e.whole, &e.row_sha256) {
                    println!(
                        "length:  {} bytes, only the first {} kept (sha256 {digest}); fix the source and ingest it again",
                        e.row_bytes,
                        e.raw.len()
                    );
                }
                println!("row:     {}", sanitize(&e.raw_text()));
                println!("bytes:   {}", escape_bytes(&e.raw));
            }
        }
        QuarantineCommand::Remove { ids } => {
            let n = match rt.block_on(client.remove_quarantined(ids)) {
                Ok(n) => n,
                Err(rapport_service::ServiceError::NotFound(what)) => {
                    bail!("no {} (nothing was removed)", sanitize(&what))
                }
                Err(e) => return Err(e.into()),
            };
            println!("{n} quarantined rows removed");
        }
        QuarantineCommand::Retry { mapping, json } => {
            let (report, cleared) = rt.block_on(client.retry_quarantine(&absolute(&mapping)?))?;
            if json {
                let v = serde_json::json!({ "cleared": cleared, "report": report });
                println!("{}", crate::cmd::json_pretty(&v)?);
            } else {
                println!(
                    "{} rows retried: {} now ingested and out of the quarantine, {} still quarantined",
                    report.rows_read,
                    cleared.len(),
                    report.rows_read as usize - cleared.len()
                );
            }
        }
    }
    crate::cmd::service::finish(client)?;
    Ok(ExitCode::SUCCESS)
}

fn entry_json(e: &QuarantineItem) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "source": e.source,
        "mapping": e.mapping,
        "file": e.file,
        "line": e.line,
        "field": e.field,
        "reason": e.reason,
        "detail": e.detail,
        "row": e.raw_text(),
        "at": e.at,
        "row_bytes": e.row_bytes,
        "row_sha256": e.row_sha256,
        "whole": e.whole,
    })
}

/// Bytes as text with non-printable and non-ASCII bytes as `\xNN`.
fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        if (0x20..0x7f).contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

pub fn quality(g: &Global, a: QualityArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::cmd::service::runtime()?;
    let client = rt.block_on(crate::cmd::service::connect(g))?;
    let r = rt.block_on(client.quality())?;
    crate::cmd::service::finish(client)?;
    if a.json {
        println!("{}", crate::cmd::json_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "customers {}   source records {}   duplicate rate {:.1}%   review items {} ({:.2}% of customers)",
        r.customers,
        r.source_records,
        r.duplicate_rate * 100.0,
        r.review_items,
        r.review_rate * 100.0
    );
    println!(
        "stale contacts {}   no current contact {}   conflicting values {}",
        r.customers_with_stale_contacts, r.customers_without_contact, r.customers_with_conflicts
    );
    println!(
        "interactions {}   not tied to a customer {}   quarantined rows {}",
        r.interactions, r.interactions_without_customer, r.quarantined_rows
    );
    if !r.quarantine_by_reason.is_empty() {
        println!("\nquarantine by reason");
        for (k, v) in &r.quarantine_by_reason {
            println!("  {k:<20} {v}");
        }
    }
    println!("\ncompleteness by source (share of records with the field)");
    print!("  {:<14} {:>8}", "source", "records");
    for f in quality::FIELDS {
        print!(" {:>8}", short(f));
    }
    println!();
    for (s, q) in &r.sources {
        print!("  {:<14} {:>8}", sanitize(s), q.records);
        for f in quality::FIELDS {
            let v = q.completeness.get(f).copied().unwrap_or(0.0);
            print!(" {:>7.0}%", v * 100.0);
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

fn short(f: &str) -> &str {
    match f {
        "given_name" => "given",
        "family_name" => "family",
        "birth_date" => "birth",
        "loyalty_number" => "loyalty",
        "cross_ref" => "xref",
        other => other,
    }
}

/// `rapport search`: through the service API, so it works embedded and against a server
/// (`--connect`, or the server that holds the database), with the operator's role applied.
pub fn search(g: &Global, a: SearchArgs) -> anyhow::Result<ExitCode> {
    let q = a.query.join(" ");
    let hits = crate::cmd::service::runtime()?.block_on(async {
        let client = crate::cmd::service::connect(g).await?;
        anyhow::Ok(client.search(&q, a.limit).await?)
    })?;
    if a.json {
        println!("{}", crate::cmd::json_pretty(&hits)?);
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        println!("no customer matches {:?}", sanitize(&q));
        return Ok(ExitCode::from(1));
    }
    for h in &hits {
        println!(
            "{}  {:<30} {:<12} {:<4} {:<16} last contact {:<10}  ({} {:.2})",
            h.id,
            sanitize(&h.name),
            h.kind,
            h.tier.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
            sanitize(h.city.as_deref().unwrap_or("-")),
            h.last_contact
                .map(|t| t.to_string()[..10].to_string())
                .unwrap_or_else(|| "-".into()),
            h.matched,
            h.score
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `rapport customer show`: through the service API, like `search`.
pub fn customer(g: &Global, c: CustomerCommand) -> anyhow::Result<ExitCode> {
    let CustomerCommand::Show(a) = c;
    let rt = crate::cmd::service::runtime()?;
    let client = rt.block_on(crate::cmd::service::connect(g))?;
    let id = match (&a.id, &a.find) {
        (Some(id), _) => id
            .parse::<CustomerId>()
            .with_context(|| format!("{:?} is not a customer id (e.g. C00000042)", sanitize(id)))?,
        (None, Some(q)) => match rt.block_on(client.search(q, 1))?.first() {
            Some(h) => h.id,
            None => bail!("no customer matches {:?}", sanitize(q)),
        },
        (None, None) => bail!("give a customer id or --find QUERY"),
    };
    let mut filter = InteractionFilter::at(Timestamp::now());
    filter.limit = a.limit;
    for k in &a.kinds {
        filter.kinds.push(
            k.parse::<InteractionKind>()
                .with_context(|| format!("--kind {:?}", sanitize(k)))?,
        );
    }
    for ch in &a.channels {
        filter.channels.push(
            ch.parse::<Channel>()
                .with_context(|| format!("--channel {:?}", sanitize(ch)))?,
        );
    }
    if let Some(s) = &a.since {
        filter.since = Some(
            Timestamp::parse_rfc3339(s)
                .or_else(|| {
                    s.parse::<jiff::civil::Date>()
                        .ok()
                        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                        .map(|z| Timestamp::from_jiff(z.timestamp()))
                })
                .with_context(|| format!("--since {:?}: use YYYY-MM-DD", sanitize(s)))?,
        );
    }
    let query = rapport_service::InteractionQuery {
        limit: filter.limit,
        before: None,
        kinds: filter.kinds.clone(),
        channels: filter.channels.clone(),
        since: filter.since,
    };
    let rec = match rt.block_on(client.open(id, query)) {
        Ok(rec) => rec,
        Err(rapport_service::ServiceError::NotFound(_)) => bail!("no customer {id}"),
        Err(e) => return Err(e.into()),
    };
    if a.json {
        println!("{}", crate::cmd::json_pretty(&rec)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    print_record(&mut out, &rec, filter.now)?;
    Ok(ExitCode::SUCCESS)
}

fn print_record(
    out: &mut dyn Write,
    rec: &rapport_core::CustomerRecord,
    now: Timestamp,
) -> std::io::Result<()> {
    let c = &rec.customer;
    let s = |t: &str| sanitize(t).into_owned();
    writeln!(out, "{}  {}  ({})", c.id, s(&c.display_name()), c.kind)?;
    if let Some(sc) = &rec.scores {
        let cur = rec
            .value_currency
            .map_or(String::new(), |c| format!(" {c}"));
        writeln!(
            out,
            "tier {}  value {:.2}{cur}  clv {:.2}{cur}  p(alive) {:.2}{}",
            sc.tier,
            sc.value,
            sc.clv,
            sc.p_alive,
            sc.churn
                .map(|ch| format!("  churn {ch:.2}"))
                .unwrap_or_default()
        )?;
    }
    if !rec.tier_history.is_empty() {
        let steps: Vec<String> = rec
            .tier_history
            .iter()
            .map(|t| format!("{} {}", t.to, &t.at.to_string()[..10]))
            .collect();
        writeln!(out, "tier history  {}", steps.join(" -> "))?;
    }
    for cue in &rec.cues {
        let tag = match cue.level {
            rapport_core::CueLevel::Alert => "ALERT",
            rapport_core::CueLevel::Recognise => "NOTE ",
            rapport_core::CueLevel::Info => "info ",
        };
        writeln!(out, "{tag} {}", s(&cue.text))?;
    }
    writeln!(out, "\nprofile")?;
    let p = &c.profile;
    let field = |out: &mut dyn Write, name: &str, v: Option<(String, String)>| match v {
        Some((val, src)) => writeln!(out, "  {name:<15} {:<32} {}", s(&val), s(&src)),
        None => Ok(()),
    };
    let src = |x: &Option<rapport_core::SourceRef>, at: Timestamp| {
        format!(
            "{} {}",
            x.as_ref()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "console".into()),
            &at.to_string()[..10]
        )
    };
    field(
        out,
        "given name",
        p.given_name
            .as_ref()
            .map(|v| (v.value.clone(), src(&v.source, v.at))),
    )?;
    field(
        out,
        "family name",
        p.family_name
            .as_ref()
            .map(|v| (v.value.clone(), src(&v.source, v.at))),
    )?;
    field(
        out,
        "birth date",
        p.birth_date
            .as_ref()
            .map(|v| (v.value.to_string(), src(&v.source, v.at))),
    )?;
    field(
        out,
        "loyalty",
        p.loyalty_number
            .as_ref()
            .map(|v| (v.value.clone(), src(&v.source, v.at))),
    )?;
    field(
        out,
        "status",
        p.loyalty_status
            .as_ref()
            .map(|v| (v.value.clone(), src(&v.source, v.at))),
    )?;
    field(
        out,
        "city",
        p.city
            .as_ref()
            .map(|v| (v.value.clone(), src(&v.source, v.at))),
    )?;
    field(
        out,
        "country",
        p.country
            .as_ref()
            .map(|v| (v.value.clone(), src(&v.source, v.at))),
    )?;
    for (k, v) in &p.extra {
        field(out, k, Some((v.value.clone(), src(&v.source, v.at))))?;
    }
    writeln!(out, "\ncontacts")?;
    for ct in &c.contacts {
        let kind = match ct.kind {
            ContactKind::Email => "email",
            ContactKind::Phone => "phone",
            ContactKind::Address => "address",
        };
        let validity = match (ct.valid_from, ct.valid_to) {
            (_, Some(to)) => format!("until {}", &to.to_string()[..10]),
            (Some(from), None) => format!("since {}", &from.to_string()[..10]),
            (None, None) => "current".into(),
        };
        writeln!(out, "  {kind:<8} {:<40} {validity}", s(&ct.value))?;
    }
    if !c.relationships.is_empty() {
        writeln!(out, "\nrelationships")?;
        for r in &c.relationships {
            let name = rec.related_names.get(&r.other).cloned().unwrap_or_default();
            writeln!(out, "  {:<14} {} {}", r.kind.to_string(), r.other, s(&name))?;
        }
    }
    let prefs = c.current_preferences();
    if !prefs.is_empty() {
        writeln!(out, "\npreferences")?;
        for (topic, p) in prefs {
            writeln!(
                out,
                "  {:<16} {:<20} by {} via {} {}",
                s(topic),
                s(&p.value),
                s(&p.recorded_by),
                p.channel,
                &p.at.to_string()[..10]
            )?;
        }
    }
    writeln!(out, "\nidentifiers")?;
    for i in &c.identifiers {
        writeln!(out, "  {}", s(&i.to_string()))?;
    }
    if !c.quality.is_empty() {
        writeln!(out, "\ndata quality")?;
        for q in &c.quality {
            writeln!(out, "  {}", s(&format!("{q:?}")))?;
        }
    }
    if !rec.grants.is_empty() {
        writeln!(out, "\ncompensation")?;
        for gr in &rec.grants {
            writeln!(
                out,
                "  {}  {} {} for {} at {} by {} ({})",
                &gr.at.to_string()[..16],
                s(&gr.instrument),
                gr.amount,
                s(&gr.disruption),
                s(&gr.touchpoint),
                s(&gr.granted_by),
                rapport_repository::record::ago(gr.at, now)
            )?;
        }
    }
    writeln!(out, "\ninteractions (newest first)")?;
    for i in &rec.interactions {
        let attrs: Vec<String> = i
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(
            out,
            "  {}  {:<20} {:<12} {:<14} {}{}",
            &i.at.to_string()[..16],
            i.kind.to_string(),
            i.channel.to_string(),
            s(i.touchpoint.as_deref().unwrap_or("-")),
            s(&attrs.join(" ")),
            i.text
                .as_deref()
                .map(|t| format!("  \"{}\"", s(t)))
                .unwrap_or_default()
        )?;
    }
    if rec.more_interactions {
        writeln!(out, "  ... more (use --limit)")?;
    }
    Ok(())
}

pub fn export_identities(g: &Global, a: IdentitiesArgs) -> anyhow::Result<ExitCode> {
    let csv = a.format == IdentitiesFormat::Csv;
    let served = g.connect.is_some() || rapport_service::running_server(&g.db_path()).is_some();
    match &a.out {
        // Through the service: the side that holds the store writes the file.
        Some(path) => {
            let target = std::path::absolute(path)
                .with_context(|| format!("resolving {}", path.display()))?;
            let shown = target.display().to_string();
            let rt = crate::cmd::service::runtime()?;
            let client = rt.block_on(crate::cmd::service::connect(g))?;
            let n = rt
                .block_on(client.export_identities(&shown, csv))
                .with_context(|| format!("exporting the identities to {}", sanitize(&shown)))?;
            crate::cmd::service::finish(client)?;
            eprintln!("{n} source records exported");
        }
        None if served => bail!(
            "a server holds the database: write the identities with --out FILE (the server \
             writes it on its machine)"
        ),
        None => {
            g.local_only("export identities")?;
            let store = g.open_store()?;
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            quality::write_identities(&store, &mut w, csv)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
