//! Every quantity of the theory measured on one trained network and one data set:
//! s_m(D) and the loss bound, the kernel decomposition, and the discrepancies.

use std::time::Instant;

use crate::data::{check_finite, target_matrix, Dataset, Points};
use crate::error::{Error, Expected, Result};
use crate::linalg::{symmetric_spectral_norm, Cancel, Matrix};
use crate::model::Weights;
use crate::rng::{SeededRng, Stream};

use super::discrepancy::{
    discrepancies, monte_carlo_l2_slice_sq, unit_directions, MonteCarloEstimate,
};
use super::feature_matrix::{
    activation_pattern, loss_bound, smallest_singular_value, squared_loss_and_gradient_norm,
};
use super::kernel::{discrepancy_matrix, kernel_lambda_min, PairGeometry};
use super::measure::check_fits;

/// Default size of the Gram matrix D^T D (m c) when no point count is given.
pub const DEFAULT_GRAM_SIZE: usize = 2000;

/// Most samples of the Monte Carlo discrepancy estimate ([`AnalysisOptions::monte_carlo`]).
/// The estimate only checks the closed form L2(W)^2 (which `analyze` always computes
/// exactly); its standard error falls as 1/sqrt(samples), so 10^8 samples already give it
/// to 1e-4 of one sample's spread.
pub const MAX_MONTE_CARLO_SAMPLES: usize = 100_000_000;

/// Most work of the Monte Carlo estimate, samples x (n d + [`MONTE_CARLO_SAMPLE_COST`]): a
/// sample costs a fixed part plus a part per unit and input dimension, so this bound is a
/// few minutes of one core (timed through Python's `analyze(..., monte_carlo=N)`, the same
/// as `diversenet analyze --monte-carlo N`, at several n and d; bench/HISTORY.md has the
/// timings).
pub const MAX_MONTE_CARLO_WORK: f64 = 1e12;
/// A sample's cost apart from the units, in the same units as n d (the ratio of the fixed
/// part to the part per unit and dimension in those timings).
const MONTE_CARLO_SAMPLE_COST: f64 = 2500.0;

/// The most Monte Carlo samples accepted for n units in R^d: [`MAX_MONTE_CARLO_SAMPLES`],
/// fewer where [`MAX_MONTE_CARLO_WORK`] binds (n d above about 7500).
pub fn max_monte_carlo_samples(width: usize, dim: usize) -> usize {
    let per_sample = width as f64 * dim as f64 + MONTE_CARLO_SAMPLE_COST;
    MAX_MONTE_CARLO_SAMPLES.min((MAX_MONTE_CARLO_WORK / per_sample) as usize)
}

/// What to measure and on how many points.
#[derive(Clone, Debug, Default)]
pub struct AnalysisOptions {
    /// Points of the data used (a seeded sub-sample); `None`: [`default_points`], or all if fewer.
    pub points: Option<usize>,
    /// Use every point (overrides `points`).
    pub all_points: bool,
    /// Seed of the sub-sample and of the Monte Carlo estimate.
    pub seed: u64,
    /// Samples of the Monte Carlo discrepancy estimate (none if `None`).
    pub monte_carlo: Option<usize>,
}

impl AnalysisOptions {
    /// Refuses a Monte Carlo sample count that cannot give an estimate (fewer than 2: no
    /// standard error) or above [`max_monte_carlo_samples`] for n units in R^d.
    pub fn check(&self, width: usize, dim: usize) -> Result<()> {
        let most = max_monte_carlo_samples(width, dim);
        match self.monte_carlo {
            Some(samples) if samples < 2 => Err(Error::Config {
                setting: "monte_carlo",
                value: Some(samples.to_string()),
                expected: Expected::Described(
                    format!("{samples} samples: at least 2 are needed (for a standard error)")
                        .into(),
                ),
            }),
            Some(samples) if samples > most => Err(Error::Config {
                setting: "monte_carlo",
                value: Some(samples.to_string()),
                expected: Expected::Described(
                    format!(
                        "{samples} samples: at most {most} are accepted for {width} units in \
                     R^{dim}; the time grows as samples x (n d + 2500), about 0.2 ns each (a \
                     few minutes at the limit), while the standard error only falls as \
                     1/sqrt(samples), and L2(W)^2 is computed exactly anyway"
                    )
                    .into(),
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// The measurements (also the JSON written by `diversenet analyze`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Analysis {
    pub points_used: usize,
    pub points_total: usize,
    pub dim: usize,
    pub width: usize,
    pub outputs: usize,
    /// s_m(D): the smallest singular value of the extended feature matrix on the points.
    pub s_min: f64,
    pub s_min_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s_min_reason: Option<String>,
    pub gram_size: usize,
    /// Squared loss L = ||y - f||^2 / (2m) on the points (one-hot targets for classes),
    /// whatever loss the model was trained with: the bound is about this loss (null
    /// without targets).
    pub loss: Option<f64>,
    /// ||grad_W L||_F of that loss on the points (null without targets).
    pub grad_norm: Option<f64>,
    /// m ||grad_W L||^2 / (2 s_m(D)^2) (null when s_m(D) = 0 or without targets).
    pub bound: Option<f64>,
    /// L / bound: at most 1 up to rounding.
    pub loss_over_bound: Option<f64>,
    /// lambda_min(K) of the kernel Gram matrix on the points.
    pub lambda_min_k: f64,
    /// ||E_W||_2, the spectral norm of the slice discrepancy matrix on the points.
    pub e_w_norm: f64,
    /// lambda_min(K) - r^2 ||E_W||_2 with r^2 = max(1, max_i ||x_i||^2): a lower bound on
    /// `s_min_sq_over_n` for any points, since ||(X X^T) o E_W||_2 <= max_i ||x_i||^2
    /// ||E_W||_2 (Schur); on the sphere (r = 1, norms within 1e-12 of 1 included), the
    /// paper's lambda_min(K) - ||E_W||_2.
    pub kernel_lower_bound: f64,
    /// s_m(D)^2 / sum_k v_k^2 (= s_m(D)^2 / n for v = +/-1); single-output models only,
    /// where (1/sum v^2) D^T D = K + (X X^T) o E_W holds with weights v_k^2 / sum v^2.
    pub s_min_sq_over_n: Option<f64>,
    /// L2 slice discrepancy L2(W)^2 of the hidden units (closed form).
    pub l2_discrepancy_sq: f64,
    pub c_d: f64,
    pub hemisphere_discrepancy_sq: f64,
    pub wedge_discrepancy_sq: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monte_carlo: Option<MonteCarloEstimate>,
    /// Rows of W that are zero (no direction): left out of the discrepancies.
    pub skipped_rows: Vec<usize>,
    pub seconds: f64,
}

/// The default point count m: D^T D at most [`DEFAULT_GRAM_SIZE`] square (m c <= 2000),
/// and m c <= n d, so that D (n d x m c) can have full column rank and s_m(D) is not 0 by
/// rank alone.
pub fn default_points(dim: usize, width: usize, outputs: usize) -> usize {
    let c = outputs.max(1);
    (DEFAULT_GRAM_SIZE / c)
        .min(dim.saturating_mul(width) / c)
        .max(1)
}

/// Measures the network on the (already scaled) data set; `cancel` as [`analyze_points`].
pub fn analyze(
    net: &Weights,
    data: &Dataset,
    options: &AnalysisOptions,
    cancel: Cancel<'_>,
) -> Result<Analysis> {
    let y = target_matrix(&data.targets, net.outputs(), &data.name)?;
    let points = Points::borrowed(&data.x, &data.name)?;
    analyze_points(net, &points, Some(&y), options, cancel)
}

/// Measures the network on the points `x` (used as given) with targets `y` (m x c, one row
/// per point, one column per output); without targets the loss, ||grad_W L|| and the
/// bound are absent. `cancel` is asked during the long parts (the Monte Carlo estimate
/// after every chunk of samples, s_m(D) and lambda_min(K) between their large products and
/// eigensolver steps); it stops the analysis with [`Error::Interrupted`].
pub fn analyze_points(
    net: &Weights,
    x: &Points<'_>,
    y: Option<&Matrix<f64>>,
    options: &AnalysisOptions,
    cancel: Cancel<'_>,
) -> Result<Analysis> {
    let started = Instant::now();
    let (d, n, c) = (net.dim(), net.width(), net.outputs());
    options.check(n, d)?;
    check_fits(net, x)?;
    if let Some(y) = y {
        check_finite(y, "target", x.name())?;
        if y.rows() != x.rows() || y.cols() != c {
            return Err(Error::data(
                x.name(),
                format!(
                    "targets are {}x{}; expected {}x{c} (one row per point, one column per output)",
                    y.rows(),
                    y.cols(),
                    x.rows()
                ),
            ));
        }
    }
    let m_total = x.rows();
    let wanted = if options.all_points {
        m_total
    } else {
        options
            .points
            .unwrap_or_else(|| default_points(d, n, c))
            .min(m_total)
    };
    if wanted == 0 {
        return Err(Error::setting(
            "points",
            0,
            Expected::AtLeast {
                min: 1,
                unit: "point",
            },
        ));
    }
    crate::limits::check_analysis(wanted, d, n, c, options.monte_carlo.is_some())?;
    let (x, y) = if wanted < m_total {
        let mut order: Vec<usize> = (0..m_total).collect();
        SeededRng::new(options.seed, Stream::Sample).shuffle(&mut order);
        let mut chosen = order[..wanted].to_vec();
        chosen.sort_unstable();
        let pick = |m: &Matrix<f64>| {
            let mut out = Matrix::zeros(0, m.cols());
            out.gather_rows(m, &chosen);
            out
        };
        (pick(x), y.map(pick))
    } else {
        (Matrix::clone(x), y.cloned())
    };
    let x = &x;

    let s = smallest_singular_value(net, x, cancel)?;
    let loss_and_grad = y
        .as_ref()
        .map(|y| squared_loss_and_gradient_norm(net, x, y));
    let bound = loss_and_grad
        .filter(|_| s.value > 0.0)
        .map(|(_, grad_norm)| loss_bound(wanted, grad_norm, s.value));

    let geometry = PairGeometry::of(x, cancel)?;
    let lambda_min_k = kernel_lambda_min(&geometry, cancel)?;
    let v_sq: Vec<f64> = (0..n)
        .map(|k| (0..c).map(|j| net.v.row(j)[k].powi(2)).sum())
        .collect();
    let total: f64 = v_sq.iter().sum();
    let weights: Vec<f64> = if c == 1 && total > 0.0 {
        v_sq.iter().map(|w| w / total).collect()
    } else {
        vec![1.0 / n as f64; n]
    };
    let e_w = discrepancy_matrix(&geometry, &activation_pattern(net, x), &weights);
    let e_w_norm = symmetric_spectral_norm(&e_w);
    let largest_norm_sq = crate::geometry::largest_row_norm_sq(x);
    let schur_factor = if largest_norm_sq > 1.0 + 1e-12 {
        largest_norm_sq
    } else {
        1.0
    };
    let disc = discrepancies(&net.w)?;
    let monte_carlo = options
        .monte_carlo
        .map(|samples| monte_carlo_l2_slice_sq(&net.w, samples, options.seed, cancel))
        .transpose()?;
    Ok(Analysis {
        points_used: wanted,
        points_total: m_total,
        dim: d,
        width: n,
        outputs: c,
        s_min: s.value,
        s_min_method: s.method,
        s_min_reason: s.reason,
        gram_size: s.gram_size,
        loss: loss_and_grad.map(|(loss, _)| loss),
        grad_norm: loss_and_grad.map(|(_, grad_norm)| grad_norm),
        bound,
        loss_over_bound: loss_and_grad
            .zip(bound)
            .map(|((loss, _), b)| if b > 0.0 { loss / b } else { 0.0 }),
        lambda_min_k,
        e_w_norm,
        kernel_lower_bound: lambda_min_k - schur_factor * e_w_norm,
        s_min_sq_over_n: (c == 1 && total > 0.0).then(|| s.value * s.value / total),
        l2_discrepancy_sq: disc.l2_slice_sq,
        c_d: disc.c_d,
        hemisphere_discrepancy_sq: disc.hemisphere_sq,
        wedge_discrepancy_sq: disc.wedge_sq,
        monte_carlo,
        skipped_rows: unit_directions(&net.w).skipped_rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monte Carlo sample counts: 10^15 (days of work) and 1 (no standard error) are
    /// refused before any measurement, naming the option and the limit; the cap itself
    /// passes the check.
    #[test]
    fn monte_carlo_sample_counts_outside_the_limits_are_refused() {
        let w = Matrix::from_vec(2, 2, vec![1.0, 0.0, 0.0, 1.0]);
        let net = Weights::new(w, Matrix::from_vec(1, 2, vec![1.0, -1.0]), "net").unwrap();
        let x = Points::new(Matrix::from_vec(1, 2, vec![0.6, 0.8]), "X").unwrap();
        let with = |samples| AnalysisOptions {
            monte_carlo: Some(samples),
            ..AnalysisOptions::default()
        };
        for (samples, expected) in [
            (1_000_000_000_000_000, "at most 100000000 are accepted"),
            (1, "at least 2"),
        ] {
            let started = Instant::now();
            match analyze_points(&net, &x, None, &with(samples), Cancel::NEVER) {
                Err(Error::Config {
                    setting,
                    value,
                    expected: Expected::Described(message),
                }) => {
                    assert_eq!(setting, "monte_carlo");
                    assert_eq!(value, Some(samples.to_string()));
                    assert!(message.to_string().contains(expected), "{message}");
                }
                other => panic!("expected a refusal, got {:?}", other.map(|a| a.seconds)),
            }
            assert!(started.elapsed().as_secs_f64() < 1.0);
        }
        with(MAX_MONTE_CARLO_SAMPLES).check(2, 2).unwrap();
        assert!(with(MAX_MONTE_CARLO_SAMPLES + 1).check(2, 2).is_err());
        // n = 1000, d = 784 (164 us a sample, measured): 10^8 samples would take 4.5 hours;
        // the limit is 10^12 / (784000 + 2500) samples, about 3.5 minutes.
        assert_eq!(max_monte_carlo_samples(1000, 784), 1_271_455);
        assert!(with(1_271_455).check(1000, 784).is_ok());
        assert!(with(1_271_456).check(1000, 784).is_err());
    }
}
