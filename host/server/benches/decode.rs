//! Request decoding: the JSON bodies the Python client sends, decoded as the
//! server does (serde with error paths, base64 embeddings, metadata checks).
//! `cargo bench -p prism-server --bench decode`.

use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prism_server::api::extract::decode_json;
use prism_server::api::types::{AddPayload, QueryPayload, metadata_maps};
use serde_json::json;

const DIM: usize = 384;

fn vector(i: usize) -> Vec<f32> {
    (0..DIM)
        .map(|j| ((i * 31 + j * 7) % 1000) as f32 / 997.0 - 0.5)
        .collect()
}

/// An `add` of `n` records as the chromadb client sends it.
fn add_body(n: usize, base64: bool) -> Vec<u8> {
    let embeddings: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let v = vector(i);
            if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            }
        })
        .collect();
    serde_json::to_vec(&json!({
        "ids": (0..n).map(|i| format!("id-{i}")).collect::<Vec<_>>(),
        "embeddings": embeddings,
        "metadatas": (0..n).map(|i| json!({"cat": i % 10, "n": i})).collect::<Vec<_>>(),
        "documents": (0..n).map(|i| format!("document {i} about topic {}", i % 10)).collect::<Vec<_>>(),
        "uris": null,
    }))
    .unwrap()
}

fn decode_add(body: &[u8]) -> usize {
    let payload: AddPayload = decode_json(body).unwrap();
    let vectors = payload.embeddings.decode().unwrap();
    let metadatas = metadata_maps(payload.metadatas);
    vectors.len() + metadatas.map_or(0, |m| m.len())
}

fn decoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("request decoding");
    for (name, base64) in [
        ("add 1,000 x 384, float lists", false),
        ("add 1,000 x 384, base64", true),
    ] {
        let body = add_body(1000, base64);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| b.iter(|| black_box(decode_add(&body))));
    }
    let query = serde_json::to_vec(&json!({
        "query_embeddings": [vector(7)],
        "n_results": 10,
        "where": {"cat": 3},
        "include": ["metadatas", "documents", "distances"],
    }))
    .unwrap();
    group.throughput(Throughput::Bytes(query.len() as u64));
    group.bench_function("query, 1 x 384 with a where clause", |b| {
        b.iter(|| black_box(decode_json::<QueryPayload>(&query).unwrap()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = decoding
}
criterion_main!(benches);
