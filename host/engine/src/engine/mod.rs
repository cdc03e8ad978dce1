//! [`Engine`]: the API the HTTP layer calls. It owns the SQLite connections and
//! the per-collection vector indexes and keeps the two consistent: a write is
//! committed to SQLite first, then applied to a loaded index while the writer
//! lock is still held, so index changes happen in commit order.
//!
//! The methods are grouped by what they work on: [`catalog`] (tenants,
//! databases, collections) and [`records`] (writes, reads, queries).

mod catalog;
mod records;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};
use rusqlite::{Connection, TransactionBehavior};

use crate::crypto::unlock::{DirKeys, unlock};
use crate::data_dir::{self, DB_FILE, check_data_dir};
use crate::error::{EngineError, Result};
use crate::options::EngineOptions;
use crate::registry::IndexRegistry;
use crate::registry::saver::Saver;
use crate::store::{self, catalog as store_catalog, schema};

/// The database engine. Cheap to share behind an `Arc`; every method blocks
/// (call it from a blocking thread in async code).
pub struct Engine {
    options: EngineOptions,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    indexes: Arc<IndexRegistry>,
    /// Saves changed graphs every `options.save_interval`, until `flush`.
    saver: Mutex<Option<Saver>>,
}

impl Engine {
    /// Open (or create) the store in `options.data_dir`, and start saving
    /// changed graphs every `options.save_interval`.
    pub fn open(options: EngineOptions) -> Result<Self> {
        check_data_dir(&options.data_dir)?;
        let encryption = options.encryption.as_ref();
        let (db_key, sealer) = match unlock(
            &options.data_dir,
            encryption.map(|e| &*e.key),
            encryption.map(|e| e.file.as_path()),
        )? {
            DirKeys::Plain => (None, None),
            DirKeys::Encrypted(unlocked) => {
                (Some(unlocked.db_key), Some(Arc::new(unlocked.sealer)))
            }
        };
        data_dir::check_database_files(&options.data_dir)?;
        let path = options.data_dir.join(DB_FILE);
        let damaged = |e| data_dir::database_open_failure(&options.data_dir, e);
        let db_key = db_key.as_ref();
        let mut writer = store::open(&path, store::WRITER_CACHE_KIB, db_key).map_err(damaged)?;
        schema::migrate(&mut writer).map_err(damaged)?;
        store_catalog::ensure_defaults(&writer).map_err(damaged)?;
        let readers = (0..options.readers.max(1))
            .map(|_| store::open(&path, store::READER_CACHE_KIB, db_key).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        let indexes = Arc::new(IndexRegistry::new(
            &options.data_dir,
            options.tuning,
            sealer,
        ));
        let saver = options
            .save_interval
            .and_then(|every| Saver::start(indexes.clone(), every));
        Ok(Self {
            options,
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            indexes,
            saver: Mutex::new(saver),
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

    /// Save every HNSW graph that changed since its last save, so a restart
    /// loads graphs instead of rebuilding them. Writers to a collection wait
    /// while its graph is written; searches go on. Returns how many were saved.
    pub fn save_indexes(&self) -> Result<usize> {
        self.indexes.save()
    }

    /// Wipe all data (only with `allow_reset`).
    pub fn reset(&self) -> Result<()> {
        if !self.options.allow_reset {
            return Err(EngineError::ResetDisabled);
        }
        self.write(store_catalog::wipe)?;
        self.indexes.clear()
    }

    /// Stop the periodic saver, save changed graphs and checkpoint the WAL
    /// into the main database file (on shutdown).
    pub fn flush(&self) -> Result<()> {
        drop(self.saver.lock().take());
        // A graph that cannot be saved is rebuilt from SQLite at next start.
        if let Err(e) = self.save_indexes() {
            tracing::warn!(error = %e, "saving vector indexes failed");
        }
        let checkpoint = self
            .writer
            .lock()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        if let Err(e) = checkpoint.map_err(EngineError::from) {
            if !e.is_storage_full() {
                return Err(e);
            }
            // Every acknowledged write is durable in the log already.
            tracing::warn!(error = %e, "the disk is full: the write-ahead log could not be copied into the database file at shutdown; nothing is lost, the next start reads it");
        }
        Ok(())
    }
}
