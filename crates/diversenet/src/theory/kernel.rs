//! The kernel of the ReLU unit (PAPER.md section 3): for rotation-invariant w,
//! E_w[D^T D]/n is the Gram matrix K of k(x, y) = <x, y> (pi - theta) / (2 pi), and
//! (1/n) D^T D = K + (X X^T) o E_W with E_W the slice discrepancy matrix of the units.

use std::f64::consts::PI;

use crate::geometry::slice_volume_of_cosine;
use crate::linalg::{gram, smallest_eigenvalue_psd_with_stats, Cancel, Matrix};

/// kappa(t) = t/4 + t arcsin(t) / (2 pi): the kernel as a function of t = <x, y> on the
/// sphere; kappa(1) = 1/2.
pub fn kappa(t: f64) -> f64 {
    let t = t.clamp(-1.0, 1.0);
    t / 4.0 + t * t.asin() / (2.0 * PI)
}

/// What the kernel and the discrepancy matrix share, computed once per set of points:
/// the inner products X X^T and the slice volumes (pi - theta_ij) / (2 pi).
#[derive(Clone, Debug)]
pub struct PairGeometry {
    /// <x_i, x_j>.
    pub inner: Matrix<f64>,
    /// (pi - theta_ij) / (2 pi), the measure of the slice {u : u.x_i >= 0, u.x_j >= 0}
    /// (theta = pi/2 for a zero row).
    pub slice_volume: Matrix<f64>,
}

impl PairGeometry {
    /// One Gram product of the rows of `x`, then the slice volumes, by rows on the crate's
    /// threads (each entry on its own: the same values on any number of threads). `cancel`
    /// is asked after the Gram product and every 256 rows of slice volumes.
    pub fn of(x: &Matrix<f64>, cancel: Cancel<'_>) -> crate::Result<Self> {
        use rayon::prelude::*;
        let inner = gram(x.view());
        cancel.check()?;
        let m = x.rows();
        let norms: Vec<f64> = (0..m).map(|i| inner.row(i)[i].sqrt()).collect();
        let mut slice_volume = Matrix::zeros(m, m);
        let fill_row = |(i, row): (usize, &mut [f64])| {
            for (j, volume) in row.iter_mut().enumerate() {
                let denom = norms[i] * norms[j];
                let cos = if denom > 0.0 {
                    inner.row(i)[j] / denom
                } else {
                    0.0
                };
                *volume = slice_volume_of_cosine(cos);
            }
        };
        // An arccosine per entry: about 2 s for 8000 points on 2 cores, so `cancel` is
        // asked every 256 rows.
        const ROWS_PER_ASK: usize = 256;
        let block_len = ROWS_PER_ASK * m.max(1);
        for (block, rows) in slice_volume
            .as_mut_slice()
            .chunks_mut(block_len)
            .enumerate()
        {
            cancel.check()?;
            rows.par_chunks_mut(m.max(1))
                .with_min_len(16)
                .enumerate()
                .for_each(|(r, row)| fill_row((block * ROWS_PER_ASK + r, row)));
        }
        cancel.check()?;
        Ok(Self {
            inner,
            slice_volume,
        })
    }
}

/// The kernel Gram matrix K_ij = <x_i, x_j> (pi - theta_ij) / (2 pi) (= kappa(<x_i, x_j>)
/// on the sphere).
pub fn kernel_gram(points: &PairGeometry) -> Matrix<f64> {
    let mut k = points.inner.clone();
    for (kv, v) in k
        .as_mut_slice()
        .iter_mut()
        .zip(points.slice_volume.as_slice())
    {
        *kv *= v;
    }
    k
}

/// lambda_min(K) of the kernel Gram matrix (0 when K is numerically singular); `cancel` is
/// asked before and during the eigensolver.
pub fn kernel_lambda_min(points: &PairGeometry, cancel: Cancel<'_>) -> crate::Result<f64> {
    let k = kernel_gram(points);
    cancel.check()?;
    let (eigenvalue, _) = smallest_eigenvalue_psd_with_stats(k, cancel)?;
    Ok(eigenvalue.value().unwrap_or(0.0).max(0.0))
}

/// E_W(i, j) = sum_k weight_k 1[w_k . x_i > 0] 1[w_k . x_j > 0] - (pi - theta_ij)/(2 pi):
/// the weighted fraction of units in the slice of (x_i, x_j) minus its volume.
/// `activation` is A (n x m); `weights` (summing to 1) are 1/n for plain units.
pub fn discrepancy_matrix(
    points: &PairGeometry,
    activation: &Matrix<f64>,
    weights: &[f64],
) -> Matrix<f64> {
    let (n, m) = (activation.rows(), activation.cols());
    let mut scaled_t = Matrix::zeros(m, n);
    for (k, &weight) in weights.iter().enumerate().take(n) {
        let s = weight.sqrt();
        for (i, &a) in activation.row(k).iter().enumerate() {
            scaled_t.row_mut(i)[k] = s * a;
        }
    }
    let mut e = gram(scaled_t.view());
    for (ev, v) in e
        .as_mut_slice()
        .iter_mut()
        .zip(points.slice_volume.as_slice())
    {
        *ev -= v;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{gemm, Op};
    use crate::model::{Network, OutputLayer};
    use crate::rng::{SeededRng, Stream};
    use crate::theory::feature_matrix::{activation_pattern, feature_gram};

    fn sphere_points(m: usize, d: usize, seed: u64) -> Matrix<f64> {
        let mut rng = SeededRng::new(seed, Stream::Data);
        Matrix::from_vec(m, d, (0..m).flat_map(|_| rng.unit_vector(d)).collect())
    }

    #[test]
    fn kappa_closed_form() {
        assert!((kappa(1.0) - 0.5).abs() < 1e-15);
        assert_eq!(kappa(0.0), 0.0);
        // kappa(t) = t (pi - arccos t) / (2 pi)
        for t in [-0.9, -0.3, 0.2, 0.7] {
            assert!((kappa(t) - t * (PI - f64::acos(t)) / (2.0 * PI)).abs() < 1e-15);
        }
    }

    #[test]
    fn decomposition_is_exact_for_unit_output_weights() {
        let (d, n, m) = (4, 30, 25);
        let net: Network<f64> = Network::init(
            d,
            n,
            1,
            OutputLayer::Fixed,
            1.0,
            &mut SeededRng::new(1, Stream::Init),
        );
        let x = sphere_points(m, d, 2);
        let g = feature_gram(&net, &x, Cancel::NEVER).unwrap();
        let geometry = PairGeometry::of(&x, Cancel::NEVER).unwrap();
        let k = kernel_gram(&geometry);
        let e = discrepancy_matrix(
            &geometry,
            &activation_pattern(&net, &x),
            &vec![1.0 / n as f64; n],
        );
        let inner = gram(x.view());
        for i in 0..m * m {
            let rhs = k.as_slice()[i] + inner.as_slice()[i] * e.as_slice()[i];
            assert!((g.as_slice()[i] / n as f64 - rhs).abs() < 1e-12);
        }
    }

    #[test]
    fn feature_gram_over_n_approaches_k_as_n_grows() {
        // E_W -> 0 at rate 1/sqrt(n): the maximal entry error shrinks about 10x per 100x units.
        let (d, m) = (5, 15);
        let x = sphere_points(m, d, 3);
        let k = kernel_gram(&PairGeometry::of(&x, Cancel::NEVER).unwrap());
        let max_err = |n: usize| {
            let net: Network<f64> = Network::init(
                d,
                n,
                1,
                OutputLayer::Fixed,
                1.0,
                &mut SeededRng::new(n as u64, Stream::Init),
            );
            let g = feature_gram(&net, &x, Cancel::NEVER).unwrap();
            g.as_slice()
                .iter()
                .zip(k.as_slice())
                .map(|(a, b)| (a / n as f64 - b).abs())
                .fold(0.0, f64::max)
        };
        let (e1, e2, e3) = (max_err(100), max_err(10_000), max_err(400_000));
        assert!(
            e2 < e1 / 3.0 && e3 < e2 / 3.0 && e3 < 0.003,
            "{e1} {e2} {e3}"
        );
    }

    #[test]
    fn kernel_gram_is_the_expectation_over_gaussian_units() {
        // Monte Carlo: E_w[<x,y> 1[w.x>0] 1[w.y>0]] over 200,000 Gaussian w.
        let x = sphere_points(3, 4, 5);
        let k = kernel_gram(&PairGeometry::of(&x, Cancel::NEVER).unwrap());
        let mut rng = SeededRng::new(6, Stream::Sample);
        let n = 200_000;
        let w = Matrix::from_vec(n, 4, (0..n * 4).map(|_| rng.normal()).collect());
        let mut pre = Matrix::zeros(n, 3);
        gemm(&mut pre, false, w.view(), Op::N, x.view(), Op::T, 1.0);
        for i in 0..3 {
            for j in 0..3 {
                let frac = (0..n)
                    .filter(|&r| pre.row(r)[i] > 0.0 && pre.row(r)[j] > 0.0)
                    .count() as f64
                    / n as f64;
                let dot: f64 = x.row(i).iter().zip(x.row(j)).map(|(a, b)| a * b).sum();
                // standard error of a fraction near 1/2 over 2e5 draws: 0.0011
                assert!((dot * frac - k.row(i)[j]).abs() < 0.005);
            }
        }
    }
}
