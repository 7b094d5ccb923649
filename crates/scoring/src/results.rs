//! The one home of what a scoring run stores, with typed readers: the service (overview,
//! lists, tiers, skew, the stage assessment's evidence) and the binary read the results here,
//! never by collection and key.
//!
//! | what | type |
//! |---|---|
//! | the value definition in force | [`ValueDefinition`] |
//! | the latest run, and every run kept by its time | [`RunSummary`] |
//! | the fitted models (reused by incremental runs) | [`FittedModels`] |
//! | tiers, with the moves between tiers | [`TierSummary`] |
//! | skew of value and of profit, or why none was measured | [`SkewSummary`], a message |
//! | lifetime value per segment | `Vec<`[`SegmentValue`]`>` |
//! | each working list | [`WorkingList`] |
//! | each customer's tier changes | [`TierHistory`] |
//!
//! They are generic documents of the store (JSON in the codec envelope), so a backup shows
//! them and an older build's documents stay readable.

use rapport_analytics::{
    FittedModels, ListName, RunSummary, SegmentValue, SkewSummary, TierHistory, TierSummary,
    ValueDefinition, WorkingList,
};
use rapport_core::{CustomerId, Timestamp};
use rapport_store::{Batch, Durability, Store};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// The collection of the run's documents.
const COLLECTION: &str = "analytics";
/// The collection of tier changes per customer (key: the customer id, `C00000042`).
const TIER_HISTORY: &str = "tier_history";
/// Every run kept by its time (`runs/<zero-padded millis>`).
const RUNS: &str = "runs/";
/// Working lists (`list/<name>`).
const LISTS: &str = "list/";

fn doc<T: DeserializeOwned>(store: &Store, key: &str) -> Result<Option<T>, Error> {
    Ok(store.doc(COLLECTION, key)?)
}

/// The value definition in force, if one was stored.
pub fn value_definition(store: &Store) -> Result<Option<ValueDefinition>, Error> {
    doc(store, "value_definition")
}

/// Stores the value definition in force (durable).
pub fn put_value_definition(store: &Store, def: &ValueDefinition) -> Result<(), Error> {
    let mut b = Batch::default();
    b.put_doc(COLLECTION, "value_definition", def)?;
    store.write(b, Durability::Durable)?;
    Ok(())
}

/// The latest run's summary.
pub fn run(store: &Store) -> Result<Option<RunSummary>, Error> {
    doc(store, "run")
}

/// The times of every run kept, oldest first (the latest run's alone when an older build
/// kept none by time).
pub fn run_times(store: &Store) -> Result<Vec<Timestamp>, Error> {
    #[derive(Deserialize)]
    struct At {
        at: Timestamp,
    }
    let mut out = Vec::new();
    for r in store.docs::<At>(COLLECTION, RUNS) {
        out.push(r?.1.at);
    }
    if out.is_empty()
        && let Some(r) = doc::<At>(store, "run")?
    {
        out.push(r.at);
    }
    out.sort();
    Ok(out)
}

/// The models the latest full run fitted.
pub fn models(store: &Store) -> Result<Option<FittedModels>, Error> {
    doc(store, "models")
}

/// The stored models read as `T`, any subset of their fields (unknown fields are ignored,
/// missing ones take `T`'s defaults): for readers that must also read an older build's runs.
pub fn models_as<T: DeserializeOwned>(store: &Store) -> Result<Option<T>, Error> {
    doc(store, "models")
}

/// Tiers of the latest full run.
pub fn tiers(store: &Store) -> Result<Option<TierSummary>, Error> {
    doc(store, "tiers")
}

/// Lifetime value per segment of the latest full run.
pub fn segments(store: &Store) -> Result<Option<Vec<SegmentValue>>, Error> {
    doc(store, "segment_clv")
}

/// The skew of value of the latest full run.
pub fn skew(store: &Store) -> Result<Option<SkewSummary>, Error> {
    doc(store, "skew")
}

/// The skew of profit of the latest full run.
pub fn skew_profit(store: &Store) -> Result<Option<SkewSummary>, Error> {
    doc(store, "skew_profit")
}

/// Why the latest full run measured no skew of value, when it measured none.
pub fn skew_error(store: &Store) -> Result<Option<String>, Error> {
    doc(store, "skew_error")
}

/// A working list of the latest full run.
pub fn list(store: &Store, name: ListName) -> Result<Option<WorkingList>, Error> {
    doc(store, &format!("{LISTS}{}", name.as_str()))
}

/// When each stored working list was produced.
pub fn list_times(store: &Store) -> Result<Vec<Timestamp>, Error> {
    #[derive(Deserialize)]
    struct At {
        at: Timestamp,
    }
    let mut out = Vec::new();
    for l in store.docs::<At>(COLLECTION, LISTS) {
        out.push(l?.1.at);
    }
    Ok(out)
}

/// A customer's tier changes.
pub fn tier_history(store: &Store, customer: CustomerId) -> Result<Option<TierHistory>, Error> {
    Ok(store.doc(TIER_HISTORY, &customer.to_string())?)
}

pub(crate) fn put_tier_history(
    b: &mut Batch,
    customer: CustomerId,
    h: &TierHistory,
) -> Result<(), Error> {
    Ok(b.put_doc(TIER_HISTORY, &customer.to_string(), h)?)
}

/// The latest run, also kept by its time: the stage assessment reads the cadence of runs.
pub(crate) fn put_run(b: &mut Batch, summary: &RunSummary) -> Result<(), Error> {
    b.put_doc(COLLECTION, "run", summary)?;
    b.put_doc(
        COLLECTION,
        &format!("{RUNS}{:015}", summary.at.as_millis().max(0)),
        summary,
    )?;
    Ok(())
}

pub(crate) fn put_skew(b: &mut Batch, sk: &SkewSummary) -> Result<(), Error> {
    b.put_doc(COLLECTION, "skew", sk)?;
    b.remove_doc(COLLECTION, "skew_error");
    Ok(())
}

pub(crate) fn put_skew_error(b: &mut Batch, why: &str) -> Result<(), Error> {
    b.put_doc(COLLECTION, "skew_error", &why.to_string())?;
    b.remove_doc(COLLECTION, "skew");
    Ok(())
}

pub(crate) fn put_skew_profit(b: &mut Batch, sk: &SkewSummary) -> Result<(), Error> {
    Ok(b.put_doc(COLLECTION, "skew_profit", sk)?)
}

pub(crate) fn put_tiers(b: &mut Batch, t: &TierSummary) -> Result<(), Error> {
    Ok(b.put_doc(COLLECTION, "tiers", t)?)
}

pub(crate) fn put_segments(b: &mut Batch, s: &Vec<SegmentValue>) -> Result<(), Error> {
    Ok(b.put_doc(COLLECTION, "segment_clv", s)?)
}

pub(crate) fn put_list(b: &mut Batch, l: &WorkingList) -> Result<(), Error> {
    Ok(b.put_doc(COLLECTION, &format!("{LISTS}{}", l.name.as_str()), l)?)
}

pub(crate) fn put_models(b: &mut Batch, m: &FittedModels) -> Result<(), Error> {
    Ok(b.put_doc(COLLECTION, "models", m)?)
}

/// Writes the documents a reader of the results sees, for tests of readers in other crates
/// (the service's overview and lists): tiers, skew and lists as a full run would.
pub fn put_for_test(
    store: &Store,
    tiers: Option<&TierSummary>,
    skew: Option<&SkewSummary>,
    lists: &[WorkingList],
) -> Result<(), Error> {
    let mut b = Batch::default();
    if let Some(t) = tiers {
        put_tiers(&mut b, t)?;
    }
    if let Some(s) = skew {
        put_skew(&mut b, s)?;
    }
    for l in lists {
        put_list(&mut b, l)?;
    }
    store.write(b, Durability::Durable)?;
    Ok(())
}
