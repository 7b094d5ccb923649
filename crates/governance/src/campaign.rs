//! Campaigns on short scored lists: a list built from scores and a population rule with a
//! size cap per owner (20 names per banker rather than 300), optionally with a random
//! hold-out of the same size drawn from the same candidates, and the measured return: response
//! rate, revenue and return on investment per campaign, per list and per list size, the short
//! list against the long one and against the hold-out.
//!
//! Pure: the caller gives candidates (customer, owner, score, facts) and the recorded contacts
//! and responses; nothing here reads the store.
//!
//! ```
//! use rapport_core::CustomerId;
//! use rapport_governance::campaign::{ContactEvent, EventKind, list_results};
//! let ev = |c, list: &str, kind| ContactEvent {
//!     campaign: "CMP-1".into(), list: list.into(), customer: CustomerId(c), kind, revenue: 0.0,
//! };
//! let events = vec![
//!     ev(1, "short", EventKind::Contact), ev(1, "short", EventKind::Response),
//!     ev(2, "short", EventKind::Contact),
//!     ev(3, "long", EventKind::Contact), ev(4, "long", EventKind::Contact),
//!     ev(5, "long", EventKind::Contact), ev(5, "long", EventKind::Response),
//!     ev(6, "long", EventKind::Contact),
//! ];
//! let r = list_results(&events, 1.0);
//! assert_eq!(r[0].list, "long");
//! assert_eq!(r[0].response_rate(), Some(0.25));
//! assert_eq!(r[1].response_rate(), Some(0.5));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rapport_core::CustomerId;
use serde::{Deserialize, Serialize};

use crate::experiment::{CustomerFacts, DefinitionError, PopulationRule};

/// Why a campaign is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CampaignError {
    /// The campaign id is empty or has other characters than letters, digits, `_`, `-`.
    #[error("campaign id {0:?}: use 1 to 64 letters, digits, '_' or '-'")]
    BadId(String),
    /// A cap of 0.
    #[error("a cap of 0 names per owner leaves the list empty: give at least 1")]
    ZeroCap,
    /// A cost per contact that is negative or not a number.
    #[error("cost per contact {0} must be a number of at least 0")]
    BadCost(f64),
    /// The population rule is wrong.
    #[error(transparent)]
    Rule(#[from] DefinitionError),
    /// Nobody qualifies.
    #[error("no customer qualifies for the list (rule {rule:?}, score at least {min_score:?})")]
    EmptyList {
        /// The rule.
        rule: String,
        /// The score threshold.
        min_score: Option<f64>,
    },
}

/// What a user types to define a campaign (also the service's request to create one).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CampaignDraft {
    /// Id, e.g. `WINBACK-2026-12`.
    pub id: String,
    /// What is offered, in a sentence.
    pub offer: String,
    /// Who may be on the list ([`PopulationRule`] text, `all` for everyone).
    pub rule: String,
    /// The score the list ranks by: `clv` (default), `value`, `annual_value`, `profit`,
    /// `p_alive`, `churn` or `propensity:NAME` (checked by the service, which reads them).
    pub score: String,
    /// The score a customer needs (e.g. a propensity), if any.
    pub min_score: Option<f64>,
    /// Names per owner (banker, customer manager), best scores first.
    pub cap_per_owner: Option<usize>,
    /// Names in all.
    pub cap_total: Option<usize>,
    /// Set aside a random hold-out of the same size from the same candidates.
    pub holdout: bool,
    /// Seed of the hold-out draw.
    pub seed: u64,
    /// Cost of one contact (reporting currency, major units).
    pub cost_per_contact: f64,
}

/// A validated campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignDefinition {
    /// Id.
    pub id: String,
    /// The offer.
    pub offer: String,
    /// Who may be on the list.
    pub rule: PopulationRule,
    /// Score needed.
    pub min_score: Option<f64>,
    /// Names per owner.
    pub cap_per_owner: Option<usize>,
    /// Names in all.
    pub cap_total: Option<usize>,
    /// With a hold-out.
    pub holdout: bool,
    /// Seed.
    pub seed: u64,
    /// Cost of a contact.
    pub cost_per_contact: f64,
}

impl CampaignDraft {
    /// Checks the draft.
    pub fn validate(self) -> Result<CampaignDefinition, CampaignError> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(CampaignError::BadId(self.id));
        }
        if self.cap_per_owner == Some(0) || self.cap_total == Some(0) {
            return Err(CampaignError::ZeroCap);
        }
        if !(self.cost_per_contact.is_finite() && self.cost_per_contact >= 0.0) {
            return Err(CampaignError::BadCost(self.cost_per_contact));
        }
        let rule = PopulationRule::parse(if self.rule.trim().is_empty() {
            "all"
        } else {
            &self.rule
        })?;
        Ok(CampaignDefinition {
            id: self.id,
            offer: self.offer.trim().to_owned(),
            rule,
            min_score: self.min_score,
            cap_per_owner: self.cap_per_owner,
            cap_total: self.cap_total,
            holdout: self.holdout,
            seed: self.seed,
            cost_per_contact: self.cost_per_contact,
        })
    }
}

/// A customer who may go on a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListCandidate {
    /// What the rule reads (the customer's id is in it).
    pub facts: CustomerFacts,
    /// The owner who will make the contact (a portfolio's manager, a banker).
    pub owner: String,
    /// The score the list is ranked by.
    pub score: f64,
}

/// One name on a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListMember {
    /// The customer.
    pub customer: CustomerId,
    /// Who contacts them.
    pub owner: String,
    /// Their score.
    pub score: f64,
}

/// A campaign's list and its hold-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignList {
    /// The campaign.
    pub campaign: String,
    /// The names to contact, best scores first within each owner, owners in name order.
    pub contacts: Vec<ListMember>,
    /// The names set aside (not contacted), as many as the contacts when there were enough
    /// candidates.
    pub holdout: Vec<ListMember>,
}

/// Builds the list: the candidates the rule admits at `at` with the score needed, ranked by
/// score (ties by customer id), at most `cap_per_owner` per owner and `cap_total` in all.
/// With a hold-out, twice as many are taken per owner and split at random (seeded) into the
/// contacts and the hold-out, so both halves have the same scores in distribution.
pub fn build_list(
    def: &CampaignDefinition,
    candidates: &[ListCandidate],
    at: rapport_core::Timestamp,
) -> Result<CampaignList, CampaignError> {
    let mut by_owner: BTreeMap<&str, Vec<&ListCandidate>> = BTreeMap::new();
    for c in candidates {
        if def.rule.admits(&c.facts, at)
            && c.score.is_finite()
            && def.min_score.is_none_or(|m| c.score >= m)
        {
            by_owner.entry(&c.owner).or_default().push(c);
        }
    }
    if by_owner.is_empty() {
        return Err(CampaignError::EmptyList {
            rule: def.rule.text.clone(),
            min_score: def.min_score,
        });
    }
    let factor = if def.holdout { 2 } else { 1 };
    let mut picked: Vec<&ListCandidate> = Vec::new();
    for list in by_owner.values_mut() {
        list.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.facts.customer.cmp(&b.facts.customer))
        });
        let n = def
            .cap_per_owner
            .map_or(list.len(), |c| (c * factor).min(list.len()));
        picked.extend(&list[..n]);
    }
    if let Some(total) = def.cap_total
        && picked.len() > total * factor
    {
        picked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.facts.customer.cmp(&b.facts.customer))
        });
        picked.truncate(total * factor);
    }
    let member = |c: &ListCandidate| ListMember {
        customer: c.facts.customer,
        owner: c.owner.clone(),
        score: c.score,
    };
    let mut contacts = Vec::new();
    let mut holdout = Vec::new();
    if def.holdout {
        let mut rng = ChaCha8Rng::seed_from_u64(def.seed);
        let mut groups: BTreeMap<&str, Vec<&ListCandidate>> = BTreeMap::new();
        for c in picked {
            groups.entry(&c.owner).or_default().push(c);
        }
        for (_, mut g) in groups {
            g.shuffle(&mut rng);
            let half = g.len().div_ceil(2);
            let (a, b) = g.split_at(half);
            contacts.extend(a.iter().map(|c| member(c)));
            holdout.extend(b.iter().map(|c| member(c)));
        }
    } else {
        contacts.extend(picked.into_iter().map(member));
    }
    let order = |m: &mut Vec<ListMember>| {
        m.sort_by(|a, b| {
            a.owner
                .cmp(&b.owner)
                .then(b.score.total_cmp(&a.score))
                .then(a.customer.cmp(&b.customer))
        })
    };
    order(&mut contacts);
    order(&mut holdout);
    Ok(CampaignList {
        campaign: def.id.clone(),
        contacts,
        holdout,
    })
}

/// What was recorded of a customer in a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// Contacted.
    Contact,
    /// Responded.
    Response,
    /// Set aside, not contacted.
    Holdout,
}

/// One recorded campaign event (from interactions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactEvent {
    /// The campaign.
    pub campaign: String,
    /// The list (or arm) within it.
    pub list: String,
    /// The customer.
    pub customer: CustomerId,
    /// What happened.
    pub kind: EventKind,
    /// Revenue attributed to a response (reporting currency, major units).
    pub revenue: f64,
}

/// The measured result of one list of one campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListResult {
    /// The campaign.
    pub campaign: String,
    /// The list.
    pub list: String,
    /// Customers contacted.
    pub contacted: usize,
    /// Contacted customers who responded (once each).
    pub responders: usize,
    /// Customers held out.
    pub held_out: usize,
    /// Held-out customers who responded anyway (a response recorded without a contact).
    pub holdout_responders: usize,
    /// Revenue of the contacted customers' responses.
    pub revenue: f64,
    /// Cost of the contacts.
    pub cost: f64,
}

impl ListResult {
    /// Responders over contacted; `None` with no contact.
    pub fn response_rate(&self) -> Option<f64> {
        (self.contacted > 0).then(|| self.responders as f64 / self.contacted as f64)
    }

    /// Responders over held out; `None` without a hold-out.
    pub fn holdout_rate(&self) -> Option<f64> {
        (self.held_out > 0).then(|| self.holdout_responders as f64 / self.held_out as f64)
    }

    /// (revenue - cost) / cost; `None` when nothing was spent.
    pub fn roi(&self) -> Option<f64> {
        (self.cost > 0.0).then(|| (self.revenue - self.cost) / self.cost)
    }
}

/// Sums recorded events into one result per (campaign, list), in campaign then list order;
/// each contact costs `cost_per_contact`. A customer counts once per list whatever the number
/// of contacts or responses.
pub fn list_results(events: &[ContactEvent], cost_per_contact: f64) -> Vec<ListResult> {
    #[derive(Default)]
    struct Acc {
        contacted: BTreeSet<CustomerId>,
        held: BTreeSet<CustomerId>,
        responded: BTreeSet<CustomerId>,
        revenue: f64,
    }
    let mut acc: BTreeMap<(&str, &str), Acc> = BTreeMap::new();
    for e in events {
        let a = acc.entry((&e.campaign, &e.list)).or_default();
        match e.kind {
            EventKind::Contact => {
                a.contacted.insert(e.customer);
            }
            EventKind::Holdout => {
                a.held.insert(e.customer);
            }
            EventKind::Response => {
                a.responded.insert(e.customer);
                a.revenue += e.revenue;
            }
        }
    }
    acc.into_iter()
        .map(|((campaign, list), a)| ListResult {
            campaign: campaign.to_owned(),
            list: list.to_owned(),
            contacted: a.contacted.len(),
            responders: a.responded.intersection(&a.contacted).count(),
            held_out: a.held.len(),
            holdout_responders: a.responded.intersection(&a.held).count(),
            revenue: a.revenue,
            cost: a.contacted.len() as f64 * cost_per_contact,
        })
        .collect()
}

/// Lists grouped by size: the result of all lists of one size band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeBand {
    /// The band's label (`1-20`, `21-100`, `101-500`, `over 500`).
    pub band: String,
    /// Lists in it.
    pub lists: usize,
    /// Their contacts.
    pub contacted: usize,
    /// Their responders.
    pub responders: usize,
    /// Their revenue.
    pub revenue: f64,
    /// Their cost.
    pub cost: f64,
}

impl SizeBand {
    /// Responders over contacted.
    pub fn response_rate(&self) -> Option<f64> {
        (self.contacted > 0).then(|| self.responders as f64 / self.contacted as f64)
    }

    /// (revenue - cost) / cost.
    pub fn roi(&self) -> Option<f64> {
        (self.cost > 0.0).then(|| (self.revenue - self.cost) / self.cost)
    }
}

/// The bands lists are grouped in by size.
pub const SIZE_BANDS: [(usize, usize, &str); 4] = [
    (1, 20, "1-20"),
    (21, 100, "21-100"),
    (101, 500, "101-500"),
    (501, usize::MAX, "over 500"),
];

/// Groups list results by the number of customers contacted; bands without a list are left
/// out.
pub fn by_list_size(results: &[ListResult]) -> Vec<SizeBand> {
    SIZE_BANDS
        .iter()
        .filter_map(|(lo, hi, label)| {
            let inside: Vec<&ListResult> = results
                .iter()
                .filter(|r| r.contacted >= *lo && r.contacted <= *hi)
                .collect();
            (!inside.is_empty()).then(|| SizeBand {
                band: (*label).to_owned(),
                lists: inside.len(),
                contacted: inside.iter().map(|r| r.contacted).sum(),
                responders: inside.iter().map(|r| r.responders).sum(),
                revenue: inside.iter().map(|r| r.revenue).sum(),
                cost: inside.iter().map(|r| r.cost).sum(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::Timestamp;

    fn candidate(k: u64, owner: &str, score: f64) -> ListCandidate {
        ListCandidate {
            facts: CustomerFacts {
                customer: CustomerId(k),
                tier: None,
                value: k as f64,
                disruptions: vec![],
            },
            owner: owner.into(),
            score,
        }
    }

    #[test]
    fn the_list_takes_the_best_scores_per_owner_with_a_holdout_of_the_same_size() {
        let candidates: Vec<_> = (0..300u64)
            .map(|k| {
                candidate(
                    k,
                    ["ann", "bob", "cy"][(k % 3) as usize],
                    (k as f64 * 7.3) % 100.0,
                )
            })
            .collect();
        let def = CampaignDraft {
            id: "CROSS-SELL-1".into(),
            rule: "value >= 10".into(),
            min_score: Some(20.0),
            cap_per_owner: Some(20),
            holdout: true,
            seed: 5,
            cost_per_contact: 4.0,
            ..CampaignDraft::default()
        }
        .validate()
        .unwrap();
        let at = Timestamp::from_secs(0);
        let list = build_list(&def, &candidates, at).unwrap();
        assert_eq!(list.contacts.len(), 60);
        assert_eq!(list.holdout.len(), 60);
        for owner in ["ann", "bob", "cy"] {
            assert_eq!(
                list.contacts.iter().filter(|m| m.owner == owner).count(),
                20
            );
        }
        // Both halves come from each owner's 40 best scores.
        let mut ann: Vec<f64> = candidates
            .iter()
            .filter(|c| c.owner == "ann" && c.facts.value >= 10.0 && c.score >= 20.0)
            .map(|c| c.score)
            .collect();
        ann.sort_by(|a, b| b.total_cmp(a));
        let floor = ann[39];
        assert!(
            list.contacts
                .iter()
                .chain(&list.holdout)
                .all(|m| m.owner != "ann" || m.score >= floor)
        );
        assert_eq!(list, build_list(&def, &candidates, at).unwrap(), "seeded");
        let contacted: BTreeSet<_> = list.contacts.iter().map(|m| m.customer).collect();
        assert!(
            list.holdout
                .iter()
                .all(|m| !contacted.contains(&m.customer))
        );
        // No hold-out, a total cap.
        let def = CampaignDraft {
            id: "TOP".into(),
            cap_total: Some(10),
            ..CampaignDraft::default()
        }
        .validate()
        .unwrap();
        let list = build_list(&def, &candidates, at).unwrap();
        assert_eq!(list.contacts.len(), 10);
        assert!(list.holdout.is_empty());
        assert!(list.contacts.iter().all(|m| m.score >= 90.0));
    }

    #[test]
    fn bad_campaigns_are_refused() {
        let bad = |d: CampaignDraft| d.validate().unwrap_err().to_string();
        assert!(bad(CampaignDraft::default()).contains("campaign id"));
        let e = bad(CampaignDraft {
            id: "X".into(),
            cap_per_owner: Some(0),
            ..CampaignDraft::default()
        });
        assert!(e.contains("cap of 0"), "{e}");
        let e = bad(CampaignDraft {
            id: "X".into(),
            rule: "tier in Q".into(),
            ..CampaignDraft::default()
        });
        assert!(e.contains("clause \"tier in Q\""), "{e}");
        let def = CampaignDraft {
            id: "X".into(),
            min_score: Some(1000.0),
            ..CampaignDraft::default()
        }
        .validate()
        .unwrap();
        let e = build_list(&def, &[candidate(1, "ann", 5.0)], Timestamp::from_secs(0))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("no customer qualifies"), "{e}");
    }

    #[test]
    fn results_count_customers_once_and_band_by_size() {
        let mut events = Vec::new();
        let mut push = |list: &str, c: u64, kind, revenue| {
            events.push(ContactEvent {
                campaign: "C1".into(),
                list: list.into(),
                customer: CustomerId(c),
                kind,
                revenue,
            })
        };
        for c in 0..10 {
            push("short", c, EventKind::Contact, 0.0);
            push("hold", 100 + c, EventKind::Holdout, 0.0);
        }
        for c in 0..4 {
            push("short", c, EventKind::Response, 50.0);
        }
        push("short", 0, EventKind::Response, 10.0); // a second response, same customer
        push("hold", 100, EventKind::Response, 30.0);
        for c in 200..400 {
            push("long", c, EventKind::Contact, 0.0);
        }
        for c in 200..206 {
            push("long", c, EventKind::Response, 40.0);
        }
        let r = list_results(&events, 2.0);
        let short = r.iter().find(|x| x.list == "short").unwrap();
        assert_eq!((short.contacted, short.responders), (10, 4));
        assert_eq!(short.response_rate(), Some(0.4));
        assert_eq!(short.revenue, 210.0);
        assert_eq!(short.roi(), Some((210.0 - 20.0) / 20.0));
        let hold = r.iter().find(|x| x.list == "hold").unwrap();
        assert_eq!(hold.holdout_rate(), Some(0.1));
        let bands = by_list_size(&r);
        assert_eq!(bands.len(), 2);
        assert_eq!((bands[0].band.as_str(), bands[0].contacted), ("1-20", 10));
        assert_eq!(
            (bands[1].band.as_str(), bands[1].responders),
            ("101-500", 6)
        );
        assert!(bands[0].response_rate() > bands[1].response_rate());
    }
}
