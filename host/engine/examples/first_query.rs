//! What a new user sees (issue 18): a collection created, N clustered
//! 384-d vectors added through the Engine API in batches of 1,000, queried at
//! once. Prints the time to acknowledge the adds, the time until the
//! collection is fully indexed, query p50/p99 in the first 10 s after the last
//! add, steady-state p50 once indexed, and peak RSS.
//!
//! `cargo run --release -p prism-engine --example first_query -- [N [MAX_UNINDEXED]]`
//!
//! `-- scan` instead times exact searches of 5k to 40k vectors, which is
//! what a query pays for the vectors outside the graph (how
//! `IndexTuning::max_unindexed`'s default was chosen).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prism_engine::types::{Include, RecordBatch, WriteKind};
use prism_engine::{
    DEFAULT_DATABASE as D, DEFAULT_TENANT as T, Engine, EngineOptions, NewCollection, QueryRequest,
};

#[path = "../benches/support/mod.rs"]
mod support;

const BATCH: usize = 1000;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("scan") {
        return exact_scan();
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut options = EngineOptions::new(tempfile::tempdir().unwrap().keep());
    options.save_interval = None;
    if let Some(max) = std::env::args().nth(2).and_then(|a| a.parse().ok()) {
        options.tuning.max_unindexed = max;
    }
    let dir = options.data_dir.clone();
    let (data, queries) = support::clustered(n, 500);
    let engine = Engine::open(options).unwrap();
    let id = engine
        .create_collection(
            T,
            D,
            NewCollection {
                name: "first".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .id;
    let started = Instant::now();
    for (b, chunk) in data.chunks(BATCH).enumerate() {
        let batch = RecordBatch {
            ids: (0..chunk.len())
                .map(|i| format!("r{}", b * BATCH + i))
                .collect(),
            embeddings: Some(chunk.iter().map(|v| Some(v.clone())).collect()),
            documents: None,
            uris: None,
            metadatas: None,
        };
        engine
            .write_records(T, D, id, WriteKind::Add, &batch)
            .unwrap();
    }
    let acked = started.elapsed();
    println!(
        "n={n}: all adds acknowledged in {:.1} s",
        acked.as_secs_f32()
    );

    let query = |q: &Vec<f32>| {
        let request = QueryRequest {
            embeddings: vec![q.clone()],
            n_results: 10,
            include: Include(vec![]),
            ..Default::default()
        };
        let t = Instant::now();
        let result = engine.query(T, D, id, &request).unwrap();
        assert_eq!(result.hits[0].len(), 10);
        t.elapsed().as_secs_f64() * 1000.0
    };
    let indexed = AtomicBool::new(false);
    let indexed_at = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            loop {
                let (done, total) = engine.indexing_progress(T, D, id).unwrap();
                if done == total {
                    indexed.store(true, Ordering::Relaxed);
                    return started.elapsed();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut early = Vec::new();
        let after_adds = Instant::now();
        while after_adds.elapsed() < Duration::from_secs(10) {
            early.push(query(&queries[early.len() % queries.len()]));
        }
        let (p50, p99) = percentiles(&mut early);
        println!(
            "first 10 s after the last add: {} queries, p50 {p50:.2} ms, p99 {p99:.2} ms",
            early.len()
        );
        watcher.join().unwrap()
    });
    println!(
        "fully indexed {:.1} s after the first add ({:.1} s after the last)",
        indexed_at.as_secs_f32(),
        (indexed_at.saturating_sub(acked)).as_secs_f32()
    );
    let mut steady: Vec<f64> = (0..1000)
        .map(|i| query(&queries[i % queries.len()]))
        .collect();
    let (p50, p99) = percentiles(&mut steady);
    println!("steady state: p50 {p50:.2} ms, p99 {p99:.2} ms");
    println!("peak RSS {} MiB", peak_rss_kib() / 1024);
    drop(engine);
    let _ = std::fs::remove_dir_all(dir);
}

fn exact_scan() {
    use prism_engine::distance::Space;
    use prism_engine::index::{IndexParams, IndexTuning, VectorIndex};
    let (data, queries) = support::clustered(40_000, 200);
    for n in [5_000, 10_000, 20_000, 40_000] {
        let params = IndexParams {
            space: Space::L2,
            ef_construction: 100,
            ef_search: 100,
            max_neighbors: 16,
        };
        let exact_only = IndexTuning {
            graph_min_points: usize::MAX,
            ..IndexTuning::default()
        };
        let mut index = VectorIndex::new(params, exact_only, support::DIM);
        let items: Vec<_> = data[..n]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32, i as i64, v.as_slice()))
            .collect();
        index.insert(&items);
        let mut ms: Vec<f64> = queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                assert_eq!(index.search(q, 10, None).len(), 10);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        let (p50, p99) = percentiles(&mut ms);
        println!(
            "exact scan of {n} x {}: p50 {p50:.2} ms, p99 {p99:.2} ms",
            support::DIM
        );
    }
}

fn percentiles(ms: &mut [f64]) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p) as usize];
    (at(0.5), at(0.99))
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
