//! [`restore`]: a backup file back into a data directory.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

use super::archive::{
    CountingReader, HashingWriter, MANIFEST_FILE, MAX_MANIFEST_BYTES, is_allowed_path, sync_dir,
};
use super::create::{db_error, read_error, write_error};
use super::keys::Keys;
use super::{BackupError, Counts, FORMAT, FORMAT_VERSION, Manifest, Progress, RestoreSummary};
use crate::EncryptionKey;
use crate::crypto::envelope::ENVELOPE_FILE;
use crate::data_dir::{DB_FILE, indexes_dir};
use crate::store::schema::CURRENT_VERSION;

type Result<T> = std::result::Result<T, BackupError>;

/// Where a restore unpacks before moving into place: inside the target, so
/// the moves are renames on one file system even when the target is a
/// mount point (a container volume).
const STAGING: &str = ".prism-restore";

/// Restore the backup `from` into `data_dir`, which must be empty or not
/// exist. Every file is checked against the manifest's size and SHA-256 and
/// the database against its counts before anything is moved into place; the
/// database goes last, so a directory holding it is a finished restore. On
/// failure the target is left as it was.
///
/// A backup of an encrypted directory needs the key file's `key`, which
/// must unwrap its `prism.keys`; its database must then decrypt and its
/// saved graphs authenticate with that data key before anything is moved.
/// A backup of a plain directory refuses a key.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    key: Option<&EncryptionKey>,
    progress: &mut dyn FnMut(Progress),
) -> Result<RestoreSummary> {
    let existed = check_target(data_dir)?;
    let file = match File::open(from) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BackupError::Missing(from.into()));
        }
        file => file.map_err(|e| read_error(from, e))?,
    };
    let meta = file.metadata().map_err(|e| read_error(from, e))?;
    if meta.is_dir() {
        return Err(not_a_backup(from, "it is a directory"));
    }
    let total = meta.len();
    let mut report = |done| progress(Progress::Reading { done, total });
    let mut archive = tar::Archive::new(CountingReader::new(
        BufReader::with_capacity(1 << 20, file),
        0,
        &mut report,
    ));
    let mut entries = archive
        .entries()
        .map_err(|e| not_a_backup(from, &e.to_string()))?;
    let manifest = read_manifest(from, entries.next())?;
    let key = match (manifest.encrypted, key) {
        (true, None) => return Err(BackupError::BackupKeyRequired(from.into())),
        (false, Some(_)) => return Err(BackupError::PlainBackupGivenKey(from.into())),
        (_, key) => key,
    };

    // Only a file that is a backup touches the target.
    let target = Target::prepare(data_dir, existed)?;
    let mut keys = None;
    let mut expected: HashMap<&str, &super::FileEntry> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(from, e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| damaged(from, e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let Some(want) = expected.remove(path.as_str()) else {
            return Err(damaged(
                from,
                format!("it holds {path}, which its manifest does not list (or lists once)"),
            ));
        };
        let (sha256, bytes) = target.write(&path, &mut entry, from)?;
        if bytes != want.bytes {
            return Err(damaged(
                from,
                format!("{path} has {bytes} bytes, the manifest says {}", want.bytes),
            ));
        }
        if sha256 != want.sha256 {
            return Err(damaged(
                from,
                format!(
                    "{path} has SHA-256 {sha256}, the manifest says {}",
                    want.sha256
                ),
            ));
        }
        if let Some(key) = key.filter(|_| path == ENVELOPE_FILE) {
            let staged = target.staging.join(ENVELOPE_FILE);
            let bytes = std::fs::read(&staged).map_err(|e| read_error(&staged, e))?;
            keys = Some(Keys::unwrap(bytes, from, from, key, || {
                damaged(
                    from,
                    format!("its {ENVELOPE_FILE} is of an unfinished `prism encrypt` or `decrypt`"),
                )
            })?);
        }
    }
    if !expected.is_empty() {
        let mut missing: Vec<&str> = expected.into_keys().collect();
        missing.sort();
        return Err(damaged(
            from,
            format!("it ends before {}", missing.join(", ")),
        ));
    }
    drop(archive);

    progress(Progress::Checking);
    target.check_database(&manifest, from, keys.as_ref())?;
    if let Some(keys) = &keys {
        target.check_sealed(&manifest, from, keys)?;
    }
    let graphs = manifest
        .files
        .iter()
        .filter(|f| f.path.ends_with("/graph.json"))
        .count();
    target.commit()?;
    Ok(RestoreSummary { manifest, graphs })
}

fn not_a_backup(path: &Path, reason: &str) -> BackupError {
    BackupError::NotABackup {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn damaged(path: &Path, reason: String) -> BackupError {
    BackupError::Damaged {
        path: path.to_path_buf(),
        reason,
    }
}

/// Whether `data_dir` exists; an error unless it is missing or an empty
/// directory.
fn check_target(data_dir: &Path) -> Result<bool> {
    match std::fs::metadata(data_dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(read_error(data_dir, e)),
        Ok(m) if !m.is_dir() => return Err(BackupError::NotADirectory(data_dir.into())),
        Ok(_) => {}
    }
    let mut names: Vec<String> = std::fs::read_dir(data_dir)
        .map_err(|e| read_error(data_dir, e))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()
        .map_err(|e| read_error(data_dir, e))?;
    if names.is_empty() {
        return Ok(true);
    }
    names.sort();
    const SHOWN: usize = 3;
    let mut entries = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        entries.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    Err(BackupError::TargetNotEmpty {
        path: data_dir.into(),
        entries,
    })
}

/// The manifest, from the archive's first entry.
fn read_manifest<R: Read>(
    from: &Path,
    first: Option<io::Result<tar::Entry<'_, R>>>,
) -> Result<Manifest> {
    let mut first = match first {
        None => return Err(not_a_backup(from, "it is empty")),
        Some(Err(e)) => return Err(not_a_backup(from, &format!("not a tar archive ({e})"))),
        Some(Ok(entry)) => entry,
    };
    let name = first
        .path()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name != MANIFEST_FILE {
        return Err(not_a_backup(
            from,
            &format!("its first entry is {name:?}, not {MANIFEST_FILE}"),
        ));
    }
    let size = first.size();
    if size > MAX_MANIFEST_BYTES {
        return Err(damaged(from, format!("its manifest claims {size} bytes")));
    }
    let mut json = Vec::with_capacity(size as usize);
    first
        .read_to_end(&mut json)
        .map_err(|e| damaged(from, format!("reading the manifest: {e}")))?;
    if json.len() as u64 != size {
        return Err(damaged(from, "it ends inside the manifest".into()));
    }
    let manifest: Manifest = serde_json::from_slice(&json)
        .map_err(|e| damaged(from, format!("its manifest does not parse ({e})")))?;
    if manifest.format != FORMAT {
        return Err(not_a_backup(
            from,
            &format!("its manifest's format is {:?}", manifest.format),
        ));
    }
    if manifest.format_version > FORMAT_VERSION {
        return Err(BackupError::NewerFormat {
            path: from.into(),
            found: manifest.format_version,
        });
    }
    if manifest.schema_version as usize > CURRENT_VERSION {
        return Err(BackupError::NewerSchema {
            path: from.into(),
            found: manifest.schema_version,
            known: CURRENT_VERSION as u32,
            action: "restore",
        });
    }
    let mut paths = HashSet::new();
    for file in &manifest.files {
        if !is_allowed_path(&file.path) || !paths.insert(file.path.as_str()) {
            return Err(damaged(from, format!("its manifest lists {:?}", file.path)));
        }
    }
    if !paths.contains(DB_FILE) {
        return Err(damaged(
            from,
            format!("its manifest does not list {DB_FILE}"),
        ));
    }
    if paths.contains(ENVELOPE_FILE) != manifest.encrypted {
        return Err(damaged(
            from,
            format!(
                "its manifest says it is {}encrypted but {} {ENVELOPE_FILE}",
                if manifest.encrypted { "" } else { "not " },
                if manifest.encrypted {
                    "does not list"
                } else {
                    "lists"
                }
            ),
        ));
    }
    Ok(manifest)
}

/// The directory being restored into, and the staging directory inside it.
/// Dropped before [`Target::commit`], it removes what the restore wrote
/// (and the directory itself if the restore created it).
struct Target {
    dir: PathBuf,
    staging: PathBuf,
    created: bool,
    committed: bool,
}

impl Target {
    fn prepare(dir: &Path, existed: bool) -> Result<Self> {
        if !existed {
            std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
        }
        let staging = dir.join(STAGING);
        let target = Self {
            dir: dir.to_path_buf(),
            staging: staging.clone(),
            created: !existed,
            committed: false,
        };
        std::fs::create_dir(&staging).map_err(|e| write_error(&staging, e))?;
        Ok(target)
    }

    /// Write an archive entry (at an allowed `path`) into the staging
    /// directory, synced; its SHA-256 and size. A failure to read is the
    /// backup's fault, a failure to write the target's.
    fn write(&self, path: &str, entry: &mut impl Read, from: &Path) -> Result<(String, u64)> {
        let dest = self.staging.join(path);
        let parent = dest.parent().expect("an allowed path has a parent");
        std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        let file = File::create(&dest).map_err(|e| write_error(&dest, e))?;
        let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        let mut buf = vec![0; 1 << 16];
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(damaged(from, format!("reading {path}: {e}"))),
            };
            out.write_all(&buf[..n])
                .map_err(|e| write_error(&dest, e))?;
        }
        let (out, sha256, bytes) = out.finish();
        let file = out
            .into_inner()
            .map_err(|e| write_error(&dest, e.into_error()))?;
        file.sync_all().map_err(|e| write_error(&dest, e))?;
        Ok((sha256, bytes))
    }

    /// The restored database must open (with the backup's data key when
    /// encrypted: SQLCipher then authenticates every page it reads), pass
    /// SQLite's check, and hold what the manifest says.
    fn check_database(&self, manifest: &Manifest, from: &Path, keys: Option<&Keys>) -> Result<()> {
        let path = self.staging.join(DB_FILE);
        let open = || {
            Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        };
        let conn = match keys {
            None => open().map_err(db_error(&path))?,
            Some(keys) => {
                keys.open_db(open)
                    .map_err(|detail| {
                        damaged(
                            from,
                            format!(
                                "its database does not decrypt with the data key of its {ENVELOPE_FILE} ({detail})"
                            ),
                        )
                    })?
                    .0
            }
        };
        // A page that fails SQLCipher's MAC is an error, not a report.
        let check = conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get::<_, String>(0))
            .unwrap_or_else(|e| e.to_string());
        if check != "ok" {
            return Err(damaged(
                from,
                format!("its database fails SQLite's integrity check ({check})"),
            ));
        }
        let facts = read_facts(&conn).map_err(db_error(&path))?;
        if (facts.schema_version, facts.counts) != (manifest.schema_version, manifest.counts) {
            return Err(damaged(
                from,
                format!(
                    "its database has schema version {} and {:?}, the manifest says {} and {:?}",
                    facts.schema_version, facts.counts, manifest.schema_version, manifest.counts
                ),
            ));
        }
        Ok(())
    }

    /// Every saved graph of an encrypted backup must open with its data key,
    /// as the server would open it.
    fn check_sealed(&self, manifest: &Manifest, from: &Path, keys: &Keys) -> Result<()> {
        let sealer = keys.sealer();
        for file in manifest
            .files
            .iter()
            .filter(|f| f.path.starts_with("index/"))
        {
            let path = self.staging.join(&file.path);
            let bytes = std::fs::read(&path).map_err(|e| read_error(&path, e))?;
            let name = file.path.rsplit('/').next().unwrap_or_default();
            sealer.open(name, &bytes).map_err(|reason| {
                damaged(
                    from,
                    format!(
                        "{} does not open with the data key of its {ENVELOPE_FILE}: {reason}",
                        file.path
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// Move the restored files into place, the database last.
    fn commit(mut self) -> Result<()> {
        // Every directory written into, so the new entries survive a crash.
        let index = indexes_dir(&self.staging);
        let mut dirs = BTreeSet::from([self.staging.clone()]);
        if let Ok(listed) = std::fs::read_dir(&index) {
            dirs.insert(index.clone());
            for entry in listed.flatten() {
                dirs.insert(entry.path());
                dirs.insert(entry.path().join("graph"));
            }
        }
        for dir in &dirs {
            sync_dir(dir).map_err(|e| write_error(dir, e))?;
        }
        // Before the database, whose arrival marks a finished restore: an
        // encrypted database without prism.keys beside it opens with no key.
        let envelope = self.staging.join(ENVELOPE_FILE);
        if envelope.exists() {
            let to = self.dir.join(ENVELOPE_FILE);
            std::fs::rename(&envelope, &to).map_err(|e| write_error(&to, e))?;
        }
        if index.exists() {
            let to = indexes_dir(&self.dir);
            std::fs::rename(&index, &to).map_err(|e| write_error(&to, e))?;
        }
        let to = self.dir.join(DB_FILE);
        std::fs::rename(self.staging.join(DB_FILE), &to).map_err(|e| write_error(&to, e))?;
        std::fs::remove_dir(&self.staging).map_err(|e| write_error(&self.staging, e))?;
        sync_dir(&self.dir).map_err(|e| write_error(&self.dir, e))?;
        if self.created
            && let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty())
        {
            sync_dir(parent).map_err(|e| write_error(parent, e))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.staging);
        if self.created {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// What a database holds, as a manifest records it.
pub(super) struct Facts {
    pub(super) schema_version: u32,
    pub(super) counts: Counts,
    pub(super) collections: HashSet<Uuid>,
}

/// Schema version, row counts and collection ids of a database. A database
/// no Prism has opened yet (schema version 0) holds nothing.
pub(super) fn read_facts(conn: &Connection) -> rusqlite::Result<Facts> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut facts = Facts {
        schema_version: version as u32,
        counts: Counts::default(),
        collections: HashSet::new(),
    };
    if version == 0 {
        return Ok(facts);
    }
    let count = |table: &str| {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
    };
    facts.counts = Counts {
        tenants: count("tenants")?,
        databases: count("databases")?,
        collections: count("collections")?,
        records: count("records")?,
    };
    let mut ids = conn.prepare("SELECT id FROM collections")?;
    facts.collections = ids
        .query_map([], |r| r.get::<_, String>(0))?
        .filter_map(|id| id.ok().and_then(|id| Uuid::parse_str(&id).ok()))
        .collect();
    Ok(facts)
}
