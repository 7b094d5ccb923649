//! Where the learning loop's state is stored (#20): experiments with their assignments,
//! campaigns with their lists, front-line ideas, and the facts that mark the hand-offs done.
//! The rules are pure in `rapport_governance::{experiment, campaign, handoff, idea}`; the
//! service reads and writes through here.
//!
//! | collection | key | value |
//! |---|---|---|
//! | `experiments` | experiment id | [`StoredExperiment`] |
//! | `experiment_members` | `ID/C00000042` | [`Assignment`] |
//! | `experiment_arms` | `C00000042` | the customer's `Vec<`[`ExperimentArm`]`>` (the record reads it) |
//! | `campaigns` | campaign id | [`StoredCampaign`] |
//! | `campaign_members` | `ID/C00000042` | [`CampaignMember`] |
//! | `ideas` | zero-padded id | [`Idea`] |
//! | `learning_facts` | `kind/millis-seq` | [`Fact`] |
//!
//! An assignment and a campaign contact are also written as interactions of the customer
//! (`experiment_assigned`, `campaign_contact`, `campaign_holdout`), so the change feed tells
//! every console showing the customer, and the history says when and why.

use std::collections::BTreeMap;

use rapport_core::{
    AttrValue, Channel, CustomerId, ExperimentArm, Interaction, InteractionId, InteractionKind,
    Timestamp,
};
use rapport_governance::campaign::{CampaignDefinition, ListMember};
use rapport_governance::experiment::{Assignment, CONTROL, ExperimentDefinition};
use rapport_governance::handoff::{Fact, FactKind};
use rapport_governance::idea::Idea;
use rapport_store::{Batch, Durability, Store};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Experiment definitions.
pub const EXPERIMENTS: &str = "experiments";
/// One document per assigned customer and experiment.
pub const EXPERIMENT_MEMBERS: &str = "experiment_members";
/// Each customer's arms, read by the record.
pub const EXPERIMENT_ARMS: &str = "experiment_arms";
/// Campaign definitions.
pub const CAMPAIGNS: &str = "campaigns";
/// One document per customer on a campaign's list or hold-out.
pub const CAMPAIGN_MEMBERS: &str = "campaign_members";
/// Front-line ideas.
pub const IDEAS: &str = "ideas";
/// The facts that mark hand-off steps done (lists produced, campaigns run, results
/// measured, lessons shared).
pub const FACTS: &str = "learning_facts";

/// The interaction kind of an assignment.
pub const ASSIGNED_KIND: &str = "experiment_assigned";
/// The interaction kind of a hold-out (kept off a campaign on purpose).
pub const HOLDOUT_KIND: &str = "campaign_holdout";

/// Interactions written per batch when assigning or contacting many customers.
const CHUNK: usize = 2_000;

/// An experiment as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredExperiment {
    /// The definition.
    pub definition: ExperimentDefinition,
    /// Who created or declared it.
    pub by: String,
    /// When.
    pub created: Timestamp,
    /// Customers assigned (or declared).
    pub assigned: u64,
    /// Declared rows left out, each with its reason.
    pub conflicts: Vec<String>,
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCampaign {
    /// The definition.
    pub definition: CampaignDefinition,
    /// Who created it.
    pub by: String,
    /// When its list was produced and its contacts recorded.
    pub created: Timestamp,
    /// Customers contacted.
    pub contacts: u64,
    /// Customers held out.
    pub held_out: u64,
}

/// One customer of a campaign's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignMember {
    /// The member.
    pub member: ListMember,
    /// Held out (not contacted) rather than contacted.
    pub held_out: bool,
}

/// The list name of a campaign's contacts (`targeted` with a cap, else `all`).
pub fn list_name(def: &CampaignDefinition) -> &'static str {
    if def.cap_per_owner.is_some() || def.cap_total.is_some() {
        "targeted"
    } else {
        "all"
    }
}

/// `YYYY-MM-DD` of a time.
pub fn day(t: Timestamp) -> String {
    t.to_string().chars().take(10).collect()
}

fn member_key(id: &str, customer: CustomerId) -> String {
    format!("{id}/{customer}")
}

/// A stored experiment.
pub fn experiment(store: &Store, id: &str) -> Result<Option<StoredExperiment>, Error> {
    Ok(store.doc(EXPERIMENTS, id)?)
}

/// Every stored experiment, in id order.
pub fn experiments(store: &Store) -> Result<Vec<StoredExperiment>, Error> {
    store
        .docs::<StoredExperiment>(EXPERIMENTS, "")
        .map(|r| r.map(|(_, e)| e).map_err(Error::from))
        .collect()
}

/// An experiment's assignments, in customer order.
pub fn assignments(store: &Store, id: &str) -> Result<Vec<Assignment>, Error> {
    let mut out: Vec<Assignment> = store
        .docs::<Assignment>(EXPERIMENT_MEMBERS, &format!("{id}/"))
        .map(|r| r.map(|(_, a)| a).map_err(Error::from))
        .collect::<Result<_, _>>()?;
    out.sort_by_key(|a| a.customer);
    Ok(out)
}

/// A customer's arms, oldest assignment first.
pub fn arms_of(store: &Store, customer: CustomerId) -> Result<Vec<ExperimentArm>, Error> {
    Ok(store
        .doc(EXPERIMENT_ARMS, &customer.to_string())?
        .unwrap_or_default())
}

/// Stores a new experiment with its assignments: per customer the member document, the arm
/// on the customer's record and an `experiment_assigned` interaction at `now`, in batches,
/// the definition last (an experiment is listed once all of it is written). The caller holds
/// the write lock (the customer's arms are read, changed and written back) and has checked
/// that the id is new.
pub fn store_experiment(
    store: &Store,
    exp: &StoredExperiment,
    assignments: &[Assignment],
    now: Timestamp,
) -> Result<(), Error> {
    let def = &exp.definition;
    for chunk in assignments.chunks(CHUNK) {
        let ids = store.next_interaction_ids(chunk.len() as u64)?;
        let mut b = Batch::default();
        for (a, iid) in chunk.iter().zip(ids) {
            let closes = def.window_ends(a.assigned_at);
            let arm = ExperimentArm {
                experiment: def.id.clone(),
                arm: a.arm.clone(),
                control: a.arm == CONTROL,
                assigned_at: a.assigned_at,
                closes,
            };
            let mut arms = arms_of(store, a.customer)?;
            arms.retain(|x| x.experiment != def.id);
            arms.push(arm);
            b.put_doc(EXPERIMENT_ARMS, &a.customer.to_string(), &arms)?;
            b.put_doc(EXPERIMENT_MEMBERS, &member_key(&def.id, a.customer), a)?;
            let mut i = Interaction::new(
                InteractionId(iid),
                a.customer,
                now,
                Channel::BackOffice,
                InteractionKind::Other(ASSIGNED_KIND.into()),
            );
            i.text = Some(if a.arm == CONTROL {
                format!(
                    "in the control group of experiment {}: no goodwill beyond policy until {}",
                    def.id,
                    day(closes)
                )
            } else {
                format!("in arm {} of experiment {}", a.arm, def.id)
            });
            i.employee = Some(exp.by.clone());
            i.attributes
                .insert("experiment".into(), AttrValue::Text(def.id.clone()));
            i.attributes
                .insert("arm".into(), AttrValue::Text(a.arm.clone()));
            b.put_interaction(&i);
        }
        store.write(b, Durability::Batched)?;
    }
    let mut b = Batch::default();
    b.put_doc(EXPERIMENTS, &def.id, exp)?;
    store.write(b, Durability::Durable)?;
    Ok(())
}

/// A stored campaign.
pub fn campaign(store: &Store, id: &str) -> Result<Option<StoredCampaign>, Error> {
    Ok(store.doc(CAMPAIGNS, id)?)
}

/// Every stored campaign, in id order.
pub fn campaigns(store: &Store) -> Result<Vec<StoredCampaign>, Error> {
    store
        .docs::<StoredCampaign>(CAMPAIGNS, "")
        .map(|r| r.map(|(_, c)| c).map_err(Error::from))
        .collect()
}

/// A campaign's list and hold-out.
pub fn campaign_members(store: &Store, id: &str) -> Result<Vec<CampaignMember>, Error> {
    store
        .docs::<CampaignMember>(CAMPAIGN_MEMBERS, &format!("{id}/"))
        .map(|r| r.map(|(_, m)| m).map_err(Error::from))
        .collect()
}

/// Stores a new campaign with its list: per customer the member document and a
/// `campaign_contact` (or `campaign_holdout`) interaction at `now` naming the campaign and
/// the list, then the definition and the facts `list-produced` and `campaign-run`.
pub fn store_campaign(
    store: &Store,
    camp: &StoredCampaign,
    contacts: &[ListMember],
    holdout: &[ListMember],
    now: Timestamp,
) -> Result<(), Error> {
    let def = &camp.definition;
    let list = list_name(def);
    let all: Vec<(&ListMember, bool)> = contacts
        .iter()
        .map(|m| (m, false))
        .chain(holdout.iter().map(|m| (m, true)))
        .collect();
    for chunk in all.chunks(CHUNK) {
        let ids = store.next_interaction_ids(chunk.len() as u64)?;
        let mut b = Batch::default();
        for ((m, held), iid) in chunk.iter().zip(ids) {
            b.put_doc(
                CAMPAIGN_MEMBERS,
                &member_key(&def.id, m.customer),
                &CampaignMember {
                    member: (*m).clone(),
                    held_out: *held,
                },
            )?;
            let kind = if *held {
                InteractionKind::Other(HOLDOUT_KIND.into())
            } else {
                InteractionKind::CampaignContact
            };
            let mut i = Interaction::new(InteractionId(iid), m.customer, now, Channel::Mail, kind);
            i.employee = Some(camp.by.clone());
            i.text = Some(if *held {
                format!("held out of campaign {} (not contacted)", def.id)
            } else if def.offer.is_empty() {
                format!("contacted in campaign {}", def.id)
            } else {
                format!("contacted in campaign {}: {}", def.id, def.offer)
            });
            i.attributes
                .insert("campaign".into(), AttrValue::Text(def.id.clone()));
            i.attributes
                .insert("list".into(), AttrValue::Text(list.into()));
            i.attributes
                .insert("owner".into(), AttrValue::Text(m.owner.clone()));
            b.put_interaction(&i);
        }
        store.write(b, Durability::Batched)?;
    }
    let mut b = Batch::default();
    b.put_doc(CAMPAIGNS, &def.id, camp)?;
    put_fact(store, &mut b, FactKind::ListProduced, now)?;
    put_fact(store, &mut b, FactKind::CampaignRun, now)?;
    store.write(b, Durability::Durable)?;
    Ok(())
}

/// Adds a fact to `b` (the key counts the facts of the kind, so two in one millisecond
/// both stay).
pub fn put_fact(store: &Store, b: &mut Batch, kind: FactKind, at: Timestamp) -> Result<(), Error> {
    let prefix = format!("{kind}/{:015}", at.as_millis().max(0));
    let seq = store.docs::<Fact>(FACTS, &prefix).count();
    b.put_doc(FACTS, &format!("{prefix}-{seq:04}"), &Fact { kind, at })?;
    Ok(())
}

/// Records one fact, durably.
pub fn record_fact(store: &Store, kind: FactKind, at: Timestamp) -> Result<(), Error> {
    let mut b = Batch::default();
    put_fact(store, &mut b, kind, at)?;
    store.write(b, Durability::Durable)?;
    Ok(())
}

/// The newest recorded fact of each kind (older ones do not change a hand-off's state).
pub fn latest_facts(store: &Store) -> Result<BTreeMap<FactKind, Timestamp>, Error> {
    let mut out: BTreeMap<FactKind, Timestamp> = BTreeMap::new();
    for r in store.docs::<Fact>(FACTS, "") {
        let (_, f) = r?;
        let t = out.entry(f.kind).or_insert(f.at);
        *t = (*t).max(f.at);
    }
    Ok(out)
}

fn idea_key(id: u64) -> String {
    format!("{id:020}")
}

/// A stored idea.
pub fn idea(store: &Store, id: u64) -> Result<Option<Idea>, Error> {
    Ok(store.doc(IDEAS, &idea_key(id))?)
}

/// Every stored idea, oldest id first.
pub fn ideas(store: &Store) -> Result<Vec<Idea>, Error> {
    store
        .docs::<Idea>(IDEAS, "")
        .map(|r| r.map(|(_, i)| i).map_err(Error::from))
        .collect()
}

/// Adds (or replaces) an idea in `b`.
pub fn put_idea(b: &mut Batch, idea: &Idea) -> Result<(), Error> {
    b.put_doc(IDEAS, &idea_key(idea.id), idea)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_governance::experiment::ExperimentDraft;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn an_experiment_is_stored_with_its_arms_on_each_record_and_in_the_history() {
        let store = Store::temporary().unwrap();
        let now = at("2026-11-23T09:00:00Z");
        let def = ExperimentDraft {
            id: "EXP-1".into(),
            hypothesis: "letters help".into(),
            population: "all".into(),
            arms: vec![("letter".into(), 2.0, None)],
            control_share: 0.5,
            outcome: "rebooked".into(),
            window_days: 30,
            starts: now,
            ..ExperimentDraft::default()
        }
        .validate(now)
        .unwrap();
        let a = |c, arm: &str| Assignment {
            customer: CustomerId(c),
            arm: arm.into(),
            assigned_at: now,
        };
        let exp = StoredExperiment {
            definition: def,
            by: "ana".into(),
            created: now,
            assigned: 2,
            conflicts: vec![],
        };
        let feed = store.subscribe();
        store_experiment(&store, &exp, &[a(1, "control"), a(2, "letter")], now).unwrap();
        assert_eq!(experiment(&store, "EXP-1").unwrap().unwrap(), exp);
        assert_eq!(assignments(&store, "EXP-1").unwrap().len(), 2);
        let arms = arms_of(&store, CustomerId(1)).unwrap();
        assert_eq!(arms.len(), 1);
        assert!(arms[0].control && arms[0].running(now));
        assert_eq!(arms[0].closes, at("2026-12-23T23:59:59.999Z"));
        let hist = store.interactions_newest(CustomerId(1), 10, None).unwrap();
        assert_eq!(hist[0].kind.as_str(), ASSIGNED_KIND);
        assert!(
            hist[0]
                .text
                .as_deref()
                .unwrap()
                .contains("no goodwill beyond policy"),
            "{:?}",
            hist[0].text
        );
        // The change feed tells the consoles.
        let ev = feed
            .recv_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        assert!(
            matches!(ev.change, rapport_core::Change::InteractionAdded { .. }),
            "{ev:?}"
        );
        // A fact is kept once per call, two in one millisecond both.
        record_fact(&store, FactKind::ResultsRecorded, now).unwrap();
        record_fact(&store, FactKind::ResultsRecorded, now.plus_millis(5)).unwrap();
        record_fact(&store, FactKind::ResultsRecorded, now).unwrap();
        assert_eq!(store.doc_count(FACTS).unwrap(), 3);
        assert_eq!(
            latest_facts(&store).unwrap()[&FactKind::ResultsRecorded],
            now.plus_millis(5)
        );
    }
}
