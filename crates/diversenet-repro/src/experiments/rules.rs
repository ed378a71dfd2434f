//! The verdict rules that several experiments share, as pure functions of the numbers:
//! paired comparisons with Holm's correction, the effect rule with its equivalence margin
//! (gains, harms, equivalent-null, undecided, mixed), lambda chosen on validation numbers
//! only, and stratified correlations over training. Experiment-specific rules live with
//! their experiments.

use crate::experiments::stats::{holm, mean_interval, MeanInterval, Stratified};
pub use crate::report::section::Verdict;

/// Significance level of every rule.
pub const ALPHA: f64 = 0.05;

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

/// What one cell of a comparison shows (lower is better): a significant gain or harm
/// (after the family's multiplicity correction), equivalence within the pre-registered
/// margin, and whether the paper's effect size is excluded (a one-sided test rejects a
/// gain as large as the paper's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Judgement {
    pub gain: bool,
    pub harm: bool,
    pub equivalent: bool,
    pub paper_effect_excluded: bool,
}

/// The effect rule over the cells of one scope: mixed if some cell gains and another is
/// harmed; reproduced if every cell gains (`big_enough`: by the paper's size); partly if
/// some does; not reproduced if some cell is harmed (the opposite shown); equivalent-null
/// if every cell is equivalent within the margin; not reproduced if every cell excludes
/// the paper's effect without being equivalent (an effect too small for the paper's,
/// outside the margin); undecided otherwise. Not run without cells.
pub fn effect_verdict(cells: &[Judgement], big_enough: &[bool]) -> Verdict {
    let gains = cells.iter().filter(|c| c.gain).count();
    if cells.is_empty() {
        Verdict::NotRun
    } else if gains > 0 && cells.iter().any(|c| c.harm) {
        Verdict::Mixed
    } else if gains == cells.len() && big_enough.iter().all(|b| *b) {
        Verdict::Reproduced
    } else if gains > 0 {
        Verdict::Partly
    } else if cells.iter().any(|c| c.harm) {
        Verdict::NotReproduced
    } else if cells.iter().all(|c| c.equivalent) {
        Verdict::EquivalentNull
    } else if cells.iter().all(|c| c.paper_effect_excluded) {
        Verdict::NotReproduced
    } else {
        Verdict::Undecided
    }
}

/// The gain rule without a margin (a relation the paper states without an effect size):
/// reproduced if every `decisive` cell shows a significant gain (Holm), partly if at least
/// one cell does, mixed if one gains and another is significantly harmed, not reproduced
/// otherwise; not run without cells.
pub fn gain_verdict(cells: &[PairedCell], decisive: impl Fn(&PairedCell) -> bool) -> Verdict {
    let decisive: Vec<&PairedCell> = cells.iter().filter(|c| decisive(c)).collect();
    if cells.is_empty() || decisive.is_empty() {
        Verdict::NotRun
    } else if cells.iter().any(PairedCell::gain) && cells.iter().any(PairedCell::harm) {
        Verdict::Mixed
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
    /// At an edge, whether the edge beats its neighbour by less than one standard error of
    /// their paired difference over seeds: the curve is flat there within noise, and
    /// widening the grid would chase noise (set by the grids that widen; false otherwise).
    pub edge_within_noise: bool,
}

/// Whether the values at `edge` beat those at `neighbour` (lower is better), paired by
/// seed, by more than one standard error of the difference.
pub fn beats_by_more_than_noise(edge: &[f64], neighbour: &[f64]) -> bool {
    let d: Vec<f64> = neighbour.iter().zip(edge).map(|(n, e)| n - e).collect();
    let (mean, sd) = crate::experiments::stats::mean_sd(&d);
    mean > sd / (d.len().max(1) as f64).sqrt()
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
        edge_within_noise: false,
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

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
