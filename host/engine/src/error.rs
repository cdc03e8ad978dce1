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
    /// A write the caller's row filter does not allow: it would touch a
    /// record the caller cannot see, or leave one it could not (403).
    #[error("{0}")]
    RowFilterViolation(String),
    /// A Chroma feature that only exists in Chroma's distributed or cloud mode (501).
    #[error("{0}")]
    Unimplemented(String),
    /// SQLite failed; the transaction was rolled back.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// Reading or writing index files failed.
    #[error("index file error: {0}")]
    Io(#[from] std::io::Error),
    /// A key or an encrypted file refused (docs/ENCRYPTION.md).
    #[error(transparent)]
    Encryption(#[from] crate::crypto::CryptoError),
    /// Another process (a server, an import) has the data directory open.
    #[error("{0}")]
    InUse(String),
    /// An invariant broke; a bug, not a client mistake.
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }

    /// Whether the disk (or the quota) holding the data directory is full:
    /// SQLite's `SQLITE_FULL`, or an I/O error `ENOSPC` / `EDQUOT`. Nothing
    /// was written; the same request succeeds once space is freed.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Self::Storage(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            Self::Io(e) => {
                e.kind() == std::io::ErrorKind::StorageFull
                    || e.kind() == std::io::ErrorKind::QuotaExceeded
                    || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
            }
            _ => false,
        }
    }
}

/// Result alias used across the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: std::os::raw::c_int) -> EngineError {
        EngineError::Storage(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn a_full_disk_is_told_apart_from_other_failures() {
        assert!(sqlite(rusqlite::ffi::SQLITE_FULL).is_storage_full());
        assert!(EngineError::Io(std::io::Error::from_raw_os_error(libc::ENOSPC)).is_storage_full());
        assert!(EngineError::Io(std::io::Error::from_raw_os_error(libc::EDQUOT)).is_storage_full());
        assert!(!sqlite(rusqlite::ffi::SQLITE_IOERR).is_storage_full());
        assert!(!sqlite(rusqlite::ffi::SQLITE_CORRUPT).is_storage_full());
        assert!(
            !EngineError::Io(std::io::Error::from_raw_os_error(libc::EACCES)).is_storage_full()
        );
        assert!(!EngineError::Internal("full".into()).is_storage_full());
    }
}
