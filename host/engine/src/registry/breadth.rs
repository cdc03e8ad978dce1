//! Measuring a graph's search breadth (`index::breadth`) beside searches:
//! the index's shared lock is taken once per sampled point, so writers
//! and the indexer get in between, and the exclusive lock only to keep
//! the result.

use super::IndexHandle;
use crate::index::{PROBE_SAMPLES, Sample, Tally};

/// Whether the search breadth of `handle`'s graph is due to be measured
/// (`VectorIndex::breadth_due`; `settled`: writes have paused).
pub(super) fn due(handle: &IndexHandle, settled: bool) -> bool {
    handle
        .read()
        .index
        .as_ref()
        .is_some_and(|index| index.breadth_due(settled))
}

/// Measure and keep the search breadth of `handle`'s graph if it is due
/// ([`due`]); gives up, keeping nothing, if the graph is replaced
/// meanwhile.
pub(super) fn measure_if_due(handle: &IndexHandle, settled: bool) {
    let sample = {
        let state = handle.read();
        match state.index.as_ref() {
            Some(index) if index.breadth_due(settled) => index.breadth_sample(),
            _ => return,
        }
    };
    // Background work no query should wait for: on a thread of its own at a
    // lower priority, while the caller (the indexer) waits for it.
    let fallback = sample.clone();
    std::thread::scope(|scope| {
        let measuring = std::thread::Builder::new()
            .name("prism-breadth".into())
            .spawn_scoped(scope, move || {
                lower_priority();
                measure(handle, sample)
            });
        if measuring.map(|thread| thread.join()).is_err() {
            measure(handle, fallback);
        }
    });
}

/// The measurements of `nodes` of `sample`; `None` if the graph was
/// replaced (or a point deleted) meanwhile: measured again when next due.
fn tally_of(
    handle: &IndexHandle,
    sample: &Sample,
    nodes: impl Iterator<Item = u32>,
    widest_only: bool,
) -> Option<Tally> {
    let mut tally = Tally::new(sample.useful);
    for node in nodes {
        let state = handle.read();
        let index = state.index.as_ref()?;
        tally.add(index.measure_breadth(sample.generation, node, widest_only, sample.useful)?);
    }
    Some(tally)
}

/// How much less a measuring thread weighs than a query's: Linux's lowest
/// `nice`, a sixtieth of a query's share of a core both want. Its searches
/// stay on this thread (not the worker threads queries use), so all of it
/// yields. Measured at 100,000 x 384 with queries running back to back, a
/// measurement at nice 10 whose exact scans used the worker threads
/// doubled the queries' median latency for its 6 s.
const BACKGROUND_NICE: i32 = 19;

/// Lower the calling thread's scheduling priority (Linux only: elsewhere
/// the call would lower the whole process's).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), BACKGROUND_NICE)
    {
        tracing::debug!(error = %e, "cannot lower the measuring thread's priority");
    }
}

fn measure(handle: &IndexHandle, sample: Sample) {
    let started = std::time::Instant::now();
    // A few points at the widest breadth measured first: if even that falls clearly
    // short, it is the answer (and queries may scan exactly instead), and
    // the rest, the costly part, is not measured.
    let probe = sample.nodes.iter().copied().take(PROBE_SAMPLES);
    let Some(mut tally) = tally_of(handle, &sample, probe, true) else {
        return;
    };
    if !tally.widest_falls_short() {
        tally = match tally_of(handle, &sample, sample.nodes.iter().copied(), false) {
            Some(tally) => tally,
            None => return,
        };
    }
    let (generation, graphed) = (sample.generation, sample.graphed);
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
