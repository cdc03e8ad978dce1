//! The HNSW graph of one collection, held in flat arrays: a fixed-width row
//! of neighbour numbers per node and layer. A link is eight bytes (node and
//! distance) and a search touches no lock (the collection's index lock
//! already keeps writers out).
//!
//! This replaced hnsw_rs (docs/PERFORMANCE.md has the measurements): hnsw_rs
//! keeps each link as its own reference-counted allocation and each node
//! behind a lock, which cost about as much memory as the vectors themselves
//! (RSS twice Chroma's) and 1 ms per search at 100k; its graphs, searched
//! either way, reached recall@10 0.90 on clustered data where this insertion
//! reaches 0.996, and they took longer to build (30 s against 17 s at 100k).
//!
//! Nodes are numbered densely by [`super::points::Points`]; the graph never
//! sees slots or records. Insertion follows hnswlib (Chroma's index): a random
//! level per node, greedy descent through the upper layers, a beam search of
//! `ef_construction` candidates per layer, neighbours chosen by the
//! diversity heuristic, and a back-link in each chosen neighbour's row, which
//! drops its farthest link when full.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use rayon::prelude::*;

use crate::distance::Space;

/// Layers above this are never created (hnswlib's levels stay far below it).
pub(super) const MAX_LEVEL: u8 = 15;

/// Candidates kept on layer 1 of a search (see [`Graph::search`]).
const UPPER_BEAM: usize = 8;

/// Read access to the vectors the graph's nodes stand for.
#[derive(Clone, Copy)]
pub(super) struct VectorView<'a> {
    pub space: Space,
    pub dim: usize,
    /// `dim` prepared floats per node.
    pub data: &'a [f32],
}

impl<'a> VectorView<'a> {
    #[inline]
    pub fn vector(&self, node: u32) -> &'a [f32] {
        let start = node as usize * self.dim;
        &self.data[start..start + self.dim]
    }

    #[inline]
    fn distance(&self, query: &[f32], node: u32) -> f32 {
        self.space.distance(query, self.vector(node))
    }
}

/// A candidate or result: distance, then node (ties broken by node so the
/// order is total and searches are deterministic).
#[derive(Clone, Copy, PartialEq)]
pub(super) struct Scored(pub f32, pub u32);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// One layer's links: `degree` entries per row, the first `lens[row]` in use.
struct Layer {
    /// Node → row. `None` on layer 0, where every node has the row of its number.
    rows: Option<HashMap<u32, u32>>,
    links: Vec<u32>,
    /// Distance from the row's node to each link, to find the farthest quickly.
    dists: Vec<f32>,
    lens: Vec<u8>,
}

impl Layer {
    fn new(dense: bool) -> Self {
        Self {
            rows: (!dense).then(HashMap::new),
            links: Vec::new(),
            dists: Vec::new(),
            lens: Vec::new(),
        }
    }

    fn add_row(&mut self, node: u32, degree: usize) {
        let row = self.lens.len() as u32;
        if let Some(rows) = &mut self.rows {
            rows.insert(node, row);
        }
        self.lens.push(0);
        self.links.resize(self.links.len() + degree, 0);
        self.dists.resize(self.dists.len() + degree, 0.0);
    }

    #[inline]
    fn row(&self, node: u32) -> usize {
        match &self.rows {
            None => node as usize,
            Some(rows) => rows[&node] as usize,
        }
    }
}

/// Visit marks reused across searches on a thread: clearing a mark array per
/// search would cost more than the search.
#[derive(Default)]
struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    fn start(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Mark `node`; false if it was already marked in this search.
    #[inline]
    fn first_visit(&mut self, node: u32) -> bool {
        let mark = &mut self.marks[node as usize];
        let fresh = *mark != self.epoch;
        *mark = self.epoch;
        fresh
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = RefCell::default();
}

/// Nodes [`Graph::insert_batch`] plans together.
const BATCH_CHUNK: usize = 1024;

/// hnswlib's level draw, floor(-ln(U) / ln(M)), from a splitmix64 state:
/// deterministic, so builds are reproducible.
fn next_level(rng: &mut u64, level_scale: f64) -> u8 {
    *rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *rng;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let uniform = ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    ((-uniform.ln() * level_scale) as u64).min(u64::from(MAX_LEVEL)) as u8
}

/// The links of a run of new nodes, planned by [`Graph::plan_chunk`] and
/// made by [`Graph::apply_chunk`].
pub(super) struct ChunkPlan {
    /// The first new node's number.
    first: u32,
    levels: Vec<u8>,
    /// The level generator's state after drawing `levels`.
    rng: u64,
    /// Per node and layer, the chosen links.
    links: Vec<Vec<Vec<Scored>>>,
}

impl ChunkPlan {
    /// The first node it adds.
    pub fn first(&self) -> u32 {
        self.first
    }

    /// How many nodes it adds.
    pub fn nodes(&self) -> usize {
        self.levels.len()
    }
}

pub(super) struct Graph {
    /// Links kept per node and layer.
    degree: usize,
    /// Links a new node makes per layer (hnswlib's M); its row fills up to
    /// `degree` with back-links from nodes inserted later.
    new_links: usize,
    /// hnswlib's level multiplier, 1 / ln(M).
    level_scale: f64,
    levels: Vec<u8>,
    layers: Vec<Layer>,
    entry: Option<u32>,
    rng: u64,
}

impl Graph {
    /// An empty graph for nodes with up to `degree` links per layer, new
    /// nodes linking to `new_links` of them.
    pub fn new(degree: usize, new_links: usize) -> Self {
        let new_links = new_links.clamp(2, degree.max(2));
        Self {
            degree,
            new_links,
            level_scale: 1.0 / (new_links as f64).ln(),
            levels: Vec::new(),
            layers: vec![Layer::new(true)],
            entry: None,
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }

    pub fn degree(&self) -> usize {
        self.degree
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    pub fn level(&self, node: u32) -> u8 {
        self.levels[node as usize]
    }

    fn top_level(&self) -> u8 {
        self.entry.map_or(0, |e| self.levels[e as usize])
    }

    /// Where the node's links on `layer` sit in that layer's arrays.
    #[inline]
    fn used_row(&self, node: u32, layer: u8) -> (&Layer, std::ops::Range<usize>) {
        let layer = &self.layers[layer as usize];
        let row = layer.row(node);
        let start = row * self.degree;
        (layer, start..start + layer.lens[row] as usize)
    }

    /// The node's links on `layer` (which must be at most its level).
    #[inline]
    pub fn links(&self, node: u32, layer: u8) -> &[u32] {
        let (layer, used) = self.used_row(node, layer);
        &layer.links[used]
    }

    /// Distances from the node to each of [`Graph::links`].
    pub fn link_distances(&self, node: u32, layer: u8) -> &[f32] {
        let (layer, used) = self.used_row(node, layer);
        &layer.dists[used]
    }

    /// Append a node (numbered `len()`) without links.
    pub fn add_node(&mut self, level: u8) -> u32 {
        let node = self.levels.len() as u32;
        self.levels.push(level);
        while self.layers.len() <= level as usize {
            self.layers.push(Layer::new(false));
        }
        for layer in &mut self.layers[..=level as usize] {
            layer.add_row(node, self.degree);
        }
        node
    }

    /// Replace the node's links on `layer` (at most `degree` are kept).
    pub fn set_links(&mut self, node: u32, layer: u8, links: &[Scored]) {
        let degree = self.degree;
        let layer = &mut self.layers[layer as usize];
        let row = layer.row(node);
        let n = links.len().min(degree);
        for (i, Scored(d, to)) in links[..n].iter().enumerate() {
            layer.links[row * degree + i] = *to;
            layer.dists[row * degree + i] = *d;
        }
        layer.lens[row] = n as u8;
    }

    /// Make `node` the entry point if it reaches higher than the current one.
    pub fn offer_entry(&mut self, node: u32) {
        if self
            .entry
            .is_none_or(|e| self.levels[node as usize] > self.levels[e as usize])
        {
            self.entry = Some(node);
        }
    }

    /// Add `to` to `node`'s links on `layer`; a full row drops its farthest
    /// link if `to` is nearer.
    fn link_back(&mut self, node: u32, layer: u8, to: u32, dist: f32) {
        let degree = self.degree;
        let layer = &mut self.layers[layer as usize];
        let row = layer.row(node);
        let base = row * degree;
        let len = layer.lens[row] as usize;
        if len < degree {
            layer.links[base + len] = to;
            layer.dists[base + len] = dist;
            layer.lens[row] += 1;
            return;
        }
        let (far, far_dist) = layer.dists[base..base + len].iter().enumerate().fold(
            (0, f32::MIN),
            |best, (i, &d)| if d > best.1 { (i, d) } else { best },
        );
        if dist < far_dist {
            layer.links[base + far] = to;
            layer.dists[base + far] = dist;
        }
    }

    /// hnswlib's level draw: floor(-ln(U) / ln(M)).
    fn random_level(&mut self) -> u8 {
        next_level(&mut self.rng, self.level_scale)
    }

    /// Insert the next node (numbered `len()`), whose vector is in `view`.
    pub fn insert(&mut self, view: VectorView<'_>, ef_construction: usize) -> u32 {
        let level = self.random_level();
        let node = self.add_node(level);
        let found = self.candidates(view, node, ef_construction);
        let chosen: Vec<Vec<Scored>> = found.iter().map(|f| self.diverse(view, f)).collect();
        self.connect(node, &chosen);
        node
    }

    /// Insert the nodes numbered `len()..len() + count` together, in
    /// chunks of [`BATCH_CHUNK`] planned by [`Graph::plan_chunk`].
    pub fn insert_batch(&mut self, view: VectorView<'_>, count: usize, ef_construction: usize) {
        let mut remaining = count;
        while remaining > 0 {
            let n = remaining.min(BATCH_CHUNK);
            remaining -= n;
            if self.entry.is_none() || n < 8 {
                for _ in 0..n {
                    self.insert(view, ef_construction);
                }
                continue;
            }
            let plan = self.plan_chunk(view, n, ef_construction);
            self.apply_chunk(plan);
        }
    }

    /// Plan the links of the next `n` nodes (numbered `len()..len() + n`,
    /// their vectors in `view`) without changing the graph, so it can be
    /// done under a shared lock while searches go on. Their neighbours in
    /// the graph are searched in parallel, and the chunk's own members are
    /// compared with each other directly (keep `n` to a few hundred or
    /// thousand: that comparison is quadratic).
    pub fn plan_chunk(&self, view: VectorView<'_>, n: usize, ef_construction: usize) -> ChunkPlan {
        let first = self.len() as u32;
        let mut rng = self.rng;
        let levels: Vec<u8> = (0..n)
            .map(|_| next_level(&mut rng, self.level_scale))
            .collect();
        let level_of = |node: u32| levels[(node - first) as usize];
        let chunk: Vec<u32> = (first..first + n as u32).collect();
        let links: Vec<Vec<Vec<Scored>>> = chunk
            .par_iter()
            .map(|&node| {
                let level = level_of(node);
                let vector = view.vector(node);
                let mut found = self.candidates_for(view, vector, level, ef_construction);
                let level = level as usize;
                let mut peers: Vec<Scored> = chunk
                    .iter()
                    .filter(|&&other| other != node)
                    .map(|&other| Scored(view.distance(vector, other), other))
                    .collect();
                // Peers on upper layers are few; keep them all, sorted.
                let mut upper: Vec<Scored> = peers
                    .iter()
                    .filter(|p| level_of(p.1) > 0)
                    .copied()
                    .collect();
                upper.sort_unstable();
                if peers.len() > ef_construction {
                    peers.select_nth_unstable(ef_construction);
                    peers.truncate(ef_construction);
                }
                while found.len() <= level {
                    // A node above the graph's top reaches only its peers there.
                    found.push(Vec::new());
                }
                for (layer, layer_found) in found.iter_mut().enumerate() {
                    if layer == 0 {
                        layer_found.extend_from_slice(&peers);
                    } else {
                        layer_found.extend(
                            upper
                                .iter()
                                .filter(|p| level_of(p.1) as usize >= layer)
                                .take(ef_construction),
                        );
                    }
                    layer_found.sort_unstable();
                    layer_found.dedup();
                    layer_found.truncate(ef_construction);
                }
                found.iter().map(|f| self.diverse(view, f)).collect()
            })
            .collect();
        ChunkPlan {
            first,
            levels,
            rng,
            links,
        }
    }

    /// Add the planned nodes and their links. Cheap next to planning: meant
    /// for a short exclusive lock. The graph must not have changed since
    /// the plan was made (the caller checks).
    pub fn apply_chunk(&mut self, plan: ChunkPlan) {
        assert_eq!(plan.first as usize, self.len(), "a stale chunk plan");
        for &level in &plan.levels {
            self.add_node(level);
        }
        self.rng = plan.rng;
        for (i, chosen) in plan.links.iter().enumerate() {
            self.connect(plan.first + i as u32, chosen);
        }
    }

    /// For a node already added (without links): per layer from 0 up to its
    /// level (or the graph's top, if lower), the `ef_construction` nearest
    /// nodes the graph leads to, nearest first.
    fn candidates(
        &self,
        view: VectorView<'_>,
        node: u32,
        ef_construction: usize,
    ) -> Vec<Vec<Scored>> {
        self.candidates_for(view, view.vector(node), self.level(node), ef_construction)
    }

    /// [`Graph::candidates`] of a vector at `level`, which need not be a node.
    fn candidates_for(
        &self,
        view: VectorView<'_>,
        query: &[f32],
        level: u8,
        ef_construction: usize,
    ) -> Vec<Vec<Scored>> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        let top = self.top_level();
        let mut nearest = Scored(view.distance(query, entry), entry);
        for layer in (level.saturating_add(1)..=top).rev() {
            nearest = self.greedy(view, query, nearest, layer, None);
        }
        let reach = level.min(top);
        let mut per_layer = vec![Vec::new(); reach as usize + 1];
        let mut entries = vec![nearest];
        for layer in (0..=reach).rev() {
            let found = self.search_layer(
                view,
                query,
                &entries,
                ef_construction,
                layer,
                |_| true,
                None,
            );
            per_layer[layer as usize] = found.clone();
            entries = found;
        }
        per_layer
    }

    /// Give `node` its chosen links per layer and link each neighbour back.
    fn connect(&mut self, node: u32, chosen: &[Vec<Scored>]) {
        for (layer, links) in chosen.iter().enumerate() {
            let layer = layer as u8;
            self.set_links(node, layer, links);
            for &Scored(d, neighbour) in links {
                self.link_back(neighbour, layer, node, d);
            }
        }
        self.offer_entry(node);
    }

    /// hnswlib's neighbour heuristic: walking candidates nearest first, keep
    /// one only if it is nearer to the new node than to every one kept, so
    /// links spread in different directions instead of into one cluster.
    /// A node left with fewer than a quarter of its links gets the nearest
    /// candidates it passed over (the paper's "keep pruned connections", in
    /// part): without that, a hub — one vector near all others, like a zero
    /// vector among random ones — would leave every node with a single
    /// link, to the hub. Filling every free place instead costs recall on
    /// clustered data (0.994 against 1.000 at 20k, `--example recall`): rows
    /// fill with near links, and a full row drops its farthest link, which
    /// is the one that leads to another cluster.
    fn diverse(&self, view: VectorView<'_>, found: &[Scored]) -> Vec<Scored> {
        if found.len() <= self.new_links {
            return found.to_vec();
        }
        let mut chosen: Vec<Scored> = Vec::with_capacity(self.new_links);
        let mut passed_over: Vec<Scored> = Vec::new();
        for &candidate in found {
            if chosen.len() == self.new_links {
                break;
            }
            let vector = view.vector(candidate.1);
            if chosen
                .iter()
                .all(|kept| view.distance(vector, kept.1) >= candidate.0)
            {
                chosen.push(candidate);
            } else {
                passed_over.push(candidate);
            }
        }
        let room = (self.new_links / 4).max(2).saturating_sub(chosen.len());
        chosen.extend(passed_over.into_iter().take(room));
        chosen
    }

    fn greedy(
        &self,
        view: VectorView<'_>,
        query: &[f32],
        mut nearest: Scored,
        layer: u8,
        left_out: Option<u32>,
    ) -> Scored {
        loop {
            let mut moved = false;
            for &n in self.links(nearest.1, layer) {
                if Some(n) == left_out {
                    continue;
                }
                let d = view.distance(query, n);
                if d < nearest.0 {
                    nearest = Scored(d, n);
                    moved = true;
                }
            }
            if !moved {
                return nearest;
            }
        }
    }

    /// Up to `ef` accepted nodes nearest to `query`, nearest first. Nodes
    /// `accept` refuses are still walked through, just not returned.
    pub fn search(
        &self,
        view: VectorView<'_>,
        query: &[f32],
        ef: usize,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        self.search_without(view, query, ef, accept, None)
    }

    /// As [`Graph::search`] on the graph without node `left_out`: it is
    /// neither walked through nor returned (unless it is the entry point,
    /// which is left at once). A search for a node's own vector that may
    /// not use the node's links fares as a new query near it does, which
    /// is what measuring a search breadth needs: through the node itself,
    /// its neighbours are one step away.
    pub fn search_leaving_out(
        &self,
        view: VectorView<'_>,
        query: &[f32],
        ef: usize,
        left_out: u32,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        self.search_without(
            view,
            query,
            ef,
            |n| n != left_out && accept(n),
            Some(left_out),
        )
    }

    fn search_without(
        &self,
        view: VectorView<'_>,
        query: &[f32],
        ef: usize,
        accept: impl Fn(u32) -> bool,
        left_out: Option<u32>,
    ) -> Vec<Scored> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        let mut nearest = if Some(entry) == left_out {
            Scored(f32::INFINITY, entry)
        } else {
            Scored(view.distance(query, entry), entry)
        };
        for layer in (2..=self.top_level()).rev() {
            nearest = self.greedy(view, query, nearest, layer, left_out);
        }
        // On well separated clusters a single greedy path through layer 1
        // sometimes stops in the wrong cluster, and layer 0 cannot leave
        // it (a tenth of a percent of queries found none of their
        // neighbours). A small beam on layer 1, all of whose finds enter
        // layer 0, costs little: layer 1 holds a sixteenth of the nodes.
        let entries = if self.top_level() >= 1 {
            self.search_layer(
                view,
                query,
                &[nearest],
                UPPER_BEAM,
                1,
                |n| Some(n) != left_out,
                left_out,
            )
        } else {
            vec![nearest]
        };
        self.search_layer(view, query, &entries, ef, 0, accept, left_out)
    }

    /// Beam search on one layer (hnswlib's `searchBaseLayerST`).
    // Every input is the beam's own; a struct of them would be built once
    // per layer on the hot path for nothing.
    #[allow(clippy::too_many_arguments)]
    fn search_layer(
        &self,
        view: VectorView<'_>,
        query: &[f32],
        entries: &[Scored],
        ef: usize,
        layer: u8,
        accept: impl Fn(u32) -> bool,
        left_out: Option<u32>,
    ) -> Vec<Scored> {
        // `ef` comes from collection settings or a request's `n_results`:
        // no list can hold more than the graph's nodes, so nothing is
        // reserved beyond that.
        let ef = ef.clamp(1, self.levels.len().max(1));
        VISITED.with_borrow_mut(|visited| {
            visited.start(self.levels.len());
            let mut frontier: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(ef * 2);
            let mut results: BinaryHeap<Scored> = BinaryHeap::with_capacity(ef + 1);
            for &e in entries {
                if visited.first_visit(e.1) {
                    frontier.push(Reverse(e));
                    if accept(e.1) {
                        results.push(e);
                    }
                }
            }
            if let Some(n) = left_out {
                visited.first_visit(n);
            }
            while results.len() > ef {
                results.pop();
            }
            let worst = |results: &BinaryHeap<Scored>| {
                if results.len() >= ef {
                    results.peek().map_or(f32::INFINITY, |w| w.0)
                } else {
                    f32::INFINITY
                }
            };
            let mut bound = worst(&results);
            while let Some(Reverse(current)) = frontier.pop() {
                if current.0 > bound {
                    break;
                }
                for &n in self.links(current.1, layer) {
                    if !visited.first_visit(n) {
                        continue;
                    }
                    let d = view.distance(query, n);
                    if d < bound {
                        frontier.push(Reverse(Scored(d, n)));
                        if accept(n) {
                            results.push(Scored(d, n));
                            if results.len() > ef {
                                results.pop();
                            }
                            bound = worst(&results);
                        }
                    }
                }
            }
            results.into_sorted_vec()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(data: &[f32], dim: usize) -> VectorView<'_> {
        VectorView {
            space: Space::L2,
            dim,
            data,
        }
    }

    #[test]
    fn rows_keep_the_nearest_links_when_full() {
        let mut g = Graph::new(2, 2);
        for _ in 0..4 {
            g.add_node(0);
        }
        g.link_back(0, 0, 1, 3.0);
        g.link_back(0, 0, 2, 1.0);
        g.link_back(0, 0, 3, 2.0);
        let mut links = g.links(0, 0).to_vec();
        links.sort_unstable();
        assert_eq!(links, vec![2, 3], "the farthest link (1) made room");
        g.link_back(0, 0, 1, 9.0);
        assert!(!g.links(0, 0).contains(&1), "a farther link is not taken");
    }

    #[test]
    fn levels_follow_hnswlib_distribution() {
        let mut g = Graph::new(32, 16);
        let draws: Vec<u8> = (0..100_000).map(|_| g.random_level()).collect();
        let above0 = draws.iter().filter(|&&l| l > 0).count() as f64 / draws.len() as f64;
        // P(level >= 1) = 1/M.
        assert!((above0 - 1.0 / 16.0).abs() < 0.005, "{above0}");
        assert!(draws.iter().all(|&l| l <= MAX_LEVEL));
    }

    #[test]
    fn batches_link_to_the_graph_and_to_each_other() {
        let data: Vec<f32> = (0..3000).map(|i| (i as f32 * 0.37).sin() * 100.0).collect();
        let v = view(&data, 1);
        let mut g = Graph::new(8, 4);
        for _ in 0..10 {
            g.insert(v, 32);
        }
        g.insert_batch(v, 2990, 32);
        assert_eq!(g.len(), 3000);
        for (i, q) in data.iter().enumerate().step_by(97) {
            let hit = g.search(v, &[*q], 10, |_| true)[0];
            assert_eq!(hit.0, 0.0, "node {i}'s own value is found");
        }
    }

    #[test]
    fn a_hub_does_not_swallow_every_link() {
        // A zero vector among random ones is nearer to each of them than
        // they are to each other; the heuristic alone would link every node
        // to it and nothing else.
        let dim = 64;
        let mut seed = 3u64;
        let mut data = vec![0.0f32; dim];
        for _ in 0..2000 * dim {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            data.push(((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5);
        }
        let v = view(&data, dim);
        let mut g = Graph::new(32, 16);
        g.insert_batch(v, 2001, 100);
        let lonely = (1..2001u32).filter(|&n| g.links(n, 0).len() < 4).count();
        assert_eq!(lonely, 0, "nodes with fewer than 4 links");
        let found = (1..2001u32)
            .step_by(50)
            .filter(|&n| g.search(v, v.vector(n), 50, |_| true)[0].1 == n)
            .count();
        assert!(found >= 39, "{found}/40 found themselves");
    }

    #[test]
    fn a_line_of_points_is_searched_exactly() {
        let data: Vec<f32> = (0..500).map(|i| i as f32).collect();
        let mut g = Graph::new(8, 4);
        for node in 0..500u32 {
            let v = view(&data[..=node as usize], 1);
            assert_eq!(g.insert(v, 32), node);
        }
        let v = view(&data, 1);
        let hits = g.search(v, &[250.2], 5, |_| true);
        let nodes: Vec<u32> = hits.iter().map(|h| h.1).collect();
        assert_eq!(nodes, vec![250, 251, 249, 252, 248]);
        let odd = g.search(v, &[250.2], 3, |n| n % 2 == 1);
        assert_eq!(
            odd.iter().map(|h| h.1).collect::<Vec<_>>(),
            vec![251, 249, 253]
        );
    }

    #[test]
    fn a_node_left_out_is_neither_returned_nor_walked_through() {
        let data: Vec<f32> = (0..500).map(|i| i as f32).collect();
        let mut g = Graph::new(8, 4);
        for node in 0..500u32 {
            g.insert(view(&data[..=node as usize], 1), 32);
        }
        let v = view(&data, 1);
        for left_out in [0, 250, 499, g.entry.unwrap()] {
            let query = [left_out as f32];
            let hits = g.search_leaving_out(v, &query, 4, left_out, |_| true);
            let nodes: Vec<u32> = hits.iter().map(|h| h.1).collect();
            assert_eq!(nodes.len(), 4, "{left_out}: {nodes:?}");
            assert!(!nodes.contains(&left_out));
            let mut want: Vec<u32> = (0..500u32).filter(|&n| n != left_out).collect();
            want.sort_by_key(|&n| (n as i64 - left_out as i64).abs());
            let mut sorted = nodes.clone();
            sorted.sort_unstable();
            want.truncate(4);
            want.sort_unstable();
            assert_eq!(sorted, want, "left out {left_out}");
        }
        // A chain 0 - 1 - 2 entered at 0: without 1, 2 cannot be reached.
        let chain = [0.0f32, 1.0, 2.0];
        let mut line = Graph::new(2, 2);
        for _ in 0..3 {
            line.add_node(0);
        }
        line.link_back(0, 0, 1, 1.0);
        line.link_back(1, 0, 0, 1.0);
        line.link_back(1, 0, 2, 1.0);
        line.link_back(2, 0, 1, 1.0);
        line.entry = Some(0);
        let nodes = |hits: Vec<Scored>| hits.iter().map(|h| h.1).collect::<Vec<_>>();
        let v = view(&chain, 1);
        assert_eq!(nodes(line.search(v, &[2.0], 3, |_| true)), vec![2, 1, 0]);
        assert_eq!(
            nodes(line.search_leaving_out(v, &[2.0], 3, 1, |_| true)),
            vec![0]
        );
    }
}
