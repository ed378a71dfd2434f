//! RQ1: the training-loss bound L(W) <= m ||grad_W L||^2 / (2 s_m(D)^2) along full-batch
//! gradient descent, on diverse networks and on negative controls whose s_m(D) collapses
//! (the case the theorem excludes).

pub mod report;
#[cfg(test)]
mod tests;

use diversenet::data::SyntheticConfig;
use diversenet::error::Result;
use diversenet::model::train::TrainState;
use diversenet::model::{Network, OptimizerKind, Precision, TrainSettings};

use super::common::{logged_training, reference_teacher, scaled_synthetic};
use super::registry::{Known, ReportContext, Runs, Shared, Study, StudyPlan};
use crate::report::section::Section;

/// RQ1 on teacher data: the bound along gradient descent, with negative controls.
pub struct LossBound;

impl Study for LossBound {
    const ID: &'static str = "rq1-loss-bound";
    const TITLE: &'static str = "RQ1: the training-loss bound";
    type Plan = Plan;
    type Spec = Spec;
    type Outcome = Outcome;

    fn sizes(p: &Plan) -> serde_json::Value {
        serde_json::json!({"seeds": p.seeds, "widths": [p.width, p.narrow_width], "arms": p.arms, "steps": p.steps, "data": p.data})
    }
    /// Measured: 3000 steps at n = 40, m = 200, d = 10 with s_m(D) every 50 steps, 0.25 s.
    fn seconds(s: &Spec) -> f64 {
        2.0e-9 * (s.steps * s.width * s.data.train_samples * s.data.dim) as f64
            + 1.5e-3 * (s.steps / s.log_every) as f64
    }
    fn execute(spec: &Spec, _: &Shared<'_>) -> Result<Outcome> {
        execute(spec)
    }
    fn section(plan: &Plan, runs: &Runs<Self>, _: &ReportContext) -> Section {
        report::section(plan, runs)
    }
}

/// How the network starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arm {
    /// Gaussian rows: diverse directions, s_m(D) > 0 when n d > m.
    Diverse,
    /// Control: every unit with output weight +1 equal to one row, every unit with -1 to
    /// another. Equal units receive equal gradients and stay equal, so rank(D) <= 2d < m and
    /// s_m(D) = 0 throughout.
    Collapsed,
    /// Control: `narrow_width` units with n d < m, so s_m(D) = 0 by rank.
    Narrow,
}

/// The plan of RQ1.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub seeds: u64,
    pub data: SyntheticConfig,
    pub width: usize,
    pub narrow_width: usize,
    pub arms: Vec<Arm>,
    pub steps: usize,
    pub lr: f64,
    pub log_every: usize,
}

impl StudyPlan<LossBound> for Plan {
    fn full() -> Self {
        Self {
            seeds: 10,
            data: reference_teacher(200, 0.0),
            width: 40,
            narrow_width: 10,
            arms: vec![Arm::Diverse, Arm::Collapsed, Arm::Narrow],
            steps: 3000,
            lr: 0.5,
            log_every: 50,
        }
    }
    fn quick(&self) -> Self {
        Self {
            seeds: 3,
            steps: self.steps / 6,
            log_every: self.log_every / 2,
            ..self.clone()
        }
    }
    fn runs(&self, _: &Known<'_, LossBound>) -> Vec<Spec> {
        (0..self.seeds)
            .flat_map(|seed| {
                self.arms.iter().map(move |&arm| Spec {
                    seed,
                    arm,
                    data: self.data.clone(),
                    width: if arm == Arm::Narrow {
                        self.narrow_width
                    } else {
                        self.width
                    },
                    steps: self.steps,
                    lr: self.lr,
                    log_every: self.log_every,
                })
            })
            .collect()
    }
}

/// One run of RQ1.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub seed: u64,
    pub arm: Arm,
    pub data: SyntheticConfig,
    pub width: usize,
    pub steps: usize,
    pub lr: f64,
    pub log_every: usize,
}

pub use super::common::Point;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub trajectory: Vec<Point>,
}

/// Makes the rows of each output sign equal (the collapsed control).
fn collapse(net: &mut Network<f64>) {
    let (n, d) = (net.width(), net.dim());
    let mut first: [Option<usize>; 2] = [None, None];
    for k in 0..n {
        let group = usize::from(net.v.row(0)[k] < 0.0);
        match first[group] {
            None => first[group] = Some(k),
            Some(j) => {
                let row: Vec<f64> = net.w.row(j)[..d].to_vec();
                net.w.row_mut(k).copy_from_slice(&row);
            }
        }
    }
}

pub fn execute(spec: &Spec) -> Result<Outcome> {
    let (train_data, test_data) = scaled_synthetic(&spec.data, spec.seed)?;
    let settings = TrainSettings {
        width: spec.width,
        epochs: spec.steps,
        seed: spec.seed,
        // The reproduction measures exact metrics, never running averages.
        exact_metrics_every: 1,
        optimizer: OptimizerKind::Gd,
        lr: spec.lr,
        precision: Precision::F64,
        ..TrainSettings::default()
    };
    let cfg = settings.resolve(&train_data)?;
    let mut state = TrainState::<f64>::initial(&cfg);
    if spec.arm == Arm::Collapsed {
        collapse(&mut state.net);
    }
    let trajectory = logged_training(&cfg, &train_data, &test_data, state, spec.log_every)?;
    Ok(Outcome { trajectory })
}
