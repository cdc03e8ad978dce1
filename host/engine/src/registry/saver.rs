//! The periodic saver: a `prism-saver` thread that saves the changed HNSW
//! graphs every so often, so a restart loads graphs instead of rebuilding
//! them. It stops (and is joined) when dropped.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::IndexRegistry;

/// A running saver thread.
pub(crate) struct Saver {
    /// Dropping it wakes the thread and tells it to stop.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Saver {
    /// Save `registry`'s changed graphs every `interval`, starting one
    /// interval from now. `None` (logged) if no thread can be started: the
    /// graphs are then only saved on request.
    pub(crate) fn start(registry: Arc<IndexRegistry>, interval: Duration) -> Option<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("prism-saver".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    save_logging_failures(&registry);
                }
            });
        match spawned {
            Ok(thread) => Some(Self {
                stop: Some(stop),
                thread: Some(thread),
            }),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the index saver thread; graphs are saved at shutdown only");
                None
            }
        }
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A save under way finishes first; the thread never panics
            // (save_logging_failures catches it), so there is nothing to report.
            let _ = thread.join();
        }
    }
}

/// One round of saving. A failed save costs graph work, never data (a graph
/// is rebuilt from SQLite), so it is logged and the next round tries again.
fn save_logging_failures(registry: &IndexRegistry) {
    let saved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| registry.save()));
    match saved {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "saving vector indexes failed"),
        Err(panic) => {
            let error = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("unknown panic");
            tracing::warn!(error, "saving vector indexes panicked")
        }
    }
}
