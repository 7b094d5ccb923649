//! Merges with evidence and lineage, the review queue, unmerge and explanations: the
//! operations an information steward runs on the store after ingest.
//!
//! Ingest uses this module twice: it builds its resolver with [`match_config`] (so that
//! review rejections keep records apart in later ingests), and with `--merge-ties` it ends a
//! run with [`merge_ties`] (customers a record tied together become one).
//!
//! Collections:
//! - `merges` (written by ingest): the [`Evidence`] of each record attached to an existing
//!   customer, keyed by the record's source reference.
//! - `reviews` (written by ingest): open [`ReviewItem`]s keyed by the new record's reference;
//!   decided items move to `reviews_done` as [`ReviewDecision`]s.
//! - `merge_log`: a [`MergeRecord`] per merge of two customers and per unmerge, keyed by
//!   merge id (`M` + milliseconds + survivor + absorbed), with the documents and index keys
//!   as they were before, so that an unmerge restores both customers exactly.
//! - `keep_apart`: [`KeepApart`] pairs of source records a steward declared different.
//!
//! A merge of two customers is one atomic [`Batch`]: the survivor is rebuilt from both
//! customers' fragments (survivorship rules), the absorbed customer is removed (the store
//! remembers into whom), and its fragments, interactions, grants and relationships move under
//! the survivor; the store emits the change events.

use std::collections::{BTreeSet, HashMap};

use rapport_core::{
    AttrValue, CompensationGrant, Customer, CustomerId, Interaction, InteractionId, QualityFlag,
    Relationship, SourceRef, Timestamp,
};
use rapport_store::{Batch, Durability, IndexKey, Store};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::fragment::{Fragment, ResolvedFragment};
use crate::identity::{Evidence, MatchConfig, Resolver};
use crate::ingest::{FRAGMENTS, MERGES, META, REVIEWS, ReviewItem};
use crate::ingest::{customer_keys, load_fragments};
use crate::survivorship::{self, Trust};

/// Collection of merges of two customers and of unmerges.
pub const MERGE_LOG: &str = "merge_log";
/// Collection of pairs of records declared different.
pub const KEEP_APART: &str = "keep_apart";
/// Collection of decided review items.
pub const REVIEWS_DONE: &str = "reviews_done";
/// Interaction attribute naming the party record (`source:key`) the interaction came with.
pub const PARTY_ATTR: &str = "party";

/// What a merge-log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeKind {
    /// Two customers became one.
    Merge,
    /// A merge (or an ingest attach) was undone.
    Unmerge,
}

/// A merge of two customers, or an unmerge, with its evidence and lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeRecord {
    /// The merge id (key in `merge_log`).
    pub id: String,
    /// Merge or unmerge.
    pub kind: MergeKind,
    /// When.
    pub at: Timestamp,
    /// Who: an operator, `review`, or `ingest`.
    pub by: String,
    /// The customer that remains (merge) or that records were split from (unmerge).
    pub survivor: CustomerId,
    /// The customer that was absorbed (merge) or restored / created (unmerge).
    pub other: CustomerId,
    /// The source records that moved.
    pub records: Vec<SourceRef>,
    /// Why (the resolver's evidence; for an unmerge, the evidence of what was undone).
    pub evidence: Option<Evidence>,
    /// Interactions that moved, as (time, id).
    pub interactions: Vec<(Timestamp, InteractionId)>,
    /// Disruptions whose grants moved to the survivor.
    pub grants: Vec<String>,
    /// Disruptions both customers had a grant for (the absorbed one's grant was left under its
    /// old id: a double grant made before the merge).
    pub grant_conflicts: Vec<String>,
    /// The survivor's document before the merge.
    pub survivor_before: Option<Customer>,
    /// The absorbed customer's document before the merge.
    pub other_before: Option<Customer>,
    /// The absorbed customer's index keys before the merge.
    pub other_keys: Vec<IndexKey>,
    /// For a merge: the id of the unmerge that undid it.
    pub undone_by: Option<String>,
    /// For an unmerge: what it undid (a merge id, or `attach:` + record).
    pub undoes: Option<String>,
}

/// Two source records a steward declared different people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepApart {
    /// One record.
    pub a: SourceRef,
    /// The other.
    pub b: SourceRef,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub by: String,
    /// Why (`review rejected`, `unmerge`).
    pub reason: String,
}

/// A decided review item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewDecision {
    /// The item as it was raised.
    pub item: ReviewItem,
    /// Accepted (merged) or rejected (kept apart).
    pub accepted: bool,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub by: String,
    /// The merge an acceptance made.
    pub merge: Option<String>,
}

/// Everything known about a merge, for `rapport merge explain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// What was asked about.
    pub query: String,
    /// Records attached by ingest: the record, the customer it belongs to now, the evidence.
    pub attaches: Vec<(SourceRef, Option<CustomerId>, Evidence)>,
    /// Merges of customers and unmerges.
    pub merges: Vec<MergeRecord>,
}

/// The match configuration in force for this store: the defaults plus every keep-apart pair.
pub fn match_config(store: &Store) -> Result<MatchConfig, Error> {
    let mut config = MatchConfig::default();
    for item in store.docs::<KeepApart>(KEEP_APART, "") {
        let (_, k) = item?;
        config.keep_apart(k.a, k.b);
    }
    Ok(config)
}

/// Explains merges concerning `query`: a merge id, a customer id (every merge into it and
/// every record attached to it) or a source record (`source:key`).
pub fn explain(store: &Store, query: &str) -> Result<Explanation, Error> {
    let query = query.trim();
    let mut out = Explanation {
        query: query.to_owned(),
        attaches: Vec::new(),
        merges: Vec::new(),
    };
    if let Some(m) = store.doc::<MergeRecord>(MERGE_LOG, query)? {
        out.merges.push(m);
        return Ok(out);
    }
    if let Ok(id) = query.parse::<CustomerId>() {
        for item in store.docs::<MergeRecord>(MERGE_LOG, "") {
            let (_, m) = item?;
            if m.survivor == id || m.other == id {
                out.merges.push(m);
            }
        }
        if let Some(c) = store.customer(id)? {
            for r in &c.identifiers {
                if let Some(e) = store.doc::<Evidence>(MERGES, &r.to_string())? {
                    out.attaches.push((r.clone(), Some(id), e));
                }
            }
        }
    } else if let Ok(r) = query.parse::<SourceRef>() {
        let key = r.to_string();
        if let Some(e) = store.doc::<Evidence>(MERGES, &key)? {
            out.attaches.push((r.clone(), owner(store, &r)?, e));
        }
        for item in store.docs::<MergeRecord>(MERGE_LOG, "") {
            let (_, m) = item?;
            if m.records.contains(&r) {
                out.merges.push(m);
            }
        }
    }
    if out.attaches.is_empty() && out.merges.is_empty() {
        return Err(Error::Invalid(format!(
            "no merge found for {:?}: give a merge id, a customer id (C00000042) or a source record (source:key)",
            rapport_core::text::sanitize(query)
        )));
    }
    Ok(out)
}

/// The open review items, oldest first, with their keys.
pub fn open_reviews(store: &Store) -> Result<Vec<(String, ReviewItem)>, Error> {
    let mut items: Vec<(String, ReviewItem)> = store
        .docs::<ReviewItem>(REVIEWS, "")
        .collect::<Result<_, _>>()?;
    items.sort_by(|a, b| a.1.at.cmp(&b.1.at).then(a.0.cmp(&b.0)));
    Ok(items)
}

/// Accepts a review item: the new customer is merged into the best candidate.
pub fn accept(store: &Store, key: &str, by: &str) -> Result<MergeRecord, Error> {
    let item = review_item(store, key)?;
    let into = *item
        .candidates
        .first()
        .ok_or_else(|| Error::Invalid(format!("review item {key} has no candidate customer")))?;
    let survivor = live(store, into)?;
    let absorbed = live(store, item.customer)?;
    if survivor == absorbed {
        return Err(Error::Invalid(format!(
            "review item {key}: {} and {} are already one customer ({survivor})",
            item.customer, into
        )));
    }
    let record = merge_customers(store, survivor, absorbed, Some(item.evidence.clone()), by)?;
    let mut b = Batch::new();
    b.remove_doc(REVIEWS, key);
    b.put_doc_sealed(
        REVIEWS_DONE,
        key,
        item.customer,
        &ReviewDecision {
            item,
            accepted: true,
            at: Timestamp::now(),
            by: by.to_owned(),
            merge: Some(record.id.clone()),
        },
    )?;
    store.write(b, Durability::Durable)?;
    Ok(record)
}

/// Rejects a review item: the records stay apart, now and in later ingests.
pub fn reject(store: &Store, key: &str, by: &str) -> Result<Vec<KeepApart>, Error> {
    let item = review_item(store, key)?;
    let now = Timestamp::now();
    let mut b = Batch::new();
    let mut pairs = Vec::new();
    let mine: Vec<SourceRef> = records_of(store, item.customer)?;
    for cand in &item.candidates {
        for theirs in records_of(store, *cand)? {
            for r in &mine {
                pairs.push(KeepApart {
                    a: r.clone(),
                    b: theirs.clone(),
                    at: now,
                    by: by.to_owned(),
                    reason: format!("review {key} rejected"),
                });
            }
        }
    }
    for p in &pairs {
        b.put_doc(KEEP_APART, &keep_apart_key(&p.a, &p.b), p)?;
    }
    if let Some(mut c) = store.customer(item.customer)? {
        c.quality.retain(|q| *q != QualityFlag::PendingReview);
        let keys = store.index_keys_of(c.id)?;
        b.put_customer(&c, keys);
    }
    b.remove_doc(REVIEWS, key);
    b.put_doc_sealed(
        REVIEWS_DONE,
        key,
        item.customer,
        &ReviewDecision {
            item,
            accepted: false,
            at: now,
            by: by.to_owned(),
            merge: None,
        },
    )?;
    store.write(b, Durability::Durable)?;
    Ok(pairs)
}

/// Merges the customers that records tie together: for each attach evidence whose `others`
/// hold customers at or above the attach threshold, the other customer is merged into the
/// one that owns the record now (unless a steward kept them apart). Returns the merges made,
/// each applied atomically but not flushed: the caller flushes ([`Store::flush`]; the ingest
/// does when it ends).
pub fn merge_ties(store: &Store, ties: &[Evidence], by: &str) -> Result<Vec<MergeRecord>, Error> {
    let config = match_config(store)?;
    let mut mentions = review_mentions(store)?;
    let mut out = Vec::new();
    for e in ties {
        for (other, score) in &e.others {
            if *score < e.upper {
                continue;
            }
            let Some(owner) = owner(store, &e.record)? else {
                continue;
            };
            let (a, b) = (live(store, owner)?, live(store, *other)?);
            if a == b || store.customer(b)?.is_none() {
                continue;
            }
            let (survivor, absorbed) = (a.min(b), a.max(b));
            out.extend(merge_in_run(
                store,
                &config,
                (survivor, absorbed),
                e,
                by,
                &mut mentions,
            )?);
        }
    }
    Ok(out)
}

/// Merges the customers of records that learned who they are after they were first resolved:
/// each evidence was found for a record that had a customer of its own (it arrived without an
/// identifier and brought one on a later row) against another customer it attaches to. The
/// record's customer is merged into that one (unless a steward kept them apart). Returns the
/// merges made, applied atomically but not flushed, as [`merge_ties`].
pub fn merge_late(
    store: &Store,
    late: &[(CustomerId, Evidence)],
    by: &str,
) -> Result<Vec<MergeRecord>, Error> {
    let config = match_config(store)?;
    let mut mentions = review_mentions(store)?;
    let mut out = Vec::new();
    for (target, e) in late {
        let Some(own) = owner(store, &e.record)? else {
            continue;
        };
        let (absorbed, survivor) = (live(store, own)?, live(store, *target)?);
        if absorbed == survivor || store.customer(survivor)?.is_none() {
            continue;
        }
        // Only a customer that is still this record alone is absorbed.
        if records_of(store, absorbed)? != [e.record.clone()] {
            continue;
        }
        out.extend(merge_in_run(
            store,
            &config,
            (survivor, absorbed),
            e,
            by,
            &mut mentions,
        )?);
    }
    Ok(out)
}

/// One of the merges an ingest makes at its end, unless a steward kept the two apart: one
/// atomic batch, not flushed (the ingest flushes them all when it ends), the review queue
/// read once for all of them.
fn merge_in_run(
    store: &Store,
    config: &MatchConfig,
    (survivor, absorbed): (CustomerId, CustomerId),
    evidence: &Evidence,
    by: &str,
    mentions: &mut Mentions,
) -> Result<Option<MergeRecord>, Error> {
    if kept_apart(store, config, survivor, absorbed)? {
        return Ok(None);
    }
    merge_customers_as(
        store,
        survivor,
        absorbed,
        Some(evidence.clone()),
        by,
        Durability::Batched,
        Some(mentions),
    )
    .map(Some)
}

/// Merges `absorbed` into `survivor` in one atomic batch (see the module documentation).
pub fn merge_customers(
    store: &Store,
    survivor: CustomerId,
    absorbed: CustomerId,
    evidence: Option<Evidence>,
    by: &str,
) -> Result<MergeRecord, Error> {
    merge_customers_as(
        store,
        survivor,
        absorbed,
        evidence,
        by,
        Durability::Durable,
        None,
    )
}

/// [`merge_customers`], returning once the batch is as durable as asked.
fn merge_customers_as(
    store: &Store,
    survivor: CustomerId,
    absorbed: CustomerId,
    evidence: Option<Evidence>,
    by: &str,
    durability: Durability,
    mentions: Option<&mut Mentions>,
) -> Result<MergeRecord, Error> {
    if survivor == absorbed {
        return Err(Error::Invalid(format!(
            "cannot merge {survivor} into itself"
        )));
    }
    let s = customer(store, survivor)?;
    let a = customer(store, absorbed)?;
    if kept_apart(store, &match_config(store)?, survivor, absorbed)? {
        return Err(Error::Invalid(format!(
            "{survivor} and {absorbed} were declared different people (keep apart); not merged"
        )));
    }
    let resolver = Resolver::new(MatchConfig::default());
    let trust = store.doc::<Trust>(META, "trust")?.unwrap_or_default();
    let now = Timestamp::now();
    let mut s_frags = load_fragments(store, &s)?;
    let a_frags = load_fragments(store, &a)?;
    s_frags.extend(a_frags.iter().cloned());

    // Relationships of both, re-pointed at the survivor; none to itself.
    let mut rels: Vec<Relationship> = Vec::new();
    for r in s.relationships.iter().chain(a.relationships.iter()) {
        if r.other == survivor || r.other == absorbed {
            continue;
        }
        if !rels.contains(r) {
            rels.push(r.clone());
        }
    }
    let mut merged = survivorship::build(survivor, Some(&s), &s_frags, rels.clone(), &trust, now);
    merged.relationships = rels;
    merged.created = s.created.min(a.created);
    for p in &a.preferences {
        if !merged.preferences.contains(p) {
            merged.preferences.push(p.clone());
        }
    }
    merged.preferences.sort_by_key(|p| p.at);
    merged.quality.retain(|q| *q != QualityFlag::PendingReview);
    for c in [&s, &a] {
        for r in &c.identifiers {
            if !merged.identifiers.contains(r) {
                merged.identifiers.push(r.clone());
            }
        }
    }

    let mut b = Batch::new();
    let keys = customer_keys(&resolver, &merged, &s_frags);
    b.put_customer(&merged, keys);
    b.remove_customer(absorbed, Some(survivor));
    for f in &a_frags {
        b.put_doc_compact_sealed(
            FRAGMENTS,
            &f.source.to_string(),
            survivor,
            &ResolvedFragment {
                fragment: f.clone(),
                customer: survivor,
            },
        )?;
    }
    let moved = move_interactions(store, &mut b, absorbed, survivor, |_| true)?;
    let (grants, grant_conflicts) = move_grants(store, &mut b, absorbed, survivor)?;
    repoint_relationships(store, &mut b, &a, absorbed, survivor)?;
    repoint_reviews(store, &mut b, absorbed, survivor, mentions)?;

    let id = format!("M{:013}-{}-{}", now.as_millis(), survivor, absorbed);
    let record = MergeRecord {
        id: id.clone(),
        kind: MergeKind::Merge,
        at: now,
        by: by.to_owned(),
        survivor,
        other: absorbed,
        records: a.identifiers.clone(),
        evidence,
        interactions: moved,
        grants,
        grant_conflicts,
        survivor_before: Some(s),
        other_keys: store.index_keys_of(absorbed)?,
        other_before: Some(a),
        undone_by: None,
        undoes: None,
    };
    b.put_doc_sealed(MERGE_LOG, &id, record.survivor, &record)?;
    store.write(b, durability)?;
    Ok(record)
}

/// What an unmerge did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unmerged {
    /// The unmerge's own merge-log entry.
    pub record: MergeRecord,
    /// The customer the records were split from.
    pub survivor: CustomerId,
    /// The restored (or, for an ingest attach, new) customer.
    pub restored: CustomerId,
    /// Interactions that moved back.
    pub interactions: usize,
}

/// Undoes a merge: `target` is a merge id from the merge log, a source record that ingest
/// attached to an existing customer (`source:key`), or a customer id (its latest merge).
/// Both customers come back with their own fragments, interactions and index entries, and
/// their records are declared apart so that later ingests do not merge them again.
pub fn unmerge(store: &Store, target: &str, by: &str) -> Result<Unmerged, Error> {
    let target = target.trim();
    if let Some(m) = store.doc::<MergeRecord>(MERGE_LOG, target)? {
        return unmerge_customers(store, m, by);
    }
    if let Ok(id) = target.parse::<CustomerId>() {
        let latest = store
            .docs::<MergeRecord>(MERGE_LOG, "")
            .filter_map(Result::ok)
            .map(|(_, m)| m)
            .filter(|m| m.kind == MergeKind::Merge && m.undone_by.is_none() && m.survivor == id)
            .max_by_key(|m| m.at);
        return match latest {
            Some(m) => unmerge_customers(store, m, by),
            None => Err(Error::Invalid(format!(
                "{id} has no merge to undo; to split off one of its records give the record (source:key)"
            ))),
        };
    }
    if let Ok(r) = target.parse::<SourceRef>() {
        return split_record(store, &r, by);
    }
    Err(Error::Invalid(format!(
        "{:?} is neither a merge id, a customer id nor a source record",
        rapport_core::text::sanitize(target)
    )))
}

fn unmerge_customers(store: &Store, m: MergeRecord, by: &str) -> Result<Unmerged, Error> {
    if m.kind != MergeKind::Merge {
        return Err(Error::Invalid(format!(
            "{} is an unmerge, not a merge",
            m.id
        )));
    }
    if let Some(u) = &m.undone_by {
        return Err(Error::Invalid(format!(
            "merge {} was already undone by {u}",
            m.id
        )));
    }
    let survivor = live(store, m.survivor)?;
    let s = customer(store, survivor)?;
    let restored_id = m.other;
    let before = m
        .other_before
        .clone()
        .ok_or_else(|| Error::Invalid(format!("merge {} kept no copy of {}", m.id, m.other)))?;
    // Records that still belong to the survivor go back.
    let back: BTreeSet<SourceRef> = m
        .records
        .iter()
        .filter(|r| s.identifiers.contains(r))
        .cloned()
        .collect();
    let all = load_fragments(store, &s)?;
    let (mine, theirs): (Vec<Fragment>, Vec<Fragment>) =
        all.into_iter().partition(|f| !back.contains(&f.source));
    if mine.is_empty() {
        return Err(Error::Invalid(format!(
            "undoing {} would leave {survivor} without records",
            m.id
        )));
    }
    let trust = store.doc::<Trust>(META, "trust")?.unwrap_or_default();
    let resolver = Resolver::new(MatchConfig::default());
    let now = Timestamp::now();
    let mut b = Batch::new();

    // The survivor without what the absorbed customer brought.
    let survivor_before = m.survivor_before.clone();
    let mut kept = s.clone();
    kept.identifiers.retain(|r| !back.contains(r));
    kept.preferences.retain(|p| {
        !before.preferences.contains(p)
            || survivor_before
                .as_ref()
                .is_some_and(|sb| sb.preferences.contains(p))
    });
    let rels: Vec<Relationship> = s
        .relationships
        .iter()
        .filter(|r| {
            !before.relationships.contains(r)
                || survivor_before
                    .as_ref()
                    .is_some_and(|sb| sb.relationships.contains(r))
        })
        .cloned()
        .collect();
    let mut rebuilt = survivorship::build(survivor, Some(&kept), &mine, rels.clone(), &trust, now);
    rebuilt.relationships = rels;
    rebuilt.preferences = kept.preferences;
    b.put_customer(&rebuilt, customer_keys(&resolver, &rebuilt, &mine));

    // The absorbed customer as it was, plus anything its records learned since.
    let mut restored = survivorship::build(
        restored_id,
        Some(&before),
        &theirs,
        before.relationships.clone(),
        &trust,
        now,
    );
    restored.relationships = before.relationships.clone();
    restored.preferences = before.preferences.clone();
    restored.created = before.created;
    let mut keys = customer_keys(&resolver, &restored, &theirs);
    for k in &m.other_keys {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    b.put_customer(&restored, keys);
    for f in &theirs {
        b.put_doc_compact_sealed(
            FRAGMENTS,
            &f.source.to_string(),
            restored_id,
            &ResolvedFragment {
                fragment: f.clone(),
                customer: restored_id,
            },
        )?;
    }
    let moved_ids: BTreeSet<InteractionId> = m.interactions.iter().map(|(_, id)| *id).collect();
    let moved = move_interactions(store, &mut b, survivor, restored_id, |i| {
        moved_ids.contains(&i.id) || belongs_to(i, &back)
    })?;
    // Relationships that pointed at the absorbed customer point at it again.
    for r in &before.relationships {
        if let Some(mut x) = store.customer(r.other)? {
            let mut changed = false;
            for xr in x.relationships.iter_mut() {
                if xr.other == survivor
                    && xr
                        .source
                        .as_ref()
                        .is_some_and(|s| back.contains(s) || theirs.iter().any(|f| &f.source == s))
                {
                    xr.other = restored_id;
                    changed = true;
                }
            }
            if changed {
                let k = store.index_keys_of(x.id)?;
                b.put_customer(&x, k);
            }
        }
    }
    let id = format!("U{:013}-{}-{}", now.as_millis(), survivor, restored_id);
    let record = MergeRecord {
        id: id.clone(),
        kind: MergeKind::Unmerge,
        at: now,
        by: by.to_owned(),
        survivor,
        other: restored_id,
        records: back.iter().cloned().collect(),
        evidence: m.evidence.clone(),
        interactions: moved.clone(),
        grants: Vec::new(),
        grant_conflicts: Vec::new(),
        survivor_before: Some(s),
        other_before: None,
        other_keys: Vec::new(),
        undone_by: None,
        undoes: Some(m.id.clone()),
    };
    keep_apart_all(
        &mut b,
        &mine,
        &theirs,
        by,
        &format!("unmerge of {}", m.id),
        now,
    )?;
    let mut done = m;
    done.undone_by = Some(id.clone());
    b.put_doc_sealed(MERGE_LOG, &done.id, done.survivor, &done)?;
    b.put_doc_sealed(MERGE_LOG, &id, record.survivor, &record)?;
    store.write(b, Durability::Durable)?;
    Ok(Unmerged {
        interactions: moved.len(),
        record,
        survivor,
        restored: restored_id,
    })
}

/// Splits one record that ingest attached to a customer into a customer of its own.
fn split_record(store: &Store, r: &SourceRef, by: &str) -> Result<Unmerged, Error> {
    let Some(from) = owner(store, r)? else {
        return Err(Error::Invalid(format!("no ingested record {r}")));
    };
    let from = live(store, from)?;
    let s = customer(store, from)?;
    let all = load_fragments(store, &s)?;
    let (theirs, mine): (Vec<Fragment>, Vec<Fragment>) =
        all.into_iter().partition(|f| &f.source == r);
    if mine.is_empty() {
        return Err(Error::Invalid(format!(
            "{r} is the only record of {from}: there is nothing to unmerge"
        )));
    }
    let evidence = store.doc::<Evidence>(MERGES, &r.to_string())?;
    let trust = store.doc::<Trust>(META, "trust")?.unwrap_or_default();
    let resolver = Resolver::new(MatchConfig::default());
    let now = Timestamp::now();
    let new_id = store.next_customer_id()?;
    let mut b = Batch::new();

    let mut kept = s.clone();
    kept.identifiers.retain(|x| x != r);
    let rels: Vec<Relationship> = s
        .relationships
        .iter()
        .filter(|x| x.source.as_ref() != Some(r))
        .cloned()
        .collect();
    let mut rebuilt = survivorship::build(from, Some(&kept), &mine, rels.clone(), &trust, now);
    rebuilt.relationships = rels;
    b.put_customer(&rebuilt, customer_keys(&resolver, &rebuilt, &mine));

    let own_rels: Vec<Relationship> = s
        .relationships
        .iter()
        .filter(|x| x.source.as_ref() == Some(r))
        .cloned()
        .collect();
    let mut created = survivorship::build(new_id, None, &theirs, own_rels.clone(), &trust, now);
    created.relationships = own_rels;
    b.put_customer(&created, customer_keys(&resolver, &created, &theirs));
    for f in &theirs {
        b.put_doc_compact_sealed(
            FRAGMENTS,
            &f.source.to_string(),
            new_id,
            &ResolvedFragment {
                fragment: f.clone(),
                customer: new_id,
            },
        )?;
    }
    let back: BTreeSet<SourceRef> = std::iter::once(r.clone()).collect();
    let moved = move_interactions(store, &mut b, from, new_id, |i| belongs_to(i, &back))?;
    let id = format!("U{:013}-{}-{}", now.as_millis(), from, new_id);
    let record = MergeRecord {
        id: id.clone(),
        kind: MergeKind::Unmerge,
        at: now,
        by: by.to_owned(),
        survivor: from,
        other: new_id,
        records: vec![r.clone()],
        evidence,
        interactions: moved.clone(),
        grants: Vec::new(),
        grant_conflicts: Vec::new(),
        survivor_before: Some(s),
        other_before: None,
        other_keys: Vec::new(),
        undone_by: None,
        undoes: Some(format!("attach:{r}")),
    };
    keep_apart_all(&mut b, &mine, &theirs, by, &format!("unmerge of {r}"), now)?;
    b.remove_doc(MERGES, &r.to_string());
    b.put_doc_sealed(MERGE_LOG, &id, record.survivor, &record)?;
    store.write(b, Durability::Durable)?;
    Ok(Unmerged {
        interactions: moved.len(),
        record,
        survivor: from,
        restored: new_id,
    })
}

/// Whether an interaction came with one of these records: its source is the record, or its
/// [`PARTY_ATTR`] attribute names it.
fn belongs_to(i: &Interaction, records: &BTreeSet<SourceRef>) -> bool {
    i.source.as_ref().is_some_and(|s| records.contains(s))
        || matches!(i.attributes.get(PARTY_ATTR), Some(AttrValue::Text(t))
            if t.parse::<SourceRef>().is_ok_and(|r| records.contains(&r)))
}

/// Moves the interactions of `from` that `pick` selects under `to`, keeping their ids, and
/// updates the ingest idempotency entries that point at them.
fn move_interactions(
    store: &Store,
    b: &mut Batch,
    from: CustomerId,
    to: CustomerId,
    pick: impl Fn(&Interaction) -> bool,
) -> Result<Vec<(Timestamp, InteractionId)>, Error> {
    let mut moved = Vec::new();
    let mut rows = Vec::new();
    for i in store.interactions_of(from) {
        let mut i = i?;
        if !pick(&i) {
            continue;
        }
        b.remove_interaction(from, i.at, i.id);
        if let Some(src) = &i.source {
            rows.push(crate::ingest::Repoint {
                row_key: src.to_string(),
                from: (from, i.at, i.id),
                to,
            });
        }
        i.customer = to;
        b.put_interaction(&i);
        moved.push((i.at, i.id));
    }
    // Each page of rows seen they changed is written once, whole.
    crate::ingest::repoint_rows(store, b, &rows)?;
    Ok(moved)
}

/// Copies the grants of `from` to `to`, except for disruptions `to` already has a grant for.
fn move_grants(
    store: &Store,
    b: &mut Batch,
    from: CustomerId,
    to: CustomerId,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let (mut moved, mut conflicts) = (Vec::new(), Vec::new());
    for g in store.grants_of(from)? {
        if store.grant(to, &g.disruption)?.is_some() {
            conflicts.push(g.disruption.clone());
            continue;
        }
        let g = CompensationGrant { customer: to, ..g };
        b.insert_grant(&g);
        moved.push(g.disruption);
    }
    Ok((moved, conflicts))
}

/// Customers related to the absorbed one now relate to the survivor.
fn repoint_relationships(
    store: &Store,
    b: &mut Batch,
    absorbed: &Customer,
    from: CustomerId,
    to: CustomerId,
) -> Result<(), Error> {
    let mut seen = BTreeSet::new();
    for r in &absorbed.relationships {
        if r.other == to || !seen.insert(r.other) {
            continue;
        }
        if let Some(mut x) = store.customer(r.other)? {
            let mut changed = false;
            for xr in x.relationships.iter_mut() {
                if xr.other == from {
                    xr.other = to;
                    changed = true;
                }
            }
            if changed {
                let keys = store.index_keys_of(x.id)?;
                b.put_customer(&x, keys);
            }
        }
    }
    Ok(())
}

/// Open review items that name the absorbed customer name the survivor; an item that would
/// compare the survivor with itself is settled by the merge.
/// Review items by the customers they name (their customer and candidates): many merges in a
/// row read the queue once.
type Mentions = HashMap<CustomerId, BTreeSet<String>>;

fn review_mentions(store: &Store) -> Result<Mentions, Error> {
    let mut out = Mentions::new();
    for item in store.docs::<ReviewItem>(REVIEWS, "") {
        let (key, r) = item?;
        for c in std::iter::once(r.customer).chain(r.candidates) {
            out.entry(c).or_default().insert(key.clone());
        }
    }
    Ok(out)
}

/// Points the review items that name `from` at `to` (all items read, or those `mentions`
/// lists, which is kept up to date).
fn repoint_reviews(
    store: &Store,
    b: &mut Batch,
    from: CustomerId,
    to: CustomerId,
    mentions: Option<&mut Mentions>,
) -> Result<(), Error> {
    let items: Vec<(String, ReviewItem)> = match mentions {
        None => store
            .docs::<ReviewItem>(REVIEWS, "")
            .collect::<Result<_, _>>()?,
        Some(m) => {
            let keys = m.remove(&from).unwrap_or_default();
            let mut items = Vec::with_capacity(keys.len());
            for key in &keys {
                if let Some(r) = store.doc::<ReviewItem>(REVIEWS, key)? {
                    items.push((key.clone(), r));
                }
            }
            m.entry(to).or_default().extend(keys);
            items
        }
    };
    for (key, mut r) in items {
        if r.customer != from && !r.candidates.contains(&from) {
            continue;
        }
        if r.customer == from {
            r.customer = to;
        }
        for c in r.candidates.iter_mut() {
            if *c == from {
                *c = to;
            }
        }
        r.candidates.retain(|c| *c != r.customer);
        r.candidates.dedup();
        if r.candidates.is_empty() {
            b.remove_doc(REVIEWS, &key);
        } else {
            b.put_doc_compact_sealed(REVIEWS, &key, r.customer, &r)?;
        }
    }
    Ok(())
}

fn keep_apart_all(
    b: &mut Batch,
    mine: &[Fragment],
    theirs: &[Fragment],
    by: &str,
    reason: &str,
    at: Timestamp,
) -> Result<(), Error> {
    for x in mine {
        for y in theirs {
            let k = KeepApart {
                a: x.source.clone(),
                b: y.source.clone(),
                at,
                by: by.to_owned(),
                reason: reason.to_owned(),
            };
            b.put_doc(KEEP_APART, &keep_apart_key(&k.a, &k.b), &k)?;
        }
    }
    Ok(())
}

fn keep_apart_key(a: &SourceRef, b: &SourceRef) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    format!("{x}|{y}")
}

fn kept_apart(
    store: &Store,
    config: &MatchConfig,
    a: CustomerId,
    b: CustomerId,
) -> Result<bool, Error> {
    if config.keep_apart.is_empty() {
        return Ok(false);
    }
    let ra = records_of(store, a)?;
    let rb = records_of(store, b)?;
    Ok(ra
        .iter()
        .any(|x| rb.iter().any(|y| config.kept_apart(x, y))))
}

fn review_item(store: &Store, key: &str) -> Result<ReviewItem, Error> {
    store.doc::<ReviewItem>(REVIEWS, key)?.ok_or_else(|| {
        Error::Invalid(format!(
            "no open review item {:?} (see `rapport review list`)",
            rapport_core::text::sanitize(key)
        ))
    })
}

fn customer(store: &Store, id: CustomerId) -> Result<Customer, Error> {
    store
        .customer(id)?
        .ok_or_else(|| Error::Invalid(format!("no customer {id}")))
}

/// The customer an id stands for now, following merges.
fn live(store: &Store, mut id: CustomerId) -> Result<CustomerId, Error> {
    for _ in 0..64 {
        match store.merged_into(id)? {
            Some(next) if next != id => id = next,
            _ => break,
        }
    }
    Ok(id)
}

fn owner(store: &Store, r: &SourceRef) -> Result<Option<CustomerId>, Error> {
    Ok(store
        .doc::<ResolvedFragment>(FRAGMENTS, &r.to_string())?
        .map(|f| f.customer))
}

fn records_of(store: &Store, id: CustomerId) -> Result<Vec<SourceRef>, Error> {
    Ok(store
        .customer(id)?
        .map(|c| c.identifiers)
        .unwrap_or_default())
}
