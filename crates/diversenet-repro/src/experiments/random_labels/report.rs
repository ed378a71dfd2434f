//! RQ1 on random labels: convergence by width against the threshold, with n·d < m as the
//! negative control, and runs that were still descending when the step budget ran out
//! kept apart (they make the verdict undecided rather than negative).

use std::fmt::Write as _;

use crate::experiments::registry::{Runs, Study};
use crate::experiments::stats::median_interval;
use crate::report::plot::{PlotSpec, Series};
use crate::report::section::{ClaimText, Section, Verdict};

use super::{Plan, RandomLabels, Spec};

/// Converged: the training loss (1/2m)||y - f||^2 fell below this absolute value (about
/// 0.2% of its start, E[y^2]/2 = 0.5).
pub const CONVERGED: f64 = 1e-3;
/// Still descending: the loss fell by more than this fraction over the last fifth of the
/// steps.
pub const DESCENDING: f64 = 0.01;

/// One run, summarised.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    pub enough_units: bool,
    pub final_loss: f64,
    pub final_s_min: f64,
    /// Not converged, and the loss still falling at the end.
    pub descending: bool,
}

impl Summary {
    pub fn converged(&self) -> bool {
        self.final_loss < CONVERGED
    }
}

pub fn summarise(spec: &Spec, trajectory: &[super::Point]) -> Option<Summary> {
    let last = trajectory.last()?;
    let at = (trajectory.len() - 1) * 4 / 5;
    let earlier = trajectory[at].m.loss;
    let final_loss = last.m.loss;
    Some(Summary {
        enough_units: spec.enough_units(),
        final_loss,
        final_s_min: last.m.s_min,
        descending: final_loss >= CONVERGED && final_loss < (1.0 - DESCENDING) * earlier,
    })
}

/// Reproduced if every run with n·d ≥ m converged and some run with n·d < m did not
/// (partly if they all did: the condition would not discriminate); partly if only some
/// converged; if none did, undecided where some were still descending, not reproduced
/// otherwise.
pub fn verdict(runs: &[Summary]) -> Verdict {
    let (eligible, controls): (Vec<&Summary>, Vec<&Summary>) =
        runs.iter().partition(|r| r.enough_units);
    let converged = eligible.iter().filter(|r| r.converged()).count();
    if eligible.is_empty() {
        Verdict::NotRun
    } else if converged == eligible.len() {
        if !controls.is_empty() && controls.iter().all(|c| c.converged()) {
            Verdict::Partly
        } else {
            Verdict::Reproduced
        }
    } else if converged > 0 {
        Verdict::Partly
    } else if eligible.iter().any(|r| r.descending) {
        Verdict::Undecided
    } else {
        Verdict::NotReproduced
    }
}

pub fn section(plan: &Plan, runs: &Runs<RandomLabels>) -> Section {
    let mut s = Section::new(RandomLabels::TITLE);
    let critical = plan.points as f64 / plan.dim as f64;
    s.paragraph(format!(
        "Targets i.i.d. N(0, 1) on m = {} points of the sphere in d = {} (no teacher: nothing to learn but the labels), \
         fixed output weights ±1, full-batch {} (lr {}, constant, f64) for {} steps, s_m(D) measured every {} steps. \
         The theorem says that where s_m(D) > 0 a stationary point is a global minimum, so any targets can be fitted: \
         with n·d ≥ m (n ≥ {critical}) the loss should reach 0. Below, D has fewer rows than columns, s_m(D) = 0 and the \
         loss stays positive (the negative control). A run converged when its loss fell below {CONVERGED:e} (absolute; \
         it starts near 0.5); a run that did not, but whose loss still fell by more than {}% over the last fifth of the \
         steps, was still descending when the budget ran out.",
        plan.points, plan.dim, plan.optimizer.name(), plan.lr, plan.steps, plan.log_every, 100.0 * DESCENDING
    ));
    s.config(plan);
    let mut csv = String::from("seed,width,step,loss,grad_norm,s_min,bound\n");
    let mut all = Vec::new();
    let mut by_width: std::collections::BTreeMap<usize, Vec<Summary>> = Default::default();
    let mut traces: Vec<Series> = Vec::new();
    for (spec, o) in runs.iter() {
        for p in &o.trajectory {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{}",
                spec.seed,
                spec.width,
                p.step,
                p.m.loss,
                p.m.grad_norm,
                p.m.s_min,
                p.m.bound.unwrap_or(f64::NAN)
            );
        }
        let Some(sum) = summarise(spec, &o.trajectory) else {
            continue;
        };
        all.push(sum);
        by_width.entry(spec.width).or_default().push(sum);
        if spec.seed == 0 {
            traces.push(Series::line(
                format!("n = {}", spec.width),
                o.trajectory
                    .iter()
                    .map(|p| ((p.step as f64).max(1.0), p.m.loss))
                    .collect(),
            ));
        }
    }
    let mut rows = Vec::new();
    let mut medians = Vec::new();
    for (n, v) in &by_width {
        let loss = median_interval(&v.iter().map(|r| r.final_loss).collect::<Vec<_>>(), 0.95);
        let smin = median_interval(&v.iter().map(|r| r.final_s_min).collect::<Vec<_>>(), 0.95);
        medians.push((*n as f64, loss.median));
        rows.push(vec![
            n.to_string(),
            format!("{}", n * plan.dim),
            format!("{}/{}", v.iter().filter(|r| r.converged()).count(), v.len()),
            format!("{}", v.iter().filter(|r| r.descending).count()),
            format!("{:.2e}", loss.median),
            format!("{:.2e}", smin.median),
        ]);
    }
    s.table(
        &[
            "n",
            "n·d (m = points)",
            "converged (L < 1e-3)",
            "still descending",
            "median final L",
            "median final s_m(D)",
        ],
        rows,
    );
    s.plot(
        "rq1_random_final_loss.svg",
        &format!("RQ1, random labels: median final training loss against the width n (n·d = m at n = {critical})"),
        PlotSpec::log_log("final loss against n", "units n", "median final L")
            .with_x_ticks(plan.widths.iter().map(|&n| n as f64).collect()),
        &[
            Series::dots("median final L", medians.clone()),
            Series::line(
                "convergence threshold",
                vec![(plan.widths[0] as f64, CONVERGED), (*plan.widths.last().unwrap_or(&1) as f64, CONVERGED)],
            ),
        ],
    );
    s.plot(
        "rq1_random_trajectories.svg",
        "RQ1, random labels, seed 0: the training loss along full-batch training, one line per width",
        PlotSpec::log_log("loss along training", "step", "L"),
        &traces,
    );
    s.csv("rq1_random_labels.csv", csv);
    let eligible: Vec<&Summary> = all.iter().filter(|r| r.enough_units).collect();
    let controls: Vec<&Summary> = all.iter().filter(|r| !r.enough_units).collect();
    let scope = format!(
        "full-batch {} (lr {}, f64, {} steps), random N(0, 1) labels, d = {}, m = {}, n = {:?}, {} seeds",
        plan.optimizer.name(), plan.lr, plan.steps, plan.dim, plan.points, plan.widths, plan.seeds
    );
    s.claim(
        ClaimText {
            id: "rq1-random-labels",
            claim: "With n·d ≥ m (s_m(D) can be > 0), full-batch training fits any targets: the loss on random labels \
                    goes to 0 (no spurious local minima)",
            scope: &scope,
            rule: "reproduced if every run with n·d ≥ m reached L < 1e-3 and some run with n·d < m did not; partly if \
                   only some converged (the table gives them by width); if none did, undecided where some were still \
                   descending at the end, not reproduced otherwise",
        },
        verdict(&all),
        format!(
            "{} of {} runs with n·d ≥ m reached L < 1e-3 ({} still descending); by width: {}; n·d < m: {} of {}",
            eligible.iter().filter(|r| r.converged()).count(),
            eligible.len(),
            eligible.iter().filter(|r| r.descending).count(),
            by_width
                .iter()
                .filter(|(n, _)| *n * plan.dim >= plan.points)
                .map(|(n, v)| format!("n={n}: {}/{}", v.iter().filter(|r| r.converged()).count(), v.len()))
                .collect::<Vec<_>>()
                .join(", "),
            controls.iter().filter(|r| r.converged()).count(),
            controls.len()
        ),
    );
    s
}
