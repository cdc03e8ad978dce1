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
pub fn check_data_dir(dir: &Path) -> Result<()> {
    if dir.join(CHROMA_DB_FILE).exists() {
        return Err(EngineError::InvalidArgument(format!(
            "{} holds Chroma's own data ({CHROMA_DB_FILE}); Prism does not read Chroma's on-disk format. Point --path at an empty or Prism directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".prism-write-test");
    std::fs::write(&probe, b"ok").map_err(|e| {
        std::io::Error::new(e.kind(), format!("{} is not writable: {e}", dir.display()))
    })?;
    std::fs::remove_file(&probe)?;
    Ok(())
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
