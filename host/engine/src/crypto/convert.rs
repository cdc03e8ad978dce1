//! `prism encrypt` and `prism decrypt`: a plain directory made encrypted and
//! back, with the server stopped. Both copy the database with
//! `sqlcipher_export` into a scratch file beside it and rename that over
//! `prism.sqlite3`; that rename is the moment the directory changes kind.
//! The envelope's [`DirState`] says an operation is under way, so that
//! [`unlock`](super::unlock::unlock) can tell, after a crash, whether the
//! rename happened (finish) or not (roll back): the directory always opens,
//! either plain or with the key, and holds every record.

use std::path::Path;

use rusqlite::Connection;

use super::envelope::{DirState, Envelope, replace_file, sync_dir};
use super::sealed_file::Sealer;
use super::unlock::{
    DbKey, DbKind, database_kind, graph_files, remove_scratch, unwrap_data_keys, working_key,
};
use super::{CryptoError, SecretKey};
use crate::data_dir::DB_FILE;

/// Where an operation is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// Copying the database: pages done of all.
    Database { done: u64, total: u64 },
    /// Rewriting saved graph files: done of all.
    Graphs { done: usize, total: usize },
}

fn io(what: &str, path: &Path) -> impl Fn(std::io::Error) -> CryptoError {
    let msg = format!("{what} {}", path.display());
    move |e| CryptoError::Envelope(format!("{msg}: {e}"))
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> CryptoError {
    let shown = path.display().to_string();
    move |e| CryptoError::Envelope(format!("{shown}: {e}"))
}

/// Open `db` (keyed when `key` is given) for a key operation: alone, so a
/// server still running on the directory is refused rather than raced, and
/// with the write-ahead log folded into the file.
pub(crate) fn open_alone(db: &Path, key: Option<&DbKey>) -> Result<Connection, CryptoError> {
    let err = sql(db);
    let conn = Connection::open(db).map_err(&err)?;
    if let Some(key) = key {
        key.apply(&conn).map_err(&err)?;
    }
    // A server holds a shared lock on the database file while it runs; in
    // exclusive locking mode the first write needs an exclusive one.
    conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE;")
        .map_err(&err)?;
    let alone = conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;");
    if let Err(e) = alone {
        return Err(match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                CryptoError::Busy(format!(
                    "{} is in use (a server is running on it?): stop the server first",
                    db.display()
                ))
            }
            _ => err(e),
        });
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(&err)?;
    Ok(conn)
}

/// Copy the database open on `conn` into a new file `dest` keyed with
/// `dest_key` (plain without), durably; `dest` must not exist.
pub(crate) fn export(
    conn: &Connection,
    dest: &Path,
    dest_key: Option<&DbKey>,
    progress: &mut dyn FnMut(Step),
) -> Result<(), CryptoError> {
    let err = sql(dest);
    let _ = std::fs::remove_file(dest);
    let total: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(&err)?;
    let total = total.max(0) as u64;
    progress(Step::Database { done: 0, total });
    let key = match dest_key {
        Some(key) => key.attach_clause(),
        None => zeroize::Zeroizing::new("KEY ''".to_string()),
    };
    let path = dest
        .to_str()
        .ok_or_else(|| CryptoError::Envelope(format!("{} is not a UTF-8 path", dest.display())))?;
    conn.execute(
        &format!("ATTACH DATABASE ?1 AS prism_out {}", key.as_str()),
        [path],
    )
    .map_err(&err)?;
    let copied = (|| {
        let version: i64 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
        conn.query_row("SELECT sqlcipher_export('prism_out')", [], |_| Ok(()))?;
        conn.execute_batch(&format!("PRAGMA prism_out.user_version = {version};"))
    })();
    let detached = conn.execute_batch("DETACH DATABASE prism_out;");
    copied.and(detached).map_err(&err)?;
    std::fs::File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(io("cannot sync", dest))?;
    progress(Step::Database { done: total, total });
    Ok(())
}

/// Put the finished copy `scratch` in the database's place: the commit
/// point of every operation that copies the database.
pub(crate) fn swap_in(dir: &Path, conn: Connection, scratch: &Path) -> Result<(), CryptoError> {
    let db = dir.join(DB_FILE);
    conn.close().map_err(|(_, e)| sql(&db)(e))?;
    // The log was checkpointed; a log of the old file beside the new one
    // would be replayed into it.
    for extra in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(dir.join(format!("{DB_FILE}{extra}")));
    }
    std::fs::rename(scratch, &db).map_err(io("cannot rename", scratch))?;
    sync_dir(dir).map_err(io("cannot sync", dir))
}

/// Rewrite every saved graph file: opened with `from` (plain when `None`),
/// written with `to`. A file that does not open is removed (rebuilt from the
/// database at load).
pub(crate) fn rewrite_graphs(
    dir: &Path,
    from: Option<&Sealer>,
    to: Option<&Sealer>,
    progress: &mut dyn FnMut(Step),
) -> Result<(), CryptoError> {
    let files = graph_files(dir);
    let total = files.len();
    for (done, (path, name)) in files.into_iter().enumerate() {
        progress(Step::Graphs { done, total });
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let plain = match from {
            Some(sealer) => sealer.open(&name, &bytes).ok(),
            None => (!Sealer::is_sealed(&bytes)).then_some(bytes),
        };
        let Some(plain) = plain else {
            std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
            continue;
        };
        let out = match to {
            Some(sealer) => sealer.seal(&name, &plain)?,
            None => plain,
        };
        replace_file(&path, &out).map_err(io("cannot write", &path))?;
    }
    progress(Step::Graphs { done: total, total });
    Ok(())
}

/// Turn the plain directory `dir` into one encrypted under `kek`.
pub fn encrypt(
    dir: &Path,
    kek: &SecretKey,
    progress: &mut dyn FnMut(Step),
) -> Result<(), CryptoError> {
    let name = dir.display().to_string();
    let db = dir.join(DB_FILE);
    if let Some(envelope) = Envelope::read(dir)? {
        let interrupted =
            envelope.state == DirState::Encrypting && database_kind(&db) == DbKind::Plain;
        if !interrupted {
            return Err(CryptoError::Envelope(format!(
                "{name} is already encrypted (it holds prism.keys)"
            )));
        }
    }
    if database_kind(&db) != DbKind::Plain {
        return Err(CryptoError::Envelope(format!(
            "{name} holds no Prism database ({DB_FILE}) to encrypt: start `prism run --encryption-key-file` on an empty directory instead"
        )));
    }
    remove_scratch(dir);
    let conn = open_alone(&db, None)?;
    let data_key = SecretKey::random()?;
    let db_key = DbKey::of(&data_key);
    let mut envelope = Envelope::new(DirState::Encrypting);
    envelope.wrap(kek, &data_key)?;
    envelope.write(dir)?;
    let scratch = dir.join(format!("{DB_FILE}.encrypting"));
    export(&conn, &scratch, Some(&db_key), progress)?;
    swap_in(dir, conn, &scratch)?;
    let sealer = Sealer::new(&[&data_key]);
    rewrite_graphs(dir, None, Some(&sealer), progress)?;
    envelope.state = DirState::Encrypted;
    envelope.write(dir)
}

/// Turn the encrypted directory `dir` (opened by `kek`) into a plain one.
pub fn decrypt(
    dir: &Path,
    kek: &SecretKey,
    key_file: Option<&Path>,
    progress: &mut dyn FnMut(Step),
) -> Result<(), CryptoError> {
    let name = dir.display().to_string();
    let db = dir.join(DB_FILE);
    if Envelope::read(dir)?.is_none() {
        return Err(CryptoError::Envelope(format!(
            "{name} is not encrypted (it has no prism.keys)"
        )));
    }
    // Settles any interrupted operation first, and checks the key.
    let super::unlock::DirKeys::Encrypted(unlocked) =
        super::unlock::unlock(dir, Some(kek), key_file)?
    else {
        return Err(CryptoError::Envelope(format!("{name} is not encrypted")));
    };
    let mut envelope = Envelope::read(dir)?.expect("unlocked directories have an envelope");
    if database_kind(&db) == DbKind::Absent {
        rewrite_graphs(dir, Some(&unlocked.sealer), None, progress)?;
        return Envelope::remove(dir).map_err(io("cannot remove prism.keys in", dir));
    }
    let conn = open_alone(&db, Some(&unlocked.db_key))?;
    envelope.state = DirState::Decrypting;
    envelope.write(dir)?;
    let scratch = dir.join(format!("{DB_FILE}.decrypting"));
    export(&conn, &scratch, None, progress)?;
    swap_in(dir, conn, &scratch)?;
    rewrite_graphs(dir, Some(&unlocked.sealer), None, progress)?;
    Envelope::remove(dir).map_err(io("cannot remove prism.keys in", dir))
}

/// The data key of the database in `dir` among those `kek` unwraps.
pub(crate) fn open_data_keys(
    dir: &Path,
    envelope: &Envelope,
    kek: &SecretKey,
    key_file: Option<&Path>,
) -> Result<(Vec<SecretKey>, usize), CryptoError> {
    let name = dir.display().to_string();
    let keys = unwrap_data_keys(envelope, &name, kek, key_file)?;
    let working = match database_kind(&dir.join(DB_FILE)) {
        DbKind::Absent => 0,
        _ => working_key(&dir.join(DB_FILE), &keys)
            .map_err(|detail| CryptoError::DatabaseKeyMismatch { dir: name, detail })?,
    };
    Ok((keys, working))
}
