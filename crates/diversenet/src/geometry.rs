//! The geometry of directions on the sphere S^{d-1} (PAPER.md sections 3 and 4), in one
//! place for the regularisers, the discrepancy and the kernel:
//! - the unit rows u_k = w_k / ||w_k|| of W (rows without a direction left out and listed);
//! - the cosines c_kl = u_k . u_l of every pair (one triangle of the Gram product U U^T)
//!   and the angles theta_kl, every one of them by [`pair_angle`]: from the cosine where
//!   it is accurate, from the vectors (2 atan2(|u - v|, |u + v|)) where the cosine is
//!   within [`NEAR_PARALLEL`] of +/-1 and its rounding would cost digits;
//! - the volume (pi - theta)/(2 pi) of the slice {u : u.x >= 0, u.y >= 0} of two
//!   directions at angle theta;
//! - the slice constant c_d = E[theta^2] / (4 pi^2) of two independent uniform directions.
//!
//! It depends on `linalg` and `error` only, so that `model`, `regularizer` and `theory`
//! can all build on it.

use std::f64::consts::PI;

use crate::error::{Error, Result};
use crate::linalg::{gram_lower, symmetrize_from_lower, Matrix, Real};

/// The unit directions of the rows of W. Rows of norm 0 (no direction) or with a
/// non-finite norm are left out and listed in `skipped_rows`.
#[derive(Clone, Debug)]
pub struct UnitDirections<T = f64> {
    /// n' x d, one unit row u_k per kept row, in order (n' = `kept.len()`).
    pub u: Matrix<T>,
    /// The rows of W behind the rows of `u`.
    pub kept: Vec<usize>,
    /// ||w_k|| of the kept rows (accumulated in f64).
    pub norms: Vec<f64>,
    /// The rows of W without a direction.
    pub skipped_rows: Vec<usize>,
}

/// ||w_k|| of every row of `w` (squares summed in eight lanes of `T`, then in f64), with the
/// rows that have a direction (finite norm > 0) and those that do not.
pub fn direction_norms<T: Real>(w: &Matrix<T>) -> (Vec<usize>, Vec<f64>, Vec<usize>) {
    split_by_direction(all_row_norms(w))
}

/// max_i ||x_i||^2 over the rows of `x` (plain sums of squares: infinite when a row's
/// squares overflow, which is what the magnitude checks look for).
pub fn largest_row_norm_sq(x: &Matrix<f64>) -> f64 {
    (0..x.rows())
        .map(|i| x.row(i).iter().map(|v| v * v).sum::<f64>())
        .fold(0.0, f64::max)
}

/// max |x_ij| over the entries of `x` (0 for an empty matrix), for messages about values
/// too large.
pub fn largest_abs(x: &Matrix<f64>) -> f64 {
    x.as_slice().iter().fold(0.0f64, |a, v| a.max(v.abs()))
}

/// ||w_k|| of every row of `w`, on the crate's threads for large matrices (each row on its
/// own, 64 rows per task: the same norms on any number of threads).
pub fn all_row_norms<T: Real>(w: &Matrix<T>) -> Vec<f64> {
    use rayon::prelude::*;
    let (n, d) = (w.rows(), w.cols().max(1));
    if n * d >= 1 << 16 {
        w.as_slice()
            .par_chunks(64 * d)
            .flat_map_iter(|rows| row_norms(rows, d))
            .collect()
    } else {
        row_norms(w.as_slice(), d)
    }
}

/// ||w_k|| of each row of the row-major `rows` (`d` columns), on the calling thread, as
/// [`direction_norms`] computes them.
pub fn row_norms<T: Real>(rows: &[T], d: usize) -> Vec<f64> {
    crate::linalg::vectorized(|| rows.chunks_exact(d.max(1)).map(|r| row_norm(r)).collect())
}

/// The rows whose norm (in `norms`, one per row) gives a direction (finite and > 0), their
/// norms, and the other rows: [`direction_norms`] from norms already computed.
pub fn split_by_direction(norms: Vec<f64>) -> (Vec<usize>, Vec<f64>, Vec<usize>) {
    let n = norms.len();
    let (mut kept, mut kept_norms, mut skipped) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::new());
    for (k, norm) in norms.into_iter().enumerate() {
        if norm > 0.0 && norm.is_finite() {
            kept.push(k);
            kept_norms.push(norm);
        } else {
            skipped.push(k);
        }
    }
    (kept, kept_norms, skipped)
}

/// ||x||, squares summed in eight independent lanes of `T` (so that the loop vectorises),
/// the lanes in f64; rescaled first when the squares would overflow or underflow `T`.
#[inline(always)]
fn row_norm<T: Real>(x: &[T]) -> f64 {
    let mut lanes = [T::from_f64(0.0); 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l += *v * *v;
        }
    }
    let mut sum: f64 = lanes.iter().map(|v| v.to_f64()).sum();
    sum += tail.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>();
    let tiny = T::from_f64(f64::MIN_POSITIVE).to_f64();
    if sum.is_finite() && sum > tiny * 1e6 {
        sum.sqrt()
    } else {
        // Overflowed, or so small that the squares lost digits: in f64, scaled.
        scaled_norm(x)
    }
}

/// ||x|| in f64 without overflow or underflow of the squares for any finite x (as LAPACK's
/// dnrm2 does): the plain sum of squares where it stays in f64's normal range, otherwise the
/// squares of x / max|x_i|, times max|x_i|. Infinite for a row with an infinite entry, NaN
/// for one with a NaN.
pub fn scaled_norm<T: Real>(x: &[T]) -> f64 {
    let plain = crate::linalg::norm(x);
    if plain.is_finite() && plain >= 1e-150 || plain == 0.0 && x.iter().all(|v| v.to_f64() == 0.0) {
        return plain;
    }
    let mut scale = 0.0f64;
    for v in x {
        let a = v.to_f64().abs();
        if a.is_nan() {
            return f64::NAN;
        }
        scale = scale.max(a);
    }
    if scale == 0.0 || scale.is_infinite() {
        return scale;
    }
    let sum: f64 = x.iter().map(|v| (v.to_f64() / scale).powi(2)).sum();
    scale * sum.sqrt()
}

/// `unit = row / norm` (`norm` = ||row|| > 0, finite): times 1/norm in `T`, or divided in
/// f64 where 1/norm overflows `T` (norms below 1/MAX of `T`).
pub fn unit_row<T: Real>(unit: &mut [T], row: &[T], norm: f64) {
    let inverse = 1.0 / norm;
    if inverse.is_finite() && T::from_f64(inverse).to_f64().is_finite() {
        let inverse = T::from_f64(inverse);
        for (o, v) in unit.iter_mut().zip(row) {
            *o = *v * inverse;
        }
    } else {
        for (o, v) in unit.iter_mut().zip(row) {
            *o = T::from_f64(v.to_f64() / norm);
        }
    }
}

/// u_k = w_k / ||w_k|| for every row of `w` that has a direction.
pub fn unit_directions<T: Real>(w: &Matrix<T>) -> UnitDirections<T> {
    let d = w.cols();
    let (kept, norms, skipped_rows) = direction_norms(w);
    let mut data = vec![T::from_f64(0.0); kept.len() * d];
    for ((dst, &k), &norm) in data.chunks_exact_mut(d.max(1)).zip(&kept).zip(&norms) {
        unit_row(dst, w.row(k), norm);
    }
    UnitDirections {
        u: Matrix::from_vec(kept.len(), d, data),
        kept,
        norms,
        skipped_rows,
    }
}

/// How near +/-1 a Gram cosine may be before [`pair_angle`] recomputes the angle from the
/// vectors. A cosine c carries a rounding error e of a few ulps; the angle from it moves by
/// e / sin(theta), at most e / sqrt(2 * NEAR_PARALLEL) (22 e) where |c| <= 1 -
/// NEAR_PARALLEL, but by up to sqrt(2 e) (about 1e-8, whatever the angle) nearer +/-1:
/// there, and on the diagonal, the vectors give it to a few ulps.
pub const NEAR_PARALLEL: f64 = 1e-3;

/// The angle theta in [0, pi] between unit vectors u and v, and sin(theta), from the vectors:
/// theta = 2 atan2(|u - v|, |u + v|) (Kahan), accurate to a few ulps of pi for every angle
/// (0 exactly for u = v, pi exactly for u = -v), in f64 whatever `T`.
pub fn angle_between_units<T: Real>(u: &[T], v: &[T]) -> (f64, f64) {
    let (mut diff, mut sum) = (0.0f64, 0.0f64);
    for (a, b) in u.iter().zip(v) {
        let (a, b) = (a.to_f64(), b.to_f64());
        diff += (a - b) * (a - b);
        sum += (a + b) * (a + b);
    }
    let (d, s) = (diff.sqrt(), sum.sqrt());
    let theta = 2.0 * d.atan2(s);
    // sin(2 phi) = 2 sin(phi) cos(phi), with tan(phi) = d / s.
    let sin = if diff + sum > 0.0 {
        2.0 * d * s / (diff + sum)
    } else {
        0.0
    };
    (theta, sin)
}

/// The angle theta in [0, pi] between unit rows u and v whose Gram cosine is `c`, and
/// sin(theta): from `c` (atan2(sqrt((1 - c)(1 + c)), c), exact given c) where |c| <= 1 -
/// [`NEAR_PARALLEL`], else from the vectors ([`angle_between_units`]). Every angle of the
/// crate (regularisers, discrepancies, kernel) goes through here, so that the fast Gram
/// path serves the pairs it is accurate for.
#[inline]
pub fn pair_angle<T: Real>(c: f64, u: &[T], v: &[T]) -> (f64, f64) {
    if c.abs() <= 1.0 - NEAR_PARALLEL {
        let sin = ((1.0 - c) * (1.0 + c)).sqrt();
        (sin.atan2(c), sin)
    } else {
        angle_between_units(u, v)
    }
}

/// The measure (pi - theta)/(2 pi) of the slice {u : u.x >= 0, u.y >= 0} for two
/// directions x, y at angle theta (1/2 for theta = 0, 0 for theta = pi).
#[inline]
pub fn slice_volume(theta: f64) -> f64 {
    (PI - theta) / (2.0 * PI)
}

/// The lower triangle (diagonal included) of the cosines c_kl = u_k . u_l of unit rows,
/// by one triangular GEMM (half the products of U U^T); the strict upper triangle is 0.
pub fn pairwise_cosines_lower<T: Real>(u: &Matrix<T>) -> Matrix<T> {
    gram_lower(u.view())
}

/// theta_kl between every pair of unit rows (both triangles, [`pair_angle`]), theta_kk = 0
/// exactly.
pub fn pairwise_angles(u: &Matrix<f64>) -> Matrix<f64> {
    let mut c = pairwise_cosines_lower(u);
    let n = c.rows();
    for k in 0..n {
        let row = c.row_mut(k);
        for (l, v) in row[..k].iter_mut().enumerate() {
            *v = pair_angle(*v, u.row(k), u.row(l)).0;
        }
        row[k] = 0.0;
    }
    symmetrize_from_lower(&mut c);
    c
}

/// The closed form of the squared L2 slice discrepancy of n directions (PAPER.md section 4)
/// from their pairwise angles: L2(W)^2 = (1/n^2) sum_{k,l} ((pi - theta_kl)/(2 pi))^2 - c_d
/// (k = l included), with `c_d` the [`slice_constant`] of their dimension.
pub fn l2_slice_discrepancy_from_angles(angles: &Matrix<f64>, c_d: f64) -> f64 {
    let n = angles.rows() as f64;
    let slice: f64 = angles
        .as_slice()
        .iter()
        .map(|&t| slice_volume(t).powi(2))
        .sum();
    slice / (n * n) - c_d
}

/// L2(W)^2 of the directions of W's rows (the diversity measure that training runs report
/// each epoch; `theory::discrepancy` gives it beside the other discrepancies); `None` where
/// it is undefined: no row with a direction, or d < 2.
pub fn l2_slice_discrepancy_sq<T: Real>(w: &Matrix<T>) -> Option<f64> {
    let c_d = slice_constant(w.cols()).ok()?;
    let dirs = unit_directions(&w.map(|v| v.to_f64()));
    (dirs.u.rows() > 0).then(|| l2_slice_discrepancy_from_angles(&pairwise_angles(&dirs.u), c_d))
}

/// c_d = E[theta^2] / (4 pi^2) for the angle theta between two independent uniform points of
/// S^{d-1} (density proportional to sin(theta)^(d-2) on [0, pi]), by composite Simpson
/// quadrature. c_2 = 1/12, c_3 = (pi^2 - 4)/(8 pi^2); c_d -> 1/16.
pub fn slice_constant(d: usize) -> Result<f64> {
    Ok(angle_second_moment(d)? / (4.0 * PI * PI))
}

/// Largest dimension d for which the sphere's constants ([`slice_constant`], the kernel
/// spectrum) are validated: the spectrum's log-gamma differences lose about eps d ln(d) in
/// relative accuracy (3e-9 at 10^6, near the 1e-6 trust level by 10^8), and the quadrature
/// of [`angle_second_moment`] resolves the angle's peak of width 1/sqrt(d) at pi/2 with
/// about 60 nodes per width at 10^6.
pub const MAX_SPHERE_DIM: usize = 1_000_000;

/// d within 2..=[`MAX_SPHERE_DIM`], else an error naming `dim`.
pub fn check_sphere_dim(d: usize) -> Result<()> {
    if d < 2 {
        return Err(Error::config(
            "dim",
            format!(
                "d = {d}: the sphere S^{{d-1}} has no continuum of directions; the theory needs \
                 d >= 2"
            ),
        ));
    }
    if d > MAX_SPHERE_DIM {
        return Err(Error::config(
            "dim",
            format!(
                "d = {d} is above {MAX_SPHERE_DIM}, the largest dimension the sphere's constants \
                 are validated for (their log-gamma differences and angle quadrature lose \
                 accuracy as d grows)"
            ),
        ));
    }
    Ok(())
}

/// E[theta^2] for the angle between two uniform points of S^{d-1}, 2 <= d <= [`MAX_SPHERE_DIM`].
pub fn angle_second_moment(d: usize) -> Result<f64> {
    check_sphere_dim(d)?;
    let intervals = 200_000usize; // even
    let h = PI / intervals as f64;
    let (mut mass, mut moment) = (0.0, 0.0);
    for i in 0..=intervals {
        let t = i as f64 * h;
        let weight = if i == 0 || i == intervals {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        let density = if d == 2 {
            1.0
        } else {
            t.sin().powi(d as i32 - 2)
        };
        mass += weight * density;
        moment += weight * density * t * t;
    }
    Ok(moment / mass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_constants_match_the_paper() {
        let cases = [
            (2, 1.0 / 12.0),
            (3, (PI * PI - 4.0) / (8.0 * PI * PI)),
            (5, 0.068710),
            (10, 0.065303),
            (784, 0.062532),
        ];
        for (d, want) in cases {
            let got = slice_constant(d).unwrap();
            assert!((got - want).abs() < 6e-7, "c_{d} = {got}, paper {want}");
        }
        assert!(slice_constant(1).is_err());
    }

    #[test]
    fn identical_and_opposite_rows_have_exact_angles() {
        let u = [0.6, 0.8, 0.0];
        let minus: Vec<f64> = u.iter().map(|v| -v).collect();
        // A Gram cosine of the pair a rounding away from +/-1 on either side.
        for c in [1.0, 1.0 - 1e-16, 1.0 + 2e-16] {
            assert_eq!(pair_angle(c, &u, &u), (0.0, 0.0));
            assert_eq!(pair_angle(-c, &u, &minus).0, PI);
        }
        assert_eq!(slice_volume(0.0), 0.5);
        assert!((slice_volume(pair_angle(0.0, &[1.0, 0.0], &[0.0, 1.0]).0) - 0.25).abs() < 1e-16);
    }

    #[test]
    fn unit_directions_and_angles_of_a_small_set() {
        let w = Matrix::from_vec(4, 2, vec![2.0, 0.0, 0.0, 0.0, 0.0, -3.0, -1.0, 1.0]);
        let dirs = unit_directions(&w);
        assert_eq!(
            (dirs.kept.clone(), dirs.skipped_rows.clone()),
            (vec![0, 2, 3], vec![1])
        );
        assert_eq!(dirs.norms[..2], [2.0, 3.0]);
        let a = pairwise_angles(&dirs.u);
        let want = [
            [0.0, PI / 2.0, 3.0 * PI / 4.0],
            [PI / 2.0, 0.0, 3.0 * PI / 4.0],
            [3.0 * PI / 4.0, 3.0 * PI / 4.0, 0.0],
        ];
        for (k, want_row) in want.iter().enumerate() {
            for (l, w) in want_row.iter().enumerate() {
                assert!((a.row(k)[l] - w).abs() < 1e-15, "{k} {l}");
            }
        }
        // Non-finite rows have no direction either.
        let w = Matrix::from_vec(2, 1, vec![f32::INFINITY, 1.0]);
        assert_eq!(unit_directions(&w).skipped_rows, vec![0]);
    }
}
