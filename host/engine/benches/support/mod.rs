//! The benchmark workload (bench/compare.py's, in Rust): float32 vectors of
//! dim 384 drawn around 100 gaussian clusters (σ 0.1) with a fixed seed, and
//! query vectors that are new points from the same clusters. Shared by the
//! engine benchmarks and the `recall` example; no rand crate needed.

pub const DIM: usize = 384;
const CLUSTERS: usize = 100;

/// Deterministic gaussian numbers (xorshift + Box-Muller).
struct Gauss(u64);

impl Gauss {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// `n` vectors, then `queries` query vectors.
pub fn clustered(n: usize, queries: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut g = Gauss(42);
    let centers: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| (0..DIM).map(|_| g.normal()).collect())
        .collect();
    let around = |g: &mut Gauss| {
        let c = &centers[(g.uniform() * CLUSTERS as f32) as usize % CLUSTERS];
        c.iter().map(|x| x + 0.1 * g.normal()).collect::<Vec<f32>>()
    };
    let vectors = (0..n).map(|_| around(&mut g)).collect();
    let queries = (0..queries).map(|_| around(&mut g)).collect();
    (vectors, queries)
}
