//! The records half of [`Engine`]: writes, deletions, reads and
//! nearest-neighbour queries.

use rusqlite::TransactionBehavior;
use uuid::Uuid;

use super::Engine;
use crate::error::{EngineError, Result};
use crate::filter::Filter;
use crate::index::VectorIndex;
use crate::registry::IndexHandle;
use crate::requests::{DeleteRequest, GetRequest, QueryRequest, RowFilter};
use crate::store::catalog::{self, CollectionKey, CollectionRow};
use crate::store::records::{self, IndexDelta};
use crate::types::{GetResult, QueryResult, RecordBatch, WriteKind};
use crate::validate;

/// A filter may not use an index the collection's schema disabled.
fn check_schema(row: &CollectionRow, filter: Option<&Filter>) -> Result<()> {
    match (filter, &row.config.user_schema) {
        (Some(filter), Some(schema)) => crate::schema::check_filter(filter, schema),
        _ => Ok(()),
    }
}

impl Engine {
    /// Add, update or upsert a batch. Returns once the batch is durable.
    pub fn write_records(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        kind: WriteKind,
        batch: &RecordBatch,
    ) -> Result<()> {
        self.write_records_within(tenant, database, id, kind, batch, None)
    }

    /// [`Engine::write_records`] for a caller who sees only the records
    /// matching `rows`: the batch is refused whole
    /// ([`EngineError::RowFilterViolation`], nothing written) if it names an
    /// existing record outside `rows`, or if any record it writes (an
    /// update merged with what was stored) would end up outside.
    pub fn write_records_within(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        kind: WriteKind,
        batch: &RecordBatch,
        rows: Option<&RowFilter>,
    ) -> Result<()> {
        // Before the writer lock: a refused request must not hold up others.
        validate::validate_batch(kind, batch, &self.options.write_limits)?;
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = catalog::get_collection(&tx, tenant, database, CollectionKey::Id(id))?;
        if let Some(rows) = rows {
            let hidden = records::ids_outside(&tx, row.seq, &batch.ids, rows.filter())?;
            if !hidden.is_empty() {
                return Err(crate::requests::names_hidden(&hidden));
            }
        }
        let delta = records::write_batch(&tx, &row, kind, batch)?;
        if let Some(rows) = rows {
            // Dropping `tx` on the way out rolls the whole batch back.
            let outside = records::ids_outside(&tx, row.seq, &batch.ids, rows.filter())?;
            if !outside.is_empty() {
                return Err(crate::requests::leaves_outside(&outside));
            }
        }
        tx.commit()?;
        self.apply_to_index(&row, delta);
        Ok(())
    }

    /// Delete selected records; returns how many were deleted.
    pub fn delete_records(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        request: &DeleteRequest,
    ) -> Result<u64> {
        let filter = request.selector.parse()?;
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if filter.is_none() {
            if request.limit.is_some() {
                return Err(EngineError::invalid(
                    "Validation error: limit, where: limit can only be specified when a where clause is provided",
                ));
            }
            if request.selector.ids.as_ref().is_some_and(Vec::is_empty) {
                return Err(EngineError::invalid(
                    "Validation error: ids, where: Either ids or where must be specified",
                ));
            }
        }
        let row = catalog::get_collection(&tx, tenant, database, CollectionKey::Id(id))?;
        check_schema(&row, filter.as_ref())?;
        if request.selector.ids.is_none() && filter.is_none() {
            return Ok(0);
        }
        let selection = request.selector.selection(filter);
        let (deleted, removed) = records::delete(&tx, row.seq, &selection, request.limit)?;
        tx.commit()?;
        self.apply_to_index(
            &row,
            IndexDelta {
                removed,
                ..Default::default()
            },
        );
        drop(conn);
        self.give_back_space();
        Ok(deleted)
    }

    /// Read records.
    pub fn get_records(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        request: &GetRequest,
    ) -> Result<GetResult> {
        let filter = request.selector.parse()?;
        let conn = self.reader();
        let row = catalog::get_collection(&conn, tenant, database, CollectionKey::Id(id))?;
        check_schema(&row, filter.as_ref())?;
        let selection = request.selector.selection(filter);
        let records = records::get(
            &conn,
            row.seq,
            &selection,
            request.limit,
            request.offset,
            &request.include,
        )?;
        Ok(GetResult { records })
    }

    /// Count the records matching `rows` (all of them without).
    pub fn count_records_within(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        rows: Option<&RowFilter>,
    ) -> Result<u64> {
        let Some(rows) = rows else {
            return self.count_records(tenant, database, id);
        };
        let conn = self.reader();
        let row = catalog::get_collection(&conn, tenant, database, CollectionKey::Id(id))?;
        records::count_matching(&conn, row.seq, Some(rows.filter()))
    }

    /// Count records.
    pub fn count_records(&self, tenant: &str, database: &str, id: Uuid) -> Result<u64> {
        let conn = self.reader();
        let row = catalog::get_collection(&conn, tenant, database, CollectionKey::Id(id))?;
        records::count(&conn, row.seq)
    }

    /// How much of a collection its HNSW graph covers: `(indexed, total)`
    /// vectors. Every acknowledged vector is searchable at once (the ones
    /// outside the graph exactly); a collection small enough to be searched
    /// exactly counts as indexed.
    pub fn indexing_progress(&self, tenant: &str, database: &str, id: Uuid) -> Result<(u64, u64)> {
        let row = self.collection(tenant, database, CollectionKey::Id(id))?;
        let handle = self.loaded_index(&row)?;
        let state = handle.read();
        let (indexed, total) = state.index().map_or((0, 0), VectorIndex::progress);
        Ok((indexed as u64, total as u64))
    }

    /// The search breadth the collection's graph searches with, when it was
    /// chosen by measuring recall (the collection is at the default
    /// `ef_search`; `index::breadth`).
    pub fn search_breadth(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
    ) -> Result<Option<crate::index::SearchBreadth>> {
        let row = self.collection(tenant, database, CollectionKey::Id(id))?;
        let handle = self.loaded_index(&row)?;
        let state = handle.read();
        Ok(state.index().and_then(VectorIndex::measured_breadth))
    }

    /// Nearest neighbours of each query embedding.
    pub fn query(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        request: &QueryRequest,
    ) -> Result<QueryResult> {
        let filter = request.selector.parse()?;
        let dim = validate::query_embeddings(&request.embeddings)?;
        let row = self.collection(tenant, database, CollectionKey::Id(id))?;
        check_schema(&row, filter.as_ref())?;
        if let (Some(expected), Some(got)) = (row.dimension, dim)
            && expected as usize != got
        {
            return Err(EngineError::invalid(format!(
                "Collection expecting embedding with dimension of {expected}, got {got}"
            )));
        }
        let empty = || QueryResult {
            hits: vec![Vec::new(); request.embeddings.len()],
        };
        if request.n_results == 0 || row.dimension.is_none() {
            return Ok(empty());
        }
        if let Some(ids) = &request.selector.ids {
            // Chroma fails a query naming an id that is not stored; do the
            // same, but as a client error rather than Chroma's 500.
            let missing = self.missing_ids(&row, ids, request.selector.rows.as_ref())?;
            if !missing.is_empty() {
                return Err(EngineError::invalid(format!(
                    "Error finding id: ids not found in collection: {}",
                    missing.join(", ")
                )));
            }
        }
        let selection = request.selector.selection(filter);
        let restricted = selection.ids.is_some() || selection.filter.is_some();
        let handle = self.loaded_index(&row)?;
        let state = handle.read();
        let Some(index) = state.index() else {
            return Ok(empty());
        };
        let candidates = if restricted {
            Some(records::candidate_records(
                &self.reader(),
                row.seq,
                &selection,
            )?)
        } else {
            None
        };
        // `n_results` may be anything up to u32::MAX: a query never asks for
        // more than the vectors it searches, and the whole answer is bounded.
        let searched = candidates.as_ref().map_or(index.len(), Vec::len);
        let k = (request.n_results as usize).min(searched);
        let total = k.saturating_mul(request.embeddings.len());
        if total > self.options.max_query_results {
            return Err(EngineError::invalid(format!(
                "Query would return {total} results ({} query embeddings x {k}); the limit is {} per request. Ask for fewer n_results or send fewer query embeddings per request.",
                request.embeddings.len(),
                self.options.max_query_results
            )));
        }
        let slot_hits: Vec<Vec<(u32, f32)>> = request
            .embeddings
            .iter()
            .map(|q| index.search(q, k, candidates.as_deref()))
            .collect();
        drop(state);
        let mut wanted: Vec<u32> = slot_hits.iter().flatten().map(|(s, _)| *s).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let found = records::by_slots(&self.reader(), row.seq, &wanted, &request.include)?;
        let hits = slot_hits
            .into_iter()
            .map(|hits| {
                hits.into_iter()
                    .filter_map(|(slot, d)| found.get(&slot).map(|r| (r.clone(), d)))
                    .collect()
            })
            .collect();
        Ok(QueryResult { hits })
    }

    /// Which of `ids` a query may not name: not stored, or (with `rows`)
    /// stored but outside the caller's rows, which must look the same.
    fn missing_ids(
        &self,
        row: &CollectionRow,
        ids: &[String],
        rows: Option<&RowFilter>,
    ) -> Result<Vec<String>> {
        let conn = self.reader();
        let mut missing = records::missing_ids(&conn, row.seq, ids)?;
        if let Some(rows) = rows {
            missing.extend(records::ids_outside(&conn, row.seq, ids, rows.filter())?);
        }
        Ok(missing)
    }

    /// Apply a committed change to the collection's index (writer lock held).
    fn apply_to_index(&self, row: &CollectionRow, delta: IndexDelta) {
        self.indexes
            .apply(row, delta, || self.stored_vectors(row.seq));
    }

    /// The collection's index, loading it from SQLite on first use.
    fn loaded_index(&self, row: &CollectionRow) -> Result<IndexHandle> {
        self.indexes.loaded(row, || self.stored_vectors(row.seq))
    }

    /// Every stored vector of a collection, read by several connections at
    /// once when there are many: loading the index is what a restart waits
    /// for before its first answer, and reading through SQLCipher is
    /// bound by the CPU that decrypts the pages.
    fn stored_vectors(&self, coll: i64) -> Result<Vec<records::StoredVector>> {
        let reader = self.reader();
        let count = records::count(&reader, coll)?;
        let Some((first, last)) = records::record_key_range(&reader, coll)? else {
            return Ok(Vec::new());
        };
        let span = (last - first + 1) as u64;
        // Records interleaved with other collections' make a key range
        // scan read mostly rows it throws away: look them up by index.
        if span > count.saturating_mul(2) {
            return records::all_vectors(&reader, coll);
        }
        let parts =
            (count / VECTORS_PER_READ_PART).clamp(1, self.readers.len().min(cores()) as u64);
        if parts == 1 {
            return records::vectors_in_key_range(&reader, coll, first..=last);
        }
        drop(reader);
        let step = span.div_ceil(parts) as i64;
        let ranges: Vec<_> = (0..parts as i64)
            .map(|i| first + i * step..=(first + (i + 1) * step - 1).min(last))
            .collect();
        let read: Vec<Result<Vec<records::StoredVector>>> = std::thread::scope(|s| {
            let parts: Vec<_> = ranges
                .into_iter()
                .map(|keys| {
                    s.spawn(move || records::vectors_in_key_range(&self.reader(), coll, keys))
                })
                .collect();
            parts
                .into_iter()
                .map(|p| p.join().expect("a vector reading thread panicked"))
                .collect()
        });
        let mut vectors = Vec::with_capacity(count as usize);
        for part in read {
            vectors.extend(part?);
        }
        Ok(vectors)
    }
}

/// How many records one connection reads while loading an index before a
/// second one is worth starting.
const VECTORS_PER_READ_PART: u64 = 20_000;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
