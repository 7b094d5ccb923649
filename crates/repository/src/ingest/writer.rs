//! The ingest's store writer: batches are applied on a thread of their own, so that the next
//! rows are read, cleansed and resolved while sled applies the last ones (on two cores the
//! two halves overlap).
//!
//! Order is kept: batches are applied in the order they were handed over. A [`Writer::barrier`]
//! waits until every batch handed over before it is applied, which the ingest needs before it
//! drops its in-memory view of what it wrote (pending index keys, rows seen): from then on the
//! store must answer. The first failed write stops the writer; the error comes back from the
//! next call.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use rapport_store::{Batch, Durability, Store};

use crate::error::Error;

/// Batches in flight at most: one being applied, one waiting (bounds the memory they hold).
const IN_FLIGHT: usize = 1;

enum Msg {
    Write(Batch),
    Barrier(SyncSender<()>),
}

/// Applies batches on a thread of its own, in order (see the module documentation).
pub(crate) struct Writer {
    tx: Option<SyncSender<Msg>>,
    handle: Option<JoinHandle<Result<(), Error>>>,
}

impl Writer {
    /// Starts the writer thread on `store`.
    pub(crate) fn start(store: &Store) -> Result<Writer, Error> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(IN_FLIGHT);
        let store = store.clone();
        let handle = std::thread::Builder::new()
            .name("rapport-ingest-writer".into())
            .spawn(move || run(&store, &rx))
            .map_err(|e| Error::Invalid(format!("cannot start the ingest writer: {e}")))?;
        Ok(Writer {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Hands a batch over; returns at once unless a batch is already waiting.
    pub(crate) fn write(&mut self, batch: Batch) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        self.send(Msg::Write(batch))
    }

    /// Returns once every batch handed over so far is applied (visible to readers).
    pub(crate) fn barrier(&mut self) -> Result<(), Error> {
        let (ack, done) = mpsc::sync_channel(1);
        self.send(Msg::Barrier(ack))?;
        if done.recv().is_err() {
            return Err(self.stopped());
        }
        Ok(())
    }

    fn send(&mut self, msg: Msg) -> Result<(), Error> {
        let sent = self.tx.as_ref().map(|tx| tx.send(msg).is_ok());
        if sent == Some(true) {
            Ok(())
        } else {
            Err(self.stopped())
        }
    }

    /// The error that stopped the thread.
    fn stopped(&mut self) -> Error {
        self.tx = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => Error::Invalid("the ingest writer panicked".into()),
            _ => Error::Invalid("the ingest writer stopped".into()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run(store: &Store, rx: &Receiver<Msg>) -> Result<(), Error> {
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Write(batch) => store.write(batch, Durability::Batched)?,
            Msg::Barrier(ack) => {
                let _ = ack.send(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_applied_in_order_and_visible_after_the_barrier() {
        let store = Store::temporary().unwrap();
        let mut w = Writer::start(&store).unwrap();
        for n in 0..50u64 {
            let mut b = Batch::default();
            b.put_doc("t", "k", &n).unwrap();
            b.put_doc("t", &format!("k{n}"), &n).unwrap();
            w.write(b).unwrap();
        }
        w.barrier().unwrap();
        assert_eq!(store.doc::<u64>("t", "k").unwrap(), Some(49));
        assert_eq!(store.doc_count("t").unwrap(), 51);
    }

    #[test]
    fn a_failed_write_comes_back_from_the_next_call() {
        let store = Store::temporary().unwrap();
        let g = rapport_core::CompensationGrant {
            customer: rapport_core::CustomerId(1),
            disruption: "RP1/2026-01-01".into(),
            kind: rapport_core::DisruptionKind::Delay,
            delay_minutes: Some(600),
            instrument: "voucher".into(),
            amount: rapport_core::Money::new(40_000, rapport_core::Currency::EUR),
            policy_rule: "delay 6h+ v1".into(),
            granted_by: "jsmith".into(),
            touchpoint: "gate C12".into(),
            at: rapport_core::Timestamp::from_secs(1_700_000_000),
            interaction: rapport_core::InteractionId(1),
        };
        let mut first = Batch::default();
        first.insert_grant(&g);
        store.write(first, Durability::Batched).unwrap();
        let mut w = Writer::start(&store).unwrap();
        let mut second = Batch::default();
        second.insert_grant(&g);
        w.write(second).unwrap();
        let err = w.barrier().unwrap_err();
        assert!(err.to_string().contains("already granted"), "{err}");
        assert!(
            w.write(Batch::default()).is_ok(),
            "an empty batch is not sent"
        );
    }
}
