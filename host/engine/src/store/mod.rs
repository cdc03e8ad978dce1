//! SQLite access: connections, schema, catalog (tenants, databases,
//! collections) and records. Functions here take a connection or transaction
//! and never touch the in-memory vector index.

pub(crate) mod catalog;
pub(crate) mod records;
pub(crate) mod schema;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::crypto::unlock::DbKey;
use crate::error::Result;

/// Page cache of the one writing connection: ingest rewrites the same index
/// pages batch after batch.
pub(crate) const WRITER_CACHE_KIB: i64 = 32_000;
/// Page cache of each reading connection. Readers mostly fetch a few rows
/// per request, and the kernel's page cache holds the file anyway; eight
/// readers at the writer's size would hold 256 MB (bench/compare.py's RSS).
pub(crate) const READER_CACHE_KIB: i64 = 4_000;
/// Page cache of the first readers of an encrypted database, which serve
/// most requests (`Engine::reader` takes the first free one): a page found
/// there is not decrypted again. The cache fills only as pages are read.
pub(crate) const ENCRYPTED_READER_CACHE_KIB: i64 = 64_000;
/// How many readers of an encrypted database get the larger cache.
const ENCRYPTED_WARM_READERS: usize = 2;

/// Page cache of reader `i` (0-based).
pub(crate) fn reader_cache_kib(i: usize, encrypted: bool) -> i64 {
    if encrypted && i < ENCRYPTED_WARM_READERS {
        ENCRYPTED_READER_CACHE_KIB
    } else {
        READER_CACHE_KIB
    }
}

/// `PRAGMA auto_vacuum` of a database that can give freed pages back.
pub(crate) const AUTO_VACUUM_INCREMENTAL: i64 = 2;

/// Open a connection with Prism's pragmas and a page cache of `cache_kib`.
/// WAL lets readers run beside the writer; `synchronous = FULL` makes a commit
/// durable before it is acknowledged. In an encrypted data directory `key`
/// opens the database (SQLCipher), before anything else reads it.
pub(crate) fn open(path: &Path, cache_kib: i64, key: Option<&DbKey>) -> Result<Connection> {
    let conn = Connection::open(path)?;
    if let Some(key) = key {
        key.apply(&conn)?;
    }
    conn.busy_timeout(Duration::from_secs(30))?;
    let page_count: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    if page_count == 0 {
        // Only a new database takes it, and before the switch to WAL: deletes
        // can then hand pages back to the file system (Engine::give_back_space).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // A checkpoint truncates the log back to this: a bulk write or a
    // collection's deletion would otherwise leave it at its largest.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    register_functions(&conn)?;
    Ok(conn)
}

/// The SQL functions Prism's queries and triggers call: the document
/// index's chunk functions, so any connection may write records, and
/// `prism_regexp(pattern, text)`: 1 when the Rust regex matches, 0 otherwise
/// (also for a NULL text), its compiled pattern cached per statement.
pub(crate) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    crate::filter::document_index::register_functions(conn)?;
    conn.create_scalar_function(
        "prism_regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let regex: Arc<Regex> = ctx.get_or_create_aux(0, |pattern| {
                Regex::new(pattern.as_str()?)
                    .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))
            })?;
            let text = ctx.get_raw(1);
            Ok(match text.as_str_or_null()? {
                Some(t) => regex.is_match(t),
                None => false,
            })
        },
    )
}
