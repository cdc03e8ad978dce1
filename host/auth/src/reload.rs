//! Live reload of the auth configuration: the credentials and policy files
//! the providers were configured from, and the plugin directory, are watched
//! (their directories, so editors that replace files by rename and
//! Kubernetes' symlink swaps are seen too). When their contents change, the
//! whole gate is rebuilt and validated off to the side, then swapped in;
//! requests in flight finish on the old gate, the credential cache starts
//! empty. A configuration that fails keeps the previous one in force and is
//! logged with its file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};

use crate::fetch::Documents;
use crate::gate::{AuthGate, SharedGate};
use crate::registry::plugin_files;
use crate::settings::AuthSettings;

/// Events closer together than this are handled as one change.
const SETTLE: Duration = Duration::from_millis(200);

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// A directory could not be watched.
    #[error(transparent)]
    Watch(#[from] notify::Error),
    /// The reload thread could not be started.
    #[error(transparent)]
    Thread(#[from] std::io::Error),
}

/// Watches until dropped.
pub struct ReloadWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// What is watched: the files the settings name, and the plugin directory.
struct Watched {
    files: Vec<PathBuf>,
    plugin_dir: PathBuf,
}

impl Watched {
    fn of(settings: &AuthSettings) -> Self {
        let files = settings
            .authn
            .iter()
            .chain(settings.authz.iter())
            .flat_map(|choice| choice.settings.iter())
            .map(|s| PathBuf::from(&s.value))
            .filter(|p| p.is_file())
            .collect();
        Watched {
            files,
            plugin_dir: settings.plugin_dir.clone(),
        }
    }

    /// File names whose events matter (Kubernetes' `..data` swaps are
    /// recognised by their `..` prefix).
    fn names(&self) -> BTreeSet<String> {
        self.files
            .iter()
            .filter_map(|f| f.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }

    fn directories(&self) -> BTreeSet<PathBuf> {
        let mut dirs: BTreeSet<PathBuf> = self
            .files
            .iter()
            .map(|f| {
                let parent = f.parent().filter(|p| !p.as_os_str().is_empty());
                parent.unwrap_or(Path::new(".")).to_path_buf()
            })
            .collect();
        if self.plugin_dir.is_dir() {
            dirs.insert(self.plugin_dir.clone());
        }
        dirs
    }

    /// A digest of each file a rebuilt gate would read (a file that cannot
    /// be read digests its error), so a change can be told by file.
    fn fingerprint(&self) -> BTreeMap<PathBuf, [u8; 32]> {
        let digest = |path: &Path| -> [u8; 32] {
            match std::fs::read(path) {
                Ok(bytes) => Sha256::digest(&bytes).into(),
                Err(e) => Sha256::digest(e.to_string().as_bytes()).into(),
            }
        };
        self.files
            .iter()
            .cloned()
            .chain(plugin_files(&self.plugin_dir))
            .map(|path| {
                let d = digest(&path);
                (path, d)
            })
            .collect()
    }
}

/// Start watching; `None` when auth is off (nothing to reload). `builtins`
/// are the plugins shipped inside the binary, as for
/// [`AuthGate::from_settings`].
pub fn watch(
    settings: AuthSettings,
    builtins: &'static [(&'static str, &'static [u8])],
    gates: Arc<SharedGate>,
) -> Result<Option<ReloadWatcher>, ReloadError> {
    if settings.authn.is_none() {
        return Ok(None);
    }
    let watched = Watched::of(&settings);
    let (tx, rx) = mpsc::channel();
    let relevant = watched.names();
    let plugin_dir = watched.plugin_dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Other files in the same directories (a log, say) are not our business.
        let Ok(event) = event else { return };
        let ours = event.paths.iter().any(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            relevant.contains(&name)
                || name.starts_with("..")
                || p.parent() == Some(plugin_dir.as_path())
        });
        if ours {
            let _ = tx.send(());
        }
    })?;
    for dir in watched.directories() {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %dir.display(), "watching for auth configuration changes");
    }
    install_refetch(&settings, builtins, &gates);
    std::thread::Builder::new()
        .name("prism-reload".into())
        .spawn(move || reload_loop(rx, watched, settings, builtins, gates))?;
    Ok(Some(ReloadWatcher { _watcher: watcher }))
}

/// Fetch the documents again when a plugin met a key it does not know
/// (at most once per `min_interval`), and put a gate configured with them
/// in force if they changed; whether a new gate is in force.
fn install_refetch(
    settings: &AuthSettings,
    builtins: &'static [(&'static str, &'static [u8])],
    gates: &Arc<SharedGate>,
) {
    let settings = settings.clone();
    let weak = Arc::downgrade(gates);
    gates.on_unknown_key(Box::new(move || {
        let changed = Documents::global().refresh(&settings.fetch, settings.fetch.min_interval);
        match weak.upgrade() {
            Some(gates) if !changed.is_empty() => rebuild(&settings, builtins, &gates, &changed),
            _ => false,
        }
    }));
}

fn reload_loop(
    changes: mpsc::Receiver<()>,
    watched: Watched,
    settings: AuthSettings,
    builtins: &'static [(&'static str, &'static [u8])],
    gates: Arc<SharedGate>,
) {
    let mut current = watched.fingerprint();
    loop {
        // Fetched documents are fetched again on their interval.
        let next = if Documents::global().any() {
            changes.recv_timeout(settings.fetch.refresh)
        } else {
            changes
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        };
        match next {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let changed = Documents::global().refresh(&settings.fetch, Duration::ZERO);
                if !changed.is_empty() {
                    rebuild(&settings, builtins, &gates, &changed);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Take a burst of events (write, rename, chmod) as one change, but
        // never wait longer than SETTLE for it to end.
        let until = Instant::now() + SETTLE;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if changes.recv_timeout(left).is_err() {
                break;
            }
        }
        while changes.try_recv().is_ok() {}
        let now = watched.fingerprint();
        if now == current {
            continue;
        }
        let changed: Vec<String> = now
            .iter()
            .filter(|(path, digest)| current.get(*path) != Some(digest))
            .map(|(path, _)| path)
            .chain(current.keys().filter(|path| !now.contains_key(*path)))
            .map(|path| path.display().to_string())
            .collect();
        current = now;
        rebuild(&settings, builtins, &gates, &changed);
    }
}

/// Build a gate from `settings` and put it in force, or log why not and
/// keep the one in force; whether a new one is in force.
fn rebuild(
    settings: &AuthSettings,
    builtins: &'static [(&'static str, &'static [u8])],
    gates: &SharedGate,
    changed: &[String],
) -> bool {
    let before = gates.current().providers();
    match AuthGate::from_settings(settings, builtins) {
        Ok(gate) => {
            let after = gate.providers();
            gates.replace(gate);
            tracing::info!(
                ?changed,
                ?before,
                ?after,
                "auth configuration reloaded after a change to {}; providers {} -> {}; credential cache emptied",
                changed.join(", "),
                before.join(" + "),
                after.join(" + "),
            );
            true
        }
        Err(e) => {
            tracing::error!(
                ?changed,
                error = %format!("{e:#}"),
                "auth configuration change to {} refused; the previous configuration stays in force",
                changed.join(", "),
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn settings(file: &Path, plugin_dir: &Path) -> AuthSettings {
        let vars: BTreeMap<String, String> = [
            ("CHROMA_SERVER_AUTHN_PROVIDER", "htpasswd"),
            (
                "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE",
                file.to_str().unwrap(),
            ),
            ("PRISM_PLUGIN_DIR", plugin_dir.to_str().unwrap()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        AuthSettings::from_env(&vars).unwrap()
    }

    #[test]
    fn nothing_is_watched_without_authentication() {
        let settings = AuthSettings::from_env(&BTreeMap::new()).unwrap();
        let gates = Arc::new(SharedGate::new(AuthGate::open()));
        assert!(watch(settings, &[], gates).unwrap().is_none());
    }

    #[test]
    fn the_fingerprint_follows_what_a_rebuild_would_read() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.htpasswd");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::write(&users, "a:x\n").unwrap();
        let watched = Watched::of(&settings(&users, &plugins));
        assert_eq!(
            watched.names(),
            BTreeSet::from(["users.htpasswd".to_string()])
        );
        assert_eq!(
            watched.directories(),
            BTreeSet::from([dir.path().to_path_buf(), plugins.clone()])
        );

        let first = watched.fingerprint();
        std::fs::write(plugins.join("notes.txt"), "not a plugin").unwrap();
        assert_eq!(watched.fingerprint(), first, "only .wasm files count");
        std::fs::write(&users, "a:y\n").unwrap();
        let second = watched.fingerprint();
        assert_ne!(second, first);
        std::fs::write(plugins.join("extra.wasm"), b"\0asm").unwrap();
        assert_ne!(watched.fingerprint(), second);
    }
}
