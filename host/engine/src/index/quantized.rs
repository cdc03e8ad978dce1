//! Exact search over many vectors in two passes: a first over 8-bit codes of
//! the vectors, which reads a quarter of the bytes, gives a lower bound of
//! every distance; then exact distances only for the vectors whose bound
//! leaves them a chance of being among the `k` nearest. The answer is the
//! exact scan's: no vector is skipped unless its bound proves it farther
//! than the `k`th nearest found.
//!
//! Each vector `x` is stored as codes `c` (`i8`) and a scale `s`, with
//! `x̂ = s·c` its dequantised form and `e = x - x̂` the rounding error. For a
//! query `q` (coded the same way), `q·x = q̂·x̂ + q̂·e_x + e_q·x`, so
//! `|q·x - q̂·x̂| ≤ |q̂|·|e_x| + |e_q|·|x|` (Cauchy-Schwarz). The norms are
//! kept per vector; `q̂·x̂ = s_q·s_x·Σ c_q c_x` is an integer dot product.

use rayon::prelude::*;

use crate::distance::Space;

/// The largest code: symmetric, so a vector and its negation code alike.
const MAX_CODE: f32 = 127.0;

/// Rounding of the float arithmetic on top of the bound (relative to
/// `|q|·|x|`): the `f32` distances differ from the true ones by far less.
const FLOAT_SLACK: f32 = 1e-4;

/// One collection's vectors in 8 bits, node by node.
pub struct Codes {
    dim: usize,
    codes: Vec<i8>,
    /// Node → (scale, |x|, |e_x|).
    norms: Vec<[f32; 3]>,
}

/// A query, coded for [`Codes::lower_bound`].
pub struct CodedQuery {
    codes: Vec<i8>,
    scale: f32,
    /// |q|², |q|, |q̂|, |e_q|.
    squared: f32,
    norm: f32,
    dequantised: f32,
    error: f32,
}

impl Codes {
    pub fn new(dim: usize) -> Self {
        Codes {
            dim,
            codes: Vec::new(),
            norms: Vec::new(),
        }
    }

    pub fn reserve_exact(&mut self, nodes: usize) {
        self.codes.reserve_exact(nodes * self.dim);
        self.norms.reserve_exact(nodes);
    }

    /// Codes of many prepared vectors (`dim` floats each), coded in
    /// parallel.
    pub fn of_all(dim: usize, vectors: &[f32]) -> Self {
        /// Vectors per parallel task.
        const CHUNK: usize = 4096;
        let nodes = vectors.len() / dim.max(1);
        let mut codes = vec![0i8; nodes * dim];
        let mut norms = vec![[0f32; 3]; nodes];
        if dim > 0 {
            codes
                .par_chunks_mut(CHUNK * dim)
                .zip(norms.par_chunks_mut(CHUNK))
                .zip(vectors.par_chunks(CHUNK * dim))
                .for_each(|((codes, norms), vectors)| {
                    for ((out, norms), v) in codes
                        .chunks_exact_mut(dim)
                        .zip(norms.iter_mut())
                        .zip(vectors.chunks_exact(dim))
                    {
                        let (scale, error) = code_to(v, out);
                        *norms = [scale, norm(v), error];
                    }
                });
        }
        Codes { dim, codes, norms }
    }

    /// Add `node` of `other` (coded alike) as the next node.
    pub fn push_copy(&mut self, other: &Codes, node: u32) {
        let at = node as usize;
        self.codes
            .extend_from_slice(&other.codes[at * self.dim..(at + 1) * self.dim]);
        self.norms.push(other.norms[at]);
    }

    /// Code a prepared vector as the next node.
    pub fn push(&mut self, prepared: &[f32]) {
        let (scale, error) = code_into(prepared, &mut self.codes);
        self.norms.push([scale, norm(prepared), error]);
    }

    /// Code `query` (prepared) for lower bounds against these vectors.
    pub fn query(&self, query: &[f32]) -> CodedQuery {
        let mut codes = Vec::with_capacity(self.dim);
        let (scale, error) = code_into(query, &mut codes);
        let dequantised = scale
            * (codes
                .iter()
                .map(|&c| f32::from(c) * f32::from(c))
                .sum::<f32>())
            .sqrt();
        let squared: f32 = query.iter().map(|x| x * x).sum();
        CodedQuery {
            codes,
            scale,
            squared,
            norm: squared.sqrt(),
            dequantised,
            error,
        }
    }

    /// A value no greater than `space`'s distance between the query and
    /// `node`.
    #[inline]
    pub fn lower_bound(&self, space: Space, query: &CodedQuery, node: u32) -> f32 {
        let at = node as usize;
        let [scale, x_norm, x_error] = self.norms[at];
        let codes = &self.codes[at * self.dim..(at + 1) * self.dim];
        let dot = query.scale * scale * dot_i8(&query.codes, codes) as f32;
        let slack = query.dequantised * x_error
            + query.error * x_norm
            + FLOAT_SLACK * (query.norm * x_norm + 1.0);
        let bound = match space {
            // |q|² + |x|² - 2 q·x, with q·x at most dot + slack.
            Space::L2 => query.squared + x_norm * x_norm - 2.0 * (dot + slack),
            Space::Ip | Space::Cosine => 1.0 - (dot + slack),
        };
        // Overflowing magnitudes prove nothing: such a vector is compared
        // exactly.
        if bound.is_nan() {
            f32::NEG_INFINITY
        } else {
            bound
        }
    }
}

/// Append the codes of `v` to `out`; its scale and the norm of its
/// rounding error.
fn code_into(v: &[f32], out: &mut Vec<i8>) -> (f32, f32) {
    let start = out.len();
    out.resize(start + v.len(), 0);
    code_to(v, &mut out[start..])
}

/// Adding and taking away 1.5 · 2²³ rounds an `f32` of magnitude below 2²²
/// to the nearest integer (ties to even) in two additions that compile to
/// vector instructions, where `f32::round` is a call per element.
const ROUND: f32 = 12_582_912.0;

/// Code `v` into `out` (as long as `v`); its scale and rounding error.
fn code_to(v: &[f32], out: &mut [i8]) -> (f32, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 && max.is_finite() {
        max / MAX_CODE
    } else {
        1.0
    };
    let inverse = 1.0 / scale;
    let mut error = 0f32;
    for (o, &x) in out.iter_mut().zip(v) {
        let c = ((x * inverse).clamp(-MAX_CODE, MAX_CODE) + ROUND) - ROUND;
        let e = x - c * scale;
        error += e * e;
        *o = c as i8;
    }
    (scale, error.sqrt())
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Integer dot product of two code vectors (exact: 127² · 2¹⁷ fits in i32
/// for any dimension Chroma accepts, up to 65,536... and far beyond).
#[inline]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked at run time).
        return unsafe { dot_i8_avx2(a, b) };
    }
    dot_i8_kernel(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    dot_i8_kernel(a, b)
}

/// Written for the auto-vectoriser: 16-bit products summed pairwise into
/// 32-bit lanes (`pmaddwd`).
#[inline(always)]
fn dot_i8_kernel(a: &[i8], b: &[i8]) -> i32 {
    const LANES: usize = 32;
    let mut acc = [0i32; LANES];
    let (ac, ar) = a.split_at(a.len() - a.len() % LANES);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(LANES).zip(bc.chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += i32::from(i16::from(x[i]) * i16::from(y[i]));
        }
    }
    let tail: i32 = ar
        .iter()
        .zip(br)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    acc.iter().sum::<i32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(seed: u64, n: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
        };
        (0..n).map(|_| (0..dim).map(|_| next()).collect()).collect()
    }

    #[test]
    fn the_bound_is_never_above_the_distance() {
        for space in [Space::L2, Space::Ip, Space::Cosine] {
            for dim in [1, 3, 31, 384] {
                let vectors: Vec<Vec<f32>> = random(dim as u64, 200, dim)
                    .into_iter()
                    .map(|v| space.prepare(&v))
                    .collect();
                let mut codes = Codes::new(dim);
                vectors.iter().for_each(|v| codes.push(v));
                for q in random(7, 20, dim) {
                    let q = space.prepare(&q);
                    let coded = codes.query(&q);
                    for (n, v) in vectors.iter().enumerate() {
                        let exact = space.distance(&q, v);
                        let bound = codes.lower_bound(space, &coded, n as u32);
                        assert!(bound <= exact, "{space:?} dim {dim}: {bound} > {exact}");
                        // And tight enough to be worth it: within a few
                        // hundredths of |q|·|x|.
                        if dim == 384 {
                            let scale = 1.0 + norm(&q) * norm(v);
                            assert!(exact - bound < 0.03 * scale, "{bound} vs {exact}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn zero_and_extreme_vectors_code() {
        let mut codes = Codes::new(3);
        for v in [[0.0, 0.0, 0.0], [1e30, -1e30, 0.0], [1e-30, 0.0, -1e-30]] {
            codes.push(&v);
        }
        let q = codes.query(&[1.0, 2.0, 3.0]);
        for n in 0..3 {
            let bound = codes.lower_bound(Space::Ip, &q, n);
            assert!(!bound.is_nan());
        }
    }

    #[test]
    fn integer_dot_products_are_exact() {
        let a: Vec<i8> = (0..100).map(|i| (i * 37 % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..100).map(|i| (i * 91 % 255 - 127) as i8).collect();
        let want: i32 = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| i32::from(x) * i32::from(y))
            .sum();
        assert_eq!(dot_i8(&a, &b), want);
        assert_eq!(dot_i8_kernel(&[-127; 64], &[-127; 64]), 127 * 127 * 64);
    }
}
