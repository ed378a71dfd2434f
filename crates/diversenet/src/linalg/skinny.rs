//! Products and triangular solves of a large square matrix with a skinny block of vectors
//! (n x r, r = the block Krylov width): the inner loops of the extremal eigensolver
//! ([`super::extremal`]), where faer's general kernels, built for fat operands, left much
//! of the machine unused (the survey's products and the shift-and-invert solves, which
//! `diversenet bench theory --points 2000` times; bench/HISTORY.md has the comparison
//! with faer's kernels).
//!
//! The vectors are regrouped row-major in groups of [`LANES`] (padded with zeros; a solve
//! for at most four vectors uses groups of four), so that a matrix entry meets a whole
//! group in one or two AVX2 registers, and the matrix is read as
//! contiguous rows, four at a time: a product reads each row once for all groups and
//! splits the rows between threads; a solve runs each group on a thread of its own. Every
//! entry's arithmetic is fixed by n and r alone (sums in index order, one fused
//! multiply-add per term), so results do not depend on the thread count. (On a processor
//! without FMA the fused multiply-adds are computed in software: the same results, several
//! times slower.)

use faer::{Mat, MatRef};
use rayon::prelude::*;

/// Vectors per group: two AVX2 registers of f64.
const LANES: usize = 8;
type Lanes = [f64; LANES];
/// Vectors per group of a solve for at most this many vectors: one AVX2 register, so that
/// a block of four (the shift-and-invert pass of `extremal`) does not carry four lanes of
/// zeros through every multiply-add (faster than groups of eight, with the same bits;
/// `diversenet bench theory --points 2000` times the pass of solves).
const NARROW_LANES: usize = 4;
/// Rows of the matrix per parallel task of a product.
const ROWS_PER_TASK: usize = 64;

/// The columns of `x` (n x r) as row-major groups of `W` vectors, the last padded with
/// zeros.
fn to_groups<const W: usize>(x: MatRef<'_, f64>) -> Vec<Vec<[f64; W]>> {
    (0..x.ncols().div_ceil(W))
        .map(|g| {
            (0..x.nrows())
                .map(|i| {
                    let mut row = [0.0; W];
                    for (l, v) in row.iter_mut().enumerate() {
                        let j = g * W + l;
                        if j < x.ncols() {
                            *v = x[(i, j)];
                        }
                    }
                    row
                })
                .collect()
        })
        .collect()
}

/// The n x r matrix whose columns are held in `groups` (inverse of [`to_groups`]).
fn from_groups<const W: usize>(groups: &[Vec<[f64; W]>], n: usize, r: usize) -> Mat<f64> {
    Mat::from_fn(n, r, |i, j| groups[j / W][i][j % W])
}

/// sum_j a_k\[j\] x\[j\] for four rows a_k of the same length (j in order).
#[inline(always)]
fn dot4<const W: usize>(a: [&[f64]; 4], x: &[[f64; W]]) -> [[f64; W]; 4] {
    let mut acc = [[0.0; W]; 4];
    let len = x.len();
    let a = a.map(|row| &row[..len]);
    for (j, xj) in x.iter().enumerate() {
        for (acc, row) in acc.iter_mut().zip(a) {
            let ajk = row[j];
            for (s, v) in acc.iter_mut().zip(xj) {
                *s = ajk.mul_add(*v, *s);
            }
        }
    }
    acc
}

/// sum_j a\[j\] x\[j\] for one row (j in order).
#[inline(always)]
fn dot1<const W: usize>(a: &[f64], x: &[[f64; W]]) -> [f64; W] {
    let mut acc = [0.0; W];
    for (&aj, xj) in a.iter().zip(x) {
        for (s, v) in acc.iter_mut().zip(xj) {
            *s = aj.mul_add(*v, *s);
        }
    }
    acc
}

/// M X for a symmetric M (both triangles stored, row-major n x n in `m`; being symmetric,
/// it is also its own column-major form) and X (n x r). Each row of M is read once, for
/// all groups of vectors.
pub(super) fn symmetric_product(m: &[f64], n: usize, x: MatRef<'_, f64>) -> Mat<f64> {
    assert_eq!(m.len(), n * n, "symmetric_product: matrix storage");
    assert_eq!(x.nrows(), n, "symmetric_product: rows of X");
    if n == 0 || x.ncols() == 0 {
        return Mat::zeros(n, x.ncols());
    }
    let groups = to_groups(x);
    // Row i of group g of M X at i * groups + g.
    let mut out = vec![[0.0; LANES]; n * groups.len()];
    out.par_chunks_mut(ROWS_PER_TASK * groups.len())
        .enumerate()
        .for_each(|(task, y)| {
            let first = task * ROWS_PER_TASK;
            let x = &groups;
            pulp::Arch::new().dispatch(ProductRows { m, n, first, x, y });
        });
    let g = groups.len();
    Mat::from_fn(n, x.ncols(), |i, j| out[i * g + j / LANES][j % LANES])
}

/// Rows `first..` of M X for every group of vectors in `x`, into `y` (row by row, the
/// groups of a row together). A `pulp` kernel: its loops inlined into code compiled for
/// the processor's instruction set.
struct ProductRows<'a> {
    m: &'a [f64],
    n: usize,
    first: usize,
    x: &'a [Vec<Lanes>],
    y: &'a mut [Lanes],
}

impl pulp::WithSimd for ProductRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self { m, n, first, x, y } = self;
        let g = x.len();
        let row = |i: usize| &m[i * n..(i + 1) * n];
        let rows = y.len() / g;
        let quads = rows / 4;
        for q in 0..quads {
            let i = first + 4 * q;
            let a = [row(i), row(i + 1), row(i + 2), row(i + 3)];
            for (group, xg) in x.iter().enumerate() {
                let sums = dot4(a, xg);
                for (k, s) in sums.into_iter().enumerate() {
                    y[(4 * q + k) * g + group] = s;
                }
            }
        }
        for k in 4 * quads..rows {
            for (group, xg) in x.iter().enumerate() {
                y[k * g + group] = dot1(row(first + k), xg);
            }
        }
    }
}

/// y <- U^-1 U^-T y for one group of vectors (see [`cholesky_solve`]); a `pulp` kernel.
struct CholeskySolve<'a, const W: usize> {
    u: &'a [f64],
    n: usize,
    y: &'a mut [[f64; W]],
    /// Whether the processor has AVX2 and FMA (see [`subtract4`]).
    avx2_fma: bool,
}

impl<const W: usize> pulp::WithSimd for CholeskySolve<'_, W> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        solve_transposed_in_place(self.u, self.n, self.y, self.avx2_fma);
        solve_in_place(self.u, self.n, self.y);
    }
}

/// (U^T U)^-1 X, where U (upper triangular, n x n) is held in the upper triangle and
/// diagonal of the row-major `u` (row i of U: `u[i * n + i..(i + 1) * n]`; the strict lower
/// triangle is not read): the Cholesky solve with M = L L^T, L = U^T, from the factor that
/// [`super::cholesky::cholesky_lower_in_place`] leaves column-major. The groups of vectors
/// are solved on the crate's threads.
pub(super) fn cholesky_solve(u: &[f64], n: usize, x: MatRef<'_, f64>) -> Mat<f64> {
    assert_eq!(u.len(), n * n, "cholesky_solve: factor storage");
    assert_eq!(x.nrows(), n, "cholesky_solve: rows of X");
    if n == 0 || x.ncols() == 0 {
        return Mat::zeros(n, x.ncols());
    }
    if x.ncols() <= NARROW_LANES {
        solve_in_groups::<NARROW_LANES>(u, n, x)
    } else {
        solve_in_groups::<LANES>(u, n, x)
    }
}

/// [`cholesky_solve`] in groups of `W` vectors.
fn solve_in_groups<const W: usize>(u: &[f64], n: usize, x: MatRef<'_, f64>) -> Mat<f64> {
    let avx2_fma = has_avx2_fma();
    let mut groups = to_groups::<W>(x);
    groups
        .par_iter_mut()
        .for_each(|y| pulp::Arch::new().dispatch(CholeskySolve { u, n, y, avx2_fma }));
    from_groups(&groups, n, x.ncols())
}

/// U_ii, U_ij (j > i) of the row-major upper triangle.
#[inline(always)]
fn upper_row(u: &[f64], n: usize, i: usize) -> &[f64] {
    &u[i * n + i..(i + 1) * n]
}

/// y <- U^-T y (forward substitution with L = U^T), by rows of U: once y_j is final, row j
/// of U subtracts U_ji y_j from every later y_i, four rows j at a time.
#[inline(always)]
fn solve_transposed_in_place<const W: usize>(
    u: &[f64],
    n: usize,
    y: &mut [[f64; W]],
    avx2_fma: bool,
) {
    let mut j = 0;
    while j < n {
        let rows = (n - j).min(4);
        // The block's own triangle: y_j..y_(j+rows) final.
        for a in j..j + rows {
            let ua = upper_row(u, n, a);
            let inverse = 1.0 / ua[0];
            for v in y[a].iter_mut() {
                *v *= inverse;
            }
            let ya = y[a];
            for b in a + 1..j + rows {
                let uab = ua[b - a];
                for (t, v) in y[b].iter_mut().zip(&ya) {
                    *t = (-uab).mul_add(*v, *t);
                }
            }
        }
        let tail = j + rows;
        // Fewer than four rows only at the end, where nothing follows.
        if tail < n {
            let (head, later) = y.split_at_mut(tail);
            let u4 = [j, j + 1, j + 2, j + 3].map(|a| &upper_row(u, n, a)[tail - a..]);
            let y4 = [head[j], head[j + 1], head[j + 2], head[j + 3]];
            subtract4(later, u4, &y4, avx2_fma);
        }
        j = tail;
    }
}

/// y_k -= sum_r u_r\[k\] y4_r for every k (r = 0..4, in order, each a fused multiply-add
/// per lane). Written out with AVX2/FMA where the processor has them: left to itself, the
/// compiler vectorised this loop across k, with shuffles, at a third of the speed. The two
/// forms give the same bits. `avx2_fma`: what [`has_avx2_fma`] says.
#[inline(always)]
fn subtract4<const W: usize>(
    y: &mut [[f64; W]],
    u4: [&[f64]; 4],
    y4: &[[f64; W]; 4],
    avx2_fma: bool,
) {
    let len = y.len();
    let u4 = u4.map(|ur| &ur[..len]);
    #[cfg(target_arch = "x86_64")]
    if avx2_fma {
        // SAFETY: the processor has AVX2 and FMA (the caller asked `has_avx2_fma`).
        unsafe { subtract4_avx2(y, u4, y4) };
        return;
    }
    let _ = avx2_fma;
    subtract4_portable(y, u4, y4);
}

/// Whether this processor has AVX2 and FMA (asked once per solve, not per row block).
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`subtract4`] as plain loops.
#[inline(always)]
fn subtract4_portable<const W: usize>(y: &mut [[f64; W]], u4: [&[f64]; 4], y4: &[[f64; W]; 4]) {
    for (k, yk) in y.iter_mut().enumerate() {
        for (ur, yr) in u4.iter().zip(y4) {
            let urk = ur[k];
            for (t, v) in yk.iter_mut().zip(yr) {
                *t = (-urk).mul_add(*v, *t);
            }
        }
    }
}

/// [`subtract4`] in AVX2/FMA: each y_k in W / 4 registers (one or two), y4 in W.
///
/// # Safety
/// The processor must support AVX2 and FMA. Every `u4[r]` must be at least as long as `y`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn subtract4_avx2<const W: usize>(y: &mut [[f64; W]], u4: [&[f64]; 4], y4: &[[f64; W]; 4]) {
    use std::arch::x86_64::*;
    const { assert!(W == 4 || W == 8) };
    assert!(u4.iter().all(|ur| ur.len() >= y.len()));
    // SAFETY (all loads and stores below): each row is [f64; W], W = 4 or 8, so it holds
    // W / 4 unaligned 4-lane vectors at offsets 0 and 4; rows k < y.len() of `y` and entries
    // k < y.len() of every u4[r] are in bounds (asserted above).
    let lo = y4.map(|r| unsafe { _mm256_loadu_pd(r.as_ptr()) });
    if W == 4 {
        for (k, yk) in y.iter_mut().enumerate() {
            let p = yk.as_mut_ptr();
            unsafe {
                let mut a = _mm256_loadu_pd(p);
                for r in 0..4 {
                    let urk = _mm256_set1_pd(*u4[r].get_unchecked(k));
                    a = _mm256_fnmadd_pd(urk, lo[r], a);
                }
                _mm256_storeu_pd(p, a);
            }
        }
        return;
    }
    let hi = y4.map(|r| unsafe { _mm256_loadu_pd(r.as_ptr().add(4)) });
    for (k, yk) in y.iter_mut().enumerate() {
        let p = yk.as_mut_ptr();
        unsafe {
            let (mut a, mut b) = (_mm256_loadu_pd(p), _mm256_loadu_pd(p.add(4)));
            for r in 0..4 {
                let urk = _mm256_set1_pd(*u4[r].get_unchecked(k));
                a = _mm256_fnmadd_pd(urk, lo[r], a);
                b = _mm256_fnmadd_pd(urk, hi[r], b);
            }
            _mm256_storeu_pd(p, a);
            _mm256_storeu_pd(p.add(4), b);
        }
    }
}

/// y <- U^-1 y (back substitution), four rows at a time from the bottom: their sums over
/// the rows already solved, then their own triangle.
#[inline(always)]
fn solve_in_place<const W: usize>(u: &[f64], n: usize, y: &mut [[f64; W]]) {
    let mut end = n;
    while end > 0 {
        let start = end.saturating_sub(4);
        let (head, solved) = y.split_at_mut(end);
        let sums = if end - start == 4 {
            let rows =
                [start, start + 1, start + 2, start + 3].map(|i| &upper_row(u, n, i)[end - i..]);
            dot4(rows, solved)
        } else {
            let mut sums = [[0.0; W]; 4];
            for (s, i) in sums.iter_mut().zip(start..end) {
                *s = dot1(&upper_row(u, n, i)[end - i..], solved);
            }
            sums
        };
        for i in (start..end).rev() {
            let ui = upper_row(u, n, i);
            let mut acc = head[i];
            for (t, v) in acc.iter_mut().zip(&sums[i - start]) {
                *t -= v;
            }
            for k in i + 1..end {
                let uik = ui[k - i];
                let yk = head[k];
                for (t, v) in acc.iter_mut().zip(&yk) {
                    *t = (-uik).mul_add(*v, *t);
                }
            }
            let inverse = 1.0 / ui[0];
            for v in acc.iter_mut() {
                *v *= inverse;
            }
            head[i] = acc;
        }
        end = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{SeededRng, Stream};
    use faer::linalg::triangular_solve::{
        solve_lower_triangular_in_place, solve_upper_triangular_in_place,
    };

    fn random(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
        let mut rng = SeededRng::new(seed, Stream::Data);
        Mat::from_fn(rows, cols, |_, _| rng.normal())
    }

    fn largest_difference(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
        let mut worst: f64 = 0.0;
        for j in 0..a.ncols() {
            for i in 0..a.nrows() {
                worst = worst.max((a[(i, j)] - b[(i, j)]).abs() / (1.0 + b[(i, j)].abs()));
            }
        }
        worst
    }

    /// Against faer's product and triangular solves, for sizes that leave partial groups of
    /// four rows and of eight vectors.
    #[test]
    fn products_and_solves_match_faer() {
        for n in [0, 5] {
            let empty = Mat::<f64>::zeros(n, 0);
            let storage = vec![1.0; n * n];
            assert_eq!(
                symmetric_product(&storage, n, empty.as_ref()).shape(),
                (n, 0)
            );
            assert_eq!(cholesky_solve(&storage, n, empty.as_ref()).shape(), (n, 0));
        }
        for (n, r) in [
            (1, 1),
            (3, 2),
            (37, 5),
            (50, 4),
            (64, 16),
            (101, 11),
            (130, 17),
        ] {
            let a = random(n, n, n as u64);
            // M = A A^T + n I, symmetric positive definite; its Cholesky factor L.
            let m = &a * a.transpose() + Mat::<f64>::identity(n, n) * (n as f64);
            let x = random(n, r, 7);
            let storage: Vec<f64> = (0..n * n).map(|k| m[(k / n, k % n)]).collect();
            let expected = &m * &x;
            let got = symmetric_product(&storage, n, x.as_ref());
            assert!(
                largest_difference(got.as_ref(), expected.as_ref()) < 1e-12,
                "product {n} x {r}"
            );

            let l = m
                .llt(faer::Side::Lower)
                .expect("positive definite")
                .L()
                .to_owned();
            // U = L^T in the row-major upper triangle; the lower one holds junk, unread.
            let u: Vec<f64> = (0..n * n)
                .map(|k| {
                    let (i, j) = (k / n, k % n);
                    if j >= i {
                        l[(j, i)]
                    } else {
                        f64::NAN
                    }
                })
                .collect();
            let mut expected = x.to_owned();
            solve_lower_triangular_in_place(l.as_ref(), expected.as_mut(), faer::Par::Seq);
            solve_upper_triangular_in_place(l.transpose(), expected.as_mut(), faer::Par::Seq);
            let got = cholesky_solve(&u, n, x.as_ref());
            assert!(
                largest_difference(got.as_ref(), expected.as_ref()) < 1e-12,
                "solve {n} x {r}"
            );
            // And it is the inverse: M (M^-1 X) = X.
            let back = &m * &got;
            assert!(
                largest_difference(back.as_ref(), x.as_ref()) < 1e-10,
                "residual {n} x {r}"
            );
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_and_portable_subtractions_give_the_same_bits() {
        if !has_avx2_fma() {
            return;
        }
        let mut rng = SeededRng::new(9, Stream::Data);
        let mut lanes = |count: usize| -> Vec<Lanes> {
            (0..count)
                .map(|_| std::array::from_fn(|_| rng.normal()))
                .collect()
        };
        let (y, y4) = (lanes(37), lanes(4));
        let y4: [Lanes; 4] = [y4[0], y4[1], y4[2], y4[3]];
        let u: Vec<Vec<f64>> = (0..4)
            .map(|r| lanes(5).concat()[r..r + 37].to_vec())
            .collect();
        let u4 = [&u[0][..], &u[1][..], &u[2][..], &u[3][..]];
        let (mut fast, mut plain) = (y.clone(), y.clone());
        // SAFETY: AVX2 and FMA checked above; every u4[r] has y's length.
        unsafe { subtract4_avx2(&mut fast, u4, &y4) };
        subtract4_portable(&mut plain, u4, &y4);
        let bits = |v: &[Lanes]| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast), bits(&plain));
        assert_ne!(bits(&fast), bits(&y));
        // Groups of four: the first four lanes of each row, the same bits again.
        let narrow =
            |v: &[Lanes]| -> Vec<[f64; 4]> { v.iter().map(|r| [r[0], r[1], r[2], r[3]]).collect() };
        let y4_narrow = [0, 1, 2, 3].map(|r| narrow(&y4)[r]);
        let (mut fast4, mut plain4) = (narrow(&y), narrow(&y));
        // SAFETY: as above.
        unsafe { subtract4_avx2(&mut fast4, u4, &y4_narrow) };
        subtract4_portable(&mut plain4, u4, &y4_narrow);
        let bits4 = |v: &[[f64; 4]]| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits4(&fast4), bits4(&plain4));
        assert_eq!(bits4(&fast4), bits4(&narrow(&fast)));
    }

    /// A solve for at most four vectors runs in groups of four; the same vectors among
    /// more, in groups of eight, get the same bits (each lane's arithmetic is the same).
    #[test]
    fn narrow_and_wide_groups_solve_to_the_same_bits() {
        let n = 203;
        let a = random(n, n, 5);
        let m = &a * a.transpose() + Mat::<f64>::identity(n, n) * (n as f64);
        let l = m
            .llt(faer::Side::Lower)
            .expect("positive definite")
            .L()
            .to_owned();
        let u: Vec<f64> = (0..n * n).map(|k| l[(k % n, k / n)]).collect();
        let x = random(n, 6, 6);
        let wide = cholesky_solve(&u, n, x.as_ref());
        let narrow = cholesky_solve(&u, n, x.subcols(0, 4));
        for j in 0..4 {
            for i in 0..n {
                assert_eq!(
                    narrow[(i, j)].to_bits(),
                    wide[(i, j)].to_bits(),
                    "({i}, {j})"
                );
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (n, r) = (300, 16);
        let a = random(n, n, 3);
        let m = &a * a.transpose() + Mat::<f64>::identity(n, n) * (n as f64);
        let storage: Vec<f64> = (0..n * n).map(|k| m[(k / n, k % n)]).collect();
        let x = random(n, r, 4);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let p = symmetric_product(&storage, n, x.as_ref());
                let s = cholesky_solve(&storage, n, x.as_ref());
                (0..n * r)
                    .flat_map(|k| [p[(k % n, k / n)].to_bits(), s[(k % n, k / n)].to_bits()])
                    .collect::<Vec<u64>>()
            })
        };
        assert_eq!(run(1), run(3));
    }
}
