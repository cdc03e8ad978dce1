//! The search breadth (HNSW's candidate list, `ef`) chosen from the graph's
//! own measured recall.
//!
//! One breadth does not fit all data: on clustered vectors Chroma's default
//! gives recall@10 near 0.99, on independent random 384-d vectors about 0.8
//! (docs/PERFORMANCE.md, "Recall you can trust"). So a collection left at
//! Chroma's default `ef_search` has its breadth measured instead: sampled
//! points of the graph are searched as queries at growing breadths and
//! their results compared with an exact scan, and the smallest breadth
//! whose recall reaches [`RECALL_TARGET`] is kept. A collection whose
//! `ef_search` was set to anything else searches with exactly that.

/// Chroma's default `ef_search` (what every client sends unless told
/// otherwise): a collection left at it has its breadth chosen.
pub const TUNABLE_EF_SEARCH: usize = 100;

/// Breadths tried, smallest first. The first is what a collection at the
/// default searched with before any measurement (half again 100; see
/// `VectorIndex::search_graph`), so well-clustered data pays nothing more.
pub(super) const BREADTHS: [usize; 8] = [150, 200, 300, 400, 600, 800, 1200, 1600];

/// Recall@10 the chosen breadth must reach on the sample. Above the 0.95
/// promised for queries by the sample's uncertainty: each sampled point is
/// searched as a new query would be (the graph without it, see
/// `VectorIndex::measure_breadth`), and its recall, over 2,000 neighbours,
/// is known to about ±0.005 (clustered vectors at 300,000: 0.980 on the
/// sample, 0.973 on bench/compare.py's queries).
pub(super) const RECALL_TARGET: f32 = 0.97;

/// Neighbours compared per sampled point.
pub(super) const K: usize = 10;

/// Points sampled per measurement.
pub(super) const SAMPLES: usize = 200;

/// Points measured at the widest breadth alone first: data that breadth
/// does not serve (random vectors by the hundred thousand) is known from
/// them, and the rest of the measurement, the costly part, is skipped.
pub const PROBE_SAMPLES: usize = 20;

/// How far below [`RECALL_TARGET`] the probe's recall at the widest breadth
/// must be to stop there: about three standard deviations of a recall near
/// the target measured on 200 neighbours (random 384-d vectors at 100,000
/// measure 0.91 there, clustered ones reach the target at the first).
pub(super) const PROBE_MARGIN: f32 = 0.03;

/// Whether a graph measured at `measured_at` nodes should be measured again
/// at `graphed`: once it has doubled while writes keep coming, and once it
/// has grown by a quarter when they have paused (`settled`). Recall at a
/// given breadth falls as a graph grows (measured at half a million and
/// kept to a million, a breadth gave 0.945 where 0.95 was promised), and
/// measurements spaced geometrically cost a fixed multiple of the last one;
/// spacing them wider during a bulk load keeps them from holding back the
/// indexer, which waits for them.
pub(super) fn grown_enough(measured_at: usize, graphed: usize, settled: bool) -> bool {
    if settled {
        graphed.saturating_mul(4) >= measured_at.saturating_mul(5)
    } else {
        graphed >= measured_at.saturating_mul(2)
    }
}

/// The breadth a collection searches with, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchBreadth {
    /// Candidate list size of a graph search.
    pub ef: usize,
    /// Recall@10 measured at that breadth on the graph's own points.
    pub recall: f32,
    /// Nodes the graph had when measured.
    pub(super) measured_at: usize,
}

/// What to measure a graph's breadth with: its points to search, spread
/// over it, and the graph's generation and size then.
#[derive(Debug, Clone)]
pub struct Sample {
    pub generation: u64,
    pub graphed: usize,
    /// How many of [`BREADTHS`], smallest first, a graph search would use:
    /// at the others an exact scan is the cheaper answer
    /// (`VectorIndex::exact_is_cheaper`), so they are not measured.
    pub useful: usize,
    pub nodes: Vec<u32>,
}

/// What a measurement found: for each of [`BREADTHS`], how many of the
/// exact nearest neighbours the graph search returned, over `samples`
/// sampled points.
#[derive(Debug, Clone)]
pub struct Tally {
    found: [usize; BREADTHS.len()],
    samples: usize,
    /// The breadths measured ([`Sample::useful`]).
    useful: usize,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new(BREADTHS.len())
    }
}

impl Tally {
    /// A tally of the first `useful` breadths.
    pub fn new(useful: usize) -> Self {
        Tally {
            found: [0; BREADTHS.len()],
            samples: 0,
            useful: useful.clamp(1, BREADTHS.len()),
        }
    }

    /// Count one sampled point: `found[i]` of its [`K`] nearest neighbours
    /// found at `BREADTHS[i]`.
    pub(crate) fn add(&mut self, found: [usize; BREADTHS.len()]) {
        for (total, f) in self.found.iter_mut().zip(found) {
            *total += f;
        }
        self.samples += 1;
    }

    /// Whether a probe (points measured at the widest breadth only) shows
    /// that no breadth reaches the target: the widest falls short of it by
    /// more than [`PROBE_MARGIN`].
    pub fn widest_falls_short(&self) -> bool {
        self.samples > 0
            && (self.found[self.useful - 1] as f32 / (self.samples * K) as f32)
                < RECALL_TARGET - PROBE_MARGIN
    }

    /// The smallest breadth reaching [`RECALL_TARGET`]; if none does, the
    /// first one an exact scan answers (recall 1), or the largest; `None`
    /// with nothing measured.
    pub fn choose(&self, graph_nodes: usize) -> Option<SearchBreadth> {
        if self.samples == 0 {
            return None;
        }
        let recall = |i: usize| self.found[i] as f32 / (self.samples * K) as f32;
        let (i, recall) = match (0..self.useful).find(|&i| recall(i) >= RECALL_TARGET) {
            Some(i) => (i, recall(i)),
            // The first breadth not measured is answered by an exact scan.
            None if self.useful < BREADTHS.len() => (self.useful, 1.0),
            None => (BREADTHS.len() - 1, recall(BREADTHS.len() - 1)),
        };
        Some(SearchBreadth {
            ef: BREADTHS[i],
            recall,
            measured_at: graph_nodes,
        })
    }
}

/// `count` evenly spread numbers below `n` (all of them if fewer).
pub(super) fn spread(n: usize, count: usize) -> impl Iterator<Item = u32> {
    let step = (n / count.max(1)).max(1);
    (0..n.min(count)).map(move |i| (i * step + step / 2).min(n - 1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_breadth_reaching_the_target_is_chosen() {
        let mut tally = Tally::default();
        for _ in 0..10 {
            tally.add([8, 9, 10, 10, 10, 10, 10, 10]);
        }
        let chosen = tally.choose(5000).unwrap();
        assert_eq!((chosen.ef, chosen.recall), (BREADTHS[2], 1.0));

        let mut hard = Tally::default();
        hard.add([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(hard.choose(5000).unwrap().ef, *BREADTHS.last().unwrap());
        assert_eq!(Tally::default().choose(5000), None);
    }

    #[test]
    fn breadths_an_exact_scan_answers_are_not_measured_and_count_as_exact() {
        let mut tally = Tally::new(2);
        for _ in 0..10 {
            tally.add([5, 8, 0, 0, 0, 0, 0, 0]);
        }
        assert!(tally.widest_falls_short(), "0.8 at the second breadth");
        let chosen = tally.choose(20_000).unwrap();
        assert_eq!((chosen.ef, chosen.recall), (BREADTHS[2], 1.0));
        let mut easy = Tally::new(2);
        easy.add([10, 10, 0, 0, 0, 0, 0, 0]);
        assert_eq!(easy.choose(20_000).unwrap().ef, BREADTHS[0]);
    }

    #[test]
    fn a_probe_stops_only_when_the_widest_breadth_clearly_falls_short() {
        let mut probe = Tally::default();
        for _ in 0..PROBE_SAMPLES {
            probe.add([0, 0, 0, 0, 0, 0, 0, 9]);
        }
        assert!(probe.widest_falls_short(), "0.90 < 0.94");
        assert_eq!(probe.choose(100).unwrap().ef, *BREADTHS.last().unwrap());
        let mut close = Tally::default();
        for _ in 0..PROBE_SAMPLES {
            close.add([0, 0, 0, 0, 0, 0, 0, 10]);
        }
        assert!(!close.widest_falls_short());
        assert!(!Tally::default().widest_falls_short());
    }

    #[test]
    fn a_spread_stays_in_range_and_takes_everything_when_short() {
        let picked: Vec<u32> = spread(1000, 100).collect();
        assert_eq!(picked.len(), 100);
        assert!(picked.iter().all(|&n| n < 1000));
        assert_eq!(spread(5, 100).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    }
}
