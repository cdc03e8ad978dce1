//! The in-memory vector indexes of the collections, and their lifecycle:
//! loaded from SQLite on first use (a query or a write), kept up to date with
//! committed writes, their new vectors added to the HNSW graph by a
//! background [`indexer`], a saved graph loaded (or a graph mostly of
//! tombstones rebuilt) in the background, saved to disk
//! (every so often by [`saver`], and on request), and forgotten when their
//! collection goes.

mod background;
mod breadth;
mod indexer;
pub(crate) mod saver;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use crate::crypto::sealed_file::Sealer;
use crate::data_dir;
use crate::error::Result;
use crate::index::{IndexTuning, NewVector, VectorIndex};
use crate::store::catalog::CollectionRow;
use crate::store::records::IndexDelta;

/// One collection's index, as far as it is loaded.
pub(crate) struct CollectionIndex {
    /// The collection's public id: names its directory of saved graphs.
    id: Uuid,
    loaded: bool,
    /// `None` until the collection has a vector.
    index: Option<VectorIndex>,
    /// The indexer's work on `index`, waited on by writers.
    backlog: Arc<indexer::Backlog>,
}

impl CollectionIndex {
    /// The vectors, if the collection has any.
    pub(crate) fn index(&self) -> Option<&VectorIndex> {
        self.index.as_ref()
    }
}

/// A collection's index, shared by searches, writers and background work.
pub(crate) type IndexHandle = Arc<RwLock<CollectionIndex>>;

/// Every collection's index, by the collection's row number.
pub(crate) struct IndexRegistry {
    data_dir: PathBuf,
    tuning: IndexTuning,
    indexes: Mutex<HashMap<i64, IndexHandle>>,
    /// Saves of graphs never overlap (they share directories).
    save_lock: Mutex<()>,
    /// Seals saved graphs in an encrypted data directory.
    sealer: Option<Arc<Sealer>>,
}

impl IndexRegistry {
    /// An empty registry for the indexes of the store in `data_dir`.
    pub(crate) fn new(data_dir: &Path, tuning: IndexTuning, sealer: Option<Arc<Sealer>>) -> Self {
        Self {
            sealer,
            data_dir: data_dir.to_path_buf(),
            tuning,
            indexes: Mutex::new(HashMap::new()),
            save_lock: Mutex::new(()),
        }
    }

    /// The collection's index, loading it on first use from the vectors
    /// `read_vectors` reads from SQLite (`(slot, record, embedding)`).
    pub(crate) fn loaded(
        &self,
        row: &CollectionRow,
        read_vectors: impl FnOnce() -> Result<Vec<(u32, i64, Vec<f32>)>>,
    ) -> Result<IndexHandle> {
        let handle = self
            .indexes
            .lock()
            .entry(row.seq)
            .or_insert_with(|| {
                Arc::new(RwLock::new(CollectionIndex {
                    id: row.id,
                    loaded: false,
                    index: None,
                    backlog: Arc::default(),
                }))
            })
            .clone();
        if handle.read().loaded {
            return Ok(handle);
        }
        let mut state = handle.write();
        if !state.loaded {
            let started = std::time::Instant::now();
            let vectors = read_vectors()?;
            let read_ms = started.elapsed().as_millis() as u64;
            if let Some((_, _, first)) = vectors.first() {
                let items: Vec<NewVector<'_>> = vectors
                    .iter()
                    .map(|(slot, rec, v)| (*slot, *rec, v.as_slice()))
                    .collect();
                let index = VectorIndex::from_vectors(
                    row.config.index_params(),
                    self.tuning,
                    first.len(),
                    &items,
                );
                if index.graph_pending() {
                    background::prepare_graph(
                        &handle,
                        index.snapshot(),
                        row.config.index_params(),
                        row.id,
                        Some(data_dir::graph_dir(&self.data_dir, row.id)),
                        self.sealer.clone(),
                    );
                }
                state.index = Some(index);
            }
            state.loaded = true;
            tracing::info!(collection = %row.id, vectors = vectors.len(), read_ms, ms = started.elapsed().as_millis() as u64, "loaded vector index");
        }
        drop(state);
        Ok(handle)
    }

    /// Apply a committed change to the collection's index, loading it first
    /// (with `read_vectors`, as [`IndexRegistry::loaded`]) so the graph
    /// grows from the first write rather than the first query. Call it with
    /// the writer lock held so changes land in commit order. When more than
    /// `max_unindexed` vectors wait for the graph, it returns only once the
    /// indexer has caught up below that (backpressure: queries scan those
    /// vectors exactly).
    pub(crate) fn apply(
        &self,
        row: &CollectionRow,
        delta: IndexDelta,
        read_vectors: impl FnOnce() -> Result<Vec<(u32, i64, Vec<f32>)>>,
    ) {
        let handle = match self.loaded(row, read_vectors) {
            Ok(handle) => handle,
            Err(e) => {
                // The change is committed; the first query loads it from SQLite.
                tracing::warn!(collection = %row.id, error = %e, "cannot load the vector index");
                return;
            }
        };
        let inserted = !delta.inserted.is_empty();
        let Some((backlog, unindexed)) = self.apply_loaded(&handle, row, delta) else {
            return;
        };
        backlog.kick(&handle, unindexed);
        if inserted {
            backlog.wait_below(self.tuning.max_unindexed);
        }
    }

    /// [`IndexRegistry::apply`] under the index's lock; the collection's
    /// backlog and how many vectors wait for its graph.
    fn apply_loaded(
        &self,
        handle: &IndexHandle,
        row: &CollectionRow,
        delta: IndexDelta,
    ) -> Option<(Arc<indexer::Backlog>, usize)> {
        let mut state = handle.write();
        if !state.loaded {
            return None;
        }
        if !delta.inserted.is_empty() {
            let dim = delta.inserted[0].2.len();
            let params = row.config.index_params();
            let tuning = self.tuning;
            let index = state
                .index
                .get_or_insert_with(|| VectorIndex::new(params, tuning, dim));
            let items: Vec<NewVector<'_>> = delta
                .inserted
                .iter()
                .map(|(slot, rec, v)| (*slot, *rec, v.as_slice()))
                .collect();
            index.insert(&items);
        }
        // Removals after insertions: a record written twice in one batch
        // removes a slot the same batch inserted.
        if !delta.removed.is_empty()
            && let Some(index) = state.index.as_mut()
        {
            index.remove(&delta.removed);
        }
        // A graph mostly of tombstones is rebuilt off the lock; searches
        // use the old graph meanwhile.
        if let Some(index) = state.index.as_mut()
            && index.wants_graph()
        {
            index.set_graph_pending();
            background::prepare_graph(
                handle,
                index.snapshot(),
                row.config.index_params(),
                row.id,
                None,
                None,
            );
        }
        let unindexed = state.index.as_ref().map_or(0, VectorIndex::unindexed);
        Some((state.backlog.clone(), unindexed))
    }

    /// Give a loaded index the collection's changed configuration.
    pub(crate) fn reconfigure(&self, row: &CollectionRow) {
        if let Some(handle) = self.indexes.lock().get(&row.seq)
            && let Some(index) = handle.write().index.as_mut()
        {
            index.set_params(row.config.index_params());
        }
    }

    /// Drop deleted collections' indexes (`(row number, id)`), in memory and
    /// on disk.
    pub(crate) fn forget(&self, gone: &[(i64, Uuid)]) {
        let mut indexes = self.indexes.lock();
        for (seq, id) in gone {
            // A search may hold the handle a moment longer; the memory is
            // freed with the last reference.
            drop(indexes.remove(seq));
            let dir = data_dir::collection_index_dir(&self.data_dir, *id);
            if let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove saved index");
            }
        }
        drop(indexes);
        background::release_free_memory();
    }

    /// Drop every index, in memory and on disk (after a reset).
    pub(crate) fn clear(&self) -> Result<()> {
        let mut indexes = self.indexes.lock();
        indexes.clear();
        match std::fs::remove_dir_all(data_dir::indexes_dir(&self.data_dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Save every HNSW graph that changed since its last save. Writers to a
    /// collection wait while its graph is written; searches go on. Returns
    /// how many were saved.
    pub(crate) fn save(&self) -> Result<usize> {
        let _one_saver = self.save_lock.lock();
        let handles: Vec<IndexHandle> = self.indexes.lock().values().cloned().collect();
        let mut saved = 0;
        for handle in handles {
            let state = handle.read();
            if let Some(index) = state.index.as_ref().filter(|i| i.needs_save()) {
                let started = std::time::Instant::now();
                index.save_graph(
                    &data_dir::graph_dir(&self.data_dir, state.id),
                    self.sealer.as_deref(),
                )?;
                tracing::debug!(collection = %state.id, vectors = index.len(), ms = started.elapsed().as_millis() as u64, "saved graph");
                saved += 1;
            }
        }
        Ok(saved)
    }
}
