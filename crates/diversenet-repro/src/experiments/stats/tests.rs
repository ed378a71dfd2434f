//! The statistics against reference values computed once with scipy 1.17
//! (`scipy.stats.wilcoxon`, `scipy.stats.t`, `scipy.stats.spearmanr`) and by hand.

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

/// d_i = i, negated when 3 divides i (i = 1..=26).
fn every_third_negative(n: usize) -> Vec<f64> {
    (1..=n)
        .map(|i| if i % 3 == 0 { -(i as f64) } else { i as f64 })
        .collect()
}

#[test]
fn both_wilcoxon_routes_match_scipy() {
    // 26 pairs take the normal approximation: scipy's method="approx", correction=True
    // gives 0.08881828327172404 (its exact value is 0.0890, so the approximation is close).
    let approx = wilcoxon_signed_rank(&every_third_negative(26));
    assert!(!approx.exact);
    assert!(
        (approx.p_value - 0.088_818_283_271_724_04).abs() < 1e-6,
        "{}",
        approx.p_value
    );
    // 25 pairs are exact: scipy's method="exact" gives 0.14847958087921143.
    let exact = wilcoxon_signed_rank(&every_third_negative(25));
    assert!(exact.exact);
    assert!(
        (exact.p_value - 0.148_479_580_879_211_43).abs() < 1e-12,
        "{}",
        exact.p_value
    );
    // The two routes agree where both apply: the approximation at 25 pairs is scipy's
    // 0.14623118542852126, within 0.003 of the exact value.
    assert!((approx.p_value - 0.089_029_014_110_565_19).abs() < 1e-3);
}

#[test]
fn wilcoxon_approximation_corrects_for_ties() {
    // 30 differences with many tied magnitudes; scipy (approx, correction=True) gives
    // 0.01725087103278002. Without the tie correction the value would be larger.
    let d: Vec<f64> = (0..30)
        .map(|i| ((i % 7) + 1) as f64 * if i % 4 == 0 { -1.0 } else { 1.0 })
        .collect();
    let w = wilcoxon_signed_rank(&d);
    assert!(!w.exact);
    assert!(
        (w.p_value - 0.017_250_871_032_780_02).abs() < 1e-6,
        "{}",
        w.p_value
    );
}

#[test]
fn student_t_matches_scipy() {
    for (df, q) in [
        (1.0, 12.706_204_736_174_694),
        (4.0, 2.776_445_105_197_793_4),
        (9.0, 2.262_157_162_798_205),
        (29.0, 2.045_229_642_132_703),
    ] {
        let got = student_t_quantile(0.975, df);
        assert!((got - q).abs() < 1e-8 * q, "df {df}: {got} vs {q}");
    }
    assert!((student_t_cdf(-2.0, 4.0) - 0.058_058_261_758_407_78).abs() < 1e-12);
    assert!((student_t_cdf(1.5, 9.0) - 0.916_074_671_971_462_5).abs() < 1e-12);
}

#[test]
fn mean_interval_matches_scipy() {
    // mean ± t.ppf(0.975, 6) * sd / sqrt(7)
    let x = [-0.8, -0.3, -1.1, 0.2, -0.5, -0.9, -0.4];
    let ci = mean_interval(&x);
    assert!((ci.mean + 0.542_857_142_857_142_8).abs() < 1e-12);
    assert!(
        (ci.low + 0.945_482_564_875_473_4).abs() < 1e-9,
        "{}",
        ci.low
    );
    assert!(
        (ci.high + 0.140_231_720_838_812_14).abs() < 1e-9,
        "{}",
        ci.high
    );
    assert!(mean_interval(&[1.0]).low.is_nan());
}

#[test]
fn holm_matches_hand_computation() {
    // Sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> the last
    // is raised to 0.06 (monotone).
    let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
    let expected = [0.03, 0.06, 0.06, 0.02];
    for (a, e) in adjusted.iter().zip(expected) {
        assert!((a - e).abs() < 1e-15, "{adjusted:?}");
    }
    // Capped at 1, and a single p-value is unchanged.
    assert_eq!(holm(&[0.6, 0.5]), vec![1.0, 1.0]);
    assert_eq!(holm(&[0.2]), vec![0.2]);
}

#[test]
fn stratified_spearman_matches_reference() {
    // Reference: scipy.stats.spearmanr per group, then Fisher z pooled with weights n - 3
    // and standard error sqrt(1.06 / sum(n - 3)) in numpy.
    let g = |x: &[f64], y: &[f64]| (x.to_vec(), y.to_vec());
    let groups = vec![
        g(
            &[1., 2., 3., 4., 5., 6., 7., 8.],
            &[2., 1., 4., 3., 6., 5., 8., 7.],
        ),
        g(&[1., 2., 3., 4., 5., 6.], &[6., 4., 5., 3., 2., 1.]),
        g(
            &[0.1, 0.5, 0.2, 0.9, 0.7, 0.3, 0.8, 0.4, 0.6, 1.0],
            &[1., 3., 2., 6., 8., 2.5, 7., 4., 5., 9.],
        ),
        // Too small to count.
        g(&[1., 2., 3.], &[3., 2., 1.]),
    ];
    assert!((spearman(&groups[0].0, &groups[0].1) - 0.904_761_904_761_904_8).abs() < 1e-12);
    let s = stratified_spearman(&groups);
    assert_eq!((s.groups, s.n), (3, 24));
    assert!((s.rho - 0.742_184_025_948_975_3).abs() < 1e-9, "{}", s.rho);
    assert!((s.ci_low - 0.408_911_248_291_226_55).abs() < 1e-9);
    assert!((s.ci_high - 0.900_781_050_368_107_6).abs() < 1e-9);
    // The normal tail is accurate to 1.5e-7 (Abramowitz-Stegun 7.1.26).
    assert!((s.p_value - 0.000_325_997_226_116_198_75).abs() < 3e-7);
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
