//! The background indexer: a `prism-indexer` thread per collection with
//! vectors outside its graph, adding them a step at a time. A step is
//! planned under the index's shared lock (searches go on) and applied under
//! a short exclusive one; the thread never touches the engine's writer lock,
//! so a writer waiting for it ([`Backlog::wait_below`]) cannot deadlock.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock, RwLockWriteGuard};

use super::{CollectionIndex, IndexHandle};

/// A collection's indexing work, shared by its writers and its indexer.
#[derive(Default)]
pub(crate) struct Backlog {
    state: Mutex<State>,
    /// Signalled after each step and when the indexer stops.
    progressed: Condvar,
}

#[derive(Default)]
struct State {
    /// Bumped by every write handed over: an indexer that found nothing to
    /// do checks it before stopping, so no write is left behind.
    epoch: u64,
    running: bool,
    /// Vectors outside the graph, as of the last write or step.
    unindexed: usize,
}

impl Backlog {
    /// Note that `unindexed` vectors of `handle`'s index wait for the graph,
    /// and start its indexer unless it runs. Call it after the index's lock
    /// is released.
    pub(crate) fn kick(self: &Arc<Self>, handle: &IndexHandle, unindexed: usize) {
        let mut state = self.state.lock();
        state.epoch += 1;
        state.unindexed = unindexed;
        // Wakes an indexer waiting for writes to pause (`no_write_for`).
        self.progressed.notify_all();
        if state.running || unindexed == 0 {
            return;
        }
        let backlog = self.clone();
        let index = Arc::downgrade(handle);
        let spawned = std::thread::Builder::new()
            .name("prism-indexer".into())
            .spawn(move || run(&backlog, &index));
        match spawned {
            Ok(_) => state.running = true,
            // Searches stay complete (the tail is scanned exactly); the next
            // write tries again.
            Err(e) => tracing::error!(error = %e, "cannot start an indexer thread"),
        }
    }

    /// Block while more than `max` vectors wait for the graph and the
    /// indexer is working on them. Holds no index lock, so the indexer
    /// goes on; returns at once when no indexer runs (a graph being
    /// prepared in the background catches up on its own).
    pub(crate) fn wait_below(&self, max: usize) {
        let mut state = self.state.lock();
        while state.running && state.unindexed > max {
            // A timeout only as a safety net: every step signals.
            self.progressed
                .wait_for(&mut state, Duration::from_millis(500));
        }
    }

    /// Wait up to `quiet` for a write newer than `seen`; whether none came.
    fn no_write_for(&self, seen: u64, quiet: Duration) -> bool {
        let deadline = std::time::Instant::now() + quiet;
        let mut state = self.state.lock();
        while state.epoch == seen {
            if self.progressed.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        state.epoch == seen
    }

    fn stepped(&self, unindexed: usize) {
        self.state.lock().unindexed = unindexed;
        self.progressed.notify_all();
    }
}

/// Marks the indexer stopped however its thread ends (a panic included), so
/// that writers never wait for a thread that is gone.
struct Running<'a>(&'a Backlog);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.state.lock().running = false;
        self.0.progressed.notify_all();
    }
}

fn run(backlog: &Backlog, index: &Weak<RwLock<CollectionIndex>>) {
    let _running = Running(backlog);
    loop {
        let seen = backlog.state.lock().epoch;
        // The collection may have been deleted (or the engine dropped).
        let Some(handle) = index.upgrade() else {
            return;
        };
        let step = handle.read().index.as_ref().and_then(|i| i.plan_indexing());
        let Some(step) = step else {
            // Caught up: the moment to measure a graph that has grown, by
            // less once writes have paused for a moment.
            let settled = !super::breadth::due(&handle, false)
                && super::breadth::due(&handle, true)
                && backlog.no_write_for(seen, SETTLE);
            super::breadth::measure_if_due(&handle, settled);
            let left = handle.read().index.as_ref().map_or(0, |i| i.unindexed());
            let mut state = backlog.state.lock();
            if state.epoch == seen {
                state.unindexed = left;
                return;
            }
            continue;
        };
        {
            let mut state = write_politely(&handle);
            let Some(index) = state.index.as_mut() else {
                return;
            };
            // A step planned before the graph was replaced is dropped; the
            // next one is planned against the new graph.
            index.apply_indexing(step);
            // Noted before the index's lock is released: a writer counts
            // under that lock too, so its newer (higher) count is never
            // overwritten by this one, which would let writers past the bound.
            backlog.stepped(index.unindexed());
        }
        drop(handle);
    }
}

/// How long writes must have paused for a graph to count as settled (a bulk
/// load through the Python client sends a batch every few hundred
/// milliseconds at most).
const SETTLE: Duration = Duration::from_secs(1);

/// Longest a step waits for the exclusive lock before letting searches
/// through again: a writer waiting on a `parking_lot` lock holds back new
/// readers, and the lock may be shared for long (a graph being saved), so
/// the indexer never queues for it for more than this at a time.
const APPLY_WAIT: Duration = Duration::from_millis(5);

fn write_politely(handle: &IndexHandle) -> RwLockWriteGuard<'_, CollectionIndex> {
    loop {
        if let Some(guard) = handle.try_write_for(APPLY_WAIT) {
            return guard;
        }
        std::thread::sleep(APPLY_WAIT);
    }
}
