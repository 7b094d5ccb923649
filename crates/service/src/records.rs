//! Reading records, search hits, the overview and working lists out of the store for the
//! engine.

use std::collections::BTreeMap;

use rapport_core::{
    CompensationGrant, Cue, CueLevel, Customer, CustomerId, CustomerRecord, CustomerSummary,
    Interaction, InteractionId, Timestamp,
};
use rapport_store::{IndexKey, IndexKind, Store};

use crate::api::{InteractionQuery, ListEntry, Overview, ServiceResult};
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

/// The unified record, or `None` for an unknown customer.
pub fn record(
    store: &Store,
    id: CustomerId,
    q: &InteractionQuery,
) -> ServiceResult<Option<CustomerRecord>> {
    let Some(customer) = store.customer(id).map_err(store_err)? else {
        return Ok(None);
    };
    let mut related_names = BTreeMap::new();
    for r in &customer.relationships {
        if let Some(other) = store.customer(r.other).map_err(store_err)? {
            related_names.insert(r.other, other.display_name());
        }
    }
    let scores = store.scores(id).map_err(store_err)?;
    let mut grants = store.grants_of(id).map_err(store_err)?;
    grants.sort_by(|a, b| b.at.cmp(&a.at));
    let (interactions, more_interactions) = interactions(store, id, q)?;
    let cues = cues(&grants, &interactions, Timestamp::now());
    Ok(Some(CustomerRecord {
        customer,
        related_names,
        scores,
        portfolio: None,
        cues,
        grants,
        interactions,
        more_interactions,
        masked: false,
    }))
}

/// Recognition cues: grants in the last 30 days (do not grant again), disruptions in the last
/// 72 hours (apologise).
fn cues(grants: &[CompensationGrant], interactions: &[Interaction], now: Timestamp) -> Vec<Cue> {
    let mut out = Vec::new();
    for g in grants {
        if now.hours_since(g.at) <= 30 * 24 {
            out.push(Cue {
                level: CueLevel::Alert,
                text: format!(
                    "{} {} already granted for {} by {} at {}",
                    g.instrument, g.amount, g.disruption, g.granted_by, g.touchpoint
                ),
                at: g.at,
            });
        }
    }
    for i in interactions {
        if i.kind.is_disruption() && now.hours_since(i.at) <= 72 {
            let what = match i.attr_int("delay_minutes") {
                Some(m) => format!("delayed {} h {} min", m / 60, m % 60),
                None => i.kind.as_str().replace('_', " "),
            };
            out.push(Cue {
                level: CueLevel::Recognise,
                text: format!("{what} {} h ago: apologise", now.hours_since(i.at)),
                at: i.at,
            });
        }
    }
    out.sort_by(|a, b| a.level.cmp(&b.level).then(b.at.cmp(&a.at)));
    out
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

/// Exact search by id, e-mail, phone, loyalty number, booking reference or source key, then
/// name tokens by prefix.
pub fn search(store: &Store, query: &str, limit: usize) -> ServiceResult<Vec<CustomerSummary>> {
    let q = query.trim();
    if q.is_empty() {
        return Ok(Vec::new());
    }
    let mut hits: Vec<(CustomerId, String, f64)> = Vec::new();
    let mut push = |id: CustomerId, matched: &str, score: f64| {
        if !hits.iter().any(|(h, _, _)| *h == id) {
            hits.push((id, matched.to_string(), score));
        }
    };
    if let Ok(id) = q.parse::<CustomerId>() {
        if store.customer(id).map_err(store_err)?.is_some() {
            push(id, "id", 1.0);
        }
    }
    let digits: String = q.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut exact = vec![
        (IndexKind::Email, q.to_lowercase(), "email"),
        (IndexKind::LoyaltyNumber, q.to_uppercase(), "loyalty"),
        (IndexKind::BookingRef, q.to_uppercase(), "booking"),
        (IndexKind::SourceRef, q.to_string(), "source"),
    ];
    if digits.len() >= 6 {
        exact.push((IndexKind::Phone, format!("+{digits}"), "phone"));
    }
    for (kind, value, matched) in exact {
        for id in store
            .index_lookup(&IndexKey { kind, value })
            .map_err(store_err)?
        {
            push(id, matched, 1.0);
        }
    }
    let tokens: Vec<String> = q
        .to_lowercase()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if let Some(first) = tokens.first() {
        for (value, id) in store
            .index_prefix(IndexKind::NameToken, first, limit * 4)
            .map_err(store_err)?
        {
            let score = if &value == first { 0.9 } else { 0.7 };
            push(id, "name", score);
        }
    }
    hits.truncate(limit);
    let mut out = Vec::with_capacity(hits.len());
    for (id, matched, score) in hits {
        if let Some(c) = store.customer(id).map_err(store_err)? {
            out.push(summary(store, &c, &matched, score)?);
        }
    }
    Ok(out)
}

/// Counts, tiers and skew for the overview; empty analytics before any scoring run.
pub fn overview(store: &Store) -> ServiceResult<Overview> {
    Ok(Overview {
        customers: store.customer_count().map_err(store_err)?,
        interactions: store.interaction_count().map_err(store_err)?,
        ..Overview::default()
    })
}

/// A working list; empty before any scoring run.
pub fn list(store: &Store, name: &str, limit: usize) -> ServiceResult<Vec<ListEntry>> {
    let _ = (store, name, limit);
    Ok(Vec::new())
}
