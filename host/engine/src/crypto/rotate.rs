//! `prism key rotate`: a new key file for an encrypted directory.
//!
//! Without `--reencrypt` only `prism.keys` changes: the same data key,
//! wrapped by the new key-encryption key, replaces the envelope in one
//! atomic rename (the old key opens the directory before it, the new one
//! after).
//!
//! With `--reencrypt` the data key is replaced too and everything is
//! rewritten. First the envelope is replaced by one listing the old and the
//! new data key, each wrapped by the old and the new key-encryption key:
//! from then on either key file opens the directory, whichever data key the
//! database is under. The database is copied under the new data key into a
//! scratch file renamed over the old one, the graphs are re-sealed one by
//! one (each file names its data key), and only then does an envelope with
//! the new data key under the new key alone replace the double one. A crash
//! at any point leaves a directory one of the two key files opens.

use std::path::Path;

use super::convert::{Step, export, open_alone, open_data_keys, rewrite_graphs, swap_in};
use super::envelope::{DirState, Envelope};
use super::sealed_file::Sealer;
use super::unlock::{DbKey, DbKind, database_kind, remove_scratch};
use super::{CryptoError, SecretKey};
use crate::data_dir::DB_FILE;

fn settled(dir: &Path) -> Result<Envelope, CryptoError> {
    let name = dir.display().to_string();
    let envelope = Envelope::read(dir)?.ok_or_else(|| {
        CryptoError::Envelope(format!(
            "{name} is not encrypted (it has no prism.keys): use `prism encrypt` first"
        ))
    })?;
    if envelope.state != DirState::Encrypted {
        return Err(CryptoError::Envelope(format!(
            "a `prism encrypt` or `prism decrypt` of {name} was interrupted: start the server on it (or run that command again) first"
        )));
    }
    Ok(envelope)
}

/// Rewrap the data key(s) of `dir` from `old` to `new`. Safe beside a
/// running server (it holds the data key, and reads the envelope only at
/// start).
pub fn rewrap(
    dir: &Path,
    old: &SecretKey,
    new: &SecretKey,
    old_file: Option<&Path>,
) -> Result<(), CryptoError> {
    let envelope = settled(dir)?;
    let (keys, working) = open_data_keys(dir, &envelope, old, old_file)?;
    let mut next = Envelope::new(DirState::Encrypted);
    next.wrap(new, &keys[working])?;
    // An interrupted re-encryption's other data key stays usable.
    for (i, key) in keys.iter().enumerate() {
        if i != working {
            next.wrap(new, key)?;
        }
    }
    next.write(dir)
}

/// Replace the data key of `dir` and rewrite everything under it, ending
/// with the data key wrapped by `new` alone. The server must be stopped.
pub fn reencrypt(
    dir: &Path,
    old: &SecretKey,
    new: &SecretKey,
    old_file: Option<&Path>,
    progress: &mut dyn FnMut(Step),
) -> Result<(), CryptoError> {
    let envelope = settled(dir)?;
    let (keys, working) = open_data_keys(dir, &envelope, old, old_file)?;
    remove_scratch(dir);
    let db = dir.join(DB_FILE);
    let current = &keys[working];
    let conn = match database_kind(&db) {
        DbKind::Absent => None,
        _ => Some(open_alone(&db, Some(&DbKey::of(current)))?),
    };
    let fresh = SecretKey::random()?;
    let mut both = Envelope::new(DirState::Encrypted);
    for data_key in [&fresh, current] {
        for kek in [new, old] {
            both.wrap(kek, data_key)?;
        }
    }
    both.write(dir)?;
    let mut openers: Vec<&SecretKey> = vec![&fresh];
    openers.extend(keys.iter());
    let sealer = Sealer::new(&openers);
    rewrite_graphs(dir, Some(&sealer), Some(&sealer), progress)?;
    if let Some(conn) = conn {
        let scratch = dir.join(format!("{DB_FILE}.rekey"));
        export(&conn, &scratch, Some(&DbKey::of(&fresh)), progress)?;
        swap_in(dir, conn, &scratch)?;
    }
    let mut done = Envelope::new(DirState::Encrypted);
    done.wrap(new, &fresh)?;
    done.write(dir)
}
