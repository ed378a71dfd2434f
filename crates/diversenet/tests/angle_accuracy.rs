//! Every angle of the crate against an exact reference: rows of small integers, whose
//! inner product x.y and squared cross norm |x|^2 |y|^2 - (x.y)^2 (Lagrange's identity)
//! are computed exactly in i128, so that theta = atan2(sqrt(cross), x.y) is correctly
//! rounded up to the two roundings of sqrt and atan2 (a few ulps). Near-parallel,
//! near-antipodal and identical rows are where an angle taken from a rounded Gram cosine
//! (arccos, or atan2 of sqrt((1 - c)(1 + c))) loses half its digits: about 1e-8 absolute,
//! for any angle below 1e-8. The accurate formula is off by a few ulps of pi.

use std::f64::consts::PI;

use diversenet::cancel::Cancel;
use diversenet::geometry::{pairwise_angles, unit_directions};
use diversenet::linalg::Matrix;
use diversenet::regularizer::{value_and_gradient, RegularizerKind};
use diversenet::theory::kernel::{kernel_gram, PairGeometry};

/// The exact angle between integer rows (to a few ulps), and x.y exactly.
fn reference(x: &[i64], y: &[i64]) -> (f64, i128) {
    let dot: i128 = x.iter().zip(y).map(|(a, b)| *a as i128 * *b as i128).sum();
    let nx: i128 = x.iter().map(|a| *a as i128 * *a as i128).sum();
    let ny: i128 = y.iter().map(|a| *a as i128 * *a as i128).sum();
    let cross = nx * ny - dot * dot;
    assert!(cross >= 0);
    ((cross as f64).sqrt().atan2(dot as f64), dot)
}

/// Pairs of integer rows: near-parallel (angles down to 1.5e-8), near-antipodal,
/// identical, opposite and ordinary.
fn rows() -> Vec<Vec<i64>> {
    let big = 1 << 26;
    vec![
        vec![big, 1, 0],
        vec![big, 0, 0],
        vec![-big, 0, 1],
        vec![1_000_003, 999_999, 1_000_001],
        vec![1_000_000, 1_000_000, 1_000_000],
        vec![3, 4, 12],
        vec![3, 4, 12],
        vec![-3, -4, -12],
        vec![1, 2, 3],
        vec![3, -1, 2],
        vec![1 << 20, 3, 1],
        vec![-(1 << 20), -1, -2],
    ]
}

fn matrix(rows: &[Vec<i64>]) -> Matrix<f64> {
    let d = rows[0].len();
    Matrix::from_vec(
        rows.len(),
        d,
        rows.iter().flatten().map(|&v| v as f64).collect(),
    )
}

/// A few ulps of pi, absolute: what an accurate angle may be off by.
const TOLERANCE: f64 = 8.0 * f64::EPSILON * PI;

#[test]
fn pairwise_angles_of_unit_rows_match_the_exact_reference() {
    let rows = rows();
    let dirs = unit_directions(&matrix(&rows));
    let angles = pairwise_angles(&dirs.u);
    let mut nearest_to_the_ends = f64::INFINITY;
    for (k, x) in rows.iter().enumerate() {
        for (l, y) in rows.iter().enumerate() {
            let (want, _) = reference(x, y);
            let got = angles.row(k)[l];
            nearest_to_the_ends = nearest_to_the_ends.min(want.min(PI - want).max(1e-300));
            assert!(
                (got - want).abs() <= TOLERANCE,
                "rows {k}, {l}: {got:e}, exact {want:e} (off by {:e})",
                (got - want).abs()
            );
        }
    }
    // The set reaches angles where a cosine's rounding would cost 1e-8.
    assert!(nearest_to_the_ends < 2e-8, "{nearest_to_the_ends:e}");
    // Identical and opposite rows: 0 and pi exactly.
    assert_eq!(angles.row(5)[6], 0.0);
    assert_eq!(angles.row(5)[7], PI);
}

#[test]
fn the_kernel_matches_the_exact_reference_and_its_diagonal_is_exact() {
    let rows = rows();
    let x = matrix(&rows);
    let k = kernel_gram(&PairGeometry::of(&x, Cancel::NEVER).unwrap());
    for (i, a) in rows.iter().enumerate() {
        for (j, b) in rows.iter().enumerate() {
            let (theta, dot) = reference(a, b);
            let want = dot as f64 * (PI - theta) / (2.0 * PI);
            let norms = (reference(a, a).1 as f64 * reference(b, b).1 as f64).sqrt();
            let got = k.row(i)[j];
            assert!(
                (got - want).abs() <= 4.0 * TOLERANCE * norms,
                "K[{i}][{j}] = {got:e}, exact {want:e}"
            );
        }
        // K_ii = ||x_i||^2 / 2, exactly for integer rows.
        assert_eq!(k.row(i)[i], reference(a, a).1 as f64 / 2.0, "K[{i}][{i}]");
    }
}

/// Rows off the unit sphere (standard normal, as in `dn.kernel_matrix(X)` for a 40 x 6 X):
/// the diagonal is ||x_i||^2 / 2 to the rounding of the sum of squares, not 6.7e-9 off.
#[test]
fn the_kernel_diagonal_off_the_sphere_is_half_the_squared_norm() {
    let mut rng = diversenet::rng::SeededRng::new(40, diversenet::rng::Stream::Sample);
    let x = Matrix::from_vec(40, 6, (0..240).map(|_| rng.normal()).collect());
    let geometry = PairGeometry::of(&x, Cancel::NEVER).unwrap();
    let k = kernel_gram(&geometry);
    for i in 0..40 {
        let squares: f64 = x.row(i).iter().map(|v| v * v).sum();
        assert_eq!(k.row(i)[i], geometry.inner.row(i)[i] * 0.5);
        assert!((k.row(i)[i] - squares / 2.0).abs() <= 4.0 * f64::EPSILON * squares);
    }
}

/// The diversity regulariser R(W) = 1/(4n) + sum_{k<l} 2 ((pi - theta_kl) / (2 pi))^2 / n^2
/// on near-parallel and near-antipodal units, against the exact angles.
#[test]
fn the_discrepancy_regulariser_uses_the_accurate_angles() {
    let rows: Vec<Vec<i64>> = rows().into_iter().take(5).collect();
    let n = rows.len() as f64;
    let mut want = 1.0 / (4.0 * n);
    for (k, x) in rows.iter().enumerate() {
        for y in &rows[..k] {
            let (theta, _) = reference(x, y);
            want += 2.0 * ((PI - theta) / (2.0 * PI)).powi(2) / (n * n);
        }
    }
    let got = value_and_gradient(RegularizerKind::Discrepancy, &matrix(&rows), None);
    assert!((got - want).abs() <= 4.0 * TOLERANCE, "{got:e} vs {want:e}");
}
