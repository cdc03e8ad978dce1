//! Recall@10 of hnsw_rs graphs against exact search on bench/compare.py's
//! kind of data (100 gaussian clusters, dim 384), for two graph degrees and a
//! few `ef`s, with how many of each query's true neighbours were found.
//!
//! `cargo run --release -p prism-engine --example recall -- [N] [l2|cosine]`

use std::time::Instant;

use hnsw_rs::prelude::Hnsw;
use prism_engine::distance::{Space, SpaceMetric};

#[path = "../benches/support/mod.rs"]
mod support;

const QUERIES: usize = 100;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let space = match args.next().as_deref() {
        Some("cosine") => Space::Cosine,
        _ => Space::L2,
    };
    let (data, queries) = support::clustered(n, QUERIES);
    let data: Vec<Vec<f32>> = data.iter().map(|v| space.prepare(v)).collect();
    let queries: Vec<Vec<f32>> = queries.iter().map(|v| space.prepare(v)).collect();
    let truth: Vec<Vec<usize>> = queries
        .iter()
        .map(|q| {
            let mut d: Vec<(f32, usize)> = data
                .iter()
                .enumerate()
                .map(|(i, v)| (space.distance(q, v), i))
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            d[..10].iter().map(|x| x.1).collect()
        })
        .collect();
    let items: Vec<(&[f32], usize)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_slice(), i))
        .collect();
    for degree in [16, 32] {
        let started = Instant::now();
        let hnsw: Hnsw<f32, SpaceMetric> = Hnsw::new(degree, n, 16, 100, SpaceMetric(space));
        hnsw.parallel_insert_slice(&items);
        let build = started.elapsed().as_secs_f32();
        for ef in [100, 200] {
            let started = Instant::now();
            // found[h]: queries that found h of their 10 true neighbours
            let mut found = [0usize; 11];
            for (q, want) in queries.iter().zip(&truth) {
                let got = hnsw.search(q, 10, ef);
                found[got.iter().filter(|n| want.contains(&n.d_id)).count()] += 1;
            }
            let hits: usize = found.iter().enumerate().map(|(h, count)| h * count).sum();
            println!(
                "{space:?} n={n} degree={degree} build={build:.1}s ef={ef}: recall@10 {:.3}, {:.2} ms/query, found per query {found:?}",
                hits as f32 / (10 * QUERIES) as f32,
                started.elapsed().as_secs_f32() * 1000.0 / QUERIES as f32,
            );
        }
    }
}
