//! Recall@10 and search time of Prism's vector index against exact search on
//! bench/compare.py's kind of data (100 gaussian clusters, dim 384), for a
//! graph built in one go (as after a restart without a saved graph)
//! and one grown by batches of 1,000 (as the benchmark's ingest), at a few
//! `ef_search` values, with how many of each query's true neighbours were found.
//!
//! `cargo run --release -p prism-engine --example recall -- [N] [l2|cosine]`

use std::time::Instant;

use prism_engine::distance::Space;
use prism_engine::index::{IndexParams, IndexTuning, NewVector, PendingGraph, VectorIndex};

#[path = "../benches/support/mod.rs"]
mod support;

const QUERIES: usize = 200;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let space = match args.next().as_deref() {
        Some("cosine") => Space::Cosine,
        _ => Space::L2,
    };
    let (data, queries) = support::clustered(n, QUERIES);
    let truth: Vec<Vec<u32>> = {
        let exact = VectorIndex::from_vectors(
            params(space, 100),
            IndexTuning {
                graph_min_points: usize::MAX,
                ..IndexTuning::default()
            },
            support::DIM,
            &items(&data),
        );
        queries
            .iter()
            .map(|q| exact.search(q, 10, None).iter().map(|h| h.0).collect())
            .collect()
    };
    let tuning = IndexTuning::default();
    for how in ["built in one go", "grown by batches"] {
        let started = Instant::now();
        let mut index = if how == "built in one go" {
            let mut index =
                VectorIndex::from_vectors(params(space, 100), tuning, support::DIM, &items(&data));
            let pending = PendingGraph::prepare(params(space, 100), index.snapshot(), None, None);
            index.attach_graph(pending);
            index
        } else {
            let mut index = VectorIndex::new(params(space, 100), tuning, support::DIM);
            for batch in items(&data).chunks(1000) {
                index.insert(batch);
                index.index_all();
            }
            index
        };
        let build = started.elapsed().as_secs_f32();
        for ef in [50, 100, 150] {
            index.set_params(params(space, ef));
            let started = Instant::now();
            // found[h]: queries that found h of their 10 true neighbours
            let mut found = [0usize; 11];
            for (q, want) in queries.iter().zip(&truth) {
                let got = index.search(q, 10, None);
                found[got.iter().filter(|h| want.contains(&h.0)).count()] += 1;
            }
            let hits: usize = found.iter().enumerate().map(|(h, count)| h * count).sum();
            println!(
                "{space:?} n={n} {how} ({build:.1}s) ef={ef}: recall@10 {:.3}, {:.3} ms/query, found per query {found:?}",
                hits as f32 / (10 * QUERIES) as f32,
                started.elapsed().as_secs_f32() * 1000.0 / QUERIES as f32,
            );
        }
    }
}

fn params(space: Space, ef_search: usize) -> IndexParams {
    IndexParams {
        space,
        ef_construction: 100,
        ef_search,
        max_neighbors: 16,
    }
}

fn items(data: &[Vec<f32>]) -> Vec<NewVector<'_>> {
    data.iter()
        .enumerate()
        .map(|(i, v)| (i as u32, i as i64, v.as_slice()))
        .collect()
}
