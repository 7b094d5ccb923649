//! The change feed: one dedicated thread drains sled's subscriber (so sled never stalls a
//! writer on a full subscriber queue), turns raw key events into typed [`ChangeEvent`]s and
//! fans them out to [`Subscriber`]s through bounded channels with `try_send`, so a slow or
//! stalled subscriber loses events (and later gets [`Change::Lagged`]) instead of blocking
//! anyone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rapport_core::{Change, ChangeEvent, CustomerId, Timestamp};

use crate::codec;
use crate::keys::{self, Key};

/// How many events a subscriber's channel holds before events are dropped for it.
pub const SUBSCRIBER_CAPACITY: usize = 1024;

/// How often the feed thread wakes without events, to deliver pending `Lagged` notices and
/// notice that the store was closed.
const TICK: Duration = Duration::from_millis(50);

/// A receiver of change events from [`crate::Store::subscribe`]. Dropping it unsubscribes.
///
/// Events are hints: when one arrives, re-read what you show. After [`Change::Lagged`],
/// events were lost: re-read everything you show.
#[derive(Debug)]
pub struct Subscriber {
    rx: Receiver<ChangeEvent>,
}

impl Subscriber {
    /// Waits for the next event; `None` once the store is closed.
    pub fn recv(&self) -> Option<ChangeEvent> {
        self.rx.recv().ok()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<ChangeEvent> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => None,
        }
    }

    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<ChangeEvent> {
        match self.rx.recv_timeout(timeout) {
            Ok(e) => Some(e),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
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
    /// Events were dropped and the subscriber has not been told yet.
    lagged: bool,
}

/// The running feed of one store.
pub(crate) struct Feed {
    sinks: Arc<Mutex<Vec<Sink>>>,
    stop: Arc<AtomicBool>,
}

impl Feed {
    /// Starts the drain thread on a sled subscriber of the evented keyspaces.
    pub(crate) fn start(tree: &sled::Tree) -> std::io::Result<Feed> {
        let mut source = tree.watch_prefix(keys::EVENTED_PREFIX);
        let sinks: Arc<Mutex<Vec<Sink>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_sinks, thread_stop) = (sinks.clone(), stop.clone());
        std::thread::Builder::new()
            .name("rapport-store-feed".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    match source.next_timeout(TICK) {
                        Ok(event) => {
                            if let Some(change) = translate(&event) {
                                publish(&thread_sinks, change);
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => notify_lagged(&thread_sinks),
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                // Dropping the sinks ends every subscriber's `recv` with `None`.
                lock(&thread_sinks).clear();
            })?;
        Ok(Feed { sinks, stop })
    }

    pub(crate) fn subscribe(&self) -> Subscriber {
        let (tx, rx) = std::sync::mpsc::sync_channel(SUBSCRIBER_CAPACITY);
        lock(&self.sinks).push(Sink { tx, lagged: false });
        Subscriber { rx }
    }

    /// A subscriber that is closed at once (used when the feed thread cannot start).
    pub(crate) fn closed() -> Subscriber {
        let (_, rx) = std::sync::mpsc::sync_channel(0);
        Subscriber { rx }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn lock(sinks: &Mutex<Vec<Sink>>) -> std::sync::MutexGuard<'_, Vec<Sink>> {
    // A panic while holding this lock cannot leave the list inconsistent.
    sinks.lock().unwrap_or_else(PoisonError::into_inner)
}

fn publish(sinks: &Mutex<Vec<Sink>>, change: Change) {
    let event = ChangeEvent {
        change,
        at: Timestamp::now(),
    };
    lock(sinks).retain_mut(|sink| {
        if sink.lagged {
            match sink.try_send_lagged() {
                Delivery::Sent => {}
                Delivery::Full => return true,
                Delivery::Gone => return false,
            }
        }
        match sink.tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                sink.lagged = true;
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    });
}

/// Tells lagging subscribers they lagged, once their channel has room again.
fn notify_lagged(sinks: &Mutex<Vec<Sink>>) {
    lock(sinks).retain_mut(|sink| !sink.lagged || sink.try_send_lagged() != Delivery::Gone);
}

#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    Sent,
    Full,
    Gone,
}

impl Sink {
    /// Tries to deliver the pending `Lagged` notice.
    fn try_send_lagged(&mut self) -> Delivery {
        let lagged = ChangeEvent {
            change: Change::Lagged,
            at: Timestamp::now(),
        };
        match self.tx.try_send(lagged) {
            Ok(()) => {
                self.lagged = false;
                Delivery::Sent
            }
            Err(TrySendError::Full(_)) => Delivery::Full,
            Err(TrySendError::Disconnected(_)) => Delivery::Gone,
        }
    }
}

/// The typed change a raw sled event stands for, if any.
fn translate(event: &sled::Event) -> Option<Change> {
    match event {
        sled::Event::Insert { key, value } => match Key::parse(key)? {
            Key::Customer(customer) => Some(Change::CustomerChanged { customer }),
            Key::Interaction(customer, _, interaction) => Some(Change::InteractionAdded {
                customer,
                interaction,
            }),
            Key::Grant(customer, disruption) => Some(Change::GrantIssued {
                customer,
                disruption,
            }),
            Key::Scores(customer) => Some(Change::ScoresUpdated { customer }),
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
