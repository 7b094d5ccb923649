//! The steward's and analyst's requests through the service: a scoring run asked of the
//! service reaches a console watching a customer as `ScoresUpdated`, and its results read
//! back typed; the permission matrix applies embedded as over a socket.

mod common;

use std::time::Duration;

use rapport_core::{
    Amount, AmountRole, Change, Channel, Currency, Customer, CustomerId, Interaction,
    InteractionId, InteractionKind, Money, PartyKind, Tier, Timestamp,
};
use rapport_governance::Role;
use rapport_service::data::ScoreRequest;
use rapport_service::{Embedded, LiveEvent, Operations, Service, ServiceError, Watch};
use rapport_store::{Batch, Durability, Store};

const DAY: i64 = 86_400_000;

fn shoppers(n: u64, day: i64) -> Store {
    let store = Store::temporary().unwrap();
    let mut b = Batch::default();
    for c in 1..=n {
        b.put_customer(
            &Customer::new(CustomerId(c), PartyKind::Person, Timestamp(0)),
            vec![],
        );
        let mut d = day - 700 + (c as i64 % 30);
        while d <= day - (c as i64 % 7) * 40 {
            let id = store.next_interaction_ids(1).unwrap().start;
            let mut i = Interaction::new(
                InteractionId(id),
                CustomerId(c),
                Timestamp::from_millis(d * DAY + 3_600_000),
                Channel::Web,
                InteractionKind::Purchase,
            );
            i.amounts.push(Amount {
                role: AmountRole::Revenue,
                money: Money::new(c as i64 * 100, Currency::EUR),
            });
            b.put_interaction(&i);
            d += 30;
        }
    }
    store.write(b, Durability::Durable).unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoring_run_asked_of_the_service_reaches_a_watching_console_live() {
    let day = 20_000;
    let svc = Embedded::from_store(shoppers(40, day));
    let mut console = svc
        .acting_as("gate", Role::FrontLine)
        .subscribe(Watch::Customers(vec![CustomerId(7)]))
        .await
        .unwrap();
    let request = ScoreRequest {
        incremental: false,
        as_of: Some(Timestamp::from_millis(day * DAY + 80_000_000)),
        value_definition: None,
        threads: 2,
    };
    // The front line may not run scoring; the analyst may.
    let refused = svc
        .acting_as("gate", Role::FrontLine)
        .score(request.clone())
        .await;
    assert!(
        matches!(refused, Err(ServiceError::Forbidden { .. })),
        "{refused:?}"
    );
    let report = svc
        .acting_as("ana", Role::Analyst)
        .score(request)
        .await
        .unwrap();
    assert_eq!((report.full, report.scored), (true, 40));

    let event = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match console.events.recv().await {
                Some(LiveEvent::Change(c)) if c.change.customer() == Some(CustomerId(7)) => {
                    return c.change;
                }
                Some(_) => continue,
                None => panic!("the subscription ended"),
            }
        }
    })
    .await
    .expect("ScoresUpdated within 5 s");
    assert_eq!(
        event,
        Change::ScoresUpdated {
            customer: CustomerId(7)
        }
    );
    // The console re-reads the record: scored now.
    let record = svc.open(CustomerId(7), Default::default()).await.unwrap();
    assert!(record.scores.is_some());

    // The run's results, typed, through the service.
    let tiers = svc.tiers().await.unwrap();
    assert_eq!(
        tiers.tiers.tiers.iter().map(|r| r.customers).sum::<u64>(),
        40
    );
    let lists = svc.working_lists().await.unwrap();
    assert!(lists.iter().all(|l| l.total.is_some()), "{lists:?}");
    let skew = svc.skew().await.unwrap();
    assert_eq!(skew.value.customers, 40);
    // An incremental run with nothing changed scores nobody.
    let inc = svc
        .score(ScoreRequest {
            incremental: true,
            as_of: Some(Timestamp::from_millis(day * DAY + 80_000_000)),
            value_definition: None,
            threads: 1,
        })
        .await
        .unwrap();
    assert_eq!((inc.full, inc.scored), (false, 0));
}

/// The server's cadence: with `score_after_ingest`, an ingest sent over the socket is followed
/// by an incremental run in the background, and a console watching a customer of the new
/// file sees its scores arrive; with `score_every`, runs come on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_rescores_after_an_ingest_and_on_its_cadence() {
    let day = 20_000;
    let store = shoppers(30, day);
    // A first full run, so that later runs can be incremental.
    let local = Embedded::from_store(store.clone());
    local
        .score(ScoreRequest {
            incremental: false,
            as_of: None,
            value_definition: None,
            threads: 1,
        })
        .await
        .unwrap();
    let engine = local.engine().clone();
    rapport_service::OperatorAdmin::add_operator(&local, "admin", Role::Admin, common::PASSWORD)
        .await
        .unwrap();
    let config = rapport_service::ServerConfig {
        score_after_ingest: true,
        score_every: Some(Duration::from_millis(400)),
        ..Default::default()
    };
    let server = common::TestServer::start_with(engine, config).await;
    let admin = server.admin().await;

    // A new customer arrives by ingest; a console watching everything sees it scored.
    let mut console = admin.subscribe(Watch::All).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("shop.toml");
    std::fs::write(&mapping, include_str!("../../../fixtures/test/shop.toml")).unwrap();
    let csv = dir.path().join("shop.csv");
    std::fs::write(
        &csv,
        "customer,first,last,dob,email,order,at,amount\n\
         N1,Nora,Lindqvist,1981-03-04,nora@example.com,n1,2026-01-05T10:00:00Z,80.00\n",
    )
    .unwrap();
    let report = admin
        .ingest(rapport_service::data::IngestRequest {
            paths: vec![csv.to_str().unwrap().to_string()],
            mapping: Some(mapping.to_str().unwrap().to_string()),
            time_shift_days: 0,
            merge_ties: false,
            progress: false,
        })
        .await
        .unwrap();
    assert_eq!(report.customers_created, 1);
    let nora = admin.search("nora lindqvist", 1).await.unwrap()[0].id;
    let scored = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match console.events.recv().await {
                Some(LiveEvent::Change(c))
                    if c.change == (Change::ScoresUpdated { customer: nora }) =>
                {
                    return;
                }
                Some(_) => continue,
                None => panic!("the subscription ended"),
            }
        }
    })
    .await;
    assert!(
        scored.is_ok(),
        "the new customer was scored after the ingest"
    );
    let record = admin.open(nora, Default::default()).await.unwrap();
    assert!(record.scores.is_some());

    // The cadence: full runs every 400 ms keep coming.
    let runs = |s: &Store| rapport_scoring::results::run_times(s).unwrap().len();
    let before = runs(&store);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(runs(&store) > before, "scheduled runs were kept");
    server.stop().await;
}

/// Paths a client names are read where the database is: absolute, and within the limits, or
/// refused naming the field before anything is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_named_to_the_service_are_absolute_and_bounded() {
    let svc = Embedded::from_store(shoppers(2, 20_000));
    let ingest = |paths: Vec<String>, mapping: Option<String>| {
        svc.ingest(rapport_service::data::IngestRequest {
            paths,
            mapping,
            time_shift_days: 0,
            merge_ties: false,
            progress: false,
        })
    };
    let long = format!("/{}", "a".repeat(5_000));
    let e = ingest(vec![long], None).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid request: the source path is longer than 4096 bytes"
    );
    let e = ingest(vec!["relative/ingest.toml".into()], None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Invalid(m) if m.contains("must be absolute")),
        "{e}"
    );
    let e = ingest(Vec::new(), None).await.unwrap_err();
    assert!(e.to_string().contains("1 to 1,000 files"), "{e}");
    let e = svc.load_rates("rates.csv", None, "EURO").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("reporting currency is longer than 3"),
        "{e}"
    );
    // A file that is not there is named, and nothing changes.
    let e = ingest(vec!["/nonexistent/ingest.toml".into()], None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Invalid(m) if m.contains("/nonexistent/ingest.toml")),
        "{e}"
    );
}

/// A customer who moves tier between two scoring runs shows the move on the record (its
/// tier history, oldest first) and in the run's movements between tiers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_move_between_two_runs_shows_on_the_record_and_in_the_movements() {
    let day = 20_000;
    let store = shoppers(40, day);
    let svc = Embedded::from_store(store.clone());
    let analyst = svc.acting_as("ana", Role::Analyst);
    let run = |at_day: i64| ScoreRequest {
        incremental: false,
        as_of: Some(Timestamp::from_millis(at_day * DAY + 80_000_000)),
        value_definition: None,
        threads: 1,
    };
    analyst.score(run(day)).await.unwrap();
    let before = analyst
        .open(CustomerId(1), Default::default())
        .await
        .unwrap();
    let first = before.scores.as_ref().unwrap().tier;
    assert_ne!(first, Tier::A, "customer 1 spends least");
    assert_eq!(before.tier_history.len(), 1);
    assert_eq!(before.tier_history[0].from, None);
    assert_eq!(before.tier_history[0].to, first);

    // Customer 1 buys big: the next day's run puts them in tier A.
    let id = store.next_interaction_ids(1).unwrap().start;
    let mut big = Interaction::new(
        InteractionId(id),
        CustomerId(1),
        Timestamp::from_millis(day * DAY + 90_000_000),
        Channel::Web,
        InteractionKind::Purchase,
    );
    big.amounts.push(Amount {
        role: AmountRole::Revenue,
        money: Money::new(10_000_000, Currency::EUR),
    });
    let mut b = Batch::default();
    b.put_interaction(&big);
    store.write(b, Durability::Durable).unwrap();
    analyst.score(run(day + 1)).await.unwrap();

    let after = analyst
        .open(CustomerId(1), Default::default())
        .await
        .unwrap();
    assert_eq!(after.scores.as_ref().unwrap().tier, Tier::A);
    let last = after.tier_history.last().unwrap();
    assert_eq!((last.from, last.to), (Some(first), Tier::A));
    assert_eq!(after.tier_history.len(), 2);
    let tiers = analyst.tiers().await.unwrap();
    assert!(
        tiers
            .tiers
            .movements
            .iter()
            .any(|m| m.from == Some(first) && m.to == Tier::A && m.customers >= 1),
        "{:?}",
        tiers.tiers.movements
    );
}
