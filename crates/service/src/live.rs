//! Live updates: one thread drains the store's change feed and fans events out to
//! subscriptions through bounded queues with `try_send`, so a stalled console loses events
//! (and gets `Change::Lagged`, then re-reads) but never slows the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rapport_core::{Change, ChangeEvent, Timestamp};
use rapport_store::Store;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};

use crate::api::{LiveEvent, Watch};

/// How many events a subscription queue holds before it lags.
pub const SUBSCRIPTION_QUEUE: usize = 256;

/// How often the feed thread wakes without events (to deliver pending `Lagged` notices and
/// notice shutdown).
const TICK: Duration = Duration::from_millis(50);

struct HubSub {
    watch: watch::Receiver<Watch>,
    tx: mpsc::Sender<LiveEvent>,
    lagged: bool,
}

/// The fan-out from the store's change feed to subscriptions. The feed starts with the first
/// subscription: a command that subscribes to nothing (a scoring run from the command line)
/// does not pay for turning a million score writes into events.
pub(crate) struct LiveHub {
    subs: Arc<Mutex<Vec<HubSub>>>,
    stop: Arc<AtomicBool>,
    /// The store whose feed starts at the first subscription (`None` once started).
    pending: Mutex<Option<Store>>,
}

impl LiveHub {
    /// A hub over the store's change feed, started at the first subscription.
    pub(crate) fn start(store: &Store) -> LiveHub {
        LiveHub {
            subs: Arc::default(),
            stop: Arc::new(AtomicBool::new(false)),
            pending: Mutex::new(Some(store.clone())),
        }
    }

    /// Subscribes to the store and starts the fan-out thread, once.
    fn ensure_started(&self) {
        let Some(store) = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let feed = store.subscribe();
        let (subs2, stop2) = (self.subs.clone(), self.stop.clone());
        let spawned = std::thread::Builder::new()
            .name("rapport-live".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    let ev = feed.recv_timeout(TICK);
                    let mut subs = subs2.lock().unwrap_or_else(PoisonError::into_inner);
                    dispatch(&mut subs, ev.as_ref());
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the live-update thread; no live updates");
        }
    }

    /// A new subscription's queue; it watches what `watch` says, changeable at any time.
    pub(crate) fn register(&self, watch: watch::Receiver<Watch>) -> mpsc::Receiver<LiveEvent> {
        self.ensure_started();
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_QUEUE);
        self.subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(HubSub {
                watch,
                tx,
                lagged: false,
            });
        rx
    }

    /// Subscriptions currently registered.
    pub(crate) fn len(&self) -> usize {
        self.subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for LiveHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn watches(w: &Watch, change: &Change) -> bool {
    match (w, change) {
        (Watch::All, _) | (_, Change::Lagged) => true,
        (
            Watch::Customers(ids),
            Change::CustomerRemoved {
                customer,
                merged_into,
            },
        ) => ids.contains(customer) || merged_into.is_some_and(|m| ids.contains(&m)),
        (Watch::Customers(ids), c) => c.customer().is_some_and(|id| ids.contains(&id)),
    }
}

fn dispatch(subs: &mut Vec<HubSub>, ev: Option<&ChangeEvent>) {
    subs.retain_mut(|s| {
        if s.tx.is_closed() {
            return false;
        }
        if s.lagged {
            let lag = LiveEvent::Change(ChangeEvent {
                change: Change::Lagged,
                at: Timestamp::now(),
            });
            match s.tx.try_send(lag) {
                Ok(()) => s.lagged = false,
                Err(TrySendError::Full(_)) => return true,
                Err(TrySendError::Closed(_)) => return false,
            }
        }
        let Some(ev) = ev else { return true };
        if !watches(&s.watch.borrow(), &ev.change) {
            return true;
        }
        match s.tx.try_send(LiveEvent::Change(ev.clone())) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                s.lagged = true;
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::CustomerId;

    #[test]
    fn watches_customers_and_merges() {
        let w = Watch::Customers(vec![CustomerId(1)]);
        assert!(watches(
            &w,
            &Change::CustomerChanged {
                customer: CustomerId(1)
            }
        ));
        assert!(!watches(
            &w,
            &Change::CustomerChanged {
                customer: CustomerId(2)
            }
        ));
        assert!(watches(
            &w,
            &Change::CustomerRemoved {
                customer: CustomerId(2),
                merged_into: Some(CustomerId(1))
            }
        ));
        assert!(watches(&w, &Change::Lagged));
        assert!(watches(
            &Watch::All,
            &Change::ScoresUpdated {
                customer: CustomerId(9)
            }
        ));
    }

    #[test]
    fn a_full_queue_lags_instead_of_blocking() {
        let (_wtx, wrx) = watch::channel(Watch::All);
        let (tx, mut rx) = mpsc::channel(2);
        let mut subs = vec![HubSub {
            watch: wrx,
            tx,
            lagged: false,
        }];
        let ev = ChangeEvent {
            change: Change::CustomerChanged {
                customer: CustomerId(1),
            },
            at: Timestamp::from_secs(1),
        };
        for _ in 0..5 {
            dispatch(&mut subs, Some(&ev));
        }
        assert!(subs[0].lagged);
        assert!(matches!(rx.try_recv(), Ok(LiveEvent::Change(_))));
        assert!(matches!(rx.try_recv(), Ok(LiveEvent::Change(_))));
        dispatch(&mut subs, None);
        match rx.try_recv() {
            Ok(LiveEvent::Change(e)) => assert_eq!(e.change, Change::Lagged),
            other => panic!("expected Lagged, got {other:?}"),
        }
        drop(rx);
        dispatch(&mut subs, Some(&ev));
        assert!(subs.is_empty());
    }
}
