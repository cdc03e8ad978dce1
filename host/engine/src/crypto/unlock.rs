//! What a data directory is (plain or encrypted), which data key opens its
//! database, and the completion or rollback of a `prism encrypt`, `prism
//! decrypt` or `prism key rotate --reencrypt` that was killed half way.

use std::path::Path;

use rusqlite::Connection;
use zeroize::Zeroizing;

use super::envelope::{DirState, ENVELOPE_FILE, Envelope};
use super::sealed_file::Sealer;
use super::{CryptoError, SecretKey};
use crate::data_dir::DB_FILE;

/// Suffixes of the scratch databases the key operations write beside
/// `prism.sqlite3`; one left behind is an operation that did not commit.
pub(crate) const SCRATCH_SUFFIXES: [&str; 3] = [".encrypting", ".decrypting", ".rekey"];

/// How the engine opens a directory.
pub enum DirKeys {
    Plain,
    Encrypted(Unlocked),
}

/// An encrypted directory's keys, unwrapped.
pub struct Unlocked {
    /// Opens the database.
    pub(crate) db_key: DbKey,
    /// Seals files with the database's data key, opens files of any data
    /// key the envelope holds.
    pub(crate) sealer: Sealer,
}

impl std::fmt::Debug for Unlocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unlocked")
            .field("sealer", &self.sealer)
            .finish_non_exhaustive()
    }
}

/// SQLCipher's raw key for a data key: derived, so the database and the
/// sealed files never share key material; raw, so no PBKDF2 runs at open.
pub struct DbKey(Zeroizing<String>);

impl DbKey {
    pub(crate) fn of(data_key: &SecretKey) -> Self {
        let derived = data_key.derive("sqlcipher database");
        Self(Zeroizing::new(format!(
            "x'{}'",
            super::hex(derived.bytes())
        )))
    }

    /// Key `conn` (before anything reads it) and keep SQLite's temporary
    /// files in memory, where they are not written out in the clear.
    pub(crate) fn apply(&self, conn: &Connection) -> rusqlite::Result<()> {
        let sql = Zeroizing::new(format!("PRAGMA key = \"{}\";", self.0.as_str()));
        conn.execute_batch(&sql)?;
        conn.execute_batch("PRAGMA temp_store = MEMORY;")
    }

    /// `KEY '...'` of an `ATTACH` statement.
    pub(crate) fn attach_clause(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("KEY \"{}\"", self.0.as_str()))
    }
}

/// What the first bytes of the database file say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbKind {
    Absent,
    Plain,
    /// Not SQLite's header: SQLCipher's (or damage).
    Other,
}

pub(crate) fn database_kind(db: &Path) -> DbKind {
    use std::io::Read;
    let mut header = [0u8; 16];
    match std::fs::File::open(db).and_then(|mut f| f.read_exact(&mut header)) {
        Ok(()) if &header == b"SQLite format 3\0" => DbKind::Plain,
        Ok(()) => DbKind::Other,
        Err(_) => DbKind::Absent,
    }
}

/// Work out how to open `dir` with the key-encryption key `kek` (from
/// `key_file`, named in errors), finishing or rolling back an interrupted
/// key operation. A new directory given a key becomes an encrypted one.
pub fn unlock(
    dir: &Path,
    kek: Option<&SecretKey>,
    key_file: Option<&Path>,
) -> Result<DirKeys, CryptoError> {
    let name = dir.display().to_string();
    let db = dir.join(DB_FILE);
    let envelope = Envelope::read(dir)?;
    let kind = database_kind(&db);
    let Some(mut envelope) = envelope else {
        return match (kind, kek) {
            (DbKind::Absent, Some(kek)) => create(dir, kek).map(DirKeys::Encrypted),
            (DbKind::Plain, Some(_)) => Err(CryptoError::PlainDirectoryGivenKey { dir: name }),
            (DbKind::Other, Some(_)) => Err(CryptoError::EnvelopeMissing { dir: name }),
            // Damage, if anything: the engine's open says what.
            (_, None) => Ok(DirKeys::Plain),
        };
    };
    if kind == DbKind::Plain {
        return match (envelope.state, kek) {
            (DirState::Encrypting | DirState::Decrypting, Some(_)) => {
                Err(CryptoError::PlainDirectoryGivenKey { dir: name })
            }
            // `prism encrypt` did not get to replace the database: the
            // directory is still plain.
            (DirState::Encrypting, None) => {
                remove_scratch(dir);
                Envelope::remove(dir).map_err(|e| envelope_io(dir, e))?;
                tracing::warn!(dir = %name, "an interrupted `prism encrypt` was rolled back: the directory is plain");
                Ok(DirKeys::Plain)
            }
            // `prism decrypt` replaced the database: finish it. Graphs it
            // did not decrypt are rebuilt.
            (DirState::Decrypting, None) => {
                remove_scratch(dir);
                remove_graph_files(dir, Sealer::is_sealed);
                Envelope::remove(dir).map_err(|e| envelope_io(dir, e))?;
                tracing::warn!(dir = %name, "an interrupted `prism decrypt` was completed: the directory is plain");
                Ok(DirKeys::Plain)
            }
            (DirState::Encrypted, _) => Err(CryptoError::Envelope(format!(
                "{name} holds {ENVELOPE_FILE} but its database is plain: someone mixed an encrypted and a plain directory. Move {ENVELOPE_FILE} aside to serve it plain, or restore the directory from a backup"
            ))),
        };
    }
    let Some(kek) = kek else {
        return Err(CryptoError::KeyRequired { dir: name });
    };
    let data_keys = unwrap_data_keys(&envelope, &name, kek, key_file)?;
    remove_scratch(dir);
    let working = match kind {
        DbKind::Absent => 0,
        _ => working_key(&db, &data_keys).map_err(|detail| CryptoError::DatabaseKeyMismatch {
            dir: name.clone(),
            detail,
        })?,
    };
    match envelope.state {
        DirState::Encrypted => {}
        // The encrypted database is in place: drop the plain graphs that
        // were not encrypted yet (rebuilt from the database).
        DirState::Encrypting => {
            remove_graph_files(dir, |bytes| !Sealer::is_sealed(bytes));
            envelope.state = DirState::Encrypted;
            envelope.write(dir)?;
            tracing::warn!(dir = %name, "an interrupted `prism encrypt` was completed");
        }
        // The database is still encrypted: `prism decrypt` is undone. Any
        // graph it already wrote in the clear goes.
        DirState::Decrypting => {
            remove_graph_files(dir, |bytes| !Sealer::is_sealed(bytes));
            envelope.state = DirState::Encrypted;
            envelope.write(dir)?;
            tracing::warn!(dir = %name, "an interrupted `prism decrypt` was rolled back: the directory stays encrypted");
        }
    }
    if data_keys.len() > 1 {
        tracing::warn!(dir = %name, "{ENVELOPE_FILE} holds more than one data key: a `prism key rotate --reencrypt` was interrupted; run it again to finish");
    }
    let mut order: Vec<&SecretKey> = vec![&data_keys[working]];
    order.extend(
        data_keys
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != working)
            .map(|(_, k)| k),
    );
    Ok(DirKeys::Encrypted(Unlocked {
        db_key: DbKey::of(&data_keys[working]),
        sealer: Sealer::new(&order),
    }))
}

/// Every data key of `envelope` that `kek` (from `key_file`) unwraps; a
/// key that unwraps none is refused as the wrong key for `dir`.
pub(crate) fn unwrap_data_keys(
    envelope: &Envelope,
    dir: &str,
    kek: &SecretKey,
    key_file: Option<&Path>,
) -> Result<Vec<SecretKey>, CryptoError> {
    envelope.unwrap_all(kek).map_err(|e| {
        e.unwrap_or_else(|| CryptoError::WrongKey {
            dir: dir.to_string(),
            key_file: key_file.map_or_else(|| "given".into(), |p| p.display().to_string()),
            given: kek.id(),
            wanted: envelope.kek_ids().join(" or "),
        })
    })
}

/// A new encrypted directory: a random data key wrapped by `kek`.
fn create(dir: &Path, kek: &SecretKey) -> Result<Unlocked, CryptoError> {
    let data_key = SecretKey::random()?;
    let mut envelope = Envelope::new(DirState::Encrypted);
    envelope.wrap(kek, &data_key)?;
    envelope.write(dir)?;
    tracing::info!(dir = %dir.display(), key_id = %kek.id(), "created an encrypted data directory");
    Ok(Unlocked {
        db_key: DbKey::of(&data_key),
        sealer: Sealer::new(&[&data_key]),
    })
}

/// Which of `keys` decrypts the database at `db`; SQLite's complaint
/// otherwise.
pub(crate) fn working_key(db: &Path, keys: &[SecretKey]) -> Result<usize, String> {
    let mut last = String::new();
    for (i, key) in keys.iter().enumerate() {
        let opened = Connection::open(db).and_then(|conn| {
            DbKey::of(key).apply(&conn)?;
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        });
        match opened {
            Ok(()) => return Ok(i),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

fn envelope_io(dir: &Path, e: std::io::Error) -> CryptoError {
    CryptoError::Envelope(format!(
        "cannot update {ENVELOPE_FILE} in {}: {e}",
        dir.display()
    ))
}

/// Remove the scratch databases of key operations that did not commit.
pub(crate) fn remove_scratch(dir: &Path) {
    for suffix in SCRATCH_SUFFIXES {
        for extra in ["", "-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("{DB_FILE}{suffix}{extra}")));
        }
    }
}

/// Every saved graph file in `dir`, as (path, file name).
pub(crate) fn graph_files(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(collections) = std::fs::read_dir(crate::data_dir::indexes_dir(dir)) else {
        return out;
    };
    for collection in collections.flatten() {
        let graph = collection.path().join("graph");
        let Ok(files) = std::fs::read_dir(&graph) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            out.push((file.path(), name));
        }
    }
    out
}

/// Remove the graph files whose contents `doomed` picks (the graph is
/// rebuilt from the database at load).
fn remove_graph_files(dir: &Path, doomed: impl Fn(&[u8]) -> bool) {
    for (path, _) in graph_files(dir) {
        if std::fs::read(&path).is_ok_and(|bytes| doomed(&bytes)) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// What `prism run` would find in `dir` with `kek`, said for `prism config
/// check`, without changing anything. Errors are the refusals `unlock`
/// would give.
pub fn check(
    dir: &Path,
    kek: Option<&SecretKey>,
    key_file: Option<&Path>,
) -> Result<String, CryptoError> {
    let name = dir.display().to_string();
    let db = dir.join(DB_FILE);
    let kind = database_kind(&db);
    let Some(envelope) = Envelope::read(dir)? else {
        return match (kind, kek) {
            (DbKind::Absent, Some(kek)) => Ok(format!(
                "on, a new encrypted directory will be created (key id {})",
                kek.id()
            )),
            (DbKind::Plain, Some(_)) => Err(CryptoError::PlainDirectoryGivenKey { dir: name }),
            (DbKind::Other, Some(_)) => Err(CryptoError::EnvelopeMissing { dir: name }),
            (_, None) => Ok("off (plain data directory)".into()),
        };
    };
    if kind == DbKind::Plain {
        return match (envelope.state, kek) {
            (DirState::Encrypting | DirState::Decrypting, None) => {
                Ok("off (an interrupted `prism encrypt`/`decrypt` is settled at start)".into())
            }
            (DirState::Encrypting | DirState::Decrypting, Some(_)) => {
                Err(CryptoError::PlainDirectoryGivenKey { dir: name })
            }
            (DirState::Encrypted, _) => Err(CryptoError::Envelope(format!(
                "{name} holds {ENVELOPE_FILE} but its database is plain. Move {ENVELOPE_FILE} aside to serve it plain, or restore the directory from a backup"
            ))),
        };
    }
    let Some(kek) = kek else {
        return Err(CryptoError::KeyRequired { dir: name });
    };
    let (keys, _) = super::convert::open_data_keys(dir, &envelope, kek, key_file)?;
    Ok(format!(
        "on (key id {}, {} data key{} unwrapped, database opens)",
        kek.id(),
        keys.len(),
        if keys.len() == 1 { "" } else { "s" }
    ))
}
