//! [`create`]: a data directory, live or not, into one backup file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

use super::Progress;
use super::archive::{
    CountingReader, GRAPH_FILES, HashingWriter, MANIFEST_FILE, hash_file, sync_dir,
};
use super::keys::Keys;
use super::restore::{Facts, read_facts};
use super::{
    BackupError, BackupSummary, FORMAT, FORMAT_VERSION, FORMAT_VERSION_PLAIN, FileEntry, Manifest,
};
use crate::EncryptionKey;
use crate::crypto::CryptoError;
use crate::crypto::envelope::ENVELOPE_FILE;
use crate::crypto::sealed_file::Sealer;
use crate::crypto::unlock::DbKey;
use crate::data_dir::{DB_FILE, indexes_dir};
use crate::store::schema::CURRENT_VERSION;

/// Pages copied per backup step (4 MiB at SQLite's default page size): the
/// unit of progress. The copy reads a pinned snapshot, so the server's
/// writer never waits for it however large a step is.
const PAGES_PER_STEP: i32 = 1024;
/// How long the copy may find the source busy (only while another
/// connection recovers the WAL after a crash) before giving up.
const BUSY_LIMIT: Duration = Duration::from_secs(30);
/// Tries at copying a graph that the server is replacing meanwhile.
const GRAPH_ATTEMPTS: usize = 5;

type Result<T> = std::result::Result<T, BackupError>;

/// Write a consistent snapshot of the data directory `data_dir` to the
/// single file `out` (replaced atomically if it exists: written beside it,
/// synced, renamed). A server may be serving writes on `data_dir`
/// meanwhile: the database is only read, through a read-only connection.
/// Needs free space for about twice the database beside `out`.
///
/// An encrypted `data_dir` needs its key file's `key`, and its backup is
/// encrypted under the same keys; a plain one refuses a key.
pub fn create(
    data_dir: &Path,
    out: &Path,
    key: Option<&EncryptionKey>,
    progress: &mut dyn FnMut(Progress),
) -> Result<BackupSummary> {
    create_stepping(data_dir, out, key, progress, PAGES_PER_STEP)
}

/// [`create`], copying `pages_per_step` database pages per step (tests
/// take many small steps to interleave them with writes).
pub(super) fn create_stepping(
    data_dir: &Path,
    out: &Path,
    key: Option<&EncryptionKey>,
    progress: &mut dyn FnMut(Progress),
    pages_per_step: i32,
) -> Result<BackupSummary> {
    let db_path = check_source(data_dir)?;
    let (out_dir, out_name) = check_out(out, data_dir)?;
    let keys = source_keys(data_dir, key)?;
    let pid = std::process::id();
    let work = Scratch::dir(out_dir.join(format!(".{out_name}.prism-backup-{pid}")))?;
    let (source, db_key) = open_source(&db_path, keys.as_ref())?;
    let mut files = Vec::new();
    if let Some(keys) = &keys {
        // First in the archive, so a restore checks the key before it
        // unpacks the database.
        files.push(write_file(&work.path, ENVELOPE_FILE, &keys.envelope)?);
    }

    // Graphs first, so none is newer than the snapshot taken after them.
    let mut phase = Phase::start();
    let (mut graphs, graphs_skipped) = copy_graphs(data_dir, &work.path, keys.is_some(), progress)?;
    phase.done("copy graphs");
    let created = SystemTime::now();
    let snapshot = work.path.join(DB_FILE);
    copy_database(
        &source,
        &db_path,
        &snapshot,
        db_key.as_ref(),
        pages_per_step,
        progress,
    )?;
    phase.done("copy database");
    drop(source);

    progress(Progress::Checking);
    let facts = finish_snapshot(&snapshot, db_key.as_ref())?;
    graphs.retain(|g| facts.collections.contains(&g.collection));
    phase.done("check snapshot");
    let (sha256, bytes) = hash_file(&snapshot).map_err(|e| read_error(&snapshot, e))?;
    phase.done("hash snapshot");
    files.push(FileEntry {
        path: DB_FILE.into(),
        bytes,
        sha256,
    });
    files.extend(graphs.iter().flat_map(|g| g.files.iter().cloned()));
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: match keys {
            Some(_) => FORMAT_VERSION,
            None => FORMAT_VERSION_PLAIN,
        },
        encrypted: keys.is_some(),
        prism_version: env!("CARGO_PKG_VERSION").into(),
        schema_version: facts.schema_version,
        created_unix_ms: created
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        source: data_dir.display().to_string(),
        counts: facts.counts,
        files,
    };

    let partial = Scratch::file(out_dir.join(format!(".{out_name}.prism-partial-{pid}")));
    let bytes = write_archive(&partial.path, &work.path, &manifest, progress)?;
    std::fs::rename(&partial.path, out).map_err(|e| write_error(out, e))?;
    partial.keep();
    sync_dir(&out_dir).map_err(|e| write_error(&out_dir, e))?;
    phase.done("write archive");
    Ok(BackupSummary {
        manifest,
        bytes,
        graphs: graphs.len(),
        graphs_skipped,
    })
}

pub(super) fn read_error(path: &Path, source: io::Error) -> BackupError {
    BackupError::Read {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn write_error(path: &Path, source: io::Error) -> BackupError {
    BackupError::Write {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |source| BackupError::Database {
        path: path.to_path_buf(),
        source,
    }
}

/// The database file of a data directory that exists, is Prism's and can
/// be read.
fn check_source(data_dir: &Path) -> Result<PathBuf> {
    match std::fs::metadata(data_dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BackupError::Missing(data_dir.into()));
        }
        Err(e) => return Err(read_error(data_dir, e)),
        Ok(m) if !m.is_dir() => return Err(BackupError::NotADirectory(data_dir.into())),
        Ok(_) => {}
    }
    // Listing it is what fails on a directory without read permission.
    std::fs::read_dir(data_dir).map_err(|e| read_error(data_dir, e))?;
    let db = data_dir.join(DB_FILE);
    if !db.exists() {
        if data_dir.join("chroma.sqlite3").exists() {
            return Err(BackupError::ChromaDirectory(data_dir.into()));
        }
        return Err(BackupError::NotADataDirectory(data_dir.into()));
    }
    File::open(&db).map_err(|e| read_error(&db, e))?;
    Ok(db)
}

/// The keys of `data_dir` if it is encrypted, unwrapped by `key`.
fn source_keys(data_dir: &Path, key: Option<&EncryptionKey>) -> Result<Option<Keys>> {
    let path = data_dir.join(ENVELOPE_FILE);
    let bytes = match std::fs::read(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return match key {
                Some(_) => Err(BackupError::PlainDirectoryGivenKey(data_dir.into())),
                None => Ok(None),
            };
        }
        bytes => bytes.map_err(|e| read_error(&path, e))?,
    };
    let Some(key) = key else {
        return Err(BackupError::KeyRequired(data_dir.into()));
    };
    Keys::unwrap(bytes, &path, data_dir, key, || {
        BackupError::Unsettled(data_dir.into())
    })
    .map(Some)
}

/// Write `bytes` to the file `name` in `work`; its manifest entry.
fn write_file(work: &Path, name: &str, bytes: &[u8]) -> Result<FileEntry> {
    let path = work.join(name);
    std::fs::write(&path, bytes).map_err(|e| write_error(&path, e))?;
    let mut hashed = HashingWriter::new(io::sink());
    hashed.write_all(bytes).expect("a sink takes everything");
    let (_, sha256, bytes) = hashed.finish();
    Ok(FileEntry {
        path: name.into(),
        bytes,
        sha256,
    })
}

/// The directory `out` goes in (which must exist) and its file name. It
/// may be inside the data directory, but not where the server's own files
/// are: replacing one of them would destroy what is being backed up.
fn check_out(out: &Path, data_dir: &Path) -> Result<(PathBuf, String)> {
    let name = out
        .file_name()
        .ok_or_else(|| write_error(out, io::Error::other("not a file name")))?
        .to_string_lossy()
        .into_owned();
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(write_error(
            out,
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("the directory {} does not exist", dir.display()),
            ),
        ));
    }
    if out.is_dir() {
        return Err(write_error(out, io::Error::other("it is a directory")));
    }
    let (Ok(real_dir), Ok(real_data)) = (dir.canonicalize(), data_dir.canonicalize()) else {
        return Ok((dir, name));
    };
    let own = |name: &str| name.starts_with(DB_FILE) || name.starts_with(ENVELOPE_FILE);
    if (real_dir == real_data && own(&name)) || real_dir.starts_with(indexes_dir(&real_data)) {
        return Err(write_error(
            out,
            io::Error::other(
                "it is one of the data directory's own files; write the backup elsewhere",
            ),
        ));
    }
    Ok((dir, name))
}

/// A read-only connection to a live database, checked to be one this build
/// understands, keyed when `keys` are given (with the key it took). It
/// takes no lock a server on the directory would wait for.
fn open_source(db: &Path, keys: Option<&Keys>) -> Result<(Connection, Option<DbKey>)> {
    let open = || {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_LIMIT)?;
        Ok(conn)
    };
    let (conn, db_key) = match keys {
        None => (open().map_err(db_error(db))?, None),
        Some(keys) => {
            let (conn, db_key) =
                keys.open_db(open)
                    .map_err(|detail| CryptoError::DatabaseKeyMismatch {
                        dir: db.parent().unwrap_or(db).display().to_string(),
                        detail,
                    })?;
            (conn, Some(db_key))
        }
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_error(db))?;
    if version as usize > CURRENT_VERSION {
        return Err(BackupError::NewerSchema {
            path: db.to_path_buf(),
            found: version as u32,
            known: CURRENT_VERSION as u32,
            action: "backup",
        });
    }
    Ok((conn, db_key))
}

/// Copy every page of `source` into a new database at `dest`, all from one
/// read snapshot of the source. An encrypted source is copied under its
/// own `key`: SQLCipher copies pages between databases of one key as they
/// are, so no page of the copy is ever plaintext.
fn copy_database(
    source: &Connection,
    source_path: &Path,
    dest: &Path,
    key: Option<&DbKey>,
    pages_per_step: i32,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let src_err = db_error(source_path);
    // The read transaction is held until the last page is copied: the copy
    // is of this one commit, and the server's later commits neither show up
    // in it nor restart it.
    source.execute_batch("BEGIN").map_err(&src_err)?;
    // SQLCipher answers a keyed connection's page size as text.
    let page_size: i64 = source
        .query_row("PRAGMA page_size", [], |r| {
            Ok(match r.get::<_, rusqlite::types::Value>(0)? {
                rusqlite::types::Value::Integer(n) => n,
                rusqlite::types::Value::Text(n) => n.parse().unwrap_or(0),
                _ => 0,
            })
        })
        .map_err(&src_err)?;
    source
        .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(&src_err)?;
    let mut dest_conn = open_snapshot(dest, key)?;
    // The archive is synced, not this scratch copy.
    dest_conn
        .pragma_update(None, "synchronous", "OFF")
        .map_err(db_error(dest))?;
    {
        let backup = Backup::new(source, &mut dest_conn).map_err(db_error(dest))?;
        let mut busy_since: Option<Instant> = None;
        loop {
            let step = backup.step(pages_per_step).map_err(&src_err)?;
            let p = backup.progress();
            let pages = |n: i32| n.max(0) as u64 * page_size as u64;
            progress(Progress::Snapshot {
                done: pages(p.pagecount - p.remaining),
                total: pages(p.pagecount),
            });
            match step {
                StepResult::Done => break,
                StepResult::More => busy_since = None,
                StepResult::Busy | StepResult::Locked => {
                    let since = *busy_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > BUSY_LIMIT {
                        return Err(src_err(rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                            Some(format!("busy for over {}s", BUSY_LIMIT.as_secs())),
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {}
            }
        }
    }
    source.execute_batch("COMMIT").map_err(&src_err)?;
    dest_conn.close().map_err(|(_, e)| db_error(dest)(e))?;
    Ok(())
}

/// Make the snapshot a self-contained file (the copied header says WAL; a
/// restored file must not need a `-wal` beside it), check it, and read what
/// the manifest records.
fn finish_snapshot(path: &Path, key: Option<&DbKey>) -> Result<Facts> {
    let conn = open_snapshot(path, key)?;
    conn.pragma_update(None, "journal_mode", "DELETE")
        .map_err(db_error(path))?;
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(db_error(path))?;
    if check != "ok" {
        return Err(BackupError::Integrity {
            path: path.to_path_buf(),
            detail: check,
        });
    }
    let facts = read_facts(&conn).map_err(db_error(path))?;
    conn.close().map_err(|(_, e)| db_error(path)(e))?;
    Ok(facts)
}

/// The snapshot at `path`, keyed with `key` before anything reads it.
fn open_snapshot(path: &Path, key: Option<&DbKey>) -> Result<Connection> {
    let conn = Connection::open(path).map_err(db_error(path))?;
    if let Some(key) = key {
        key.apply(&conn).map_err(db_error(path))?;
    }
    Ok(conn)
}

/// A collection's saved graph, copied into the scratch directory.
struct CopiedGraph {
    collection: Uuid,
    files: Vec<FileEntry>,
}

/// Copy the saved graph of every collection into `work`; also how many
/// could not be copied (they are rebuilt after a restore). Graphs of an
/// encrypted directory must be `sealed`.
fn copy_graphs(
    data_dir: &Path,
    work: &Path,
    sealed: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Vec<CopiedGraph>, usize)> {
    let index_dir = indexes_dir(data_dir);
    let listed = match std::fs::read_dir(&index_dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        listed => listed.map_err(|e| read_error(&index_dir, e))?,
    };
    let mut collections: Vec<Uuid> = listed
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| Uuid::parse_str(&entry.file_name().to_string_lossy()).ok())
        .filter(|id| index_dir.join(id.to_string()).join("graph").is_dir())
        .collect();
    collections.sort();
    let total = collections.len();
    let mut copied = Vec::with_capacity(total);
    let mut skipped = 0;
    for (done, id) in collections.into_iter().enumerate() {
        progress(Progress::Graphs { done, total });
        let relative = format!("index/{id}/graph");
        match copy_graph(&data_dir.join(&relative), &work.join(&relative), sealed)? {
            Some(files) => copied.push(CopiedGraph {
                collection: id,
                files: files
                    .into_iter()
                    .map(|(name, sha256, bytes)| FileEntry {
                        path: format!("{relative}/{name}"),
                        bytes,
                        sha256,
                    })
                    .collect(),
            }),
            None => skipped += 1,
        }
    }
    progress(Progress::Graphs { done: total, total });
    Ok((copied, skipped))
}

/// `(file name, sha256, bytes)` of each graph file copied.
type GraphFiles = Vec<(&'static str, String, u64)>;

/// Copy one saved graph (`graph.json` and `graph.bin` of the same save)
/// from `src` to `dst`. `None` when no complete graph could be read: a
/// failure to read costs a rebuild after restore, not the backup. With
/// `sealed`, a graph not sealed is left out too: it is plaintext, which a
/// backup of an encrypted directory never holds (and the server would
/// discard it anyway).
fn copy_graph(src: &Path, dst: &Path, sealed: bool) -> Result<Option<GraphFiles>> {
    for attempt in 0..GRAPH_ATTEMPTS {
        match read_graph(src) {
            Ok(Some((json, bin))) if sealed && !is_sealed(&json, &bin) => {
                tracing::warn!(dir = %src.display(), "saved graph of an encrypted directory is not encrypted; left out of the backup");
                return Ok(None);
            }
            Ok(Some((json, bin))) => return write_graph(dst, &json, bin).map(Some),
            Ok(None) => std::thread::sleep(Duration::from_millis(20 << attempt)),
            Err(e) => {
                tracing::warn!(dir = %src.display(), error = %e, "saved graph unreadable; left out of the backup");
                return Ok(None);
            }
        }
    }
    tracing::warn!(dir = %src.display(), "saved graph kept changing; left out of the backup");
    Ok(None)
}

/// Whether both files of a graph are sealed; read at `bin`'s start without
/// moving its position, from which it is copied.
fn is_sealed(json: &[u8], bin: &File) -> bool {
    let mut head = vec![0; Sealer::MAGIC_LEN];
    Sealer::is_sealed(json) && bin.read_exact_at(&mut head, 0).is_ok() && Sealer::is_sealed(&head)
}

/// `graph.json` and an open `graph.bin` of one save, or `None` if a save
/// replaced the directory while they were read. A save writes a fresh
/// directory and renames it into place, never changing files in place, so
/// the open `graph.bin` is stable; the `graph.json` read between two looks
/// at the same `graph.bin` inode belongs to it (the open file keeps its
/// inode from being reused).
fn read_graph(src: &Path) -> io::Result<Option<(Vec<u8>, File)>> {
    let bin_path = src.join(GRAPH_FILES[1]);
    let not_found = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    let bin = match File::open(&bin_path) {
        Err(e) if not_found(&e) => return Ok(None),
        bin => bin?,
    };
    let inode = bin.metadata()?.ino();
    let json = match std::fs::read(src.join(GRAPH_FILES[0])) {
        Err(e) if not_found(&e) => return Ok(None),
        json => json?,
    };
    match std::fs::metadata(&bin_path) {
        Ok(m) if m.ino() == inode => Ok(Some((json, bin))),
        Ok(_) => Ok(None),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn write_graph(dst: &Path, json: &[u8], mut bin: File) -> Result<GraphFiles> {
    std::fs::create_dir_all(dst).map_err(|e| write_error(dst, e))?;
    let json = write_file(dst, GRAPH_FILES[0], json)?;

    let bin_path = dst.join(GRAPH_FILES[1]);
    let file = File::create(&bin_path).map_err(|e| write_error(&bin_path, e))?;
    let mut hashed = HashingWriter::new(BufWriter::new(file));
    // Both sides of io::copy fail as io::Error; which one is told apart by
    // flushing the writer separately.
    io::copy(&mut bin, &mut hashed).map_err(|e| write_error(&bin_path, e))?;
    let (out, bin_sha, bin_bytes) = hashed.finish();
    out.into_inner()
        .map_err(|e| write_error(&bin_path, e.into_error()))?;
    Ok(vec![
        (GRAPH_FILES[0], json.sha256, json.bytes),
        (GRAPH_FILES[1], bin_sha, bin_bytes),
    ])
}

/// Write the archive to `path` and sync it; its size.
fn write_archive(
    path: &Path,
    work: &Path,
    manifest: &Manifest,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64> {
    let werr = |e| write_error(path, e);
    // Private: it holds every record of every tenant.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(werr)?;
    let file = SyncingWriter { file, unsynced: 0 };
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    let mtime = manifest.created_unix_ms / 1000;
    let json = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
    tar.append_data(
        &mut header(json.len() as u64, mtime),
        MANIFEST_FILE,
        &json[..],
    )
    .map_err(werr)?;
    let total: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    let mut done = 0;
    for entry in &manifest.files {
        let source = work.join(&entry.path);
        let file = File::open(&source).map_err(|e| read_error(&source, e))?;
        let mut report = |d| progress(Progress::Writing { done: d, total });
        let mut reader = CountingReader::new(file, done, &mut report);
        tar.append_data(&mut header(entry.bytes, mtime), &entry.path, &mut reader)
            .map_err(werr)?;
        done = reader.done;
    }
    let file = tar
        .into_inner()
        .map_err(werr)?
        .into_inner()
        .map_err(|e| werr(e.into_error()))?
        .file;
    file.sync_all().map_err(werr)?;
    Ok(file.metadata().map_err(werr)?.len())
}

/// Bytes written between syncs of the archive. One sync at the end would
/// leave the whole archive to be written out at once, and the server's own
/// syncs (one per commit) would queue behind it.
const SYNC_EVERY: u64 = 16 << 20;

/// A file synced every [`SYNC_EVERY`] bytes.
struct SyncingWriter {
    file: File,
    unsynced: u64,
}

impl Write for SyncingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_EVERY {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header
}

/// A scratch file or directory beside the output, removed when dropped
/// unless kept.
struct Scratch {
    path: PathBuf,
    is_dir: bool,
    keep: bool,
}

impl Scratch {
    fn dir(path: PathBuf) -> Result<Self> {
        // A leftover of a killed run with the same process id.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).map_err(|e| write_error(&path, e))?;
        Ok(Self {
            path,
            is_dir: true,
            keep: false,
        })
    }

    fn file(path: PathBuf) -> Self {
        Self {
            path,
            is_dir: false,
            keep: false,
        }
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = if self.is_dir {
            std::fs::remove_dir_all(&self.path)
        } else {
            std::fs::remove_file(&self.path)
        };
    }
}

/// Time taken by each step of a backup, logged at debug level (where a
/// backup's time goes, for an operator tuning around it).
struct Phase(Instant);

impl Phase {
    fn start() -> Self {
        Self(Instant::now())
    }

    fn done(&mut self, what: &str) {
        tracing::debug!(ms = self.0.elapsed().as_millis() as u64, "backup: {what}");
        self.0 = Instant::now();
    }
}
