//! Statistics for paired comparisons and associations: the Wilcoxon signed-rank test
//! (exact up to 25 pairs, normal approximation beyond), Spearman's rank correlation with
//! a seeded bootstrap interval, and summaries.

use crate::rng::{SeededRng, Stream};

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
    let sd = ((n * (n + 1) * (2 * n + 1)) as f64 / 24.0).sqrt();
    let z = ((w_plus - mean).abs() - 0.5).max(0.0) / sd;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::approx_constant)] // 3.14 is a data value of the scipy example
    fn wilcoxon_exact_matches_scipy() {
        // scipy.stats.wilcoxon([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30] -
        //   [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]) -> W- = 5, p = 0.0390625
        let x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
        let y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
        let d: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
        let w = wilcoxon_signed_rank(&d);
        assert_eq!(w.n, 9);
        assert_eq!(w.w_plus, 40.0);
        assert!((w.p_value - 0.0390625).abs() < 1e-12, "{}", w.p_value);
        // All ten positive: p = 2 / 2^10.
        let w = wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((w.p_value - 2.0 / 1024.0).abs() < 1e-15);
    }

    #[test]
    fn normal_approximation_is_close_to_exact_at_25() {
        let d: Vec<f64> = (1..=26)
            .map(|i| if i % 3 == 0 { -(i as f64) } else { i as f64 })
            .collect();
        let approx = wilcoxon_signed_rank(&d);
        let exact = wilcoxon_signed_rank(&d[..25]);
        assert!(!approx.exact && exact.exact);
        assert!((normal_upper_tail(1.959964) - 0.025).abs() < 1e-6);
    }

    #[test]
    fn spearman_of_monotone_data_is_one() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [1.0, 4.0, 9.0, 16.0, 100.0];
        assert!((spearman(&x, &y) - 1.0).abs() < 1e-12);
        let c = spearman_with_bootstrap(&x, &y.map(|v| -v), 200, 1);
        assert!((c.rho + 1.0).abs() < 1e-12 && c.ci_high <= -0.99);
        assert_eq!(ranks(&[3.0, 1.0, 3.0]), vec![2.5, 1.0, 2.5]);
    }
}
