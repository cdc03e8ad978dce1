//! A graph saved to disk so a restart loads it instead of rebuilding it.
//!
//! `graph.bin` holds, per node in node order: its slot (u32), level (u8) and
//! for each layer up to its level a link count (u8) and the links (u32 node,
//! f32 distance), all little-endian. Vectors are not saved: they are in
//! SQLite, and a restart reads them by slot. `graph.json` (format, space,
//! dimension, degree, node count, checksum of `graph.bin`) is written last; a
//! directory without it is an unfinished save. A file that does not match its
//! checksum (damaged on disk) is not loaded: the graph is rebuilt from SQLite.
//!
//! In an encrypted data directory both files are sealed
//! ([`Sealer`]): `graph.bin` is built in memory and written encrypted.

use std::collections::{HashMap, HashSet};
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::graph::{Graph, Scored};
use super::points::Points;
use super::{IndexParams, empty_graph, graph_degree};
use crate::crypto::sealed_file::Sealer;
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
    /// [`Checksum`] of `graph.bin`. Absent in files of builds before it was
    /// written; those are loaded unchecked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<u64>,
}

/// A 64-bit checksum of a file's bytes, to tell a damaged graph file from a
/// good one (not a defence against tampering). Each 8-byte word goes through
/// a bijection of the state, so any one changed word always changes the sum.
struct Checksum {
    state: u64,
    len: u64,
    /// Bytes of an unfinished word.
    tail: [u8; 8],
    tail_len: usize,
}

impl Checksum {
    const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
    const MUL: u64 = 0xff51_afd7_ed55_8ccd;

    fn new() -> Self {
        Self {
            state: Self::SEED,
            len: 0,
            tail: [0; 8],
            tail_len: 0,
        }
    }

    #[inline]
    fn word(&mut self, w: u64) {
        let h = (self.state ^ w).wrapping_mul(Self::MUL);
        self.state = h ^ (h >> 32);
    }

    fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.tail_len > 0 {
            let n = bytes.len().min(8 - self.tail_len);
            self.tail[self.tail_len..self.tail_len + n].copy_from_slice(&bytes[..n]);
            self.tail_len += n;
            bytes = &bytes[n..];
            if self.tail_len < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.word(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    fn finish(mut self) -> u64 {
        let mut last = [0u8; 8];
        last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        self.word(u64::from_le_bytes(last));
        let len = self.len;
        self.word(len);
        self.state
    }

    fn of(bytes: &[u8]) -> u64 {
        let mut sum = Self::new();
        sum.update(bytes);
        sum.finish()
    }
}

/// A file writer that checksums what goes through it.
struct Summing<W> {
    inner: W,
    sum: Checksum,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sum.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Write `graph` over `points` into `dir`, replacing what is there: the new
/// files go into a sibling directory that is renamed into place. A save that
/// fails (a full disk) removes what it wrote, keeping the last saved graph.
pub(super) fn save(
    dir: &Path,
    graph: &Graph,
    points: &Points,
    sealer: Option<&Sealer>,
) -> std::io::Result<()> {
    let fresh = dir.with_extension("new");
    let _ = std::fs::remove_dir_all(&fresh);
    let saved = write_new(dir, &fresh, graph, points, sealer);
    if saved.is_err() {
        let _ = std::fs::remove_dir_all(&fresh);
        // Failed between the two renames: the old graph goes back.
        let stale = dir.with_extension("old");
        if !dir.exists() && stale.exists() {
            let _ = std::fs::rename(&stale, dir);
        }
    }
    saved
}

/// Where `graph.bin` is written: straight to the file, or (to be sealed)
/// into memory first.
enum Sink {
    File(std::fs::File),
    Memory(Vec<u8>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::File(f) => f.write(buf),
            Self::Memory(v) => v.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::File(f) => f.flush(),
            Self::Memory(_) => Ok(()),
        }
    }
}

/// Write `bytes` as the file `name` of `dir`, sealed when `sealer` is given.
fn write_file(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    sealer: Option<&Sealer>,
) -> std::io::Result<()> {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path)?;
    match sealer {
        Some(sealer) => {
            file.write_all(&sealer.seal(name, bytes).map_err(std::io::Error::other)?)?
        }
        None => file.write_all(bytes)?,
    }
    file.sync_all()
}

/// The contents of the file `name` of `dir`, opened with `sealer` when
/// given; a sealed file without one is refused.
fn read_file(dir: &Path, name: &str, sealer: Option<&Sealer>) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(dir.join(name)).map_err(|e| e.to_string())?;
    match sealer {
        Some(sealer) => sealer
            .open(name, &bytes)
            .map_err(|e| format!("{name}: {e}")),
        None if Sealer::is_sealed(&bytes) => Err(format!(
            "{name} is encrypted, but the data directory is not"
        )),
        None => Ok(bytes),
    }
}

fn write_new(
    dir: &Path,
    fresh: &Path,
    graph: &Graph,
    points: &Points,
    sealer: Option<&Sealer>,
) -> std::io::Result<()> {
    let stale = dir.with_extension("old");
    std::fs::create_dir_all(fresh)?;
    let sink = match sealer {
        Some(_) => Sink::Memory(Vec::new()),
        None => Sink::File(std::fs::File::create(fresh.join(GRAPH_FILE))?),
    };
    let mut out = BufWriter::new(Summing {
        inner: sink,
        sum: Checksum::new(),
    });
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
    let file = out.into_inner().map_err(|e| e.into_error())?;
    match file.inner {
        Sink::File(f) => f.sync_all()?,
        Sink::Memory(bytes) => write_file(fresh, GRAPH_FILE, &bytes, sealer)?,
    }
    let meta = Meta {
        format: FORMAT,
        space: points.space(),
        dim: points.dim(),
        degree: graph.degree(),
        nodes: graph.len(),
        checksum: Some(file.sum.finish()),
    };
    write_file(
        fresh,
        META_FILE,
        &serde_json::to_vec(&meta).map_err(std::io::Error::other)?,
        sealer,
    )?;
    let _ = std::fs::remove_dir_all(&stale);
    if dir.exists() {
        std::fs::rename(dir, &stale)?;
    }
    std::fs::rename(fresh, dir)?;
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
    sealer: Option<&Sealer>,
) -> Result<Option<(Points, Graph, usize)>, String> {
    if !dir.join(META_FILE).exists() {
        return Ok(None);
    }
    let text = read_file(dir, META_FILE, sealer)?;
    let meta: Meta = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let expected = (FORMAT, params.space, stored.dim(), graph_degree(params));
    if (meta.format, meta.space, meta.dim, meta.degree) != expected {
        return Err(format!("saved graph is {meta:?}, need {expected:?}"));
    }
    let bytes = read_file(dir, GRAPH_FILE, sealer)?;
    if let Some(want) = meta.checksum
        && Checksum::of(&bytes) != want
    {
        return Err(format!(
            "{GRAPH_FILE} is damaged: its {} bytes do not match the checksum saved with it",
            bytes.len()
        ));
    }
    let saved =
        parse(&bytes, meta.nodes, meta.degree).ok_or("graph file is truncated or corrupt")?;
    let mut seen = HashSet::with_capacity(saved.len());
    if let Some(node) = saved.iter().find(|n| !seen.insert(n.slot)) {
        return Err(format!(
            "graph file is corrupt: slot {} appears twice",
            node.slot
        ));
    }

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
    use crate::index::build_graph;

    fn params() -> IndexParams {
        IndexParams {
            space: Space::L2,
            ef_construction: 50,
            ef_search: 50,
            max_neighbors: 8,
        }
    }

    /// 300 points of 4 dimensions; slot `i` is record `1000 + i`.
    fn points() -> Points {
        let mut seed = 7u64;
        let mut points = Points::new(Space::L2, 4);
        for i in 0..300u32 {
            let v: Vec<f32> = (0..4)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (seed >> 40) as f32 / (1u64 << 24) as f32
                })
                .collect();
            points.push_raw((i, 1000 + i as i64, &v));
        }
        points
    }

    fn saved_dir() -> (tempfile::TempDir, std::path::PathBuf, Points) {
        let points = points();
        let graph = build_graph(params(), &points);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("graph");
        save(&dir, &graph, &points, None).unwrap();
        (tmp, dir, points)
    }

    #[test]
    fn the_checksum_sees_every_changed_byte_and_length() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let sum = Checksum::of(&bytes);
        let mut split = Checksum::new();
        for piece in bytes.chunks(7) {
            split.update(piece);
        }
        assert_eq!(split.finish(), sum, "the same however it is fed");
        for at in 0..bytes.len() {
            for bit in [0x01, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[at] ^= bit;
                assert_ne!(Checksum::of(&damaged), sum, "byte {at} ^ {bit:#x}");
            }
        }
        assert_ne!(Checksum::of(&bytes[..999]), sum);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_ne!(Checksum::of(&longer), sum);
    }

    #[test]
    fn a_saved_graph_loads_and_a_damaged_one_is_refused() {
        let (_tmp, dir, points) = saved_dir();
        let (loaded, graph, changes) = load(&dir, params(), &points, None).unwrap().unwrap();
        assert_eq!((loaded.live_count(), graph.len(), changes), (300, 300, 0));
        assert!(!dir.with_extension("new").exists());

        let file = dir.join(GRAPH_FILE);
        let good = std::fs::read(&file).unwrap();
        // A changed link distance still parses: only the checksum tells.
        let mut damaged = good.clone();
        let middle = good.len() / 2;
        damaged[middle] ^= 0x10;
        std::fs::write(&file, &damaged).unwrap();
        let err = load(&dir, params(), &points, None).err().expect("refused");
        assert!(err.contains("damaged"), "{err}");
        std::fs::write(&file, &good[..middle]).unwrap();
        assert!(load(&dir, params(), &points, None).is_err(), "truncated");
        std::fs::write(&file, &good).unwrap();
        assert!(load(&dir, params(), &points, None).unwrap().is_some());
    }

    #[test]
    fn a_graph_file_repeating_a_slot_is_refused_even_without_a_checksum() {
        let (_tmp, dir, points) = saved_dir();
        // A file of an older build (no checksum) whose second node claims the
        // first node's slot: loading it would give one record two nodes.
        let meta_path = dir.join(META_FILE);
        let mut meta: Meta = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
        meta.checksum = None;
        std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
        let file = dir.join(GRAPH_FILE);
        let mut bytes = std::fs::read(&file).unwrap();
        let first_slot: [u8; 4] = bytes[..4].try_into().unwrap();
        let level = bytes[4];
        let mut second = 5;
        for _ in 0..=level {
            second += 1 + 8 * bytes[second] as usize;
        }
        bytes[second..second + 4].copy_from_slice(&first_slot);
        std::fs::write(&file, &bytes).unwrap();
        let err = load(&dir, params(), &points, None).err().expect("refused");
        assert!(err.contains("appears twice"), "{err}");
    }

    #[test]
    fn a_failed_save_leaves_the_last_graph_and_no_partial_files() {
        let (_tmp, dir, points) = saved_dir();
        let graph = build_graph(params(), &points);
        // The new files are written, then moving the old graph aside fails
        // (a file sits where it goes): what was written is removed again.
        let stale = dir.with_extension("old");
        std::fs::write(&stale, b"in the way").unwrap();
        assert!(save(&dir, &graph, &points, None).is_err());
        assert!(!dir.with_extension("new").exists(), "partial save removed");
        assert!(load(&dir, params(), &points, None).unwrap().is_some());
        std::fs::remove_file(&stale).unwrap();
        save(&dir, &graph, &points, None).unwrap();
        assert!(!stale.exists() && !dir.with_extension("new").exists());
        assert!(load(&dir, params(), &points, None).unwrap().is_some());
    }

    #[test]
    fn an_encrypted_graph_loads_with_its_key_only_and_holds_no_plaintext() {
        use crate::crypto::SecretKey;
        let points = points();
        let graph = build_graph(params(), &points);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("graph");
        let key = SecretKey::random().unwrap();
        let sealer = Sealer::new(&[&key]);
        save(&dir, &graph, &points, Some(&sealer)).unwrap();
        let (loaded, g, changes) = load(&dir, params(), &points, Some(&sealer))
            .unwrap()
            .unwrap();
        assert_eq!((loaded.live_count(), g.len(), changes), (300, 300, 0));
        let meta = std::fs::read(dir.join(META_FILE)).unwrap();
        assert!(
            !meta.windows(6).any(|w| w == b"format"),
            "graph.json sealed"
        );
        let bin = std::fs::read(dir.join(GRAPH_FILE)).unwrap();
        // The first node's slot and level, as a plain file starts.
        let mut plain = Vec::new();
        save(&tmp.path().join("plain"), &graph, &points, None).unwrap();
        plain.extend_from_slice(
            &std::fs::read(tmp.path().join("plain").join(GRAPH_FILE)).unwrap()[..16],
        );
        assert!(!bin.windows(16).any(|w| w == plain.as_slice()));
        let err = load(&dir, params(), &points, None).err().unwrap();
        assert!(err.contains("encrypted"), "{err}");
        let other = Sealer::new(&[&SecretKey::random().unwrap()]);
        assert!(load(&dir, params(), &points, Some(&other)).is_err());
        let plain_dir = tmp.path().join("plain");
        let err = load(&plain_dir, params(), &points, Some(&sealer))
            .err()
            .unwrap();
        assert!(err.contains("not encrypted"), "{err}");
        let mut damaged = bin.clone();
        damaged[bin.len() / 2] ^= 1;
        std::fs::write(dir.join(GRAPH_FILE), &damaged).unwrap();
        assert!(load(&dir, params(), &points, Some(&sealer)).is_err());
    }

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
