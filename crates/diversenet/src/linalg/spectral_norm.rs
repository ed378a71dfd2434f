//! The spectral norm ||M||_2 of a symmetric matrix (||E_W||_2 of PAPER.md section 3) by
//! block Krylov, with the dense eigensolver as the fallback and the reference in tests.

use super::krylov::{product, BlockKrylov, Wanted, BLOCK, EIGENVALUE_TOLERANCE};
use super::{faer_ref, symmetric_eigenvalues, Matrix};

/// Basis of the spectral-norm iteration (no restarts: it falls back to the dense solver).
const NORM_DIM: usize = 256;

/// ||M||_2 of a symmetric matrix: its eigenvalue of largest magnitude, in absolute value
/// (block Krylov; the dense eigensolver when that does not converge within its basis).
pub fn symmetric_spectral_norm(m: &Matrix<f64>) -> f64 {
    let n = m.rows();
    if n == 1 {
        return m.as_slice()[0].abs();
    }
    let a = faer_ref(m.view(), true);
    let mut krylov = BlockKrylov::new(n, BLOCK, NORM_DIM, Wanted::LargestMagnitude);
    let mut last = None;
    while krylov.dim() < NORM_DIM.min(n) {
        match krylov.step(&mut |x| product(a, x)) {
            Some(ritz) => {
                if ritz.error_estimate() <= EIGENVALUE_TOLERANCE * ritz.value.abs() {
                    return ritz.value.abs();
                }
                last = Some(ritz.value.abs());
            }
            None => {
                if let Some(v) = last {
                    return v;
                }
                break;
            }
        }
    }
    symmetric_eigenvalues(m)
        .map(|v| v.iter().fold(0.0f64, |a, x| a.max(x.abs())))
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{gram, random_matrix};

    #[test]
    fn the_norm_of_an_empty_matrix_is_zero() {
        assert_eq!(symmetric_spectral_norm(&Matrix::zeros(0, 0)), 0.0);
    }

    #[test]
    fn spectral_norm_matches_the_dense_solver() {
        for (m, k) in [(5, 8), (60, 70), (600, 650)] {
            let g = gram(random_matrix(m, k, m as u64).view());
            let full = symmetric_eigenvalues(&g).unwrap();
            // A shifted matrix is indefinite: its norm is the largest |eigenvalue|.
            let mut e = g.clone();
            for i in 0..m {
                e.row_mut(i)[i] -= 1.5 * full[m - 1];
            }
            let ef = symmetric_eigenvalues(&e).unwrap();
            let want = ef[0].abs().max(ef[m - 1].abs());
            assert!((symmetric_spectral_norm(&e) - want).abs() < 1e-8 * want);
        }
    }
}
