//! Relationship governance through the service (#18): a customer manager's scope, offers
//! explained, answered and reported, the governance files checked at load, and a customer
//! manager's rules limited to their own portfolios. Over a real server where roles matter.

mod common;

use rapport_core::{AttrValue, Channel, InteractionKind};
use rapport_governance::{Answer, NextBestAction, Outcome, Role};
use rapport_service::{
    Embedded, NewInteraction, OperatorAdmin, Relationships, Remote, Service, ServiceError,
};

use common::{PASSWORD, TestServer, engine, newest_page, relationship_files};

fn note(customer: rapport_core::CustomerId, kind: InteractionKind) -> NewInteraction {
    NewInteraction {
        customer,
        kind,
        channel: Channel::CallCenter,
        touchpoint: None,
        phase: None,
        text: Some("the customer called".into()),
        attributes: Default::default(),
        amounts: vec![],
    }
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, ServiceError>, what: &str) {
    match r {
        Err(ServiceError::Forbidden { action, .. }) => {
            assert!(
                action.contains("not in a portfolio you manage"),
                "{what}: {action}"
            )
        }
        other => panic!("{what}: expected forbidden, got {other:?}"),
    }
}

/// A server with Jane in `mine` (managed by `cm`) and John moved by hand to `other`.
async fn world(sees: Option<&str>) -> (TestServer, Embedded, Vec<rapport_core::CustomerId>) {
    let (engine, ids) = engine().await;
    let local = Embedded::from_engine(engine.clone(), "test".into());
    for (name, role) in [
        ("cm", Role::CustomerManager),
        ("rep", Role::FrontLine),
        ("cco", Role::ChiefCustomerOfficer),
    ] {
        local.add_operator(name, role, PASSWORD).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (p, o, r) = relationship_files(dir.path(), "cm", sees);
    let loaded = local
        .load_relationship(Some(p), Some(o), Some(r))
        .await
        .unwrap();
    assert_eq!((loaded.portfolios, loaded.offers, loaded.rules), (2, 2, 1));
    let report = local.assign(false).await.unwrap();
    assert_eq!((report.customers, report.assigned), (3, 3));
    let mv = local
        .move_customer(ids[1], "other", "moved to Leeds", Some(Some("mine".into())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (mv.from.as_deref(), mv.to.as_str()),
        (Some("mine"), "other")
    );
    (TestServer::start(engine).await, local, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_manager_acts_only_on_their_portfolio() {
    let (server, _local, ids) = world(None).await;
    let (jane, john) = (ids[0], ids[1]);
    let cm = Remote::connect(&server.addr, "cm", PASSWORD).await.unwrap();

    // Jane is theirs: they act on her.
    cm.log_interaction(note(jane, InteractionKind::Note))
        .await
        .unwrap();
    cm.answer_offer(
        jane,
        "lounge-pass",
        Answer::Declined,
        Channel::CallCenter,
        None,
    )
    .await
    .unwrap();
    // John is someone else's: they see him (the company did not limit what they see) but
    // cannot act on him.
    let hits = cm.search("john smith", 5).await.unwrap();
    assert_eq!(hits.first().map(|h| h.id), Some(john));
    cm.open(john, newest_page()).await.unwrap();
    forbidden(
        cm.log_interaction(note(john, InteractionKind::Note)).await,
        "log",
    );
    forbidden(
        cm.record_preference(john, "meal".into(), "vegetarian".into(), Channel::Web)
            .await,
        "preference",
    );
    forbidden(
        cm.answer_offer(
            john,
            "lounge-pass",
            Answer::Accepted,
            Channel::CallCenter,
            None,
        )
        .await,
        "offer answer",
    );
    forbidden(
        cm.move_customer(john, "mine", "I want him", None).await,
        "move",
    );
    common::disrupt(
        server_store(&server, &_local),
        john,
        "RP7/2026-11-23",
        InteractionKind::Cancellation,
        None,
    );
    forbidden(
        cm.grant_compensation(rapport_service::CompensationRequest {
            customer: john,
            disruption: "RP7/2026-11-23".into(),
            kind: rapport_core::DisruptionKind::Cancellation,
            delay_minutes: None,
            touchpoint: "desk".into(),
            channel: None,
        })
        .await,
        "grant",
    );
    // Nothing was written for John.
    let history = cm.interactions(john, newest_page()).await.unwrap();
    assert!(
        history
            .iter()
            .all(|i| i.kind == InteractionKind::Cancellation),
        "{history:?}"
    );
    // The front line is not scoped.
    let rep = Remote::connect(&server.addr, "rep", PASSWORD)
        .await
        .unwrap();
    rep.log_interaction(note(john, InteractionKind::Note))
        .await
        .unwrap();
    server.stop().await;
}

fn server_store<'a>(_server: &TestServer, local: &'a Embedded) -> &'a rapport_store::Store {
    local.engine().store()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_manager_who_sees_only_their_portfolio_finds_only_it() {
    let (server, local, ids) = world(Some("portfolio")).await;
    let (jane, john) = (ids[0], ids[1]);
    let cm = Remote::connect(&server.addr, "cm", PASSWORD).await.unwrap();
    assert_eq!(
        cm.search("jane doe", 5)
            .await
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect::<Vec<_>>(),
        vec![jane]
    );
    assert!(cm.search("john smith", 5).await.unwrap().is_empty());
    forbidden(cm.open(john, newest_page()).await, "open");
    forbidden(cm.interactions(john, newest_page()).await, "history");
    forbidden(cm.explain_offers(john).await, "offers");
    forbidden(cm.disruptions(john).await, "disruptions");
    cm.open(jane, newest_page()).await.unwrap();
    // Everyone else sees John.
    let cco = Remote::connect(&server.addr, "cco", PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        cco.search("john smith", 5)
            .await
            .unwrap()
            .first()
            .map(|h| h.id),
        Some(john)
    );
    assert!(local.open(john, newest_page()).await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_are_explained_answered_and_reported_through_the_service() {
    let (server, local, ids) = world(None).await;
    let jane = ids[0];
    let rep = Remote::connect(&server.addr, "rep", PASSWORD)
        .await
        .unwrap();

    // No complaint: the lounge pass is allowed as catalogued, the apology not eligible.
    let v = rep.explain_offers(jane).await.unwrap();
    assert_eq!(v.explanation.portfolio, "mine");
    assert_eq!(v.explanation.manager, "cm");
    let lounge = &v.explanation.decisions[0];
    assert_eq!(
        (lounge.offer.as_str(), lounge.outcome),
        ("lounge-pass", Outcome::Allowed)
    );
    assert_eq!(lounge.decided_by.rule, "catalogue");
    assert_eq!(v.explanation.decisions[1].outcome, Outcome::NotEligible);
    // Jane has no scores: no propensity to rank by, so the allowed offer that earns most
    // when taken (35.00 EUR x 0.7), with the rule that allowed it.
    match &v.next {
        NextBestAction::Offer {
            decision,
            expected_value,
            reason,
            ..
        } => {
            assert_eq!(decision.offer, "lounge-pass");
            assert!((expected_value - 24.5).abs() < 1e-9, "{expected_value}");
            assert!(reason.contains("no propensity score"), "{reason}");
            assert!(reason.contains("allowed as catalogued"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // The rep presents it; Jane accepts: in her history and in the report.
    let a = rep
        .answer_offer(
            jane,
            "lounge-pass",
            Answer::Accepted,
            Channel::Gate,
            Some("gate C12".into()),
        )
        .await
        .unwrap();
    assert_eq!(a.interaction.kind, InteractionKind::CampaignResponse);
    assert_eq!(a.interaction.employee.as_deref(), Some("rep"));
    let history = rep.interactions(jane, newest_page()).await.unwrap();
    let row = history
        .iter()
        .find(|i| i.id == a.interaction.id)
        .expect("the answer is in the history");
    assert_eq!(
        row.attributes.get("answer"),
        Some(&AttrValue::Text("accepted".into()))
    );
    assert_eq!(
        row.attributes.get("rule"),
        Some(&AttrValue::Text("catalogue".into()))
    );
    let report = local.offer_report(None).await.unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(
        (
            report[0].offer.as_str(),
            report[0].presented,
            report[0].accepted
        ),
        ("lounge-pass", 1, 1)
    );
    assert_eq!(report[0].by_portfolio["mine"], (1, 1));

    // A complaint opens: the portfolio's rule blocks the upsell, recovery comes first, and
    // an answer to the blocked offer is refused (the service decides again, not the client).
    rep.log_interaction(note(jane, InteractionKind::Complaint))
        .await
        .unwrap();
    let v = rep.explain_offers(jane).await.unwrap();
    let lounge = &v.explanation.decisions[0];
    assert_eq!(lounge.outcome, Outcome::Blocked);
    assert_eq!(lounge.decided_by.portfolio.as_deref(), Some("mine"));
    assert_eq!(lounge.decided_by.owner, "cm");
    assert!(
        lounge.reason.contains("recovery first"),
        "{}",
        lounge.reason
    );
    match &v.next {
        NextBestAction::Recover { offer, reason, .. } => {
            assert_eq!(
                offer.as_ref().map(|o| o.offer.as_str()),
                Some("apology-letter")
            );
            assert!(reason.contains("a complaint is open"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match rep
        .answer_offer(jane, "lounge-pass", Answer::Accepted, Channel::Gate, None)
        .await
    {
        Err(ServiceError::Invalid(m)) => assert!(m.contains("blocked"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(local.offer_report(None).await.unwrap()[0].presented, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governance_files_with_mistakes_are_refused_naming_file_and_line() {
    let (server, local, _ids) = world(None).await;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "version = 1\n\n[[rule]]\nportfolio = \"nowhere\"\nname = \"x\"\nwhen = \"tier = Z\"\nthen = \"block\"\n",
    )
    .unwrap();
    let before = local.portfolio_rules().await.unwrap();
    match local
        .load_relationship(None, None, Some(rules.to_str().unwrap().into()))
        .await
    {
        Err(ServiceError::Invalid(m)) => {
            assert!(m.contains("rules.toml:4"), "{m}");
            assert!(m.contains("nowhere"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // Nothing was stored.
    assert_eq!(local.portfolio_rules().await.unwrap(), before);
    // A relative path is refused: files are read where the database is.
    assert!(matches!(
        local
            .load_relationship(None, None, Some("rules.toml".into()))
            .await,
        Err(ServiceError::Invalid(m)) if m.contains("absolute")
    ));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_manager_changes_only_their_own_portfolios_rules() {
    let (server, _local, _ids) = world(None).await;
    let cm = Remote::connect(&server.addr, "cm", PASSWORD).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    let rule = |portfolio: &str| {
        format!(
            "\n[[rule]]\nportfolio = \"{portfolio}\"\nname = \"lounge at half price\"\n\
             offers = [\"lounge-pass\"]\nthen = \"adapt\"\ndiscount_percent = 50\n"
        )
    };
    let base = "version = 2\n\n[[rule]]\nportfolio = \"mine\"\nname = \"no upsell while a complaint is open\"\nkinds = [\"upsell\"]\nwhen = \"open_complaint\"\nthen = \"block\"\nreason = \"recovery first\"\n";
    std::fs::write(&path, format!("{base}{}", rule("other"))).unwrap();
    let p = path.to_str().unwrap().to_string();
    match cm.load_relationship(None, None, Some(p.clone())).await {
        Err(ServiceError::Forbidden { action, .. }) => {
            assert!(action.contains("portfolio `other`"), "{action}")
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&path, format!("{base}{}", rule("mine"))).unwrap();
    let loaded = cm.load_relationship(None, None, Some(p)).await.unwrap();
    assert_eq!((loaded.rules, loaded.rules_version), (2, 2));
    // The offers file is the capability managers'.
    assert!(matches!(
        cm.load_relationship(
            None,
            Some(dir.path().join("o.toml").to_str().unwrap().into()),
            None
        )
        .await,
        Err(ServiceError::Forbidden { .. })
    ));
    server.stop().await;
}
