//! The verdict rules, as pure functions of the numbers (tested on planted results in
//! `findings::tests`): paired comparisons with Holm's correction, gains and harms, lambda
//! chosen on validation numbers only, stratified correlations over training, and the
//! RQ1 convergence rule with its negative control.

use crate::experiments::stats::{holm, mean_interval, MeanInterval, Stratified};

/// Significance level of every rule.
pub const ALPHA: f64 = 0.05;

/// A verdict computed from the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    #[serde(rename = "reproduced")]
    Reproduced,
    #[serde(rename = "partly")]
    Partly,
    #[serde(rename = "not reproduced")]
    NotReproduced,
    #[serde(rename = "not run")]
    NotRun,
    /// An identity or theorem that holds by construction: it checks the code.
    #[serde(rename = "consistency check")]
    ConsistencyCheck,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Self::Reproduced => "reproduced",
            Self::Partly => "partly",
            Self::NotReproduced => "not reproduced",
            Self::NotRun => "not run",
            Self::ConsistencyCheck => "consistency check",
        }
    }
}

/// A treatment against its baseline in one cell (a width, a setting), paired by seed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PairedCell {
    pub label: String,
    /// Treatment minus baseline, one per seed (relative or absolute, as the caller chose).
    pub changes: Vec<f64>,
    pub interval: MeanInterval,
    /// The test's two-sided p-value, and after Holm's correction over the cells compared
    /// together.
    pub p: f64,
    pub p_holm: f64,
}

impl PairedCell {
    pub fn improved(&self) -> usize {
        self.changes.iter().filter(|c| **c < 0.0).count()
    }
    /// A significant decrease (a gain when lower is better).
    pub fn gain(&self) -> bool {
        self.interval.mean < 0.0 && self.p_holm < ALPHA
    }
    /// A significant increase.
    pub fn harm(&self) -> bool {
        self.interval.mean > 0.0 && self.p_holm < ALPHA
    }
}

/// Cells from (label, per-seed changes), with the p-values of `test` corrected by Holm
/// over all of them.
pub fn paired_cells(cells: Vec<(String, Vec<f64>)>, test: fn(&[f64]) -> f64) -> Vec<PairedCell> {
    let p: Vec<f64> = cells.iter().map(|(_, c)| test(c)).collect();
    let adjusted = holm(&p);
    cells
        .into_iter()
        .zip(p.into_iter().zip(adjusted))
        .map(|((label, changes), (p, p_holm))| PairedCell {
            label,
            interval: mean_interval(&changes),
            changes,
            p,
            p_holm,
        })
        .collect()
}

/// Two-sided Wilcoxon signed-rank p-value (for [`paired_cells`]).
pub fn wilcoxon_p(changes: &[f64]) -> f64 {
    crate::experiments::stats::wilcoxon_signed_rank(changes).p_value
}

/// Two-sided paired t-test p-value (for [`paired_cells`]; 1 when undefined).
pub fn paired_t_p(changes: &[f64]) -> f64 {
    let (mean, sd) = crate::experiments::stats::mean_sd(changes);
    let n = changes.len();
    if n < 2 || sd == 0.0 || !sd.is_finite() {
        return if n >= 2 && mean != 0.0 && sd == 0.0 {
            0.0
        } else {
            1.0
        };
    }
    let t = mean.abs() / (sd / (n as f64).sqrt());
    2.0 * (1.0 - crate::experiments::stats::student_t_cdf(t, (n - 1) as f64))
}

/// The gain rule: reproduced if every `decisive` cell shows a significant gain (Holm),
/// partly if at least one cell does, not reproduced otherwise; not run without cells.
pub fn gain_verdict(cells: &[PairedCell], decisive: impl Fn(&PairedCell) -> bool) -> Verdict {
    let decisive: Vec<&PairedCell> = cells.iter().filter(|c| decisive(c)).collect();
    if cells.is_empty() || decisive.is_empty() {
        Verdict::NotRun
    } else if decisive.iter().all(|c| c.gain()) {
        Verdict::Reproduced
    } else if cells.iter().any(PairedCell::gain) {
        Verdict::Partly
    } else {
        Verdict::NotReproduced
    }
}

/// Where a chosen lambda sits in its grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Edge {
    Inside,
    Lowest,
    Highest,
}

/// A lambda chosen by mean validation loss (or error) over seeds.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Selection {
    pub chosen: f64,
    pub edge: Edge,
    /// Whether lambda = 0 has a lower mean validation value than the chosen lambda.
    pub validation_prefers_none: bool,
    /// Every lambda of the curve (0 included when given) with its validation mean and interval.
    pub curve: Vec<(f64, MeanInterval)>,
}

/// Chooses the lambda > 0 with the lowest mean validation value. It is given validation
/// numbers only (lambda -> one value per seed), so a test metric cannot enter.
pub fn select_lambda(validation: &[(f64, Vec<f64>)]) -> Option<Selection> {
    let curve: Vec<(f64, MeanInterval)> = validation
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(l, v)| (*l, mean_interval(v)))
        .collect();
    let positive: Vec<&(f64, MeanInterval)> = curve.iter().filter(|(l, _)| *l > 0.0).collect();
    let best = positive
        .iter()
        .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean))?;
    let lowest = positive.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let highest = positive.iter().map(|p| p.0).fold(0.0, f64::max);
    let edge = if positive.len() < 2 {
        Edge::Inside
    } else if best.0 == lowest {
        Edge::Lowest
    } else if best.0 == highest {
        Edge::Highest
    } else {
        Edge::Inside
    };
    let none = curve.iter().find(|(l, _)| *l == 0.0).map(|c| c.1.mean);
    Some(Selection {
        chosen: best.0,
        edge,
        validation_prefers_none: none.is_some_and(|n| n < best.1.mean),
        curve,
    })
}

/// The correlation rule: the stratified statistic must have the expected `sign` with its
/// interval excluding 0 (reproduced); the expected sign alone, or a significant opposite
/// sign at some checkpoint during training, gives partly; otherwise not reproduced.
/// Returns the verdict and whether the sign changes over training.
pub fn correlation_verdict(
    final_stratified: &Stratified,
    over_training: &[(usize, Stratified)],
    sign: f64,
) -> (Verdict, bool) {
    let significant = |s: &Stratified, sg: f64| s.ci_low * sg > 0.0 && s.ci_high * sg > 0.0;
    let sign_changes = over_training.iter().any(|(_, s)| significant(s, -sign))
        && over_training.iter().any(|(_, s)| significant(s, sign));
    let verdict = if !final_stratified.rho.is_finite() {
        Verdict::NotRun
    } else if significant(final_stratified, sign) && !sign_changes {
        Verdict::Reproduced
    } else if final_stratified.rho * sign > 0.0 {
        Verdict::Partly
    } else {
        Verdict::NotReproduced
    };
    (verdict, sign_changes)
}

/// One gradient-descent run of RQ1, summarised.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Trajectory {
    /// min over the run of s_m(D), relative to its start (0 when s_m(D) is 0 throughout).
    pub min_s_relative: f64,
    /// The largest s_m(D) seen.
    pub max_s: f64,
    /// Final loss / initial loss.
    pub loss_ratio: f64,
}

/// Converged: the loss fell below 1% of its start.
pub const CONVERGED: f64 = 1e-2;
/// s_m(D) "away from 0": it stayed above 1% of its start. Collapsed: never above 1e-8.
pub const AWAY_FROM_ZERO: f64 = 1e-2;
pub const COLLAPSED: f64 = 1e-8;

/// RQ1's rule, with a negative control. Reproduced if every run whose s_m(D) stayed away
/// from 0 converged AND the controls (s_m(D) collapsed, the case the theorem excludes) did
/// not all converge, so that the condition discriminates; partly if the treated runs
/// converged but so did every control (the data cannot tell whether s_m(D) matters), or
/// if only some treated runs converged; not reproduced if none did.
pub fn convergence_verdict(treated: &[Trajectory], controls: &[Trajectory]) -> Verdict {
    let eligible: Vec<&Trajectory> = treated
        .iter()
        .filter(|t| t.min_s_relative >= AWAY_FROM_ZERO)
        .collect();
    let collapsed: Vec<&Trajectory> = controls.iter().filter(|t| t.max_s <= COLLAPSED).collect();
    let converged = eligible.iter().filter(|t| t.loss_ratio < CONVERGED).count();
    if eligible.is_empty() {
        Verdict::NotRun
    } else if converged == 0 {
        Verdict::NotReproduced
    } else if converged < eligible.len() {
        Verdict::Partly
    } else if !collapsed.is_empty() && collapsed.iter().any(|t| t.loss_ratio >= CONVERGED) {
        Verdict::Reproduced
    } else {
        Verdict::Partly
    }
}
