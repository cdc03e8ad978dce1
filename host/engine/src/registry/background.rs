//! Graph preparation off the index's lock: a `prism-graph` thread loads a
//! saved graph (after a restart) or rebuilds one from a snapshot (one mostly
//! of tombstones), then attaches it.

use std::path::PathBuf;
use std::sync::Arc;

use uuid::Uuid;

use super::IndexHandle;
use crate::crypto::sealed_file::Sealer;
use crate::index::{IndexParams, PendingGraph, Snapshot};

/// On a background thread, load the graph saved in `saved_in` if given, or
/// else build one from `snapshot`, and attach it to the index of `handle`
/// when ready; until then its searches use the graph it has, or exact
/// search. With nothing usable saved, the indexer grows a graph instead (no
/// whole build: the collection's progress shows).
pub(super) fn prepare_graph(
    handle: &IndexHandle,
    snapshot: Snapshot,
    params: IndexParams,
    id: Uuid,
    saved_in: Option<PathBuf>,
    sealer: Option<Arc<Sealer>>,
) {
    let handle = Arc::downgrade(handle);
    let spawned = std::thread::Builder::new()
        .name("prism-graph".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let pending = match saved_in {
                Some(dir) => PendingGraph::load(params, &snapshot, &dir, sealer.as_deref()),
                None => Some(PendingGraph::prepare(params, snapshot, None, None)),
            };
            // The collection may have been deleted meanwhile.
            let Some(handle) = handle.upgrade() else {
                return;
            };
            let attached = {
                let mut state = handle.write();
                let backlog = state.backlog.clone();
                state.index.as_mut().map(|index| {
                    match pending {
                        Some(pending) => index.attach_graph(pending),
                        None => index.cancel_pending(),
                    }
                    (backlog, index.unindexed())
                })
            };
            // What was written while the graph was prepared is its tail (or,
            // with no graph loaded, everything is).
            if let Some((backlog, unindexed)) = attached {
                backlog.kick(&handle, unindexed);
                // With a tail the indexer measures once it has caught up.
                if unindexed == 0 {
                    super::breadth::measure_if_due(&handle, true);
                }
            }
            release_free_memory();
            tracing::info!(collection = %id, ms = started.elapsed().as_millis() as u64, "graph ready");
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start graph thread; searches stay exact");
    }
}

/// Hand memory freed by a graph build (its snapshot, the build's scratch
/// space in the worker threads' arenas) back to the system; glibc keeps it
/// otherwise, and the server's resident size would carry it for good.
pub(super) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
