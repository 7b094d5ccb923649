//! The compensation policy as versioned data over a real server: set from a file (mistakes
//! named with file, line and problem), each version with who set it and when, every grant
//! recording the version that priced it, and equal disruption, equal entitlement whatever the
//! customer's tier and whoever grants.

mod common;

use std::collections::BTreeMap;

use rapport_core::{
    AttrValue, CustomerId, DisruptionKind, InteractionKind, Scores, Tier, Timestamp,
};
use rapport_governance::{ApprovalLimits, CompensationPolicy, PolicyFile, Role};
use rapport_service::{
    CompensationRequest, Embedded, Governance, GrantOutcome, OperatorAdmin, Remote, Service,
    ServiceError,
};
use rapport_store::{Batch, Durability};

use common::{PASSWORD, TestServer, disrupt_many, engine, newest_page};

fn standard_file() -> String {
    PolicyFile {
        policy: CompensationPolicy::standard(),
        limits: ApprovalLimits::standard(),
    }
    .to_toml()
}

fn request(customer: CustomerId, disruption: &str, delay: u32) -> CompensationRequest {
    CompensationRequest {
        customer,
        disruption: disruption.into(),
        kind: DisruptionKind::Delay,
        delay_minutes: Some(delay),
        touchpoint: "gate C12".into(),
        channel: None,
    }
}

fn scores(tier: Tier, value: f64) -> Scores {
    Scores {
        model_version: "test".into(),
        at: Timestamp::now(),
        value,
        annual_value: value,
        profit: value,
        clv: value,
        p_alive: 0.9,
        churn: None,
        expected_transactions: 1.0,
        tier,
        top: tier == Tier::A,
        bottom: tier == Tier::D,
        segment: "test".into(),
        propensity: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_set_from_a_file_is_versioned_and_prices_every_grant_after_it() {
    let (engine, ids) = engine().await;
    let (jane, john) = (ids[0], ids[1]);
    disrupt_many(
        engine.store(),
        &[
            (
                jane,
                "RP1/2026-11-22".into(),
                InteractionKind::Delay,
                Some(600),
            ),
            (
                jane,
                "RP2/2026-11-23".into(),
                InteractionKind::Delay,
                Some(600),
            ),
            (
                john,
                "RP2/2026-11-23".into(),
                InteractionKind::Delay,
                Some(600),
            ),
        ],
    );
    let local = Embedded::from_engine(engine.clone(), "test".into());
    local
        .add_operator("gate", Role::FrontLine, PASSWORD)
        .await
        .unwrap();
    let server = TestServer::start(engine.clone()).await;
    let admin = server.admin().await;
    let gate = Remote::connect(&server.addr, "gate", PASSWORD)
        .await
        .unwrap();

    // Before any is set: the standard version 1.
    let v1 = gate.policy().await.unwrap();
    assert_eq!((v1.version, v1.set_by.as_str()), (1, "standard"));
    let first = gate
        .grant_compensation(request(jane, "RP1/2026-11-22", 600))
        .await
        .unwrap();
    let GrantOutcome::Granted(first) = first else {
        panic!("{first:?}")
    };
    assert_eq!(
        (first.amount.minor, first.policy_rule.as_str()),
        (30_000, "delay 9h+ v1")
    );

    // A file with mistakes is refused whole, each named with the file and line.
    let bad = standard_file()
        .replacen("amount = 300", "amount = 50", 1)
        .replacen("instrument = \"cash\"", "instrument = \"gold\"", 1);
    match admin.set_policy("policy-v2.toml", &bad).await {
        Err(ServiceError::Invalid(m)) => {
            assert!(m.contains("policy-v2.toml:"), "{m}");
            assert!(m.contains("a longer delay must not get less"), "{m}");
            assert!(m.contains("unknown instrument `gold`"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // The front line may read the policy, not set it.
    assert!(matches!(
        gate.set_policy("policy-v2.toml", &standard_file()).await,
        Err(ServiceError::Forbidden { .. })
    ));

    // Version 2: a 9-hour delay now gives 400 EUR; the front line may grant up to 450.
    let v2_file = standard_file()
        .replacen("amount = 300", "amount = 400", 1)
        .replacen("front-line = 500", "front-line = 450", 1);
    let v2 = admin.set_policy("policy-v2.toml", &v2_file).await.unwrap();
    assert_eq!((v2.version, v2.set_by.as_str()), (2, "admin"));
    assert!(v2.set_at.is_some());
    assert_eq!(v2.file, "policy-v2.toml");
    assert_eq!(gate.policy().await.unwrap(), v2);
    let e = gate
        .entitlement(request(jane, "RP2/2026-11-23", 600))
        .await
        .unwrap();
    assert_eq!((e.amount.minor, e.rule.as_str()), (40_000, "delay 9h+ v2"));

    let GrantOutcome::Granted(second) = gate
        .grant_compensation(request(jane, "RP2/2026-11-23", 600))
        .await
        .unwrap()
    else {
        panic!("refused")
    };
    assert_eq!(second.policy_rule, "delay 9h+ v2");
    // The grant's interaction records the version as a number too.
    let record = gate.open(jane, newest_page()).await.unwrap();
    let versions: Vec<Option<&AttrValue>> = record
        .interactions
        .iter()
        .filter(|i| i.kind == InteractionKind::CompensationGranted)
        .map(|i| i.attributes.get("policy_version"))
        .collect();
    assert_eq!(
        versions,
        [Some(&AttrValue::Int(2)), Some(&AttrValue::Int(1))],
        "newest first"
    );

    // History: both versions (the standard one is not stored until replaced: only v2 is).
    let history = admin.policy_history().await.unwrap();
    assert_eq!(history.iter().map(|v| v.version).collect::<Vec<_>>(), [2]);
    let v3 = admin
        .set_policy("policy-v3.toml", &standard_file())
        .await
        .unwrap();
    assert_eq!(v3.version, 3);
    let history = admin.policy_history().await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|v| (v.version, v.file.as_str()))
            .collect::<Vec<_>>(),
        [(2, "policy-v2.toml"), (3, "policy-v3.toml")]
    );
    // Setting a policy is in the audit trail.
    let trail = admin
        .audit(rapport_service::governance_ops::AuditQuery {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        trail
            .entries
            .iter()
            .filter(|e| e.action == "set-policy")
            .map(|e| e.detail.as_str())
            .collect::<Vec<_>>(),
        ["policy v2", "policy v3"]
    );
    server.stop().await;

    // A restarted engine has the newest version in force.
    let store = engine.store().clone();
    drop(gate);
    drop(admin);
    let again = rapport_service::Engine::new(store);
    assert_eq!(again.policy().version, 3);
}

/// Equal disruption, equal entitlement: passengers of one delayed flight, from the most to the
/// least valuable tier, get the same entitlement and the same grant, whoever grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_disruption_gives_equal_entitlement_whatever_the_tier_and_the_operator() {
    let (engine, ids) = engine().await;
    let mut b = Batch::default();
    for (id, (tier, value)) in
        ids.iter()
            .zip([(Tier::A, 90_000.0), (Tier::C, 400.0), (Tier::D, 20.0)])
    {
        b.put_scores(*id, &scores(tier, value));
    }
    engine.store().write(b, Durability::Durable).unwrap();
    for delay in [200, 400, 600, 900] {
        let flight = format!("RP{delay}/2026-11-23");
        disrupt_many(
            engine.store(),
            &ids.iter()
                .map(|c| (*c, flight.clone(), InteractionKind::Delay, Some(delay)))
                .collect::<Vec<_>>(),
        );
    }
    let local = Embedded::from_engine(engine.clone(), "test".into());
    for (name, role) in [
        ("gate", Role::FrontLine),
        ("manager", Role::CustomerManager),
    ] {
        local.add_operator(name, role, PASSWORD).await.unwrap();
    }
    let server = TestServer::start(engine.clone()).await;
    let gate = Remote::connect(&server.addr, "gate", PASSWORD)
        .await
        .unwrap();
    let manager = Remote::connect(&server.addr, "manager", PASSWORD)
        .await
        .unwrap();
    for delay in [200u32, 400, 600, 900] {
        let flight = format!("RP{delay}/2026-11-23");
        let mut entitlements = Vec::new();
        let mut grants = Vec::new();
        for (k, id) in ids.iter().enumerate() {
            let e = gate
                .entitlement(request(*id, &flight, delay))
                .await
                .unwrap();
            entitlements.push((e.instrument, e.amount, e.rule));
            let who = if k % 2 == 0 { &gate } else { &manager };
            match who
                .grant_compensation(request(*id, &flight, delay))
                .await
                .unwrap()
            {
                GrantOutcome::Granted(g) => grants.push((g.instrument, g.amount, g.policy_rule)),
                other => panic!("{other:?}"),
            }
        }
        assert!(
            entitlements.windows(2).all(|w| w[0] == w[1]),
            "{delay} min: {entitlements:?}"
        );
        assert_eq!(grants, entitlements, "{delay} min");
    }
    server.stop().await;
}

/// The report splits grants at a version: before it, goodwill followed the rep's mood (the
/// least valuable got the most); after it, the policy gives every tier the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_mood_before_a_version_and_equal_entitlement_after() {
    use rapport_core::{CompensationGrant, Currency, InteractionId, Money};
    let (engine, ids) = engine().await;
    let tiers = [(Tier::A, 90_000.0), (Tier::C, 400.0), (Tier::D, 20.0)];
    let mut b = Batch::default();
    for (id, (tier, value)) in ids.iter().zip(tiers) {
        b.put_scores(*id, &scores(tier, value));
    }
    // Before: call-center goodwill by mood, yesterday.
    let yesterday = Timestamp::now().plus_millis(-86_400_000);
    for (k, (id, euros)) in ids.iter().zip([60, 110, 160]).enumerate() {
        for n in 0..3 {
            b.insert_grant(&CompensationGrant {
                customer: *id,
                disruption: format!("RP{}/2026-10-0{}", 900 + k, n + 1),
                kind: DisruptionKind::Delay,
                delay_minutes: Some(200),
                instrument: "voucher".into(),
                amount: Money::new((euros + 10 * n as i64) * 100, Currency::EUR),
                policy_rule: "call-center goodwill".into(),
                granted_by: "rep".into(),
                touchpoint: "call center".into(),
                at: yesterday,
                interaction: InteractionId(1),
            });
        }
    }
    engine.store().write(b, Durability::Durable).unwrap();
    let server = TestServer::start(engine.clone()).await;
    let admin = server.admin().await;
    let v2 = admin
        .set_policy("policy-v2.toml", &standard_file())
        .await
        .unwrap();
    for delay in [200, 600] {
        let flight = format!("RP{delay}/2026-11-23");
        disrupt_many(
            engine.store(),
            &ids.iter()
                .map(|c| (*c, flight.clone(), InteractionKind::Delay, Some(delay)))
                .collect::<Vec<_>>(),
        );
        for id in &ids {
            let g = admin
                .grant_compensation(request(*id, &flight, delay))
                .await
                .unwrap();
            assert!(matches!(g, GrantOutcome::Granted(_)));
        }
    }
    let r = admin.policy_report(None).await.unwrap();
    assert_eq!((r.version, r.since), (2, v2.set_at));
    let mean = |group: &str, period: &str, what: &str| {
        r.by_tier
            .iter()
            .find(|l| l.group == group && l.period == period && l.what == what)
            .map(|l| (l.grants, l.mean))
    };
    // Before: the least valuable tier got the most goodwill.
    assert_eq!(mean("A", "before", "goodwill"), Some((3, 70.0)));
    assert_eq!(mean("D", "before", "goodwill"), Some((3, 170.0)));
    // After: every tier the same for the same delay.
    for rule in ["delay 3-6h", "delay 9h+"] {
        let after: Vec<_> = ["A", "C", "D"]
            .iter()
            .map(|t| mean(t, "after", rule))
            .collect();
        assert!(after[0].is_some(), "{rule}: {r:?}");
        assert!(after.windows(2).all(|w| w[0] == w[1]), "{rule}: {after:?}");
    }
    assert!(
        r.by_tier
            .iter()
            .all(|l| l.period == "before" || l.what != "goodwill")
    );
    // By portfolio: nobody is placed in this world.
    assert!(r.by_portfolio.iter().all(|l| l.group == "unassigned"));
    assert_eq!(
        r.by_portfolio.iter().map(|l| l.grants).sum::<u64>(),
        r.by_tier.iter().map(|l| l.grants).sum::<u64>()
    );
    server.stop().await;
}
