//! The data-quality report and the identities export.
//!
//! The report answers the information steward's questions about the pool: how complete each
//! field is in each source, how many source records were duplicates of others (merged) and
//! how many wait for review, how much contact data is stale, what the quarantine holds by
//! reason, and how many interactions are not tied to a customer.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use rapport_core::{CustomerId, QualityFlag};
use rapport_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::fragment::ResolvedFragment;
use crate::ingest::{FRAGMENTS, REVIEWS};
use crate::quarantine;

/// Fields whose completeness the report measures.
pub const FIELDS: [&str; 9] = [
    "name",
    "given_name",
    "family_name",
    "birth_date",
    "email",
    "phone",
    "address",
    "loyalty_number",
    "cross_ref",
];

/// Completeness of one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceQuality {
    /// Source records (fragments) from this source.
    pub records: u64,
    /// Share of records with each field filled, by field name.
    pub completeness: BTreeMap<String, f64>,
}

/// The data-quality report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Resolved customers.
    pub customers: u64,
    /// Source records (fragments).
    pub source_records: u64,
    /// Source records per customer minus one, as a share of source records: the share of
    /// records that duplicated another record of the same customer.
    pub duplicate_rate: f64,
    /// Customers with more than one source record.
    pub customers_with_several_records: u64,
    /// Review items waiting, and their share of customers.
    pub review_items: u64,
    /// `review_items / customers`.
    pub review_rate: f64,
    /// Customers with a stale current contact point (not confirmed for two years).
    pub customers_with_stale_contacts: u64,
    /// Customers without any current contact point.
    pub customers_without_contact: u64,
    /// Customers whose sources disagree on a golden field.
    pub customers_with_conflicts: u64,
    /// Per source.
    pub sources: BTreeMap<String, SourceQuality>,
    /// Quarantined rows by reason.
    pub quarantine_by_reason: BTreeMap<String, u64>,
    /// Quarantined rows in all.
    pub quarantined_rows: u64,
    /// Interactions stored.
    pub interactions: u64,
    /// Interactions whose customer no longer exists (not tied to a customer).
    pub interactions_without_customer: u64,
    /// Share of interactions tied to a resolved customer.
    pub interactions_tied_rate: f64,
}

/// Computes the report (reads the whole pool).
pub fn report(store: &Store) -> Result<QualityReport, Error> {
    let mut r = QualityReport::default();
    let mut filled: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut per_customer: BTreeMap<CustomerId, u64> = BTreeMap::new();
    for item in store.docs::<ResolvedFragment>(FRAGMENTS, "") {
        let (_, rf) = item?;
        let f = &rf.fragment;
        r.source_records += 1;
        *per_customer.entry(rf.customer).or_insert(0) += 1;
        let src = r.sources.entry(f.source.source.clone()).or_default();
        src.records += 1;
        let counts = filled.entry(f.source.source.clone()).or_default();
        let has = [
            f.given_name.is_some() || f.family_name.is_some() || f.full_name.is_some(),
            f.given_name.is_some(),
            f.family_name.is_some(),
            f.birth_date.is_some(),
            !f.emails.is_empty(),
            !f.phones.is_empty(),
            !f.addresses.is_empty(),
            f.loyalty_number.is_some(),
            !f.cross_refs.is_empty(),
        ];
        for (name, h) in FIELDS.iter().zip(has) {
            if h {
                *counts.entry(name).or_insert(0) += 1;
            }
        }
    }
    for (source, q) in &mut r.sources {
        let counts = filled.get(source);
        for name in FIELDS {
            let n = counts.and_then(|c| c.get(name)).copied().unwrap_or(0);
            q.completeness
                .insert(name.to_string(), n as f64 / q.records.max(1) as f64);
        }
    }
    let mut ids = HashSet::new();
    for c in store.customers() {
        let c = c?;
        ids.insert(c.id);
        r.customers += 1;
        if c.quality
            .iter()
            .any(|q| matches!(q, QualityFlag::StaleContact { .. }))
        {
            r.customers_with_stale_contacts += 1;
        }
        if c.quality.contains(&QualityFlag::NoCurrentContact) {
            r.customers_without_contact += 1;
        }
        if c.quality
            .iter()
            .any(|q| matches!(q, QualityFlag::ConflictingValues { .. }))
        {
            r.customers_with_conflicts += 1;
        }
    }
    r.customers_with_several_records = per_customer.values().filter(|n| **n > 1).count() as u64;
    let dups: u64 = per_customer.values().map(|n| n - 1).sum();
    r.duplicate_rate = dups as f64 / r.source_records.max(1) as f64;
    r.review_items = store.doc_count(REVIEWS)?;
    r.review_rate = r.review_items as f64 / r.customers.max(1) as f64;
    r.quarantine_by_reason = quarantine::counts_by_reason(store)?;
    r.quarantined_rows = r.quarantine_by_reason.values().sum();
    for i in store.all_interactions() {
        let i = i?;
        r.interactions += 1;
        if !ids.contains(&i.customer) {
            r.interactions_without_customer += 1;
        }
    }
    r.interactions_tied_rate = if r.interactions == 0 {
        1.0
    } else {
        (r.interactions - r.interactions_without_customer) as f64 / r.interactions as f64
    };
    Ok(r)
}

/// One line of the identities export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The source name.
    pub source: String,
    /// The record's natural key in the source.
    pub source_key: String,
    /// The customer it resolved to.
    pub customer_id: CustomerId,
}

/// Every ingested source record with the customer it resolved to.
pub fn identities(store: &Store) -> impl Iterator<Item = Result<Identity, Error>> + '_ {
    store.docs::<ResolvedFragment>(FRAGMENTS, "").map(|r| {
        let (_, rf) = r?;
        Ok(Identity {
            source: rf.fragment.source.source,
            source_key: rf.fragment.source.key,
            customer_id: rf.customer,
        })
    })
}

/// Writes the identities as JSON Lines or CSV (`source,source_key,customer_id`); returns the
/// number of records written.
pub fn write_identities(store: &Store, out: &mut dyn Write, csv: bool) -> Result<u64, Error> {
    let io = |e: std::io::Error| Error::io("(output)", e);
    let mut n = 0;
    if csv {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(["source", "source_key", "customer_id"])
            .map_err(|e| Error::Invalid(e.to_string()))?;
        for id in identities(store) {
            let id = id?;
            w.write_record([
                id.source.as_str(),
                id.source_key.as_str(),
                &id.customer_id.to_string(),
            ])
            .map_err(|e| Error::Invalid(e.to_string()))?;
            n += 1;
        }
        w.flush().map_err(io)?;
    } else {
        for id in identities(store) {
            let id = id?;
            let line = serde_json::json!({
                "source": id.source,
                "source_key": id.source_key,
                "customer_id": id.customer_id.to_string(),
            });
            writeln!(out, "{line}").map_err(io)?;
            n += 1;
        }
        out.flush().map_err(io)?;
    }
    Ok(n)
}
