//! The steward's and analyst's requests through the service: a scoring run asked of the
//! service reaches a console watching a customer as `ScoresUpdated`, and its results read
//! back typed; the permission matrix applies embedded as over a socket.

mod common;

use std::time::Duration;

use rapport_core::{
    Amount, AmountRole, Change, Channel, Currency, Customer, CustomerId, Interaction,
    InteractionId, InteractionKind, Money, PartyKind, Timestamp,
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
