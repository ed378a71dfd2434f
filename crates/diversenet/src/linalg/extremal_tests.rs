//! Tests of the extremal eigensolver: against the dense solver on Grams, prescribed and
//! random spectra, retried shifts, interruption.

use super::*;
use std::cell::Cell;

use crate::linalg::{faer_ref, gram, random_matrix};

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
        let (result, stats) = smallest_eigenvalue_psd_with_stats(g.clone(), Cancel::NEVER).unwrap();
        let SmallestEigenvalue::Value(fast) = result else {
            panic!("m={m}: {result:?}")
        };
        assert_close(fast, full[0], full[m - 1], &format!("m={m}"));
        // The successful shift is a lower bound.
        assert!(stats.shift.unwrap() <= full[0] * (1.0 + 1e-12), "{stats:?}");
        // The dense fallback (no budget for the iteration) restores the matrix that
        // the factorisation overwrote.
        let (result, stats) = smallest_eigenvalue_with_budget(g, 0, Cancel::NEVER).unwrap();
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
            factorise_and_solve(g.clone(), &shifts, None, 640, &mut stats, Cancel::NEVER).unwrap();
        assert_eq!(stats.factorisations, shifts.len(), "{shifts:?}");
        assert_eq!(stats.shift, Some(shifts[shifts.len() - 1]));
        assert_close(result.value().unwrap(), full[0], full[n - 1], "retried");
    }
    // Every shift fails: numerically singular.
    let mut stats = SolverStats::default();
    let result =
        factorise_and_solve(g, &[full[3], full[1]], None, 640, &mut stats, Cancel::NEVER).unwrap();
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
        let (result, stats) = smallest_eigenvalue_psd_with_stats(m, Cancel::NEVER).unwrap();
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
fn ill_conditioned_clustered_bottoms_meet_the_relative_tolerance() {
    // Condition numbers 1e4 to 1e6 with a cluster of 30 eigenvalues at the bottom
    // (relative spread 1e-3 to 1e-1): the dense solver is accurate to about
    // 1e-16 cond relative; the answer must be within 1e-9 of it, relatively.
    let n = 500;
    for (case, (cond, spread)) in [(1e4, 1e-3), (1e5, 1e-2), (1e6, 1e-1), (3e5, 1e-4)]
        .into_iter()
        .enumerate()
    {
        let low = 1.0 / cond;
        let spectrum: Vec<f64> = (0..n)
            .map(|i| {
                if i < 30 {
                    low * (1.0 + spread * i as f64 / 30.0)
                } else {
                    low * 2.0 + (i as f64 / n as f64).powi(3)
                }
            })
            .collect();
        let m = with_spectrum(&spectrum, 11 + case as u64);
        let dense = symmetric_eigenvalues(&m).unwrap()[0];
        let (result, stats) = smallest_eigenvalue_psd_with_stats(m, Cancel::NEVER).unwrap();
        let fast = result.value().unwrap();
        assert!(
            (fast - dense).abs() <= 1e-9 * dense,
            "cond {cond:e}, spread {spread:e}: {fast} vs dense {dense} ({stats:?})"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]
    /// Random sizes and spectra (spread, graded, clustered at the bottom, repeated):
    /// the answer is the dense solver's, and the successful shift is below it.
    #[test]
    fn smallest_eigenvalue_on_random_spectra(
        n in 2usize..260,
        kind in 0usize..4,
        seed in 0u64..1000,
    ) {
        let mut rng = crate::rng::SeededRng::new(seed, crate::rng::Stream::Sample);
        let spectrum: Vec<f64> = (0..n)
            .map(|i| match kind {
                0 => 0.1 + rng.uniform(),
                1 => 10f64.powf(-6.0 * rng.uniform()),
                2 => 1.0 + 1e-3 * rng.uniform() + (i as f64 / n as f64).powi(2),
                _ => 1.0 + (i % 3) as f64,
            })
            .collect();
        let m = with_spectrum(&spectrum, seed);
        let dense = symmetric_eigenvalues(&m).unwrap();
        let (result, stats) = smallest_eigenvalue_psd_with_stats(m, Cancel::NEVER).unwrap();
        let fast = result.value().unwrap();
        proptest::prop_assert!(
            (fast - dense[0]).abs() <= 1e-9 * dense[0] + 1e-12 * dense[n - 1],
            "{fast} vs {} ({result:?}, {stats:?})", dense[0]
        );
        if let Some(shift) = stats.shift {
            proptest::prop_assert!(shift <= dense[0] * (1.0 + 1e-12), "{stats:?}");
        }
    }
}

/// The solver asks before each survey step, each factorisation panel and each
/// shift-and-invert step; stopped at any ask it returns `Interrupted` at once, and a
/// caller that never stops it gets the same answer as without asking.
#[test]
fn an_interrupted_solve_stops_at_the_ask() {
    let g = gram(random_matrix(600, 650, 8).view());
    let asks = Cell::new(0);
    let never = || {
        asks.set(asks.get() + 1);
        false
    };
    let (result, stats) =
        smallest_eigenvalue_psd_with_stats(g.clone(), Cancel::when(&never)).unwrap();
    assert_eq!((result, stats.shift), {
        let (r, s) = smallest_eigenvalue_psd_with_stats(g.clone(), Cancel::NEVER).unwrap();
        (r, s.shift)
    });
    // Six survey steps, three panels of 256 columns, one ask per solve step.
    let steps = stats.shift_invert_vectors.div_ceil(SHIFT_INVERT_BLOCK);
    let asks = asks.get();
    assert_eq!(asks, SURVEY_DIM / BLOCK + 3 + steps, "{stats:?}");
    for stop in [1, SURVEY_DIM / BLOCK + 2, asks] {
        let count = Cell::new(0);
        let stop_here = || {
            count.set(count.get() + 1);
            count.get() == stop
        };
        let outcome = smallest_eigenvalue_psd_with_stats(g.clone(), Cancel::when(&stop_here));
        assert_eq!(outcome.err(), Some(Interrupted), "stop at ask {stop}");
        assert_eq!(count.get(), stop);
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
