//! The layout of Prism's data directory: the SQLite file, the saved graphs
//! beside it, and the check that a directory can hold them.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::error::{EngineError, Result};

/// The SQLite file inside the data directory.
pub const DB_FILE: &str = "prism.sqlite3";
/// The directory (inside the data directory) of saved HNSW graphs.
const INDEX_DIR: &str = "index";
/// The file that marks a directory as Chroma's own; Prism refuses to use it.
const CHROMA_DB_FILE: &str = "chroma.sqlite3";

/// Whether `dir` can be Prism's data directory: not Chroma's, writable
/// (created if missing). `Engine::open` checks this first; `prism config
/// check` uses it alone.
/// Held (an advisory lock) by the process that has the data directory open.
pub const LOCK_FILE: &str = "prism.lock";

/// Take the data directory for this process: two processes writing one
/// directory would each serve from graphs that miss the other's writes.
/// The lock goes with the process, however it ends.
pub fn lock_data_dir(dir: &Path) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::InUse(format!(
            "{} is in use by another Prism process (a server or an import); stop it first, or talk to that server over HTTP",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

pub fn check_data_dir(dir: &Path) -> Result<()> {
    if dir.join(CHROMA_DB_FILE).exists() {
        return Err(EngineError::InvalidArgument(format!(
            "{} holds Chroma's own data ({CHROMA_DB_FILE}); Prism does not read Chroma's on-disk format. Point --path at an empty or Prism directory; to bring its data, serve it with `chroma run --path {}` and run `prism import --from http://localhost:8000` (docs/IMPORT.md)",
            dir.display(),
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".prism-write-test");
    match std::fs::write(&probe, b"ok").map_err(EngineError::Io) {
        Ok(()) => std::fs::remove_file(&probe)?,
        // Writable, but full: start anyway, to serve reads (writes are 507
        // until space is freed).
        Err(e) if e.is_storage_full() => {
            let _ = std::fs::remove_file(&probe);
            tracing::warn!(dir = %dir.display(), error = %e, "the disk holding the data directory is full: reads are served, writes fail until space is freed");
        }
        Err(EngineError::Io(e)) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("{} is not writable: {e}", dir.display()),
            )
            .into());
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// SQLite's write-ahead log of [`DB_FILE`], beside it.
const WAL_FILE: &str = "prism.sqlite3-wal";
/// Length of a write-ahead log's header.
const WAL_HEADER_LEN: usize = 32;

/// Check the database files before SQLite opens them, for the damage SQLite
/// cannot see. A zero-length database file beside a write-ahead log that
/// holds writes is a truncated database: SQLite would take it for a new,
/// empty one and serve an empty store, so Prism refuses to start. A
/// write-ahead log whose header is damaged is ignored by SQLite (its writes
/// are lost, the database file is consistent); that is logged as a warning.
pub(crate) fn check_database_files(dir: &Path) -> Result<()> {
    let db = dir.join(DB_FILE);
    let wal = dir.join(WAL_FILE);
    let Ok(db_len) = std::fs::metadata(&db).map(|m| m.len()) else {
        return Ok(()); // a new data directory
    };
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if db_len == 0 && wal_len > WAL_HEADER_LEN as u64 {
        return Err(EngineError::Internal(format!(
            "the database file {} is empty but its write-ahead log {} holds {wal_len} bytes: the database file was truncated or replaced, and opening it would lose every record. {RESTORE}",
            db.display(),
            wal.display()
        )));
    }
    if wal_len >= WAL_HEADER_LEN as u64 {
        let mut header = [0u8; WAL_HEADER_LEN];
        let read = std::fs::File::open(&wal)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
        if read.is_ok() && !wal_header_is_valid(&header) {
            tracing::warn!(
                wal = %wal.display(),
                bytes = wal_len,
                "the write-ahead log's header is damaged: SQLite ignores the log, so writes in it that were not yet copied into the database file are lost; the database file itself is consistent"
            );
        }
    }
    Ok(())
}

/// Whether a write-ahead log header is one SQLite accepts: its magic number,
/// format version and checksum (SQLite's `walIndexRecover`).
fn wal_header_is_valid(header: &[u8; WAL_HEADER_LEN]) -> bool {
    let word = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let magic = word(0);
    if magic & !1 != 0x377f_0682 || word(4) != 3_007_000 {
        return false;
    }
    // Words are summed in the byte order the magic number names.
    let big_endian = magic & 1 == 1;
    let (mut s0, mut s1) = (0u32, 0u32);
    for pair in header[..24].chunks_exact(8) {
        let read = |b: &[u8]| {
            let b: [u8; 4] = b.try_into().expect("4 bytes");
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s0 = s0.wrapping_add(read(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(read(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1) == (word(24), word(28))
}

/// What to do about a damaged database, in every message that reports one.
const RESTORE: &str = "Prism will not start on it: restore the data directory from a backup, or move it aside to start with an empty one";

/// A failure to open the database in `dir`, said in terms of its file when
/// SQLite found it damaged or not a database at all; other errors unchanged.
pub(crate) fn database_open_failure(dir: &Path, err: EngineError) -> EngineError {
    let EngineError::Storage(rusqlite::Error::SqliteFailure(e, message)) = &err else {
        return err;
    };
    if !matches!(
        e.code,
        rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
    ) {
        return err;
    }
    let db = dir.join(DB_FILE);
    let what = message.clone().unwrap_or_else(|| e.to_string());
    EngineError::Internal(format!(
        "the database file {} is damaged (SQLite: {what}). {RESTORE}",
        db.display()
    ))
}

/// The directory of every collection's saved index files.
pub(crate) fn indexes_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(INDEX_DIR)
}

/// The directory of one collection's saved index files.
pub(crate) fn collection_index_dir(data_dir: &Path, id: Uuid) -> PathBuf {
    indexes_dir(data_dir).join(id.to_string())
}

/// Where a collection's saved HNSW graph lives.
pub(crate) fn graph_dir(data_dir: &Path, id: Uuid) -> PathBuf {
    collection_index_dir(data_dir, id).join("graph")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as SQLite writes it (little-endian checksums).
    fn header() -> [u8; WAL_HEADER_LEN] {
        let mut h = [0u8; WAL_HEADER_LEN];
        let words = [0x377f_0682u32, 3_007_000, 4096, 0, 0x1234_5678, 0x9abc_def0];
        for (i, w) in words.iter().enumerate() {
            h[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        let (mut s0, mut s1) = (0u32, 0u32);
        for pair in h[..24].chunks_exact(8) {
            s0 = s0
                .wrapping_add(u32::from_le_bytes(pair[..4].try_into().unwrap()))
                .wrapping_add(s1);
            s1 = s1
                .wrapping_add(u32::from_le_bytes(pair[4..].try_into().unwrap()))
                .wrapping_add(s0);
        }
        h[24..28].copy_from_slice(&s0.to_be_bytes());
        h[28..32].copy_from_slice(&s1.to_be_bytes());
        h
    }

    #[test]
    fn a_wal_header_is_checked_like_sqlite_does() {
        assert!(wal_header_is_valid(&header()));
        for at in 0..WAL_HEADER_LEN {
            let mut h = header();
            h[at] ^= 0x04;
            assert!(!wal_header_is_valid(&h), "byte {at}");
        }
        assert!(!wal_header_is_valid(&[0; WAL_HEADER_LEN]));
    }

    #[test]
    fn a_real_wal_header_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let bytes = std::fs::read(dir.path().join(WAL_FILE)).unwrap();
        assert!(wal_header_is_valid(
            &bytes[..WAL_HEADER_LEN].try_into().unwrap()
        ));
        assert!(check_database_files(dir.path()).is_ok());
    }

    #[test]
    fn an_emptied_database_beside_a_wal_is_refused_and_damage_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_database_files(dir.path()).is_ok(), "new directory");
        std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
        assert!(check_database_files(dir.path()).is_ok(), "no log");
        std::fs::write(dir.path().join(WAL_FILE), vec![7u8; 5000]).unwrap();
        let err = check_database_files(dir.path()).unwrap_err().to_string();
        assert!(err.contains("prism.sqlite3 is empty"), "{err}");

        std::fs::write(dir.path().join(DB_FILE), vec![b'x'; 8192]).unwrap();
        std::fs::remove_file(dir.path().join(WAL_FILE)).unwrap();
        let opened = rusqlite::Connection::open(dir.path().join(DB_FILE))
            .and_then(|c| c.pragma_update(None, "journal_mode", "WAL"));
        let err = database_open_failure(dir.path(), opened.unwrap_err().into()).to_string();
        assert!(err.contains("prism.sqlite3 is damaged"), "{err}");
        assert!(err.contains("file is not a database"), "{err}");
        let other = database_open_failure(dir.path(), EngineError::Internal("x".into()));
        assert_eq!(other.to_string(), "x");
    }
}
