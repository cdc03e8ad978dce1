//! The in-memory vector index of one collection: its vectors, numbered as
//! graph nodes ([`points`]), and an HNSW graph over them ([`graph`]) once the
//! collection is big enough that an exact scan stops being the fast path.
//!
//! Vectors are addressed from outside by *slot*: a number SQLite assigns to
//! each stored embedding version. A slot is never reused, so applying a
//! committed change twice is harmless (insert skips known slots, remove skips
//! unknown ones).

mod breadth;
mod graph;
mod points;
mod quantized;
mod saved;

use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use crate::crypto::sealed_file::Sealer;
use crate::distance::Space;
pub use breadth::{PROBE_SAMPLES, Sample, SearchBreadth, TUNABLE_EF_SEARCH, Tally};
use graph::{ChunkPlan, Graph, Scored};
pub use points::NewVector;
use points::Points;
use rayon::prelude::*;

/// HNSW parameters of a collection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexParams {
    /// Distance space.
    pub space: Space,
    /// Candidate list size while building.
    pub ef_construction: usize,
    /// Candidate list size while searching.
    pub ef_search: usize,
    /// Neighbours kept per node (M).
    pub max_neighbors: usize,
}

/// Tuning knobs that are not per collection.
#[derive(Debug, Clone, Copy)]
pub struct IndexTuning {
    /// Below this many vectors there is no graph: exact search is as fast.
    pub graph_min_points: usize,
    /// Most vectors a collection may hold outside its graph (written, not
    /// yet indexed): past it, writes wait for the indexer. Every query scans
    /// those vectors exactly, so this bounds what a query costs while a
    /// collection is being written ([`DEFAULT_MAX_UNINDEXED`]).
    pub max_unindexed: usize,
    /// Vectors the background indexer plans into the graph per step. A step
    /// is planned under the index's shared lock (searches go on, a writer
    /// waits for it) and applied under a short exclusive one.
    pub index_chunk: usize,
}

/// Default of [`IndexTuning::max_unindexed`]: an exact scan of this many
/// 384-float vectors takes about 1.5 ms on one core (docs/PERFORMANCE.md,
/// "From the first query after a write"), and while the indexer works the
/// other core is its.
pub const DEFAULT_MAX_UNINDEXED: usize = 10_000;

/// Default of [`IndexTuning::index_chunk`]: about 40 ms of planning at 100k
/// 384-d vectors on two cores, which is what a writer may wait for.
pub const DEFAULT_INDEX_CHUNK: usize = 256;

impl Default for IndexTuning {
    fn default() -> Self {
        Self {
            graph_min_points: 4096,
            max_unindexed: DEFAULT_MAX_UNINDEXED,
            index_chunk: DEFAULT_INDEX_CHUNK,
        }
    }
}

/// One collection's vectors.
pub struct VectorIndex {
    params: IndexParams,
    tuning: IndexTuning,
    points: Points,
    /// Covers the first `graph.len()` nodes of `points`, tombstones
    /// included; the nodes after them (the tail) are searched exactly until
    /// the indexer ([`VectorIndex::plan_indexing`]) adds them.
    graph: Option<Graph>,
    /// Changes whenever the graph is replaced or dropped or the nodes are
    /// renumbered, so that a step planned before is not applied after.
    generation: u64,
    /// A graph is being prepared in the background; don't build one inline.
    graph_pending: bool,
    /// Inserts and removals since the graph was last saved.
    unsaved_changes: AtomicUsize,
    /// The search breadth measured for the graph ([`breadth`]); `None`
    /// until measured, or when the collection's `ef_search` is its own.
    breadth: Option<SearchBreadth>,
}

/// The live vectors of an index, copied to build or load a graph off the
/// index's lock.
pub struct Snapshot(Points);

/// A graph prepared away from the index's lock, with the vectors it was
/// prepared over and how many of its nodes are not yet saved to disk.
pub struct PendingGraph {
    points: Points,
    graph: Graph,
    unsaved: usize,
}

/// One step of the background indexer: the next nodes of the tail, with
/// their links planned under the index's shared lock.
pub struct IndexingStep {
    generation: u64,
    /// The graph's size when planned: the first node the step adds.
    first: usize,
    count: usize,
    /// `None` when the graph is empty or the step tiny: the nodes are then
    /// inserted one by one when applied (cheap at that size).
    plan: Option<ChunkPlan>,
}

impl PendingGraph {
    /// Load the graph saved in `saved_in` if given and it fits these
    /// parameters, else build one from `snapshot`. Slow: call it without
    /// holding the index's lock.
    /// `sealer` opens the files of an encrypted data directory.
    pub fn prepare(
        params: IndexParams,
        snapshot: Snapshot,
        saved_in: Option<&Path>,
        sealer: Option<&Sealer>,
    ) -> Self {
        match saved_in.and_then(|dir| Self::load(params, &snapshot, dir, sealer)) {
            Some(loaded) => loaded,
            None => Self::build(params, snapshot),
        }
    }

    /// The graph saved in `dir`, if there is one and it fits these
    /// parameters, fitted to `snapshot` (the vectors stored now). Slow: call
    /// it without holding the index's lock.
    pub fn load(
        params: IndexParams,
        snapshot: &Snapshot,
        dir: &Path,
        sealer: Option<&Sealer>,
    ) -> Option<Self> {
        match saved::load(dir, params, &snapshot.0, sealer) {
            Ok(Some((points, graph, unsaved))) => Some(Self {
                points,
                graph,
                unsaved,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "saved graph unusable; rebuilding");
                None
            }
        }
    }

    fn build(params: IndexParams, snapshot: Snapshot) -> Self {
        let points = snapshot.0;
        let graph = build_graph(params, &points);
        Self {
            unsaved: points.nodes(),
            points,
            graph,
        }
    }
}

/// Links per node and layer: hnswlib (Chroma's index) keeps `2 * M` at
/// layer 0 and `M` above. Rows have one width, so upper-layer rows have room
/// to spare (they are few).
fn graph_degree(params: IndexParams) -> usize {
    (2 * params.max_neighbors).clamp(4, 255)
}

/// An empty graph with the collection's parameters.
fn empty_graph(params: IndexParams) -> Graph {
    Graph::new(graph_degree(params), params.max_neighbors)
}

/// A graph over every node of `points`, which must all be live.
fn build_graph(params: IndexParams, points: &Points) -> Graph {
    debug_assert_eq!(points.tombstones(), 0);
    let mut graph = empty_graph(params);
    graph.insert_batch(points.view(), points.nodes(), params.ef_construction);
    graph
}

/// One bit per node: which nodes a filtered graph search may return.
struct NodeSet(Vec<u64>);

impl NodeSet {
    fn new(nodes: usize, members: &[u32]) -> Self {
        let mut bits = vec![0u64; nodes.div_ceil(64)];
        for &n in members {
            bits[n as usize / 64] |= 1 << (n % 64);
        }
        Self(bits)
    }

    #[inline]
    fn contains(&self, node: u32) -> bool {
        self.0[node as usize / 64] & (1 << (node % 64)) != 0
    }
}

impl VectorIndex {
    /// An empty index for vectors of `dim` floats.
    pub fn new(params: IndexParams, tuning: IndexTuning, dim: usize) -> Self {
        Self {
            params,
            tuning,
            points: Points::new(params.space, dim),
            graph: None,
            generation: 0,
            graph_pending: false,
            unsaved_changes: AtomicUsize::new(0),
            breadth: None,
        }
    }

    /// Number of live vectors.
    pub fn len(&self) -> usize {
        self.points.live_count()
    }

    /// Whether no vector is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.points.dim()
    }

    /// Take new parameters: `ef_search` applies at once, build parameters at
    /// the next graph rebuild. The space never changes.
    pub fn set_params(&mut self, params: IndexParams) {
        debug_assert_eq!(params.space, self.params.space);
        self.params = params;
    }

    /// Add vectors to the tail: searchable (exactly) at once, added to the
    /// graph by the indexer ([`VectorIndex::plan_indexing`]), which also
    /// gives a collection that grows past the threshold its first graph.
    /// Known slots are skipped.
    pub fn insert(&mut self, items: &[NewVector<'_>]) {
        let added = items
            .iter()
            .filter(|&&item| self.points.push_raw(item).is_some())
            .count();
        *self.unsaved_changes.get_mut() += added;
    }

    /// Nodes the graph covers (0 without a graph).
    fn graphed(&self) -> usize {
        self.graph.as_ref().map_or(0, Graph::len)
    }

    /// Whether the collection is big enough to be searched through a graph
    /// but has none yet (one is prepared, or the indexer starts one).
    fn awaits_graph(&self) -> bool {
        self.graph.is_none() && (self.graph_pending || self.len() >= self.tuning.graph_min_points)
    }

    /// Nodes (tombstones included) waiting to be added to the graph. Small
    /// collections, searched exactly by design, have none.
    pub fn unindexed(&self) -> usize {
        if self.graph.is_some() || self.awaits_graph() {
            self.points.nodes() - self.graphed()
        } else {
            0
        }
    }

    /// `(indexed, total)` live vectors: total is every live vector, indexed
    /// those searched through the graph, or all of them while the
    /// collection is small enough for exact search to be its index.
    pub fn progress(&self) -> (usize, usize) {
        let total = self.len();
        if self.graph.is_none() {
            return if self.awaits_graph() {
                (0, total)
            } else {
                (total, total)
            };
        }
        let tail_live = (self.graphed() as u32..self.points.nodes() as u32)
            .filter(|&n| self.points.is_live(n))
            .count();
        (total - tail_live, total)
    }

    /// Plan the next step of indexing: up to `tuning.index_chunk` nodes of
    /// the tail, their links found against the graph as it is (the slow
    /// part, done under the shared lock). `None` when there is nothing to
    /// do, or a graph is being prepared in the background (it catches up
    /// on attach).
    pub fn plan_indexing(&self) -> Option<IndexingStep> {
        if self.graph_pending || (self.graph.is_none() && !self.awaits_graph()) {
            return None;
        }
        let first = self.graphed();
        let count = (self.points.nodes() - first).min(self.tuning.index_chunk.max(1));
        if count == 0 {
            return None;
        }
        let plan = self
            .graph
            .as_ref()
            .filter(|g| !g.is_empty() && count >= 8)
            .map(|g| g.plan_chunk(self.points.view(), count, self.params.ef_construction));
        Some(IndexingStep {
            generation: self.generation,
            first,
            count,
            plan,
        })
    }

    /// Apply a step from [`VectorIndex::plan_indexing`] (quick: the links
    /// are planned). Returns false, changing nothing, if the graph changed
    /// since the step was planned; plan again then.
    pub fn apply_indexing(&mut self, step: IndexingStep) -> bool {
        if step.generation != self.generation
            || self.graph_pending
            || step.first != self.graphed()
            || step.first + step.count > self.points.nodes()
        {
            return false;
        }
        let params = self.params;
        let graph = self.graph.get_or_insert_with(|| empty_graph(params));
        match step.plan {
            Some(plan) => {
                debug_assert_eq!(
                    (plan.first() as usize, plan.nodes()),
                    (step.first, step.count)
                );
                graph.apply_chunk(plan);
            }
            None => {
                for _ in 0..step.count {
                    graph.insert(self.points.view(), params.ef_construction);
                }
            }
        }
        *self.unsaved_changes.get_mut() += step.count;
        true
    }

    /// Add the whole tail to the graph now, under the caller's lock (for
    /// callers without a background indexer: tools and tests).
    pub fn index_all(&mut self) {
        while let Some(step) = self.plan_indexing() {
            self.apply_indexing(step);
        }
    }

    /// An index of `vectors` (the collection's stored embeddings) without a
    /// graph: searches are exact until [`VectorIndex::attach_graph`] is called
    /// with a graph prepared off the lock by [`PendingGraph::prepare`].
    pub fn from_vectors(
        params: IndexParams,
        tuning: IndexTuning,
        dim: usize,
        vectors: &[NewVector<'_>],
    ) -> Self {
        let mut index = Self::new(params, tuning, dim);
        index.points = Points::of_all(params.space, dim, vectors);
        index.graph_pending = index.len() >= tuning.graph_min_points;
        index
    }

    /// Whether a graph is being prepared for this index.
    pub fn graph_pending(&self) -> bool {
        self.graph_pending
    }

    /// Whether a new graph should be built: the graph is mostly tombstones.
    /// The engine builds it from a [`VectorIndex::snapshot`] off the lock (at
    /// 100k a build takes ~15 s, which writers and readers should not wait
    /// for); [`VectorIndex::build_graph_now`] builds it in place. A first
    /// graph is not built this way but grown by the indexer.
    pub fn wants_graph(&self) -> bool {
        !self.graph_pending
            && self.graph.is_some()
            && self.points.tombstones() > self.len().max(self.tuning.graph_min_points)
    }

    /// Note that a graph is being prepared off the lock: searches keep the
    /// current graph (or exact search) until it is attached.
    pub fn set_graph_pending(&mut self) {
        self.graph_pending = true;
    }

    /// Stop waiting for a graph prepared in the background (none could be
    /// loaded): the indexer grows one instead.
    pub fn cancel_pending(&mut self) {
        self.graph_pending = false;
    }

    /// The live vectors, to prepare a graph from.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.points.compacted())
    }

    /// Take a graph prepared in the background. Its vectors that are no
    /// longer stored become tombstones; stored vectors it lacks (written while
    /// it was prepared) become its tail, for the indexer.
    pub fn attach_graph(&mut self, pending: PendingGraph) {
        let PendingGraph {
            mut points,
            graph,
            unsaved,
        } = pending;
        let gone: Vec<u32> = points
            .live_nodes()
            .map(|n| points.slot(n))
            .filter(|&slot| self.points.node_of_slot(slot).is_none())
            .collect();
        for &slot in &gone {
            points.kill(slot);
        }
        let mut caught_up = 0;
        for node in self.points.live_nodes() {
            let slot = self.points.slot(node);
            if points.node_of_slot(slot).is_none() {
                points.push_prepared(slot, self.points.rec(node), self.points.vector(node));
                caught_up += 1;
            }
        }
        tracing::debug!(
            vectors = points.live_count(),
            caught_up,
            tombstones = gone.len(),
            "graph attached"
        );
        self.points = points;
        self.graph = Some(graph);
        self.generation += 1;
        self.graph_pending = false;
        *self.unsaved_changes.get_mut() = unsaved + gone.len() + caught_up;
    }

    /// Whether the graph changed since it was last saved.
    pub fn needs_save(&self) -> bool {
        self.graph.is_some() && self.unsaved_changes.load(AtomicOrdering::Relaxed) > 0
    }

    /// Save the graph into `dir` (replacing what is there) so that a restart
    /// does not rebuild it. Takes `&self` so searches go on while it writes;
    /// the caller keeps writers out.
    /// `sealer` encrypts the files in an encrypted data directory.
    pub fn save_graph(&self, dir: &Path, sealer: Option<&Sealer>) -> std::io::Result<()> {
        let Some(graph) = &self.graph else {
            return Ok(());
        };
        saved::save(dir, graph, &self.points, sealer)?;
        self.unsaved_changes.store(0, AtomicOrdering::Relaxed);
        Ok(())
    }

    /// Drop vectors by slot. Unknown slots are skipped.
    pub fn remove(&mut self, slots: &[u32]) {
        let removed = slots
            .iter()
            .filter(|&&slot| self.points.kill(slot).is_some())
            .count();
        *self.unsaved_changes.get_mut() += removed;
        // A graph mostly made of tombstones searches badly; the engine
        // rebuilds it in the background (`wants_graph`). Few enough
        // vectors need no graph at all, and dropping it is cheap.
        if self.graph.is_some() && !self.graph_pending && self.len() < self.tuning.graph_min_points
        {
            self.graph = None;
            self.generation += 1;
        }
        if self.graph.is_none() && self.points.tombstones() > self.len() {
            self.points = self.points.compacted();
            self.generation += 1;
        }
    }

    /// Build the graph now, over the live vectors, under the caller's lock.
    pub fn build_graph_now(&mut self) {
        self.points = self.points.compacted();
        self.graph = (self.len() >= self.tuning.graph_min_points)
            .then(|| build_graph(self.params, &self.points));
        self.generation += 1;
        *self.unsaved_changes.get_mut() = self.len();
    }

    /// The `k` nearest live vectors to `query` (raw), restricted to the
    /// vectors of the records `candidates` when given. Returns
    /// `(slot, distance)` nearest first. The graph's answer is merged with
    /// an exact scan of the tail, so a vector is found from the moment it
    /// is inserted.
    ///
    /// `k` comes from a request (`n_results`) and may be anything up to
    /// `u32::MAX`: nothing here is sized by it beyond the vectors searched.
    pub fn search(&self, query: &[f32], k: usize, candidates: Option<&[i64]>) -> Vec<(u32, f32)> {
        let k = k.min(self.len());
        if k == 0 {
            return Vec::new();
        }
        let query = self.params.space.prepare(query);
        let graphed = self.graphed() as u32;
        let hits = match candidates {
            None => self.search_all(&query, k, graphed),
            Some(recs) => self.search_candidates(&query, k, recs, graphed),
        };
        hits.into_iter()
            .map(|Scored(d, node)| (self.points.slot(node), d))
            .collect()
    }

    fn search_all(&self, query: &[f32], k: usize, graphed: u32) -> Vec<Scored> {
        let all = 0..self.points.nodes() as u32;
        let Some(graph) = &self.graph else {
            return self.search_exact(query, k, Nodes::Live(all));
        };
        let tail: Vec<u32> = (graphed..all.end)
            .filter(|&n| self.points.is_live(n))
            .collect();
        let in_graph = self.len() - tail.len();
        if self.exact_is_cheaper(k, in_graph) {
            return self.search_exact(query, k, Nodes::Live(all));
        }
        let hits = self.search_graph(graph, query, k, |n| self.points.is_live(n));
        if hits.len() < k.min(in_graph) {
            return self.search_exact(query, k, Nodes::Live(all));
        }
        merge(hits, self.search_exact(query, k, Nodes::List(&tail)), k)
    }

    fn search_candidates(
        &self,
        query: &[f32],
        k: usize,
        recs: &[i64],
        graphed: u32,
    ) -> Vec<Scored> {
        let mut nodes: Vec<u32> = recs
            .iter()
            .filter_map(|&rec| self.points.node_of_rec(rec))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let k = k.min(nodes.len());
        let (in_graph, tail) = nodes.split_at(nodes.partition_point(|&n| n < graphed));
        // A graph search visits a few thousand nodes whatever the filter; a
        // filter keeping fewer than that is faster to scan exactly.
        let exact_limit = self.tuning.graph_min_points.max(self.len() / 5);
        if let Some(graph) = &self.graph
            && in_graph.len() > exact_limit
            && !self.exact_is_cheaper(k, in_graph.len())
        {
            let allowed = NodeSet::new(graphed as usize, in_graph);
            let hits = self.search_graph(graph, query, k, |n| allowed.contains(n));
            if hits.len() >= k.min(in_graph.len()) {
                return merge(hits, self.search_exact(query, k, Nodes::List(tail)), k);
            }
        }
        self.search_exact(query, k, Nodes::List(&nodes))
    }

    /// A graph search for `k` results keeps a candidate list of at least `k`
    /// and computes roughly ten distances per entry of it: asked for a large
    /// share of the `searched` vectors, it costs more than scanning them all.
    /// So does a search breadth whose candidates' neighbours, visited in
    /// random order, add up to the vectors searched. A distance found in
    /// the graph costs several times one computed in a sequential scan
    /// (random 384-d vectors, 100,000 of them, through the Python client:
    /// a search at breadth 1,600 took 30 ms, visiting at most 51,200
    /// vectors, where a scan of all took 26 ms), which counts where a
    /// measured breadth is wider than
    /// the default: such data needs a breadth of 600 and more for recall
    /// 0.95, and an exact scan (recall 1) is then the faster answer too.
    fn exact_is_cheaper(&self, k: usize, searched: usize) -> bool {
        let widened = self
            .measured_breadth()
            .is_some_and(|b| b.ef > breadth::BREADTHS[0]);
        k.saturating_mul(10) > searched
            || self.graph_search_cost(self.search_breadth(), widened) >= searched
    }

    /// What a graph search at `breadth` costs, in distances of a sequential
    /// scan (see [`VectorIndex::exact_is_cheaper`]); `widened`: the breadth
    /// was measured wider than the default.
    fn graph_search_cost(&self, breadth: usize, widened: bool) -> usize {
        let cost = if widened { GRAPH_DISTANCE_COST } else { 1 };
        breadth.saturating_mul(2 * self.params.max_neighbors * cost)
    }

    fn search_graph(
        &self,
        graph: &Graph,
        query: &[f32],
        k: usize,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let ef = self.search_breadth().max(k);
        let mut hits = graph.search(self.points.view(), query, ef, accept);
        hits.truncate(k);
        hits
    }

    /// The candidate list of a graph search: what the collection's recall
    /// measurement chose, or, for a collection with its own `ef_search` (or
    /// one not measured yet), half again its `ef_search`. Recall@10 on 100k
    /// clustered vectors (`--example recall`) is 0.991 at ef 100 and 0.998
    /// at 150, against Chroma's 0.980-0.990 over several runs of
    /// bench/compare.py: the target is never to fall below Chroma, and the
    /// margin costs 0.05 ms per query.
    fn search_breadth(&self) -> usize {
        match self.breadth {
            Some(b) if self.params.ef_search == TUNABLE_EF_SEARCH => b.ef,
            _ => self
                .params
                .ef_search
                .saturating_add(self.params.ef_search / 2),
        }
    }

    /// The measured search breadth in use, if any.
    pub fn measured_breadth(&self) -> Option<SearchBreadth> {
        self.breadth
            .filter(|_| self.params.ef_search == TUNABLE_EF_SEARCH)
    }

    /// Whether the graph's search breadth should be measured now: the
    /// collection is at the default `ef_search`, its graph holds every
    /// vector, and it was not measured or has grown enough since
    /// ([`breadth::grown_enough`]; `settled`: writes have paused).
    pub fn breadth_due(&self, settled: bool) -> bool {
        let graphed = self.graphed();
        self.params.ef_search == TUNABLE_EF_SEARCH
            && !self.graph_pending
            && graphed > 0
            && graphed == self.points.nodes()
            && self
                .breadth
                .is_none_or(|b| breadth::grown_enough(b.measured_at, graphed, settled))
    }

    /// What to measure the graph's search breadth with.
    pub fn breadth_sample(&self) -> Sample {
        let graphed = self.graphed();
        let nodes = breadth::spread(graphed, breadth::SAMPLES)
            .filter(|&n| self.points.is_live(n))
            .collect();
        let live = self.points.live_count();
        let useful = breadth::BREADTHS
            .iter()
            .enumerate()
            .take_while(|&(i, &ef)| self.graph_search_cost(ef, i > 0) < live)
            .count();
        Sample {
            generation: self.generation,
            graphed,
            useful,
            nodes,
        }
    }

    /// For sampled `node`, how many of its exact nearest neighbours in the
    /// graph (itself aside) a graph search without it finds at each breadth
    /// tried, as for a new query where it is (at
    /// the widest alone with `widest_only`, the others then counting none).
    /// `None` if the graph changed since `generation` or `node` is gone.
    pub fn measure_breadth(
        &self,
        generation: u64,
        node: u32,
        widest_only: bool,
        useful: usize,
    ) -> Option<[usize; breadth::BREADTHS.len()]> {
        let graph = self
            .graph
            .as_ref()
            .filter(|_| generation == self.generation)?;
        if node as usize >= graph.len() || !self.points.is_live(node) {
            return None;
        }
        let query = self.points.vector(node);
        let others = |hits: Vec<Scored>| -> Vec<u32> {
            hits.into_iter()
                .map(|Scored(_, n)| n)
                .filter(|&n| n != node)
                .take(breadth::K)
                .collect()
        };
        let truth =
            // On the measuring thread alone: the worker threads are the
            // queries' (see `registry::breadth`).
            others(self.search_two_pass(
                query,
                breadth::K + 1,
                Nodes::Live(0..graph.len() as u32),
                Threads::One,
            ));
        let mut found = [0; breadth::BREADTHS.len()];
        let useful = useful.clamp(1, breadth::BREADTHS.len());
        let first = if widest_only { useful - 1 } else { 0 };
        for (i, &ef) in breadth::BREADTHS[..useful].iter().enumerate().skip(first) {
            let hits = others(
                graph.search_leaving_out(self.points.view(), query, ef, node, |n| {
                    self.points.is_live(n)
                }),
            );
            found[i] = hits.iter().filter(|n| truth.contains(n)).count();
            if found[i] == truth.len() {
                // Wider searches find them all too.
                found[i..].fill(truth.len());
                break;
            }
        }
        Some(found)
    }

    /// Keep a measured breadth, unless the graph changed since `generation`.
    pub fn set_breadth(&mut self, generation: u64, breadth: SearchBreadth) {
        if generation == self.generation {
            self.breadth = Some(breadth);
        }
    }

    /// The `k` nearest of `nodes` by exact distance, nearest first. Large
    /// scans are split over the worker threads, and read the vectors' 8-bit
    /// codes first ([`quantized`]).
    fn search_exact(&self, query: &[f32], k: usize, nodes: Nodes<'_>) -> Vec<Scored> {
        let count = nodes.len();
        if count >= QUANTIZED_SCAN_MIN && k.saturating_mul(QUANTIZED_SHARE) <= count {
            return self.search_two_pass(query, k, nodes, Threads::All);
        }
        self.search_exact_plain(query, k, nodes)
    }

    /// [`search_exact`](Self::search_exact) reading every vector.
    fn search_exact_plain(&self, query: &[f32], k: usize, nodes: Nodes<'_>) -> Vec<Scored> {
        let count = nodes.len();
        let parts = rayon::current_num_threads().min(count / PARALLEL_SCAN_MIN);
        if parts <= 1 {
            return self.scan(query, k, nodes);
        }
        let per = count.div_ceil(parts);
        let found: Vec<Vec<Scored>> = (0..parts)
            .into_par_iter()
            .map(|i| self.scan(query, k, nodes.part(i * per, per)))
            .collect();
        found
            .into_iter()
            .reduce(|a, b| merge(a, b, k))
            .unwrap_or_default()
    }

    /// [`search_exact`](Self::search_exact) in two passes: a lower bound of
    /// every distance from the 8-bit codes (in parallel), then exact
    /// distances in order of those bounds until the next bound is past the
    /// `k`th nearest distance found. Exact: a vector is left out only when
    /// its bound proves it farther.
    fn search_two_pass(
        &self,
        query: &[f32],
        k: usize,
        nodes: Nodes<'_>,
        threads: Threads,
    ) -> Vec<Scored> {
        let space = self.params.space;
        let codes = self.points.codes();
        let coded = codes.query(query);
        let count = nodes.len();
        let parts = match threads {
            Threads::All => rayon::current_num_threads()
                .min(count / PARALLEL_SCAN_MIN)
                .max(1),
            Threads::One => 1,
        };
        let per = count.div_ceil(parts);
        let bound_of = |nodes: Nodes<'_>| -> Vec<Scored> {
            let mut bounds = Vec::with_capacity(nodes.len());
            let mut push = |n: u32| bounds.push(Scored(codes.lower_bound(space, &coded, n), n));
            match nodes {
                Nodes::Live(range) => range
                    .filter(|&n| self.points.is_live(n))
                    .for_each(&mut push),
                Nodes::List(list) => list.iter().copied().for_each(&mut push),
            }
            bounds
        };
        let mut bounds: Vec<Scored> = if parts == 1 {
            bound_of(nodes)
        } else {
            (0..parts)
                .into_par_iter()
                .map(|i| bound_of(nodes.part(i * per, per)))
                .flatten_iter()
                .collect()
        };
        let view = self.points.view();
        let exact = |node: u32| Scored(space.distance(query, view.vector(node)), node);
        // The most promising first: their exact distances set the bar the
        // rest must pass.
        let first = (2 * k + 64).min(bounds.len());
        if first < bounds.len() {
            bounds.select_nth_unstable(first);
        }
        let (promising, rest) = bounds.split_at_mut(first);
        let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
        let consider = |hit: Scored, heap: &mut BinaryHeap<Scored>| {
            if heap.len() < k {
                heap.push(hit);
            } else if heap.peek().is_some_and(|worst| hit < *worst) {
                heap.pop();
                heap.push(hit);
            }
        };
        for b in promising.iter() {
            consider(exact(b.1), &mut heap);
        }
        let bar = |heap: &BinaryHeap<Scored>| {
            if heap.len() < k {
                f32::INFINITY
            } else {
                heap.peek().map_or(f32::INFINITY, |worst| worst.0)
            }
        };
        let mut bar_now = bar(&heap);
        for b in rest.iter() {
            if b.0 <= bar_now {
                consider(exact(b.1), &mut heap);
                bar_now = bar(&heap);
            }
        }
        heap.into_sorted_vec()
    }

    fn scan(&self, query: &[f32], k: usize, nodes: Nodes<'_>) -> Vec<Scored> {
        let space = self.params.space;
        let view = self.points.view();
        let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k.min(nodes.len()) + 1);
        let mut consider = |node: u32| {
            let d = space.distance(query, view.vector(node));
            if heap.len() < k {
                heap.push(Scored(d, node));
            } else if heap.peek().is_some_and(|worst| d < worst.0) {
                heap.pop();
                heap.push(Scored(d, node));
            }
        };
        match nodes {
            Nodes::Live(range) => range
                .filter(|&n| self.points.is_live(n))
                .for_each(&mut consider),
            Nodes::List(list) => list.iter().copied().for_each(&mut consider),
        }
        heap.into_sorted_vec()
    }
}

/// From this many vectors on, an exact scan reads their 8-bit codes first:
/// below it the vectors fit in the CPU's caches and the second pass would
/// cost what the first saves.
const QUANTIZED_SCAN_MIN: usize = 16_384;

/// The two-pass scan is for `k` at most this share of the vectors scanned:
/// for a larger `k` most of them need their exact distance anyway.
const QUANTIZED_SHARE: usize = 32;

/// What a distance computed during a graph search costs, in distances of
/// an exact scan (`VectorIndex::exact_is_cheaper`).
const GRAPH_DISTANCE_COST: usize = 3;

/// Below this many vectors per thread an exact scan stays on the calling
/// thread: handing work to the pool costs more than it saves.
const PARALLEL_SCAN_MIN: usize = 8192;

/// Where a scan runs: split over the worker threads, or on the calling one.
#[derive(Clone, Copy)]
enum Threads {
    All,
    One,
}

/// The nodes an exact scan visits.
#[derive(Clone)]
enum Nodes<'a> {
    /// The live nodes of a range.
    Live(std::ops::Range<u32>),
    /// These nodes (all live).
    List(&'a [u32]),
}

impl Nodes<'_> {
    /// Nodes visited, or at most visited (a range's tombstones are skipped).
    fn len(&self) -> usize {
        match self {
            Nodes::Live(range) => range.len(),
            Nodes::List(list) => list.len(),
        }
    }

    /// `len` of them from the `start`th on.
    fn part(&self, start: usize, len: usize) -> Self {
        match self {
            Nodes::Live(range) => {
                let from = (range.start as usize + start).min(range.end as usize) as u32;
                let to = (from as usize + len).min(range.end as usize) as u32;
                Nodes::Live(from..to)
            }
            Nodes::List(list) => {
                let from = start.min(list.len());
                Nodes::List(&list[from..(from + len).min(list.len())])
            }
        }
    }
}

/// The `k` nearest of two answers over different nodes, nearest first.
fn merge(a: Vec<Scored>, b: Vec<Scored>, k: usize) -> Vec<Scored> {
    if b.is_empty() {
        return a;
    }
    let mut all = a;
    all.extend(b);
    all.sort_unstable();
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(space: Space) -> IndexParams {
        IndexParams {
            space,
            ef_construction: 100,
            ef_search: 100,
            max_neighbors: 16,
        }
    }

    fn random_data(n: usize, dim: usize, mut seed: u64) -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| (0..dim).map(|_| lcg(&mut seed)).collect())
            .collect()
    }

    /// Slot `i` belongs to record `1000 + i`.
    fn as_items(data: &[Vec<f32>]) -> Vec<NewVector<'_>> {
        data.iter()
            .enumerate()
            .map(|(i, v)| (i as u32, 1000 + i as i64, v.as_slice()))
            .collect()
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    }

    /// Insert and index, as the engine does (in place here, in the
    /// background there).
    fn grow(idx: &mut VectorIndex, items: &[NewVector<'_>]) {
        idx.insert(items);
        idx.index_all();
        if idx.wants_graph() {
            idx.build_graph_now();
        }
    }

    fn exact(idx: &VectorIndex, q: &[f32], k: usize) -> Vec<(u32, f32)> {
        let all = Nodes::Live(0..idx.points.nodes() as u32);
        idx.search_exact(&idx.params.space.prepare(q), k, all)
            .into_iter()
            .map(|Scored(d, node)| (idx.points.slot(node), d))
            .collect()
    }

    /// Recall@10 of the index's searches for `queries`, against exact search.
    fn recall_of(idx: &VectorIndex, queries: &[Vec<f32>]) -> f32 {
        let found: usize = queries
            .iter()
            .map(|q| {
                let truth: Vec<u32> = exact(idx, q, 10).into_iter().map(|(s, _)| s).collect();
                idx.search(q, 10, None)
                    .iter()
                    .filter(|(s, _)| truth.contains(s))
                    .count()
            })
            .sum();
        found as f32 / (queries.len() * 10) as f32
    }

    fn measure(idx: &mut VectorIndex) -> SearchBreadth {
        let sample = idx.breadth_sample();
        let mut tally = Tally::new(sample.useful);
        for node in sample.nodes {
            tally.add(
                idx.measure_breadth(sample.generation, node, false, sample.useful)
                    .unwrap(),
            );
        }
        let chosen = tally.choose(sample.graphed).unwrap();
        idx.set_breadth(sample.generation, chosen);
        chosen
    }

    #[test]
    fn the_two_pass_scan_answers_as_the_plain_scan_does() {
        // Clustered (many near ties) and uniform data, every space, with
        // tombstones and candidate lists.
        let n = QUANTIZED_SCAN_MIN + 3_000;
        let uniform = random_data(n, 48, 11);
        let clustered: Vec<Vec<f32>> = uniform
            .iter()
            .enumerate()
            .map(|(i, v)| v.iter().map(|x| x * 0.01 + (i % 7) as f32).collect())
            .collect();
        let queries = random_data(12, 48, 5);
        for space in [Space::L2, Space::Ip, Space::Cosine] {
            for data in [&uniform, &clustered] {
                let mut idx = VectorIndex::new(params(space), tuning(usize::MAX), 48);
                idx.insert(&as_items(data));
                for slot in (0..n as u32).step_by(5) {
                    idx.points.kill(slot);
                }
                let live = Nodes::Live(0..idx.points.nodes() as u32);
                let some: Vec<u32> = (0..n as u32).filter(|i| i % 3 != 0 && i % 5 != 0).collect();
                for q in &queries {
                    let q = space.prepare(q);
                    for k in [1, 10, 100] {
                        for nodes in [live.clone(), Nodes::List(&some)] {
                            let plain = idx.scan(&q, k, nodes.clone());
                            let two_pass = idx.search_two_pass(&q, k, nodes, Threads::All);
                            let d = |hits: &[Scored]| hits.iter().map(|s| s.0).collect::<Vec<_>>();
                            assert_eq!(d(&two_pass), d(&plain), "{space:?} k {k}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn random_vectors_get_the_search_breadth_their_recall_needs() {
        let data = random_data(8000, 384, 7);
        let queries = random_data(100, 384, 99);
        let mut idx = VectorIndex::new(params(Space::L2), tuning(1000), 384);
        grow(&mut idx, &as_items(&data));
        let before = recall_of(&idx, &queries);
        assert!(idx.breadth_due(false));
        let chosen = measure(&mut idx);
        let after = recall_of(&idx, &queries);
        assert!(
            before < 0.95,
            "the data is hard at the old breadth: {before}"
        );
        // The target holds for the measured sample; 100 other queries see
        // it to within about 0.01.
        assert!(after >= 0.94, "recall {after} at {chosen:?}");
        assert!(chosen.ef > breadth::BREADTHS[0]);
        assert_eq!(idx.measured_breadth(), Some(chosen));
        // Measured again only once the graph has doubled, or grown by a
        // quarter when writes have paused.
        assert!(!idx.breadth_due(true));
        let more = random_data(2000, 384, 8);
        let more: Vec<NewVector<'_>> = as_items(&more)
            .into_iter()
            .map(|(slot, rec, v)| (slot + 8000, rec + 8000, v))
            .collect();
        grow(&mut idx, &more[..100]);
        assert!(!idx.breadth_due(true));
        grow(&mut idx, &more[100..]);
        assert!(idx.breadth_due(true) && !idx.breadth_due(false));
    }

    #[test]
    fn easy_vectors_keep_the_default_breadth_and_an_own_ef_search_is_kept() {
        let data: Vec<Vec<f32>> = (0..3000)
            .map(|i| vec![(i % 50) as f32 * 10.0 + (i as f32 * 0.001), (i / 50) as f32])
            .collect();
        let mut idx = VectorIndex::new(params(Space::L2), tuning(1000), 2);
        grow(&mut idx, &as_items(&data));
        assert_eq!(measure(&mut idx).ef, breadth::BREADTHS[0]);

        let own = IndexParams {
            ef_search: 40,
            ..params(Space::L2)
        };
        let mut idx = VectorIndex::new(own, tuning(1000), 2);
        grow(&mut idx, &as_items(&data));
        assert!(!idx.breadth_due(true));
        assert_eq!(idx.search_breadth(), 60);
        assert_eq!(idx.measured_breadth(), None);
    }

    fn tuning(graph_min_points: usize) -> IndexTuning {
        IndexTuning {
            graph_min_points,
            ..IndexTuning::default()
        }
    }

    #[test]
    fn exact_search_orders_by_distance_and_respects_candidates() {
        let mut idx = VectorIndex::new(params(Space::L2), IndexTuning::default(), 2);
        idx.insert(&[
            (0, 10, &[0.0, 0.0][..]),
            (1, 11, &[3.0, 4.0][..]),
            (2, 12, &[1.0, 0.0][..]),
        ]);
        let hits = idx.search(&[2.0, 0.0], 3, None);
        assert_eq!(hits, vec![(2, 1.0), (0, 4.0), (1, 17.0)]);
        assert_eq!(
            idx.search(&[2.0, 0.0], 5, Some(&[10, 11, 99])),
            vec![(0, 4.0), (1, 17.0)]
        );
        idx.remove(&[2, 99]);
        assert_eq!(idx.search(&[2.0, 0.0], 1, None), vec![(0, 4.0)]);
        idx.insert(&[(0, 10, &[9.0, 9.0][..])]);
        assert_eq!(idx.len(), 2, "a known slot is not inserted twice");
        // Record 11's embedding replaced: old slot 1 removed, new slot 3.
        idx.remove(&[1]);
        idx.insert(&[(3, 11, &[2.0, 1.0][..])]);
        assert_eq!(idx.search(&[2.0, 0.0], 5, Some(&[11])), vec![(3, 1.0)]);
    }

    #[test]
    fn graph_search_finds_neighbours_and_hides_removed_slots() {
        let tuning = tuning(200);
        let mut idx = VectorIndex::new(params(Space::Cosine), tuning, 8);
        let data = random_data(1000, 8, 7);
        let items = as_items(&data);
        // In batches: the first crosses the threshold and builds the graph,
        // the rest are inserted into it as batches.
        for batch in items.chunks(300) {
            grow(&mut idx, batch);
        }
        assert!(idx.graph.is_some());
        let mut recall = 0;
        for q in data.iter().take(50) {
            let exact = exact(&idx, q, 10);
            let approx = idx.search(q, 10, None);
            recall += approx
                .iter()
                .filter(|h| exact.iter().any(|e| e.0 == h.0))
                .count();
        }
        assert!(recall >= 480, "recall@10 over 50 queries: {recall}/500");
        let first = idx.search(&data[3], 1, None)[0].0;
        assert_eq!(first, 3);
        idx.remove(&[3]);
        assert!(idx.search(&data[3], 10, None).iter().all(|h| h.0 != 3));
        let restricted = idx.search(&data[3], 10, Some(&[1005, 1006, 1700, 1003]));
        assert_eq!(
            restricted.len(),
            3,
            "removed record 1003 is not a candidate"
        );
        // A broad filter goes through the graph and returns only candidates.
        let even: Vec<i64> = (0..1000).filter(|i| i % 2 == 0).map(|i| 1000 + i).collect();
        let hits = idx.search(&data[501], 10, Some(&even));
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| h.0 % 2 == 0));
    }

    #[test]
    fn saved_graph_is_reused_and_reconciled_with_stored_vectors() {
        let tuning = tuning(100);
        let data = random_data(500, 6, 3);
        let items = as_items(&data);
        let mut idx = VectorIndex::new(params(Space::Ip), tuning, 6);
        grow(&mut idx, &items[..400]);
        let dir = tempfile::tempdir().unwrap();
        let graph_dir = dir.path().join("graph");
        assert!(idx.needs_save());
        idx.save_graph(&graph_dir, None).unwrap();
        assert!(!idx.needs_save());
        // After the save: slots 0..10 deleted, 400..500 added (as after a crash).
        let stored: Vec<NewVector<'_>> = items[10..].to_vec();
        let restore = |space| {
            let mut index = VectorIndex::from_vectors(params(space), tuning, 6, &stored);
            assert!(index.graph_pending() && index.graph.is_none());
            let pending =
                PendingGraph::prepare(params(space), index.snapshot(), Some(&graph_dir), None);
            index.attach_graph(pending);
            index
        };
        let restored = restore(Space::Ip);
        let graph = restored.graph.as_ref().expect("graph reused");
        assert_eq!(graph.len(), 490, "deleted nodes dropped, new ones inserted");
        assert!(restored.needs_save());
        assert_eq!(restored.len(), 490);
        assert!(
            restored
                .search(&data[3], 10, None)
                .iter()
                .all(|h| h.0 >= 10)
        );
        // Vectors inserted after the save are found (inner product: the nearest
        // is not the vector itself, so compare with the exact answer).
        let mut agree = 0;
        for q in &data[400..450] {
            agree += usize::from(restored.search(q, 1, None)[0].0 == exact(&restored, q, 1)[0].0);
        }
        assert!(agree >= 45, "top-1 agreement {agree}/50");
        // A graph saved for another space is not reused.
        let other = restore(Space::L2);
        assert_eq!(other.graph.as_ref().unwrap().len(), 490);
        // A corrupt file is rebuilt from the vectors, not trusted.
        std::fs::write(graph_dir.join("graph.bin"), b"garbage").unwrap();
        let rebuilt = restore(Space::Ip);
        assert_eq!(
            rebuilt.search(&data[20], 1, None)[0].0,
            exact(&rebuilt, &data[20], 1)[0].0
        );
    }

    #[test]
    fn a_huge_k_returns_every_vector_on_every_path() {
        let tuning = tuning(100);
        let data = random_data(300, 4, 5);
        let items = as_items(&data);
        let mut idx = VectorIndex::from_vectors(params(Space::L2), tuning, 4, &items);
        idx.build_graph_now();
        assert!(idx.graph.is_some());
        let all = idx.search(&data[0], u32::MAX as usize, None);
        assert_eq!(all.len(), 300);
        assert_eq!(all, exact(&idx, &data[0], 300));
        assert_eq!(idx.search(&data[0], usize::MAX, None).len(), 300);
        let recs: Vec<i64> = (1000..1150).collect();
        let some = idx.search(&data[0], u32::MAX as usize, Some(&recs));
        assert_eq!(some.len(), 150);
        // A collection whose ef_search is absurd searches its graph all the same.
        let mut wide = params(Space::L2);
        wide.ef_search = usize::MAX;
        wide.ef_construction = usize::MAX / 2;
        let mut idx = VectorIndex::from_vectors(wide, tuning, 4, &items);
        idx.build_graph_now();
        assert_eq!(idx.search(&data[7], 3, None), exact(&idx, &data[7], 3));
    }

    #[test]
    fn changes_while_a_graph_is_prepared_are_caught_up() {
        let tuning = tuning(100);
        let data = random_data(300, 4, 9);
        let items = as_items(&data);
        let mut idx = VectorIndex::from_vectors(params(Space::L2), tuning, 4, &items[..200]);
        let snapshot = idx.snapshot();
        idx.remove(&[0, 1, 2]);
        idx.insert(&items[200..]);
        assert!(idx.graph.is_none(), "no inline build while one is pending");
        let dir = tempfile::tempdir().unwrap();
        idx.attach_graph(PendingGraph::prepare(
            params(Space::L2),
            snapshot,
            Some(dir.path()),
            None,
        ));
        assert_eq!(idx.len(), 297);
        assert_eq!(idx.search(&data[250], 1, None)[0].0, 250);
        assert!(idx.search(&data[1], 5, None).iter().all(|h| h.0 > 2));
    }

    #[test]
    fn mass_removal_rebuilds_or_drops_the_graph() {
        let tuning = tuning(100);
        let mut idx = VectorIndex::new(params(Space::L2), tuning, 4);
        let data = random_data(400, 4, 1);
        let items = as_items(&data);
        idx.insert(&items);
        assert!(
            idx.graph.is_none() && !idx.wants_graph() && idx.unindexed() == 400,
            "the indexer grows the first graph"
        );
        idx.build_graph_now();
        // Most removed but enough left for a graph: a rebuild is wanted, and
        // done off the lock; searches meanwhile skip the tombstones.
        let gone: Vec<u32> = (0..250).collect();
        idx.remove(&gone);
        assert!(idx.wants_graph());
        let snapshot = idx.snapshot();
        idx.set_graph_pending();
        assert!(!idx.wants_graph());
        assert!(idx.search(&data[10], 5, None).iter().all(|h| h.0 >= 250));
        idx.attach_graph(PendingGraph::prepare(
            params(Space::L2),
            snapshot,
            None,
            None,
        ));
        assert_eq!(idx.points.tombstones(), 0);
        assert!(idx.graph.is_some() && !idx.wants_graph());
        let gone: Vec<u32> = (250..350).collect();
        idx.remove(&gone);
        assert_eq!(idx.len(), 50);
        assert!(idx.graph.is_none(), "50 points need no graph");
        assert_eq!(idx.points.tombstones(), 0);
        assert_eq!(idx.search(&data[399], 1, None)[0].0, 399);
    }

    #[test]
    fn the_tail_is_searched_exactly_while_the_graph_grows() {
        let tuning = IndexTuning {
            graph_min_points: 100,
            max_unindexed: usize::MAX,
            index_chunk: 40,
        };
        let data = random_data(1000, 8, 11);
        let items = as_items(&data);
        let mut idx = VectorIndex::new(params(Space::L2), tuning, 8);
        let even: Vec<i64> = (0..1000).filter(|i| i % 2 == 0).map(|i| 1000 + i).collect();
        for batch in items.chunks(130) {
            idx.insert(batch);
            let mut indexed = idx.progress().0;
            loop {
                // Whatever the step, the newest vectors are found: unfiltered,
                // filtered through the graph (a broad filter) and exactly.
                let &(slot, rec, vector) = batch.last().unwrap();
                assert_eq!(idx.search(vector, 1, None)[0].0, slot);
                let newest_even = batch.iter().rev().find(|b| b.1 % 2 == 0).unwrap();
                let hits = idx.search(newest_even.2, 5, Some(&even));
                assert_eq!(hits[0].0, newest_even.0);
                assert!(hits.iter().all(|h| h.0 % 2 == 0));
                assert_eq!(idx.search(vector, 3, Some(&[rec, 1000])).len(), 2);
                let k = idx.len().min(20);
                let truth = exact(&idx, vector, k);
                let recall = idx
                    .search(vector, k, None)
                    .iter()
                    .filter(|h| truth.iter().any(|t| t.0 == h.0))
                    .count();
                assert!(recall * 10 >= k * 9, "{recall}/{k}");
                let Some(step) = idx.plan_indexing() else {
                    break;
                };
                assert!(idx.apply_indexing(step));
                let (now, total) = idx.progress();
                assert!(now >= indexed && now <= total, "progress moves forward");
                indexed = now;
            }
            assert_eq!(idx.unindexed(), 0);
            assert_eq!(idx.progress(), (idx.len(), idx.len()));
        }
        assert_eq!(idx.graph.as_ref().unwrap().len(), 1000);
    }

    #[test]
    fn a_step_planned_before_the_graph_changed_is_not_applied() {
        let data = random_data(300, 4, 13);
        let items = as_items(&data);
        let mut idx = VectorIndex::new(params(Space::L2), tuning(100), 4);
        idx.insert(&items[..200]);
        idx.index_all();
        idx.insert(&items[200..]);
        let step = idx.plan_indexing().unwrap();
        idx.build_graph_now();
        assert!(!idx.apply_indexing(step));
        assert_eq!(idx.unindexed(), 0);
        // Small collections are searched exactly: nothing to index.
        let mut small = VectorIndex::new(params(Space::L2), tuning(100), 4);
        small.insert(&items[..50]);
        assert!(small.plan_indexing().is_none());
        assert_eq!((small.unindexed(), small.progress()), (0, (50, 50)));
    }
}
