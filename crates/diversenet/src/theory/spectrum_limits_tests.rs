//! The spectrum at the edges: high degree (the cumulative sum), large d (exact
//! multiplicities, the dimension limit), against closed forms.

use super::*;
use crate::geometry::{slice_constant, MAX_SPHERE_DIM};
use std::f64::consts::PI;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

/// The cumulative is a partial sum: finite, at most kappa(1) = 1/2, and it stops at the
/// first degree whose share is not trusted.
fn check_cumulative(s: &Spectrum) {
    assert!(s.cumulative.is_finite() && s.cumulative <= 0.5 * (1.0 + 1e-12));
    let up_to = s.cumulative_up_to.expect("degree 0 is trusted");
    let direct: f64 = s.degrees[..=up_to].iter().map(|e| e.weight()).sum();
    assert_eq!(s.cumulative, direct);
    if up_to < s.max_degree {
        assert!(!s.degrees[up_to + 1].weight_trusted());
    }
    for e in &s.degrees {
        assert!(e.weight().is_finite() && e.weight() <= 0.5);
    }
}

#[test]
fn cumulative_on_the_circle_matches_the_fourier_closed_form() {
    // d = 2: gamma_0 = 1/pi^2, gamma_1 = 1/8, even u >= 2:
    // gamma_u = (1/(u+1)^2 + 1/(u-1)^2) / (2 pi^2), N = 2 for u >= 1.
    let s = spectrum(2, 400).unwrap();
    check_cumulative(&s);
    let up_to = s.cumulative_up_to.unwrap();
    assert!(up_to >= 100, "trusted to {up_to}");
    let mut reference = 1.0 / (PI * PI) + 0.25;
    for u in (2..=up_to).step_by(2) {
        let u = u as f64;
        reference += 2.0 * (1.0 / (u + 1.0).powi(2) + 1.0 / (u - 1.0).powi(2)) / (2.0 * PI * PI);
    }
    assert!(
        close(s.cumulative, reference, 1e-9),
        "{} vs {reference}",
        s.cumulative
    );
}

#[test]
fn cumulative_stays_a_partial_sum_at_high_degree() {
    // Before: a subnormal quadrature residue times N ~ 1e613 gave 1e290 and inf at d = 784,
    // and 3e35 at d = 50.
    for (d, max_degree) in [(784, 1500), (50, 3000)] {
        let s = spectrum(d, max_degree).unwrap();
        check_cumulative(&s);
        // The partial sums at d = 784 reach 0.4918 by degree 195 (tail below 1%).
        assert!(s.cumulative > 0.49, "d = {d}: {}", s.cumulative);
        let json = serde_json::to_value(s.report()).unwrap();
        assert!(json["cumulative"].as_f64().unwrap() <= 0.5);
    }
}

#[test]
fn multiplicities_are_exact_integers() {
    // N(d, 1) = d, N(d, 2) = (d + 2)(d - 1)/2, N(d, 3) = d (d - 1)(d + 4)/6, N(3, u) = 2u + 1.
    for d in [3u128, 784, 100_000, 1_000_000] {
        let du = d as usize;
        assert_eq!(exact_multiplicity(du, 1), Some(d));
        assert_eq!(exact_multiplicity(du, 2), Some((d + 2) * (d - 1) / 2));
        assert_eq!(exact_multiplicity(du, 3), Some(d * (d - 1) * (d + 4) / 6));
    }
    for u in 0..1500usize {
        assert_eq!(exact_multiplicity(3, u), Some(2 * u as u128 + 1));
    }
    let s = spectrum(1_000_000, 2).unwrap();
    assert_eq!(s.degrees[1].multiplicity, Some(1e6));
    assert_eq!(s.degrees[2].multiplicity, Some(500_000_499_999.0));
    assert!(s.degrees[2].multiplicity_exact);
    // Beyond u128 (N(784, 1500) ~ 1e636): an estimate, said to be one.
    let e = degree_eigenvalue(784, 1500).unwrap();
    assert!(exact_multiplicity(784, 1500).is_none() && !e.multiplicity_exact);
    assert!(close(e.log10_multiplicity, 635.0 + 0.5165, 1e-3));
}

#[test]
fn dimensions_above_the_validated_limit_are_refused() {
    for d in [MAX_SPHERE_DIM + 1, 1_000_000_000_000, usize::MAX] {
        let err = spectrum(d, 1).unwrap_err().to_string();
        assert!(err.contains("dim") && err.contains("1000000"), "{err}");
        assert!(degree_eigenvalue(d, 0).is_err() && slice_constant(d).is_err());
    }
}

#[test]
fn large_dimensions_match_the_moment_expansions() {
    // gamma_0 = E[kappa(t)], E[t^2] = 1/d, E[t^4] = 3/(d(d+2)), E[t^6] = 15/(d(d+2)(d+4)),
    // kappa's coefficients a_0 = 1, a_1 = 1/6, a_2 = 3/40 (over 2 pi).
    // c_d = (pi^2/4 + E[asin(t)^2]) / (4 pi^2), asin^2 = t^2 + t^4/3 + O(t^6).
    for d in [10_000usize, 100_000, MAX_SPHERE_DIM] {
        let df = d as f64;
        let (m2, m4) = (1.0 / df, 3.0 / (df * (df + 2.0)));
        let m6 = 15.0 / (df * (df + 2.0) * (df + 4.0));
        let gamma_0 = (m2 + m4 / 6.0 + 3.0 / 40.0 * m6) / (2.0 * PI);
        assert!(
            close(degree_eigenvalue(d, 0).unwrap().gamma, gamma_0, 1e-8),
            "d = {d}"
        );
        let c_d = (PI * PI / 4.0 + m2 + m4 / 3.0) / (4.0 * PI * PI);
        let got = slice_constant(d).unwrap();
        assert!((got - c_d).abs() < 1e-12, "d = {d}: {got} vs {c_d}");
    }
}
