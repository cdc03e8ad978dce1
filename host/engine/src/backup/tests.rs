//! Backups of a live engine's directory, restored and compared; and every
//! refusal.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::create::create_stepping;
use super::*;
use crate::index::IndexTuning;
use crate::types::{Include, IncludeField, Record, RecordBatch, WriteKind};
use crate::{
    DEFAULT_DATABASE as D, DEFAULT_TENANT as T, EncryptionKey, Engine, EngineOptions, GetRequest,
    NewCollection, QueryRequest,
};

fn options(dir: &Path) -> EngineOptions {
    EngineOptions {
        save_interval: None,
        // Small collections get graphs too, so they are backed up.
        tuning: IndexTuning {
            graph_min_points: 32,
            ..IndexTuning::default()
        },
        ..EngineOptions::new(dir)
    }
}

fn collection(engine: &Engine, name: &str) -> Uuid {
    let new = NewCollection {
        name: name.into(),
        ..Default::default()
    };
    engine.create_collection(T, D, new).unwrap().id
}

/// Record `i` of a batch: its vector, document and metadata follow from
/// its number, so a restored record can be checked against what was sent.
fn vector(i: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..8)
        .map(|d| ((i * 31 + d * 7) % 97) as f32 / 97.0)
        .collect();
    // Distinct for every record, so a query for it finds it first.
    v[0] = i as f32 / 8.0;
    v
}

fn batch(names: &[String]) -> RecordBatch {
    let n: Vec<usize> = names
        .iter()
        .map(|s| s.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    RecordBatch {
        ids: names.to_vec(),
        embeddings: Some(n.iter().map(|&i| Some(vector(i))).collect()),
        documents: Some(n.iter().map(|i| Some(format!("document {i}"))).collect()),
        uris: None,
        metadatas: Some(
            n.iter()
                .map(|&i| {
                    let serde_json::Value::Object(m) = json!({"i": i, "odd": i % 2 == 1}) else {
                        unreachable!()
                    };
                    Some(m)
                })
                .collect(),
        ),
    }
}

fn add(engine: &Engine, id: Uuid, names: &[String]) {
    engine
        .write_records(T, D, id, WriteKind::Add, &batch(names))
        .unwrap();
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

fn everything(engine: &Engine, id: Uuid) -> Vec<Record> {
    let request = GetRequest {
        include: Include(vec![
            IncludeField::Documents,
            IncludeField::Embeddings,
            IncludeField::Metadatas,
        ]),
        ..Default::default()
    };
    engine.get_records(T, D, id, &request).unwrap().records
}

fn backup(data: &Path, out: &Path) -> BackupSummary {
    create(data, out, None, &mut |_| {}).unwrap()
}

fn restore_to(from: &Path, data: &Path) -> std::result::Result<RestoreSummary, BackupError> {
    restore(from, data, None, &mut |_| {})
}

fn graph_json(data: &Path, id: Uuid) -> PathBuf {
    data.join(format!("index/{id}/graph/graph.json"))
}

/// Wait until collection `id`'s graph covers every vector.
fn graph_ready(engine: &Engine, id: Uuid) {
    for _ in 0..3000 {
        let (indexed, total) = engine.indexing_progress(T, D, id).unwrap();
        if indexed == total {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("graph not built");
}

#[test]
fn a_live_directory_round_trips_with_its_graphs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let engine = Engine::open(options(&data)).unwrap();
    let a = collection(&engine, "alpha");
    let b = collection(&engine, "beta");
    add(&engine, a, &names("a", 0..300));
    add(&engine, b, &names("b", 0..5));
    graph_ready(&engine, a);
    assert_eq!(engine.save_indexes().unwrap(), 1);
    // Written after the graph was saved and never flushed: in the WAL only.
    add(&engine, a, &names("a", 300..340));
    let out = dir.path().join("prism.backup");
    let summary = backup(&data, &out);
    assert_eq!(summary.graphs, 1);
    assert_eq!(summary.graphs_skipped, 0);
    assert_eq!(
        summary.manifest.counts,
        Counts {
            tenants: 1,
            databases: 1,
            collections: 2,
            records: 345
        }
    );
    let written = std::fs::metadata(&out).unwrap();
    assert_eq!(summary.bytes, written.len());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(written.permissions().mode() & 0o777, 0o600, "private");

    let restored = dir.path().join("restored");
    let done = restore_to(&out, &restored).unwrap();
    assert_eq!(done.graphs, 1);
    assert_eq!(done.manifest, summary.manifest);
    assert!(graph_json(&restored, a).exists());
    let names_in = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names_in(&restored), ["index", "prism.sqlite3"]);

    let copy = Engine::open(options(&restored)).unwrap();
    for id in [a, b] {
        assert_eq!(everything(&copy, id), everything(&engine, id));
    }
    let query = QueryRequest {
        embeddings: vec![vector(320)],
        n_results: 1,
        include: Include(vec![]),
        ..Default::default()
    };
    let hit = &copy.query(T, D, a, &query).unwrap().hits[0][0].0;
    assert_eq!(hit.id, "a-320");
}

/// A thread adding batches `w<k>-0..10` to collection `id` with `write`
/// until told to stop; it returns how many it added.
fn keep_writing(
    engine: &Arc<Engine>,
    id: Uuid,
    write: fn(&Engine, Uuid, &[String]),
) -> (Arc<AtomicBool>, std::thread::JoinHandle<usize>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (engine, stopped) = (engine.clone(), stop.clone());
    let writer = std::thread::spawn(move || {
        let mut acked = 0;
        while !stopped.load(Ordering::Relaxed) {
            write(&engine, id, &names(&format!("w{acked}"), 0..10));
            acked += 1;
        }
        acked
    });
    (stop, writer)
}

#[test]
fn a_backup_during_writes_holds_exactly_the_batches_committed_before_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let engine = Arc::new(Engine::open(options(&data)).unwrap());
    let id = collection(&engine, "busy");
    // Enough pages that the copy takes many steps between the writes.
    for k in 0..20 {
        add(&engine, id, &names("seed", k * 100..(k + 1) * 100));
    }
    graph_ready(&engine, id);
    let (stop, writer) = keep_writing(&engine, id, add);
    // The graph is saved again and again meanwhile: whichever save the
    // backup carries must not be newer than its records.
    let saver = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                engine.save_indexes().unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    while engine.count_records(T, D, id).unwrap() < 2100 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let before = engine.count_records(T, D, id).unwrap() as usize;
    let out = dir.path().join("busy.backup");
    let mut snapshot_steps = Vec::new();
    create_stepping(
        &data,
        &out,
        None,
        &mut |p| {
            if let Progress::Snapshot { done, total } = p {
                snapshot_steps.push((done, total));
                // A slow copy: many commits and graph saves happen during it.
                std::thread::sleep(Duration::from_millis(1));
            }
        },
        4,
    )
    .unwrap();
    let during = engine.count_records(T, D, id).unwrap() as usize;
    stop.store(true, Ordering::Relaxed);
    let batches = writer.join().unwrap();
    saver.join().unwrap();

    assert!(snapshot_steps.len() > 20, "{} steps", snapshot_steps.len());
    let total = snapshot_steps[0].1;
    assert!(
        snapshot_steps
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[1].1 == total),
        "the copy restarted or changed size: {snapshot_steps:?}"
    );
    assert!(during > before + 10, "writes went on during the backup");

    let restored = dir.path().join("restored");
    restore_to(&out, &restored).unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(graph_json(&restored, id)).unwrap()).unwrap();
    let copy = Engine::open(options(&restored)).unwrap();
    let records = everything(&copy, id);
    assert!(records.len() >= before && records.len() <= during);
    // Only adds: a graph saved with the snapshot's records or earlier has
    // no more nodes than it has records.
    let nodes = saved["nodes"].as_u64().unwrap() as usize;
    assert!(
        nodes <= records.len(),
        "a graph of {nodes} nodes beside {} records",
        records.len()
    );
    assert_eq!(
        copy.count_records(T, D, id).unwrap() as usize,
        records.len()
    );
    // Whole batches, in commit order, each record as it was written.
    let present: BTreeSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let written = (records.len() - 2000) / 10;
    assert!(written <= batches);
    let mut expected: BTreeSet<String> = (0..2000).map(|i| format!("seed-{i}")).collect();
    for k in 0..written {
        expected.extend(names(&format!("w{k}"), 0..10));
    }
    assert_eq!(
        present,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    let sent = batch(&records.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.embedding, sent.embeddings.as_ref().unwrap()[i]);
        assert_eq!(r.document, sent.documents.as_ref().unwrap()[i]);
        assert_eq!(r.metadata, sent.metadatas.as_ref().unwrap()[i]);
    }
}

#[test]
fn graphs_of_collections_not_in_the_snapshot_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let engine = Engine::open(options(&data)).unwrap();
    let a = collection(&engine, "alpha");
    add(&engine, a, &names("a", 0..100));
    graph_ready(&engine, a);
    engine.save_indexes().unwrap();
    // A graph whose collection the snapshot does not have (deleted after
    // its graph was copied, in a real run).
    let ghost = Uuid::new_v4();
    let ghost_dir = data.join(format!("index/{ghost}/graph"));
    std::fs::create_dir_all(&ghost_dir).unwrap();
    for file in ["graph.json", "graph.bin"] {
        std::fs::copy(
            data.join(format!("index/{a}/graph/{file}")),
            ghost_dir.join(file),
        )
        .unwrap();
    }
    let out = dir.path().join("b");
    let summary = backup(&data, &out);
    assert_eq!(summary.graphs, 1);
    let restored = dir.path().join("r");
    restore_to(&out, &restored).unwrap();
    assert!(graph_json(&restored, a).exists());
    assert!(!restored.join(format!("index/{ghost}")).exists());
}

#[test]
fn an_empty_directory_of_a_new_server_backs_up_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(Engine::open(options(&data)).unwrap());
    let out = dir.path().join("b");
    let summary = backup(&data, &out);
    assert_eq!(summary.manifest.counts.records, 0);
    assert_eq!(summary.manifest.files.len(), 1);
    let restored = dir.path().join("r");
    std::fs::create_dir(&restored).unwrap();
    restore_to(&out, &restored).unwrap();
    drop(Engine::open(options(&restored)).unwrap());
}

/// A backup of a small directory with a graph, for the refusals.
fn small_backup(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let engine = Engine::open(options(&data)).unwrap();
    let a = collection(&engine, "alpha");
    add(&engine, a, &names("a", 0..100));
    graph_ready(&engine, a);
    engine.save_indexes().unwrap();
    let out = dir.join("small.backup");
    backup(&data, &out);
    out
}

fn assert_untouched(target: &Path, existed: bool) {
    if existed {
        assert_eq!(std::fs::read_dir(target).unwrap().count(), 0);
    } else {
        assert!(!target.exists(), "{} was left behind", target.display());
    }
}

#[test]
fn restore_refuses_a_directory_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let out = small_backup(dir.path());
    let target = dir.path().join("t");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "mine").unwrap();
    let e = restore_to(&out, &target).unwrap_err();
    assert!(matches!(e, BackupError::TargetNotEmpty { .. }), "{e}");
    let message = e.to_string();
    assert!(
        message.contains("notes.txt") && message.contains("empty or new directory"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("notes.txt")).unwrap(),
        "mine"
    );
    // The data directory it came from is not empty either.
    let e = restore_to(&out, &dir.path().join("data")).unwrap_err();
    assert!(e.to_string().contains("prism.sqlite3"), "{e}");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(
        restore_to(&out, &file).unwrap_err(),
        BackupError::NotADirectory(_)
    ));
}

#[test]
fn restore_refuses_files_that_are_not_backups() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    let check = |bytes: &[u8], expect: &str| {
        let file = dir.path().join("candidate");
        std::fs::write(&file, bytes).unwrap();
        let e = restore_to(&file, &target).unwrap_err();
        assert!(matches!(e, BackupError::NotABackup { .. }), "{e}");
        assert!(e.to_string().contains(expect), "{e}");
        assert_untouched(&target, false);
    };
    check(b"", "empty");
    check(&[0x5a; 4096], "not a tar archive");
    // A tar archive, but of something else.
    let mut other = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(5);
    header.set_mode(0o644);
    other
        .append_data(&mut header, "hello.txt", &b"hello"[..])
        .unwrap();
    check(&other.into_inner().unwrap(), "hello.txt");
    // Its first entry is named like the manifest, but it is not one.
    let mut other = tar::Builder::new(Vec::new());
    let json = br#"{"format":"something-else","format_version":1,"prism_version":"0","schema_version":1,"created_unix_ms":0,"source":"","counts":{"tenants":0,"databases":0,"collections":0,"records":0},"files":[]}"#;
    header.set_size(json.len() as u64);
    other
        .append_data(&mut header, MANIFEST_FILE, &json[..])
        .unwrap();
    check(&other.into_inner().unwrap(), "something-else");

    let e = restore_to(&dir.path().join("nope"), &target).unwrap_err();
    assert!(matches!(e, BackupError::Missing(_)), "{e}");
    assert!(matches!(
        restore_to(dir.path(), &target).unwrap_err(),
        BackupError::NotABackup { .. }
    ));
}

#[test]
fn restore_refuses_truncated_or_altered_backups_and_leaves_the_target_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = small_backup(dir.path());
    let bytes = std::fs::read(&out).unwrap();
    let broken = dir.path().join("broken");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let new = dir.path().join("new");
    // In the middle of every entry's data and of every header but the
    // first (a file cut inside that is not recognisably a backup at all).
    let mut cuts = Vec::new();
    let mut archive = tar::Archive::new(&bytes[..]);
    for (i, entry) in archive.entries().unwrap().enumerate() {
        let entry = entry.unwrap();
        let data_at = entry.raw_file_position() as usize;
        if i > 0 {
            cuts.push(data_at - 256);
        }
        cuts.push(data_at + entry.size() as usize / 2);
    }
    assert_eq!(cuts.len(), 7, "manifest, database and a graph's two files");
    for cut in cuts {
        std::fs::write(&broken, &bytes[..cut]).unwrap();
        for (target, existed) in [(&empty, true), (&new, false)] {
            let e = restore_to(&broken, target).unwrap_err();
            assert!(
                matches!(e, BackupError::Damaged { .. }),
                "cut at {cut}: {e}"
            );
            assert!(e.to_string().contains("truncated or damaged"), "{e}");
            assert_untouched(target, existed);
        }
    }
    // One byte changed inside the database's data.
    let mut altered = bytes.clone();
    let at = 3 * 1024 + 1000;
    altered[at] ^= 0x40;
    std::fs::write(&broken, &altered).unwrap();
    let e = restore_to(&broken, &new).unwrap_err();
    assert!(e.to_string().contains("prism.sqlite3 has SHA-256"), "{e}");
    assert_untouched(&new, false);
    // The intact file still restores.
    restore_to(&out, &new).unwrap();
}

#[test]
fn backup_refuses_what_is_not_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let err = |data: &Path| create(data, &out, None, &mut |_| {}).unwrap_err();
    assert!(matches!(
        err(&dir.path().join("missing")),
        BackupError::Missing(_)
    ));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = err(&empty);
    assert!(e.to_string().contains("not a Prism data directory"), "{e}");
    std::fs::write(empty.join("chroma.sqlite3"), "").unwrap();
    assert!(matches!(err(&empty), BackupError::ChromaDirectory(_)));
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(err(&file), BackupError::NotADirectory(_)));
    let garbage = dir.path().join("garbage");
    std::fs::create_dir(&garbage).unwrap();
    std::fs::write(garbage.join("prism.sqlite3"), [7u8; 8192]).unwrap();
    let e = err(&garbage);
    assert!(matches!(e, BackupError::Database { .. }), "{e}");

    let data = dir.path().join("data");
    drop(Engine::open(options(&data)).unwrap());
    // Not over the server's own files; beside them is fine.
    std::fs::create_dir_all(data.join("index")).unwrap();
    for own in [
        "prism.sqlite3",
        "prism.sqlite3-wal",
        "prism.keys",
        "index/x",
    ] {
        let e = create(&data, &data.join(own), None, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("own files"), "{e}");
    }
    let beside = data.join("backup.tar");
    create(&data, &beside, None, &mut |_| {}).unwrap();
    std::fs::remove_file(beside).unwrap();

    let newer = rusqlite::Connection::open(data.join("prism.sqlite3")).unwrap();
    newer.pragma_update(None, "user_version", 99).unwrap();
    drop(newer);
    let e = err(&data);
    assert!(e.to_string().contains("newer Prism"), "{e}");

    // Where the backup goes must exist; nothing is left beside it on failure.
    let e = create(
        &data,
        &dir.path().join("no/such/dir/out"),
        None,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// Encrypted directories.

const MARKER: &str = "wombat-plaintext-marker";

/// A key file and its key, as `prism run --encryption-key-file` reads them.
fn key(dir: &Path, name: &str) -> EncryptionKey {
    let file = dir.join(name);
    crate::crypto::key_file::write_new(&file).unwrap();
    EncryptionKey {
        key: Arc::new(crate::crypto::key_file::read(&file).unwrap()),
        file,
    }
}

fn encrypted(dir: &Path, key: &EncryptionKey) -> EngineOptions {
    EngineOptions {
        encryption: Some(key.clone()),
        ..options(dir)
    }
}

/// [`add`], with the marker in every document and metadata.
fn add_marked(engine: &Engine, id: Uuid, names: &[String]) {
    let mut marked = batch(names);
    for doc in marked.documents.iter_mut().flatten().flatten() {
        doc.push_str(&format!(" {MARKER}"));
    }
    for meta in marked.metadatas.iter_mut().flatten().flatten() {
        meta.insert("tag".into(), json!(MARKER));
    }
    engine
        .write_records(T, D, id, WriteKind::Add, &marked)
        .unwrap();
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir` that holds the marker.
fn plaintext_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if holds(&std::fs::read(&path).unwrap(), MARKER.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

fn restore_with(
    from: &Path,
    data: &Path,
    key: Option<&EncryptionKey>,
) -> std::result::Result<RestoreSummary, BackupError> {
    restore(from, data, key, &mut |_| {})
}

#[test]
fn an_encrypted_live_directory_backs_up_without_plaintext_and_restores_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(dir.path(), "a.key");
    let data = dir.path().join("data");
    let engine = Arc::new(Engine::open(encrypted(&data, &k)).unwrap());
    let id = collection(&engine, "secret");
    for n in 0..10 {
        add_marked(&engine, id, &names("seed", n * 100..(n + 1) * 100));
    }
    graph_ready(&engine, id);
    assert_eq!(engine.save_indexes().unwrap(), 1);
    let (stop, writer) = keep_writing(&engine, id, add_marked);
    while engine.count_records(T, D, id).unwrap() < 1050 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let before = engine.count_records(T, D, id).unwrap() as usize;
    let out = dir.path().join("secret.backup");
    let mut copied = (0, 0);
    let summary = create_stepping(
        &data,
        &out,
        Some(&k),
        &mut |p| {
            if let Progress::Snapshot { done, total } = p {
                copied = (done, total);
                std::thread::sleep(Duration::from_millis(1));
            }
        },
        4,
    )
    .unwrap();
    assert!(copied.0 == copied.1 && copied.1 > 0, "{copied:?}");
    let during = engine.count_records(T, D, id).unwrap() as usize;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(during > before, "writes went on during the backup");

    let m = &summary.manifest;
    assert!(m.encrypted);
    assert_eq!(m.format_version, 2);
    assert_eq!(m.files[0].path, "prism.keys");
    assert_eq!(summary.graphs, 1);
    let archive = std::fs::read(&out).unwrap();
    assert!(holds(&archive, b"prism.sqlite3"), "the entry is there");
    for plain in [MARKER.as_bytes(), b"document 7", b"SQLite format 3\0"] {
        assert!(
            !holds(&archive, plain),
            "{:?} in the archive",
            String::from_utf8_lossy(plain)
        );
    }
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(leftovers, 0, "scratch files removed");

    let restored = dir.path().join("restored");
    let done = restore_with(&out, &restored, Some(&k)).unwrap();
    assert_eq!(done.graphs, 1);
    assert!(plaintext_in(&restored).is_empty());
    assert_eq!(
        std::fs::read(restored.join("prism.keys")).unwrap(),
        std::fs::read(data.join("prism.keys")).unwrap()
    );
    let graph = std::fs::read(graph_json(&restored, id)).unwrap();
    assert!(crate::crypto::sealed_file::Sealer::is_sealed(&graph));

    let copy = Engine::open(encrypted(&restored, &k)).unwrap();
    let records = everything(&copy, id);
    assert!(records.len() >= before && records.len() <= during);
    assert_eq!(records.len() as u64, m.counts.records);
    let original: std::collections::HashMap<String, Record> = everything(&engine, id)
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    for r in &records {
        assert_eq!(Some(r), original.get(&r.id));
    }
    drop(copy);
    // Without the key the restored directory does not open.
    assert!(Engine::open(options(&restored)).is_err());
}

/// An encrypted directory with a saved graph and its backup.
fn encrypted_backup(dir: &Path, k: &EncryptionKey) -> PathBuf {
    let data = dir.join("enc");
    let engine = Engine::open(encrypted(&data, k)).unwrap();
    let a = collection(&engine, "alpha");
    add_marked(&engine, a, &names("a", 0..100));
    graph_ready(&engine, a);
    engine.save_indexes().unwrap();
    let out = dir.join("enc.backup");
    create(&data, &out, Some(k), &mut |_| {}).unwrap();
    out
}

#[test]
fn encrypted_backups_refuse_a_missing_or_wrong_key_and_plain_ones_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let (k, wrong) = (key(dir.path(), "a.key"), key(dir.path(), "b.key"));
    let out = encrypted_backup(dir.path(), &k);
    let data = dir.path().join("enc");
    let other = dir.path().join("other.backup");

    let e = create(&data, &other, None, &mut |_| {}).unwrap_err();
    assert!(matches!(e, BackupError::KeyRequired(_)), "{e}");
    assert!(e.to_string().contains("--encryption-key-file"), "{e}");
    let e = create(&data, &other, Some(&wrong), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            e,
            BackupError::Key(crate::crypto::CryptoError::WrongKey { .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("does not open"), "{e}");
    assert!(!other.exists());

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let new = dir.path().join("new");
    for target in [&empty, &new] {
        let e = restore_with(&out, target, None).unwrap_err();
        assert!(matches!(e, BackupError::BackupKeyRequired(_)), "{e}");
        assert!(e.to_string().contains("--encryption-key-file"), "{e}");
        let e = restore_with(&out, target, Some(&wrong)).unwrap_err();
        assert!(e.to_string().contains("does not open"), "{e}");
        assert!(e.to_string().contains(&wrong.key.id()), "{e}");
    }
    assert_untouched(&empty, true);
    assert_untouched(&new, false);

    // A plain directory and its backup refuse a key (Prism never mixes the two).
    let plain = small_backup(dir.path());
    let plain_data = dir.path().join("data");
    let e = create(&plain_data, &other, Some(&k), &mut |_| {}).unwrap_err();
    assert!(matches!(e, BackupError::PlainDirectoryGivenKey(_)), "{e}");
    let e = restore_with(&plain, &new, Some(&k)).unwrap_err();
    assert!(matches!(e, BackupError::PlainBackupGivenKey(_)), "{e}");
    assert_untouched(&new, false);
    // Plain backups keep the first format, which older builds read.
    let text = std::fs::read(&plain).unwrap();
    assert!(holds(&text, b"\"format_version\": 1"));
    assert!(!holds(&text, b"\"encrypted\""));

    restore_with(&out, &new, Some(&k)).unwrap();
}

/// `backup` with the entry `path` changed by `change` and the manifest made
/// to match, as someone altering a backup on purpose would.
fn altered(backup: &Path, path: &str, change: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let mut archive = tar::Archive::new(std::fs::File::open(backup).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.push((name, bytes));
    }
    let mut manifest: Manifest = serde_json::from_slice(&entries[0].1).unwrap();
    for (name, bytes) in &mut entries[1..] {
        if name == path {
            change(bytes);
            let file = manifest.files.iter_mut().find(|f| f.path == *name).unwrap();
            file.bytes = bytes.len() as u64;
            file.sha256 = super::archive::hex(&Sha256::digest(&bytes[..]));
        }
    }
    entries[0].1 = serde_json::to_vec(&manifest).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in &entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        tar.append_data(&mut header, name, &bytes[..]).unwrap();
    }
    tar.into_inner().unwrap()
}

#[test]
fn a_tampered_encrypted_backup_is_refused_and_the_target_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(dir.path(), "a.key");
    let out = encrypted_backup(dir.path(), &k);
    let manifest = restore_with(&out, &dir.path().join("first"), Some(&k))
        .unwrap()
        .manifest;
    let graph_bin = manifest
        .files
        .iter()
        .find(|f| f.path.ends_with("graph.bin"))
        .unwrap()
        .path
        .clone();
    // Another directory of the same key file: its envelope unwraps, but
    // holds another data key.
    let swapped_keys = {
        let other = dir.path().join("other");
        drop(Engine::open(encrypted(&other, &k)).unwrap());
        std::fs::read(other.join("prism.keys")).unwrap()
    };
    let broken = dir.path().join("broken");
    let new = dir.path().join("new");
    let flip = |at: usize| move |bytes: &mut Vec<u8>| bytes[at] ^= 0x01;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // Inside a page of the database: SQLCipher's page MAC fails.
        (
            altered(&out, "prism.sqlite3", flip(5000)),
            "integrity check",
        ),
        (
            altered(&out, &graph_bin, flip(100)),
            "does not authenticate",
        ),
        (
            altered(&out, "prism.keys", |b| *b = swapped_keys.clone()),
            "does not decrypt",
        ),
        (altered(&out, "prism.keys", flip(120)), "prism.keys"),
    ];
    for (bytes, expect) in cases {
        std::fs::write(&broken, bytes).unwrap();
        let e = restore_with(&broken, &new, Some(&k)).unwrap_err();
        assert!(e.to_string().contains(expect), "{expect}: {e}");
        assert_untouched(&new, false);
    }
    // Unaltered, rebuilt the same way, it restores.
    std::fs::write(&broken, altered(&out, "none", |_| {})).unwrap();
    restore_with(&broken, &new, Some(&k)).unwrap();
}
