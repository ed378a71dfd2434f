//! Regularisers of the hidden units W (PAPER.md sections 4-5): the paper's diversity
//! regulariser (`discrepancy`), minimum hyperspherical energy (`mhe`), maximal minimal
//! angle (`mma`), soft orthogonality (`orthogonal`) and weight decay (`weight-decay`).
//! Each gives its value and its gradient with respect to W; the directional ones depend
//! only on the unit rows u_k = w_k / ||w_k|| ([`crate::geometry`]) and come from one
//! triangle of the Gram product of unit rows (GEMM, O(n^2 d)).
//!
//! Sampled: for large n, [`value_and_gradient_sampled`] estimates a pair-sum regulariser
//! (`discrepancy`, `mhe`, `orthogonal`) without bias from K random partner units per step
//! ([`RegSampling`]), at O(n K d); `mma` and `weight-decay` are computed exactly there.
//!
//! Degenerate rows: a zero row has no direction and is left out (its gradient is 0). Two
//! identical rows (angle 0) give finite values; a pair whose sin(theta) is below
//! [`pairwise::SIN_THRESHOLD`] contributes no gradient (its direction of change is
//! undefined), and `mhe` clamps the distance of such a pair at [`pairwise::MIN_DISTANCE`].

pub mod coupling;
pub mod pairwise;
pub mod registry;

use std::str::FromStr;

use crate::error::{Error, Expected, Message, Result};
use crate::geometry::all_row_norms;
use crate::linalg::{Matrix, MatrixView, Real};
use crate::rng::{SeededRng, Stream};

pub use coupling::Coupling;

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
    /// The names of [`registry::FAMILIES`] (`discrepancy`, `mhe0`..`mhe2-angular`, `mma`,
    /// `orthogonal`, `weight-decay`), as [`RegularizerKind`]'s `Display` writes them, and
    /// `mhe` and `mhe-angular` for s = 2.
    fn from_str(s: &str) -> Result<Self> {
        if let Some(kind) = registry::all_kinds().find(|k| k.to_string() == s) {
            return Ok(kind);
        }
        match s {
            "mhe" => Ok(Self::Mhe {
                power: 2,
                angular: false,
            }),
            "mhe-angular" => Ok(Self::Mhe {
                power: 2,
                angular: true,
            }),
            _ if s.starts_with("mhe") => Err(Error::Config {
                setting: "reg",
                value: Some(s.to_string()),
                expected: Expected::Described(format!("`{s}`: MHE power must be 0, 1 or 2").into()),
            }),
            _ => Err(Error::setting("reg", s, Expected::OneOf(registry::names()))),
        }
    }
}

impl RegularizerKind {
    /// Whether its value is a sum over pairs of units ([`registry::Family::pair_sum`]),
    /// which [`value_and_gradient_sampled`] estimates rather than computing exactly.
    pub fn is_pair_sum(self) -> bool {
        registry::family(self).pair_sum
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

/// A regulariser with its strength lambda: the objective is L(W) + lambda R(W) (with the
/// default [`Coupling`]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegTerm {
    pub kind: RegularizerKind,
    pub lambda: f64,
    /// Where the term's gradient acts; the default (coupled) is not written.
    #[serde(default, skip_serializing_if = "Coupling::is_coupled")]
    pub coupling: Coupling,
}

impl RegTerm {
    pub fn new(kind: RegularizerKind, lambda: f64) -> Result<Self> {
        if !(lambda >= 0.0 && lambda.is_finite()) {
            return Err(Error::setting("lambda", lambda, Expected::NonNegative));
        }
        Ok(Self {
            kind,
            lambda,
            coupling: Coupling::Coupled,
        })
    }
    /// The same term acting through `coupling`.
    pub fn with_coupling(self, coupling: Coupling) -> Self {
        Self { coupling, ..self }
    }
}

/// Pairs regulariser names with their strengths: one lambda per name, or one for all
/// (what `train --reg NAME --lambda X` and Python's `train(reg=..., lambda_=...)` take).
pub fn terms<S: AsRef<str>>(names: &[S], lambdas: &[f64]) -> Result<Vec<RegTerm>> {
    if names.is_empty() {
        if !lambdas.is_empty() {
            return Err(Error::config(
                "lambda",
                Message::from("given without a regulariser (")
                    .setting("reg")
                    .text(")"),
            ));
        }
        return Ok(Vec::new());
    }
    if lambdas.len() != names.len() && lambdas.len() != 1 {
        return Err(Error::config(
            "lambda",
            Message::from(format!("{} values for {} ", lambdas.len(), names.len()))
                .setting("reg")
                .text(" regularisers; give one per ")
                .setting("reg")
                .text(", or one for all"),
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

/// Stochastic regularisation: each step, the pairwise sums of a pair-sum regulariser run
/// over K = `units_per_step` partner units drawn uniformly without replacement (a fresh
/// draw per step, from the seeded stream [`Stream::Regularizer`] at a position fixed by
/// the step number, so that runs repeat and resume exactly), scaled by n/K.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegSampling {
    pub units_per_step: usize,
}

impl RegSampling {
    /// K partner units per step, K >= 1.
    pub fn new(units_per_step: usize) -> Result<Self> {
        if units_per_step == 0 {
            return Err(Error::config(
                "reg_sample",
                "0 partner units per step: expected at least 1 (or leave it out for the exact regulariser)",
            ));
        }
        Ok(Self { units_per_step })
    }

    /// The random stream of optimisation step `step` of a run with seed `seed`: its own
    /// window of 2^32 words of [`Stream::Regularizer`].
    pub fn rng(seed: u64, step: u64) -> SeededRng {
        let mut rng = SeededRng::new(seed, Stream::Regularizer);
        rng.set_position(u128::from(step) << 32);
        rng
    }
}

/// `count` distinct indices of `0..n`, uniform without replacement (partial Fisher-Yates).
fn draw_partners(n: usize, count: usize, rng: &mut SeededRng) -> Vec<usize> {
    let count = count.min(n);
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..count {
        let j = i + rng.below(n - i);
        order.swap(i, j);
    }
    order.truncate(count);
    order
}

/// An unbiased estimate of R(W), and `grad += scale * G` with E\[G\] = dR/dW, from
/// `sampling.units_per_step` partner units drawn from `rng` (see [`RegSampling`]). Exact
/// (and drawing nothing) when K >= n, for `mma` (a minimum, not a sum over pairs) and for
/// weight decay (already O(n d)).
pub fn value_and_gradient_sampled<T: Real>(
    kind: RegularizerKind,
    w: &Matrix<T>,
    grad: Option<(&mut Matrix<T>, f64)>,
    sampling: RegSampling,
    rng: &mut SeededRng,
) -> f64 {
    if !is_sampled(kind, sampling, w.rows()) {
        return value_and_gradient(kind, w, grad);
    }
    let dirs = pairwise::Directions::new(all_row_norms(w));
    let partners = draw_partners(dirs.kept.len(), sampling.units_per_step, rng);
    pairwise::directional_sampled(kind, w, &dirs, partners, grad)
}

/// Whether [`value_and_gradient_sampled`] estimates `kind` on `rows` rows (rather than
/// computing it exactly).
fn is_sampled(kind: RegularizerKind, sampling: RegSampling, rows: usize) -> bool {
    kind.is_pair_sum() && sampling.units_per_step < rows
}

/// One step's sampled estimate of sum_i scale_i dR_i/dW over pair-sum regularisers, drawn
/// once and then added to W's rows block by block, on any thread and in any order: the
/// training step adds each chunk of rows of the estimate right before it updates those
/// rows, so that no n x d gradient buffer is written and read back. Adding every row gives
/// what [`value_and_gradient_sampled`] adds for each term in turn with the same stream
/// (the same partners; the same products up to the order of the terms' additions).
pub(crate) struct SampledGradient<T> {
    dirs: pairwise::Directions,
    terms: Vec<(pairwise::SampledTerm<T>, f64)>,
}

impl<T: Real> SampledGradient<T> {
    /// Draws the partners of each term `(kind, scale)` from `rng`, in order, given the
    /// norms of all rows of `w` (as [`crate::geometry::row_norms`] computes them). `None`
    /// where some term is not estimated by sampling ([`value_and_gradient_sampled`] is
    /// exact for it): the caller then takes the exact path for all of them. Panics if
    /// `row_norms` does not hold one norm per row of `w` (a programming error).
    pub(crate) fn prepare(
        terms: &[(RegularizerKind, f64)],
        w: &Matrix<T>,
        row_norms: Vec<f64>,
        sampling: RegSampling,
        rng: &mut SeededRng,
    ) -> Option<Self> {
        assert_eq!(row_norms.len(), w.rows(), "one norm per row of W");
        if terms.is_empty()
            || !terms
                .iter()
                .all(|&(kind, _)| is_sampled(kind, sampling, w.rows()))
        {
            return None;
        }
        let dirs = pairwise::Directions::new(row_norms);
        let terms = terms
            .iter()
            .map(|&(kind, scale)| {
                let partners = draw_partners(dirs.kept.len(), sampling.units_per_step, rng);
                (pairwise::SampledTerm::new(kind, w, &dirs, partners), scale)
            })
            .collect();
        Some(Self { dirs, terms })
    }

    /// `g += ` rows `first_row..first_row + w_rows.rows()` of the estimate, where `w_rows`
    /// are those rows of W (as they were when the estimate was prepared) and `g` the same
    /// rows of the gradient, row-major.
    pub(crate) fn add_rows(&self, w_rows: MatrixView<'_, T>, first_row: usize, g: &mut [T]) {
        if self.dirs.kept.is_empty() {
            return;
        }
        for (term, scale) in &self.terms {
            term.add_rows(&self.dirs, w_rows, first_row, Some((&mut *g, *scale)));
        }
    }
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
mod tests;
