//! Repository benchmark: ingest rate, peak memory, record-open and search latency.
//!
//! ```text
//! rapport fixtures generate --customers 100000 --out /tmp/world
//! cargo run --release -p rapport-repository --example repo_bench -- /tmp/world [DB_DIR]
//! ```
//!
//! Ingests the world's seven sources through the demo mappings (`fixtures/demo/mappings`)
//! into a fresh store, then opens 20,000 random customer records (newest 100 interactions,
//! scores, grants, cues: what the issue's goal counts) and runs 2,000 searches (names with a typo, phones in another shape, e-mails, loyalty
//! numbers), and prints the figures: latency, and how often the customer the query was made
//! from is the first hit or among the ten shown (a name can have many bearers).
//!
//! `repo_bench --measure DB_DIR [OPENS]` skips the ingest and measures an existing database
//! (OPENS random record opens, 20,000 unless given).

use std::path::{Path, PathBuf};
use std::time::Instant;

use rapport_core::{ContactKind, CustomerId, Timestamp};
use rapport_repository::ingest::{IngestOptions, ingest_manifest};
use rapport_repository::{InteractionFilter, Repository};
use rapport_store::Store;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// A small deterministic generator (xorshift) so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let first = args
        .next()
        .ok_or("usage: repo_bench WORLD_DIR [DB_DIR] | repo_bench --measure DB_DIR")?;
    if first == "--measure" {
        let db = PathBuf::from(args.next().ok_or("usage: repo_bench --measure DB_DIR")?);
        let opens = match args.next() {
            Some(n) => n.parse()?,
            None => OPENS,
        };
        let t = Instant::now();
        let store = Store::open(&db)?;
        println!(
            "opened {} in {:.1} s",
            db.display(),
            t.elapsed().as_secs_f64()
        );
        return measure(&store, opens);
    }
    let world = PathBuf::from(first);
    let db = args.next().map(PathBuf::from);
    let mappings = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo/mappings");
    let manifest = world.join("bench-ingest.toml");
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo/ingest.toml"),
    )?;
    std::fs::write(
        &manifest,
        demo.replace(
            "mappings/",
            &format!("{}/", mappings.canonicalize()?.display()),
        ),
    )?;

    let store = match &db {
        Some(p) => Store::open(p)?,
        None => Store::temporary()?,
    };
    let t = Instant::now();
    let report = ingest_manifest(
        &store,
        &manifest,
        &IngestOptions {
            progress: true,
            ..IngestOptions::default()
        },
    )?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ingest: {} rows ({} stored, {} quarantined, {} known) in {secs:.1} s = {:.0} rows/s; \
         {} customers, {} interactions; peak RSS {:.0} MiB",
        report.rows_read,
        report.rows_stored,
        report.rows_quarantined,
        report.rows_known,
        report.rows_read as f64 / secs,
        store.customer_count()?,
        store.interaction_count()?,
        peak_rss_mib()
    );
    measure(&store, OPENS)
}

/// Record opens measured, as the issue's goal counts them.
const OPENS: usize = 20_000;

/// Record opens and searches on the store (see the module documentation).
fn measure(store: &Store, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let repo = Repository::new(store.clone());
    // From the pages of ids: reading every customer first would warm the cache for the opens.
    let ids: Vec<CustomerId> = store
        .customer_ids(CustomerId(0), None)
        .collect::<Result<_, _>>()?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let now = Timestamp::now();
    let mut opens = Vec::new();
    // (ms, customer, relationships, interactions shown, source records) of each open.
    let mut slowest: Vec<(f64, CustomerId, usize, usize, usize)> = Vec::new();
    let mut queries: Vec<(CustomerId, &str, String)> = Vec::new();
    for i in 0..n {
        let id = ids[rng.below(ids.len() as u64) as usize];
        let t = Instant::now();
        let rec = repo.customer_record(id, &InteractionFilter::at(now))?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        opens.push(ms);
        if let Some(r) = &rec {
            slowest.push((
                ms,
                id,
                r.customer.relationships.len(),
                r.interactions.len(),
                r.customer.identifiers.len(),
            ));
        }
        if let Some(r) = rec.filter(|_| i % (n / 2_000).max(1) == 0) {
            let c = &r.customer;
            match rng.below(4) {
                0 => {
                    // A name with one letter dropped.
                    let mut n = c.display_name();
                    if n.len() > 4 && n.is_char_boundary(2) && n.is_char_boundary(3) {
                        n.remove(2);
                    }
                    queries.push((id, "name", n));
                }
                1 => {
                    if let Some(p) = c.current_contacts(ContactKind::Phone, now).next() {
                        // `+447747855789` typed as `0044 7747 855789`.
                        let digits = p.value.trim_start_matches('+');
                        queries.push((id, "phone", format!("00{digits}")));
                    } else {
                        queries.push((id, "name", c.display_name()));
                    }
                }
                2 => match c.current_contacts(ContactKind::Email, now).next() {
                    Some(e) => queries.push((id, "e-mail", e.value.to_uppercase())),
                    None => queries.push((id, "name", c.display_name())),
                },
                _ => match &c.profile.loyalty_number {
                    Some(l) => queries.push((id, "loyalty", l.value.to_lowercase())),
                    None => queries.push((id, "name", c.display_name())),
                },
            }
        }
    }
    let mut searches = Vec::new();
    let mut found = 0;
    // Per kind of query: (queries, the customer first, the customer in the ten shown).
    let mut by_kind: std::collections::BTreeMap<&str, (u32, u32, u32)> = Default::default();
    for (id, kind, q) in &queries {
        let t = Instant::now();
        let hits = repo.search(q, 10)?;
        searches.push(t.elapsed().as_secs_f64() * 1e3);
        if !hits.is_empty() {
            found += 1;
        }
        let e = by_kind.entry(kind).or_default();
        e.0 += 1;
        e.1 += u32::from(hits.first().is_some_and(|h| h.id == *id));
        e.2 += u32::from(hits.iter().any(|h| h.id == *id));
    }
    println!(
        "record open (newest 100 interactions, scores, grants, cues): p50 {:.3} ms, p99 {:.3} ms, \
         p99.9 {:.3} ms, max {:.3} ms over {} opens",
        percentile(&mut opens.clone(), 0.5),
        percentile(&mut opens.clone(), 0.99),
        percentile(&mut opens.clone(), 0.999),
        percentile(&mut opens, 1.0),
        n
    );
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ms, id, rels, shown, sources) in slowest.iter().take(5) {
        println!(
            "  slow open: {id} {ms:.2} ms ({rels} relationships, {shown} interactions shown, \
             {sources} source records)"
        );
    }
    println!(
        "search: p50 {:.3} ms, p99 {:.3} ms over {} queries ({} with hits)",
        percentile(&mut searches.clone(), 0.5),
        percentile(&mut searches, 0.99),
        queries.len(),
        found
    );
    for (kind, (n, first, shown)) in by_kind {
        println!(
            "  {kind}: {n} queries, the customer first in {first}, among the ten shown in {shown}"
        );
    }
    println!("peak RSS {:.0} MiB", peak_rss_mib());
    Ok(())
}
