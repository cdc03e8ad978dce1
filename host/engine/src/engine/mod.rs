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
    /// Held while the engine lives (`data_dir::lock_data_dir`).
    _lock: std::fs::File,
}

/// Free pages (4 MiB) past which deletes hand space back to the file system.
const GIVE_BACK_MIN_PAGES: i64 = 1024;
/// Pages given back per step, holding the writer (64 MiB, well under a second).
const GIVE_BACK_STEP_PAGES: i64 = 16_384;

/// Give up to `pages` free pages back. SQLite frees one page per step of
/// the statement, so every step is taken.
fn incremental_vacuum(conn: &Connection, pages: i64) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

impl Engine {
    /// Open (or create) the store in `options.data_dir`, and start saving
    /// changed graphs every `options.save_interval`.
    pub fn open(options: EngineOptions) -> Result<Self> {
        check_data_dir(&options.data_dir)?;
        let lock = data_dir::lock_data_dir(&options.data_dir)?;
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
            .map(|i| {
                store::open(&path, store::reader_cache_kib(i, db_key.is_some()), db_key)
                    .map(Mutex::new)
            })
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
            _lock: lock,
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

    /// Hand the pages deletes freed back to the file system, when more than
    /// [`GIVE_BACK_MIN_PAGES`] are free: SQLite otherwise keeps them in the
    /// file for later writes, and a deleted collection's space would stay
    /// taken for good. A step at a time, so writes go on between steps. Only
    /// databases created with incremental auto-vacuum (`store::open` sets it
    /// on a new file) can give pages back; in older ones freed pages are
    /// reused by later writes.
    pub(crate) fn give_back_space(&self) {
        loop {
            let conn = self.writer.lock();
            let free = conn
                .query_row("PRAGMA auto_vacuum", [], |r| r.get::<_, i64>(0))
                .and_then(|mode| {
                    if mode != store::AUTO_VACUUM_INCREMENTAL {
                        return Ok(0);
                    }
                    conn.query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0))
                });
            match free {
                Ok(free) if free >= GIVE_BACK_MIN_PAGES => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the database's free pages");
                    return;
                }
            }
            if let Err(e) = incremental_vacuum(&conn, GIVE_BACK_STEP_PAGES) {
                // The pages stay free in the file and are reused by writes.
                tracing::warn!(error = %e, "cannot give freed pages back to the file system");
                return;
            }
        }
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
        self.indexes.clear()?;
        self.give_back_space();
        Ok(())
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
