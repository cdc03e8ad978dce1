//! Renewed certificates without a restart: the TLS files' directories are
//! watched, and when the certificate, key or client CA change, the rustls
//! configuration is rebuilt off to the side and swapped in for new
//! connections. A broken replacement (half-written, key not matching) keeps
//! the last good configuration, and says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use rustls::ServerConfig;

use crate::tls::TlsFiles;

/// A renewal writes the certificate and the key one after the other: wait
/// for the writes to settle before reading them.
const SETTLE: Duration = Duration::from_millis(300);

/// The TLS configuration new connections get.
pub struct LiveTlsConfig(RwLock<Arc<ServerConfig>>);

impl LiveTlsConfig {
    /// Start with `config`.
    pub fn new(config: Arc<ServerConfig>) -> Arc<Self> {
        Arc::new(Self(RwLock::new(config)))
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, config: Arc<ServerConfig>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = config;
    }
}

/// Keeps the watch alive; dropping it stops reloading.
pub struct TlsWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Watch `files` and swap a rebuilt configuration into `live` on a change.
pub fn watch(files: TlsFiles, live: Arc<LiveTlsConfig>) -> notify::Result<TlsWatcher> {
    let paths: Vec<PathBuf> = [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    let names: BTreeSet<String> = paths
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Kubernetes swaps a secret's files through a `..data` link.
        let ours = event.paths.iter().any(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| names.contains(&n) || n.starts_with(".."))
        });
        if ours {
            let _ = tx.send(());
        }
    })?;
    let dirs: BTreeSet<PathBuf> = paths.iter().map(|p| parent(p)).collect();
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    std::thread::Builder::new()
        .name("prism-tls-reload".into())
        .spawn(move || reload_loop(&rx, &files, &paths, &live))?;
    Ok(TlsWatcher { _watcher: watcher })
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// Each file's contents (or why it cannot be read), to tell a real change
/// from a touch.
fn contents(paths: &[PathBuf]) -> BTreeMap<PathBuf, Result<Vec<u8>, String>> {
    paths
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).map_err(|e| e.to_string())))
        .collect()
}

fn reload_loop(
    changes: &mpsc::Receiver<()>,
    files: &TlsFiles,
    paths: &[PathBuf],
    live: &LiveTlsConfig,
) {
    let mut current = contents(paths);
    while changes.recv().is_ok() {
        let until = Instant::now() + SETTLE;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if changes.recv_timeout(left).is_err() {
                break;
            }
        }
        while changes.try_recv().is_ok() {}
        let now = contents(paths);
        if now == current {
            continue;
        }
        current = now;
        match files.server_config() {
            Ok(config) => {
                live.replace(config);
                tracing::info!(
                    cert = %files.cert.display(),
                    "TLS certificate reloaded from {}; new connections get it",
                    files.cert.display()
                );
                if let Some(warning) = files.certificate_warning() {
                    tracing::warn!("{warning}");
                }
            }
            Err(e) => tracing::error!(
                error = %e,
                "TLS files changed but cannot be used ({e}); the previous certificate stays in force"
            ),
        }
    }
}
