//! Whole-graph builds with hnsw_rs, which inserts in parallel on every core;
//! the result is copied into the flat [`Graph`] and hnsw_rs's structure is
//! dropped. Inserts after a build go through [`Graph::insert`].

use hnsw_rs::prelude::Hnsw;

use super::IndexParams;
use super::graph::{Graph, Scored};
use super::points::Points;
use crate::distance::SpaceMetric;

/// hnsw_rs keeps one neighbour count for every layer; hnswlib (Chroma's
/// index) keeps `2 * M` at layer 0. `2 * M` gives the graph Chroma's layer-0
/// degree: with `M` alone, recall@10 on 100 clustered groups of 100,000
/// vectors falls to 0.75 (bench/compare.py), with `2 * M` it is 0.99.
pub(super) fn graph_degree(params: IndexParams) -> usize {
    (2 * params.max_neighbors).clamp(4, 255)
}

/// An empty graph with the collection's parameters.
pub(super) fn empty_graph(params: IndexParams) -> Graph {
    Graph::new(graph_degree(params), params.max_neighbors)
}

/// A graph over every node of `points`, which must all be live.
pub(super) fn build_graph(params: IndexParams, points: &Points) -> Graph {
    debug_assert_eq!(points.tombstones(), 0);
    let degree = graph_degree(params);
    let hnsw: Hnsw<'_, f32, SpaceMetric> = Hnsw::new(
        degree,
        points.nodes().max(1024),
        16,
        params.ef_construction,
        SpaceMetric(params.space),
    );
    let all: Vec<(&[f32], usize)> = (0..points.nodes() as u32)
        .map(|node| (points.vector(node), node as usize))
        .collect();
    hnsw.parallel_insert_slice(&all);
    drop(all);

    let mut levels = vec![0u8; points.nodes()];
    let mut neighbourhoods = Vec::with_capacity(points.nodes());
    for point in hnsw.get_point_indexation() {
        let node = point.get_origin_id();
        levels[node] = point.get_point_id().0;
        neighbourhoods.push((node as u32, point.get_neighborhood_id()));
    }
    let mut graph = empty_graph(params);
    for &level in &levels {
        graph.add_node(level);
    }
    drop(hnsw);
    // hnsw_rs's distances are order-preserving stand-ins; keep true ones.
    let view = points.view();
    for (node, layers) in neighbourhoods {
        for (layer, links) in layers
            .iter()
            .enumerate()
            .take(levels[node as usize] as usize + 1)
        {
            // hnsw_rs can leave a link on a layer its target does not reach;
            // the flat graph has no row for it there.
            let scored: Vec<Scored> = links
                .iter()
                .map(|n| n.d_id as u32)
                .filter(|&to| levels[to as usize] as usize >= layer)
                .take(degree)
                .map(|to| {
                    Scored(
                        points.space().distance(view.vector(node), view.vector(to)),
                        to,
                    )
                })
                .collect();
            graph.set_links(node, layer as u8, &scored);
        }
        graph.offer_entry(node);
    }
    graph
}
