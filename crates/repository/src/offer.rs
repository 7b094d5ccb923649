//! The customers' answers to offers presented by the front line, and the offer report.
//!
//! An answer is written as an interaction of the customer (`campaign_response`, with the
//! offer, the answer, the outcome and the deciding rule as attributes), so the history, the
//! models and the campaign reports see it, and as an `offer_answers` document (key: offer id
//! `/` time (20 digits) `/` interaction id) that the report reads without scanning
//! interactions. Both in one durable batch.

use std::collections::BTreeMap;

use rapport_core::{
    AttrValue, Channel, CustomerId, Interaction, InteractionId, InteractionKind, Money, Timestamp,
};
use rapport_governance::{Answer, OfferDecision, Outcome};
use rapport_store::{Batch, Durability, Store};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Every answer, by offer.
pub const ANSWERS: &str = "offer_answers";

/// One answer as kept for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferAnswer {
    /// The customer.
    pub customer: CustomerId,
    /// The offer id.
    pub offer: String,
    /// What the customer said.
    pub answer: Answer,
    /// How the offer stood when presented (allowed or adapted).
    pub outcome: Outcome,
    /// The price presented.
    pub price: Money,
    /// The rule that decided the offer.
    pub rule: String,
    /// The customer's portfolio.
    pub portfolio: String,
    /// Who presented it.
    pub by: String,
    /// Through which channel.
    pub channel: Channel,
    /// When.
    pub at: Timestamp,
    /// The interaction written with it.
    pub interaction: InteractionId,
}

/// What to record.
#[derive(Debug, Clone)]
pub struct NewAnswer<'a> {
    /// The customer.
    pub customer: CustomerId,
    /// The customer's portfolio.
    pub portfolio: &'a str,
    /// The offer as it was presented (from the explanation).
    pub decision: &'a OfferDecision,
    /// What the customer said.
    pub answer: Answer,
    /// The operator.
    pub by: &'a str,
    /// The channel.
    pub channel: Channel,
    /// Where (a gate, a call-center queue).
    pub touchpoint: Option<String>,
    /// When.
    pub now: Timestamp,
}

/// Records a customer's answer to a presented offer (durably): the interaction and the
/// report's document. Only an allowed or adapted offer can have been presented.
pub fn record_answer(
    store: &Store,
    a: &NewAnswer<'_>,
) -> Result<(Interaction, OfferAnswer), Error> {
    let d = a.decision;
    if !d.outcome.presentable() {
        return Err(Error::Invalid(format!(
            "offer `{}` is {} for this customer and cannot have been presented",
            d.offer,
            d.outcome.as_str()
        )));
    }
    if store.customer(a.customer)?.is_none() {
        return Err(Error::Invalid(format!("no customer {}", a.customer)));
    }
    let id = InteractionId(store.next_interaction_ids(1)?.start);
    let mut i = Interaction::new(
        id,
        a.customer,
        a.now,
        a.channel.clone(),
        InteractionKind::CampaignResponse,
    );
    i.touchpoint = a.touchpoint.clone();
    i.employee = Some(a.by.to_string());
    i.text = Some(format!("offer {}: {}", d.title, a.answer));
    let text = |s: &str| AttrValue::Text(s.to_string());
    i.attributes = BTreeMap::from([
        ("offer".to_string(), text(&d.offer)),
        ("product".to_string(), text(&d.product)),
        ("answer".to_string(), text(a.answer.as_str())),
        ("outcome".to_string(), text(d.outcome.as_str())),
        ("rule".to_string(), text(&d.decided_by.rule)),
        ("portfolio".to_string(), text(a.portfolio)),
        ("price".to_string(), text(&d.price.to_string())),
    ]);
    let kept = OfferAnswer {
        customer: a.customer,
        offer: d.offer.clone(),
        answer: a.answer,
        outcome: d.outcome,
        price: d.price,
        rule: d.decided_by.rule.clone(),
        portfolio: a.portfolio.to_string(),
        by: a.by.to_string(),
        channel: a.channel.clone(),
        at: a.now,
        interaction: id,
    };
    let mut batch = Batch::new();
    batch.put_interaction(&i);
    let key = format!("{}/{:020}/{:020}", d.offer, a.now.0.max(0), id.0);
    batch.put_doc(ANSWERS, &key, &kept)?;
    store.write(batch, Durability::Durable)?;
    Ok((i, kept))
}

/// One offer's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferReportRow {
    /// The offer id.
    pub offer: String,
    /// Times presented (answers recorded).
    pub presented: u64,
    /// Accepted.
    pub accepted: u64,
    /// Declined.
    pub declined: u64,
    /// Not now.
    pub not_now: u64,
    /// Presented as adapted by a rule.
    pub adapted: u64,
    /// Accepted / presented.
    pub acceptance_rate: f64,
    /// Sum of the accepted prices, by currency.
    pub accepted_value: Vec<Money>,
    /// Answers by portfolio: (presented, accepted).
    pub by_portfolio: BTreeMap<String, (u64, u64)>,
}

/// Answers by offer, for answers at or after `since` (all when `None`), in offer order.
pub fn report(store: &Store, since: Option<Timestamp>) -> Result<Vec<OfferReportRow>, Error> {
    let mut rows: BTreeMap<String, OfferReportRow> = BTreeMap::new();
    for kv in store.docs::<OfferAnswer>(ANSWERS, "") {
        let a = kv?.1;
        if since.is_some_and(|s| a.at < s) {
            continue;
        }
        let r = rows
            .entry(a.offer.clone())
            .or_insert_with(|| OfferReportRow {
                offer: a.offer.clone(),
                presented: 0,
                accepted: 0,
                declined: 0,
                not_now: 0,
                adapted: 0,
                acceptance_rate: 0.0,
                accepted_value: Vec::new(),
                by_portfolio: BTreeMap::new(),
            });
        r.presented += 1;
        r.adapted += u64::from(a.outcome == Outcome::Adapted);
        let p = r.by_portfolio.entry(a.portfolio.clone()).or_default();
        p.0 += 1;
        match a.answer {
            Answer::Accepted => {
                r.accepted += 1;
                p.1 += 1;
                match r
                    .accepted_value
                    .iter_mut()
                    .find(|m| m.currency == a.price.currency)
                {
                    Some(m) => m.minor += a.price.minor,
                    None => r.accepted_value.push(a.price),
                }
            }
            Answer::Declined => r.declined += 1,
            Answer::NotNow => r.not_now += 1,
        }
    }
    Ok(rows
        .into_values()
        .map(|mut r| {
            r.acceptance_rate = r.accepted as f64 / r.presented as f64;
            r
        })
        .collect())
}
