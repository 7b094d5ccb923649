//! Reading records, search hits, the overview and working lists out of the store for the
//! engine.

use rapport_analytics::ListName;
use rapport_core::{
    Customer, CustomerId, CustomerRecord, CustomerSummary, Interaction, InteractionId, Timestamp,
};
use rapport_repository::ingest::REVIEWS;
use rapport_repository::quarantine;
use rapport_repository::{InteractionFilter, Repository};
use rapport_store::Store;

use crate::api::{InteractionQuery, ListEntry, Overview, ServiceError, ServiceResult};

use crate::engine::store_err;

/// Default page of interactions.
pub const DEFAULT_PAGE: usize = 100;
/// Largest page of interactions.
pub const MAX_PAGE: usize = 1_000;

/// One page of interactions matching the query, newest first, and whether more exist.
pub fn interactions(
    store: &Store,
    id: CustomerId,
    q: &InteractionQuery,
) -> ServiceResult<(Vec<Interaction>, bool)> {
    let limit = if q.limit == 0 {
        DEFAULT_PAGE
    } else {
        q.limit.min(MAX_PAGE)
    };
    let filtered = !q.kinds.is_empty() || !q.channels.is_empty();
    let chunk = if filtered {
        (limit * 4).max(200)
    } else {
        limit + 1
    };
    let mut out = Vec::with_capacity(limit + 1);
    let mut before: Option<(Timestamp, InteractionId)> = q.before;
    loop {
        let page = store
            .interactions_newest(id, chunk, before)
            .map_err(store_err)?;
        let exhausted = page.len() < chunk;
        for i in page {
            before = Some((i.at, i.id));
            if q.since.is_some_and(|s| i.at < s) {
                let more = false;
                out.truncate(limit);
                return Ok((out, more));
            }
            let kind_ok = q.kinds.is_empty() || q.kinds.contains(&i.kind);
            let channel_ok = q.channels.is_empty() || q.channels.contains(&i.channel);
            if kind_ok && channel_ok {
                out.push(i);
                if out.len() > limit {
                    out.truncate(limit);
                    return Ok((out, true));
                }
            }
        }
        if exhausted {
            return Ok((out, false));
        }
    }
}

/// The unified record from the repository (following merges), or `None` for an unknown
/// customer.
pub fn record(
    repo: &Repository,
    id: CustomerId,
    q: &InteractionQuery,
    now: Timestamp,
) -> ServiceResult<Option<CustomerRecord>> {
    let filter = InteractionFilter {
        limit: if q.limit == 0 {
            DEFAULT_PAGE
        } else {
            q.limit.min(MAX_PAGE)
        },
        before: q.before,
        kinds: q.kinds.clone(),
        channels: q.channels.clone(),
        since: q.since,
        now,
    };
    let Some(mut record) = repo.customer_record(id, &filter).map_err(repo_err)? else {
        return Ok(None);
    };
    record.tier_history = rapport_scoring::results::tier_history(repo.store(), record.customer.id)
        .map_err(scoring_err)?
        .map(|h| h.changes)
        .unwrap_or_default();
    Ok(Some(record))
}

/// Search by the repository's rules (names with typos, phones in any shape, e-mail...).
pub fn search(repo: &Repository, query: &str, limit: usize) -> ServiceResult<Vec<CustomerSummary>> {
    repo.search(query, limit).map_err(repo_err)
}

fn repo_err(e: rapport_repository::Error) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

fn summary(
    store: &Store,
    c: &Customer,
    matched: &str,
    score: f64,
) -> ServiceResult<CustomerSummary> {
    let tier = store.scores(c.id).map_err(store_err)?.map(|s| s.tier);
    let last_contact = store
        .interactions_newest(c.id, 1, None)
        .map_err(store_err)?
        .first()
        .map(|i| i.at);
    Ok(CustomerSummary {
        id: c.id,
        kind: c.kind,
        name: c.display_name(),
        tier,
        city: c.profile.city.as_ref().map(|s| s.value.clone()),
        last_contact,
        matched: matched.to_string(),
        score,
    })
}

/// A list's name, or a refusal naming the known ones.
pub(crate) fn list_name(name: &str) -> ServiceResult<ListName> {
    name.parse().map_err(|_| {
        let known: Vec<&str> = ListName::ALL.iter().map(|l| l.as_str()).collect();
        ServiceError::Invalid(format!(
            "unknown list {:?} (expected one of: {})",
            rapport_core::text::sanitize(&name.chars().take(40).collect::<String>()),
            known.join(", ")
        ))
    })
}

fn scoring_err(e: rapport_scoring::Error) -> ServiceError {
    match e {
        rapport_scoring::Error::Store(s) => store_err(s),
        other => ServiceError::Internal(other.to_string()),
    }
}

/// Counts, tiers and skew for the overview; the analytics parts stay empty before any
/// scoring run.
pub fn overview(store: &Store) -> ServiceResult<Overview> {
    let mut o = Overview {
        customers: store.customer_count().map_err(store_err)?,
        interactions: store.interaction_count().map_err(store_err)?,
        ..Overview::default()
    };
    if let Some(t) = rapport_scoring::results::tiers(store).map_err(scoring_err)? {
        o.tiers = t.tiers.iter().map(|r| (r.tier, r.customers)).collect();
        o.scored_at = Some(t.at);
    }
    if let Some(s) = rapport_scoring::results::skew(store).map_err(scoring_err)? {
        o.lorenz = s.lorenz;
        o.gini = Some(s.gini);
        o.top_shares = s.top_shares;
        o.scored_at = o.scored_at.or(Some(s.at));
    }
    o.quarantine = quarantine::counts_by_reason(store)
        .map_err(|e| ServiceError::Internal(e.to_string()))?
        .into_iter()
        .collect();
    o.reviews_pending = store.doc_count(REVIEWS).map_err(store_err)?;
    Ok(o)
}

/// A working list from the latest scoring run; empty before any run. Unknown names are
/// refused with the known ones.
pub fn list(store: &Store, name: &str, limit: usize) -> ServiceResult<Vec<ListEntry>> {
    let list = list_name(name)?;
    let Some(stored) = rapport_scoring::results::list(store, list).map_err(scoring_err)? else {
        return Ok(Vec::new());
    };
    let limit = if limit == 0 { 100 } else { limit.min(10_000) };
    let mut out = Vec::new();
    for e in stored.entries.into_iter().take(limit) {
        // A customer merged away or removed since the run is skipped.
        if let Some(c) = store.customer(e.customer).map_err(store_err)? {
            out.push(ListEntry {
                customer: summary(store, &c, list.as_str(), 1.0)?,
                reason: e.reason,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_analytics::{TierRow, TierSummary, Tiering, WorkingList};
    use rapport_core::{PartyKind, Sourced, Tier};
    use rapport_store::{Batch, Durability};

    #[test]
    fn overview_and_lists_read_the_scoring_run() {
        let store = Store::temporary().unwrap();
        assert_eq!(overview(&store).unwrap().tiers.len(), 0);
        assert!(list(&store, "complainers", 10).unwrap().is_empty());
        assert!(matches!(
            list(&store, "nonsense", 10),
            Err(ServiceError::Invalid(m)) if m.contains("complainers")
        ));
        let t = Timestamp::from_secs(1_790_000_000);
        let id = store.next_customer_id().unwrap();
        let mut c = Customer::new(id, PartyKind::Person, t);
        c.profile.display_name = Some(Sourced::new("Val Uable".into(), None, t));
        let mut b = Batch::default();
        b.put_customer(&c, vec![]);
        let row = |tier, customers| TierRow {
            tier,
            customers,
            value: 0.0,
            value_share: 0.0,
            profit: 0.0,
            clv: 0.0,
        };
        let tiers = TierSummary {
            at: t,
            model_version: "test".into(),
            tiering: Tiering {
                a_cutoff: 10.0,
                b_cutoff: 5.0,
                c_cutoff: f64::MIN,
                top_cutoff: 20.0,
                bottom_cutoff: 1.0,
                floor: 0.0,
                ceiling: 100.0,
            },
            tiers: vec![row(Tier::A, 1), row(Tier::B, 4), row(Tier::C, 15)],
            measure: rapport_analytics::TierMeasure::Value,
            top_customers: 1,
            top_value_share: 0.5,
            bottom_customers: 4,
            bottom_profit: -3.0,
            negative_customers: 0,
            negative_value: 0.0,
            movements: Vec::new(),
        };
        let skew = rapport_analytics::skew(&[1.0, 1.0, 2.0, 96.0], "value", t).unwrap();
        let wl = WorkingList {
            name: ListName::Complainers,
            title: "Valuable complainers".into(),
            at: t,
            total: 2,
            entries: vec![
                rapport_analytics::ListEntry {
                    customer: id,
                    tier: Tier::A,
                    rank_value: 3.0,
                    reason: "3 complaints in the last year".into(),
                },
                rapport_analytics::ListEntry {
                    customer: CustomerId(999),
                    tier: Tier::A,
                    rank_value: 2.0,
                    reason: "merged away since".into(),
                },
            ],
        };
        store.write(b, Durability::Durable).unwrap();
        rapport_scoring::results::put_for_test(&store, Some(&tiers), Some(&skew), &[wl]).unwrap();

        let o = overview(&store).unwrap();
        assert_eq!(o.customers, 1);
        assert_eq!(
            o.tiers.into_iter().collect::<Vec<_>>(),
            vec![(Tier::A, 1), (Tier::B, 4), (Tier::C, 15)]
        );
        assert_eq!(o.gini, Some(skew.gini));
        assert_eq!(o.top_shares, skew.top_shares);
        assert_eq!(o.scored_at, Some(t));
        let l = list(&store, "Complainers", 10).unwrap();
        assert_eq!(l.len(), 1, "customers gone since the run are skipped");
        assert_eq!(l[0].customer.name, "Val Uable");
        assert_eq!(l[0].reason, "3 complaints in the last year");
    }
}
