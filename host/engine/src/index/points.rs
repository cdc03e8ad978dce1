//! The vectors of one collection, numbered densely as graph nodes. The only
//! copy of them the server holds: graph searches, exact searches and
//! distances all read from here.

use std::collections::HashMap;

use rayon::prelude::*;

use super::graph::VectorView;
use super::quantized::Codes;
use crate::distance::Space;

/// A vector to add: its slot (the stored embedding version), the record it
/// belongs to, and the vector as the user gave it.
pub type NewVector<'a> = (u32, i64, &'a [f32]);

pub(super) struct Points {
    space: Space,
    dim: usize,
    /// Prepared vectors, `dim` floats per node.
    vectors: Vec<f32>,
    /// The same vectors in 8 bits, for the first pass of large exact scans.
    codes: Codes,
    /// Node → slot.
    slots: Vec<u32>,
    /// Node → record.
    recs: Vec<i64>,
    /// Node → still stored. A removed node stays (as a tombstone) while a
    /// graph leads through it.
    live: Vec<bool>,
    node_of_slot: HashMap<u32, u32>,
    node_of_rec: HashMap<i64, u32>,
}

impl Points {
    pub fn new(space: Space, dim: usize) -> Self {
        Self {
            space,
            dim,
            vectors: Vec::new(),
            codes: Codes::new(dim),
            slots: Vec::new(),
            recs: Vec::new(),
            live: Vec::new(),
            node_of_slot: HashMap::new(),
            node_of_rec: HashMap::new(),
        }
    }

    pub fn with_capacity(space: Space, dim: usize, nodes: usize) -> Self {
        let mut points = Self::new(space, dim);
        points.vectors.reserve_exact(nodes * dim);
        points.codes.reserve_exact(nodes);
        points.slots.reserve_exact(nodes);
        points.recs.reserve_exact(nodes);
        points.live.reserve_exact(nodes);
        points
    }

    pub fn view(&self) -> VectorView<'_> {
        VectorView {
            space: self.space,
            dim: self.dim,
            data: &self.vectors,
        }
    }

    /// The vectors in 8 bits.
    pub fn codes(&self) -> &Codes {
        &self.codes
    }

    pub fn space(&self) -> Space {
        self.space
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Nodes, tombstones included.
    pub fn nodes(&self) -> usize {
        self.slots.len()
    }

    /// Nodes still stored.
    pub fn live_count(&self) -> usize {
        self.node_of_slot.len()
    }

    pub fn tombstones(&self) -> usize {
        self.nodes() - self.live_count()
    }

    #[inline]
    pub fn is_live(&self, node: u32) -> bool {
        self.live[node as usize]
    }

    pub fn slot(&self, node: u32) -> u32 {
        self.slots[node as usize]
    }

    pub fn rec(&self, node: u32) -> i64 {
        self.recs[node as usize]
    }

    pub fn node_of_slot(&self, slot: u32) -> Option<u32> {
        self.node_of_slot.get(&slot).copied()
    }

    pub fn node_of_rec(&self, rec: i64) -> Option<u32> {
        self.node_of_rec.get(&rec).copied()
    }

    pub fn vector(&self, node: u32) -> &[f32] {
        self.view().vector(node)
    }

    pub fn live_nodes(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.nodes() as u32).filter(|&n| self.is_live(n))
    }

    /// Add a raw vector as the next node, unless its slot is known.
    pub fn push_raw(&mut self, (slot, rec, raw): NewVector<'_>) -> Option<u32> {
        debug_assert_eq!(raw.len(), self.dim);
        if self.node_of_slot.contains_key(&slot) {
            return None;
        }
        let prepared = self.space.prepare(raw);
        Some(self.push_prepared(slot, rec, &prepared))
    }

    /// Points of many vectors at once (an index loaded from the stored
    /// vectors), the same as pushing them one by one; the preparing and
    /// coding, most of the work, in parallel.
    pub fn of_all(space: Space, dim: usize, items: &[NewVector<'_>]) -> Points {
        /// Vectors per parallel task.
        const CHUNK: usize = 4096;
        let mut points = Points::with_capacity(space, dim, items.len());
        points.node_of_slot.reserve(items.len());
        points.node_of_rec.reserve(items.len());
        for &(slot, rec, raw) in items {
            debug_assert_eq!(raw.len(), dim);
            if !points.node_of_slot.contains_key(&slot) {
                points.vectors.extend_from_slice(raw);
                points.number(slot, rec);
            }
        }
        if dim > 0 {
            points
                .vectors
                .par_chunks_mut(CHUNK * dim)
                .for_each(|chunk| {
                    chunk
                        .chunks_exact_mut(dim)
                        .for_each(|v| space.prepare_in_place(v))
                });
        }
        points.codes = Codes::of_all(dim, &points.vectors);
        points
    }

    /// Add an already prepared vector as the next node.
    pub fn push_prepared(&mut self, slot: u32, rec: i64, prepared: &[f32]) -> u32 {
        self.vectors.extend_from_slice(prepared);
        self.codes.push(prepared);
        self.number(slot, rec)
    }

    /// Number the node whose vector was just added (its codes added too,
    /// or to be).
    fn number(&mut self, slot: u32, rec: i64) -> u32 {
        let node = self.slots.len() as u32;
        self.slots.push(slot);
        self.recs.push(rec);
        self.live.push(true);
        self.node_of_slot.insert(slot, node);
        // A record's newer embedding replaces its older one. Newer is a
        // higher slot (a collection's slots only grow), not a later push: an
        // index loaded from a commit and then given that commit's changes
        // sees a record written twice in one batch newest first.
        let newer = self
            .node_of_rec
            .get(&rec)
            .is_none_or(|&known| self.slots[known as usize] < slot);
        if newer {
            self.node_of_rec.insert(rec, node);
        }
        node
    }

    /// Turn the slot's node into a tombstone; returns it, if the slot was live.
    pub fn kill(&mut self, slot: u32) -> Option<u32> {
        let node = self.node_of_slot.remove(&slot)?;
        self.live[node as usize] = false;
        let rec = self.recs[node as usize];
        if self.node_of_rec.get(&rec) == Some(&node) {
            self.node_of_rec.remove(&rec);
        }
        Some(node)
    }

    /// The live nodes alone, renumbered in order.
    pub fn compacted(&self) -> Points {
        let mut out = Points::with_capacity(self.space, self.dim, self.live_count());
        for node in self.live_nodes() {
            out.vectors.extend_from_slice(self.vector(node));
            out.codes.push_copy(&self.codes, node);
            out.number(self.slot(node), self.rec(node));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_of_all_equal_points_pushed_one_by_one() {
        for space in [Space::L2, Space::Cosine] {
            let vectors: Vec<Vec<f32>> = (0..9000)
                .map(|i| {
                    (0..5)
                        .map(|d| ((i * 7 + d * 13) % 31) as f32 - 15.0)
                        .collect()
                })
                .collect();
            // A slot twice (kept once), a record twice (the newer slot wins).
            let mut items: Vec<NewVector<'_>> = vectors
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u32, i as i64, v.as_slice()))
                .collect();
            items.push((3, 3, &vectors[8]));
            items.push((9000, 5, &vectors[1]));
            let mut one_by_one = Points::new(space, 5);
            for &item in &items {
                one_by_one.push_raw(item);
            }
            let all = Points::of_all(space, 5, &items);
            assert_eq!(all.vectors, one_by_one.vectors);
            assert_eq!(all.slots, one_by_one.slots);
            assert_eq!(all.recs, one_by_one.recs);
            assert_eq!(all.node_of_rec(5), Some(9000));
            assert_eq!(all.node_of_slot, one_by_one.node_of_slot);
            let q = all.codes().query(&[1.0, 2.0, 3.0, 4.0, 5.0]);
            for node in [0, 1, 4095, 4096, 9000] {
                assert_eq!(
                    all.codes().lower_bound(space, &q, node),
                    one_by_one.codes().lower_bound(space, &q, node)
                );
            }
        }
    }

    #[test]
    fn tombstones_keep_numbers_and_compaction_renumbers() {
        let mut p = Points::new(Space::Cosine, 2);
        assert_eq!(p.push_raw((10, 1, &[3.0, 4.0])), Some(0));
        assert_eq!(p.push_raw((11, 2, &[1.0, 0.0])), Some(1));
        assert_eq!(p.push_raw((10, 1, &[9.0, 9.0])), None, "known slot");
        assert_eq!(p.vector(0), &[0.6, 0.8], "cosine vectors are normalised");
        // Record 1's embedding replaced: a new slot, the old one removed.
        assert_eq!(p.push_raw((12, 1, &[0.0, 2.0])), Some(2));
        assert_eq!(p.kill(10), Some(0));
        assert_eq!(
            p.node_of_rec(1),
            Some(2),
            "the newer node stays the record's"
        );
        assert_eq!(p.kill(10), None);
        assert_eq!((p.nodes(), p.live_count(), p.tombstones()), (3, 2, 1));
        let c = p.compacted();
        assert_eq!(c.nodes(), 2);
        assert_eq!((c.slot(0), c.slot(1)), (11, 12));
        assert_eq!(c.node_of_rec(1), Some(1));
        assert_eq!(c.vector(1), &[0.0, 1.0]);
    }
}
