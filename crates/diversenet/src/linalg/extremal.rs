//! Extremal eigenvalues of large symmetric matrices without a full eigendecomposition:
//! lambda_min of a positive semi-definite Gram matrix (s_m(D)^2 = lambda_min(D^T D) of the
//! paper's Theorem 1, lambda_min(K) of Section 4) by Cholesky shift-and-invert block Krylov
//! (the spectral norm ||E_W||_2 is in `spectral_norm`). The dense eigensolver
//! ([`super::symmetric_eigenvalues`]) is the fallback, and the reference in tests.

use std::time::Instant;

use faer::{Mat, MatRef};

use super::cholesky::cholesky_lower_in_place;
use super::krylov::{BlockKrylov, Ritz, Wanted, BLOCK, EIGENVALUE_TOLERANCE};
use super::skinny::{cholesky_solve, symmetric_product};
use super::{
    parallelism_for, symmetric_eigenvalues, symmetrize_from_lower, Cancel, Interrupted, Matrix,
};

/// Basis of the survey, the product-only pass that locates the bottom of the spectrum
/// before the shift is chosen (6 blocks: a longer survey lowers the shift and leaves fewer
/// vectors to solve for, but past this size it costs more than it saves; a shorter one
/// leaves more solves. `diversenet bench theory --points 2000` prints the survey's and the
/// shift-and-invert pass's vectors and seconds that this choice trades).
const SURVEY_DIM: usize = 96;
/// Vectors per block of the shift-and-invert pass. A solve streams the whole factor from
/// memory twice whatever the block (up to the 8 vectors of one group of `skinny`'s
/// kernels, on one thread; 16 run as two groups on two threads, which share the memory
/// bandwidth), so a step costs about the same for 1 to 8 vectors, and the fewest steps win.
/// Larger blocks take fewer steps but solve for more vectors in all; blocks of 4 (started
/// from the block's worth of the survey's best Ritz vectors, solved in `skinny`'s 4-lane
/// groups) gave the shortest pass at m = 2000 and were level with 16 at larger m
/// (`diversenet bench theory --points 2000,5000,10000` times the pass; bench/HISTORY.md
/// has the block sizes compared).
const SHIFT_INVERT_BLOCK: usize = 4;
/// Basis of the shift-and-invert pass; when it is full, the iteration restarts from the
/// best half of its Ritz vectors (thick restart), which keeps each Rayleigh-Ritz step cheap.
/// (A larger basis took no fewer vectors at m = 2000 with blocks of 4 and was no faster:
/// `diversenet bench theory --points 2000` times the pass.)
const SHIFT_INVERT_DIM: usize = 32;
/// Steps (blocks solved for) the shift-and-invert pass may take before it hands over to the
/// dense eigensolver, at least; it may take m/64 steps for an m x m matrix, since the dense
/// solver costs O(m^3) and each step O(m^2), whatever its block.
const SHIFT_INVERT_MIN_STEPS: usize = 40;
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
/// The value alone, never stopped early; see [`smallest_eigenvalue_psd_with_stats`] for the
/// method, what it took, and stopping it.
pub fn smallest_eigenvalue_psd(m: Matrix<f64>) -> SmallestEigenvalue {
    match smallest_eigenvalue_psd_with_stats(m, Cancel::NEVER) {
        Ok((value, _)) => value,
        Err(Interrupted) => unreachable!("Cancel::NEVER never stops"),
    }
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
///
/// `cancel` is asked before each Krylov step and each panel of the factorisation (the dense
/// fallback, which is faer's, is not asked); it stops the solver with [`Interrupted`].
pub fn smallest_eigenvalue_psd_with_stats(
    m: Matrix<f64>,
    cancel: Cancel<'_>,
) -> Result<(SmallestEigenvalue, SolverStats), Interrupted> {
    let budget = SHIFT_INVERT_BLOCK * SHIFT_INVERT_MIN_STEPS.max(m.rows() / 64);
    smallest_eigenvalue_with_budget(m, budget, cancel)
}

/// [`smallest_eigenvalue_psd_with_stats`] with `budget` vectors for the shift-and-invert
/// iteration.
fn smallest_eigenvalue_with_budget(
    m: Matrix<f64>,
    budget: usize,
    cancel: Cancel<'_>,
) -> Result<(SmallestEigenvalue, SolverStats), Interrupted> {
    let mut stats = SolverStats::default();
    let n = m.rows();
    if !m.par_all(|v| v.is_finite()) {
        return Ok((SmallestEigenvalue::NonFinite, stats));
    }
    match n {
        0 => return Ok((SmallestEigenvalue::NumericallySingular, stats)),
        1 => return Ok((SmallestEigenvalue::Value(m.as_slice()[0]), stats)),
        _ => {}
    }
    let clock = Instant::now();
    let mut survey = BlockKrylov::new(n, BLOCK, SURVEY_DIM, Wanted::Smallest);
    let mut estimate: Option<Ritz> = None;
    let mut smallest_residual = f64::INFINITY;
    {
        while survey.dim() < SURVEY_DIM.min(n) {
            cancel.check()?;
            let Some(ritz) = survey.step(&mut |x| symmetric_product(m.as_slice(), n, x)) else {
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
    let start = survey.ritz_vectors(SHIFT_INVERT_BLOCK);
    let result = factorise_and_solve(m, &shifts(estimate), start, budget, &mut stats, cancel)?;
    Ok((result, stats))
}

/// Steps 2 to 4 of [`smallest_eigenvalue_psd_with_stats`] on M (symmetric, both triangles):
/// tries each shift until a factorisation succeeds, then solves with it from `start`.
fn factorise_and_solve(
    mut m: Matrix<f64>,
    shifts: &[f64],
    start: Option<Mat<f64>>,
    budget: usize,
    stats: &mut SolverStats,
    cancel: Cancel<'_>,
) -> Result<SmallestEigenvalue, Interrupted> {
    // The factorisation writes L into the column-major lower triangle (the row-major upper
    // one) and the diagonal; the row-major strict lower triangle keeps M, from which M is
    // restored with the saved diagonal.
    let n = m.rows();
    let diagonal: Vec<f64> = (0..n).map(|i| m.row(i)[i]).collect();
    let restore = |m: &mut Matrix<f64>| {
        symmetrize_from_lower(m);
        for (i, &d) in diagonal.iter().enumerate() {
            m.row_mut(i)[i] = d;
        }
    };
    for (attempt, &sigma) in shifts.iter().enumerate() {
        if attempt > 0 {
            restore(&mut m);
        }
        let clock = Instant::now();
        stats.factorisations += 1;
        let factored = shifted_cholesky_in_place(m.as_mut_slice(), n, &diagonal, sigma, cancel)?;
        stats.factorisation_seconds += clock.elapsed().as_secs_f64();
        if !factored {
            continue;
        }
        stats.shift = Some(sigma);
        let clock = Instant::now();
        let solved = shift_invert(
            m.as_slice(),
            n,
            sigma,
            start,
            budget,
            &mut stats.shift_invert_vectors,
            cancel,
        )?;
        stats.shift_invert_seconds = clock.elapsed().as_secs_f64();
        if let Some(lambda) = solved {
            return Ok(SmallestEigenvalue::Value(lambda));
        }
        let clock = Instant::now();
        restore(&mut m);
        let dense = symmetric_eigenvalues(&m);
        stats.dense_seconds = clock.elapsed().as_secs_f64();
        return Ok(match dense {
            // The factor proves lambda_min > sigma >= 0 up to rounding.
            Some(v) => SmallestEigenvalue::DenseValue(v[0].max(sigma)),
            None => SmallestEigenvalue::NumericallySingular,
        });
    }
    Ok(SmallestEigenvalue::NumericallySingular)
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
fn shifted_cholesky_in_place(
    data: &mut [f64],
    n: usize,
    diagonal: &[f64],
    sigma: f64,
    cancel: Cancel<'_>,
) -> Result<bool, Interrupted> {
    for i in 0..n {
        data[i * n + i] = diagonal[i] - sigma;
    }
    cholesky_lower_in_place(
        faer::MatMut::from_column_major_slice_mut(data, n, n),
        parallelism_for(n * n * n / 3),
        cancel,
    )
}

/// lambda_min = sigma + 1/mu from block Krylov on (L L^T)^-1 = (M - sigma I)^-1, whose
/// largest eigenvalue is mu = 1/(lambda_min - sigma); `None` when the iteration would need
/// more than its budget. `factor`: n x n, L column-major in its lower triangle (that is,
/// L^T in the row-major upper one). Counts the vectors solved for in `applied`; asks
/// `cancel` before each step.
fn shift_invert(
    factor: &[f64],
    n: usize,
    sigma: f64,
    start: Option<Mat<f64>>,
    budget: usize,
    applied: &mut usize,
    cancel: Cancel<'_>,
) -> Result<Option<f64>, Interrupted> {
    let mut inverse = |x: MatRef<'_, f64>| cholesky_solve(factor, n, x);
    let mut krylov = match start {
        Some(start) => BlockKrylov::with_start(start, SHIFT_INVERT_DIM, Wanted::Largest),
        None => BlockKrylov::new(n, SHIFT_INVERT_BLOCK, SHIFT_INVERT_DIM, Wanted::Largest),
    };
    let mut last = None;
    loop {
        cancel.check()?;
        let step = krylov.step(&mut inverse);
        *applied = krylov.applied;
        let Some(ritz) = step else {
            // The Krylov space is invariant: the last Ritz value is an eigenvalue.
            return Ok(last);
        };
        let mu = ritz.value;
        if !(mu > 0.0 && mu.is_finite() && ritz.residual.is_finite()) {
            return Ok(None);
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
            return Ok(Some(lambda));
        }
        if krylov.applied >= budget {
            return Ok(None);
        }
    }
}

#[cfg(test)]
#[path = "extremal_tests.rs"]
mod tests;
