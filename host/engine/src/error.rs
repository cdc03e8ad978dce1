//! The engine's one error type. The HTTP layer maps each variant to Chroma's
//! error name and status in a single place.

use thiserror::Error;

/// Everything that can go wrong inside the engine.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The caller sent something Chroma rejects with 400 `InvalidArgumentError`.
    #[error("{0}")]
    InvalidArgument(String),
    /// A tenant, database or collection does not exist (404 `NotFoundError`).
    #[error("{0}")]
    NotFound(String),
    /// A uniquely named resource already exists (409).
    #[error("{0}")]
    AlreadyExists(String),
    /// `reset` was called without `ALLOW_RESET` (403).
    #[error("Reset is disabled by config")]
    ResetDisabled,
    /// A Chroma feature that only exists in Chroma's distributed or cloud mode (501).
    #[error("{0}")]
    Unimplemented(String),
    /// SQLite failed; the transaction was rolled back.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// Reading or writing index files failed.
    #[error("index file error: {0}")]
    Io(#[from] std::io::Error),
    /// An invariant broke; a bug, not a client mistake.
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }
}

/// Result alias used across the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
