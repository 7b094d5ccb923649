//! Masking complete: for the roles the matrix masks (analyst, executive), the record's
//! history loses its identifiers (booking reference, bag tag, boarding-pass name) and the
//! personal data typed into its notes, over both the record and the history page; and a
//! masked role cannot probe who is a customer with a full e-mail address. The front line sees
//! everything.

mod common;

use std::collections::BTreeMap;

use rapport_core::{AttrValue, Channel, InteractionKind};
use rapport_governance::Role;
use rapport_service::{Embedded, NewInteraction, Service, ServiceError};

use common::{engine, newest_page as query};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masked_roles_see_no_identifiers_in_the_history_and_cannot_probe_by_one() {
    let (engine, ids) = engine().await;
    let rep =
        Embedded::from_engine(engine.clone(), "t".into()).acting_as("mrossi", Role::FrontLine);
    let mut attributes = BTreeMap::new();
    for (k, v) in [
        ("booking_ref", "K7Q2LM"),
        ("bag_tag", "0360760481"),
        ("passenger_name", "DOE/JANE MS"),
        ("flight", "RP123"),
    ] {
        attributes.insert(k.to_string(), AttrValue::Text(v.into()));
    }
    rep.log_interaction(NewInteraction {
        customer: ids[0],
        kind: InteractionKind::Note,
        channel: Channel::CallCenter,
        touchpoint: None,
        phase: None,
        text: Some("call her back on +44 20 7946 0958 or jane.doe@example.com".into()),
        attributes,
        amounts: Vec::new(),
    })
    .await
    .unwrap();
    let secrets = ["K7Q2LM", "0360760481", "DOE/JANE", "7946 0958", "jane.doe@"];
    for role in [Role::Analyst, Role::Executive, Role::FrontLine] {
        let s = Embedded::from_engine(engine.clone(), "t".into()).acting_as("someone", role);
        let record = s.open(ids[0], query()).await.unwrap();
        let page = s.interactions(ids[0], query()).await.unwrap();
        let shown = format!("{:?} {:?}", record.interactions, page);
        let masked = role != Role::FrontLine;
        assert_eq!(record.masked, masked, "{role}");
        for secret in secrets {
            assert_eq!(
                !shown.contains(secret),
                masked,
                "{role}: {secret} {}",
                if masked { "shown" } else { "hidden" }
            );
        }
        // The facts stay.
        assert!(shown.contains("RP123"), "{role}: {shown}");
        // Probing by a full e-mail or phone is refused for masked roles; names work.
        for probe in ["jane.doe@example.com", "+44 20 7946 0958"] {
            let r = s.search(probe, 10).await;
            if masked {
                assert!(
                    matches!(r, Err(ServiceError::Forbidden { .. })),
                    "{role} {probe}: {r:?}"
                );
            } else {
                assert!(r.is_ok(), "{role} {probe}: {r:?}");
            }
        }
        let by_name = s.search("jane doe", 10).await.unwrap();
        assert_eq!(by_name[0].id, ids[0], "{role}");
    }
}
