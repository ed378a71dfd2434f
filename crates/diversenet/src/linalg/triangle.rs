//! Symmetric matrices by their lower triangle: the Gram `a a^T` computed one triangle at a
//! time, and the mirror that copies a lower triangle onto the upper one.

use faer::linalg::matmul::triangular::{matmul as triangular_matmul, BlockStructure};
use faer::{Accum, MatMut, Par};
use rayon::prelude::*;

use super::{faer_ref, may_split, parallelism_for, Matrix, MatrixView, Real};

/// The lower triangle (diagonal included) of `a a^T` by GEMM; the strict upper triangle is
/// left at 0, for callers that combine lower triangles before mirroring once.
///
/// On several threads the rows are cut into `2 * threads` panels of equal triangle area
/// (panel p ends at row r sqrt(p / panels)), and each panel is one single-threaded
/// rectangular GEMM left of its diagonal block and one triangular GEMM on it: faster than
/// faer's own parallel triangular product on the Gram of `diversenet bench theory
/// --points 2000` (its "build D^T D" time; bench/HISTORY.md). The panels' products run the
/// same faer kernels:
/// on every size tried (64 to 3001 rows, 10 to 5000 columns, 2 to 9 panels) the result had
/// the bits of one triangular product (the tests check some), so the thread count did not
/// change it; faer does not promise this for every size.
pub fn gram_lower<T: Real>(a: MatrixView<'_, T>) -> Matrix<T> {
    let panels = match parallelism_for(a.rows * a.rows * a.cols / 2) {
        Par::Seq => 1,
        Par::Rayon(threads) => 2 * threads.get(),
    };
    gram_lower_in_panels(a, panels)
}

/// [`gram_lower`] with `panels` panels, in parallel when there are several; at most one
/// panel per 32 rows, so that the smallest (about r / (2 panels) rows) stays above 16.
fn gram_lower_in_panels<T: Real>(a: MatrixView<'_, T>, panels: usize) -> Matrix<T> {
    let r = a.rows;
    let panels = panels.clamp(1, (r / 32).max(1));
    let mut dst = Matrix::zeros(r, r);
    let whole = faer_ref(a, false);
    let mut bounds: Vec<usize> = (0..=panels)
        .map(|p| ((r as f64) * (p as f64 / panels as f64).sqrt()).round() as usize)
        .collect();
    bounds[panels] = r;
    let mut tasks = Vec::with_capacity(panels);
    let mut rest = dst.data.as_mut_slice();
    for p in 0..panels {
        let (panel, tail) = rest.split_at_mut((bounds[p + 1] - bounds[p]) * r);
        tasks.push((bounds[p], panel));
        rest = tail;
    }
    let one_panel = |(first, rows): (usize, &mut [T])| {
        let height = rows.len() / r.max(1);
        let out = MatMut::from_row_major_slice_mut(rows, height, r);
        let (left, right) = out.split_at_col_mut(first);
        let panel = whole.subrows(first, height);
        if first > 0 {
            faer::linalg::matmul::matmul(
                left,
                Accum::Replace,
                panel,
                whole.subrows(0, first).transpose(),
                T::from_f64(1.0),
                Par::Seq,
            );
        }
        triangular_matmul(
            right.subcols_mut(0, height),
            BlockStructure::TriangularLower,
            Accum::Replace,
            panel,
            BlockStructure::Rectangular,
            panel.transpose(),
            BlockStructure::Rectangular,
            T::from_f64(1.0),
            Par::Seq,
        );
    };
    if panels == 1 {
        tasks.into_iter().for_each(one_panel);
    } else {
        tasks.into_par_iter().for_each(one_panel);
    }
    dst
}

/// Copies the lower triangle of a square matrix onto its upper triangle, in 32 x 32 tiles
/// (each tile's source rows stay in cache while its destination rows are written in
/// order), split by tile rows over the crate's threads from n = 512.
///
/// # Panics
/// If the matrix is not square.
pub fn symmetrize_from_lower<T: Copy + Send + Sync>(m: &mut Matrix<T>) {
    const TILE: usize = 32;
    let n = m.rows;
    assert_eq!(
        m.cols, n,
        "symmetrize_from_lower: the matrix must be square"
    );
    let data = SharedRows(m.data.as_mut_ptr());
    let tile_row = |t: usize| {
        let data = &data;
        let (j0, j1) = (t * TILE, ((t + 1) * TILE).min(n));
        for i0 in (j0..n).step_by(TILE) {
            for j in j0..j1 {
                for i in i0.max(j + 1)..(i0 + TILE).min(n) {
                    // SAFETY: i, j < n, so both offsets are inside the n x n data (asserted square). This task
                    // writes only the strict upper triangle of its own rows j0..j1 (i > j),
                    // and every task reads only the strict lower triangle (entry (i, j),
                    // i > j), which no task writes: no entry is written twice or read while
                    // written.
                    unsafe { *data.0.add(j * n + i) = *data.0.add(i * n + j) };
                }
            }
        }
    };
    let tiles = n.div_ceil(TILE);
    // Parallel from n = 512 (a millisecond of copying).
    if n >= 512 && may_split() {
        (0..tiles).into_par_iter().for_each(tile_row);
    } else {
        (0..tiles).for_each(tile_row);
    }
}

/// The data of the matrix [`symmetrize_from_lower`] mirrors, shared by its tasks.
struct SharedRows<T>(*mut T);
// SAFETY: the tasks write disjoint entries and read entries no task writes (see the
// mirror's loop), and `T: Send + Sync`.
unsafe impl<T: Send + Sync> Sync for SharedRows<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{as_one_part, random_matrix};

    #[test]
    fn panels_give_the_bits_of_one_triangular_product() {
        for (m, k) in [(1, 3), (7, 5), (64, 33), (130, 70), (301, 17)] {
            let a = random_matrix(m, k, (m * k) as u64);
            let whole = gram_lower_in_panels(a.view(), 1);
            for i in 0..m {
                for j in 0..m {
                    let got = whole.row(i)[j];
                    if j > i {
                        assert_eq!(got, 0.0, "upper entry ({i}, {j})");
                    } else {
                        let dot: f64 = a.row(i).iter().zip(a.row(j)).map(|(x, y)| x * y).sum();
                        assert!(
                            (got - dot).abs() <= 1e-12 * k as f64,
                            "({i}, {j}): {got} vs {dot}"
                        );
                    }
                }
            }
            for panels in [2, 3, 4, 7, 1000] {
                let split = gram_lower_in_panels(a.view(), panels);
                let same = split
                    .as_slice()
                    .iter()
                    .zip(whole.as_slice())
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "m = {m}, k = {k}, {panels} panels");
            }
        }
    }

    #[test]
    #[should_panic(expected = "must be square")]
    fn the_mirror_refuses_a_matrix_that_is_not_square() {
        symmetrize_from_lower(&mut Matrix::<f64>::zeros(3, 2));
    }

    #[test]
    fn the_mirror_copies_the_lower_triangle_on_one_thread_or_several() {
        for n in [0, 1, 33, 520, 700] {
            let original = random_matrix(n, n, n as u64);
            let mut parallel = original.clone();
            symmetrize_from_lower(&mut parallel);
            let mut serial = original.clone();
            as_one_part(|| symmetrize_from_lower(&mut serial));
            assert_eq!(parallel, serial, "n = {n}");
            for i in 0..n {
                for j in 0..n {
                    let expect = original.row(i.max(j))[i.min(j)];
                    assert_eq!(parallel.row(i)[j], expect, "n = {n}, ({i}, {j})");
                }
            }
        }
    }
}
