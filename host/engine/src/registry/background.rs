//! Graph preparation off the index's lock: a `prism-graph` thread loads a
//! saved graph or builds one from a snapshot, then attaches it.

use std::path::PathBuf;
use std::sync::Arc;

use uuid::Uuid;

use super::IndexHandle;
use crate::crypto::sealed_file::Sealer;
use crate::index::{IndexParams, PendingGraph, Snapshot};

/// Load the graph saved in `saved_in` (when given and usable) or build one
/// from `snapshot`, on a background thread, and attach it to the index of
/// `handle` when ready; until then its searches use the graph it has, or
/// exact search.
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
            let pending = PendingGraph::prepare(params, snapshot, saved_in.as_deref(), sealer.as_deref());
            // The collection may have been deleted meanwhile.
            let Some(handle) = handle.upgrade() else {
                return;
            };
            if let Some(index) = handle.write().index.as_mut() {
                index.attach_graph(pending);
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
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
