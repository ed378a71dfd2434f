//! `reproduce --plan`: every registered experiment's sizes, number of runs and compute
//! estimate, summed, with the wall time they imply on the development machine.

use super::registry::ExperimentPlan;
use super::REGISTRY;

/// How the compute estimate was made.
pub const ESTIMATE_NOTE: &str = "per-run costs on one core of the 2-core development machine, \
    from timed trials of each kind of run (the third edition's), scaled by each run's size; \
    the runs execute two at a time, so the wall time is about half the compute plus the \
    rounds in which adaptive grids wait for their results; rough (within a factor of 1.5)";

/// `reproduce --plan`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlanSummary {
    pub quick: bool,
    /// Runs known before any result (adaptive grids counted without widening).
    pub runs: usize,
    /// Runs if every adaptive grid is widened fully.
    pub runs_at_most: usize,
    /// Summed one-core compute of the expected runs.
    pub estimated_seconds: f64,
    /// The wall time that compute implies on 2 cores (half of it, plus 5%).
    pub estimated_wall_seconds: f64,
    pub estimate_note: String,
    pub experiments: Vec<ExperimentPlan>,
}

/// The plan of the whole reproduction (`quick`: the quick one).
pub fn summary(quick: bool) -> PlanSummary {
    let experiments: Vec<ExperimentPlan> = REGISTRY.iter().map(|e| e.summary(quick)).collect();
    let seconds: f64 = experiments.iter().map(|e| e.estimated_seconds).sum();
    PlanSummary {
        quick,
        runs: experiments.iter().map(|e| e.runs).sum(),
        runs_at_most: experiments.iter().map(|e| e.runs_at_most).sum(),
        estimated_seconds: seconds,
        estimated_wall_seconds: seconds / 2.0 * 1.05,
        estimate_note: ESTIMATE_NOTE.into(),
        experiments,
    }
}
