//! The spectrum of the ReLU kernel on the sphere S^{d-1} (PAPER.md section 3, Funk-Hecke):
//! kappa(x.y) = sum_u gamma_u N(d, u) P_{u,d}(x.y).
//!
//! gamma_u is computed exactly from kappa's power series,
//! kappa(t) = t/4 + (1/(2 pi)) sum_j a_j t^(2j+2), a_j = (2j)! / (4^j (j!)^2 (2j+1)),
//! and the eigenvalue of a monomial from the Rodrigues formula,
//! gamma_u(t^p) = Gamma(d/2)/sqrt(pi) 2^(-u) p!/(p-u)! Gamma((p-u+1)/2) / Gamma((p+u+d)/2)
//! (p >= u, p - u even; zero otherwise). All terms are positive and summed in log-gamma
//! form, so the result is accurate at any d (784 included). For small d the series converges
//! slowly at high degree (degree u draws on the terms p ~ u^2); there a second route takes
//! over: Gauss-Legendre quadrature in the angle phi = arccos t, where the integrand
//! kappa(cos phi) P_{u,d}(cos phi) sin(phi)^(d-2) is analytic (kappa(cos phi) =
//! cos(phi) (pi - phi) / (2 pi)), so the quadrature converges exponentially; it loses to
//! cancellation only where gamma_u is tiny against the integrand, i.e. in high dimension,
//! where the series is exact. Each gamma_u comes with an error bound from the route used,
//! and `trusted` says whether it is below 1e-6 relative.

use std::f64::consts::PI;

use libm::lgamma;

use crate::error::{Error, Result};
use crate::geometry::check_sphere_dim;

/// One degree u of the spectrum.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DegreeEigenvalue {
    pub u: usize,
    /// gamma_u (0 when it underflows f64; see `log10_gamma`).
    pub gamma: f64,
    /// log10(gamma_u); -inf for the exact zeros (odd u >= 3).
    pub log10_gamma: f64,
    /// N(d, u) (null where it exceeds f64's range; see `log10_multiplicity`). Computed in
    /// exact integer arithmetic where it fits in u128; exact as a number where
    /// `multiplicity_exact` is true (N(d, u) <= 2^53), otherwise the nearest f64 (or, beyond
    /// u128, an estimate from log-gamma).
    pub multiplicity: Option<f64>,
    /// `multiplicity` is exactly N(d, u).
    pub multiplicity_exact: bool,
    pub log10_multiplicity: f64,
    /// Upper bound on |computed - exact| gamma_u.
    pub error_bound: f64,
    /// Relative error bound below 1e-6 and no underflow.
    pub trusted: bool,
    /// Upper bound on |computed - exact| / gamma_u (also where gamma_u underflows: it bounds
    /// the error of `log10_gamma` and of [`DegreeEigenvalue::weight`]).
    pub relative_error: f64,
}

impl DegreeEigenvalue {
    /// gamma_u N(d, u), this degree's share of kappa(1) = 1/2 (formed in logs, so that a
    /// huge multiplicity times a tiny eigenvalue does not overflow).
    /// Where this share is not known to relative accuracy 1e-6 (`weight_trusted` false) it is
    /// 0, so that no untrusted term enters a cumulative sum.
    pub fn weight(&self) -> f64 {
        if self.log10_gamma.is_finite() && self.weight_trusted() {
            // A share never exceeds kappa(1) = 1/2; the cap only absorbs rounding.
            ((self.log10_gamma + self.log10_multiplicity) * std::f64::consts::LN_10)
                .exp()
                .min(0.5)
        } else {
            0.0
        }
    }

    /// gamma_u N(d, u) is known to relative accuracy 1e-6 (gamma_u may underflow: the share
    /// is formed from `log10_gamma`).
    pub fn weight_trusted(&self) -> bool {
        self.relative_error < TRUST_RELATIVE
    }
}

/// The spectrum up to a degree.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Spectrum {
    pub dim: usize,
    pub max_degree: usize,
    pub degrees: Vec<DegreeEigenvalue>,
    /// sum_u gamma_u N(d, u) over the degrees 0..=`cumulative_up_to` (tends to
    /// kappa(1) = 1/2): the sum stops before the first degree whose share is not known to
    /// relative accuracy 1e-6, so that it is always a correct partial sum.
    pub cumulative: f64,
    /// Highest degree in `cumulative` (None: not even degree 0).
    pub cumulative_up_to: Option<usize>,
    /// Every degree up to this one is trusted.
    pub trusted_up_to: Option<usize>,
}

/// Relative accuracy asked of each gamma_u.
const TRUST_RELATIVE: f64 = 1e-6;
/// Most series terms summed per degree before the tail is estimated.
const MAX_TERMS: usize = 40_000;

/// ln N(d, u) = ln[(2u + d - 2) (u + d - 3)! / (u! (d - 2)!)], N(d, 0) = 1: from `exact`,
/// N(d, u) as [`exact_multiplicity`] gives it, where it fits, from log-gamma beyond.
fn log_multiplicity(d: usize, u: usize, exact: Option<u128>) -> f64 {
    if u == 0 {
        return 0.0;
    }
    if let Some(n) = exact {
        return (n as f64).ln();
    }
    let (d, u) = (d as f64, u as f64);
    (2.0 * u + d - 2.0).ln() + lgamma(u + d - 2.0) - lgamma(u + 1.0) - lgamma(d - 1.0)
}

/// The binomial coefficient C(n, k) in u128, None where it (or an intermediate product)
/// overflows.
fn binomial_u128(n: u128, k: u128) -> Option<u128> {
    if k > n {
        return Some(0);
    }
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 0..k {
        // c * (n - i) / (i + 1) is C(n, i + 1) (i + 1 divides the product exactly).
        c = c.checked_mul(n - i)? / (i + 1);
    }
    Some(c)
}

/// N(d, u) exactly, N(d, u) = C(u + d - 1, u) - C(u + d - 3, u - 2) (the harmonic polynomials
/// of degree u in d variables); None where it does not fit in u128.
pub fn exact_multiplicity(d: usize, u: usize) -> Option<u128> {
    let (d, u) = (d as u128, u as u128);
    if u == 0 {
        return Some(1);
    }
    let all = binomial_u128(u + d - 1, u)?;
    let lower = if u >= 2 {
        binomial_u128(u + d - 3, u - 2)?
    } else {
        0
    };
    Some(all - lower)
}

/// ln gamma_u(t^p) for p >= u, p - u even.
fn log_monomial_eigenvalue(d: f64, u: f64, p: f64) -> f64 {
    lgamma(d / 2.0) - 0.5 * PI.ln() - u * 2f64.ln() + lgamma(p + 1.0) - lgamma(p - u + 1.0)
        + lgamma((p - u + 1.0) / 2.0)
        - lgamma((p + u + d) / 2.0)
}

/// ln(a_j / (2 pi)), the coefficient of t^(2j+2) in kappa.
fn log_series_coefficient(j: f64) -> f64 {
    lgamma(2.0 * j + 1.0)
        - j * 4f64.ln()
        - 2.0 * lgamma(j + 1.0)
        - (2.0 * j + 1.0).ln()
        - (2.0 * PI).ln()
}

/// (ln gamma_u, error bound relative to gamma_u) for even u.
fn log_gamma_even(d: usize, u: usize) -> (f64, f64) {
    let (df, uf) = (d as f64, u as f64);
    let j0 = if u >= 2 { (u - 2) / 2 } else { 0 };
    let log_term = |j: usize| {
        let p = 2.0 * j as f64 + 2.0;
        log_series_coefficient(j as f64) + log_monomial_eigenvalue(df, uf, p)
    };
    // Terms decay like j^(-alpha) for j >> u.
    let alpha = (df + 2.0) / 2.0;
    let mut logs = Vec::new();
    let mut j = j0;
    let mut small_streak = 0;
    let mut max = f64::NEG_INFINITY;
    loop {
        let l = log_term(j);
        logs.push(l);
        max = max.max(l);
        // Stop once the terms are negligible and decreasing (the tail is then bounded by
        // a geometric/power series of the last term).
        if j > j0 + 4 && l < max - 45.0 {
            small_streak += 1;
            if small_streak > 3 {
                break;
            }
        }
        if logs.len() >= MAX_TERMS {
            break;
        }
        j += 1;
    }
    let partial = |count: usize| logs[..count].iter().map(|l| (l - max).exp()).sum::<f64>();
    // Tail beyond the last term J: sum_{j > J} f(J) (J/j)^alpha ~ f(J) (J/(alpha-1) - 1/2).
    let tail = |count: usize| {
        let jl = (j0 + count - 1) as f64;
        let f = (logs[count - 1] - max).exp();
        f * ((jl + 0.5) / (alpha - 1.0) - 0.5).max(0.0)
    };
    let n = logs.len();
    let estimate = partial(n) + tail(n);
    let half = (n / 2).max(1);
    let coarse = partial(half) + tail(half);
    let rel_error = ((estimate - coarse).abs() + tail(n) * 1e-3 + 1e-15 * estimate) / estimate;
    (max + estimate.ln(), rel_error)
}

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton's method on P_n).
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        let mut z = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, z);
            for k in 1..n {
                let p2 = ((2 * k + 1) as f64 * z * p1 - k as f64 * p0) / (k + 1) as f64;
                p0 = p1;
                p1 = p2;
            }
            dp = n as f64 * (z * p1 - p0) / (z * z - 1.0);
            let dz = p1 / dp;
            z -= dz;
            if dz.abs() < 1e-16 {
                break;
            }
        }
        x[i] = z;
        x[n - 1 - i] = -z;
        w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
        w[n - 1 - i] = w[i];
    }
    (x, w)
}

/// gamma_u for u = 0..=max_degree by quadrature in phi with `nodes` Gauss-Legendre nodes,
/// with sum_i |w_i f_i| per degree (the scale of the rounding error).
fn quadrature_eigenvalues(d: usize, max_degree: usize, nodes: usize) -> (Vec<f64>, Vec<f64>) {
    let (x, w) = gauss_legendre(nodes);
    let df = d as f64;
    let norm = (lgamma(df / 2.0) - 0.5 * PI.ln() - lgamma((df - 1.0) / 2.0)).exp();
    let mut values = vec![0.0; max_degree + 1];
    let mut scales = vec![0.0; max_degree + 1];
    for (xi, wi) in x.iter().zip(&w) {
        let phi = (xi + 1.0) * PI / 2.0;
        let t = phi.cos();
        let kappa = t * (PI - phi) / (2.0 * PI);
        let weight = wi * PI / 2.0
            * if d == 2 {
                1.0
            } else {
                phi.sin().powi(d as i32 - 2)
            }
            * norm;
        // Normalised Gegenbauer recurrence: P_{u+1} = ((2u+d-2) t P_u - u P_{u-1}) / (u+d-2).
        let (mut p0, mut p1) = (1.0, t);
        for u in 0..=max_degree {
            let p = if u == 0 { p0 } else { p1 };
            let f = weight * kappa * p;
            values[u] += f;
            scales[u] += f.abs();
            if u >= 1 {
                let next = ((2 * u) as f64 + df - 2.0) * t * p1 - u as f64 * p0;
                p0 = p1;
                p1 = next / (u as f64 + df - 2.0);
            }
        }
    }
    (values, scales)
}

/// gamma_u with a relative error bound by the quadrature route, for every degree.
fn quadrature_route(d: usize, max_degree: usize) -> Vec<(f64, f64)> {
    let coarse = quadrature_eigenvalues(d, max_degree, max_degree + 96).0;
    let (fine, scale) = quadrature_eigenvalues(d, max_degree, 2 * max_degree + 192);
    fine.iter()
        .zip(&coarse)
        .zip(&scale)
        .map(|((f, c), s)| (*f, ((f - c).abs() + 64.0 * f64::EPSILON * s) / f.abs()))
        .collect()
}

/// gamma_u for one degree, by the power series alone (`spectrum` adds the quadrature route).
pub fn degree_eigenvalue(d: usize, u: usize) -> Result<DegreeEigenvalue> {
    degree_eigenvalue_with(d, u, None)
}

fn degree_eigenvalue_with(
    d: usize,
    u: usize,
    quadrature: Option<(f64, f64)>,
) -> Result<DegreeEigenvalue> {
    check_sphere_dim(d)?;
    let (gamma, log10_gamma, rel) = match u {
        1 => (1.0 / (4.0 * d as f64), -(4.0 * d as f64).log10(), 0.0),
        u if u % 2 == 1 => (0.0, f64::NEG_INFINITY, 0.0),
        u => {
            let (ln_g, rel) = log_gamma_even(d, u);
            match quadrature {
                // A subnormal quadrature value is a rounding residue, not gamma_u.
                Some((q, q_rel)) if q_rel < rel && q >= f64::MIN_POSITIVE => (q, q.log10(), q_rel),
                _ => (ln_g.exp(), ln_g / std::f64::consts::LN_10, rel),
            }
        }
    };
    let exact = exact_multiplicity(d, u);
    let ln_n = log_multiplicity(d, u, exact);
    let mult = exact.map_or(ln_n.exp(), |n| n as f64);
    let underflow = u % 2 == 0 && gamma < f64::MIN_POSITIVE;
    Ok(DegreeEigenvalue {
        u,
        gamma,
        log10_gamma,
        multiplicity: mult.is_finite().then_some(mult.round()),
        multiplicity_exact: exact.is_some_and(|n| n <= 1u128 << 53),
        log10_multiplicity: ln_n / std::f64::consts::LN_10,
        error_bound: rel * gamma,
        trusted: rel < TRUST_RELATIVE && !underflow,
        relative_error: rel,
    })
}

/// Highest degree [`spectrum`] computes (see its error message for why).
pub const MAX_DEGREE: usize = 10_000;

/// gamma_u, N(d, u) and their cumulative sum for u = 0..=max_degree (at most [`MAX_DEGREE`]).
pub fn spectrum(d: usize, max_degree: usize) -> Result<Spectrum> {
    check_sphere_dim(d)?;
    if max_degree > MAX_DEGREE {
        return Err(Error::config(
            "max_degree",
            format!(
                "{max_degree} is above the cap of {MAX_DEGREE}: the cost grows about as the \
                 square of the degree (degree u draws on the series terms p ~ u^2, or on a \
                 quadrature of order u); the cap alone takes about 40 s at d = 3 on 2 cores, so \
                 {max_degree} would take hours to years with no answer sooner; ask for at most {MAX_DEGREE}"
            ),
        ));
    }
    let quadrature = quadrature_route(d, max_degree);
    let degrees = (0..=max_degree)
        .map(|u| degree_eigenvalue_with(d, u, Some(quadrature[u])))
        .collect::<Result<Vec<_>>>()?;
    let summed = degrees.iter().take_while(|e| e.weight_trusted()).count();
    let cumulative = degrees[..summed].iter().map(DegreeEigenvalue::weight).sum();
    let cumulative_up_to = summed.checked_sub(1);
    let trusted_up_to = degrees.iter().take_while(|e| e.trusted).last().map(|e| e.u);
    Ok(Spectrum {
        dim: d,
        max_degree,
        degrees,
        cumulative,
        cumulative_up_to,
        trusted_up_to,
    })
}

/// One corner of the step function m -> gamma_(m) (see [`Spectrum::ranked_steps`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RankedEigenvalue {
    pub m: f64,
    pub gamma: f64,
    pub m_gamma: f64,
}

/// The spectrum with its ranked eigenvalues: what `diversenet spectrum --json` writes and
/// Python's `diversenet.spectrum` returns.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SpectrumReport {
    pub dim: usize,
    pub max_degree: usize,
    pub degrees: Vec<DegreeEigenvalue>,
    pub cumulative: f64,
    pub cumulative_up_to: Option<usize>,
    pub trusted_up_to: Option<usize>,
    pub ranked: Vec<RankedEigenvalue>,
}

impl Spectrum {
    /// The report of this spectrum (the degrees and their ranked eigenvalues).
    pub fn report(&self) -> SpectrumReport {
        SpectrumReport {
            dim: self.dim,
            max_degree: self.max_degree,
            degrees: self.degrees.clone(),
            cumulative: self.cumulative,
            cumulative_up_to: self.cumulative_up_to,
            trusted_up_to: self.trusted_up_to,
            ranked: self
                .ranked_steps()
                .into_iter()
                .map(|(m, gamma)| RankedEigenvalue {
                    m,
                    gamma,
                    m_gamma: m * gamma,
                })
                .collect(),
        }
    }

    /// The distinct nonzero eigenvalues with their multiplicities, largest first:
    /// gamma_(m), the m-th largest eigenvalue counted with multiplicity, steps through them.
    /// Only trusted degrees with a finite multiplicity enter.
    pub fn sorted_eigenvalues(&self) -> Vec<(f64, f64)> {
        let mut v: Vec<(f64, f64)> = self
            .degrees
            .iter()
            .filter(|e| e.trusted && e.gamma > 0.0)
            .filter_map(|e| e.multiplicity.map(|n| (e.gamma, n)))
            .collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0));
        v
    }

    /// Corner points of the step function m -> gamma_(m): for each distinct eigenvalue,
    /// (first rank, gamma) and (last rank, gamma). `m * gamma_(m)` is largest at the last rank.
    pub fn ranked_steps(&self) -> Vec<(f64, f64)> {
        let mut seen = 0.0;
        let mut out = Vec::new();
        for (g, n) in self.sorted_eigenvalues() {
            out.push((seen + 1.0, g));
            seen += n;
            out.push((seen, g));
        }
        out
    }

    /// gamma_(m) for m >= 1, if the computed degrees reach that far.
    pub fn gamma_at_rank(&self, m: f64) -> Option<f64> {
        let mut seen = 0.0;
        for (g, n) in self.sorted_eigenvalues() {
            seen += n;
            if m <= seen {
                return Some(g);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn matches_the_reference_table() {
        // PAPER.md: gamma_u (multiplicity) for u = 0, 1, 2, 4, 6.
        let table: [(usize, [(f64, f64); 5]); 3] = [
            (
                3,
                [
                    (6.25e-2, 1.0),
                    (8.3333e-2, 3.0),
                    (2.734375e-2, 5.0),
                    (2.2786e-3, 9.0),
                    (6.561e-4, 13.0),
                ],
            ),
            (
                5,
                [
                    (3.515625e-2, 1.0),
                    (5.0e-2, 5.0),
                    (1.07422e-2, 14.0),
                    (4.425e-4, 55.0),
                    (7.553e-5, 140.0),
                ],
            ),
            (
                10,
                [
                    (1.67301e-2, 1.0),
                    (2.5e-2, 10.0),
                    (2.90358e-3, 54.0),
                    (4.0089e-5, 660.0),
                    (2.7817e-6, 4290.0),
                ],
            ),
        ];
        for (d, row) in table {
            let s = spectrum(d, 6).unwrap();
            for (&u, &(g, n)) in [0usize, 1, 2, 4, 6].iter().zip(row.iter()) {
                let e = &s.degrees[u];
                assert!(close(e.gamma, g, 2e-4), "d={d} u={u}: {} vs {g}", e.gamma);
                assert_eq!(e.multiplicity, Some(n), "d={d} u={u}");
                assert!(e.trusted, "d={d} u={u}");
            }
        }
        // Exact values: gamma_0 = 1/16 and gamma_2 = 7/256 for d = 3.
        let s = spectrum(3, 2).unwrap();
        assert!(close(s.degrees[0].gamma, 1.0 / 16.0, 1e-8));
        assert!(close(s.degrees[2].gamma, 7.0 / 256.0, 1e-8));
    }

    #[test]
    fn series_and_quadrature_agree_where_both_are_trusted() {
        for d in [3, 5, 10, 20] {
            let q = quadrature_route(d, 40);
            for u in (0..=40).step_by(2) {
                let e = degree_eigenvalue(d, u).unwrap();
                if e.trusted && q[u].1 < 1e-6 {
                    assert!(
                        close(e.gamma, q[u].0, 2e-6),
                        "d={d} u={u}: series {} quadrature {}",
                        e.gamma,
                        q[u].0
                    );
                }
            }
            assert!(
                degree_eigenvalue(d, 2).unwrap().trusted && q[2].1 < 1e-6,
                "d={d}"
            );
        }
    }

    #[test]
    fn gamma_1_is_one_over_4d_and_odd_degrees_vanish() {
        for d in [2, 3, 7, 784] {
            let s = spectrum(d, 9).unwrap();
            assert_eq!(s.degrees[1].gamma, 1.0 / (4.0 * d as f64));
            for u in [3, 5, 7, 9] {
                assert_eq!(s.degrees[u].gamma, 0.0);
            }
        }
    }

    #[test]
    fn eigenvalues_with_multiplicity_sum_to_kappa_one() {
        // gamma_u N(d,u) ~ u^-2, so the partial sum to U misses about C/U.
        for d in [3, 5, 10] {
            let s = spectrum(d, 400).unwrap();
            assert!(
                s.cumulative < 0.5 && s.cumulative > 0.5 - 0.05,
                "d={d}: {}",
                s.cumulative
            );
            // The sum stops before the first untrusted share (degree U = cumulative_up_to).
            let top = s.cumulative_up_to.unwrap();
            assert!(top >= 150, "d={d}: summed to {top}");
            let s2 = spectrum(d, 100).unwrap();
            let (gap_top, gap_100) = (0.5 - s.cumulative, 0.5 - s2.cumulative);
            // gap ~ C/U: about gap_100 * 100/U.
            assert!(
                gap_top < 1.25 * gap_100 * 100.0 / top as f64,
                "d={d}: {gap_100} -> {gap_top} at {top}"
            );
        }
    }

    #[test]
    fn even_eigenvalues_decay_like_u_to_the_minus_d() {
        // Local log-log slopes between u = 100, 200, 400 approach -d (an independent
        // quadrature in numpy gives -9.86 and then -9.76 at d = 10 for u = 200..800).
        for d in [3, 5, 10] {
            let s = spectrum(d, 400).unwrap();
            let slope =
                |a: usize, b: usize| (s.degrees[b].gamma / s.degrees[a].gamma).ln() / 2f64.ln();
            let (s1, s2) = (slope(100, 200), slope(200, 400));
            assert!((s2 + d as f64).abs() < 0.2, "d={d}: slope {s2}");
            assert!(
                (s2 + d as f64).abs() <= (s1 + d as f64).abs() + 1e-3,
                "d={d}: {s1} then {s2}"
            );
        }
    }

    #[test]
    fn high_dimension_is_finite_and_trusted() {
        let s = spectrum(784, 200).unwrap();
        assert!(s.degrees[200].gamma > 0.0 || !s.degrees[200].trusted);
        assert!(s
            .degrees
            .iter()
            .filter(|e| e.u % 2 == 0)
            .all(|e| e.log10_gamma.is_finite()));
        // Each even eigenvalue below the previous one.
        let even: Vec<f64> = s
            .degrees
            .iter()
            .filter(|e| e.u % 2 == 0)
            .map(|e| e.log10_gamma)
            .collect();
        assert!(even.windows(2).all(|w| w[1] < w[0]));
        assert!(s.trusted_up_to.unwrap() >= 100, "{:?}", s.trusted_up_to);
    }
}

#[cfg(test)]
#[path = "spectrum_limits_tests.rs"]
mod limits_tests;
