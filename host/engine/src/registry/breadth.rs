//! Measuring a graph's search breadth (`index::breadth`) beside searches:
//! the index's shared lock is taken once per sampled point, so writers
//! and the indexer get in between, and the exclusive lock only to keep
//! the result.

use super::IndexHandle;
use crate::index::Tally;

/// Measure and keep the search breadth of `handle`'s graph if it is due
/// (`VectorIndex::breadth_due`); gives up, keeping nothing, if the graph
/// is replaced meanwhile.
pub(super) fn measure_if_due(handle: &IndexHandle) {
    let sample = {
        let state = handle.read();
        match state.index.as_ref() {
            Some(index) if index.breadth_due() => index.breadth_sample(),
            _ => return,
        }
    };
    let (generation, graphed, nodes) = sample;
    let started = std::time::Instant::now();
    let mut tally = Tally::default();
    for node in nodes {
        let state = handle.read();
        let Some(index) = state.index.as_ref() else {
            return;
        };
        match index.measure_breadth(generation, node) {
            Some(found) => tally.add(found),
            // The graph was replaced (or the point deleted): measure again
            // when next due.
            None => return,
        }
    }
    let Some(chosen) = tally.choose(graphed) else {
        return;
    };
    if let Some(index) = handle.write().index.as_mut() {
        index.set_breadth(generation, chosen);
    }
    tracing::info!(
        vectors = graphed,
        ef = chosen.ef,
        recall = chosen.recall,
        ms = started.elapsed().as_millis() as u64,
        "search breadth measured"
    );
}
