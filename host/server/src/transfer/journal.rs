//! What an import has copied so far, so that running the same command again
//! after an interruption goes on where it stopped. One small JSON file per
//! (source, destination) pair in the directory the import runs in,
//! rewritten (and renamed into place) after every page the destination
//! acknowledged, removed when the import ends verified.
//!
//! A page the destination took just before the interruption, but the
//! journal missed, is written again: imports upsert, so that changes
//! nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::TransferError;

/// The journal of one import.
pub struct Journal {
    path: PathBuf,
    state: State,
    resumed: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    source: String,
    destination: String,
    /// Records copied, by collection (`tenant/database/name`).
    done: BTreeMap<String, u64>,
}

impl Journal {
    /// The journal of copying `source` to `destination`, in `dir`: the one an
    /// interrupted run left, or a new one (`restart` ignores an old one).
    pub fn open(
        dir: &Path,
        source: &str,
        destination: &str,
        restart: bool,
    ) -> Result<Self, TransferError> {
        let digest = Sha256::digest(format!("{source}\n{destination}").as_bytes());
        let name: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!(".prism-import-{name}.json"));
        let old = match std::fs::read(&path) {
            Ok(bytes) if !restart => serde_json::from_slice::<State>(&bytes).ok(),
            _ => None,
        };
        let resumed = old.is_some();
        Ok(Self {
            path,
            state: old.unwrap_or(State {
                source: source.to_string(),
                destination: destination.to_string(),
                done: BTreeMap::new(),
            }),
            resumed,
        })
    }

    /// Whether an interrupted run left this journal.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records of `key` copied before.
    pub fn done(&self, key: &str) -> u64 {
        self.state.done.get(key).copied().unwrap_or(0)
    }

    /// `done` records of `key` are copied.
    pub fn record(&mut self, key: &str, done: u64) -> Result<(), TransferError> {
        self.state.done.insert(key.to_string(), done);
        let temporary = self.path.with_extension("json.partial");
        let text =
            serde_json::to_vec(&self.state).map_err(|e| TransferError::Journal(e.to_string()))?;
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|e| TransferError::Journal(format!("{}: {e}", self.path.display())))
    }

    /// The import is done: nothing to resume.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_is_found_again_by_its_source_and_destination() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), "http://a", "/data", false).unwrap();
        assert!(!journal.resumed());
        journal.record("t/d/c", 1000).unwrap();
        let again = Journal::open(dir.path(), "http://a", "/data", false).unwrap();
        assert!(again.resumed());
        assert_eq!(again.done("t/d/c"), 1000);
        assert_eq!(again.done("t/d/other"), 0);
        let other = Journal::open(dir.path(), "http://b", "/data", false).unwrap();
        assert_eq!(other.done("t/d/c"), 0);
        let restarted = Journal::open(dir.path(), "http://a", "/data", true).unwrap();
        assert_eq!(restarted.done("t/d/c"), 0);
        again.remove();
        assert!(
            !Journal::open(dir.path(), "http://a", "/data", false)
                .unwrap()
                .resumed()
        );
    }
}
