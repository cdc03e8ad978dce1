//! A saved HNSW graph (`index/saved.rs`) read back from bytes that may be
//! damaged: the loader must refuse or repair them, never panic nor allocate
//! what the bytes cannot hold, and the index it yields must answer searches
//! with exactly `min(k, live vectors)` distinct, stored slots, nearest first.
//!
//! Input: `[nodes: u16 LE][graph.bin]`, with a `graph.json` saying `nodes`
//! and carrying no checksum (as older builds wrote it, so that damaged bytes
//! reach the parser); or, when the input starts with `{`, the input is
//! `graph.json` and `graph.bin` is a valid save.

#![no_main]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prism_engine::distance::Space;
use prism_engine::index::{IndexParams, IndexTuning, NewVector, PendingGraph, VectorIndex};
use serde_json::Value;

const DIM: usize = 3;

fn params() -> IndexParams {
    IndexParams {
        space: Space::L2,
        ef_construction: 16,
        ef_search: 8,
        max_neighbors: 4,
    }
}

fn tuning() -> IndexTuning {
    // A graph from the first vector on, so that searches use it.
    IndexTuning {
        graph_min_points: 1,
        ..IndexTuning::default()
    }
}

fn vector(i: u32) -> Vec<f32> {
    let x = i as f32;
    vec![x.sin(), (x * 0.7).cos(), x / 10.0]
}

/// `(slot, record, vector)` of the collection when the graph was saved:
/// odd slots 1..=39.
fn saved_items() -> Vec<(u32, i64, Vec<f32>)> {
    (0..20)
        .map(|i| (2 * i + 1, 100 + i as i64, vector(i)))
        .collect()
}

/// The collection now: some saved slots deleted, new ones written since.
fn stored_items() -> Vec<(u32, i64, Vec<f32>)> {
    let mut items: Vec<_> = saved_items()
        .into_iter()
        .filter(|(slot, ..)| slot % 3 != 0)
        .collect();
    items.extend((40..45).map(|s| (s, 1000 + s as i64, vector(s))));
    items
}

fn as_new(items: &[(u32, i64, Vec<f32>)]) -> Vec<NewVector<'_>> {
    items
        .iter()
        .map(|(s, r, v)| (*s, *r, v.as_slice()))
        .collect()
}

struct Saved {
    dir: PathBuf,
    meta: Value,
    bin: Vec<u8>,
}

fn saved() -> &'static Saved {
    static SAVED: OnceLock<Saved> = OnceLock::new();
    SAVED.get_or_init(|| {
        let dir = prism_fuzz::scratch_dir("saved_graph").join("graph");
        let items = saved_items();
        let mut index = VectorIndex::from_vectors(params(), tuning(), DIM, &as_new(&items));
        index.build_graph_now();
        index.save_graph(&dir, None).expect("save");
        let meta = std::fs::read(dir.join("graph.json")).expect("graph.json");
        let bin = std::fs::read(dir.join("graph.bin")).expect("graph.bin");
        if std::env::var_os("PRISM_FUZZ_PRINT_SEED").is_some() {
            // How the checked-in seed was made.
            let nodes = items.len() as u16;
            let mut seed = nodes.to_le_bytes().to_vec();
            seed.extend_from_slice(&bin);
            std::fs::write("saved_graph.seed", seed).expect("seed");
        }
        Saved {
            dir,
            meta: serde_json::from_slice(&meta).expect("graph.json is JSON"),
            bin,
        }
    })
}

fn check_search(index: &VectorIndex, live: &HashSet<u32>) {
    let queries = [vector(7), vec![5.0, -3.0, 1.0]];
    let candidates: Vec<i64> = stored_items()
        .iter()
        .filter(|(s, ..)| live.contains(s))
        .map(|(_, r, _)| *r)
        .step_by(2)
        .collect();
    for q in &queries {
        for k in [1, 3, live.len() + 2] {
            for filter in [None, Some(candidates.as_slice())] {
                let pool = filter.map_or(live.len(), <[i64]>::len);
                let hits = index.search(q, k, filter);
                assert_eq!(
                    hits.len(),
                    k.min(pool),
                    "k {k}, filtered {}",
                    filter.is_some()
                );
                let slots: HashSet<u32> = hits.iter().map(|h| h.0).collect();
                assert_eq!(slots.len(), hits.len(), "a slot twice: {hits:?}");
                assert!(slots.is_subset(live), "a slot not stored: {hits:?}");
                assert!(
                    hits.windows(2).all(|w| w[0].1 <= w[1].1),
                    "out of order: {hits:?}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let saved = saved();
    let (meta, bin) = if data.first() == Some(&b'{') {
        (data.to_vec(), saved.bin.clone())
    } else if let [lo, hi, bin @ ..] = data {
        let mut meta = saved.meta.clone();
        meta["nodes"] = u16::from_le_bytes([*lo, *hi]).into();
        // Without a checksum (as builds before it wrote), so that damaged
        // bytes reach the parser instead of failing the sum.
        meta.as_object_mut().unwrap().remove("checksum");
        (serde_json::to_vec(&meta).unwrap(), bin.to_vec())
    } else {
        return;
    };
    std::fs::write(saved.dir.join("graph.json"), meta).unwrap();
    std::fs::write(saved.dir.join("graph.bin"), bin).unwrap();

    let stored = stored_items();
    let mut index = VectorIndex::from_vectors(params(), tuning(), DIM, &as_new(&stored));
    let pending = PendingGraph::prepare(params(), index.snapshot(), Some(&saved.dir), None);
    index.attach_graph(pending);
    let mut live: HashSet<u32> = stored.iter().map(|s| s.0).collect();
    assert_eq!(index.len(), live.len());
    check_search(&index, &live);

    // The loaded graph keeps working as the collection changes.
    let gone: Vec<u32> = stored.iter().map(|s| s.0).step_by(4).collect();
    index.remove(&gone);
    for slot in &gone {
        live.remove(slot);
    }
    let fresh: Vec<(u32, i64, Vec<f32>)> =
        (60..64).map(|s| (s, 2000 + s as i64, vector(s))).collect();
    index.insert(&as_new(&fresh));
    live.extend(fresh.iter().map(|f| f.0));
    assert_eq!(index.len(), live.len());
    // Searched exactly as the graph's tail, then through the graph.
    check_search(&index, &live);
    index.index_all();
    check_search(&index, &live);
});
