//! The keys of an encrypted directory, for a backup of it or a restore of
//! such a backup. Unlike [`unlock`](crate::crypto::unlock::unlock), nothing
//! here settles an interrupted key operation: a backup runs beside a server
//! and only reads, a restore only checks what it unpacked.

use std::path::Path;

use rusqlite::Connection;

use super::BackupError;
use crate::EncryptionKey;
use crate::crypto::SecretKey;
use crate::crypto::envelope::{DirState, Envelope};
use crate::crypto::sealed_file::Sealer;
use crate::crypto::unlock::{DbKey, unwrap_data_keys};

/// An envelope as read, and the data keys the key file unwraps from it.
pub(super) struct Keys {
    /// The bytes of `prism.keys` the keys came from, which are what a backup
    /// carries: read once, so a `prism key rotate` replacing the file
    /// meanwhile cannot pair the snapshot with an envelope read later.
    pub(super) envelope: Vec<u8>,
    data_keys: Vec<SecretKey>,
}

impl Keys {
    /// The data keys `key` unwraps from the envelope `bytes`, read from
    /// `file`; a wrong key is refused as one that does not open `opens`.
    /// An envelope of a half-done `prism encrypt` or `decrypt` is
    /// `unsettled`: which of its keys the database has is not known.
    pub(super) fn unwrap(
        bytes: Vec<u8>,
        file: &Path,
        opens: &Path,
        key: &EncryptionKey,
        unsettled: impl FnOnce() -> BackupError,
    ) -> Result<Self, BackupError> {
        let envelope = Envelope::parse(&bytes, file)?;
        if envelope.state != DirState::Encrypted {
            return Err(unsettled());
        }
        let data_keys = unwrap_data_keys(
            &envelope,
            &opens.display().to_string(),
            &key.key,
            Some(&key.file),
        )?;
        Ok(Self {
            envelope: bytes,
            data_keys,
        })
    }

    /// A connection from `open`, keyed with the first data key that reads
    /// the database (several only while a `prism key rotate --reencrypt`
    /// is unfinished), and that key's SQLCipher key; SQLite's complaint
    /// when none does.
    pub(super) fn open_db(
        &self,
        open: impl Fn() -> rusqlite::Result<Connection>,
    ) -> Result<(Connection, DbKey), String> {
        let mut last = String::new();
        for key in &self.data_keys {
            let db_key = DbKey::of(key);
            let opened = open().and_then(|conn| {
                db_key.apply(&conn)?;
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
                Ok(conn)
            });
            match opened {
                Ok(conn) => return Ok((conn, db_key)),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    /// Opens files sealed with any of the data keys.
    pub(super) fn sealer(&self) -> Sealer {
        Sealer::new(&self.data_keys.iter().collect::<Vec<_>>())
    }
}
