//! The change feed: one dedicated thread drains sled's subscriber (so sled never stalls a
//! writer on a full subscriber queue), turns raw key events into typed [`ChangeEvent`]s and
//! fans them out to [`Subscriber`]s through bounded channels with `try_send`, so a slow or
//! stalled subscriber loses events (and is told with [`Change::Lagged`]) instead of blocking
//! anyone.
//!
//! The thread uses sled's blocking iterator, not `Subscriber::next_timeout`: in sled 0.34.7
//! `next_timeout` gets stuck for good after a write that announced an event and then turned
//! out to be a no-op (e.g. removing an absent key), returning `Disconnected` forever. The
//! iterator skips such events, and ends when the database is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rapport_core::{Change, ChangeEvent, CustomerId, Timestamp};

use crate::codec;
use crate::keys::{self, Key};

/// How many events a subscriber's channel holds before events are dropped for it.
pub const SUBSCRIBER_CAPACITY: usize = 1024;

/// A receiver of change events from [`crate::Store::subscribe`]. Dropping it unsubscribes.
///
/// Events are hints: when one arrives, re-read what you show. After [`Change::Lagged`],
/// events were lost: re-read everything you show. The `Lagged` notice comes in order when
/// the channel has room again, or at the latest when the subscriber has read everything
/// buffered.
#[derive(Debug)]
pub struct Subscriber {
    rx: Receiver<ChangeEvent>,
    /// Set by the feed when it dropped an event for this subscriber and has not yet been able
    /// to tell it; whoever clears it delivers the `Lagged` notice.
    lagged: Arc<AtomicBool>,
}

impl Subscriber {
    /// Waits for the next event; `None` once the store is closed.
    pub fn recv(&self) -> Option<ChangeEvent> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(TryRecvError::Empty) => self.pending_lag().or_else(|| self.rx.recv().ok()),
            Err(TryRecvError::Disconnected) => self.pending_lag(),
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<ChangeEvent> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => self.pending_lag(),
        }
    }

    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<ChangeEvent> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(TryRecvError::Empty) => self
                .pending_lag()
                .or_else(|| self.rx.recv_timeout(timeout).ok()),
            Err(TryRecvError::Disconnected) => self.pending_lag(),
        }
    }

    /// A `Lagged` notice the feed could not deliver because the channel was full.
    fn pending_lag(&self) -> Option<ChangeEvent> {
        self.lagged
            .swap(false, Ordering::AcqRel)
            .then(|| ChangeEvent {
                change: Change::Lagged,
                at: Timestamp::now(),
            })
    }
}

impl Iterator for Subscriber {
    type Item = ChangeEvent;
    fn next(&mut self) -> Option<ChangeEvent> {
        self.recv()
    }
}

struct Sink {
    tx: SyncSender<ChangeEvent>,
    lagged: Arc<AtomicBool>,
}

/// The running feed of one store. The thread ends when the database is dropped.
pub(crate) struct Feed {
    sinks: Arc<Mutex<Vec<Sink>>>,
}

impl Feed {
    /// Starts the drain thread on a sled subscriber of the evented keyspaces.
    pub(crate) fn start(tree: &sled::Tree) -> std::io::Result<Feed> {
        let source = tree.watch_prefix(keys::EVENTED_PREFIX);
        let sinks: Arc<Mutex<Vec<Sink>>> = Arc::default();
        let thread_sinks = sinks.clone();
        std::thread::Builder::new()
            .name("rapport-store-feed".into())
            .spawn(move || {
                for event in source {
                    for change in translate(&event) {
                        publish(&thread_sinks, change);
                    }
                }
                // Dropping the senders ends every subscriber's `recv` with `None`.
                lock(&thread_sinks).clear();
            })?;
        Ok(Feed { sinks })
    }

    pub(crate) fn subscribe(&self) -> Subscriber {
        let (tx, rx) = std::sync::mpsc::sync_channel(SUBSCRIBER_CAPACITY);
        let lagged = Arc::new(AtomicBool::new(false));
        lock(&self.sinks).push(Sink {
            tx,
            lagged: lagged.clone(),
        });
        Subscriber { rx, lagged }
    }

    /// A subscriber that is closed at once (used when the feed thread cannot start).
    pub(crate) fn closed() -> Subscriber {
        let (_, rx) = std::sync::mpsc::sync_channel(0);
        Subscriber {
            rx,
            lagged: Arc::default(),
        }
    }

    /// Number of live subscribers (dropped ones are removed at the next event).
    #[cfg(test)]
    pub(crate) fn subscriber_count(&self) -> usize {
        lock(&self.sinks).len()
    }
}

fn lock(sinks: &Mutex<Vec<Sink>>) -> std::sync::MutexGuard<'_, Vec<Sink>> {
    // A panic while holding this lock cannot leave the list inconsistent.
    sinks.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Offers the event to every subscriber without ever blocking; removes dropped ones.
fn publish(sinks: &Mutex<Vec<Sink>>, change: Change) {
    let event = ChangeEvent {
        change,
        at: Timestamp::now(),
    };
    lock(sinks).retain(|sink| {
        if sink.lagged.swap(false, Ordering::AcqRel) {
            let notice = ChangeEvent {
                change: Change::Lagged,
                at: event.at,
            };
            match sink.tx.try_send(notice) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    sink.lagged.store(true, Ordering::Release);
                    return true;
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
        match sink.tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                sink.lagged.store(true, Ordering::Release);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    });
}

/// The typed changes a raw sled event stands for: one, except for a page of scores, which
/// announces every customer on the page (the others' scores are unchanged, but events are
/// hints to refresh, and a scoring run rewrites whole pages anyway), and a page of
/// interactions, which announces each interaction its write added (named in the page's
/// header, so the feed needs no key to open the page).
fn translate(event: &sled::Event) -> Vec<Change> {
    if let sled::Event::Insert { key, value } = event
        && let Some(Key::Interaction(customer, _, _)) = Key::parse(key)
    {
        return crate::pages::page_changes(customer, value);
    }
    if let sled::Event::Insert { key, value } = event
        && let Some(Key::ScorePage(page)) = Key::parse(key)
    {
        return match codec::score_page_slots(value) {
            Ok(slots) => slots
                .into_iter()
                .map(|slot| Change::ScoresUpdated {
                    customer: CustomerId(page * codec::PAGE_SLOTS + u64::from(slot)),
                })
                .collect(),
            Err(e) => {
                tracing::warn!(page, "bad page of scores: {e}");
                Vec::new()
            }
        };
    }
    translate_one(event).into_iter().collect()
}

fn translate_one(event: &sled::Event) -> Option<Change> {
    match event {
        sled::Event::Insert { key, value } => match Key::parse(key)? {
            Key::Customer(customer) => Some(Change::CustomerChanged { customer }),
            Key::Grant(customer, disruption) => Some(Change::GrantIssued {
                customer,
                disruption,
            }),
            Key::Removed(customer) => {
                let merged_into = codec::decode::<Option<CustomerId>>(value)
                    .inspect_err(|e| tracing::warn!(%customer, "bad removed marker: {e}"))
                    .ok()
                    .flatten();
                Some(Change::CustomerRemoved {
                    customer,
                    merged_into,
                })
            }
            _ => None,
        },
        sled::Event::Remove { .. } => None,
    }
}
