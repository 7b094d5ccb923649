//! Disruption records: derived from source rows at ingest (an airport's delay, cancellation,
//! denied-boarding and lost-bag events), or declared by an operator; read by canonical id
//! (with the customers they affected) and by customer.
//!
//! A disruption is a document of [`DISRUPTIONS`] keyed by its canonical id
//! (`RP121/2026-11-23`, `BAG/0582417549`), written compact. Its affected customers are the
//! ids as resolved when the rows were ingested; reads follow later merges. A customer's own
//! disruptions come from the customer's interactions (the events moved with every merge and
//! unmerge), so "was this customer affected" is always answered from the record itself.

use std::collections::{BTreeMap, HashMap};

use rapport_core::{Affected, CustomerId, Disruption, DisruptionId, Interaction};
use rapport_store::{Batch, Store};

use crate::Error;
use crate::extract::disruption_of;

/// The collection of disruption records (key: canonical id).
pub const DISRUPTIONS: &str = "disruptions";

/// The newest interactions read to find a customer's disruptions.
const HISTORY_READ: usize = 5_000;

/// Notes that `customer` was affected by `d` (facts from one row): merges it into the record
/// held in `run` (read from the store the first time) and writes the record to `batch`.
pub fn note(
    store: &Store,
    run: &mut HashMap<String, Disruption>,
    batch: &mut Batch,
    d: Disruption,
    customer: CustomerId,
) -> Result<(), Error> {
    let key = d.id.to_string();
    if !run.contains_key(&key) {
        let stored = store.doc::<Disruption>(DISRUPTIONS, &key)?;
        run.insert(key.clone(), stored.unwrap_or_else(|| d.clone()));
    }
    let record = note_in(run, d, customer);
    batch.put_doc_compact(DISRUPTIONS, &key, record)?;
    Ok(())
}

/// Notes an affected customer in the run's disruption records only (a first load, whose
/// store holds none yet, writes them once at its end).
pub fn note_in(
    run: &mut HashMap<String, Disruption>,
    d: Disruption,
    customer: CustomerId,
) -> &Disruption {
    let key = d.id.to_string();
    let affected = Affected {
        customer,
        kind: d.kind,
        delay_minutes: d.delay_minutes,
        at: d.at,
    };
    let record = run.entry(key).or_insert_with(|| d.clone());
    if record.route.is_none() {
        record.route = d.route;
    }
    if record.cause.is_none() {
        record.cause = d.cause;
    }
    if record.flight.is_none() {
        record.flight = d.flight;
    }
    record.at = record.at.min(d.at);
    record.note(affected);
    record
}

/// The customer id `id` lives on as (following merges).
pub fn current_id(store: &Store, mut id: CustomerId) -> Result<CustomerId, Error> {
    for _ in 0..32 {
        match store.merged_into(id)? {
            Some(into) if into != id => id = into,
            _ => break,
        }
    }
    Ok(id)
}

/// The disruption by canonical id, with its affected customers as they are now (merged
/// customers replaced by the customer they were merged into, each once).
pub fn get(store: &Store, id: &DisruptionId) -> Result<Option<Disruption>, Error> {
    let Some(mut d) = store.doc::<Disruption>(DISRUPTIONS, &id.to_string())? else {
        return Ok(None);
    };
    let mut seen: BTreeMap<CustomerId, usize> = BTreeMap::new();
    let mut out: Vec<Affected> = Vec::with_capacity(d.affected.len());
    for mut a in std::mem::take(&mut d.affected) {
        a.customer = current_id(store, a.customer)?;
        match seen.get(&a.customer) {
            Some(&i) => {
                let existing = &mut out[i];
                if existing.kind == rapport_core::DisruptionKind::Delay {
                    existing.kind = a.kind;
                }
                existing.delay_minutes = existing.delay_minutes.max(a.delay_minutes);
            }
            None => {
                seen.insert(a.customer, out.len());
                out.push(a);
            }
        }
    }
    d.affected = out;
    Ok(Some(d))
}

/// What happened to `customer` in disruption `id`, or `None` when it did not affect them:
/// one read of the record (merges followed), else the customer's own history (a record
/// unmerged since, or a database ingested before disruption records existed).
pub fn affected(
    store: &Store,
    customer: CustomerId,
    id: &DisruptionId,
) -> Result<Option<(Disruption, Affected)>, Error> {
    if let Some(d) = get(store, id)?
        && let Some(a) = d.affected(customer).cloned()
    {
        return Ok(Some((d, a)));
    }
    let history = store.interactions_newest(customer, HISTORY_READ, None)?;
    let mut mine: Option<(Disruption, Affected)> = None;
    for i in history.iter().filter(|i| i.kind.is_disruption()) {
        let Some(d) = disruption_of(i, "console").filter(|d| &d.id == id) else {
            continue;
        };
        let a = Affected {
            customer,
            kind: d.kind,
            delay_minutes: d.delay_minutes,
            at: i.at,
        };
        match &mut mine {
            Some((_, m)) => {
                if m.kind == rapport_core::DisruptionKind::Delay {
                    m.kind = a.kind;
                }
                m.delay_minutes = m.delay_minutes.max(a.delay_minutes);
            }
            None => mine = Some((d, a)),
        }
    }
    Ok(mine)
}

/// Writes a disruption record (a declared one) to `batch`.
pub fn put(batch: &mut Batch, d: &Disruption) -> Result<(), Error> {
    batch.put_doc_compact(DISRUPTIONS, &d.id.to_string(), d)?;
    Ok(())
}

/// The disruptions a customer suffered, newest first, each with what happened to the
/// customer, read from the customer's interactions (the newest 5,000) and completed from the
/// stored records.
pub fn of_customer(
    store: &Store,
    customer: CustomerId,
) -> Result<Vec<(Disruption, Affected)>, Error> {
    let history = store.interactions_newest(customer, HISTORY_READ, None)?;
    of_history(store, customer, &history)
}

/// [`of_customer`] on interactions already read (newest first).
pub fn of_history(
    store: &Store,
    customer: CustomerId,
    history: &[Interaction],
) -> Result<Vec<(Disruption, Affected)>, Error> {
    let mut out: Vec<(Disruption, Affected)> = Vec::new();
    for i in history.iter().filter(|i| i.kind.is_disruption()) {
        let source = i.source.as_ref().map_or("console", |s| s.source.as_str());
        let Some(d) = disruption_of(i, source) else {
            continue;
        };
        let mine = Affected {
            customer,
            kind: d.kind,
            delay_minutes: d.delay_minutes,
            at: i.at,
        };
        if let Some((_, a)) = out.iter_mut().find(|(x, _)| x.id == d.id) {
            // Two events of one disruption (a delay, then the cancellation).
            if a.kind == rapport_core::DisruptionKind::Delay {
                a.kind = mine.kind;
            }
            a.delay_minutes = a.delay_minutes.max(mine.delay_minutes);
            continue;
        }
        let record = store
            .doc::<Disruption>(DISRUPTIONS, &d.id.to_string())?
            .unwrap_or(d);
        out.push((record, mine));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::{
        AttrValue, Channel, DisruptionKind, InteractionId, InteractionKind, Timestamp,
    };
    use rapport_store::Durability;

    fn event(
        customer: u64,
        kind: InteractionKind,
        flight: &str,
        date: &str,
        at: i64,
    ) -> Interaction {
        let mut i = Interaction::new(
            InteractionId(at as u64),
            CustomerId(customer),
            Timestamp(at),
            Channel::Airport,
            kind,
        );
        i.attributes
            .insert("flight".into(), AttrValue::Text(flight.into()));
        i.attributes
            .insert("flight_date".into(), AttrValue::Text(date.into()));
        i.attributes
            .insert("delay_minutes".into(), AttrValue::Int(200));
        i
    }

    #[test]
    fn a_flight_knows_its_passengers_through_merges_and_each_customer_their_disruptions() {
        let store = Store::temporary().unwrap();
        let mut run = HashMap::new();
        let mut batch = Batch::default();
        for (c, at) in [(1, 10), (2, 20), (3, 30)] {
            let i = event(c, InteractionKind::Delay, "RP121", "2026-11-23", at);
            batch.put_interaction(&i);
            let d = disruption_of(&i, "airport").unwrap();
            note(&store, &mut run, &mut batch, d, CustomerId(c)).unwrap();
        }
        batch.remove_customer(CustomerId(3), Some(CustomerId(2)));
        store.write(batch, Durability::Durable).unwrap();
        let id: DisruptionId = "rp 0121 / 23.11.2026".parse().unwrap();
        let d = get(&store, &id).unwrap().unwrap();
        let who: Vec<u64> = d.affected.iter().map(|a| a.customer.0).collect();
        assert_eq!(who, vec![1, 2]);
        assert_eq!(d.kind, DisruptionKind::Delay);
        assert_eq!(d.delay_minutes, Some(200));
        let mine = of_customer(&store, CustomerId(1)).unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].0.id.to_string(), "RP121/2026-11-23");
        assert!(of_customer(&store, CustomerId(9)).unwrap().is_empty());
    }
}
