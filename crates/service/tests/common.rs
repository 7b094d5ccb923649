//! Shared set-up: a temporary store with customers, an engine, a server on 127.0.0.1:0.

#![allow(dead_code)] // each test binary uses part of it

use std::sync::Arc;

use rapport_core::{
    ContactKind, ContactPoint, Customer, CustomerId, PartyKind, Sourced, Timestamp,
};
use rapport_governance::Role;
use rapport_service::{Embedded, Engine, Listener, OperatorAdmin, Remote, ServerConfig, run};
use rapport_store::{Batch, Durability, IndexKey, IndexKind, Store};
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery";

/// A store with three customers: Jane Doe, John Smith, Zoë Ørsted.
pub fn world() -> (Store, Vec<CustomerId>) {
    world_in(Store::temporary().unwrap())
}

/// The same customers in a given store.
pub fn world_in(store: Store) -> (Store, Vec<CustomerId>) {
    let t = Timestamp::now();
    let mut ids = Vec::new();
    let mut batch = Batch::default();
    for (given, family, email) in [
        ("Jane", "Doe", "jane.doe@example.com"),
        ("John", "Smith", "john@example.org"),
        ("Zoë", "Ørsted", "zoe@example.net"),
    ] {
        let id = store.next_customer_id().unwrap();
        let mut c = Customer::new(id, PartyKind::Person, t);
        c.profile.display_name = Some(Sourced::new(format!("{given} {family}"), None, t));
        c.profile.given_name = Some(Sourced::new(given.into(), None, t));
        c.profile.family_name = Some(Sourced::new(family.into(), None, t));
        c.contacts.push(ContactPoint {
            kind: ContactKind::Email,
            value: email.into(),
            valid_from: None,
            valid_to: None,
            source: None,
            last_seen: t,
        });
        let keys = vec![
            IndexKey::new(IndexKind::Email, email),
            IndexKey::new(IndexKind::NameToken, given.to_lowercase()),
            IndexKey::new(IndexKind::NameToken, family.to_lowercase()),
        ];
        batch.put_customer(&c, keys);
        ids.push(id);
    }
    store.write(batch, Durability::Durable).unwrap();
    (store, ids)
}

/// An engine over `world()` with an admin operator `admin`.
pub async fn engine() -> (Arc<Engine>, Vec<CustomerId>) {
    engine_over(world()).await
}

/// An engine over these customers with an admin operator `admin`.
pub async fn engine_over((store, ids): (Store, Vec<CustomerId>)) -> (Arc<Engine>, Vec<CustomerId>) {
    let engine = Arc::new(Engine::new(store));
    let local = Embedded::from_engine(engine.clone(), "test".into());
    local
        .add_operator("admin", Role::Admin, PASSWORD)
        .await
        .unwrap();
    (engine, ids)
}

/// A running server on 127.0.0.1:0 over `engine`.
pub struct TestServer {
    pub addr: String,
    pub shutdown: CancellationToken,
    pub handle: tokio::task::JoinHandle<Result<(), rapport_service::ServiceError>>,
}

impl TestServer {
    pub async fn start(engine: Arc<Engine>) -> TestServer {
        TestServer::start_with(engine, ServerConfig::default()).await
    }

    pub async fn start_with(engine: Arc<Engine>, config: ServerConfig) -> TestServer {
        let l = Listener::tcp("127.0.0.1:0").await.unwrap();
        let addr = l.address();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(run(vec![l], engine, config, shutdown.clone()));
        TestServer {
            addr,
            shutdown,
            handle,
        }
    }

    pub async fn admin(&self) -> Remote {
        self.login("admin").await
    }

    /// A client signed in as operator `name` (password [`PASSWORD`]).
    pub async fn login(&self, name: &str) -> Remote {
        Remote::connect(&self.addr, name, PASSWORD).await.unwrap()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.unwrap().unwrap();
    }
}

/// Records that `customer` suffered the disruption `reference` (a flight and date), as an
/// airport row would: the event in the customer's history and the disruption record.
pub fn disrupt(
    store: &Store,
    customer: CustomerId,
    reference: &str,
    kind: rapport_core::InteractionKind,
    delay_minutes: Option<u32>,
) {
    disrupt_many(
        store,
        &[(customer, reference.to_string(), kind, delay_minutes)],
    );
}

/// [`disrupt`] for many, in one write.
pub fn disrupt_many(
    store: &Store,
    events: &[(
        CustomerId,
        String,
        rapport_core::InteractionKind,
        Option<u32>,
    )],
) {
    use rapport_core::{AttrValue, Channel, Interaction, InteractionId};
    let mut batch = Batch::default();
    let mut run = std::collections::HashMap::new();
    let ids = store.next_interaction_ids(events.len() as u64).unwrap();
    for ((customer, reference, kind, delay_minutes), iid) in events.iter().zip(ids) {
        let id: rapport_core::DisruptionId = reference.parse().unwrap();
        let rapport_core::DisruptionId::Flight {
            carrier,
            number,
            date,
        } = &id
        else {
            panic!("a flight reference: {reference}");
        };
        let mut i = Interaction::new(
            InteractionId(iid),
            *customer,
            Timestamp::now(),
            Channel::Airport,
            kind.clone(),
        );
        i.attributes.insert(
            "flight".into(),
            AttrValue::Text(format!("{carrier}{number}")),
        );
        i.attributes
            .insert("flight_date".into(), AttrValue::Text(date.to_string()));
        if let Some(m) = delay_minutes {
            i.attributes
                .insert("delay_minutes".into(), AttrValue::Int(i64::from(*m)));
        }
        let d = rapport_repository::extract::disruption_of(&i, "airport").unwrap();
        batch.put_interaction(&i);
        rapport_repository::disruption::note(store, &mut run, &mut batch, d, *customer).unwrap();
    }
    store.write(batch, Durability::Durable).unwrap();
}

/// The newest 100 interactions, unfiltered.
pub fn newest_page() -> rapport_service::InteractionQuery {
    rapport_service::InteractionQuery {
        limit: 100,
        before: None,
        kinds: Vec::new(),
        channels: Vec::new(),
        since: None,
    }
}

/// Relationship-governance files in `dir` (absolute paths: portfolios, offers, rules): the
/// portfolio `mine` (the default) managed by `manager`, `other` managed by `someone`; a lounge
/// pass (upsell) that `mine`'s rule blocks while a complaint is open, and an apology letter
/// (recovery) for customers with an open complaint. `sees` sets `customer_managers_see`.
pub fn relationship_files(
    dir: &std::path::Path,
    manager: &str,
    sees: Option<&str>,
) -> (String, String, String) {
    let see = sees
        .map(|s| format!("customer_managers_see = \"{s}\"\n"))
        .unwrap_or_default();
    let portfolios = format!(
        "version = 1\ndefault = \"mine\"\n{see}\n\
         [[portfolio]]\nid = \"mine\"\nname = \"Mine\"\nmanager = \"{manager}\"\n\n\
         [[portfolio]]\nid = \"other\"\nname = \"Someone else's\"\nmanager = \"someone\"\n"
    );
    let offers = "version = 1\n\n\
        [[offer]]\nid = \"lounge-pass\"\ntitle = \"Lounge day pass\"\nproduct = \"lounge\"\n\
        kind = \"upsell\"\nowner = \"pmeyer\"\nterms = \"one visit within 30 days\"\n\
        price = \"35.00 EUR\"\nmargin = 0.7\nchannels = [\"gate\", \"call_center\"]\n\
        eligible = \"kind = person\"\nvalid_from = \"2026-01-01\"\n\
        wording = \"Would you like to wait in the lounge?\"\n\n\
        [[offer]]\nid = \"apology-letter\"\ntitle = \"Letter of apology\"\nproduct = \"apology\"\n\
        kind = \"recovery\"\nowner = \"ecare\"\nterms = \"a personal letter\"\nprice = \"0 EUR\"\n\
        channels = [\"mail\", \"email\", \"call_center\"]\n\
        eligible = \"kind = person and open_complaint\"\nvalid_from = \"2026-01-01\"\n";
    let rules = "version = 1\n\n\
        [[rule]]\nportfolio = \"mine\"\nname = \"no upsell while a complaint is open\"\n\
        kinds = [\"upsell\"]\nwhen = \"open_complaint\"\nthen = \"block\"\n\
        reason = \"recovery first\"\n";
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    (
        write("portfolios.toml", &portfolios),
        write("offers.toml", offers),
        write("rules.toml", rules),
    )
}
