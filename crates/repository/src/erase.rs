//! Erasure of a customer's personal data on request (the right to erasure), keeping the
//! non-personal facts the business must keep under a pseudonym.
//!
//! [`erase`] rewrites everything the store holds of the customer, and of every customer
//! merged into it, without personal data, and hands the rewrite to
//! [`rapport_store::Store::erase`], which seals it under fresh keys and destroys the old ones
//! (crypto-shredding: the old versions sled keeps in its files can no longer be read). What
//! stays: the customer id, party kind, creation time, relationships (ids), quality flags, every
//! interaction's time, channel, kind, division, touchpoint, phase, amounts and numeric or
//! non-identifying attributes, every grant, scores, portfolio and experiment memberships (ids).
//! What goes: names, contacts, birth date, loyalty and national numbers, addresses, stated
//! preferences, free text, identifying attributes (booking references are replaced by a
//! pseudonym that is the same within the customer, so a booking is still counted once), the
//! source records' personal fields, merge evidence and review items that compare its
//! records, its index entries. The `erasures` register keeps ids, time and the stated reason.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;

use rapport_core::{AttrValue, Customer, CustomerId, Sourced, Timestamp};
use rapport_store::{Batch, Store};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::fragment::{Fragment, ResolvedFragment};
use crate::identity::Evidence;
use crate::ingest::{FRAGMENTS, MERGES, PENDING_MERGES, REVIEWS, ReviewItem};
use crate::merge::{MERGE_LOG, MergeRecord, REVIEWS_DONE, ReviewDecision};

/// The register of erasures: one document per erased customer (ids, time, reason).
pub const ERASURES: &str = "erasures";

/// Text attributes of an interaction that are facts, not personal data: kept as they are.
/// Every other text attribute is replaced by a pseudonym.
const KEPT_ATTRIBUTES: &[&str] = &[
    "product",
    "cabin",
    "fare_class",
    "booking_method",
    "route",
    "flight",
    "origin",
    "destination",
    "status",
    "outcome",
    "reason",
    "currency",
    "campaign",
    "experiment",
    "arm",
    "case",
    "about",
    "category",
    "severity",
    "instrument",
    "disruption_kind",
    crate::extract::DISRUPTION_ATTR,
];

/// An entry of the [`ERASURES`] register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// The customer erased.
    pub customer: CustomerId,
    /// The customers merged into it, erased with it.
    pub merged: Vec<CustomerId>,
    /// When.
    pub at: Timestamp,
    /// Who asked for it (operator name).
    pub by: String,
    /// The reason as stated (a request reference; not personal data).
    pub reason: String,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErasureReport {
    /// The customer erased, and the customers merged into it.
    pub customers: Vec<CustomerId>,
    /// The pseudonym the record now shows.
    pub pseudonym: String,
    /// Interactions kept, rewritten without personal data.
    pub interactions: u64,
    /// Grants kept.
    pub grants: u64,
    /// Source records rewritten without personal data.
    pub source_records: u64,
    /// Merge evidence, review items and merge-log entries removed or rewritten.
    pub evidence: u64,
    /// Values dropped from the search vocabulary.
    pub vocabulary_dropped: u64,
}

/// Erases the personal data of `customer` and of every customer merged into it (see the
/// module doc). Durable when it returns.
pub fn erase(
    store: &Store,
    customer: CustomerId,
    by: &str,
    reason: &str,
    at: Timestamp,
) -> Result<ErasureReport, Error> {
    if let Some(into) = store.merged_into(customer)? {
        return Err(Error::Invalid(format!(
            "{customer} was merged into {into}: erase {into}, which holds its data"
        )));
    }
    let Some(current) = store.customer(customer)? else {
        return Err(Error::Invalid(format!("no customer {customer}")));
    };
    // Every customer merged into it, transitively.
    let mut ids = vec![customer];
    let mut i = 0;
    while i < ids.len() {
        for m in store.merged_from(ids[i])? {
            if !ids.contains(&m) {
                ids.push(m);
            }
        }
        i += 1;
    }
    let day = at.to_jiff().to_zoned(jiff::tz::TimeZone::UTC).date();
    let pseudonym = format!("erased {day}");
    let mut report = ErasureReport {
        customers: ids.clone(),
        pseudonym: pseudonym.clone(),
        ..ErasureReport::default()
    };
    // Booking references and other identifying text become one pseudonym per value, the same
    // within this erasure (so a booking is still one booking), from keys drawn now and
    // forgotten after.
    let salt = std::collections::hash_map::RandomState::new();
    let pseudo = |v: &str| format!("erased-{:016x}", salt.hash_one(v));
    let mut b = Batch::new();

    let mut kept = Customer::new(customer, current.kind, current.created);
    kept.profile.display_name = Some(Sourced::new(pseudonym.clone(), None, at));
    kept.relationships = current.relationships.clone();
    kept.quality = current.quality.clone();
    kept.updated = at;
    b.put_customer(&kept, Vec::new());

    let erased: BTreeSet<CustomerId> = ids.iter().copied().collect();
    for id in &ids {
        for i in store.interactions_of(*id) {
            let mut i = i?;
            i.text = None;
            i.attributes = i
                .attributes
                .into_iter()
                .map(|(k, v)| match v {
                    AttrValue::Text(t) if !KEPT_ATTRIBUTES.contains(&k.as_str()) => {
                        (k, AttrValue::Text(pseudo(&t)))
                    }
                    other => (k, other),
                })
                .collect::<BTreeMap<_, _>>();
            b.put_interaction(&i);
            report.interactions += 1;
        }
        for g in store.grants_of(*id)? {
            // A grant holds no personal data of the customer (amounts, policy, who granted
            // it, where): rewritten as it is, under the new key.
            b.replace_grant(&g);
            report.grants += 1;
        }
    }
    // Source records: every fragment resolved to one of them, by the identifiers the golden
    // record lists (and any other resolved to them, found by a scan of the collection only
    // when the record lists none).
    let mut sources: BTreeSet<String> = current.identifiers.iter().map(|s| s.to_string()).collect();
    for item in store.docs::<ResolvedFragment>(FRAGMENTS, "") {
        let (key, rf) = item?;
        if erased.contains(&rf.customer) {
            sources.insert(key);
        }
    }
    for key in &sources {
        let Some(rf) = store.doc::<ResolvedFragment>(FRAGMENTS, key)? else {
            continue;
        };
        let f = rf.fragment;
        let bare = Fragment {
            source: f.source.clone(),
            kind: f.kind,
            observed_at: f.observed_at,
            given_name: None,
            family_name: None,
            full_name: Some(pseudonym.clone()),
            birth_date: None,
            emails: Vec::new(),
            phones: Vec::new(),
            addresses: Vec::new(),
            loyalty_number: None,
            loyalty_status: None,
            national_id: None,
            cross_refs: Vec::new(),
            relations: f.relations.clone(),
            extra: BTreeMap::new(),
        };
        b.put_doc_compact_sealed(
            FRAGMENTS,
            key,
            customer,
            &ResolvedFragment {
                fragment: bare,
                customer,
            },
        )?;
        b.remove_doc(MERGES, key);
        b.remove_doc(PENDING_MERGES, &format!("late/{key}"));
        b.remove_doc(PENDING_MERGES, &format!("tie/{key}"));
        report.source_records += 1;
    }
    // Review items and decisions that compare its records; the merge log's entries about it.
    for item in store.docs::<ReviewItem>(REVIEWS, "") {
        let (key, r) = item?;
        if erased.contains(&r.customer) || r.candidates.iter().any(|c| erased.contains(c)) {
            b.remove_doc(REVIEWS, &key);
            report.evidence += 1;
        }
    }
    for item in store.docs::<ReviewDecision>(REVIEWS_DONE, "") {
        let (key, mut d) = item?;
        if erased.contains(&d.item.customer) || d.item.candidates.iter().any(|c| erased.contains(c))
        {
            strip_evidence(&mut d.item.evidence);
            let owner = if erased.contains(&d.item.customer) {
                customer
            } else {
                d.item.customer
            };
            b.put_doc_sealed(REVIEWS_DONE, &key, owner, &d)?;
            report.evidence += 1;
        }
    }
    for item in store.docs::<MergeRecord>(MERGE_LOG, "") {
        let (key, mut m) = item?;
        if erased.contains(&m.survivor) || erased.contains(&m.other) {
            m.survivor_before = None;
            m.other_before = None;
            m.other_keys = Vec::new();
            if let Some(e) = &mut m.evidence {
                strip_evidence(e);
            }
            let owner = if erased.contains(&m.survivor) {
                customer
            } else {
                m.survivor
            };
            b.put_doc_sealed(MERGE_LOG, &key, owner, &m)?;
            report.evidence += 1;
        }
    }
    b.put_doc(
        ERASURES,
        &customer.to_string(),
        &Erasure {
            customer,
            merged: ids[1..].to_vec(),
            at,
            by: by.to_owned(),
            reason: reason.to_owned(),
        },
    )?;
    let summary = store.erase(&ids, b)?;
    report.vocabulary_dropped = summary.vocabulary_dropped;
    Ok(report)
}

/// The values compared in merge evidence go; the levels, weights and decision stay.
fn strip_evidence(e: &mut Evidence) {
    for f in &mut e.fields {
        f.ours = None;
        f.theirs = None;
        f.detail = String::new();
    }
}

/// The register of erasures, oldest first (by customer id).
pub fn erasures(store: &Store) -> Result<Vec<Erasure>, Error> {
    store
        .docs::<Erasure>(ERASURES, "")
        .map(|r| r.map(|(_, e)| e).map_err(Error::from))
        .collect()
}
