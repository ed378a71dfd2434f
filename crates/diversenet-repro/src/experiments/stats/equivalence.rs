//! One-sided t-tests and the two one-sided tests (TOST) of equivalence of a paired mean
//! difference within a margin (Schuirmann 1987): equivalence at level alpha is shown when
//! both one-sided nulls (mean <= -margin, mean >= +margin) are rejected, i.e. when the
//! 1 - 2 alpha interval of the mean lies inside (-margin, +margin).

use super::{mean_interval_at, mean_sd, student_t_cdf};

/// One-sided p-value of the one-sample t-test of `x` against `mu`: alternative mean > mu
/// (`greater`) or mean < mu. With zero spread it is 0 or 1 (the sign of mean - mu decides);
/// 1 with fewer than 2 values.
pub fn one_sided_t_p(x: &[f64], mu: f64, greater: bool) -> f64 {
    let (mean, sd) = mean_sd(x);
    let n = x.len();
    let sign = if greater { 1.0 } else { -1.0 };
    if n < 2 || !mean.is_finite() {
        return 1.0;
    }
    if sd == 0.0 {
        return if (mean - mu) * sign > 0.0 { 0.0 } else { 1.0 };
    }
    let t = (mean - mu) / (sd / (n as f64).sqrt());
    1.0 - student_t_cdf(sign * t, (n - 1) as f64)
}

/// TOST of a mean difference against the margin +-`margin`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Tost {
    pub margin: f64,
    pub mean: f64,
    /// p of H0: mean <= -margin (against mean > -margin).
    pub p_lower: f64,
    /// p of H0: mean >= +margin (against mean < +margin).
    pub p_upper: f64,
    /// max(p_lower, p_upper): equivalence is shown at level alpha when p < alpha.
    pub p: f64,
    /// The 90% t interval of the mean (inside +-margin exactly when p < 0.05).
    pub ci90_low: f64,
    pub ci90_high: f64,
}

impl Tost {
    pub fn equivalent(&self, alpha: f64) -> bool {
        self.p < alpha
    }
}

/// TOST of the paired differences `x` within +-`margin` (margin > 0).
pub fn tost(x: &[f64], margin: f64) -> Tost {
    let p_lower = one_sided_t_p(x, -margin, true);
    let p_upper = one_sided_t_p(x, margin, false);
    let ci90 = mean_interval_at(x, 0.90);
    Tost {
        margin,
        mean: ci90.mean,
        p_lower,
        p_upper,
        p: p_lower.max(p_upper),
        ci90_low: ci90.low,
        ci90_high: ci90.high,
    }
}
