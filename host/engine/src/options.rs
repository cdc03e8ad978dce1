//! [`EngineOptions`]: how to open an [`Engine`](crate::Engine).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::crypto::SecretKey;
use crate::index::IndexTuning;
use crate::validate::limits::WriteLimits;

/// Default of [`EngineOptions::max_query_results`]: a thousand queries of a
/// thousand results, or every record of a million-record collection.
pub const DEFAULT_MAX_QUERY_RESULTS: usize = 1_000_000;

/// Default of [`EngineOptions::save_interval`]. A crash loses at most this
/// much graph work: the graph is then caught up from SQLite at load.
pub const DEFAULT_SAVE_INTERVAL: Duration = Duration::from_secs(60);

/// How to open an [`Engine`](crate::Engine).
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
    /// What one add, update or upsert may hold; more is refused before the
    /// write waits for the writer.
    pub write_limits: WriteLimits,
    /// How often a background thread saves the HNSW graphs that changed;
    /// `None` saves them only on [`Engine::flush`](crate::Engine::flush) and
    /// [`Engine::save_indexes`](crate::Engine::save_indexes).
    pub save_interval: Option<Duration>,
    /// The key-encryption key of an encrypted data directory (or of a new
    /// one to create encrypted); `None` for a plain directory.
    pub encryption: Option<EncryptionKey>,
}

/// A key file's key and where it came from (named in errors). Its `Debug`
/// shows the file and the key's public id, never the key.
#[derive(Clone)]
pub struct EncryptionKey {
    pub file: PathBuf,
    pub key: Arc<SecretKey>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("file", &self.file)
            .field("key_id", &self.key.id())
            .finish()
    }
}

impl EngineOptions {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            allow_reset: false,
            tuning: IndexTuning::default(),
            readers: 8,
            max_query_results: DEFAULT_MAX_QUERY_RESULTS,
            write_limits: WriteLimits::default(),
            save_interval: Some(DEFAULT_SAVE_INTERVAL),
            encryption: None,
        }
    }
}
