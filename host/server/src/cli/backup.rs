//! `prism backup` and `prism restore`: the engine's backups, with a progress
//! line while stderr is a terminal and a one-line summary when done.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use prism_engine::EncryptionKey;
use prism_engine::backup::{self, Manifest, Progress};
use prism_engine::crypto::key_file;

use crate::cli::progress::ProgressLine;

/// `prism backup --help`, after the flags.
pub const BACKUP_HELP: &str = "\
The server may be running on DIR and serving writes: the database is read
through a read-only connection, all from one commit (writes acknowledged
before the backup started are in it, later ones are not), and the server's
writers do not wait for it. Saved vector graphs are copied before that
commit is fixed, so none is newer than the records beside it; a graph that
cannot be copied is rebuilt after a restore.

FILE is a tar archive: prism-backup.json (Prism and schema version, record
counts, SHA-256 of every file), prism.sqlite3 and the saved graphs. It is
written beside FILE, synced and renamed into place, so FILE is either the
old file or a whole new backup; that needs free space for about twice the
database next to FILE.

An encrypted DIR (it holds prism.keys) needs --encryption-key-file, and its
backup holds no plaintext: the database is copied under its own key, saved
graphs as they are (sealed), and prism.keys goes in, so the restored
directory opens with the same key file. A plain DIR given a key is refused.";

/// `prism restore --help`, after the flags.
pub const RESTORE_HELP: &str = "\
DIR must be empty or not exist; nothing is written to it unless FILE is a
Prism backup. Every file is checked against the manifest (size, SHA-256) and
the database against its record counts before anything is moved into place,
so a truncated or damaged backup leaves DIR as it was. Then start a server
on it: prism run --path DIR

A backup of an encrypted directory needs --encryption-key-file (the key file
of that directory): the key must unwrap its prism.keys, the database must
decrypt and every saved graph authenticate before DIR is written. A backup
of a plain directory given a key is refused.";

/// How far a backup lowers its CPU priority (`nice`): it shares the machine
/// with the server it copies, whose requests should not wait for it.
const NICENESS: i32 = 10;

/// The key in `file`, if one is given.
fn read_key(file: Option<&Path>) -> anyhow::Result<Option<EncryptionKey>> {
    let Some(file) = file else {
        return Ok(None);
    };
    Ok(Some(EncryptionKey {
        file: file.to_path_buf(),
        key: Arc::new(key_file::read(file)?),
    }))
}

/// Write a backup of `path` (encrypted with the key in `key_file`) to `out`.
pub fn backup(path: &Path, out: &Path, key_file: Option<&Path>) -> anyhow::Result<()> {
    let started = Instant::now();
    let key = read_key(key_file)?;
    #[cfg(unix)]
    if let Err(e) = rustix::process::nice(NICENESS) {
        tracing::debug!(error = %e, "cannot lower the backup's priority");
    }
    let mut line = ProgressLine::new();
    let summary = backup::create(path, out, key.as_ref(), &mut |p| show(&mut line, p));
    line.clear();
    let summary = summary?;
    let m = &summary.manifest;
    let skipped = match summary.graphs_skipped {
        0 => String::new(),
        n => format!(" ({n} left out, rebuilt after a restore)"),
    };
    let encrypted = if m.encrypted { "encrypted, " } else { "" };
    println!(
        "backed up {} to {}: {encrypted}{} collections, {} records, {} saved graphs{skipped}; {} in {:.1}s",
        path.display(),
        out.display(),
        m.counts.collections,
        m.counts.records,
        summary.graphs,
        size(summary.bytes),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// Restore the backup `from` into the empty or new directory `path`, with
/// the key in `key_file` if the backup is encrypted.
pub fn restore(from: &Path, path: &Path, key_file: Option<&Path>) -> anyhow::Result<()> {
    let started = Instant::now();
    let key = read_key(key_file)?;
    let mut line = ProgressLine::new();
    let summary = backup::restore(from, path, key.as_ref(), &mut |p| show(&mut line, p));
    line.clear();
    let summary = summary?;
    let m = &summary.manifest;
    println!(
        "restored {} into {}: {} collections, {} records, {} saved graphs, in {:.1}s",
        from.display(),
        path.display(),
        m.counts.collections,
        m.counts.records,
        summary.graphs,
        started.elapsed().as_secs_f64(),
    );
    println!("{}", provenance(m));
    match key_file.filter(|_| m.encrypted) {
        Some(file) => println!(
            "start it with: prism run --path {} --encryption-key-file {}",
            path.display(),
            file.display()
        ),
        None => println!("start it with: prism run --path {}", path.display()),
    }
    Ok(())
}

/// Where and when a backup was made.
fn provenance(m: &Manifest) -> String {
    format!(
        "the backup is of {}, taken {} by Prism {} (schema version {})",
        m.source,
        utc(m.created_unix_ms),
        m.prism_version,
        m.schema_version
    )
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(ms: u64) -> String {
    format!("{} UTC", crate::utc::date_time(ms / 1000))
}

pub(crate) fn size(bytes: u64) -> String {
    const MIB: f64 = (1 << 20) as f64;
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB)
    }
}

/// A backup's or restore's step on the progress line; the end of a phase
/// is always drawn.
fn show(line: &mut ProgressLine, p: Progress) {
    let phase_end = matches!(p, Progress::Checking | Progress::Graphs { .. });
    line.draw(phase_end, || match p {
        Progress::Graphs { done, total } => format!("copying saved graphs {done}/{total}"),
        Progress::Snapshot { done, total } => fraction("copying the database", done, total),
        Progress::Checking => "checking".to_string(),
        Progress::Writing { done, total } => fraction("writing", done, total),
        Progress::Reading { done, total } => fraction("reading", done, total),
    });
}

fn fraction(what: &str, done: u64, total: u64) -> String {
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    format!("{what} {percent:3}%  {} of {}", size(done), size(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_767_225_599_999), "2025-12-31 23:59:59 UTC");
    }
}
