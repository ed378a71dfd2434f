//! RQ5 on MNIST, a factorial: optimiser (Adam; SGD with momentum, its learning rate chosen
//! on validation) × initial scale of W × width × arm, where the arms are the discrepancy
//! regulariser coupled through the optimiser, decoupled from it (like AdamW), and its null
//! control (a random tangential perturbation of the same size), coupled L2 and AdamW's
//! decoupled weight decay, each against no regulariser. Each arm's lambda is chosen per
//! cell on a decade grid by the mean validation error of the selection seeds, the grid
//! widened while the choice sits at its edge; the chosen lambda is then evaluated on other
//! seeds, paired with the unregularised runs of the same seeds. The plan grows as results
//! arrive: [`Plan::runs`] takes the results so far.

mod analysis;
pub mod report;
mod report_claims;
mod run;
#[cfg(test)]
mod tests;

use diversenet::error::Result;
use diversenet::model::LrSchedule;
use diversenet::regularizer::Coupling;

use super::common::{decade, spread};
use super::registry::{DataNeed, Known, ReportContext, Runs, Shared, Study, StudyPlan};
use super::rules::{beats_by_more_than_noise, select_lambda, Edge, Selection};
use crate::report::section::Section;

pub use analysis::{analyse, Cell, Setting};
pub use run::execute;

/// RQ5 on MNIST.
pub struct MnistReg;

/// What a regularised run adds to the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arm {
    /// The discrepancy regulariser lambda R(W), with its gradient entering as `Coupling` says
    /// (the null control is `Coupling::NullControl`).
    Diversity(Coupling),
    /// lambda ||W||^2 in the loss, through the optimiser.
    CoupledL2,
    /// AdamW's decoupled weight decay: W <- (1 - lr_t lambda) W after each step.
    DecoupledWeightDecay,
}

impl Arm {
    pub fn name(self) -> &'static str {
        match self {
            Self::Diversity(Coupling::Coupled) => "diversity, coupled",
            Self::Diversity(Coupling::Decoupled) => "diversity, decoupled",
            Self::Diversity(Coupling::NullControl) => "null control",
            Self::CoupledL2 => "coupled L2",
            Self::DecoupledWeightDecay => "decoupled weight decay",
        }
    }
    /// The arms of the paper's regulariser (not its controls or peers).
    pub fn is_diversity(self) -> bool {
        matches!(
            self,
            Self::Diversity(Coupling::Coupled) | Self::Diversity(Coupling::Decoupled)
        )
    }
}

/// The optimiser of a cell.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    Adam,
    /// SGD with momentum 0.9.
    Sgd,
}

impl Optimizer {
    pub fn name(self) -> &'static str {
        match self {
            Self::Adam => "Adam",
            Self::Sgd => "SGD",
        }
    }
}

/// One arm with its initial grid (decade exponents: lambda = 10^k) and the largest exponent
/// it may widen to (a configuration limit, e.g. lr lambda < 1 for weight decay).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ArmGrid {
    pub arm: Arm,
    pub grid: Vec<i32>,
    pub ceiling: i32,
}

/// An optimiser with its learning rates (one: fixed; several: chosen on validation with the
/// unregularised runs of the selection seeds) and its arms.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OptimizerPlan {
    pub optimizer: Optimizer,
    /// The plan's widths this optimiser is not run at (cut for the budget).
    pub cut_widths: Vec<usize>,
    pub lrs: Vec<f64>,
    pub arms: Vec<ArmGrid>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub widths: Vec<usize>,
    /// Standard deviations of W's initial entries (1: ||w_k|| about 28 on MNIST).
    pub init_scales: Vec<f64>,
    pub optimizers: Vec<OptimizerPlan>,
    pub epochs: usize,
    pub schedule: LrSchedule,
    pub train_samples: usize,
    pub validation: usize,
    /// Test images (the first of the 10,000).
    pub test_samples: usize,
    /// Seeds 0..selection_seeds choose lr and lambda; the next `eval_seeds` evaluate.
    pub selection_seeds: u64,
    pub eval_seeds: u64,
    /// Decades a grid may be extended by, on each side.
    pub max_widening: usize,
    /// The pre-registered equivalence margin, in percentage points of test error.
    pub margin_points: f64,
    /// The smallest gain the paper reports, in points.
    pub paper_gain_points: f64,
}

impl StudyPlan<MnistReg> for Plan {
    fn full() -> Self {
        let g = |arm, grid: &[i32], ceiling| ArmGrid {
            arm,
            grid: grid.to_vec(),
            ceiling,
        };
        use Arm::*;
        Self {
            widths: vec![50, 100, 200],
            init_scales: vec![1.0, 0.1],
            optimizers: vec![
                OptimizerPlan {
                    optimizer: Optimizer::Adam,
                    cut_widths: vec![],
                    lrs: vec![0.01],
                    arms: vec![
                        // Grids centred where lambda ||grad R|| / ||grad L|| at
                        // initialisation runs from about 1e-3 to 1 (timed trials).
                        g(Diversity(Coupling::Coupled), &[1, 2, 3], 6),
                        // Decoupled, lambda must be far larger: Adam's step is about lr per
                        // coordinate, the decoupled step lr lambda |dR/dw| (a unit's
                        // rotation per step is lr lambda / (2 pi n ||w||^2)).
                        g(Diversity(Coupling::Decoupled), &[2, 3, 4, 5], 8),
                        g(Diversity(Coupling::NullControl), &[1, 2, 3], 6),
                        g(CoupledL2, &[-5, -4, -3], 1),
                        // lr lambda < 1 at lr 0.01.
                        g(DecoupledWeightDecay, &[-2, -1, 0], 1),
                    ],
                },
                OptimizerPlan {
                    optimizer: Optimizer::Sgd,
                    cut_widths: vec![],
                    lrs: vec![0.3, 1.0, 3.0],
                    arms: vec![
                        g(Diversity(Coupling::Coupled), &[1, 2, 3], 6),
                        g(Diversity(Coupling::NullControl), &[1, 2, 3], 6),
                        g(CoupledL2, &[-5, -4, -3], 0),
                    ],
                },
            ],
            epochs: 8,
            schedule: LrSchedule::Cosine,
            train_samples: 50_000,
            validation: 10_000,
            test_samples: 10_000,
            selection_seeds: 3,
            eval_seeds: 5,
            max_widening: 3,
            margin_points: 0.2,
            paper_gain_points: 0.2,
        }
    }
    fn quick(&self) -> Self {
        Self {
            widths: self.widths[..1].to_vec(),
            optimizers: self
                .optimizers
                .iter()
                .map(|o| OptimizerPlan {
                    lrs: spread(&o.lrs, 2),
                    arms: o
                        .arms
                        .iter()
                        .map(|a| ArmGrid {
                            grid: spread(&a.grid, 2),
                            ..a.clone()
                        })
                        .collect(),
                    ..o.clone()
                })
                .collect(),
            epochs: 1,
            train_samples: 5_000,
            validation: 1_000,
            test_samples: 2_000,
            selection_seeds: 1,
            eval_seeds: 2,
            max_widening: 0,
            ..self.clone()
        }
    }
    fn runs(&self, known: &Known<'_, MnistReg>) -> Vec<Spec> {
        self.runs_given_validation(&|s| known(s).map(|o| o.validation_error))
    }
}

impl Plan {
    /// Every (optimiser, initial scale, width) cell.
    pub fn settings(&self) -> Vec<Setting> {
        let mut out = Vec::new();
        for o in &self.optimizers {
            for &init_scale in &self.init_scales {
                for width in self.widths_of(o.optimizer) {
                    out.push(Setting {
                        optimizer: o.optimizer,
                        init_scale,
                        width,
                    });
                }
            }
        }
        out
    }
    /// The widths an optimiser is run at.
    pub fn widths_of(&self, o: Optimizer) -> Vec<usize> {
        let cut = &self.optimizer(o).cut_widths;
        self.widths
            .iter()
            .copied()
            .filter(|w| !cut.contains(w))
            .collect()
    }
    pub fn optimizer(&self, o: Optimizer) -> &OptimizerPlan {
        self.optimizers
            .iter()
            .find(|p| p.optimizer == o)
            .expect("the plan's own optimiser")
    }
    pub fn selection_range(&self) -> std::ops::Range<u64> {
        0..self.selection_seeds
    }
    pub fn eval_range(&self) -> std::ops::Range<u64> {
        self.selection_seeds..self.selection_seeds + self.eval_seeds
    }

    pub fn spec(&self, seed: u64, at: &Setting, lr: f64, arm: Option<Arm>, k: Option<i32>) -> Spec {
        Spec {
            seed,
            width: at.width,
            optimizer: at.optimizer,
            lr,
            init_scale: at.init_scale,
            arm,
            lambda: k.map_or(0.0, decade),
            epochs: self.epochs,
            schedule: self.schedule,
            train_samples: self.train_samples,
            validation: self.validation,
            test_samples: self.test_samples,
        }
    }

    /// The learning rate of a cell: fixed, or chosen by the unregularised runs' mean
    /// validation error over the selection seeds (None while they are missing).
    pub fn lr(
        &self,
        at: &Setting,
        validation: &dyn Fn(&Spec) -> Option<f64>,
    ) -> Option<(f64, Edge)> {
        let lrs = &self.optimizer(at.optimizer).lrs;
        if lrs.len() == 1 {
            return Some((lrs[0], Edge::Inside));
        }
        let curve: Option<Vec<(f64, Vec<f64>)>> = lrs
            .iter()
            .map(|&lr| {
                let v: Option<Vec<f64>> = self
                    .selection_range()
                    .map(|seed| validation(&self.spec(seed, at, lr, None, None)))
                    .collect();
                v.map(|v| (lr, v))
            })
            .collect();
        select_lambda(&curve?).map(|s| (s.chosen, s.edge))
    }

    /// The grid of one arm in a cell given the validation errors known so far, widened by
    /// a decade while the choice sits at an edge and beats its neighbour by more than the
    /// noise (one standard error of their paired difference over the selection seeds; a
    /// curve flat within noise has no interior to find), at most `max_widening` decades
    /// each side and never above the arm's ceiling; and the selection once the whole grid
    /// is known.
    pub fn grid(
        &self,
        arm: &ArmGrid,
        validation: impl Fn(i32) -> Option<Vec<f64>>,
        baseline: Option<Vec<f64>>,
    ) -> (Vec<i32>, Option<Selection>) {
        let mut grid = arm.grid.clone();
        let (mut below, mut above) = (0, 0);
        loop {
            let values: Option<Vec<Vec<f64>>> = grid.iter().map(|&k| validation(k)).collect();
            let Some(values) = values else {
                return (grid, None);
            };
            let mut curve: Vec<(f64, Vec<f64>)> = grid
                .iter()
                .zip(&values)
                .map(|(&k, v)| (decade(k), v.clone()))
                .collect();
            if let Some(b) = &baseline {
                curve.push((0.0, b.clone()));
            }
            let Some(mut selection) = select_lambda(&curve) else {
                return (grid, None);
            };
            let last = values.len() - 1;
            let beyond_noise = match selection.edge {
                Edge::Lowest if last > 0 => beats_by_more_than_noise(&values[0], &values[1]),
                Edge::Highest if last > 0 => {
                    beats_by_more_than_noise(&values[last], &values[last - 1])
                }
                _ => true,
            };
            match selection.edge {
                Edge::Lowest if beyond_noise && below < self.max_widening => {
                    below += 1;
                    grid.insert(0, grid[0] - 1);
                }
                Edge::Highest
                    if beyond_noise && above < self.max_widening && grid[last] < arm.ceiling =>
                {
                    above += 1;
                    grid.push(grid[last] + 1);
                }
                _ => {
                    selection.edge_within_noise = selection.edge != Edge::Inside && !beyond_noise;
                    return (grid, Some(selection));
                }
            }
        }
    }

    /// The runs known to be needed given the results so far: the baselines on every seed
    /// (on every learning rate for the selection seeds), each arm's grid on the selection
    /// seeds once the cell's learning rate is known, and the chosen lambdas on the
    /// evaluation seeds once chosen.
    pub fn runs_given_validation(&self, known: &dyn Fn(&Spec) -> Option<f64>) -> Vec<Spec> {
        let mut out = Vec::new();
        for at in self.settings() {
            let op = self.optimizer(at.optimizer);
            for &lr in &op.lrs {
                for seed in self.selection_range() {
                    out.push(self.spec(seed, &at, lr, None, None));
                }
            }
            let Some((lr, _)) = self.lr(&at, known) else {
                continue;
            };
            for seed in self.eval_range() {
                out.push(self.spec(seed, &at, lr, None, None));
            }
            let baseline: Option<Vec<f64>> = self
                .selection_range()
                .map(|seed| known(&self.spec(seed, &at, lr, None, None)))
                .collect();
            for arm in &op.arms {
                let validation = |k: i32| -> Option<Vec<f64>> {
                    self.selection_range()
                        .map(|seed| known(&self.spec(seed, &at, lr, Some(arm.arm), Some(k))))
                        .collect()
                };
                let (grid, selection) = self.grid(arm, validation, baseline.clone());
                for &k in &grid {
                    for seed in self.selection_range() {
                        out.push(self.spec(seed, &at, lr, Some(arm.arm), Some(k)));
                    }
                }
                if let Some(sel) = selection {
                    let k = sel.chosen.log10().round() as i32;
                    for seed in self.eval_range() {
                        out.push(self.spec(seed, &at, lr, Some(arm.arm), Some(k)));
                    }
                }
            }
        }
        out
    }

    /// The runs if every choice were made without widening (the middle of each grid, the
    /// first learning rate), and the most the plan may need (every grid widened fully).
    pub fn expected(&self) -> (Vec<Spec>, usize) {
        let mut runs = Vec::new();
        let mut most = 0;
        for at in self.settings() {
            let op = self.optimizer(at.optimizer);
            let lr = op.lrs[0];
            let sel = self.selection_seeds as usize;
            let eval = self.eval_seeds as usize;
            for &l in &op.lrs {
                for seed in self.selection_range() {
                    runs.push(self.spec(seed, &at, l, None, None));
                }
            }
            for seed in self.eval_range() {
                runs.push(self.spec(seed, &at, lr, None, None));
            }
            most += op.lrs.len() * sel + eval;
            for arm in &op.arms {
                for &k in &arm.grid {
                    for seed in self.selection_range() {
                        runs.push(self.spec(seed, &at, lr, Some(arm.arm), Some(k)));
                    }
                }
                let k = arm.grid[arm.grid.len() / 2];
                for seed in self.eval_range() {
                    runs.push(self.spec(seed, &at, lr, Some(arm.arm), Some(k)));
                }
                most += (arm.grid.len() + self.max_widening) * sel + eval;
            }
        }
        (runs, most)
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub seed: u64,
    pub width: usize,
    pub optimizer: Optimizer,
    pub lr: f64,
    pub init_scale: f64,
    pub arm: Option<Arm>,
    pub lambda: f64,
    pub epochs: usize,
    pub schedule: LrSchedule,
    pub train_samples: usize,
    pub validation: usize,
    pub test_samples: usize,
}

/// Where a run's W stood at one end of training: the paper's R(W), the mean row norm, and
/// the gradient norms that put lambda on a scale-free footing.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The discrepancy regulariser R(W) (whatever the arm).
    pub r: f64,
    /// Mean of ||w_k||.
    pub mean_row_norm: f64,
    /// ||grad_W L|| of the data loss over the training set (0 if it was not measured).
    pub grad_loss: f64,
    /// ||grad_W R_arm(W)|| of the arm's own term at lambda = 1 (R for the diversity arms
    /// and the null control, ||W||^2 for L2, W for decoupled decay; 0 without an arm).
    pub grad_term_unit: f64,
}

impl Snapshot {
    /// ||lambda grad R_arm|| / ||grad L||.
    pub fn ratio(&self, lambda: f64) -> f64 {
        lambda * self.grad_term_unit / self.grad_loss
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// The training diverged (non-finite loss or weights): errors are set to 1, the losses
    /// and the discrepancy are absent.
    pub diverged: bool,
    pub train_loss: Option<f64>,
    pub validation_error: f64,
    pub test_error: f64,
    pub test_loss: Option<f64>,
    pub l2_discrepancy_sq: Option<f64>,
    pub initial: Option<Snapshot>,
    pub last: Option<Snapshot>,
}

impl Study for MnistReg {
    const ID: &'static str = "rq5-mnist";
    const TITLE: &'static str =
        "RQ5: the diversity regulariser, its controls and its peers on MNIST";
    const USES_MNIST: bool = true;
    type Plan = Plan;
    type Spec = Spec;
    type Outcome = Outcome;

    fn expected(plan: &Plan) -> (Vec<Spec>, usize) {
        plan.expected()
    }
    fn sizes(p: &Plan) -> serde_json::Value {
        serde_json::json!({
            "widths": p.widths, "init_scales": p.init_scales, "epochs": p.epochs, "schedule": p.schedule,
            "selection_seeds": p.selection_seeds, "seeds": p.selection_seeds + p.eval_seeds, "eval_seeds": p.eval_seeds,
            "optimizers": p.optimizers.iter().map(|o| serde_json::json!({
                "optimizer": o.optimizer.name(), "widths": p.widths_of(o.optimizer), "lrs": o.lrs,
                "arms": o.arms.iter().map(|a| (a.arm.name(), a.grid.iter().map(|&k| decade(k)).collect::<Vec<_>>())).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "grid_widening_steps": p.max_widening, "margin_points": p.margin_points,
        })
    }
    /// Measured on one core (timed trials of 2 and 4 epochs at widths 50, 100, 200): per
    /// image and epoch about 3.5e-8 s per hidden unit plus 4.4e-6 s, the exact metrics at
    /// both ends about 1.5 epochs more, and the discrepancy term (any coupling) 8e-11 s per
    /// n^2 d at every step.
    fn seconds(s: &Spec) -> f64 {
        let n = s.width as f64;
        let images = s.epochs as f64 * s.train_samples as f64
            + 1.5 * (s.train_samples + s.test_samples) as f64;
        let steps = (s.epochs * s.train_samples.div_ceil(128)) as f64;
        let reg = match s.arm {
            Some(Arm::Diversity(_)) => 8e-11 * n * n * 784.0 * steps,
            _ => 0.0,
        };
        images * (3.5e-8 * n + 4.4e-6) + reg + 0.3
    }
    fn data(s: &Spec) -> DataNeed {
        DataNeed::Mnist {
            train: s.train_samples,
            validation: s.validation,
            test: s.test_samples,
        }
    }
    fn execute(spec: &Spec, shared: &Shared<'_>) -> Result<Outcome> {
        execute(spec, shared.mnist()?)
    }
    fn section(plan: &Plan, runs: &Runs<Self>, ctx: &ReportContext) -> Section {
        report::section(plan, runs, ctx)
    }
}
