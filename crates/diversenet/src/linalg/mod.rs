//! Dense linear algebra: the crate's row-major [`Matrix`], the [`Real`] scalar trait,
//! matrix products and the dense eigensolvers here; the smallest eigenvalue of a large
//! positive semi-definite matrix in `extremal` and the spectral norm in `spectral_norm`,
//! built on the block Krylov engine of `krylov` and the in-place Cholesky of `cholesky`.
//! Every call into faer lives in this module and its submodules, so that a faer upgrade
//! touches one folder.

use std::fmt::{Debug, Display};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use faer::{Accum, MatMut, MatRef, Par};

mod cholesky;
mod extremal;
mod krylov;
mod skinny;
mod spectral_norm;
mod team;
mod triangle;
pub use extremal::{
    smallest_eigenvalue_psd, smallest_eigenvalue_psd_with_stats, SmallestEigenvalue, SolverStats,
};
pub use spectral_norm::symmetric_spectral_norm;
pub(crate) use team::Team;
pub use triangle::{gram_lower, symmetrize_from_lower};

pub use crate::cancel::{Cancel, Interrupted};

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

thread_local! {
    /// Set while this thread runs one of several parallel parts of a larger job.
    static IN_PART: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every product inside it on the calling thread: for one of several parts
/// of a job that is already split over the crate's threads (a block of the training step),
/// where a product spreading over the threads again would only compete with the other
/// parts. Results are unchanged: a product's arithmetic does not depend on its threads.
pub fn as_one_part<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_PART.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(IN_PART.with(|c| c.replace(true)));
    f()
}

/// The crate's threads for work of `macs` multiply-adds; one thread below 2^24, where
/// splitting costs more than it saves (measured with `diversenet bench train`), and inside
/// [`as_one_part`].
fn parallelism_for(macs: usize) -> Par {
    if macs < PARALLEL_MIN_MACS || !may_split() {
        Par::Seq
    } else {
        parallelism()
    }
}

/// Whether work may be split over threads: the crate has more than one, and the caller is
/// not already one part of a split job ([`as_one_part`]).
fn may_split() -> bool {
    threads() > 1 && !IN_PART.with(|c| c.get())
}
const PARALLEL_MIN_MACS: usize = 1 << 24;

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

    /// [`Self::map`] on the crate's threads (element-wise: the same result), for large
    /// matrices such as a whole data set converted to the training precision.
    pub fn par_map<U: Send>(&self, f: impl Fn(&T) -> U + Sync + Send) -> Matrix<U>
    where
        T: Sync,
    {
        use rayon::prelude::*;
        Matrix {
            rows: self.rows,
            cols: self.cols,
            data: self.data.par_iter().with_min_len(1 << 14).map(f).collect(),
        }
    }

    /// Whether `f` holds for every entry, on the crate's threads: blocks of 2^16 entries in
    /// parallel, each scanned plainly (as `data::check_finite` does; a per-element parallel
    /// search is slower).
    pub fn par_all(&self, f: impl Fn(&T) -> bool + Sync + Send) -> bool
    where
        T: Sync,
    {
        use rayon::prelude::*;
        self.data
            .par_chunks(1 << 16)
            .all(|block| block.iter().all(&f))
    }
}

impl<'a, T> MatrixView<'a, T> {
    /// Views row-major `data` as `rows x cols`; panics if its length is not `rows * cols`
    /// (a programming error).
    pub fn from_slice(rows: usize, cols: usize, data: &'a [T]) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix view data length");
        Self { rows, cols, data }
    }
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

/// Whether an operand of [`gemm`] enters as itself or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    N,
    T,
}

/// `dst = alpha * op(a) * op(b) + (accumulate ? dst : 0)`, through faer's GEMM.
pub fn gemm<T: Real>(
    dst: &mut Matrix<T>,
    accumulate: bool,
    a: MatrixView<'_, T>,
    op_a: Op,
    b: MatrixView<'_, T>,
    op_b: Op,
    alpha: T,
) {
    let rows_a = if op_a == Op::T { a.cols } else { a.rows };
    let cols_b = if op_b == Op::T { b.rows } else { b.cols };
    assert_eq!(rows_a, dst.rows, "gemm: rows of op(a) and dst");
    assert_eq!(cols_b, dst.cols, "gemm: cols of op(b) and dst");
    gemm_into_rows(&mut dst.data, accumulate, a, op_a, b, op_b, alpha);
}

/// [`gemm`] into the row-major slice `dst` (op(a)'s rows times op(b)'s columns, which
/// its length must match): a block of rows of a larger matrix.
pub fn gemm_into_rows<T: Real>(
    dst: &mut [T],
    accumulate: bool,
    a: MatrixView<'_, T>,
    op_a: Op,
    b: MatrixView<'_, T>,
    op_b: Op,
    alpha: T,
) {
    let a = faer_ref(a, op_a == Op::T);
    let b = faer_ref(b, op_b == Op::T);
    assert_eq!(a.ncols(), b.nrows(), "gemm: inner dimensions");
    assert_eq!(
        a.nrows() * b.ncols(),
        dst.len(),
        "gemm: dst is not rows(op(a)) x cols(op(b))"
    );
    let accum = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    let par = parallelism_for(a.nrows() * a.ncols() * b.ncols());
    let dst = MatMut::from_row_major_slice_mut(dst, a.nrows(), b.ncols());
    faer::linalg::matmul::matmul(dst, accum, a, b, alpha, par);
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
pub fn gram<T: Real>(a: MatrixView<'_, T>) -> Matrix<T> {
    let mut dst = gram_lower(a);
    symmetrize_from_lower(&mut dst);
    dst
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

/// A matrix of standard normal entries from a seeded stream, for the tests of this module
/// and its submodules.
#[cfg(test)]
fn random_matrix(r: usize, c: usize, seed: u64) -> Matrix<f64> {
    let mut rng = crate::rng::SeededRng::new(seed, crate::rng::Stream::Init);
    Matrix::from_vec(r, c, (0..r * c).map(|_| rng.normal()).collect())
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

    #[test]
    fn gram_matches_the_naive_product() {
        for (m, k) in [(5, 8), (60, 70), (300, 650)] {
            let a = random_matrix(m, k, m as u64);
            let g = gram(a.view());
            let expect = naive(&a, false, &a, true);
            for (x, y) in g.as_slice().iter().zip(expect.as_slice()) {
                assert!((x - y).abs() < 1e-9 * (1.0 + y.abs()));
            }
        }
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

    /// `as_one_part` may keep a product on one thread only because the bits do not depend
    /// on the threads: products large enough to be split (over 2^24 multiply-adds) on the
    /// crate's threads (all cores in tests) against the same products on one.
    #[test]
    fn a_product_has_the_same_bits_on_one_thread_as_on_several() {
        let (m, k, n) = (260, 300, 240);
        assert!(m * k * n >= PARALLEL_MIN_MACS);
        let a = random_matrix(m, k, 1).map(|&v| v as f32);
        let b = random_matrix(k, n, 2).map(|&v| v as f32);
        let bt = random_matrix(n, k, 3).map(|&v| v as f32);
        for (b, op_b) in [(&b, Op::N), (&bt, Op::T)] {
            let mut split = Matrix::zeros(m, n);
            gemm(&mut split, false, a.view(), Op::N, b.view(), op_b, 1.0f32);
            let mut one = Matrix::zeros(m, n);
            as_one_part(|| gemm(&mut one, false, a.view(), Op::N, b.view(), op_b, 1.0f32));
            assert!(split
                .as_slice()
                .iter()
                .zip(one.as_slice())
                .all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(!IN_PART.with(|c| c.get()), "the flag is restored");
        }
    }
}
