//! The Hadamard product of two Gram matrices, (H (x) 1_{c x c}) o (R R^T), built without
//! either Gram of the product: the extended feature matrix's D^T D (PAPER.md section 2) with
//! real coefficients, and every block of the empirical NTK of a ReLU MLP (`theory::ntk`).

use super::{
    as_one_part, gemm_into_rows, threads, vectorized, Cancel, Interrupted, Matrix, MatrixView, Op,
};

/// Rows of `dst` a task builds at a time in [`add_hadamard_gram_lower`].
const PANEL_ROWS: usize = 64;

/// `dst[a][b] += H[a / c][b / c] (r_a . r_b)` on the lower triangle (b <= a) of `dst`
/// (N x N, N = m c), for `h` m x m (lower triangle read) and `r` N x k: the Hadamard
/// product of a Gram with real coefficients and another Gram expanded over c x c blocks.
/// By panels of rows, each one rectangular product left of and on the diagonal, fused
/// with the product by H, on the crate's threads; `cancel` is asked between groups of
/// panels.
pub fn add_hadamard_gram_lower(
    dst: &mut Matrix<f64>,
    h: &Matrix<f64>,
    r: MatrixView<'_, f64>,
    c: usize,
    cancel: Cancel<'_>,
) -> Result<(), Interrupted> {
    use rayon::prelude::*;
    let n = r.rows();
    assert_eq!((dst.rows(), dst.cols()), (n, n), "dst is N x N");
    assert_eq!(h.rows() * c, n, "H is m x m with N = m c");
    let k = r.cols();
    let panel = |(p, rows): (usize, &mut [f64]), first_row: usize| {
        let first = first_row + p * PANEL_ROWS;
        let height = rows.len() / n.max(1);
        let width = first + height;
        let mut product = vec![0.0; height * width];
        let left = MatrixView::from_slice(height, k, &r.as_slice()[first * k..width * k]);
        let right = MatrixView::from_slice(width, k, &r.as_slice()[..width * k]);
        as_one_part(|| gemm_into_rows(&mut product, false, left, Op::N, right, Op::T, 1.0));
        vectorized(|| {
            for (s, (out, prod)) in rows.chunks_mut(n).zip(product.chunks(width)).enumerate() {
                let a = first + s;
                let h_row = h.row(a / c);
                for (block, (out, prod)) in out[..=a]
                    .chunks_mut(c)
                    .zip(prod[..=a].chunks(c))
                    .enumerate()
                {
                    let coefficient = h_row[block];
                    for (o, p) in out.iter_mut().zip(prod) {
                        *o += coefficient * p;
                    }
                }
            }
        });
    };
    let parallel = threads() > 1 && n * n * k > 1 << 22;
    let group = PANEL_ROWS * 4 * threads().max(1);
    for (g, rows) in dst.as_mut_slice().chunks_mut(group * n.max(1)).enumerate() {
        cancel.check()?;
        let first_row = g * group;
        if parallel {
            rows.par_chunks_mut(PANEL_ROWS * n)
                .enumerate()
                .for_each(|item| panel(item, first_row));
        } else {
            rows.chunks_mut(PANEL_ROWS * n)
                .enumerate()
                .for_each(|item| panel(item, first_row));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{gram, random_matrix};

    /// Against the definition entry by entry: sizes that cross the panels and the groups
    /// of panels, c = 1 and 3, in a pool of one thread and of two (the same bits: each entry is
    /// one product and one fused multiply-add, whoever computes it).
    #[test]
    fn the_hadamard_gram_matches_its_definition() {
        for (m, c, k) in [(1, 1, 3), (7, 3, 5), (150, 1, 40), (230, 3, 17)] {
            let h = gram(random_matrix(m, 6, m as u64).view());
            let r = random_matrix(m * c, k, 7 + m as u64);
            let mut results = Vec::new();
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut dst = Matrix::from_vec(m * c, m * c, vec![0.5; m * c * m * c]);
                pool.install(|| {
                    add_hadamard_gram_lower(&mut dst, &h, r.view(), c, Cancel::NEVER).unwrap();
                });
                results.push(dst);
            }
            assert_eq!(results[0], results[1]);
            let dst = &results[0];
            for a in 0..m * c {
                for b in 0..m * c {
                    let dot: f64 = r.row(a).iter().zip(r.row(b)).map(|(x, y)| x * y).sum();
                    let want = if b <= a {
                        0.5 + h.row(a / c)[b / c] * dot
                    } else {
                        0.5
                    };
                    let got = dst.row(a)[b];
                    assert!(
                        (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
                        "({a}, {b}): {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_interruption_stops_before_the_first_panel() {
        let h = Matrix::from_vec(2, 2, vec![1.0, 0.0, 0.0, 1.0]);
        let r = Matrix::from_vec(2, 1, vec![1.0, 2.0]);
        let mut dst = Matrix::zeros(2, 2);
        let result = add_hadamard_gram_lower(&mut dst, &h, r.view(), 1, Cancel::when(&|| true));
        assert_eq!(result, Err(Interrupted));
        assert_eq!(dst, Matrix::zeros(2, 2));
    }
}
