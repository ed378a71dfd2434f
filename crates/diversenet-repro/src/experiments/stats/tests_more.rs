//! The equivalence, count and fit statistics against reference values computed with scipy
//! 1.17 (each test names the call that gave its numbers).

use super::*;

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * b.abs().max(1e-300), "{a} vs {b}");
}

#[test]
fn one_sided_t_and_tost_match_scipy() {
    let d = [-0.05, 0.12, -0.08, 0.03, -0.11];
    // scipy.stats.ttest_1samp(d, -0.2, alternative='greater').pvalue
    close(one_sided_t_p(&d, -0.2, true), 0.005980959565394662, 1e-8);
    // scipy.stats.ttest_1samp(d, 0.2, alternative='less').pvalue
    close(one_sided_t_p(&d, 0.2, false), 0.0031805646453435038, 1e-8);
    let t = tost(&d, 0.2);
    close(t.p, 0.005980959565394662, 1e-8);
    assert!(t.equivalent(0.05));
    // scipy.stats.t.interval(0.90, 4, loc=mean(d), scale=scipy.stats.sem(d))
    close(t.ci90_low, -0.10677292621697101, 1e-8);
    close(t.ci90_high, 0.07077292621697095, 1e-8);
    // A gain near the margin: not equivalent.
    let d2 = [-0.31, -0.12, -0.25, -0.4, -0.18];
    // scipy.stats.ttest_1samp(d2, -0.2, alternative='greater').pvalue and
    // ttest_1samp(d2, 0.2, alternative='less').pvalue
    let t2 = tost(&d2, 0.2);
    close(t2.p_lower, 0.826105731572404, 1e-8);
    close(t2.p_upper, 0.00038161777436509435, 1e-7);
    assert!(!t2.equivalent(0.05));
    // Degenerate spreads decide by the sign alone.
    assert_eq!(one_sided_t_p(&[0.1, 0.1, 0.1], 0.0, true), 0.0);
    assert_eq!(one_sided_t_p(&[0.1, 0.1, 0.1], 0.0, false), 1.0);
    assert_eq!(one_sided_t_p(&[0.1], 0.0, true), 1.0);
}

#[test]
fn mcnemar_and_sign_test_match_scipy_binomtest() {
    // scipy.stats.binomtest(b, b + c, 0.5).pvalue
    for (b, c, p) in [
        (9, 2, 0.0654296875),
        (12, 3, 0.03515625),
        (5, 5, 1.0),
        (1, 7, 0.0703125),
        (20, 8, 0.03569813817739487),
    ] {
        close(mcnemar_exact(b, c), p, 1e-10);
        close(mcnemar_exact(c, b), p, 1e-10);
    }
    assert_eq!(mcnemar_exact(0, 0), 1.0);
    // scipy.stats.binom.cdf(2, 11, 0.5) and binom.cdf(7, 20, 0.3)
    close(binomial_cdf(2, 11, 0.5), 0.03271484375, 1e-12);
    close(binomial_cdf(7, 20, 0.3), 0.7722717974181608, 1e-10);
    assert_eq!(binomial_cdf(11, 11, 0.5), 1.0);
}

#[test]
fn median_interval_matches_scipy_quantile_test() {
    let x = [
        0.12, -0.3, -0.05, 0.4, -0.22, -0.15, 0.02, -0.41, -0.09, 0.33, -0.18, -0.02, 0.07, -0.27,
        -0.11,
    ];
    // r = scipy.stats.quantile_test(x, q=0, p=0.5); r.confidence_interval(0.95), r.pvalue
    let m = median_interval(&x, 0.95);
    assert_eq!((m.median, m.low, m.high), (-0.09, -0.22, 0.07));
    assert!(m.coverage >= 0.95);
    close(sign_test(&x), 0.30175781249999994, 1e-10);
    let y = [
        0.5123, -0.8667, 0.0254, -0.2703, -0.2358, -0.1647, -0.706, -0.1696, -0.3596, 0.8969,
        -0.0323, -0.2058, -0.1844, -0.3004, -0.4165, -0.2172, 0.0446, -0.1716, 0.1873, -0.1599,
        -0.0927, 0.3637, 0.0635, -0.2516, -0.1549, 0.0622, 0.4805, -0.1809, -0.1731, 0.2007,
        -0.3659, -0.1875, 0.1648, 0.0741, -0.0725, 0.101, -0.9484, 0.2064, -0.3879, -0.6006,
        -0.0171, 0.1102, -0.2334, -0.4229, -0.0922, -0.1158, 0.3217, 0.1242, -0.0419, 0.2335,
    ];
    // The same calls on 50 values: the 95% and 90% intervals, numpy.median, the p-value.
    let m = median_interval(&y, 0.95);
    close(m.median, -0.13535, 1e-12);
    assert_eq!((m.low, m.high), (-0.1844, 0.0254));
    let m90 = median_interval(&y, 0.90);
    assert_eq!((m90.low, m90.high), (-0.1809, -0.0171));
    close(sign_test(&y), 0.06490864707227217, 1e-9);
    // Too few values for 95%: unbounded.
    let small = median_interval(&[1.0, 2.0, 3.0], 0.95);
    assert!(small.low.is_infinite() && small.high.is_infinite());
}

#[test]
fn log_log_fit_matches_scipy_linregress() {
    let pts = [
        (100.0, 2.1e3),
        (200.0, 9.5e3),
        (400.0, 3.6e4),
        (800.0, 1.52e5),
    ];
    // scipy.stats.linregress(log(x), log(y)): slope, intercept, stderr
    let f = log_log_fit(&pts).unwrap();
    close(f.slope, 2.04546120446553, 1e-12);
    close(f.intercept, -1.7384930259882942, 1e-12);
    close(f.slope_se, 0.033083729571892886, 1e-10);
    let x = crossing(&f, 1e4).unwrap();
    close(f.at(x), 1e4, 1e-12);
    assert!(log_log_fit(&[(1.0, 1.0)]).is_none());
}

#[test]
fn clopper_pearson_matches_scipy() {
    // scipy.stats.binomtest(k, n).proportion_ci(level, method='exact')
    for (k, n, level, lo, hi) in [
        (3, 11, 0.95, 0.06021773417275722, 0.6097425595724212),
        (0, 7, 0.90, 0.0, 0.3481636551311609),
        (7, 7, 0.95, 0.5903836027749514, 1.0),
        (12, 40, 0.90, 0.18312127061234057, 0.44027973776532847),
    ] {
        let (a, b) = clopper_pearson(k, n, level);
        assert!(
            (a - lo).abs() < 1e-9 && (b - hi).abs() < 1e-9,
            "{k}/{n}: {a} {b}"
        );
    }
    // The paired difference maps the interval of c / (b + c): 3 of 11 discordant pairs
    // went the second way, of 50 pairs.
    let (d, lo, hi) = paired_difference_interval(8, 3, 50, 0.95);
    assert!((d - (-0.1)).abs() < 1e-12);
    assert!((lo - 11.0 / 50.0 * (2.0 * 0.06021773417275722 - 1.0)).abs() < 1e-9);
    assert!((hi - 11.0 / 50.0 * (2.0 * 0.6097425595724212 - 1.0)).abs() < 1e-9);
    assert_eq!(paired_difference_interval(0, 0, 50, 0.95), (0.0, 0.0, 0.0));
}
