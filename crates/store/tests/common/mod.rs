//! Shared builders for the store's contract tests. Everything here uses only the public API,
//! so a second engine can run the same tests.

#![allow(dead_code)] // each test binary uses a different part

use rapport_core::{
    AttrValue, Channel, CompensationGrant, ContactKind, ContactPoint, Currency, Customer,
    CustomerId, DisruptionKind, Interaction, InteractionId, InteractionKind, Money, PartyKind,
    Scores, Sourced, Tier, Timestamp,
};
use rapport_store::{IndexKey, IndexKind};

pub fn customer(id: u64, name: &str) -> Customer {
    let now = Timestamp::from_secs(1_700_000_000);
    let mut c = Customer::new(CustomerId(id), PartyKind::Person, now);
    c.profile.display_name = Some(Sourced::new(name.to_owned(), None, now));
    c.contacts.push(ContactPoint {
        kind: ContactKind::Email,
        value: format!("{}@example.com", name.to_lowercase()),
        valid_from: None,
        valid_to: None,
        source: None,
        last_seen: now,
    });
    c
}

pub fn email(name: &str) -> IndexKey {
    IndexKey::new(
        IndexKind::Email,
        format!("{}@example.com", name.to_lowercase()),
    )
}

pub fn interaction(id: u64, customer: u64, at_ms: i64) -> Interaction {
    let mut i = Interaction::new(
        InteractionId(id),
        CustomerId(customer),
        Timestamp::from_millis(at_ms),
        Channel::Gate,
        InteractionKind::Delay,
    );
    i.attributes
        .insert("delay_minutes".into(), AttrValue::Int(540));
    i.touchpoint = Some("gate C12".into());
    i
}

pub fn grant(customer: u64, disruption: &str, by: &str) -> CompensationGrant {
    CompensationGrant {
        customer: CustomerId(customer),
        disruption: disruption.into(),
        kind: DisruptionKind::Delay,
        delay_minutes: Some(540),
        instrument: "voucher".into(),
        amount: Money::new(25_000, Currency::EUR),
        policy_rule: "delay 6h+ v1".into(),
        granted_by: by.into(),
        touchpoint: "gate C12".into(),
        at: Timestamp::from_secs(1_700_000_100),
        interaction: InteractionId(99),
    }
}

pub fn scores(value: f64) -> Scores {
    Scores {
        model_version: "value-v1".into(),
        at: Timestamp::from_secs(1_700_000_000),
        value,
        annual_value: value * 0.8,
        profit: value * 0.2,
        clv: value * 3.0,
        p_alive: 0.75,
        churn: Some(0.1),
        expected_transactions: 4.5,
        tier: Tier::A,
        top: true,
        bottom: false,
        segment: "premium".into(),
        propensity: [("lounge".to_owned(), 0.4)].into_iter().collect(),
    }
}
