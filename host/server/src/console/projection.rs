//! A 2-D picture of a collection: the first two principal components of a
//! sample of its embeddings (power iteration on the covariance, which is
//! never formed: each step costs two passes over the sample).

/// Where each vector lands, and the share of the variance the two axes show.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// `(x, y)` per input vector, in input order.
    pub points: Vec<(f32, f32)>,
    /// Variance along the two axes over the total, 0..=1.
    pub explained: f32,
}

const ITERATIONS: usize = 60;

/// Project `vectors` (all of one dimension) onto their first two principal
/// components.
pub fn principal_components(vectors: &[Vec<f32>]) -> Projection {
    let n = vectors.len();
    let dim = vectors.first().map_or(0, Vec::len);
    if n == 0 || dim == 0 {
        return Projection {
            points: vec![(0.0, 0.0); n],
            explained: 0.0,
        };
    }
    let mut mean = vec![0f64; dim];
    for v in vectors {
        for (m, x) in mean.iter_mut().zip(v) {
            *m += f64::from(*x);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let centred: Vec<Vec<f64>> = vectors
        .iter()
        .map(|v| {
            v.iter()
                .zip(&mean)
                .map(|(x, m)| f64::from(*x) - m)
                .collect()
        })
        .collect();
    let total: f64 = centred
        .iter()
        .map(|v| v.iter().map(|x| x * x).sum::<f64>())
        .sum::<f64>()
        / n as f64;
    let first = leading_axis(&centred, &[]);
    let second = leading_axis(&centred, std::slice::from_ref(&first.0));
    let points = centred
        .iter()
        .map(|v| (dot(v, &first.0) as f32, dot(v, &second.0) as f32))
        .collect();
    let explained = if total > 0.0 {
        ((first.1 + second.1) / total).clamp(0.0, 1.0) as f32
    } else {
        0.0
    };
    Projection { points, explained }
}

/// The unit axis of most variance orthogonal to `exclude`, and that variance.
fn leading_axis(centred: &[Vec<f64>], exclude: &[Vec<f64>]) -> (Vec<f64>, f64) {
    let dim = centred[0].len();
    // A fixed, non-degenerate start keeps the picture the same on each visit.
    let mut axis: Vec<f64> = (0..dim).map(|i| 1.0 + (i as f64 * 0.618).fract()).collect();
    let mut variance = 0.0;
    for _ in 0..ITERATIONS {
        orthogonalise(&mut axis, exclude);
        if normalise(&mut axis) == 0.0 {
            return (axis, 0.0);
        }
        // covariance · axis = Σ v (v · axis) / n
        let mut next = vec![0f64; dim];
        for v in centred {
            let along = dot(v, &axis);
            for (acc, x) in next.iter_mut().zip(v) {
                *acc += x * along;
            }
        }
        next.iter_mut().for_each(|x| *x /= centred.len() as f64);
        variance = dot(&next, &axis);
        axis = next;
    }
    orthogonalise(&mut axis, exclude);
    normalise(&mut axis);
    (axis, variance.max(0.0))
}

fn orthogonalise(axis: &mut [f64], exclude: &[Vec<f64>]) {
    for e in exclude {
        let along = dot(axis, e);
        for (a, x) in axis.iter_mut().zip(e) {
            *a -= along * x;
        }
    }
}

fn normalise(axis: &mut [f64]) -> f64 {
    let norm = dot(axis, axis).sqrt();
    if norm > 0.0 {
        axis.iter_mut().for_each(|a| *a /= norm);
    }
    norm
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_on_a_plane_keep_their_shape() {
        // Points in the plane spanned by (1,1,0,0) and (0,0,1,-1), spread 10:1.
        let vectors: Vec<Vec<f32>> = (0..50)
            .map(|i| {
                let (a, b) = ((i % 10) as f32 * 10.0, (i / 10) as f32);
                vec![a, a, b, -b]
            })
            .collect();
        let p = principal_components(&vectors);
        assert!(p.explained > 0.999, "{}", p.explained);
        // The first axis carries the large spread.
        let spread = |f: fn(&(f32, f32)) -> f32| {
            let values: Vec<f32> = p.points.iter().map(f).collect();
            values.iter().cloned().fold(f32::MIN, f32::max)
                - values.iter().cloned().fold(f32::MAX, f32::min)
        };
        assert!(spread(|p| p.0) > 5.0 * spread(|p| p.1));
        // Distances along the first axis are the original ones.
        let d = (p.points[1].0 - p.points[0].0).abs();
        assert!((d - 10.0 * 2f32.sqrt()).abs() < 1e-3, "{d}");
    }

    #[test]
    fn clusters_stay_apart() {
        let mut vectors = Vec::new();
        for i in 0..40 {
            let jitter = (i as f32 * 0.37).sin() * 0.1;
            let centre = if i < 20 { 5.0 } else { -5.0 };
            vectors.push(vec![centre + jitter, jitter, -jitter, 1.0]);
        }
        let p = principal_components(&vectors);
        let (left, right) = p.points.split_at(20);
        let sign = left[0].0.signum();
        assert!(left.iter().all(|q| q.0.signum() == sign));
        assert!(right.iter().all(|q| q.0.signum() == -sign));
    }

    #[test]
    fn degenerate_input_gives_a_point_per_vector() {
        assert_eq!(principal_components(&[]).points.len(), 0);
        let same = vec![vec![1.0, 2.0]; 3];
        let p = principal_components(&same);
        assert_eq!(p.points, vec![(0.0, 0.0); 3]);
        assert_eq!(p.explained, 0.0);
    }
}
