//! Extremal eigenvalues of large symmetric matrices without a full eigendecomposition:
//! lambda_min of a positive semi-definite Gram matrix (s_m(D)^2 = lambda_min(D^T D) of the
//! paper's Theorem 1, lambda_min(K) of Section 4) by Cholesky shift-and-invert block Krylov,
//! and the spectral norm ||E_W||_2 by block Krylov. The dense eigensolver
//! ([`super::symmetric_eigenvalues`]) is the fallback, and the reference in tests.

use std::time::Instant;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{
    cholesky_in_place, cholesky_in_place_scratch, LltRegularization,
};
use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatRef, Side};

use super::{faer_ref, parallelism_for, symmetric_eigenvalues, Matrix};

/// Relative accuracy asked of an extremal eigenvalue: the iteration stops when the
/// estimated distance from its Ritz value to the eigenvalue is below this fraction of it
/// (the estimate runs 10 to 40 times above the true error on the Grams of `bench theory`).
const EIGENVALUE_TOLERANCE: f64 = 1e-9;
/// Vectors per block: a product or a triangular solve with 16 vectors costs little more
/// memory traffic than with one, and blocks converge in far fewer steps when the wanted
/// eigenvalue sits in a cluster (as the bottom of a wide network's feature Gram does).
const BLOCK: usize = 16;
/// Basis of the survey, the product-only pass that locates the bottom of the spectrum
/// before the shift is chosen (6 blocks: longer surveys lowered the shift on the Grams of
/// `bench theory` with m = 1500 to 5000, and cost more in the end).
const SURVEY_DIM: usize = 96;
/// Basis of the shift-and-invert pass; when it is full, the iteration restarts from the
/// best half of its Ritz vectors (thick restart), which keeps each Rayleigh-Ritz step cheap.
const SHIFT_INVERT_DIM: usize = 128;
/// Vectors the shift-and-invert pass may apply the inverse to before it hands over to the
/// dense eigensolver, at least; it may apply it to m/4 vectors of an m x m matrix, since
/// the dense solver costs O(m^3) and each vector O(m^2).
const SHIFT_INVERT_MIN_BUDGET: usize = 640;
/// Basis of the spectral-norm iteration (no restarts: it falls back to the dense solver).
const NORM_DIM: usize = 256;
/// The shift stays at least this fraction of the survey's estimate below it, so that a
/// survey that has already converged does not put the shift on the eigenvalue itself.
const MIN_SHIFT_MARGIN: f64 = 1e-3;

/// The smallest eigenvalue of a symmetric positive semi-definite matrix, or why it is 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SmallestEigenvalue {
    /// Computed by Cholesky shift-and-invert block Krylov.
    Value(f64),
    /// Computed by the dense eigensolver, after the Krylov solver would have needed more
    /// than its budget.
    DenseValue(f64),
    /// The Cholesky factorisation failed even without a shift: the matrix is numerically
    /// singular (its smallest eigenvalue is 0 up to rounding). Also the answer for a 0 x 0
    /// matrix.
    NumericallySingular,
    /// The matrix has a NaN or infinite entry.
    NonFinite,
}

impl SmallestEigenvalue {
    /// The eigenvalue, or `None` for a numerically singular or non-finite matrix.
    pub fn value(self) -> Option<f64> {
        match self {
            Self::Value(v) | Self::DenseValue(v) => Some(v),
            Self::NumericallySingular | Self::NonFinite => None,
        }
    }
    /// How it was computed: `cholesky-shift-invert`, `dense`, `singular` or `non-finite`.
    pub fn method(self) -> &'static str {
        match self {
            Self::Value(_) => "cholesky-shift-invert",
            Self::DenseValue(_) => "dense",
            Self::NumericallySingular => "singular",
            Self::NonFinite => "non-finite",
        }
    }
}

/// What [`smallest_eigenvalue_psd_with_stats`] did, for benchmarks and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct SolverStats {
    /// Products with the matrix in the survey (vectors).
    pub survey_vectors: usize,
    /// The shift sigma of the factorisation that succeeded: a proven lower bound on
    /// lambda_min (up to rounding), since M - sigma I has a Cholesky factor.
    pub shift: Option<f64>,
    /// Cholesky factorisations attempted (a failed one means lambda_min < its shift).
    pub factorisations: usize,
    /// Solves with the shifted factor (vectors).
    pub shift_invert_vectors: usize,
    /// Seconds in the survey, the factorisations, the shift-and-invert iteration and the
    /// dense fallback.
    pub survey_seconds: f64,
    pub factorisation_seconds: f64,
    pub shift_invert_seconds: f64,
    pub dense_seconds: f64,
}

/// lambda_min of a symmetric positive semi-definite matrix (both triangles stored), taken
/// by value: its storage becomes the Cholesky factor (pass a clone to keep the matrix).
/// See [`smallest_eigenvalue_psd_with_stats`] for the method.
pub fn smallest_eigenvalue_psd(m: Matrix<f64>) -> SmallestEigenvalue {
    smallest_eigenvalue_psd_with_stats(m).0
}

/// lambda_min of a symmetric positive semi-definite matrix M (both triangles stored), and
/// what it took:
/// 1. a survey: block Lanczos with products by M gives a Ritz value theta >= lambda_min and
///    residuals rho;
/// 2. a shift sigma = theta - max(rho, theta/1000), and the Cholesky factor of M - sigma I,
///    computed in M's own storage; when that fails (lambda_min < sigma), a lower shift, down
///    to sigma = 0, where a failure means M is numerically singular;
/// 3. block Krylov on (M - sigma I)^-1, whose largest eigenvalue 1/(lambda_min - sigma)
///    stands well apart from the rest even when the bottom of M's spectrum is a dense band,
///    until the estimated error of lambda_min is below 1e-9 of it;
/// 4. the dense eigensolver if that would take more than its budget.
pub fn smallest_eigenvalue_psd_with_stats(m: Matrix<f64>) -> (SmallestEigenvalue, SolverStats) {
    let budget = SHIFT_INVERT_MIN_BUDGET.max(m.rows() / 4);
    smallest_eigenvalue_with_budget(m, budget)
}

/// [`smallest_eigenvalue_psd_with_stats`] with `budget` vectors for the shift-and-invert
/// iteration.
fn smallest_eigenvalue_with_budget(
    m: Matrix<f64>,
    budget: usize,
) -> (SmallestEigenvalue, SolverStats) {
    let mut stats = SolverStats::default();
    let n = m.rows();
    if m.as_slice().iter().any(|v| !v.is_finite()) {
        return (SmallestEigenvalue::NonFinite, stats);
    }
    match n {
        0 => return (SmallestEigenvalue::NumericallySingular, stats),
        1 => return (SmallestEigenvalue::Value(m.as_slice()[0]), stats),
        _ => {}
    }
    let data = m.into_vec();
    let clock = Instant::now();
    let mut survey = BlockKrylov::new(n, SURVEY_DIM, Wanted::Smallest);
    let mut estimate: Option<Ritz> = None;
    let mut smallest_residual = f64::INFINITY;
    {
        // Column-major view of the row-major storage: M is symmetric, so it is M itself.
        let a = MatRef::from_column_major_slice(&data, n, n);
        while survey.dim() < SURVEY_DIM.min(n) {
            let Some(ritz) = survey.step(&mut |x| product(a, x)) else {
                break;
            };
            smallest_residual = smallest_residual.min(ritz.residual);
            estimate = Some(Ritz {
                residual: smallest_residual,
                ..ritz
            });
            if ritz.error_estimate() <= EIGENVALUE_TOLERANCE * ritz.value.abs() {
                break;
            }
        }
    }
    stats.survey_vectors = survey.applied;
    stats.survey_seconds = clock.elapsed().as_secs_f64();
    let start = survey.ritz_vectors(BLOCK);
    let result = factorise_and_solve(data, n, &shifts(estimate), start, budget, &mut stats);
    (result, stats)
}

/// Steps 2 to 4 of [`smallest_eigenvalue_psd_with_stats`] on `data` (n x n, symmetric):
/// tries each shift until a factorisation succeeds, then solves with it from `start`.
fn factorise_and_solve(
    mut data: Vec<f64>,
    n: usize,
    shifts: &[f64],
    start: Option<Mat<f64>>,
    budget: usize,
    stats: &mut SolverStats,
) -> SmallestEigenvalue {
    // The factorisation writes L into the column-major lower triangle (the row-major upper
    // one) and the diagonal; the row-major strict lower triangle keeps M, from which M is
    // restored with the saved diagonal.
    let diagonal: Vec<f64> = (0..n).map(|i| data[i * n + i]).collect();
    let restore = |data: &mut [f64]| {
        for i in 0..n {
            for j in 0..i {
                data[j * n + i] = data[i * n + j];
            }
            data[i * n + i] = diagonal[i];
        }
    };
    for (attempt, &sigma) in shifts.iter().enumerate() {
        if attempt > 0 {
            restore(&mut data);
        }
        let clock = Instant::now();
        stats.factorisations += 1;
        let factored = shifted_cholesky_in_place(&mut data, n, &diagonal, sigma);
        stats.factorisation_seconds += clock.elapsed().as_secs_f64();
        if !factored {
            continue;
        }
        stats.shift = Some(sigma);
        let clock = Instant::now();
        let factor = MatRef::from_column_major_slice(&data, n, n);
        let solved = shift_invert(
            factor,
            sigma,
            start,
            budget,
            &mut stats.shift_invert_vectors,
        );
        stats.shift_invert_seconds = clock.elapsed().as_secs_f64();
        if let Some(lambda) = solved {
            return SmallestEigenvalue::Value(lambda);
        }
        let clock = Instant::now();
        restore(&mut data);
        let dense = symmetric_eigenvalues(&Matrix::from_vec(n, n, data));
        stats.dense_seconds = clock.elapsed().as_secs_f64();
        return match dense {
            // The factor proves lambda_min > sigma >= 0 up to rounding.
            Some(v) => SmallestEigenvalue::DenseValue(v[0].max(sigma)),
            None => SmallestEigenvalue::NumericallySingular,
        };
    }
    SmallestEigenvalue::NumericallySingular
}

/// The shifts to try, highest first, ending with 0: from the survey's last Ritz value theta
/// and the smallest residual rho it saw, theta - max(rho, theta/1000), then a shift four
/// times as far below theta. (Bauer-Fike puts an eigenvalue within the residual of each
/// Ritz value; at the bottom of a dense band the residual of the smallest Ritz vector, a
/// mixture of many eigenvectors, wanders, and its smallest value gives the closest shift
/// that stays below lambda_min on the Grams of `bench theory`. A shift that overshoots
/// costs one failed factorisation.)
fn shifts(estimate: Option<Ritz>) -> Vec<f64> {
    let mut out = Vec::new();
    if let Some(ritz) = estimate {
        let margin = ritz.residual.max(MIN_SHIFT_MARGIN * ritz.value.abs());
        for sigma in [ritz.value - margin, ritz.value - 4.0 * margin] {
            if sigma.is_finite() && sigma > 0.0 {
                out.push(sigma);
            }
        }
    }
    out.push(0.0);
    out
}

/// Factorises M - sigma I = L L^T in place (`data`: n x n column-major, M's diagonal in
/// `diagonal`; only the lower triangle is read and written). `false` if M - sigma I is not
/// numerically positive definite.
fn shifted_cholesky_in_place(data: &mut [f64], n: usize, diagonal: &[f64], sigma: f64) -> bool {
    for i in 0..n {
        data[i * n + i] = diagonal[i] - sigma;
    }
    cholesky_lower_in_place(
        faer::MatMut::from_column_major_slice_mut(data, n, n),
        parallelism_for(n * n * n / 3),
    )
}

/// Right-looking blocked Cholesky A = L L^T that reads and writes only the lower triangle
/// of `a` (faer's own factorisation uses the strict upper triangle as workspace, where the
/// caller keeps the matrix): per panel of 256 columns (the fastest of 64 to 512 at
/// m = 2000 and 5000), faer's Cholesky of the diagonal block (on a copy), a triangular
/// solve for the panel below it and a lower-triangular rank-256 update of the rest (GEMM).
/// `false` at a non-positive pivot.
fn cholesky_lower_in_place(mut a: faer::MatMut<'_, f64>, par: faer::Par) -> bool {
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
            return false;
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
    true
}

/// lambda_min = sigma + 1/mu from block Krylov on (L L^T)^-1 = (M - sigma I)^-1, whose
/// largest eigenvalue is mu = 1/(lambda_min - sigma); `None` when the iteration would need
/// more than its budget. Counts the vectors solved for in `applied`.
fn shift_invert(
    l: MatRef<'_, f64>,
    sigma: f64,
    start: Option<Mat<f64>>,
    budget: usize,
    applied: &mut usize,
) -> Option<f64> {
    let n = l.nrows();
    let par = parallelism_for(n * n * BLOCK);
    let mut inverse = |x: MatRef<'_, f64>| {
        let mut y = x.to_owned();
        solve_lower_triangular_in_place(l, y.as_mut(), par);
        solve_upper_triangular_in_place(l.transpose(), y.as_mut(), par);
        y
    };
    let mut krylov = match start {
        Some(start) => BlockKrylov::with_start(start, SHIFT_INVERT_DIM, Wanted::Largest),
        None => BlockKrylov::new(n, SHIFT_INVERT_DIM, Wanted::Largest),
    };
    let mut last = None;
    loop {
        let step = krylov.step(&mut inverse);
        *applied = krylov.applied;
        let Some(ritz) = step else {
            // The Krylov space is invariant: the last Ritz value is an eigenvalue.
            return last;
        };
        let mu = ritz.value;
        if !(mu > 0.0 && mu.is_finite() && ritz.residual.is_finite()) {
            return None;
        }
        let lambda = sigma + 1.0 / mu;
        last = Some(lambda);
        // |mu - beta| <= e for an eigenvalue beta of the inverse maps to
        // |1/mu - 1/beta| <= e / (mu (mu - e)).
        let e = ritz.error_estimate();
        let error = if e < mu {
            e / (mu * (mu - e))
        } else {
            f64::INFINITY
        };
        let wanted = EIGENVALUE_TOLERANCE * lambda;
        if error <= wanted {
            return Some(lambda);
        }
        if krylov.applied >= budget {
            return None;
        }
    }
}

/// ||M||_2 of a symmetric matrix: its eigenvalue of largest magnitude, in absolute value
/// (block Krylov; the dense eigensolver when that does not converge within its basis).
pub fn symmetric_spectral_norm(m: &Matrix<f64>) -> f64 {
    let n = m.rows();
    if n == 1 {
        return m.as_slice()[0].abs();
    }
    let a = faer_ref(m.view(), true);
    let mut krylov = BlockKrylov::new(n, NORM_DIM, Wanted::LargestMagnitude);
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

/// `a * x` on the crate's threads (single-threaded when small).
fn product(a: MatRef<'_, f64>, x: MatRef<'_, f64>) -> Mat<f64> {
    let mut y = Mat::zeros(a.nrows(), x.ncols());
    let par = parallelism_for(a.nrows() * a.ncols() * x.ncols());
    faer::linalg::matmul::matmul(y.as_mut(), Accum::Replace, a, x, 1.0, par);
    y
}

/// Which Ritz value a Krylov iteration follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    Smallest,
    Largest,
    LargestMagnitude,
}

/// The followed Ritz value after a block step, its distance to the next Ritz value in the
/// same direction, and the residual norm ||A y - theta y|| of its unit Ritz vector y.
#[derive(Clone, Copy, Debug)]
struct Ritz {
    value: f64,
    gap: Option<f64>,
    residual: f64,
}

impl Ritz {
    /// Estimated distance from the Ritz value to the eigenvalue it approximates: at most
    /// the residual r (Bauer-Fike), and about r^2 / gap once the Ritz value stands apart
    /// from the next by more than r (Kato-Temple, with the Ritz gap in place of the
    /// spectral gap, which it approaches as the iteration converges).
    fn error_estimate(&self) -> f64 {
        let r = self.residual;
        match self.gap {
            Some(g) if g > r => r * r / g,
            _ => r,
        }
    }
}

/// Block Lanczos with full reorthogonalisation and Rayleigh-Ritz, from fixed start vectors
/// so that results repeat; restarts from its best Ritz vectors when its basis is full.
struct BlockKrylov {
    /// Orthonormal basis V (the first `dim` columns are in use).
    basis: Mat<f64>,
    /// A V, column by column.
    products: Mat<f64>,
    /// The projection H = V^T A V.
    projection: Mat<f64>,
    dim: usize,
    /// Orthonormal block, orthogonal to V, that A is applied to next; empty once the
    /// Krylov space is invariant.
    pending: Mat<f64>,
    wanted: Wanted,
    /// Vectors A has been applied to.
    applied: usize,
}

impl BlockKrylov {
    fn new(n: usize, max_dim: usize, wanted: Wanted) -> Self {
        let start = Mat::<f64>::from_fn(n, BLOCK.min(n), |i, j| {
            ((i as f64 + 1.0) * (0.618_033_988_749_895 + j as f64 * 0.414_213_562_373_095)).fract()
                - 0.5
        });
        Self::with_start(start, max_dim, wanted)
    }

    /// Starts from the columns of `start` (at most a block of them is used).
    fn with_start(start: Mat<f64>, max_dim: usize, wanted: Wanted) -> Self {
        let n = start.nrows();
        let b = start.ncols().min(n);
        let capacity = max_dim.max(2 * b).min(n);
        let start = start.get(.., ..b.min(start.ncols())).to_owned();
        let pending = orthonormalise(Mat::<f64>::zeros(n, 0).as_ref(), start);
        Self {
            basis: Mat::zeros(n, capacity),
            products: Mat::zeros(n, capacity),
            projection: Mat::zeros(capacity, capacity),
            dim: 0,
            pending,
            wanted,
            applied: 0,
        }
    }

    fn dim(&self) -> usize {
        self.dim
    }

    /// Applies A to the pending block, extends the basis and returns the new Ritz
    /// estimate; `None` once the Krylov space is invariant (the last estimate is then
    /// exact) or if the projected eigenproblem fails (non-finite input).
    fn step(&mut self, apply: &mut impl FnMut(MatRef<'_, f64>) -> Mat<f64>) -> Option<Ritz> {
        if self.pending.ncols() == 0 {
            return None;
        }
        if self.dim + self.pending.ncols() > self.basis.ncols() {
            self.restart()?;
        }
        let block = std::mem::replace(&mut self.pending, Mat::zeros(0, 0));
        let w = block.ncols();
        let image = apply(block.as_ref());
        self.applied += w;
        let (k0, k) = (self.dim, self.dim + w);
        self.basis.get_mut(.., k0..k).copy_from(&block);
        self.products.get_mut(.., k0..k).copy_from(&image);
        let column = product(self.basis.get(.., ..k).transpose(), image.as_ref());
        for j in 0..w {
            for i in 0..k0 {
                self.projection[(i, k0 + j)] = column[(i, j)];
                self.projection[(k0 + j, i)] = column[(i, j)];
            }
            for i in 0..w {
                self.projection[(k0 + i, k0 + j)] =
                    0.5 * (column[(k0 + i, j)] + column[(k0 + j, i)]);
            }
        }
        self.dim = k;
        let ritz = self.rayleigh_ritz();
        self.pending = orthonormalise(self.basis.get(.., ..k), image);
        ritz
    }

    /// The `count` best Ritz vectors (n x count), best first; `None` before the first step.
    fn ritz_vectors(&self, count: usize) -> Option<Mat<f64>> {
        if self.dim == 0 {
            return None;
        }
        let (_, vectors, order) = self.projected_eigen()?;
        let count = count.min(self.dim);
        let u = Mat::<f64>::from_fn(self.dim, count, |i, j| vectors[(i, order[j])]);
        Some(product(self.basis.get(.., ..self.dim), u.as_ref()))
    }

    /// Eigen-decomposition of the projection, with indices ordered best first.
    fn projected_eigen(&self) -> Option<(faer::Col<f64>, Mat<f64>, Vec<usize>)> {
        let k = self.dim;
        let evd = self
            .projection
            .get(..k, ..k)
            .self_adjoint_eigen(Side::Lower)
            .ok()?;
        let values = evd.S().column_vector().to_owned();
        if values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let key = |v: f64| match self.wanted {
            Wanted::Smallest => v,
            Wanted::Largest => -v,
            Wanted::LargestMagnitude => -v.abs(),
        };
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&i, &j| key(values[i]).total_cmp(&key(values[j])));
        Some((values, evd.U().to_owned(), order))
    }

    fn rayleigh_ritz(&self) -> Option<Ritz> {
        let k = self.dim;
        let (values, vectors, order) = self.projected_eigen()?;
        let best = order[0];
        let theta = values[best];
        let gap = order.get(1).map(|&i| {
            let next = values[i];
            match self.wanted {
                Wanted::Smallest => next - theta,
                Wanted::Largest => theta - next,
                Wanted::LargestMagnitude => theta.abs() - next.abs(),
            }
        });
        let y = vectors.col(best);
        let residual =
            (self.products.get(.., ..k) * y - (self.basis.get(.., ..k) * y) * theta).norm_l2();
        Some(Ritz {
            value: theta,
            gap,
            residual,
        })
    }

    /// Thick restart: keeps the best half of the Ritz vectors as the new basis (their
    /// products follow from the stored ones, and the projection becomes diagonal). The
    /// pending block is orthogonal to the old basis, hence to the new one.
    fn restart(&mut self) -> Option<()> {
        let keep = (self.basis.ncols() / 2).min(self.dim);
        let k = self.dim;
        let (values, vectors, order) = self.projected_eigen()?;
        let u = Mat::<f64>::from_fn(k, keep, |i, j| vectors[(i, order[j])]);
        let basis = product(self.basis.get(.., ..k), u.as_ref());
        let products = product(self.products.get(.., ..k), u.as_ref());
        self.basis.get_mut(.., ..keep).copy_from(&basis);
        self.products.get_mut(.., ..keep).copy_from(&products);
        for i in 0..keep {
            for j in 0..keep {
                self.projection[(i, j)] = if i == j { values[order[i]] } else { 0.0 };
            }
        }
        self.dim = keep;
        Some(())
    }
}

/// Orthonormalises the columns of `w` against `basis` and each other: two passes of block
/// Gram-Schmidt against the basis (by products), each followed by a Cholesky QR of the
/// block, or modified Gram-Schmidt where the block is nearly rank-deficient; columns that
/// lose all but 1e-10 of their norm are dropped.
fn orthonormalise(basis: MatRef<'_, f64>, mut w: Mat<f64>) -> Mat<f64> {
    let mut scale: Vec<f64> = (0..w.ncols()).map(|j| w.col(j).norm_l2()).collect();
    for _ in 0..2 {
        if w.ncols() == 0 {
            break;
        }
        if basis.ncols() > 0 {
            let coefficients = product(basis.transpose(), w.as_ref());
            w -= product(basis, coefficients.as_ref());
        }
        w = cholesky_qr(&w, &scale).unwrap_or_else(|| gram_schmidt(&w, &scale));
        scale = vec![1.0; w.ncols()];
    }
    w
}

/// Q = W R^-1 with R^T R = W^T W, when every column keeps more than 1e-4 of its norm `scale`
/// against the others (R's diagonal), so that squaring the condition number costs no
/// accuracy that the second pass does not restore; `None` otherwise.
fn cholesky_qr(w: &Mat<f64>, scale: &[f64]) -> Option<Mat<f64>> {
    let gram = product(w.transpose(), w.as_ref());
    let r = gram.llt(Side::Lower).ok()?.L().transpose().to_owned();
    if scale
        .iter()
        .enumerate()
        .any(|(j, &s)| r[(j, j)].is_nan() || r[(j, j)] <= 1e-4 * s)
    {
        return None;
    }
    let mut q = w.transpose().to_owned();
    // Q^T = R^-T W^T.
    solve_lower_triangular_in_place(r.transpose(), q.as_mut(), faer::Par::Seq);
    Some(q.transpose().to_owned())
}

/// Modified Gram-Schmidt within the block, twice per column, dropping columns that lose
/// all but 1e-10 of their norm `scale`.
fn gram_schmidt(w: &Mat<f64>, scale: &[f64]) -> Mat<f64> {
    let mut kept: Vec<faer::Col<f64>> = Vec::with_capacity(w.ncols());
    for (j, &s) in scale.iter().enumerate() {
        let mut c = w.col(j).to_owned();
        for _ in 0..2 {
            for q in &kept {
                let dot = q.transpose() * &c;
                c -= q * dot;
            }
        }
        let norm = c.norm_l2();
        if norm.is_finite() && norm > 1e-10 * s && norm > 0.0 {
            kept.push(c / norm);
        }
    }
    Mat::from_fn(w.nrows(), kept.len(), |i, j| kept[j][i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::gram;

    fn random_matrix(r: usize, c: usize, seed: u64) -> Matrix<f64> {
        let mut rng = crate::rng::SeededRng::new(seed, crate::rng::Stream::Init);
        Matrix::from_vec(r, c, (0..r * c).map(|_| rng.normal()).collect())
    }

    /// Q diag(eigenvalues) Q^T for a random orthogonal Q (QR of a Gaussian matrix).
    fn with_spectrum(eigenvalues: &[f64], seed: u64) -> Matrix<f64> {
        let n = eigenvalues.len();
        let g = random_matrix(n, n, seed);
        let q = faer_ref(g.view(), false).qr().compute_thin_Q();
        let m = &q
            * faer::Mat::from_fn(n, n, |i, j| if i == j { eigenvalues[i] } else { 0.0 })
            * q.transpose();
        Matrix::from_vec(
            n,
            n,
            (0..n * n)
                .map(|k| {
                    let (i, j) = (k / n, k % n);
                    0.5 * (m[(i, j)] + m[(j, i)])
                })
                .collect(),
        )
    }

    fn assert_close(fast: f64, reference: f64, scale: f64, what: &str) {
        assert!(
            (fast - reference).abs() <= 1e-9 * reference.abs() + 1e-12 * scale,
            "{what}: {fast} vs dense {reference}"
        );
    }

    #[test]
    fn smallest_eigenvalue_matches_the_dense_solver_on_grams() {
        // Gram matrices of Gaussian vectors: for k close to m the bottom of the spectrum
        // is a dense band (Marchenko-Pastur edge).
        for (m, k) in [(5, 8), (60, 70), (300, 900), (600, 650)] {
            let g = gram(random_matrix(m, k, m as u64).view());
            let full = symmetric_eigenvalues(&g).unwrap();
            let (result, stats) = smallest_eigenvalue_psd_with_stats(g.clone());
            let SmallestEigenvalue::Value(fast) = result else {
                panic!("m={m}: {result:?}")
            };
            assert_close(fast, full[0], full[m - 1], &format!("m={m}"));
            // The successful shift is a lower bound.
            assert!(stats.shift.unwrap() <= full[0] * (1.0 + 1e-12), "{stats:?}");
            // The dense fallback (no budget for the iteration) restores the matrix that
            // the factorisation overwrote.
            let (result, stats) = smallest_eigenvalue_with_budget(g, 0);
            if m >= 300 {
                assert_eq!(result.method(), "dense", "m={m}: {stats:?}");
            }
            assert_close(
                result.value().unwrap(),
                full[0],
                full[m - 1],
                &format!("m={m}, dense"),
            );
        }
    }

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
            assert!(cholesky_lower_in_place(a.as_mut(), parallelism_for(0)));
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
        assert!(!cholesky_lower_in_place(
            indefinite.as_mut(),
            parallelism_for(0)
        ));
    }

    #[test]
    fn a_shift_above_lambda_min_is_retried_lower() {
        // A failed factorisation overwrites part of the matrix; the next shift must see
        // the matrix restored.
        let g = gram(random_matrix(300, 900, 5).view());
        let full = symmetric_eigenvalues(&g).unwrap();
        let n = g.rows();
        for shifts in [
            vec![full[0] + 1.0, 0.5 * full[0]],
            vec![full[5], full[0] + 1e-3, 0.0],
        ] {
            let mut stats = SolverStats::default();
            let result =
                factorise_and_solve(g.clone().into_vec(), n, &shifts, None, 640, &mut stats);
            assert_eq!(stats.factorisations, shifts.len(), "{shifts:?}");
            assert_eq!(stats.shift, Some(shifts[shifts.len() - 1]));
            assert_close(result.value().unwrap(), full[0], full[n - 1], "retried");
        }
        // Every shift fails: numerically singular.
        let mut stats = SolverStats::default();
        let result =
            factorise_and_solve(g.into_vec(), n, &[full[3], full[1]], None, 640, &mut stats);
        assert_eq!(result, SmallestEigenvalue::NumericallySingular);
    }

    #[test]
    fn smallest_eigenvalue_on_prescribed_spectra() {
        let n = 400;
        let cases: Vec<(&str, Vec<f64>)> = vec![
            // Isolated and tiny: the old inverse-Krylov regime.
            (
                "isolated",
                (0..n)
                    .map(|i| if i == 0 { 1e-6 } else { 1.0 + i as f64 })
                    .collect(),
            ),
            // A dense band at the bottom with a tiny gap.
            (
                "band",
                (0..n)
                    .map(|i| 10.0 + 1e-4 * i as f64 + (i as f64).powi(2) * 1e-3)
                    .collect(),
            ),
            // lambda_min with multiplicity 20 (more than a block).
            (
                "multiple",
                (0..n)
                    .map(|i| if i < 20 { 2.0 } else { 3.0 + i as f64 })
                    .collect(),
            ),
            // Graded over 12 orders of magnitude.
            (
                "graded",
                (0..n)
                    .map(|i| 10f64.powf(-8.0 + 12.0 * i as f64 / n as f64))
                    .collect(),
            ),
            // The identity: every vector is an eigenvector.
            ("identity", vec![1.0; n]),
        ];
        for (name, spectrum) in cases {
            let m = with_spectrum(&spectrum, 7);
            let want = spectrum.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = spectrum.iter().cloned().fold(0.0, f64::max);
            let dense = symmetric_eigenvalues(&m).unwrap()[0];
            let (result, stats) = smallest_eigenvalue_psd_with_stats(m);
            let SmallestEigenvalue::Value(fast) = result else {
                panic!("{name}: {result:?} {stats:?}")
            };
            // Against the dense solver and against the prescribed value (which the
            // construction reproduces only to about 1e-13 of the largest eigenvalue).
            assert_close(fast, dense, max, name);
            assert!(
                (fast - want).abs() <= 1e-9 * want + 1e-12 * max,
                "{name}: {fast} vs {want}"
            );
        }
    }

    #[test]
    fn singular_and_tiny_matrices() {
        // Rank-deficient: 6 points in 3 dimensions.
        let a = random_matrix(6, 3, 1);
        assert_eq!(
            smallest_eigenvalue_psd(gram(a.view())),
            SmallestEigenvalue::NumericallySingular
        );
        // Rank-deficient and larger than the survey: 300 points in 100 dimensions.
        let a = random_matrix(300, 100, 2);
        assert_eq!(
            smallest_eigenvalue_psd(gram(a.view())),
            SmallestEigenvalue::NumericallySingular
        );
        assert_eq!(
            smallest_eigenvalue_psd(Matrix::from_vec(1, 1, vec![2.5])),
            SmallestEigenvalue::Value(2.5)
        );
        assert_eq!(
            smallest_eigenvalue_psd(Matrix::zeros(0, 0)),
            SmallestEigenvalue::NumericallySingular
        );
        assert_eq!(symmetric_spectral_norm(&Matrix::zeros(0, 0)), 0.0);
        let two = Matrix::from_vec(2, 2, vec![2.0, 1.0, 1.0, 2.0]);
        let v = smallest_eigenvalue_psd(two).value().unwrap();
        assert!((v - 1.0).abs() < 1e-12, "{v}");
    }

    #[test]
    fn non_finite_input_is_not_a_value() {
        let mut g = gram(random_matrix(50, 60, 3).view());
        g.row_mut(3)[3] = f64::NAN;
        assert_eq!(smallest_eigenvalue_psd(g), SmallestEigenvalue::NonFinite);
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
