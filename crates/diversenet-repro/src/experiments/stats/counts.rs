//! Exact tests on counts: the binomial distribution's CDF, McNemar's exact test of paired
//! binary outcomes and the sign test (both exact binomial tests at p = 1/2, as scipy's
//! `binomtest`), and the distribution-free interval of a median from order statistics (as
//! scipy's `quantile_test(...).confidence_interval()`).

use super::ln_gamma;

/// P(B <= k) for B ~ Binomial(n, p) (summed in log space; exact to rounding).
pub fn binomial_cdf(k: usize, n: usize, p: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    let ln_choose = |i: usize| {
        ln_gamma(n as f64 + 1.0) - ln_gamma(i as f64 + 1.0) - ln_gamma((n - i) as f64 + 1.0)
    };
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    (0..=k)
        .map(|i| (ln_choose(i) + i as f64 * lp + (n - i) as f64 * lq).exp())
        .sum::<f64>()
        .min(1.0)
}

/// Two-sided exact McNemar test of paired binary outcomes: `b` pairs changed one way, `c`
/// the other (the concordant pairs do not enter). Under the null each discordant pair is
/// a fair coin: p = min(1, 2 P(B <= min(b, c))), B ~ Binomial(b + c, 1/2); 1 without
/// discordant pairs.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    (2.0 * binomial_cdf(b.min(c), n, 0.5)).min(1.0)
}

/// Two-sided sign test of `x` against 0 (zeros and non-finite values dropped): McNemar's
/// exact test on the counts of positive and negative values.
pub fn sign_test(x: &[f64]) -> f64 {
    let pos = x.iter().filter(|v| v.is_finite() && **v > 0.0).count();
    let neg = x.iter().filter(|v| v.is_finite() && **v < 0.0).count();
    mcnemar_exact(pos, neg)
}

/// A median with its distribution-free confidence interval [x_(k), x_(n-k+1)] (order
/// statistics, 1-based), k the largest with P(B <= k - 1) <= (1 - level)/2 for B ~
/// Binomial(n, 1/2): coverage at least `level` for any continuous distribution.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct MedianInterval {
    pub median: f64,
    /// -inf / +inf when n is too small for the level.
    pub low: f64,
    pub high: f64,
    pub n: usize,
    /// The interval's exact coverage, 1 - 2 P(B <= k - 1).
    pub coverage: f64,
}

/// The median of the finite values of `x` with its interval at `level` (e.g. 0.95).
pub fn median_interval(x: &[f64], level: f64) -> MedianInterval {
    let mut v: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return MedianInterval {
            median: f64::NAN,
            low: f64::NAN,
            high: f64::NAN,
            n,
            coverage: f64::NAN,
        };
    }
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    };
    let tail = (1.0 - level) / 2.0;
    // Largest k >= 1 with P(B <= k - 1) <= tail (k <= n/2).
    let k = (1..=n / 2)
        .take_while(|&k| binomial_cdf(k - 1, n, 0.5) <= tail)
        .last();
    match k {
        Some(k) => MedianInterval {
            median,
            low: v[k - 1],
            high: v[n - k],
            n,
            coverage: 1.0 - 2.0 * binomial_cdf(k - 1, n, 0.5),
        },
        None => MedianInterval {
            median,
            low: f64::NEG_INFINITY,
            high: f64::INFINITY,
            n,
            coverage: 1.0,
        },
    }
}

/// The exact (Clopper-Pearson) interval at `level` of a binomial proportion from `k`
/// successes in `n` trials (as scipy's `binomtest(k, n).proportion_ci(level, "exact")`):
/// the p where P(B >= k) and P(B <= k) reach (1 - level)/2, found by bisection.
pub fn clopper_pearson(k: usize, n: usize, level: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let tail = (1.0 - level) / 2.0;
    // Bisection for the p where `f(p)` (monotone) crosses `target`.
    let solve = |f: &dyn Fn(f64) -> f64, target: f64, increasing: bool| {
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if (f(mid) < target) == increasing {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    };
    let low = if k == 0 {
        0.0
    } else {
        // P(B >= k | p) = 1 - P(B <= k - 1 | p) rises with p.
        solve(&|p| 1.0 - binomial_cdf(k - 1, n, p), tail, true)
    };
    let high = if k == n {
        1.0
    } else {
        // P(B <= k | p) falls with p.
        solve(&|p| binomial_cdf(k, n, p), tail, false)
    };
    (low, high)
}

/// The difference of two paired proportions, (c - b)/n, from `b` pairs where only the
/// first outcome occurred and `c` where only the second did (of `n` pairs), with its exact
/// conditional interval at `level`: given the b + c discordant pairs, c is binomial, and
/// the Clopper-Pearson interval of its proportion maps to (b + c)/n (2 pi - 1).
pub fn paired_difference_interval(b: usize, c: usize, n: usize, level: f64) -> (f64, f64, f64) {
    let d = b + c;
    let diff = (c as f64 - b as f64) / n.max(1) as f64;
    if d == 0 {
        return (0.0, 0.0, 0.0);
    }
    let (lo, hi) = clopper_pearson(c, d, level);
    let scale = d as f64 / n as f64;
    (diff, scale * (2.0 * lo - 1.0), scale * (2.0 * hi - 1.0))
}
