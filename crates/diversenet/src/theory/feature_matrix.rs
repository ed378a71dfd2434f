//! The extended feature matrix D of PAPER.md section 2 and its smallest singular value.
//!
//! Column i of D (dn x m) stacks v_k 1[w_k . x_i > 0] x_i over the units k; with c outputs
//! the columns are indexed by (sample i, output j) and stack V_jk 1[w_k . x_i > 0] x_i.
//! D is never built: D^T D = (X X^T) o (A^T diag(v^2) A) (block-wise for c outputs), and
//! s_m(D)^2 = lambda_min(D^T D), the m-th (m c-th) largest eigenvalue.

use crate::linalg::{
    gemm, gram, gram_lower, smallest_eigenvalue_psd_with_stats, symmetrize_from_lower, Cancel,
    Interrupted, Matrix, Op, SmallestEigenvalue,
};
use crate::model::loss::{loss_and_gradient, BatchTargets, Gradient, Loss, Workspace};
use crate::model::Network;

/// The activation pattern A (n x m): A_ki = 1 if w_k . x_i > 0, else 0.
pub fn activation_pattern(net: &Network<f64>, x: &Matrix<f64>) -> Matrix<f64> {
    let mut pre = Matrix::zeros(net.width(), x.rows());
    gemm(&mut pre, false, net.w.view(), Op::N, x.view(), Op::T, 1.0);
    for a in pre.as_mut_slice() {
        *a = if *a > 0.0 { 1.0 } else { 0.0 };
    }
    pre
}

/// D^T D in its Gram form, (m c) x (m c), with row/column index i * c + j for sample i and
/// output j: entry ((i,j),(i',j')) = (x_i . x_i') sum_k V_jk V_j'k A_ki A_ki'.
/// Costs O(m^2 (d + n c^2)) through GEMM. `cancel` is asked between its large products
/// (and before each output's blocks when there are several).
pub fn feature_gram(
    net: &Network<f64>,
    x: &Matrix<f64>,
    cancel: Cancel<'_>,
) -> Result<Matrix<f64>, Interrupted> {
    let (m, c, n) = (x.rows(), net.outputs(), net.width());
    if c == 1 {
        return single_output_gram(net, x, cancel);
    }
    let inner = gram(x.view());
    let a = activation_pattern(net, x);
    let mut g = Matrix::zeros(m * c, m * c);
    let mut left = Matrix::zeros(n, m);
    let mut right = Matrix::zeros(n, m);
    let mut block = Matrix::zeros(m, m);
    for j in 0..c {
        cancel.check()?;
        for k in 0..n {
            let v = net.v.row(j)[k];
            for (dst, &ak) in left.row_mut(k).iter_mut().zip(a.row(k)) {
                *dst = v * ak;
            }
        }
        for jp in 0..=j {
            for k in 0..n {
                let v = net.v.row(jp)[k];
                for (dst, &ak) in right.row_mut(k).iter_mut().zip(a.row(k)) {
                    *dst = v * ak;
                }
            }
            // block[i][i'] = sum_k V_jk A_ki V_j'k A_ki'
            gemm(
                &mut block,
                false,
                left.view(),
                Op::T,
                right.view(),
                Op::N,
                1.0,
            );
            for i in 0..m {
                for ip in 0..m {
                    let value = inner.row(i)[ip] * block.row(i)[ip];
                    g.row_mut(i * c + j)[ip * c + jp] = value;
                    g.row_mut(ip * c + jp)[i * c + j] = value;
                }
            }
        }
    }
    Ok(g)
}

/// D^T D for one output: (X X^T) o (A^T diag(v^2) A), lower triangles first, mirrored once.
/// The activation Gram comes from X W^T (m x n, signs only). When every |v_k| is the same
/// value (the theory's v = +/-1), A^T diag(v^2) A = v^2 A^T A counts shared active units:
/// the patterns are packed 64 units to a word and counted with popcount, exactly (the
/// counts are integers below 2^53), at m^2 n / 128 word operations instead of m^2 n / 2
/// multiply-adds. Otherwise (diag|v| A)^T (diag|v| A) by a triangular GEMM.
fn single_output_gram(
    net: &Network<f64>,
    x: &Matrix<f64>,
    cancel: Cancel<'_>,
) -> Result<Matrix<f64>, Interrupted> {
    let (m, n) = (x.rows(), net.width());
    let pattern = packed_activation_pattern(x, &net.w);
    cancel.check()?;
    let v = net.v.as_slice();
    let common = v
        .first()
        .map(|v0| v0.abs())
        .filter(|a| v.iter().all(|vk| vk.abs() == *a));
    let mut g = gram_lower(x.view());
    cancel.check()?;
    match common {
        Some(scale) => {
            let PackedPattern { words, bits } = pattern;
            let scale = scale * scale;
            const ROWS_PER_TASK: usize = 16;
            let rows = g.as_mut_slice();
            let row_block = |(block, rows): (usize, &mut [f64])| {
                pulp::Arch::new().dispatch(SharedUnitRows {
                    rows,
                    first: block * ROWS_PER_TASK,
                    m,
                    words,
                    bits: &bits,
                    scale,
                })
            };
            if crate::linalg::threads() > 1 && m * m * words > 1 << 22 {
                use rayon::prelude::*;
                rows.par_chunks_mut(m * ROWS_PER_TASK)
                    .enumerate()
                    .for_each(row_block);
            } else {
                rows.chunks_mut(m * ROWS_PER_TASK)
                    .enumerate()
                    .for_each(row_block);
            }
        }
        None => {
            // (diag(|v|) A)^T (m x n) from the activation pattern.
            let mut scaled = Matrix::zeros(m, n);
            for i in 0..m {
                for (k, (s, &vk)) in scaled.row_mut(i).iter_mut().zip(v).enumerate() {
                    *s = if pattern.active(i, k) { vk.abs() } else { 0.0 };
                }
            }
            drop(pattern);
            let activation = gram_lower(scaled.view());
            for i in 0..m {
                for (gv, a) in g.row_mut(i)[..=i].iter_mut().zip(&activation.row(i)[..=i]) {
                    *gv *= a;
                }
            }
        }
    }
    symmetrize_from_lower(&mut g);
    Ok(g)
}

/// The activation pattern 1[w_k . x_i > 0] (the f64 dot product) of m points on n units,
/// packed 64 units to a word: unit k of point i is bit k % 64 of word i * words + k / 64.
struct PackedPattern {
    words: usize,
    bits: Vec<u64>,
}

impl PackedPattern {
    /// The pattern of m points, row i (its `words` words) filled by `pack_row(i, row)`, by
    /// blocks of 64 rows on the crate's threads, compiled for the processor (no reordering
    /// of floating-point operations: the same bits).
    fn by_rows(m: usize, words: usize, pack_row: impl Fn(usize, &mut [u64]) + Sync) -> Self {
        use rayon::prelude::*;
        let mut bits = vec![0u64; m * words];
        bits.par_chunks_mut(words.max(1))
            .with_min_len(64)
            .enumerate()
            .for_each(|(i, row)| crate::linalg::vectorized(|| pack_row(i, row)));
        Self { words, bits }
    }

    fn active(&self, i: usize, k: usize) -> bool {
        self.bits[i * self.words + k / 64] >> (k % 64) & 1 == 1
    }
}

/// The activation pattern of the units `w` (n x d) on the points `x` (m x d), from X W^T
/// in f32 with every entry whose sign f32 rounding could have changed taken from the f64
/// dot product instead: only the signs are used, and the f32 product costs half the f64 one.
///
/// Rounding X and W to f32 (2u) and summing d products in any order, FMA or not (Higham's
/// gamma_d = d u / (1 - d u)) moves an entry by at most (gamma_d (1 + u)^2 + 2u + u^2)
/// sum_j |x_ij w_kj| <= (gamma_(d+2) + u) ||x_i|| ||w_k|| (u = 2^-24), so entries within 1.01
/// times that of 0 are recomputed in f64. The bound needs every nonzero |value| between
/// 2^-60 and 2^50 (no subnormal products, no overflow) and gamma_(d+2) < 1/2; other inputs
/// take the f64 product throughout.
fn packed_activation_pattern(x: &Matrix<f64>, w: &Matrix<f64>) -> PackedPattern {
    let (m, n, d) = (x.rows(), w.rows(), x.cols());
    let words = n.div_ceil(64);
    let u = 2f64.powi(-24);
    let du = (d as f64 + 2.0) * u;
    let in_f32 = if du < 0.5 && d > 0 {
        f32_copy_with_norms(x).zip(f32_copy_with_norms(w))
    } else {
        None
    };
    let Some(((x32, x_norms), (w32, w_norms))) = in_f32 else {
        let mut pre = Matrix::zeros(m, n);
        gemm(&mut pre, false, x.view(), Op::N, w.view(), Op::T, 1.0);
        return PackedPattern::by_rows(m, words, |i, row| {
            for (word, units) in row.iter_mut().zip(pre.row(i).chunks(64)) {
                *word = positive_bits(units);
            }
        });
    };
    let mut pre = Matrix::<f32>::zeros(m, n);
    gemm(&mut pre, false, x32.view(), Op::N, w32.view(), Op::T, 1.0);
    drop((x32, w32));
    let factor = 1.01 * (du / (1.0 - du) + u);
    PackedPattern::by_rows(m, words, |i, row| {
        let tolerance = factor * x_norms[i];
        let units = pre.row(i).chunks(64).zip(w_norms.chunks(64));
        for (c, (word, (p, norms))) in row.iter_mut().zip(units).enumerate() {
            let mut active = positive_bits(p);
            let mut near = near_zero_bits(p, norms, tolerance);
            while near != 0 {
                let bit = near.trailing_zeros() as usize;
                near &= near - 1;
                let k = 64 * c + bit;
                let dot: f64 = x.row(i).iter().zip(w.row(k)).map(|(a, b)| a * b).sum();
                active = active & !(1 << bit) | u64::from(dot > 0.0) << bit;
            }
            *word = active;
        }
    })
}

/// `a` in f32 and the f64 norms of its rows, or `None` if a nonzero |entry| is outside
/// [2^-60, 2^50] (see [`packed_activation_pattern`]). One pass over `a`, by blocks of 64 rows
/// on the crate's threads.
fn f32_copy_with_norms(a: &Matrix<f64>) -> Option<(Matrix<f32>, Vec<f64>)> {
    use rayon::prelude::*;
    let d = a.cols().max(1);
    let in_range = |v: &f64| *v == 0.0 || (v.abs() >= 2f64.powi(-60) && v.abs() <= 2f64.powi(50));
    let mut copy = vec![0f32; a.rows() * a.cols()];
    let blocks: Vec<Option<Vec<f64>>> = a
        .as_slice()
        .par_chunks(64 * d)
        .zip(copy.par_chunks_mut(64 * d))
        .map(|(rows, out)| {
            if !rows.iter().all(in_range) {
                return None;
            }
            for (o, v) in out.iter_mut().zip(rows) {
                *o = *v as f32;
            }
            Some(crate::geometry::row_norms(rows, d))
        })
        .collect();
    let norms = blocks.into_iter().collect::<Option<Vec<_>>>()?.concat();
    Some((Matrix::from_vec(a.rows(), a.cols(), copy), norms))
}

/// Bit k set where `values[k] > 0` (at most 64 values).
#[inline(always)]
fn positive_bits<T: Into<f64> + Copy>(values: &[T]) -> u64 {
    values
        .iter()
        .enumerate()
        .fold(0, |w, (k, &p)| w | u64::from(p.into() > 0.0) << k)
}

/// Bit k set where |p_k| <= tolerance * norms[k] (at most 64 values).
#[inline(always)]
fn near_zero_bits(p: &[f32], norms: &[f64], tolerance: f64) -> u64 {
    p.iter()
        .zip(norms)
        .enumerate()
        .fold(0, |w, (k, (&p, &norm))| {
            w | u64::from(f64::from(p.abs()) <= tolerance * norm) << k
        })
}

/// Rows `first..` of the lower triangle of the Gram (`rows`, m values each), multiplied
/// by `scale` times the units each pair of samples shares (the bits set in both packed
/// patterns). A `pulp` kernel, so that the bit counts compile to the processor's popcount
/// instruction where it has one.
struct SharedUnitRows<'a> {
    rows: &'a mut [f64],
    first: usize,
    m: usize,
    words: usize,
    bits: &'a [u64],
    scale: f64,
}

impl pulp::WithSimd for SharedUnitRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Self {
            rows,
            first,
            m,
            words,
            bits,
            scale,
        } = self;
        for (r, gi) in rows.chunks_mut(m).enumerate() {
            let i = first + r;
            let bi = &bits[i * words..(i + 1) * words];
            for (gv, bj) in gi[..=i].iter_mut().zip(bits.chunks_exact(words)) {
                let shared: u32 = bi.iter().zip(bj).map(|(x, y)| (x & y).count_ones()).sum();
                *gv *= scale * f64::from(shared);
            }
        }
    }
}

/// D itself (dn x m c), for tests and small cases.
pub fn explicit_feature_matrix(net: &Network<f64>, x: &Matrix<f64>) -> Matrix<f64> {
    let (m, c, n, d) = (x.rows(), net.outputs(), net.width(), x.cols());
    let a = activation_pattern(net, x);
    let mut dm = Matrix::zeros(d * n, m * c);
    for i in 0..m {
        for j in 0..c {
            for k in 0..n {
                let coef = net.v.row(j)[k] * a.row(k)[i];
                for (t, &xv) in x.row(i).iter().enumerate() {
                    dm.row_mut(k * d + t)[i * c + j] = coef * xv;
                }
            }
        }
    }
    dm
}

/// s_m(D) with how it was obtained.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SmallestSingularValue {
    /// s_m(D) (s_{mc}(D) with c outputs).
    pub value: f64,
    /// `cholesky-shift-invert` (Cholesky factor of D^T D - sigma I, then block Krylov on
    /// its inverse), `dense` (the dense eigensolver, when that would take too long), `rank`
    /// (d n < m c, so s = 0 exactly), `singular-gram` (Cholesky failed without a shift: 0
    /// up to rounding) or `non-finite` (NaN or infinite entries: the value is NaN).
    pub method: &'static str,
    /// Why the value is 0, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Size of the Gram matrix D^T D.
    pub gram_size: usize,
}

/// s_m(D) from the Gram form; 0 (with the reason) when d n < m c. `cancel` is asked
/// between the Gram's large products and the eigensolver's steps (Python asks whether
/// Ctrl-C was pressed).
pub fn smallest_singular_value(
    net: &Network<f64>,
    x: &Matrix<f64>,
    cancel: Cancel<'_>,
) -> crate::Result<SmallestSingularValue> {
    let (m, c, n, d) = (x.rows(), net.outputs(), net.width(), x.cols());
    let size = m * c;
    if d * n < size {
        return Ok(SmallestSingularValue {
            value: 0.0,
            method: "rank",
            reason: Some(format!(
                "D has d*n = {} rows < m*c = {size} columns, so its rank is below m*c",
                d * n
            )),
            gram_size: size,
        });
    }
    let gram = feature_gram(net, x, cancel)?;
    let (eigenvalue, _) = smallest_eigenvalue_psd_with_stats(gram, cancel)?;
    Ok(match eigenvalue {
        e @ (SmallestEigenvalue::Value(l) | SmallestEigenvalue::DenseValue(l)) => {
            SmallestSingularValue {
                value: l.max(0.0).sqrt(),
                method: e.method(),
                reason: None,
                gram_size: size,
            }
        }
        SmallestEigenvalue::NumericallySingular => SmallestSingularValue {
            value: 0.0,
            method: "singular-gram",
            reason: Some(
                "the Gram matrix D^T D is numerically singular (its Cholesky factorisation failed)"
                    .into(),
            ),
            gram_size: size,
        },
        SmallestEigenvalue::NonFinite => SmallestSingularValue {
            value: f64::NAN,
            method: "non-finite",
            reason: Some("the Gram matrix D^T D has NaN or infinite entries".into()),
            gram_size: size,
        },
    })
}

/// The squared loss L = ||r||^2 / (2m) of the network on (x, y) (y is m x c) and
/// ||grad_W L||_F, from the forward and backward pass that training and evaluation take
/// ([`loss_and_gradient`]); by the identity vec(grad_W L) = -(1/m) D r it is also
/// (1/m) ||D r|| (a test checks it against D built explicitly).
pub fn squared_loss_and_gradient_norm(
    net: &Network<f64>,
    x: &Matrix<f64>,
    y: &Matrix<f64>,
) -> (f64, f64) {
    let m = x.rows() as f64;
    let mut grad = Gradient::zeros_like(net);
    let totals = loss_and_gradient(
        net,
        x.view(),
        BatchTargets::Real(y.as_slice()),
        Loss::Squared,
        Some((&mut grad, 1.0 / m)),
        &mut Workspace::default(),
    );
    (totals.loss_sum / m, crate::linalg::norm(grad.w.as_slice()))
}

/// The training-loss bound of PAPER.md section 2: L <= m ||grad_W L||^2 / (2 s_m(D)^2)
/// (infinite when s_m(D) = 0).
pub fn loss_bound(points: usize, grad_norm: f64, s_min: f64) -> f64 {
    if s_min > 0.0 {
        points as f64 * grad_norm * grad_norm / (2.0 * s_min * s_min)
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
#[path = "feature_matrix_tests.rs"]
mod tests;
