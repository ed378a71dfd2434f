//! Dense linear algebra: the crate's row-major [`Matrix`], the [`Real`] scalar trait and
//! matrix products. Every call into faer lives in this module, so that a faer upgrade
//! touches one file.

use std::fmt::{Debug, Display};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use faer::{Accum, MatMut, MatRef, Par};

/// A real floating-point scalar (`f32` or `f64`) usable in every product of this crate.
pub trait Real:
    faer::traits::RealField
    + Copy
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + std::iter::Sum
    + std::ops::Neg<Output = Self>
    + 'static
{
    /// Name used in model files and metadata (`"f32"` / `"f64"`).
    const NAME: &'static str;
    /// Size in bytes.
    const BYTES: usize;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn is_finite(self) -> bool;
    fn max(self, other: Self) -> Self;
    fn write_le(self, out: &mut Vec<u8>);
    fn read_le(bytes: &[u8]) -> Self;
}

macro_rules! impl_real {
    ($t:ty, $name:literal) => {
        impl Real for $t {
            const NAME: &'static str = $name;
            const BYTES: usize = std::mem::size_of::<$t>();
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("slice of the scalar's size"))
            }
        }
    };
}
impl_real!(f32, "f32");
impl_real!(f64, "f64");

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of threads used by matrix products (0: all cores). Results are
/// bit-for-bit reproducible for a fixed thread count.
pub fn set_threads(threads: usize) {
    THREADS.store(threads, Ordering::Relaxed);
}

/// The thread count products run with.
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

fn parallelism() -> Par {
    match threads() {
        1 => Par::Seq,
        n => Par::Rayon(NonZeroUsize::new(n).expect("n > 1")),
    }
}

/// A dense row-major matrix: row `i` is `data[i * cols..(i + 1) * cols]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

/// A borrowed row-major matrix.
#[derive(Clone, Copy, Debug)]
pub struct MatrixView<'a, T> {
    rows: usize,
    cols: usize,
    data: &'a [T],
}

impl<T: Copy + Default> Matrix<T> {
    /// A `rows x cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![T::default(); rows * cols],
        }
    }
}

impl<T> Matrix<T> {
    /// Wraps row-major `data`; panics if its length is not `rows * cols` (a programming error).
    pub fn from_vec(rows: usize, cols: usize, data: Vec<T>) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix data length");
        Self { rows, cols, data }
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }
    pub fn view(&self) -> MatrixView<'_, T> {
        MatrixView {
            rows: self.rows,
            cols: self.cols,
            data: &self.data,
        }
    }
    /// Rows `start..end` as a view (contiguous in row-major storage).
    pub fn row_range(&self, start: usize, end: usize) -> MatrixView<'_, T> {
        MatrixView {
            rows: end - start,
            cols: self.cols,
            data: &self.data[start * self.cols..end * self.cols],
        }
    }
    /// Changes the number of rows, keeping the first rows' contents (used for
    /// reusable batch buffers).
    pub fn resize_rows(&mut self, rows: usize)
    where
        T: Copy + Default,
    {
        self.rows = rows;
        self.data.resize(rows * self.cols, T::default());
    }
    /// The same data converted element by element.
    pub fn map<U>(&self, f: impl Fn(&T) -> U) -> Matrix<U> {
        Matrix {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(f).collect(),
        }
    }
}

impl<'a, T> MatrixView<'a, T> {
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

impl<T: Copy + Default> Matrix<T> {
    /// Copies the rows `indices` of `source` into `self` (resized to `indices.len()` rows).
    pub fn gather_rows(&mut self, source: &Matrix<T>, indices: &[usize]) {
        assert_eq!(self.cols, source.cols, "gather_rows column count");
        self.resize_rows(indices.len());
        let cols = self.cols;
        for (dst, &i) in self.data.chunks_exact_mut(cols.max(1)).zip(indices) {
            dst.copy_from_slice(source.row(i));
        }
    }
}

fn faer_ref<'a, T: Real>(m: MatrixView<'a, T>, transpose: bool) -> MatRef<'a, T> {
    let r = MatRef::from_row_major_slice(m.data, m.rows, m.cols);
    if transpose {
        r.transpose()
    } else {
        r
    }
}

fn faer_mut<T: Real>(m: &mut Matrix<T>) -> MatMut<'_, T> {
    MatMut::from_row_major_slice_mut(&mut m.data, m.rows, m.cols)
}

/// Whether an operand of [`gemm`] enters as itself or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    N,
    T,
}

/// `dst = alpha * op(a) * op(b) + (accumulate ? dst : 0)`, through faer's GEMM.
/// Panics on mismatched shapes (a programming error inside the crate).
pub fn gemm<T: Real>(
    dst: &mut Matrix<T>,
    accumulate: bool,
    a: MatrixView<'_, T>,
    op_a: Op,
    b: MatrixView<'_, T>,
    op_b: Op,
    alpha: T,
) {
    let a = faer_ref(a, op_a == Op::T);
    let b = faer_ref(b, op_b == Op::T);
    assert_eq!(a.nrows(), dst.rows, "gemm: rows of op(a) and dst");
    assert_eq!(b.ncols(), dst.cols, "gemm: cols of op(b) and dst");
    assert_eq!(a.ncols(), b.nrows(), "gemm: inner dimensions");
    let accum = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    // Below this many multiply-adds, splitting over threads costs more than it saves
    // (measured with `diversenet bench train`).
    const PARALLEL_MIN_MACS: usize = 1 << 24;
    let par = if a.nrows() * a.ncols() * b.ncols() < PARALLEL_MIN_MACS {
        Par::Seq
    } else {
        parallelism()
    };
    faer::linalg::matmul::matmul(faer_mut(dst), accum, a, b, alpha, par);
}

/// Runs `f` compiled for the best instruction set of this processor (AVX2/FMA where
/// present), so that element-wise loops inside it are vectorised. No reordering of
/// floating-point operations takes place: results are the same as without it.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// Applies `kernel` to matching chunks of `a`, `b`, `c` and `d` (`c` and `d` may be empty
/// when a kernel does not use them), in parallel on the crate's threads when the slices
/// are long. Element-wise kernels give the same result either way.
pub fn par_zip4<T: Send + Sync>(
    a: &mut [T],
    b: &[T],
    c: &mut [T],
    d: &mut [T],
    kernel: impl Fn(&mut [T], &[T], &mut [T], &mut [T]) + Sync,
) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 14;
    // Below this length the threads' start-up costs more than they save (measured with
    // `diversenet bench train`: 78,400 Adam parameters are faster on one thread).
    const PARALLEL_MIN_LEN: usize = 1 << 18;
    if a.len() < PARALLEL_MIN_LEN || threads() == 1 {
        return vectorized(|| kernel(a, b, c, d));
    }
    let n = a.len().div_ceil(CHUNK);
    fn split<T>(x: &mut [T], n: usize) -> Vec<&mut [T]> {
        if x.is_empty() {
            (0..n).map(|_| Default::default()).collect()
        } else {
            x.chunks_mut(CHUNK).collect()
        }
    }
    let (c, d) = (split(c, n), split(d, n));
    a.par_chunks_mut(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .zip(c.into_par_iter())
        .zip(d.into_par_iter())
        .for_each(|(((a, b), c), d)| vectorized(|| kernel(a, b, c, d)));
}

/// Euclidean norm of a slice, accumulated in f64.
pub fn norm<T: Real>(x: &[T]) -> f64 {
    x.iter()
        .map(|v| {
            let v = v.to_f64();
            v * v
        })
        .sum::<f64>()
        .sqrt()
}

/// `dst = a a^T` (a is r x k, dst r x r), computing one triangle by GEMM and mirroring it.
pub fn gram(a: MatrixView<'_, f64>) -> Matrix<f64> {
    let r = a.rows;
    let mut dst = Matrix::zeros(r, r);
    let lhs = faer_ref(a, false);
    let rhs = faer_ref(a, true);
    let par = if r * r * a.cols / 2 < (1 << 24) {
        Par::Seq
    } else {
        parallelism()
    };
    faer::linalg::matmul::triangular::matmul(
        faer_mut(&mut dst),
        faer::linalg::matmul::triangular::BlockStructure::TriangularLower,
        Accum::Replace,
        lhs,
        faer::linalg::matmul::triangular::BlockStructure::Rectangular,
        rhs,
        faer::linalg::matmul::triangular::BlockStructure::Rectangular,
        1.0,
        par,
    );
    symmetrize_from_lower(&mut dst);
    dst
}

/// Copies the lower triangle of a square matrix onto its upper triangle.
pub fn symmetrize_from_lower(m: &mut Matrix<f64>) {
    let n = m.rows;
    for i in 0..n {
        for j in 0..i {
            let v = m.data[i * n + j];
            m.data[j * n + i] = v;
        }
    }
}

/// All eigenvalues of a symmetric matrix, ascending (dense divide-and-conquer; the
/// reference the faster solvers are tested against). `None` if the solver fails.
pub fn symmetric_eigenvalues(m: &Matrix<f64>) -> Option<Vec<f64>> {
    let a = faer_ref(m.view(), false).to_owned();
    let mut v = a.self_adjoint_eigenvalues(faer::Side::Lower).ok()?;
    v.sort_by(f64::total_cmp);
    Some(v)
}

/// Singular values of a matrix, descending.
pub fn singular_values(m: &Matrix<f64>) -> Option<Vec<f64>> {
    let a = faer_ref(m.view(), false).to_owned();
    let mut s = a.singular_values().ok()?;
    s.sort_by(|x, y| y.total_cmp(x));
    Some(s)
}

/// The smallest eigenvalue of a symmetric positive semi-definite matrix, or why it is 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SmallestEigenvalue {
    /// Computed by Cholesky factorisation and a block Krylov solver on the inverse.
    Value(f64),
    /// Computed by the dense eigensolver, after the Krylov solver found the eigenvalue
    /// inside a cluster it would converge on too slowly.
    DenseValue(f64),
    /// The Cholesky factorisation failed: the matrix is numerically singular (its smallest
    /// eigenvalue is 0 up to rounding).
    NumericallySingular,
}

impl SmallestEigenvalue {
    /// The eigenvalue, or `None` for a numerically singular matrix.
    pub fn value(self) -> Option<f64> {
        match self {
            Self::Value(v) | Self::DenseValue(v) => Some(v),
            Self::NumericallySingular => None,
        }
    }
    /// How it was computed: `cholesky-krylov`, `dense` or `singular`.
    pub fn method(self) -> &'static str {
        match self {
            Self::Value(_) => "cholesky-krylov",
            Self::DenseValue(_) => "dense",
            Self::NumericallySingular => "singular",
        }
    }
}

/// Relative residual at which the Krylov iteration stops: a Ritz value is then within
/// this fraction of an eigenvalue (Bauer-Fike for symmetric matrices).
const KRYLOV_TOLERANCE: f64 = 1e-11;
/// Vectors per block of the block Krylov iteration: a product with 16 vectors costs about
/// as much memory traffic as with one, and blocks converge in far fewer steps when the
/// wanted eigenvalue sits in a cluster (as the bottom of a feature Gram's spectrum does).
const KRYLOV_BLOCK: usize = 16;
/// Largest Krylov basis tried before falling back to the dense eigensolver. A Gram whose
/// smallest eigenvalue is separated converges well within it (the synthetic teacher-student
/// model of `analyze`); Grams whose smallest eigenvalues form a dense band do not (the
/// networks of `diversenet bench theory`, the MNIST model), and fall back early.
const KRYLOV_MAX_DIM: usize = 256;

/// Orthonormalises the columns of `w` against `basis` and each other (two passes of
/// Gram-Schmidt); drops columns that vanish. Returns the kept columns.
fn orthonormalise(basis: faer::MatRef<'_, f64>, w: faer::Mat<f64>) -> faer::Mat<f64> {
    let mut kept: Vec<faer::Col<f64>> = Vec::new();
    for j in 0..w.ncols() {
        let mut c = w.col(j).to_owned();
        let before = c.norm_l2();
        for _ in 0..2 {
            if basis.ncols() > 0 {
                let coef = basis.transpose() * &c;
                c -= basis * coef;
            }
            for k in &kept {
                let dot = k.transpose() * &c;
                c -= k * dot;
            }
        }
        let after = c.norm_l2();
        if after > 1e-10 * before.max(f64::MIN_POSITIVE) && after > 0.0 {
            kept.push(c / after);
        }
    }
    faer::Mat::from_fn(w.nrows(), kept.len(), |i, j| kept[j][i])
}

/// The eigenvalue of largest magnitude of the symmetric operator `apply` (Y = A X on a
/// block of columns) of size `n`: block Krylov with full reorthogonalisation and
/// Rayleigh-Ritz, from fixed start vectors so that results repeat. `None` if it has not
/// converged within `max_dim` basis vectors (an eigenvalue inside a dense cluster).
fn krylov_largest_magnitude(
    n: usize,
    max_dim: usize,
    mut apply: impl FnMut(faer::MatRef<'_, f64>) -> faer::Mat<f64>,
) -> Option<f64> {
    let b = KRYLOV_BLOCK.min(n);
    let start = faer::Mat::<f64>::from_fn(n, b, |i, j| {
        ((i as f64 + 1.0) * (0.618_033_988_749_895 + j as f64 * 0.414_213_562_373_095)).fract()
            - 0.5
    });
    let max_dim = max_dim.min(n);
    // Basis V, products AV and the projection H = V^T A V, grown block by block.
    let mut basis = faer::Mat::<f64>::zeros(n, max_dim + b);
    let mut products = faer::Mat::<f64>::zeros(n, max_dim + b);
    let mut h = faer::Mat::<f64>::zeros(max_dim + b, max_dim + b);
    let mut k = 0;
    let mut history: Vec<f64> = Vec::new();
    let mut block = orthonormalise(basis.get(.., ..0), start);
    while block.ncols() > 0 && k < max_dim {
        let w = block.ncols();
        let image = apply(block.as_ref());
        basis.get_mut(.., k..k + w).copy_from(&block);
        products.get_mut(.., k..k + w).copy_from(&image);
        let column = basis.get(.., ..k + w).transpose() * &image;
        for i in 0..k + w {
            for j in 0..w {
                h[(i, k + j)] = column[(i, j)];
                h[(k + j, i)] = column[(i, j)];
            }
        }
        k += w;
        let hk = faer::Mat::<f64>::from_fn(k, k, |i, j| 0.5 * (h[(i, j)] + h[(j, i)]));
        let evd = hk.self_adjoint_eigen(faer::Side::Lower).ok()?;
        let vals = evd.S().column_vector();
        let (idx, theta) = (0..k)
            .map(|i| (i, vals[i]))
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))?;
        let y = evd.U().col(idx);
        let residual = products.get(.., ..k) * y - (basis.get(.., ..k) * y) * theta;
        let relative = residual.norm_l2() / theta.abs();
        if relative <= KRYLOV_TOLERANCE || k >= n {
            return Some(theta);
        }
        // Give up early when the residual's recent rate of decrease cannot reach the
        // tolerance within the budget: the dense solver is then cheaper.
        history.push(relative);
        if history.len() >= 4 {
            let rate = (history[history.len() - 1] / history[history.len() - 3]).sqrt();
            let blocks_needed = if rate < 1.0 {
                (KRYLOV_TOLERANCE / relative).ln() / rate.ln()
            } else {
                f64::INFINITY
            };
            if k as f64 + blocks_needed * b as f64 > max_dim as f64 {
                return None;
            }
        }
        block = orthonormalise(basis.get(.., ..k), image);
    }
    None
}

/// The eigenvalue of largest magnitude of a dense symmetric matrix (block Krylov).
fn largest_magnitude_eigenvalue(m: &Matrix<f64>) -> Option<f64> {
    let a = faer_ref(m.view(), false);
    krylov_largest_magnitude(m.rows, KRYLOV_MAX_DIM, |x| a * x)
}

/// lambda_min of a symmetric positive semi-definite matrix (only the lower triangle is
/// read): Cholesky factorisation (a failure means a numerically singular matrix), then a
/// block Krylov solver on the inverse; when the smallest eigenvalues are too clustered for
/// it to converge within its budget, the dense eigensolver. The Krylov path converges in a
/// few block steps when lambda_min is separated from the rest; when it sits in a dense band
/// (wide networks, MNIST) the dense path decides (`analyze` and `bench theory` say which).
pub fn smallest_eigenvalue_psd(m: &Matrix<f64>) -> SmallestEigenvalue {
    let n = m.rows;
    if n == 1 {
        return SmallestEigenvalue::Value(m.data[0]);
    }
    let a = faer_ref(m.view(), false);
    let Ok(llt) = a.llt(faer::Side::Lower) else {
        return SmallestEigenvalue::NumericallySingular;
    };
    let inverse = |x: MatRef<'_, f64>| {
        use faer::linalg::solvers::SolveCore;
        let mut y = x.to_owned();
        llt.solve_in_place_with_conj(faer::Conj::No, y.as_mut());
        y
    };
    match krylov_largest_magnitude(n, KRYLOV_MAX_DIM, inverse) {
        Some(mu) if mu > 0.0 => SmallestEigenvalue::Value(1.0 / mu),
        _ => match symmetric_eigenvalues(m) {
            Some(v) => SmallestEigenvalue::DenseValue(v[0].max(0.0)),
            None => SmallestEigenvalue::NumericallySingular,
        },
    }
}

/// ||M||_2 of a symmetric matrix: its eigenvalue of largest magnitude, in absolute value.
pub fn symmetric_spectral_norm(m: &Matrix<f64>) -> f64 {
    if m.rows == 1 {
        return m.data[0].abs();
    }
    match largest_magnitude_eigenvalue(m) {
        Some(v) => v.abs(),
        None => symmetric_eigenvalues(m)
            .map(|v| v.iter().fold(0.0f64, |a, x| a.max(x.abs())))
            .unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &Matrix<f64>, ta: bool, b: &Matrix<f64>, tb: bool) -> Matrix<f64> {
        let get = |m: &Matrix<f64>, t: bool, i: usize, j: usize| {
            if t {
                m.row(j)[i]
            } else {
                m.row(i)[j]
            }
        };
        let (r, k) = if ta {
            (a.cols, a.rows)
        } else {
            (a.rows, a.cols)
        };
        let c = if tb { b.rows } else { b.cols };
        let mut out = Matrix::zeros(r, c);
        for i in 0..r {
            for j in 0..c {
                out.row_mut(i)[j] = (0..k).map(|l| get(a, ta, i, l) * get(b, tb, l, j)).sum();
            }
        }
        out
    }

    fn random_matrix(r: usize, c: usize, seed: u64) -> Matrix<f64> {
        let mut rng = crate::rng::SeededRng::new(seed, crate::rng::Stream::Init);
        Matrix::from_vec(r, c, (0..r * c).map(|_| rng.normal()).collect())
    }

    #[test]
    fn gram_smallest_eigenvalue_and_norm_match_the_full_eigensolver() {
        for (m, k) in [(5, 8), (60, 70), (600, 650)] {
            let a = random_matrix(m, k, m as u64);
            let g = gram(a.view());
            let expect = naive(&a, false, &a, true);
            for (x, y) in g.as_slice().iter().zip(expect.as_slice()) {
                assert!((x - y).abs() < 1e-9 * (1.0 + y.abs()));
            }
            let full = symmetric_eigenvalues(&g).unwrap();
            let SmallestEigenvalue::Value(fast) = smallest_eigenvalue_psd(&g) else {
                panic!("singular")
            };
            assert!(
                (fast - full[0]).abs() < 1e-8 * full[full.len() - 1],
                "m={m}: {fast} vs {}",
                full[0]
            );
            // A shifted matrix is indefinite: its norm is the largest |eigenvalue|.
            let mut e = g.clone();
            for i in 0..m {
                e.row_mut(i)[i] -= 1.5 * full[full.len() - 1];
            }
            let ef = symmetric_eigenvalues(&e).unwrap();
            let want = ef[0].abs().max(ef[ef.len() - 1].abs());
            assert!((symmetric_spectral_norm(&e) - want).abs() < 1e-8 * want);
        }
        // Rank-deficient: 6 points in 3 dimensions.
        let a = random_matrix(6, 3, 1);
        assert_eq!(
            smallest_eigenvalue_psd(&gram(a.view())),
            SmallestEigenvalue::NumericallySingular
        );
    }

    #[test]
    fn singular_values_of_a_diagonal() {
        let m = Matrix::from_vec(2, 3, vec![3.0, 0.0, 0.0, 0.0, -4.0, 0.0]);
        assert_eq!(singular_values(&m).unwrap(), vec![4.0, 3.0]);
    }

    #[test]
    fn gemm_matches_naive_for_every_transpose() {
        let a = Matrix::from_vec(3, 4, (0..12).map(|v| (v as f64).sin()).collect());
        let b = Matrix::from_vec(4, 3, (0..12).map(|v| (v as f64 * 0.7).cos()).collect());
        let bt = Matrix::from_vec(3, 4, (0..12).map(|v| (v as f64 * 0.3).cos()).collect());
        let at = Matrix::from_vec(4, 3, (0..12).map(|v| (v as f64 * 1.3).sin()).collect());
        for (a, ta, b, tb) in [
            (&a, false, &b, false),
            (&a, false, &bt, true),
            (&at, true, &b, false),
            (&at, true, &bt, true),
        ] {
            let expect = naive(a, ta, b, tb);
            let mut got = Matrix::zeros(expect.rows(), expect.cols());
            let op = |t| if t { Op::T } else { Op::N };
            gemm(&mut got, false, a.view(), op(ta), b.view(), op(tb), 1.0);
            for (x, y) in got.as_slice().iter().zip(expect.as_slice()) {
                assert!((x - y).abs() < 1e-12);
            }
            // Accumulating adds the product once more.
            gemm(&mut got, true, a.view(), op(ta), b.view(), op(tb), 2.0);
            for (x, y) in got.as_slice().iter().zip(expect.as_slice()) {
                assert!((x - 3.0 * y).abs() < 1e-12);
            }
        }
    }
}
