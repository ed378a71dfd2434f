//! A blocked Cholesky factorisation that leaves the strict upper triangle alone, so that a
//! symmetric matrix stored in full can be factorised in place and restored afterwards.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{
    cholesky_in_place, cholesky_in_place_scratch, LltRegularization,
};
use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat};

use super::{Cancel, Interrupted};

/// Right-looking blocked Cholesky A = L L^T that reads and writes only the lower triangle
/// of `a` (faer's own factorisation uses the strict upper triangle as workspace, where the
/// caller keeps the matrix): per panel of 256 columns (the fastest of 64 to 512 at
/// m = 2000 and 5000), faer's Cholesky of the diagonal block (on a copy), a triangular
/// solve for the panel below it and a lower-triangular rank-256 update of the rest (GEMM).
/// `false` at a non-positive pivot; asks `cancel` before each panel.
pub(super) fn cholesky_lower_in_place(
    mut a: faer::MatMut<'_, f64>,
    par: faer::Par,
    cancel: Cancel<'_>,
) -> Result<bool, Interrupted> {
    const PANEL: usize = 256;
    let n = a.nrows();
    let mut diagonal_block = Mat::<f64>::zeros(PANEL.min(n), PANEL.min(n));
    let mut scratch = MemBuffer::new(cholesky_in_place_scratch::<f64>(
        PANEL,
        faer::Par::Seq,
        Default::default(),
    ));
    let mut j = 0;
    while j < n {
        cancel.check()?;
        let b = PANEL.min(n - j);
        let mut l11 = diagonal_block.get_mut(..b, ..b);
        for c in 0..b {
            for r in c..b {
                l11[(r, c)] = a[(j + r, j + c)];
            }
        }
        let factored = cholesky_in_place(
            l11.rb_mut(),
            LltRegularization::default(),
            faer::Par::Seq,
            MemStack::new(&mut scratch),
            Default::default(),
        );
        if factored.is_err() {
            return Ok(false);
        }
        for c in 0..b {
            for r in c..b {
                a[(j + r, j + c)] = l11[(r, c)];
            }
        }
        if j + b < n {
            let (_, _, below, trailing) = a.rb_mut().split_at_mut(j + b, j + b);
            let mut panel = below.subcols_mut(j, b);
            // L21 = A21 L11^-T, i.e. L11 L21^T = A21^T.
            solve_lower_triangular_in_place(l11.rb(), panel.rb_mut().transpose_mut(), par);
            // A22 -= L21 L21^T on the lower triangle.
            faer::linalg::matmul::triangular::matmul(
                trailing,
                faer::linalg::matmul::triangular::BlockStructure::TriangularLower,
                Accum::Add,
                panel.rb(),
                faer::linalg::matmul::triangular::BlockStructure::Rectangular,
                panel.rb().transpose(),
                faer::linalg::matmul::triangular::BlockStructure::Rectangular,
                -1.0,
                par,
            );
        }
        j += b;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{faer_ref, gram, parallelism_for, random_matrix};

    #[test]
    fn blocked_cholesky_touches_only_the_lower_triangle() {
        // Sizes below, at and across the 256-column panel.
        for n in [1, 7, 256, 600] {
            let g = gram(random_matrix(n, n + 5, n as u64).view());
            let mut a = faer_ref(g.view(), true).to_owned();
            // Mark the strict upper triangle: it must come back unchanged.
            for j in 0..n {
                for i in 0..j {
                    a[(i, j)] = -7.0;
                }
            }
            assert_eq!(
                cholesky_lower_in_place(a.as_mut(), parallelism_for(0), Cancel::NEVER),
                Ok(true)
            );
            let l = Mat::<f64>::from_fn(n, n, |i, j| if i >= j { a[(i, j)] } else { 0.0 });
            let product = &l * l.transpose();
            for j in 0..n {
                for i in 0..n {
                    if i < j {
                        assert_eq!(a[(i, j)], -7.0);
                    }
                    let want = g.row(i)[j];
                    assert!((product[(i, j)] - want).abs() < 1e-10 * (1.0 + want.abs()));
                }
            }
        }
        // Not positive definite: a failure, not a panic.
        let mut indefinite = Mat::<f64>::from_fn(3, 3, |i, j| if i == j { 1.0 } else { 2.0 });
        assert_eq!(
            cholesky_lower_in_place(indefinite.as_mut(), parallelism_for(0), Cancel::NEVER),
            Ok(false)
        );
        // Asked before each panel of 256 columns: stopping at the third ask leaves two done.
        let g = gram(random_matrix(600, 700, 3).view());
        let mut a = faer_ref(g.view(), true).to_owned();
        let asks = std::cell::Cell::new(0);
        let third = || {
            asks.set(asks.get() + 1);
            asks.get() == 3
        };
        assert_eq!(
            cholesky_lower_in_place(a.as_mut(), parallelism_for(0), Cancel::when(&third)),
            Err(Interrupted)
        );
        assert_eq!(asks.get(), 3);
    }
}
