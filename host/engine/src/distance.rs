//! Chroma's three distance spaces, computed the way Chroma reports them:
//! squared L2, `1 - dot`, and `1 - cosine`.

use serde::{Deserialize, Serialize};

/// A collection's distance space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// Squared Euclidean distance.
    #[default]
    L2,
    /// Inner product, reported as `1 - dot` (may be negative).
    Ip,
    /// Cosine, reported as `1 - cos`; vectors are normalised before indexing.
    Cosine,
}

impl Space {
    /// Parse Chroma's spelling (`l2`, `ip`, `cosine`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "l2" => Some(Self::L2),
            "ip" => Some(Self::Ip),
            "cosine" => Some(Self::Cosine),
            _ => None,
        }
    }

    /// Chroma's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::L2 => "l2",
            Self::Ip => "ip",
            Self::Cosine => "cosine",
        }
    }

    /// Distance between a query and a stored vector, both already prepared
    /// with [`Space::prepare`].
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Self::L2 => l2_squared(a, b),
            Self::Ip | Self::Cosine => 1.0 - dot(a, b),
        }
    }

    /// [`Space::prepare`] on `v` itself.
    pub fn prepare_in_place(self, v: &mut [f32]) {
        if self == Self::Cosine {
            normalize(v);
        }
    }

    /// What is stored in the index for `v`: cosine vectors are unit-normalised.
    pub fn prepare(self, v: &[f32]) -> Vec<f32> {
        match self {
            Self::Cosine => normalized(v),
            Self::L2 | Self::Ip => v.to_vec(),
        }
    }
}

/// Independent accumulators per kernel: enough for four 256-bit (or eight
/// 128-bit) registers, so additions overlap instead of waiting on each other.
const LANES: usize = 32;

/// Dot product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if wide_simd() {
        // SAFETY: the CPU has AVX2 and FMA (checked at run time).
        return unsafe { dot_avx2(a, b) };
    }
    dot_kernel(a, b)
}

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if wide_simd() {
        // SAFETY: the CPU has AVX2 and FMA (checked at run time).
        return unsafe { l2_avx2(a, b) };
    }
    l2_kernel(a, b)
}

/// Whether 256-bit kernels can run. The binary targets baseline x86-64
/// (SSE2) so it runs anywhere; most servers have AVX2, which halves the time
/// distances take. `is_x86_feature_detected!` caches its answer.
#[cfg(target_arch = "x86_64")]
#[inline]
fn wide_simd() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_kernel(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn l2_avx2(a: &[f32], b: &[f32]) -> f32 {
    l2_kernel(a, b)
}

// The kernels are written for the auto-vectoriser and inlined into each
// instruction-set variant above.
#[inline(always)]
fn dot_kernel(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ac, ar) = a.split_at(a.len() - a.len() % LANES);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(LANES).zip(bc.chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn l2_kernel(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ac, ar) = a.split_at(a.len() - a.len() % LANES);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(LANES).zip(bc.chunks_exact(LANES)) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| (x - y) * (x - y)).sum();
    acc.iter().sum::<f32>() + tail
}

/// `v / |v|`; the zero vector stays zero (as hnswlib does).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let mut out = v.to_vec();
    normalize(&mut out);
    out
}

/// `v` unit-normalised in place (a zero vector stays as it is).
pub fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroma_reference_values() {
        // CHROMA_API.md §3: query [2,0] vs [3,4].
        assert_eq!(Space::L2.distance(&[2.0, 0.0], &[3.0, 4.0]), 17.0);
        assert_eq!(Space::Ip.distance(&[2.0, 0.0], &[3.0, 4.0]), -5.0);
        let q = Space::Cosine.prepare(&[2.0, 0.0]);
        let v = Space::Cosine.prepare(&[3.0, 4.0]);
        assert!((Space::Cosine.distance(&q, &v) - 0.4).abs() < 1e-6);
        let same = Space::Cosine.prepare(&[1.0, 2.0, 3.0]);
        assert!(Space::Cosine.distance(&same, &same).abs() < 1e-6);
    }

    #[test]
    fn long_vectors_match_naive_sums() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| (37 - i) as f32 * 0.25).collect();
        let naive_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let naive_l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        assert!((dot(&a, &b) - naive_dot).abs() < 1e-2);
        assert!((l2_squared(&a, &b) - naive_l2).abs() < 1e-2);
    }

    #[test]
    fn every_kernel_agrees() {
        for len in [1, 7, 31, 32, 33, 384, 385] {
            let a: Vec<f32> = (0..len).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..len).map(|i| ((i * 13) % 7) as f32 * 0.5).collect();
            assert_eq!(dot(&a, &b), dot_kernel(&a, &b), "len {len}");
            assert_eq!(l2_squared(&a, &b), l2_kernel(&a, &b), "len {len}");
        }
    }

    #[test]
    fn zero_vector_normalises_to_zero() {
        assert_eq!(normalized(&[0.0, 0.0]), vec![0.0, 0.0]);
        assert_eq!(Space::parse("cosine"), Some(Space::Cosine));
        assert_eq!(Space::parse("euclid"), None);
    }
}
