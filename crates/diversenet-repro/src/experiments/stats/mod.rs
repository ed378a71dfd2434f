//! Statistics for paired comparisons and associations: the Wilcoxon signed-rank test
//! (exact up to 25 pairs, normal approximation with tie and continuity corrections beyond,
//! as scipy's `wilcoxon(..., method="approx", correction=True)`), Student's t interval of a
//! mean, Holm's step-down correction for multiple comparisons, Spearman's rank correlation
//! with a seeded bootstrap interval, and a stratified Spearman statistic (Fisher-z pooling
//! of within-group correlations); equivalence tests (TOST) and one-sided t-tests
//! (`equivalence`); exact binomial tests (McNemar's, the sign test) and the
//! distribution-free interval of a median (`counts`); log-log fits (`fit`).

use diversenet::rng::{SeededRng, Stream};

/// Mean and sample standard deviation.
pub fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if x.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = x.iter().sum::<f64>() / n;
    let var = if x.len() > 1 {
        x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Ranks 1..n with ties given their average rank.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Result of a Wilcoxon signed-rank test on paired differences.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Wilcoxon {
    /// Pairs with a non-zero difference (zeros are dropped).
    pub n: usize,
    /// Sum of the ranks of the positive differences.
    pub w_plus: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    pub exact: bool,
}

/// Two-sided Wilcoxon signed-rank test of the differences `d` against 0.
pub fn wilcoxon_signed_rank(d: &[f64]) -> Wilcoxon {
    let nz: Vec<f64> = d
        .iter()
        .copied()
        .filter(|v| *v != 0.0 && v.is_finite())
        .collect();
    let n = nz.len();
    if n == 0 {
        return Wilcoxon {
            n,
            w_plus: 0.0,
            p_value: 1.0,
            exact: true,
        };
    }
    let r = ranks(&nz.iter().map(|v| v.abs()).collect::<Vec<_>>());
    let w_plus: f64 = r
        .iter()
        .zip(&nz)
        .filter(|(_, v)| **v > 0.0)
        .map(|(r, _)| r)
        .sum();
    let total = (n * (n + 1)) as f64 / 2.0;
    if n <= 25 {
        // Exact null distribution of W+ over the 2^n sign patterns, on doubled ranks
        // (integers even with ties).
        let doubled: Vec<usize> = r.iter().map(|v| (2.0 * v).round() as usize).collect();
        let max: usize = doubled.iter().sum();
        let mut counts = vec![0f64; max + 1];
        counts[0] = 1.0;
        for &rk in &doubled {
            for s in (rk..=max).rev() {
                counts[s] += counts[s - rk];
            }
        }
        let all: f64 = counts.iter().sum();
        let observed = (2.0 * w_plus).round() as usize;
        let mirrored = max - observed;
        let (lo, hi) = (observed.min(mirrored), observed.max(mirrored));
        let tail: f64 = counts[..=lo].iter().sum::<f64>() + counts[hi..].iter().sum::<f64>();
        let p = if lo == hi { 1.0 } else { tail / all };
        return Wilcoxon {
            n,
            w_plus,
            p_value: p.min(1.0),
            exact: true,
        };
    }
    let mean = total / 2.0;
    // Ties shrink the variance of W+: sum over tie groups of (t^3 - t) / 48.
    let abs_ranks = {
        let mut v = r.clone();
        v.sort_by(f64::total_cmp);
        v
    };
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < abs_ranks.len() {
        let j = abs_ranks[i..]
            .iter()
            .take_while(|v| **v == abs_ranks[i])
            .count();
        let t = j as f64;
        tie_term += t * t * t - t;
        i += j;
    }
    let variance = (n * (n + 1) * (2 * n + 1)) as f64 / 24.0 - tie_term / 48.0;
    let z = ((w_plus - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    Wilcoxon {
        n,
        w_plus,
        p_value: (2.0 * normal_upper_tail(z)).min(1.0),
        exact: false,
    }
}

/// P(Z > z) for a standard normal (Abramowitz-Stegun 7.1.26 erfc, error < 1.5e-7).
pub fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    0.5 * erfc
}

/// Pearson correlation.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let (mx, _) = mean_sd(x);
    let (my, _) = mean_sd(y);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// Spearman's rank correlation.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Spearman's rho with a 95% percentile bootstrap interval over `resamples` seeded
/// resamples of the pairs.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Correlation {
    pub rho: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: usize,
}

pub fn spearman_with_bootstrap(x: &[f64], y: &[f64], resamples: usize, seed: u64) -> Correlation {
    let n = x.len();
    let rho = spearman(x, y);
    let mut rng = SeededRng::new(seed, Stream::Sample);
    let mut boot: Vec<f64> = (0..resamples)
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
            let bx: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
            let by: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
            spearman(&bx, &by)
        })
        .filter(|v| v.is_finite())
        .collect();
    boot.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if boot.is_empty() {
            f64::NAN
        } else {
            boot[((boot.len() - 1) as f64 * p).round() as usize]
        }
    };
    Correlation {
        rho,
        ci_low: q(0.025),
        ci_high: q(0.975),
        n,
    }
}

/// log Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error about 1e-15).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let a = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |acc, (k, c)| acc + c / (x + k as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function I_x(a, b) (continued fraction, Lentz).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(b, a, 1.0 - x);
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp() / a;
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    d = 1.0 / if d.abs() < tiny { tiny } else { d };
    let mut f = d;
    for m in 1..300 {
        let m = m as f64;
        for numerator in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + numerator * d;
            d = 1.0 / if d.abs() < tiny { tiny } else { d };
            c = 1.0 + numerator / c;
            c = if c.abs() < tiny { tiny } else { c };
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f
}

/// P(T <= t) for Student's t with `df` degrees of freedom.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (bisection on the CDF).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (-1e4, 1e4);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// A mean with its 95% Student t interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct MeanInterval {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    pub n: usize,
}

/// The mean of `x` and its 95% interval mean ± t_(0.975, n-1) sd / sqrt(n) (NaN bounds
/// for fewer than 2 values).
pub fn mean_interval(x: &[f64]) -> MeanInterval {
    mean_interval_at(x, 0.95)
}

/// The mean of `x` and its two-sided t interval at `level`.
pub fn mean_interval_at(x: &[f64], level: f64) -> MeanInterval {
    let (mean, sd) = mean_sd(x);
    let n = x.len();
    let half = if n >= 2 {
        student_t_quantile(0.5 + level / 2.0, (n - 1) as f64) * sd / (n as f64).sqrt()
    } else {
        f64::NAN
    };
    MeanInterval {
        mean,
        low: mean - half,
        high: mean + half,
        n,
    }
}

/// Holm's step-down adjusted p-values (same order as `p`): the k-th smallest is
/// multiplied by (m - k + 1), made monotone, and capped at 1.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Within-group Spearman correlations pooled into one statistic.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Stratified {
    /// tanh of the (n_g - 3)-weighted mean of the groups' Fisher z = atanh(rho_g).
    pub rho: f64,
    /// 95% interval, with the standard error sqrt(1.06 / sum(n_g - 3)) of Fieller et al.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Two-sided p-value of the pooled z against 0.
    pub p_value: f64,
    /// Groups used (those with at least 4 points and a finite correlation).
    pub groups: usize,
    pub n: usize,
}

/// Pools the Spearman correlations of several groups of (x, y) pairs (a group with fewer
/// than 4 points or a constant variable is left out).
pub fn stratified_spearman(groups: &[(Vec<f64>, Vec<f64>)]) -> Stratified {
    let (mut num, mut den, mut used, mut n) = (0.0, 0.0, 0, 0);
    for (x, y) in groups {
        let rho = spearman(x, y);
        if x.len() < 4 || !rho.is_finite() {
            continue;
        }
        let weight = x.len() as f64 - 3.0;
        num += weight * rho.clamp(-0.999_999, 0.999_999).atanh();
        den += weight;
        used += 1;
        n += x.len();
    }
    if used == 0 {
        return Stratified {
            rho: f64::NAN,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            p_value: f64::NAN,
            groups: 0,
            n: 0,
        };
    }
    let z = num / den;
    let se = (1.06 / den).sqrt();
    let q = 1.959_963_984_540_054;
    Stratified {
        rho: z.tanh(),
        ci_low: (z - q * se).tanh(),
        ci_high: (z + q * se).tanh(),
        p_value: (2.0 * normal_upper_tail(z.abs() / se)).min(1.0),
        groups: used,
        n,
    }
}

mod counts;
mod equivalence;
mod fit;

pub use counts::{
    binomial_cdf, clopper_pearson, mcnemar_exact, median_interval, paired_difference_interval,
    sign_test, MedianInterval,
};
pub use equivalence::{one_sided_t_p, tost, Tost};
pub use fit::{crossing, log_log_fit, LogLogFit};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
