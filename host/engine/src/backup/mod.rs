//! Backups of a data directory: [`create`] writes a consistent snapshot of
//! it to one file while a server may be serving writes on it, [`restore`]
//! turns such a file back into a data directory.
//!
//! The snapshot is taken with SQLite's online backup API from a read-only
//! connection of this process, not through an [`Engine`](crate::Engine): a
//! backup must work beside a running server without disturbing it, and an
//! engine would migrate and write. That connection holds one read
//! transaction from the first page to the last, so every page comes from the
//! same commit (in WAL mode a reader never blocks the server's writer, and a
//! pinned read snapshot keeps SQLite from restarting the copy each time the
//! server commits).
//!
//! Saved HNSW graphs go in too, copied *before* that read transaction
//! starts: a graph is then never newer than the rows it is paired with, only
//! older, which is the state every restart is in anyway (the loader drops
//! nodes whose slot is gone and inserts the stored vectors the graph lacks;
//! slots are never reused within a collection, so this is exact).
//!
//! The file is a tar archive: `prism-backup.json` (the [`Manifest`]) first,
//! then `prism.sqlite3`, then `index/<collection>/graph/graph.{json,bin}`.
//!
//! A backup of an encrypted directory (docs/ENCRYPTION.md) holds no
//! plaintext: the snapshot is copied page by page under the directory's own
//! SQLCipher key, the saved graphs are copied sealed as they are, and
//! `prism.keys` goes in first, so the restored directory opens with the key
//! file the original did. Such a backup is [`FORMAT_VERSION`] 2; a plain one
//! stays [`FORMAT_VERSION_PLAIN`], which builds from before encrypted
//! backups still read.

mod archive;
mod create;
mod keys;
mod restore;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use archive::MANIFEST_FILE;
pub use create::create;
pub use restore::restore;

/// What a backup file holds, written as its first entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`]: what tells a Prism backup from any other tar file.
    pub format: String,
    /// The layout of the archive; a restore refuses versions newer than
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Whether it is a backup of an encrypted directory: it then holds
    /// `prism.keys`, and restoring it takes the directory's key file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    /// The Prism release that wrote it.
    pub prism_version: String,
    /// SQLite `user_version` of the snapshot (the engine's schema version).
    pub schema_version: u32,
    /// When the snapshot was taken, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// The data directory it was taken from (for the operator; not used).
    pub source: String,
    /// What the snapshot holds, checked again after a restore.
    pub counts: Counts,
    /// Every other entry of the archive, in archive order.
    pub files: Vec<FileEntry>,
}

/// Rows in the snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub tenants: u64,
    pub databases: u64,
    pub collections: u64,
    pub records: u64,
}

/// One file of the archive and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the contents.
    pub sha256: String,
}

/// [`Manifest::format`] of every Prism backup.
pub const FORMAT: &str = "prism-backup";
/// The newest archive layout this build reads, and the one it writes for
/// encrypted directories (it adds [`Manifest::encrypted`] and `prism.keys`).
pub const FORMAT_VERSION: u32 = 2;
/// The layout of backups of plain directories: unchanged since the first,
/// so older builds still restore them.
pub const FORMAT_VERSION_PLAIN: u32 = 1;

/// Where a backup or restore is, for a progress display. Byte counts are of
/// the phase's own work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Copying saved graphs (before the snapshot).
    Graphs { done: usize, total: usize },
    /// Copying database pages into the snapshot.
    Snapshot { done: u64, total: u64 },
    /// Checking the snapshot (or the restored database).
    Checking,
    /// Writing the backup file.
    Writing { done: u64, total: u64 },
    /// Reading the backup file (restore).
    Reading { done: u64, total: u64 },
}

/// What [`create`] wrote.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    pub manifest: Manifest,
    /// Size of the backup file.
    pub bytes: u64,
    /// Collections whose saved graph went in.
    pub graphs: usize,
    /// Saved graphs left out (being rewritten throughout, or unreadable):
    /// they are rebuilt after a restore.
    pub graphs_skipped: usize,
}

/// What [`restore`] restored.
#[derive(Debug, Clone)]
pub struct RestoreSummary {
    pub manifest: Manifest,
    /// Collections whose saved graph was restored.
    pub graphs: usize,
}

/// Why a backup or restore failed. Each message names the path concerned
/// and, where there is one, what to do.
#[derive(Debug, Error)]
pub enum BackupError {
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} is not a Prism data directory (it has no {})", .0.display(), crate::DB_FILE)]
    NotADataDirectory(PathBuf),
    #[error("{} holds Chroma's own data (chroma.sqlite3), which Prism does not read", .0.display())]
    ChromaDirectory(PathBuf),
    /// The snapshot is copied under the database's own key, which only the
    /// key file unwraps.
    #[error("{} is encrypted (it holds prism.keys): pass --encryption-key-file FILE (or set PRISM_ENCRYPTION_KEY_FILE) naming its key file, the one `prism run` is given; the backup stays encrypted under the same key", .0.display())]
    KeyRequired(PathBuf),
    #[error("{} is a backup of an encrypted directory: pass --encryption-key-file FILE (or set PRISM_ENCRYPTION_KEY_FILE) naming the key file that directory was encrypted or last rotated with", .0.display())]
    BackupKeyRequired(PathBuf),
    /// Refused rather than ignored, as `prism run` does: whoever passes a
    /// key expects an encrypted backup, and this one would be plaintext.
    #[error("{} is a plain (unencrypted) data directory, but a key file was given: its backup would not be encrypted. Back it up without --encryption-key-file (and without PRISM_ENCRYPTION_KEY_FILE), or encrypt the directory first with `prism encrypt` (server stopped)", .0.display())]
    PlainDirectoryGivenKey(PathBuf),
    #[error("{} is a backup of a plain (unencrypted) directory, but a key file was given: Prism never mixes the two. Restore it without --encryption-key-file (and without PRISM_ENCRYPTION_KEY_FILE), then `prism encrypt` the restored directory if it should be encrypted", .0.display())]
    PlainBackupGivenKey(PathBuf),
    #[error("{} is half way through a `prism encrypt` or `prism decrypt` that was interrupted: start `prism run` on it once (which finishes or rolls that back), then back it up", .0.display())]
    Unsettled(PathBuf),
    /// A wrong key file, or a damaged `prism.keys`: said as `prism run`
    /// says it.
    #[error(transparent)]
    Key(#[from] crate::crypto::CryptoError),
    #[error(
        "{} was written by a newer Prism (schema version {found}, this build knows {known}); use that Prism's `prism {action}`",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        known: u32,
        action: &'static str,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {}: {source}", path.display())]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the snapshot of {} fails SQLite's integrity check ({detail}); the data directory itself may be damaged", path.display())]
    Integrity { path: PathBuf, detail: String },
    #[error("{} is not a Prism backup: {reason}", path.display())]
    NotABackup { path: PathBuf, reason: String },
    #[error(
        "{} is a Prism backup of format {found}; this build reads format {FORMAT_VERSION} and older (use a newer Prism)",
        path.display()
    )]
    NewerFormat { path: PathBuf, found: u32 },
    #[error("{} is truncated or damaged: {reason}", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "{} is not empty (it holds {entries}); restore only into an empty or new directory: pass another --path, or move its contents away first",
        path.display()
    )]
    TargetNotEmpty { path: PathBuf, entries: String },
}
