//! The directional regularisers as functions of the cosines c_kl = u_k . u_l of the unit
//! rows. `discrepancy`, `mhe` and `orthogonal` are pair sums, R = const + sum_{k<l} psi(c_kl),
//! so that dR/du_k = sum_{l != k} psi'(c_kl) u_l and, projected onto the tangent space of
//! the row, dR/dw_k = (1/||w_k||) (sum_l S_kl u_l - (sum_l S_kl c_kl) u_k) with
//! S_kl = psi'(c_kl). `mma` takes a minimum over the partners instead.
//!
//! The exact path computes the lower triangle of U U^T (one triangular GEMM), psi and
//! psi' once per unordered pair, and S U by one GEMM. The sampled path
//! (`directional_sampled`) uses, for every row, only the partners l in a random subset P
//! of K rows, scaled by n/K (Horvitz-Thompson: each l != k is in P with probability K/n),
//! which is an unbiased estimate of the value and of the gradient at O(n K d) cost.

use std::f64::consts::PI;

use crate::geometry::{
    angle_from_cosine, pairwise_cosines_lower, slice_volume, unit_directions, unit_row,
    UnitDirections,
};
use crate::linalg::{gemm, symmetrize_from_lower, Matrix, MatrixView, Op, Real};

use super::RegularizerKind;

/// Pairs with sin(theta) below this contribute no gradient (their direction of change
/// is undefined; for `discrepancy` the dropped term has norm at most 1/(pi n^2)).
pub const SIN_THRESHOLD: f64 = 1e-6;
/// `mhe` clamps pair distances below this (identical rows would have infinite energy).
pub const MIN_DISTANCE: f64 = 1e-3;

/// psi(c) and psi'(c) of one unordered pair of a pair-sum regulariser over `n` rows with
/// a direction; `None` for `mma` and weight decay, which are not pair sums.
fn pair_term(kind: RegularizerKind, n: usize, c: f64) -> Option<(f64, f64)> {
    let nf = n as f64;
    match kind {
        RegularizerKind::Discrepancy => {
            let (theta, sin) = angle_from_cosine(c);
            // (1/n^2) sum_{k,l} ((pi - theta)/(2 pi))^2: each unordered pair twice.
            let value = 2.0 * slice_volume(theta).powi(2) / (nf * nf);
            let derivative = if sin > SIN_THRESHOLD {
                (PI - theta) / (PI * PI * sin * nf * nf)
            } else {
                0.0
            };
            Some((value, derivative))
        }
        RegularizerKind::Mhe { power, angular } => {
            let pairs = (nf * (nf - 1.0)).max(1.0);
            let f = |z: f64| {
                if power == 0 {
                    -z.ln()
                } else {
                    z.powi(-(power as i32))
                }
            };
            let df = |z: f64| {
                if power == 0 {
                    -1.0 / z
                } else {
                    -(power as f64) * z.powi(-(power as i32) - 1)
                }
            };
            // z and dz/dc
            let (z, dz) = if angular {
                let (theta, sin) = angle_from_cosine(c);
                let dz = if sin > SIN_THRESHOLD {
                    -1.0 / (PI * sin)
                } else {
                    0.0
                };
                (theta / PI, dz)
            } else {
                let z = (2.0 - 2.0 * c.clamp(-1.0, 1.0)).max(0.0).sqrt();
                (z, if z > 0.0 { -1.0 / z } else { 0.0 })
            };
            let value = 2.0 * f(z.max(MIN_DISTANCE)) / pairs;
            let derivative = if z < MIN_DISTANCE {
                0.0
            } else {
                2.0 * df(z) * dz / pairs
            };
            Some((value, derivative))
        }
        RegularizerKind::Orthogonal => {
            let c = c.clamp(-1.0, 1.0);
            Some((2.0 * c * c, 4.0 * c))
        }
        RegularizerKind::Mma | RegularizerKind::WeightDecay => None,
    }
}

/// The part of a pair-sum regulariser that does not depend on the pairs: the n diagonal
/// terms 1/4 of `discrepancy`, divided by n^2.
fn constant_term(kind: RegularizerKind, n: usize) -> f64 {
    match kind {
        RegularizerKind::Discrepancy => 0.25 / n as f64,
        _ => 0.0,
    }
}

/// Whether `kind` has a pair term (what [`directional_sampled`] estimates): the registry's
/// [`super::registry::Family::pair_sum`] says the same (a test checks it).
#[cfg(test)]
pub(super) fn has_pair_term(kind: RegularizerKind) -> bool {
    pair_term(kind, 2, 0.0).is_some()
}

/// The value of `mma`, -(1/n) sum_k min_{l != k} theta_kl, and its S (lower triangle), from
/// the lower triangle of the cosines.
fn mma_terms(c: &Matrix<f64>, s: &mut Matrix<f64>) -> f64 {
    let n = c.rows();
    let nf = n as f64;
    // Nearest partner (largest cosine) of every row, over both triangles.
    let mut nearest: Vec<Option<(usize, f64)>> = vec![None; n];
    for k in 0..n {
        for (l, &ckl) in c.row(k)[..k].iter().enumerate() {
            for (a, b) in [(k, l), (l, k)] {
                if nearest[a].is_none_or(|(_, best)| ckl > best) {
                    nearest[a] = Some((b, ckl));
                }
            }
        }
    }
    let mut value = 0.0;
    for (k, near) in nearest.iter().enumerate() {
        let Some((l, ckl)) = *near else { continue };
        let (theta, sin) = angle_from_cosine(ckl);
        value -= theta / nf;
        if sin > SIN_THRESHOLD {
            // d(-theta/n)/dc = 1/(n sin theta), on the pair (k, l).
            s.row_mut(k.max(l))[k.min(l)] += 1.0 / (nf * sin);
        }
    }
    value
}

/// A directional regulariser's value, and `grad += scale * dR/dW`, exactly.
pub(super) fn directional<T: Real>(
    kind: RegularizerKind,
    w: &Matrix<T>,
    grad: Option<(&mut Matrix<T>, f64)>,
) -> f64 {
    let dirs = unit_directions(w);
    let n = dirs.kept.len();
    if n == 0 {
        return 0.0;
    }
    let c = pairwise_cosines_lower(&dirs.u).map(|v| v.to_f64());
    // S_kl = psi'(c_kl), lower triangle first.
    let mut s = Matrix::<f64>::zeros(n, n);
    let mut value = constant_term(kind, n);
    if kind == RegularizerKind::Mma {
        value += mma_terms(&c, &mut s);
    } else {
        // Row by row in parallel (the angles are the costly part); the row sums are added
        // in row order, so the value does not depend on the thread count.
        use rayon::prelude::*;
        let row_sums: Vec<f64> = s
            .as_mut_slice()
            .par_chunks_mut(n)
            .with_min_len(16)
            .enumerate()
            .map(|(k, sk)| {
                let mut sum = 0.0;
                for (sv, &ckl) in sk[..k].iter_mut().zip(&c.row(k)[..k]) {
                    let (v, d) = pair_term(kind, n, ckl).expect("a pair-sum regulariser");
                    sum += v;
                    *sv = d;
                }
                sum
            })
            .collect();
        value += row_sums.iter().sum::<f64>();
    }
    if let Some((g, scale)) = grad {
        // along_k = sum_l S_kl c_kl over both triangles.
        let mut along = vec![0.0; n];
        for k in 0..n {
            for (l, (&skl, &ckl)) in s.row(k)[..k].iter().zip(&c.row(k)[..k]).enumerate() {
                along[k] += skl * ckl;
                along[l] += skl * ckl;
            }
        }
        symmetrize_from_lower(&mut s);
        let s_t = s.map(|v| T::from_f64(*v));
        let mut su = Matrix::zeros(n, w.cols());
        gemm(
            &mut su,
            false,
            s_t.view(),
            Op::N,
            dirs.u.view(),
            Op::N,
            T::from_f64(1.0),
        );
        add_tangent_gradient(g, scale, &dirs, &su, &along);
    }
    value
}

/// `grad_k += scale / ||w_k|| (SU_k - along_k u_k)` for every kept row k.
fn add_tangent_gradient<T: Real>(
    g: &mut Matrix<T>,
    scale: f64,
    dirs: &UnitDirections<T>,
    su: &Matrix<T>,
    along: &[f64],
) {
    for (i, &k) in dirs.kept.iter().enumerate() {
        let factor = T::from_f64(scale / dirs.norms[i]);
        let along = T::from_f64(along[i]);
        for ((gv, sv), uv) in g.row_mut(k).iter_mut().zip(su.row(i)).zip(dirs.u.row(i)) {
            *gv += factor * (*sv - along * *uv);
        }
    }
}

/// The rows of W that have a direction, with their norms (see
/// [`crate::geometry::direction_norms`]).
pub(super) struct Directions {
    pub(super) kept: Vec<usize>,
    pub(super) norms: Vec<f64>,
    /// Row of W -> its index among the kept rows (`usize::MAX` for a row without one).
    kept_index: Vec<usize>,
}

impl Directions {
    /// From the norms of all `rows` rows of W.
    pub(super) fn new(norms: Vec<f64>) -> Self {
        let rows = norms.len();
        let (kept, norms, _) = crate::geometry::split_by_direction(norms);
        let mut kept_index = vec![usize::MAX; rows];
        for (i, &row) in kept.iter().enumerate() {
            kept_index[row] = i;
        }
        Self {
            kept,
            norms,
            kept_index,
        }
    }
}

/// Row norms ||w_k|| for which the sampled path works with w_k itself (c_kl = w_k . u_l /
/// ||w_k||, the tangent correction along_k w_k / ||w_k||^2): 1/||w_k||^2 then lies within
/// f32's normal range with eight orders of magnitude to spare. Rows outside it (tiny or
/// huge) take their unit rows, as the exact path does.
const ORDINARY_NORMS: std::ops::RangeInclusive<f64> = 1e-15..=1e15;

/// Rows of W per parallel task of [`directional_sampled`]: fixed, so that results do not
/// depend on the thread count.
const SAMPLED_ROWS_PER_TASK: usize = 64;

/// One step's draw for a sampled pair-sum term: the partners (distinct indices into the
/// kept rows, drawn uniformly without replacement) and their unit rows u_l. Row k of the
/// estimate sums psi'(c_kl) u_l over the partners l != k, times n/K, so that rows are
/// independent given the draw: any block of rows can be added on any thread, in any
/// order (the training step adds each chunk of rows just before it updates them).
pub(super) struct SampledTerm<T> {
    kind: RegularizerKind,
    partners: Vec<usize>,
    /// u_l of the partners, K x d.
    up: Matrix<T>,
}

impl<T: Real> SampledTerm<T> {
    pub(super) fn new(
        kind: RegularizerKind,
        w: &Matrix<T>,
        dirs: &Directions,
        partners: Vec<usize>,
    ) -> Self {
        let mut up = Matrix::zeros(partners.len(), w.cols());
        for (j, &p) in partners.iter().enumerate() {
            unit_row(up.row_mut(j), w.row(dirs.kept[p]), dirs.norms[p]);
        }
        Self { kind, partners, up }
    }

    /// n/K, the Horvitz-Thompson weight of each partner.
    fn weight(&self, dirs: &Directions) -> f64 {
        dirs.kept.len() as f64 / self.partners.len() as f64
    }

    /// Rows `r0..r0 + w_rows.rows()` of W (`w_rows`): the sum of psi(c_kl) over their
    /// partners (unweighted), and with `g` (those rows of the gradient, row-major),
    /// g_k += scale / ||w_k|| (SU_k - along_k w_k / ||w_k||), where SU_k = (n/K) sum_l
    /// psi'(c_kl) u_l and along_k = (n/K) sum_l psi'(c_kl) c_kl. Two GEMMs of rows x K x d
    /// (c_kl = w_k . u_l / ||w_k||), the second accumulating straight into `g`. A row whose
    /// norm is outside [`ORDINARY_NORMS`] (where 1/||w_k||^2 or w_k . u_l leave `T`'s range)
    /// takes u_k = w_k / ||w_k|| instead, as the exact path does: c_kl = u_k . u_l (in f64)
    /// and the correction along_k u_k, times scale / ||w_k||.
    pub(super) fn add_rows(
        &self,
        dirs: &Directions,
        w_rows: MatrixView<'_, T>,
        r0: usize,
        g: Option<(&mut [T], f64)>,
    ) -> f64 {
        let (rows, k_count, n) = (w_rows.rows(), self.partners.len(), dirs.kept.len());
        let weight = self.weight(dirs);
        let mut c = Matrix::zeros(rows, k_count);
        gemm(
            &mut c,
            false,
            w_rows,
            Op::N,
            self.up.view(),
            Op::T,
            T::from_f64(1.0),
        );
        // S_kl = (n/K) psi'(c_kl), times scale / ||w_k|| once along_k is summed; then
        // along_k scale / ||w_k||^2, the factor of w_k in the tangent correction.
        let scale = g.as_ref().map(|(_, scale)| *scale);
        let d = w_rows.cols();
        let mut s = Matrix::<T>::zeros(rows, k_count);
        let mut along = vec![T::from_f64(0.0); rows];
        // u_k of the rows outside ORDINARY_NORMS (rows x d, allocated at the first such row).
        let mut units: Vec<T> = Vec::new();
        let mut pair_sum = 0.0;
        for (r, along_r) in along.iter_mut().enumerate() {
            let i = dirs.kept_index[r0 + r];
            if i == usize::MAX {
                continue;
            }
            let ordinary = ORDINARY_NORMS.contains(&dirs.norms[i]);
            if !ordinary {
                units.resize(rows * d, T::from_f64(0.0));
                unit_row(&mut units[r * d..(r + 1) * d], w_rows.row(r), dirs.norms[i]);
            }
            let inverse_norm = 1.0 / dirs.norms[i];
            let (ci, si) = (c.row(r), s.row_mut(r));
            let mut along_sum = 0.0;
            for (j, ((sv, &cv), &p)) in si.iter_mut().zip(ci).zip(&self.partners).enumerate() {
                if p == i {
                    continue;
                }
                let cv = if ordinary {
                    cv.to_f64() * inverse_norm
                } else {
                    let (uk, ul) = (&units[r * d..(r + 1) * d], self.up.row(j));
                    uk.iter()
                        .zip(ul)
                        .map(|(a, b)| a.to_f64() * b.to_f64())
                        .sum()
                };
                let (v, dv) = pair_term(self.kind, n, cv).expect("a pair-sum regulariser");
                pair_sum += v;
                *sv = T::from_f64(weight * dv);
                along_sum += weight * dv * cv;
            }
            if let Some(scale) = scale {
                let factor = scale * inverse_norm;
                for sv in si.iter_mut() {
                    *sv *= T::from_f64(factor);
                }
                // The factor of w_k (one more 1/||w_k||), or of u_k.
                let of_row = if ordinary { inverse_norm } else { 1.0 };
                *along_r = T::from_f64(factor * along_sum * of_row);
            }
        }
        let Some((g, _)) = g else {
            return pair_sum;
        };
        crate::linalg::vectorized(|| {
            for (r, &along) in along.iter().enumerate() {
                let i = dirs.kept_index[r0 + r];
                if i == usize::MAX {
                    continue;
                }
                let row = match ORDINARY_NORMS.contains(&dirs.norms[i]) {
                    true => w_rows.row(r),
                    false => &units[r * d..(r + 1) * d],
                };
                for (gv, wv) in g[r * d..(r + 1) * d].iter_mut().zip(row) {
                    *gv -= along * *wv;
                }
            }
        });
        crate::linalg::gemm_into_rows(
            g,
            true,
            s.view(),
            Op::N,
            self.up.view(),
            Op::N,
            T::from_f64(1.0),
        );
        pair_sum
    }

    /// The estimate of R(W) from the pair sums of all rows.
    fn value(&self, dirs: &Directions, pair_sum: f64) -> f64 {
        // Each unordered pair appears from both ends in the full double sum.
        constant_term(self.kind, dirs.kept.len()) + 0.5 * self.weight(dirs) * pair_sum
    }
}

/// An unbiased estimate of a pair-sum regulariser's value, and `grad += scale * G` with
/// E[G] = dR/dW, from the partners `partners` (distinct indices into `dirs.kept`, drawn
/// uniformly without replacement; see [`SampledTerm`]). Costs two n x K x d GEMMs instead
/// of n x n x d, and no unit rows but the partners'. Blocks of rows run in parallel on the
/// crate's threads.
pub(super) fn directional_sampled<T: Real>(
    kind: RegularizerKind,
    w: &Matrix<T>,
    dirs: &Directions,
    partners: Vec<usize>,
    grad: Option<(&mut Matrix<T>, f64)>,
) -> f64 {
    directional_sampled_by_blocks(kind, w, dirs, partners, grad, SAMPLED_ROWS_PER_TASK)
}

fn directional_sampled_by_blocks<T: Real>(
    kind: RegularizerKind,
    w: &Matrix<T>,
    dirs: &Directions,
    partners: Vec<usize>,
    grad: Option<(&mut Matrix<T>, f64)>,
    rows_per_task: usize,
) -> f64 {
    use rayon::prelude::*;
    if dirs.kept.is_empty() || partners.is_empty() {
        return 0.0;
    }
    let term = SampledTerm::new(kind, w, dirs, partners);
    let block = |r0: usize, g: Option<(&mut [T], f64)>| -> f64 {
        let r1 = (r0 + rows_per_task).min(w.rows());
        term.add_rows(dirs, w.row_range(r0, r1), r0, g)
    };
    let sums: Vec<f64> = match grad {
        Some((g, scale)) => g
            .as_mut_slice()
            .par_chunks_mut(rows_per_task * w.cols().max(1))
            .with_max_len(1)
            .enumerate()
            .map(|(j, g)| block(j * rows_per_task, Some((g, scale))))
            .collect(),
        None => (0..w.rows().div_ceil(rows_per_task))
            .into_par_iter()
            .with_max_len(1)
            .map(|j| block(j * rows_per_task, None))
            .collect(),
    };
    term.value(dirs, sums.iter().sum::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{SeededRng, Stream};

    #[test]
    fn sampled_blocks_give_the_same_estimate_as_one_block() {
        // 50 rows (one without a direction) in blocks of 7 and in one block of 50.
        let (n, d) = (50, 9);
        let mut rng = SeededRng::new(4, Stream::Data);
        let mut w = Matrix::from_vec(n, d, (0..n * d).map(|_| rng.normal()).collect());
        w.row_mut(20).fill(0.0);
        let dirs = Directions::new(crate::geometry::all_row_norms(&w));
        assert_eq!(dirs.kept.len(), n - 1);
        let partners = [3, 17, 40, 8, 25];
        for kind in [
            RegularizerKind::Discrepancy,
            RegularizerKind::Orthogonal,
            RegularizerKind::Mhe {
                power: 2,
                angular: false,
            },
        ] {
            let run = |rows: usize| {
                let mut g = Matrix::from_vec(n, d, vec![0.5; n * d]);
                let v = directional_sampled_by_blocks(
                    kind,
                    &w,
                    &dirs,
                    partners.to_vec(),
                    Some((&mut g, 2.0)),
                    rows,
                );
                let v_only = directional_sampled_by_blocks::<f64>(
                    kind,
                    &w,
                    &dirs,
                    partners.to_vec(),
                    None,
                    rows,
                );
                assert_eq!(v, v_only);
                (v, g)
            };
            let ((v7, g7), (v50, g50)) = (run(7), run(50));
            assert!(
                (v7 - v50).abs() <= 1e-13 * v50.abs(),
                "{kind}: {v7} vs {v50}"
            );
            assert!(g7.as_slice()[20 * d..21 * d].iter().all(|&x| x == 0.5));
            for (a, b) in g7.as_slice().iter().zip(g50.as_slice()) {
                assert!(
                    (a - b).abs() <= 1e-13 * (1.0 + b.abs()),
                    "{kind}: {a} vs {b}"
                );
            }
        }
    }
}
