//! Compiled components kept on disk, keyed by the SHA-256 of the plugin's
//! bytes, so a restart does not compile a plugin again (a JavaScript or
//! Python component runs to tens of megabytes and seconds of compilation).
//!
//! Loading a compiled component runs its native code, so a cache entry is
//! trusted as much as Prism's own binary. The directory must belong to the
//! user Prism runs as and be writable by nobody else (checked when it is
//! opened, as ssh checks its keys' directory; otherwise the cache is not
//! used), entries are written whole (a temporary file, then a rename), and
//! each carries the SHA-256 of its contents, so a torn or corrupted entry is
//! compiled afresh rather than loaded. Wasmtime refuses an entry compiled
//! by another version or configuration; the file name also carries a hash
//! of the engine's compatibility so such entries are never even read.

use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of compiled components.
pub(crate) struct DiskCache {
    dir: PathBuf,
    /// Distinguishes engines whose compiled code differs.
    engine_key: String,
}

impl DiskCache {
    /// Open (creating it, private) the cache at `dir`; why not, when it is
    /// not safe to use.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<Self, String> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if meta.permissions().mode() & 0o022 != 0 {
            return Err(format!(
                "{} is writable by other users (mode {:o}); compiled plugins run as native code, so the cache needs a directory only Prism's user can write (chmod 700)",
                dir.display(),
                meta.permissions().mode() & 0o777
            ));
        }
        // Whose files land here: ours, if the directory is ours.
        let probe = tempfile_in(dir)?;
        let ours = std::fs::metadata(&probe).map(|m| m.uid());
        let _ = std::fs::remove_file(&probe);
        if ours.map_err(|e| e.to_string())? != meta.uid() {
            return Err(format!(
                "{} belongs to another user; the cache needs a directory of Prism's own user",
                dir.display()
            ));
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    fn path_of(&self, digest: &[u8; 32]) -> PathBuf {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}-{}.cwasm", self.engine_key))
    }

    /// The component compiled from the bytes with SHA-256 `digest`, if a
    /// sound entry is here.
    pub(crate) fn load(&self, engine: &Engine, digest: &[u8; 32]) -> Option<Component> {
        let path = self.path_of(digest);
        let bytes = std::fs::read(&path).ok()?;
        let Some(body) = sealed_body(&bytes) else {
            tracing::warn!(path = %path.display(), "a compiled plugin in the cache is damaged; compiling again");
            return None;
        };
        // SAFETY: `body` is exactly what `Component::serialize` wrote into a
        // directory only this user can write (checked in `open`), its
        // SHA-256 matches, and wasmtime checks the engine's compatibility.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, body) };
        match component {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "a compiled plugin in the cache does not load; compiling again");
                None
            }
        }
    }

    /// Keep `component` (compiled from the bytes with SHA-256 `digest`).
    /// Failing to is not an error: the next start compiles again.
    pub(crate) fn store(&self, digest: &[u8; 32], component: &Component) {
        let path = self.path_of(digest);
        let written = component
            .serialize()
            .map_err(|e| e.to_string())
            .and_then(|body| {
                let tmp = tempfile_in(&self.dir)?;
                let result = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&tmp)
                    .and_then(|mut f| {
                        f.write_all(&body)?;
                        f.write_all(&sha2::Sha256::digest(&body))?;
                        f.sync_all()
                    })
                    .and_then(|()| std::fs::rename(&tmp, &path));
                if result.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                result.map_err(|e| e.to_string())
            });
        if let Err(error) = written {
            tracing::warn!(path = %path.display(), %error, "could not keep a compiled plugin in the cache");
        }
    }
}

/// The body of an entry whose trailing SHA-256 matches it.
fn sealed_body(bytes: &[u8]) -> Option<&[u8]> {
    let split = bytes.len().checked_sub(32)?;
    let (body, seal) = bytes.split_at(split);
    (sha2::Sha256::digest(body).as_slice() == seal).then_some(body)
}

/// A new, empty, private file in `dir`.
fn tempfile_in(dir: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(".tmp-{}-{nanos}-{attempt}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot write in {}: {e}", dir.display())),
        }
    }
    Err(format!("cannot create a file in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_sealed() {
        let body = b"compiled".to_vec();
        let mut entry = body.clone();
        entry.extend_from_slice(&sha2::Sha256::digest(&body));
        assert_eq!(sealed_body(&entry), Some(&body[..]));
        entry[0] ^= 1;
        assert_eq!(sealed_body(&entry), None);
        assert_eq!(sealed_body(b"short"), None);
    }

    #[test]
    fn a_directory_others_may_write_is_refused() {
        let engine = Engine::default();
        let dir = std::env::temp_dir().join(format!("prism-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = DiskCache::open(&dir, &engine).err().unwrap();
        assert!(e.contains("writable by other users"), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(DiskCache::open(&dir, &engine).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
