//! The backup file's layout and the byte-level helpers both directions
//! share: hashing, progress-reporting readers, durable writes, and which
//! paths an archive may hold.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The first entry of every backup.
pub const MANIFEST_FILE: &str = "prism-backup.json";
/// Largest manifest a restore reads: far above a real one (a few hundred
/// bytes per collection), low enough that a hostile file cannot exhaust memory.
pub(super) const MAX_MANIFEST_BYTES: u64 = 64 << 20;
/// Entries of a saved graph directory that a backup carries.
pub(super) const GRAPH_FILES: [&str; 2] = ["graph.json", "graph.bin"];

/// Whether `path` (archive-relative) is one a backup may hold besides the
/// manifest: the database, an encrypted directory's envelope, or a file of a
/// collection's saved graph. Anything else is refused, which also keeps a
/// crafted archive from writing outside the target directory.
pub(super) fn is_allowed_path(path: &str) -> bool {
    if path == crate::DB_FILE || path == crate::crypto::envelope::ENVELOPE_FILE {
        return true;
    }
    let parts: Vec<&str> = path.split('/').collect();
    matches!(
        parts.as_slice(),
        ["index", id, "graph", file] if Uuid::parse_str(id).is_ok() && GRAPH_FILES.contains(file)
    )
}

/// Lower-case hex of a digest.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A writer that hashes what passes through it.
pub(super) struct HashingWriter<W> {
    pub(super) inner: W,
    pub(super) hasher: Sha256,
    pub(super) bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(super) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the hex SHA-256 and the byte count.
    pub(super) fn finish(self) -> (W, String, u64) {
        (self.inner, hex(&self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// SHA-256 (hex) and size of a file.
pub(super) fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut sink = HashingWriter::new(io::sink());
    io::copy(&mut File::open(path)?, &mut sink)?;
    let (_, sha, bytes) = sink.finish();
    Ok((sha, bytes))
}

/// A reader that counts what it reads and reports it, at most every
/// [`REPORT_EVERY`] bytes so a display is not flooded.
pub(super) struct CountingReader<'p, R> {
    pub(super) inner: R,
    pub(super) done: u64,
    reported: u64,
    report: &'p mut dyn FnMut(u64),
}

const REPORT_EVERY: u64 = 1 << 20;

impl<'p, R> CountingReader<'p, R> {
    pub(super) fn new(inner: R, start: u64, report: &'p mut dyn FnMut(u64)) -> Self {
        Self {
            inner,
            done: start,
            reported: start,
            report,
        }
    }
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done - self.reported >= REPORT_EVERY || n == 0 {
            self.reported = self.done;
            (self.report)(self.done);
        }
        Ok(n)
    }
}

/// Make a directory's entries (a rename into it, a new file) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_database_envelope_and_graph_files_are_allowed() {
        let id = Uuid::new_v4();
        assert!(is_allowed_path("prism.sqlite3"));
        assert!(is_allowed_path("prism.keys"));
        assert!(is_allowed_path(&format!("index/{id}/graph/graph.bin")));
        assert!(is_allowed_path(&format!("index/{id}/graph/graph.json")));
        for bad in [
            "../prism.sqlite3".to_string(),
            "/prism.sqlite3".into(),
            "prism.sqlite3-wal".into(),
            "prism.keys.tmp".into(),
            format!("index/{id}/graph/../../../../etc/passwd"),
            format!("index/{id}/graph/other"),
            "index/not-a-uuid/graph/graph.bin".into(),
            format!("index/{id}/graph.new/graph.bin"),
            MANIFEST_FILE.into(),
        ] {
            assert!(!is_allowed_path(&bad), "{bad}");
        }
    }

    #[test]
    fn hashes_are_sha256() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (bytes, sha, n) = w.finish();
        assert_eq!(bytes, b"abc");
        assert_eq!(n, 3);
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
