//! Regularisers of the hidden units W (PAPER.md sections 4-5): the paper's diversity
//! regulariser (`discrepancy`), minimum hyperspherical energy (`mhe`), maximal minimal
//! angle (`mma`), soft orthogonality (`orthogonal`) and weight decay (`weight-decay`).
//! Each gives its value and its gradient with respect to W; the directional ones depend
//! only on the unit rows u_k = w_k / ||w_k|| and come from one n x n Gram product of unit
//! rows (GEMM, O(n^2 d)).
//!
//! Degenerate rows: a zero row has no direction and is left out (its gradient is 0). Two
//! identical rows (angle 0) give finite values; a pair whose sin(theta) is below
//! [`pairwise::SIN_THRESHOLD`] contributes no gradient (its direction of change is
//! undefined), and `mhe` clamps the distance of such a pair at [`pairwise::MIN_DISTANCE`].

pub mod pairwise;

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::linalg::{Matrix, Real};

/// Which regulariser.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
pub enum RegularizerKind {
    /// R(W) = (1/n^2) sum_{k,l} ((pi - theta_kl)/(2 pi))^2, the paper's diversity regulariser.
    Discrepancy,
    /// Minimum hyperspherical energy, mean over pairs k != l of f_s(z_kl):
    /// f_0(z) = log(1/z), f_s(z) = z^(-s); z = ||u_k - u_l|| or, `angular`, theta_kl / pi.
    Mhe { power: u32, angular: bool },
    /// Maximal minimal angle: -(1/n) sum_k min_{l != k} theta_kl.
    Mma,
    /// Soft orthogonality ||U U^T - I||_F^2 on the unit rows U.
    Orthogonal,
    /// ||W||_F^2.
    WeightDecay,
}

impl FromStr for RegularizerKind {
    type Err = Error;
    /// `discrepancy`, `mhe` (s = 2), `mhe0`, `mhe1`, `mhe2`, `mhe-angular` (s = 2),
    /// `mhe0-angular`..., `mma`, `orthogonal`, `weight-decay`.
    fn from_str(s: &str) -> Result<Self> {
        let mhe = |rest: &str, angular: bool| -> Result<Self> {
            let power = match rest {
                "" => 2,
                "0" | "1" | "2" => rest.parse().expect("digit"),
                _ => {
                    return Err(Error::config(
                        "reg",
                        format!("`{s}`: MHE power must be 0, 1 or 2"),
                    ))
                }
            };
            Ok(Self::Mhe { power, angular })
        };
        match s {
            "discrepancy" => Ok(Self::Discrepancy),
            "mma" => Ok(Self::Mma),
            "orthogonal" => Ok(Self::Orthogonal),
            "weight-decay" => Ok(Self::WeightDecay),
            _ => {
                if let Some(rest) = s.strip_prefix("mhe") {
                    match rest.strip_suffix("-angular") {
                        Some(p) => mhe(p, true),
                        None => mhe(rest, false),
                    }
                } else {
                    Err(Error::config(
                        "reg",
                        format!("`{s}`: expected discrepancy, mhe[0|1|2][-angular], mma, orthogonal or weight-decay"),
                    ))
                }
            }
        }
    }
}

impl std::fmt::Display for RegularizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Discrepancy => f.write_str("discrepancy"),
            Self::Mhe { power, angular } => {
                write!(f, "mhe{power}{}", if *angular { "-angular" } else { "" })
            }
            Self::Mma => f.write_str("mma"),
            Self::Orthogonal => f.write_str("orthogonal"),
            Self::WeightDecay => f.write_str("weight-decay"),
        }
    }
}

/// A regulariser with its strength lambda: the objective is L(W) + lambda R(W).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegTerm {
    pub kind: RegularizerKind,
    pub lambda: f64,
}

impl RegTerm {
    pub fn new(kind: RegularizerKind, lambda: f64) -> Result<Self> {
        if !(lambda >= 0.0 && lambda.is_finite()) {
            return Err(Error::config(
                "lambda",
                format!("{lambda} is not a finite value >= 0"),
            ));
        }
        Ok(Self { kind, lambda })
    }
}

/// Pairs regulariser names with their strengths: one lambda per name, or one for all
/// (what `train --reg NAME --lambda X` and Python's `train(reg=..., lambda_=...)` take).
pub fn terms<S: AsRef<str>>(names: &[S], lambdas: &[f64]) -> Result<Vec<RegTerm>> {
    if names.is_empty() {
        if !lambdas.is_empty() {
            return Err(Error::config(
                "lambda",
                "given without a regulariser (--reg)",
            ));
        }
        return Ok(Vec::new());
    }
    if lambdas.len() != names.len() && lambdas.len() != 1 {
        return Err(Error::config(
            "lambda",
            format!(
                "{} values for {} --reg regularisers; give one per --reg, or one for all",
                lambdas.len(),
                names.len()
            ),
        ));
    }
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            RegTerm::new(
                n.as_ref().parse()?,
                lambdas[if lambdas.len() == 1 { 0 } else { i }],
            )
        })
        .collect()
}

/// R(W), and `grad += scale * dR/dW` when `grad` is given.
pub fn value_and_gradient<T: Real>(
    kind: RegularizerKind,
    w: &Matrix<T>,
    grad: Option<(&mut Matrix<T>, f64)>,
) -> f64 {
    match kind {
        RegularizerKind::WeightDecay => {
            let value = w.as_slice().iter().map(|v| v.to_f64() * v.to_f64()).sum();
            if let Some((g, scale)) = grad {
                let two = T::from_f64(2.0 * scale);
                for (gv, wv) in g.as_mut_slice().iter_mut().zip(w.as_slice()) {
                    *gv += two * *wv;
                }
            }
            value
        }
        directional => pairwise::directional(directional, w, grad),
    }
}

/// R(W) alone.
pub fn value<T: Real>(kind: RegularizerKind, w: &Matrix<T>) -> f64 {
    value_and_gradient(kind, w, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{SeededRng, Stream};
    use crate::theory::discrepancy::discrepancies;

    fn random_w(n: usize, d: usize, seed: u64) -> Matrix<f64> {
        let mut rng = SeededRng::new(seed, Stream::Init);
        Matrix::from_vec(n, d, (0..n * d).map(|_| rng.normal()).collect())
    }

    fn all_kinds() -> Vec<RegularizerKind> {
        let mut v = vec![
            RegularizerKind::Discrepancy,
            RegularizerKind::Mma,
            RegularizerKind::Orthogonal,
            RegularizerKind::WeightDecay,
        ];
        for power in 0..=2 {
            for angular in [false, true] {
                v.push(RegularizerKind::Mhe { power, angular });
            }
        }
        v
    }

    fn gradient(kind: RegularizerKind, w: &Matrix<f64>) -> Matrix<f64> {
        let mut g = Matrix::zeros(w.rows(), w.cols());
        value_and_gradient(kind, w, Some((&mut g, 1.0)));
        g
    }

    #[test]
    fn gradients_match_finite_differences() {
        let w = random_w(7, 4, 1);
        for kind in all_kinds() {
            let g = gradient(kind, &w);
            let h = 1e-6;
            for i in 0..w.as_slice().len() {
                let mut plus = w.clone();
                plus.as_mut_slice()[i] += h;
                let mut minus = w.clone();
                minus.as_mut_slice()[i] -= h;
                let fd = (value(kind, &plus) - value(kind, &minus)) / (2.0 * h);
                let an = g.as_slice()[i];
                assert!(
                    (fd - an).abs() < 1e-6 * (1.0 + fd.abs()),
                    "{kind}: entry {i}: analytic {an}, finite difference {fd}"
                );
            }
        }
    }

    #[test]
    fn directional_ones_are_scale_free_with_gradients_orthogonal_to_rows() {
        let w = random_w(6, 5, 2);
        for kind in all_kinds()
            .into_iter()
            .filter(|k| *k != RegularizerKind::WeightDecay)
        {
            let scaled = w.map(|v| v * 3.7);
            let (a, b) = (value(kind, &w), value(kind, &scaled));
            assert!(
                (a - b).abs() < 1e-12 * (1.0 + a.abs()),
                "{kind}: {a} vs {b}"
            );
            let g = gradient(kind, &w);
            for k in 0..6 {
                let dot: f64 = g.row(k).iter().zip(w.row(k)).map(|(x, y)| x * y).sum();
                assert!(dot.abs() < 1e-12, "{kind}: row {k}: {dot}");
            }
        }
    }

    #[test]
    fn discrepancy_value_is_the_closed_form_plus_c_d() {
        let w = random_w(9, 5, 3);
        let d = discrepancies(&w).unwrap();
        assert!((value(RegularizerKind::Discrepancy, &w) - (d.l2_slice_sq + d.c_d)).abs() < 1e-12);
    }

    #[test]
    fn zero_and_identical_rows_give_finite_values_and_gradients() {
        let mut w = random_w(5, 3, 4);
        w.row_mut(0).fill(0.0);
        let copy = w.row(1).to_vec();
        w.row_mut(2).copy_from_slice(&copy);
        for kind in all_kinds() {
            let v = value(kind, &w);
            let g = gradient(kind, &w);
            assert!(
                v.is_finite() && g.as_slice().iter().all(|x| x.is_finite()),
                "{kind}"
            );
            if kind != RegularizerKind::WeightDecay {
                assert!(
                    g.row(0).iter().all(|x| *x == 0.0),
                    "{kind}: the zero row gets no gradient"
                );
            }
        }
    }

    #[test]
    fn gradient_descent_on_discrepancy_lowers_the_l2_discrepancy() {
        let mut w = random_w(30, 5, 5);
        let before = discrepancies(&w).unwrap().l2_slice_sq;
        for _ in 0..300 {
            let g = gradient(RegularizerKind::Discrepancy, &w);
            for (wv, gv) in w.as_mut_slice().iter_mut().zip(g.as_slice()) {
                *wv -= 50.0 * gv;
            }
        }
        let after = discrepancies(&w).unwrap().l2_slice_sq;
        assert!(after < 0.5 * before, "{before} -> {after}");
    }

    #[test]
    fn f32_matches_f64() {
        let w = random_w(8, 6, 6);
        let w32 = w.map(|v| *v as f32);
        for kind in all_kinds() {
            let a = value(kind, &w);
            let b = value(kind, &w32);
            assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()), "{kind}: {a} vs {b}");
        }
    }

    #[test]
    fn parses_names() {
        assert_eq!(
            "mhe0-angular".parse::<RegularizerKind>().unwrap(),
            RegularizerKind::Mhe {
                power: 0,
                angular: true
            }
        );
        assert_eq!(
            "mhe".parse::<RegularizerKind>().unwrap().to_string(),
            "mhe2"
        );
        assert!("mhe3".parse::<RegularizerKind>().is_err());
        assert!("dropout".parse::<RegularizerKind>().is_err());
        assert!(RegTerm::new(RegularizerKind::Mma, -1.0).is_err());
    }
}
