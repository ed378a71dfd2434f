//! The MNIST factorial's numbers: per cell (optimiser, initial scale, width) the learning
//! rate and each arm's lambda chosen from validation errors only, then the paired test
//! error changes on the evaluation seeds, with Holm's correction over the widths × arms of
//! each (optimiser, initial scale), TOST within the pre-registered margin, and the
//! diagnostics of W (R, mean ||w_k||, ||lambda grad R|| / ||grad L||).

use std::collections::BTreeMap;

use crate::experiments::registry::Runs;
use crate::experiments::rules::{
    paired_cells, paired_t_p, Edge, Judgement, PairedCell, Selection, ALPHA,
};
use crate::experiments::stats::{mean_sd, one_sided_t_p, tost, Tost};

use super::{Arm, MnistReg, Optimizer, Plan, Snapshot};

/// A cell of the factorial, without its arm.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Setting {
    pub optimizer: Optimizer,
    pub init_scale: f64,
    pub width: usize,
}

impl Setting {
    /// The scope without the width: "Adam, std 1".
    pub fn scope(&self) -> String {
        format!("{}, std {}", self.optimizer.name(), self.init_scale)
    }
    /// Same optimiser and initial scale.
    pub fn same_scope(&self, other: &Setting) -> bool {
        self.optimizer == other.optimizer && self.init_scale == other.init_scale
    }
}

/// A cell's unregularised runs at its learning rate.
#[derive(Clone, Debug)]
pub struct Baseline {
    pub setting: Setting,
    pub lr: f64,
    pub lr_edge: Edge,
    /// Evaluation seed -> test error (%).
    pub test: BTreeMap<u64, f64>,
    pub last: Vec<Snapshot>,
    pub diverged: usize,
}

/// One arm in one cell.
#[derive(Clone, Debug)]
pub struct Cell {
    pub setting: Setting,
    pub arm: Arm,
    pub lr: f64,
    pub selection: Selection,
    /// lambda times ||grad R_arm|| / ||grad L|| at initialisation, mean over the selection
    /// seeds: the chosen lambda in a unit that does not depend on the scale of W.
    pub scale_free: f64,
    /// ||lambda grad R_arm|| / ||grad L|| at the end, mean over the evaluation seeds.
    pub final_ratio: f64,
    /// Test error change in points against the baseline of the same seed.
    pub change: PairedCell,
    pub by_seed: BTreeMap<u64, f64>,
    pub tost: Tost,
    /// One-sided p of "the change is at most -paper_gain" (rejected: the paper's gain is
    /// excluded).
    pub p_paper_gain: f64,
    pub last: Vec<Snapshot>,
    pub diverged: usize,
}

impl Cell {
    pub fn judgement(&self) -> Judgement {
        Judgement {
            gain: self.change.gain(),
            harm: self.change.harm(),
            equivalent: self.tost.equivalent(ALPHA),
            paper_effect_excluded: self.p_paper_gain < ALPHA,
        }
    }
    /// A significant gain at least as large as the paper's smallest.
    pub fn big_enough(&self, plan: &Plan) -> bool {
        self.change.interval.mean <= -plan.paper_gain_points
    }
}

fn mean_of(v: impl Iterator<Item = f64>) -> f64 {
    mean_sd(&v.filter(|x| x.is_finite()).collect::<Vec<_>>()).0
}

/// The baselines and arms of every cell whose choices are complete.
pub fn analyse(plan: &Plan, runs: &Runs<MnistReg>) -> (Vec<Baseline>, Vec<Cell>) {
    let validation = |s: &super::Spec| runs.get(s).map(|o| o.validation_error);
    let mut baselines = Vec::new();
    let mut raw = Vec::new();
    for at in plan.settings() {
        let Some((lr, lr_edge)) = plan.lr(&at, &validation) else {
            continue;
        };
        let base_runs: BTreeMap<u64, &super::Outcome> = plan
            .eval_range()
            .filter_map(|seed| {
                runs.get(&plan.spec(seed, &at, lr, None, None))
                    .map(|o| (seed, o))
            })
            .collect();
        let base_validation: Option<Vec<f64>> = plan
            .selection_range()
            .map(|seed| validation(&plan.spec(seed, &at, lr, None, None)))
            .collect();
        baselines.push(Baseline {
            setting: at,
            lr,
            lr_edge,
            test: base_runs
                .iter()
                .map(|(s, o)| (*s, 100.0 * o.test_error))
                .collect(),
            last: base_runs.values().filter_map(|o| o.last.clone()).collect(),
            diverged: base_runs.values().filter(|o| o.diverged).count(),
        });
        for arm in &plan.optimizer(at.optimizer).arms {
            let (_, selection) = plan.grid(
                arm,
                |k| {
                    plan.selection_range()
                        .map(|seed| validation(&plan.spec(seed, &at, lr, Some(arm.arm), Some(k))))
                        .collect()
                },
                base_validation.clone(),
            );
            let Some(selection) = selection else { continue };
            let k = selection.chosen.log10().round() as i32;
            let treated: BTreeMap<u64, &super::Outcome> = plan
                .eval_range()
                .filter_map(|seed| {
                    runs.get(&plan.spec(seed, &at, lr, Some(arm.arm), Some(k)))
                        .map(|o| (seed, o))
                })
                .collect();
            let by_seed: BTreeMap<u64, f64> = treated
                .iter()
                .filter_map(|(seed, o)| {
                    base_runs
                        .get(seed)
                        .map(|b| (*seed, 100.0 * (o.test_error - b.test_error)))
                })
                .collect();
            let scale_free = mean_of(plan.selection_range().filter_map(|seed| {
                let o = runs.get(&plan.spec(seed, &at, lr, Some(arm.arm), Some(k)))?;
                o.initial.as_ref().map(|s| s.ratio(selection.chosen))
            }));
            let final_ratio = mean_of(
                treated
                    .values()
                    .filter_map(|o| o.last.as_ref().map(|s| s.ratio(selection.chosen))),
            );
            raw.push((
                at,
                arm.arm,
                lr,
                selection,
                scale_free,
                final_ratio,
                by_seed,
                treated,
            ));
        }
    }
    // Holm over the widths x arms of each (optimiser, initial scale).
    let mut cells: Vec<Cell> = Vec::new();
    let mut scopes: Vec<Setting> = Vec::new();
    for r in &raw {
        if !scopes.iter().any(|s| s.same_scope(&r.0)) {
            scopes.push(r.0);
        }
    }
    for scope in scopes {
        let members: Vec<_> = raw.iter().filter(|r| r.0.same_scope(&scope)).collect();
        let paired = paired_cells(
            members
                .iter()
                .map(|r| {
                    (
                        format!("n={}, {}", r.0.width, r.1.name()),
                        r.6.values().copied().collect(),
                    )
                })
                .collect(),
            paired_t_p,
        );
        for (r, change) in members.into_iter().zip(paired) {
            let (at, arm, lr, selection, scale_free, final_ratio, by_seed, treated) = r.clone();
            cells.push(Cell {
                tost: tost(&change.changes, plan.margin_points),
                p_paper_gain: one_sided_t_p(&change.changes, -plan.paper_gain_points, true),
                setting: at,
                arm,
                lr,
                selection,
                scale_free,
                final_ratio,
                change,
                by_seed,
                last: treated.values().filter_map(|o| o.last.clone()).collect(),
                diverged: treated.values().filter(|o| o.diverged).count(),
            });
        }
    }
    (baselines, cells)
}
