//! [`Engine`]: the API the HTTP layer calls. It owns the SQLite connections and
//! the per-collection vector indexes and keeps the two consistent: a write is
//! committed to SQLite first, then applied to a loaded index while the writer
//! lock is still held, so index changes happen in commit order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard, RwLock};
use rusqlite::{Connection, TransactionBehavior};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::collection_config::{CreateConfiguration, StoredConfiguration, UpdateConfiguration};
use crate::error::{EngineError, Result};
use crate::filter::{Filter, parse_where, parse_where_document};
use crate::index::{IndexTuning, NewVector, Snapshot, VectorIndex};
use crate::store::catalog::{self, CollectionKey, CollectionRow};
use crate::store::records::{self, IndexDelta, Selection};
use crate::store::{self, schema};
use crate::types::{
    Collection, Database, GetResult, Include, QueryResult, RecordBatch, Tenant, WriteKind,
};
use crate::validate;

/// The SQLite file inside the data directory.
pub const DB_FILE: &str = "prism.sqlite3";
/// The directory (inside the data directory) of saved HNSW graphs.
const INDEX_DIR: &str = "index";
/// The file that marks a directory as Chroma's own; Prism refuses to use it.
const CHROMA_DB_FILE: &str = "chroma.sqlite3";

/// How to open an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Where `prism.sqlite3` lives; created when missing.
    pub data_dir: PathBuf,
    /// Whether `reset` may wipe everything.
    pub allow_reset: bool,
    /// Vector index tuning.
    pub tuning: IndexTuning,
    /// Number of read connections.
    pub readers: usize,
    /// Most results one query request may return (query embeddings times
    /// the `n_results` each gets), so that one request cannot exhaust memory.
    pub max_query_results: usize,
}

/// Default of [`EngineOptions::max_query_results`]: a thousand queries of a
/// thousand results, or every record of a million-record collection.
pub const DEFAULT_MAX_QUERY_RESULTS: usize = 1_000_000;

impl EngineOptions {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            allow_reset: false,
            tuning: IndexTuning::default(),
            readers: 8,
            max_query_results: DEFAULT_MAX_QUERY_RESULTS,
        }
    }
}

/// A get request, with filters still as JSON (the engine validates them).
#[derive(Debug, Clone, Default)]
pub struct GetRequest {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// `where` clause.
    pub where_clause: Option<Value>,
    /// `where_document` clause.
    pub where_document: Option<Value>,
    /// At most this many records.
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: u32,
    /// Fields to return.
    pub include: Include,
}

/// A nearest-neighbour query.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    /// One search per embedding.
    pub embeddings: Vec<Vec<f32>>,
    /// Hits per search.
    pub n_results: u32,
    /// Only among these ids.
    pub ids: Option<Vec<String>>,
    /// `where` clause.
    pub where_clause: Option<Value>,
    /// `where_document` clause.
    pub where_document: Option<Value>,
    /// Fields to return.
    pub include: Include,
}

/// A delete request.
#[derive(Debug, Clone, Default)]
pub struct DeleteRequest {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// `where` clause.
    pub where_clause: Option<Value>,
    /// `where_document` clause.
    pub where_document: Option<Value>,
    /// Delete at most this many.
    pub limit: Option<u32>,
}

/// A create-collection request.
#[derive(Debug, Clone, Default)]
pub struct NewCollection {
    /// Name, unique in its database.
    pub name: String,
    /// User metadata (legacy `hnsw:*` keys configure the index).
    pub metadata: Option<Map<String, Value>>,
    /// Index configuration.
    pub configuration: Option<CreateConfiguration>,
    /// A Chroma 1.x schema, returned as given.
    pub schema: Option<Value>,
    /// Return the existing collection instead of failing.
    pub get_or_create: bool,
}

/// A modify-collection request.
#[derive(Debug, Clone, Default)]
pub struct CollectionUpdate {
    /// Rename.
    pub new_name: Option<String>,
    /// Replace the metadata.
    pub new_metadata: Option<Map<String, Value>>,
    /// Change mutable configuration.
    pub new_configuration: Option<UpdateConfiguration>,
}

struct CollectionIndex {
    /// The collection's public id: names its directory of saved graphs.
    id: Uuid,
    loaded: bool,
    index: Option<VectorIndex>,
}

type IndexHandle = Arc<RwLock<CollectionIndex>>;

/// The database engine. Cheap to share behind an `Arc`; every method blocks
/// (call it from a blocking thread in async code).
pub struct Engine {
    options: EngineOptions,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    indexes: Mutex<HashMap<i64, IndexHandle>>,
    /// Saves of graphs never overlap (they share directories).
    save_lock: Mutex<()>,
}

/// Whether `dir` can be Prism's data directory: not Chroma's, writable
/// (created if missing). `Engine::open` checks this first; `prism config
/// check` uses it alone.
pub fn check_data_dir(dir: &Path) -> Result<()> {
    if dir.join(CHROMA_DB_FILE).exists() {
        return Err(EngineError::InvalidArgument(format!(
            "{} holds Chroma's own data ({CHROMA_DB_FILE}); Prism does not read Chroma's on-disk format. Point --path at an empty or Prism directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".prism-write-test");
    std::fs::write(&probe, b"ok").map_err(|e| {
        std::io::Error::new(e.kind(), format!("{} is not writable: {e}", dir.display()))
    })?;
    std::fs::remove_file(&probe)?;
    Ok(())
}

/// Validate a request's ids and parse its filters.
fn parse_selection(
    ids: Option<&[String]>,
    where_clause: Option<&Value>,
    where_document: Option<&Value>,
) -> Result<Option<Filter>> {
    if let Some(ids) = ids {
        check_ids(ids)?;
    }
    parse_filters(where_clause, where_document)
}

fn parse_filters(
    where_clause: Option<&Value>,
    where_document: Option<&Value>,
) -> Result<Option<Filter>> {
    let w = where_clause.map(parse_where).transpose()?.flatten();
    let d = where_document
        .map(parse_where_document)
        .transpose()?
        .flatten();
    Ok(Filter::and(w, d))
}

/// A filter may not use an index the collection's schema disabled.
fn check_schema(row: &CollectionRow, filter: Option<&Filter>) -> Result<()> {
    match (filter, &row.config.user_schema) {
        (Some(filter), Some(schema)) => crate::schema::check_filter(filter, schema),
        _ => Ok(()),
    }
}

fn check_ids(ids: &[String]) -> Result<()> {
    if ids.iter().any(String::is_empty) {
        return Err(EngineError::invalid(
            "Empty ID, ID must have at least one character",
        ));
    }
    Ok(())
}

fn validate_batch(kind: WriteKind, batch: &RecordBatch) -> Result<()> {
    let n = batch.len();
    let lengths_ok = batch.embeddings.as_ref().is_none_or(|c| c.len() == n)
        && batch.documents.as_ref().is_none_or(|c| c.len() == n)
        && batch.uris.as_ref().is_none_or(|c| c.len() == n)
        && batch.metadatas.as_ref().is_none_or(|c| c.len() == n);
    if !lengths_ok {
        return Err(EngineError::invalid(
            "Inconsistent number of IDs, embeddings, documents, URIs and metadatas",
        ));
    }
    check_ids(&batch.ids)?;
    if kind != WriteKind::Update {
        let complete = batch
            .embeddings
            .as_ref()
            .is_some_and(|e| e.iter().all(Option::is_some));
        if !complete && n > 0 {
            return Err(EngineError::invalid(
                "Embeddings are required for add and upsert",
            ));
        }
    }
    if let Some(embeddings) = &batch.embeddings {
        let mut dim = None;
        for e in embeddings.iter().flatten() {
            validate::validate_embedding(e).map_err(EngineError::InvalidArgument)?;
            if *dim.get_or_insert(e.len()) != e.len() {
                return Err(EngineError::invalid(
                    "Inconsistent dimensions in provided embeddings",
                ));
            }
        }
    }
    if let Some(metadatas) = &batch.metadatas {
        for (i, m) in metadatas.iter().enumerate() {
            if let Some(m) = m {
                // Chroma's message names the record, not the problem.
                validate::validate_record_metadata(m, kind != WriteKind::Add).map_err(|_| {
                    EngineError::invalid(format!(
                        "Validation error: metadatas: Invalid metadata at index {i}"
                    ))
                })?;
            }
        }
    }
    Ok(())
}

impl Engine {
    /// Open (or create) the store in `options.data_dir`.
    pub fn open(options: EngineOptions) -> Result<Self> {
        check_data_dir(&options.data_dir)?;
        let path = options.data_dir.join(DB_FILE);
        let mut writer = store::open(&path, store::WRITER_CACHE_KIB)?;
        schema::migrate(&mut writer)?;
        catalog::ensure_defaults(&writer)?;
        let readers = (0..options.readers.max(1))
            .map(|_| store::open(&path, store::READER_CACHE_KIB).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            options,
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            indexes: Mutex::new(HashMap::new()),
            save_lock: Mutex::new(()),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.options.data_dir
    }

    /// Whether reset is allowed.
    pub fn allow_reset(&self) -> bool {
        self.options.allow_reset
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        for conn in &self.readers {
            if let Some(guard) = conn.try_lock() {
                return guard;
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i].lock()
    }

    /// Run `f` in an immediate write transaction and commit it.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Where a collection's saved HNSW graph lives.
    fn graph_dir(&self, id: Uuid) -> PathBuf {
        self.options
            .data_dir
            .join(INDEX_DIR)
            .join(id.to_string())
            .join("graph")
    }

    /// Drop deleted collections' indexes, in memory and on disk.
    fn forget_indexes(&self, gone: &[(i64, Uuid)]) {
        let mut indexes = self.indexes.lock();
        for (seq, id) in gone {
            indexes.remove(seq);
            let dir = self.options.data_dir.join(INDEX_DIR).join(id.to_string());
            if let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove saved index");
            }
        }
    }

    /// Load (`from_saved`) or build a collection's HNSW graph on a
    /// background thread and attach it when ready; until then its searches
    /// use the graph it has, or exact search.
    fn prepare_graph_in_background(
        &self,
        handle: &IndexHandle,
        snapshot: Snapshot,
        params: crate::index::IndexParams,
        id: Uuid,
        from_saved: bool,
    ) {
        let handle = Arc::downgrade(handle);
        let dir = from_saved.then(|| self.graph_dir(id));
        let spawned = std::thread::Builder::new().name("prism-graph".into()).spawn(move || {
            let started = std::time::Instant::now();
            let pending = crate::index::PendingGraph::prepare(params, snapshot, dir.as_deref());
            // The collection may have been deleted meanwhile.
            let Some(handle) = handle.upgrade() else { return };
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

    /// Save every HNSW graph that changed since its last save, so a restart
    /// loads graphs instead of rebuilding them. Writers to a collection wait
    /// while its graph is written; searches go on. Returns how many were saved.
    pub fn save_indexes(&self) -> Result<usize> {
        let _one_saver = self.save_lock.lock();
        let handles: Vec<IndexHandle> = self.indexes.lock().values().cloned().collect();
        let mut saved = 0;
        for handle in handles {
            let state = handle.read();
            if let Some(index) = state.index.as_ref().filter(|i| i.needs_save()) {
                let started = std::time::Instant::now();
                index.save_graph(&self.graph_dir(state.id))?;
                tracing::debug!(collection = %state.id, vectors = index.len(), ms = started.elapsed().as_millis() as u64, "saved graph");
                saved += 1;
            }
        }
        Ok(saved)
    }

    // ---- system ----

    /// Wipe all data (only with `allow_reset`).
    pub fn reset(&self) -> Result<()> {
        if !self.options.allow_reset {
            return Err(EngineError::ResetDisabled);
        }
        self.write(catalog::wipe)?;
        let mut indexes = self.indexes.lock();
        indexes.clear();
        match std::fs::remove_dir_all(self.options.data_dir.join(INDEX_DIR)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Save changed graphs and checkpoint the WAL into the main database file
    /// (on shutdown).
    pub fn flush(&self) -> Result<()> {
        // A graph that cannot be saved is rebuilt from SQLite at next start.
        if let Err(e) = self.save_indexes() {
            tracing::warn!(error = %e, "saving vector indexes failed");
        }
        self.writer
            .lock()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    // ---- tenants and databases ----

    /// Create a tenant.
    pub fn create_tenant(&self, name: &str) -> Result<()> {
        validate::validate_tenant_name(name)?;
        self.write(|c| catalog::create_tenant(c, name))
    }

    /// Read a tenant.
    pub fn get_tenant(&self, name: &str) -> Result<Tenant> {
        catalog::get_tenant(&self.reader(), name)
    }

    /// Set a tenant's resource name.
    pub fn update_tenant(&self, name: &str, resource_name: &str) -> Result<()> {
        self.write(|c| catalog::update_tenant(c, name, resource_name))
    }

    /// Create a database in a tenant.
    pub fn create_database(&self, tenant: &str, name: &str) -> Result<()> {
        validate::validate_database_name(name)?;
        self.write(|c| catalog::create_database(c, tenant, name))
    }

    /// Read a database.
    pub fn get_database(&self, tenant: &str, name: &str) -> Result<Database> {
        catalog::get_database(&self.reader(), tenant, name)
    }

    /// List a tenant's databases.
    pub fn list_databases(
        &self,
        tenant: &str,
        limit: Option<u32>,
        offset: u32,
    ) -> Result<Vec<Database>> {
        catalog::list_databases(&self.reader(), tenant, limit, offset)
    }

    /// Delete a database with all its collections.
    pub fn delete_database(&self, tenant: &str, name: &str) -> Result<()> {
        let gone = self.write(|c| catalog::delete_database(c, tenant, name))?;
        self.forget_indexes(&gone);
        Ok(())
    }

    // ---- collections ----

    /// Create a collection (or return the existing one with `get_or_create`).
    pub fn create_collection(
        &self,
        tenant: &str,
        database: &str,
        new: NewCollection,
    ) -> Result<Collection> {
        let NewCollection {
            name,
            metadata,
            configuration,
            schema,
            get_or_create,
        } = new;
        let name = name.as_str();
        validate::validate_name("name", name)?;
        let metadata = metadata
            .map(|m| validate::collection_metadata("metadata", m))
            .transpose()?
            .flatten();
        let config = StoredConfiguration::for_create(
            configuration.as_ref(),
            metadata.as_ref(),
            schema.as_ref().filter(|s| s.is_object()),
        )?;
        let row = self.write(|c| {
            match catalog::get_collection(c, tenant, database, CollectionKey::Name(name)) {
                Ok(existing) if get_or_create => Ok(existing),
                Ok(_) => Err(EngineError::AlreadyExists(format!(
                    "Collection [{name}] already exists"
                ))),
                Err(EngineError::NotFound(_)) => {
                    catalog::insert_collection(c, tenant, database, name, &metadata, &config)
                }
                Err(e) => Err(e),
            }
        })?;
        Ok(row.to_collection())
    }

    fn collection(
        &self,
        tenant: &str,
        database: &str,
        key: CollectionKey<'_>,
    ) -> Result<CollectionRow> {
        catalog::get_collection(&self.reader(), tenant, database, key)
    }

    /// The name of the collection `id` in a tenant and database.
    pub fn collection_name(&self, tenant: &str, database: &str, id: Uuid) -> Result<String> {
        Ok(self
            .collection(tenant, database, CollectionKey::Id(id))?
            .name)
    }

    /// Read a collection by name or id.
    pub fn get_collection(
        &self,
        tenant: &str,
        database: &str,
        key: CollectionKey<'_>,
    ) -> Result<Collection> {
        Ok(self.collection(tenant, database, key)?.to_collection())
    }

    /// List a database's collections.
    pub fn list_collections(
        &self,
        tenant: &str,
        database: &str,
        limit: Option<u32>,
        offset: u32,
    ) -> Result<Vec<Collection>> {
        let rows = catalog::list_collections(&self.reader(), tenant, database, limit, offset)?;
        Ok(rows.iter().map(CollectionRow::to_collection).collect())
    }

    /// Count a database's collections.
    pub fn count_collections(&self, tenant: &str, database: &str) -> Result<u64> {
        catalog::count_collections(&self.reader(), tenant, database)
    }

    /// Rename a collection, replace its metadata, or change its configuration.
    pub fn update_collection(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        update: CollectionUpdate,
    ) -> Result<()> {
        if let Some(name) = &update.new_name {
            validate::validate_name("new_name", name)?;
        }
        let new_metadata = update
            .new_metadata
            .clone()
            .map(|m| validate::collection_metadata("new_metadata", m))
            .transpose()?;
        let row = self.write(|c| {
            let mut row = catalog::get_collection(c, tenant, database, CollectionKey::Id(id))?;
            if let Some(name) = &update.new_name {
                row.name = name.clone();
            }
            if let Some(m) = &new_metadata {
                row.metadata = m.clone();
            }
            if let Some(cfg) = &update.new_configuration {
                row.config.apply_update(cfg)?;
            }
            catalog::save_collection(c, &row)?;
            Ok(row)
        })?;
        if let Some(handle) = self.indexes.lock().get(&row.seq)
            && let Some(index) = handle.write().index.as_mut()
        {
            index.set_params(row.config.index_params());
        }
        Ok(())
    }

    /// Delete a collection by name.
    pub fn delete_collection(&self, tenant: &str, database: &str, name: &str) -> Result<()> {
        let gone = self.write(|c| {
            let row = catalog::get_collection(c, tenant, database, CollectionKey::Name(name))?;
            catalog::delete_collection_rows(c, row.seq)?;
            Ok((row.seq, row.id))
        })?;
        self.forget_indexes(&[gone]);
        Ok(())
    }

    // ---- records ----

    /// Add, update or upsert a batch. Returns once the batch is durable.
    pub fn write_records(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        kind: WriteKind,
        batch: &RecordBatch,
    ) -> Result<()> {
        validate_batch(kind, batch)?;
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = catalog::get_collection(&tx, tenant, database, CollectionKey::Id(id))?;
        let delta = records::write_batch(&tx, &row, kind, batch)?;
        tx.commit()?;
        self.apply_delta(&row, delta);
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
        let filter = parse_selection(
            request.ids.as_deref(),
            request.where_clause.as_ref(),
            request.where_document.as_ref(),
        )?;
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if filter.is_none() {
            if request.limit.is_some() {
                return Err(EngineError::invalid(
                    "Validation error: limit, where: limit can only be specified when a where clause is provided",
                ));
            }
            if request.ids.as_ref().is_some_and(Vec::is_empty) {
                return Err(EngineError::invalid(
                    "Validation error: ids, where: Either ids or where must be specified",
                ));
            }
        }
        let row = catalog::get_collection(&tx, tenant, database, CollectionKey::Id(id))?;
        check_schema(&row, filter.as_ref())?;
        if request.ids.is_none() && filter.is_none() {
            return Ok(0);
        }
        let selection = Selection {
            ids: request.ids.clone(),
            filter,
        };
        let (deleted, removed) = records::delete(&tx, row.seq, &selection, request.limit)?;
        tx.commit()?;
        self.apply_delta(
            &row,
            IndexDelta {
                removed,
                ..Default::default()
            },
        );
        Ok(deleted)
    }

    /// Apply a committed change to the collection's index, if it is loaded.
    /// Called with the writer lock held so changes land in commit order.
    fn apply_delta(&self, row: &CollectionRow, delta: IndexDelta) {
        let Some(handle) = self.indexes.lock().get(&row.seq).cloned() else {
            return;
        };
        let mut state = handle.write();
        if !state.loaded {
            return;
        }
        if !delta.removed.is_empty()
            && let Some(index) = state.index.as_mut()
        {
            index.remove(&delta.removed);
        }
        if !delta.inserted.is_empty() {
            let dim = delta.inserted[0].2.len();
            let params = row.config.index_params();
            let tuning = self.options.tuning;
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
        // A first graph, or one mostly of tombstones, is built off the lock;
        // searches use exact search or the old graph meanwhile.
        if let Some(index) = state.index.as_mut()
            && index.wants_graph()
        {
            index.set_graph_pending();
            self.prepare_graph_in_background(
                &handle,
                index.snapshot(),
                row.config.index_params(),
                row.id,
                false,
            );
        }
    }

    /// The collection's index, loading it from SQLite on first use.
    fn loaded_index(&self, row: &CollectionRow) -> Result<IndexHandle> {
        let handle = self
            .indexes
            .lock()
            .entry(row.seq)
            .or_insert_with(|| {
                Arc::new(RwLock::new(CollectionIndex {
                    id: row.id,
                    loaded: false,
                    index: None,
                }))
            })
            .clone();
        if handle.read().loaded {
            return Ok(handle);
        }
        let mut state = handle.write();
        if !state.loaded {
            let started = std::time::Instant::now();
            let vectors = records::all_vectors(&self.reader(), row.seq)?;
            if let Some((_, _, first)) = vectors.first() {
                let items: Vec<NewVector<'_>> = vectors
                    .iter()
                    .map(|(slot, rec, v)| (*slot, *rec, v.as_slice()))
                    .collect();
                let index = VectorIndex::from_vectors(
                    row.config.index_params(),
                    self.options.tuning,
                    first.len(),
                    &items,
                );
                if index.graph_pending() {
                    self.prepare_graph_in_background(
                        &handle,
                        index.snapshot(),
                        row.config.index_params(),
                        row.id,
                        true,
                    );
                }
                state.index = Some(index);
            }
            state.loaded = true;
            tracing::info!(collection = %row.id, vectors = vectors.len(), ms = started.elapsed().as_millis() as u64, "loaded vector index");
        }
        drop(state);
        Ok(handle)
    }

    /// Read records.
    pub fn get_records(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        request: &GetRequest,
    ) -> Result<GetResult> {
        let filter = parse_selection(
            request.ids.as_deref(),
            request.where_clause.as_ref(),
            request.where_document.as_ref(),
        )?;
        let conn = self.reader();
        let row = catalog::get_collection(&conn, tenant, database, CollectionKey::Id(id))?;
        check_schema(&row, filter.as_ref())?;
        let selection = Selection {
            ids: request.ids.clone(),
            filter,
        };
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

    /// Count records.
    pub fn count_records(&self, tenant: &str, database: &str, id: Uuid) -> Result<u64> {
        let conn = self.reader();
        let row = catalog::get_collection(&conn, tenant, database, CollectionKey::Id(id))?;
        records::count(&conn, row.seq)
    }

    /// How much of a collection its HNSW graph covers: `(indexed, total)`.
    /// Every acknowledged record is searchable at once (exactly); records
    /// count as unindexed while the collection's graph is still being built.
    pub fn indexing_progress(&self, tenant: &str, database: &str, id: Uuid) -> Result<(u64, u64)> {
        let row = self.collection(tenant, database, CollectionKey::Id(id))?;
        let total = records::count(&self.reader(), row.seq)?;
        let handle = self.loaded_index(&row)?;
        let state = handle.read();
        let pending = state.index.as_ref().is_some_and(VectorIndex::graph_pending);
        Ok(if pending { (0, total) } else { (total, total) })
    }

    /// Nearest neighbours of each query embedding.
    pub fn query(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        request: &QueryRequest,
    ) -> Result<QueryResult> {
        let filter = parse_selection(
            request.ids.as_deref(),
            request.where_clause.as_ref(),
            request.where_document.as_ref(),
        )?;
        let mut dim = None;
        for e in &request.embeddings {
            validate::validate_embedding(e).map_err(EngineError::InvalidArgument)?;
            if *dim.get_or_insert(e.len()) != e.len() {
                return Err(EngineError::invalid(
                    "Inconsistent dimensions in provided embeddings",
                ));
            }
        }
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
        if let Some(ids) = &request.ids {
            // Chroma fails a query naming an id that is not stored; do the
            // same, but as a client error rather than Chroma's 500.
            let missing = records::missing_ids(&self.reader(), row.seq, ids)?;
            if !missing.is_empty() {
                return Err(EngineError::invalid(format!(
                    "Error finding id: ids not found in collection: {}",
                    missing.join(", ")
                )));
            }
        }
        let selection = Selection {
            ids: request.ids.clone(),
            filter,
        };
        let restricted = selection.ids.is_some() || selection.filter.is_some();
        let handle = self.loaded_index(&row)?;
        let state = handle.read();
        let Some(index) = state.index.as_ref() else {
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
