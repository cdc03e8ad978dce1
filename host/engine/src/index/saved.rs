//! A graph saved to disk so a restart loads it instead of rebuilding it.
//!
//! `graph.bin` holds, per node in node order: its slot (u32), level (u8) and
//! for each layer up to its level a link count (u8) and the links (u32 node,
//! f32 distance), all little-endian. Vectors are not saved: they are in
//! SQLite, and a restart reads them by slot. `graph.json` (format, space,
//! dimension, degree, node count) is written last; a directory without it is
//! an unfinished save.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::graph::{Graph, Scored};
use super::points::Points;
use super::{IndexParams, empty_graph, graph_degree};
use crate::distance::Space;

const META_FILE: &str = "graph.json";
const GRAPH_FILE: &str = "graph.bin";
/// 3: flat graph files (1 and 2 were hnsw_rs dumps of earlier builds; they
/// are rebuilt).
const FORMAT: u32 = 3;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Meta {
    format: u32,
    space: Space,
    dim: usize,
    degree: usize,
    nodes: usize,
}

/// Write `graph` over `points` into `dir`, replacing what is there: the new
/// files go into a sibling directory that is renamed into place.
pub(super) fn save(dir: &Path, graph: &Graph, points: &Points) -> std::io::Result<()> {
    let fresh = dir.with_extension("new");
    let stale = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh)?;
    let mut out = BufWriter::new(std::fs::File::create(fresh.join(GRAPH_FILE))?);
    for node in 0..graph.len() as u32 {
        let level = graph.level(node);
        out.write_all(&points.slot(node).to_le_bytes())?;
        out.write_all(&[level])?;
        for layer in 0..=level {
            let links = graph.links(node, layer);
            out.write_all(&[links.len() as u8])?;
            for (&to, d) in links.iter().zip(graph.link_distances(node, layer)) {
                out.write_all(&to.to_le_bytes())?;
                out.write_all(&d.to_le_bytes())?;
            }
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let meta = Meta {
        format: FORMAT,
        space: points.space(),
        dim: points.dim(),
        degree: graph.degree(),
        nodes: graph.len(),
    };
    std::fs::write(
        fresh.join(META_FILE),
        serde_json::to_vec(&meta).map_err(std::io::Error::other)?,
    )?;
    let _ = std::fs::remove_dir_all(&stale);
    if dir.exists() {
        std::fs::rename(dir, &stale)?;
    }
    std::fs::rename(&fresh, dir)?;
    let _ = std::fs::remove_dir_all(&stale);
    Ok(())
}

struct SavedNode {
    slot: u32,
    level: u8,
    /// Per layer, links as saved (old node numbers).
    layers: Vec<Vec<Scored>>,
}

/// The graph saved in `dir` fitted to `stored` (the collection's vectors now):
/// saved nodes whose slot is gone are dropped with the links to them, stored
/// vectors the saved graph lacks are inserted. Returns the points in the
/// graph's order, the graph and how many changes it has beyond the saved
/// file. `Ok(None)` when nothing usable is saved.
pub(super) fn load(
    dir: &Path,
    params: IndexParams,
    stored: &Points,
) -> Result<Option<(Points, Graph, usize)>, String> {
    let Ok(text) = std::fs::read_to_string(dir.join(META_FILE)) else {
        return Ok(None);
    };
    let meta: Meta = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let expected = (FORMAT, params.space, stored.dim(), graph_degree(params));
    if (meta.format, meta.space, meta.dim, meta.degree) != expected {
        return Err(format!("saved graph is {meta:?}, need {expected:?}"));
    }
    let bytes = std::fs::read(dir.join(GRAPH_FILE)).map_err(|e| e.to_string())?;
    let saved =
        parse(&bytes, meta.nodes, meta.degree).ok_or("graph file is truncated or corrupt")?;

    // Saved node → new node, for the saved nodes still stored.
    let mut renumber: HashMap<u32, u32> = HashMap::with_capacity(saved.len());
    let mut points = Points::with_capacity(stored.space(), stored.dim(), stored.live_count());
    for (old, node) in saved.iter().enumerate() {
        if let Some(at) = stored.node_of_slot(node.slot) {
            let new = points.push_prepared(node.slot, stored.rec(at), stored.vector(at));
            renumber.insert(old as u32, new);
        }
    }
    let dropped = saved.len() - renumber.len();
    let mut graph = empty_graph(params);
    for node in saved
        .iter()
        .filter(|n| points.node_of_slot(n.slot).is_some())
    {
        graph.add_node(node.level);
    }
    for (old, node) in saved.iter().enumerate() {
        let Some(&new) = renumber.get(&(old as u32)) else {
            continue;
        };
        for (layer, links) in node.layers.iter().enumerate() {
            // Links to dropped nodes go; so would links to nodes that do not
            // reach this layer (a damaged file), which the graph has no row for.
            let kept: Vec<Scored> = links
                .iter()
                .filter(|s| saved[s.1 as usize].level as usize >= layer)
                .filter_map(|s| renumber.get(&s.1).map(|&to| Scored(s.0, to)))
                .collect();
            graph.set_links(new, layer as u8, &kept);
        }
        graph.offer_entry(new);
    }
    let mut added = 0;
    for at in stored.live_nodes() {
        if points.node_of_slot(stored.slot(at)).is_none() {
            points.push_prepared(stored.slot(at), stored.rec(at), stored.vector(at));
            added += 1;
        }
    }
    graph.insert_batch(points.view(), added, params.ef_construction);
    Ok(Some((points, graph, dropped + added)))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let chunk = self.bytes.get(self.at..self.at + N)?;
        self.at += N;
        chunk.try_into().ok()
    }
}

fn parse(bytes: &[u8], nodes: usize, degree: usize) -> Option<Vec<SavedNode>> {
    // `nodes` is read from a file that may be damaged: reserve no more than
    // the bytes can hold (a node takes at least 6).
    const MIN_NODE_BYTES: usize = 6;
    if nodes > bytes.len() / MIN_NODE_BYTES {
        return None;
    }
    let mut r = Reader { bytes, at: 0 };
    let mut out = Vec::with_capacity(nodes);
    for _ in 0..nodes {
        let slot = u32::from_le_bytes(r.take()?);
        let [level] = r.take()?;
        if level > super::graph::MAX_LEVEL {
            return None;
        }
        let mut layers = Vec::with_capacity(level as usize + 1);
        for _ in 0..=level {
            let [count] = r.take()?;
            let count = count as usize;
            if count > degree {
                return None;
            }
            let mut links = Vec::with_capacity(count);
            for _ in 0..count {
                let to = u32::from_le_bytes(r.take()?);
                let d = f32::from_le_bytes(r.take()?);
                if to as usize >= nodes {
                    return None;
                }
                links.push(Scored(d, to));
            }
            layers.push(links);
        }
        out.push(SavedNode {
            slot,
            level,
            layers,
        });
    }
    (r.at == bytes.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_count_the_bytes_cannot_hold_is_refused_without_reserving_it() {
        // One node: slot 7, level 0, no links.
        let one = [7, 0, 0, 0, 0, 0];
        assert_eq!(parse(&one, 1, 32).map(|n| n.len()), Some(1));
        assert!(parse(&one, 2, 32).is_none(), "truncated");
        assert!(parse(&one, usize::MAX / 2, 32).is_none());
        assert!(parse(&[], usize::MAX, 32).is_none());
    }
}
