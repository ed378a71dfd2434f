//! RQ5 on synthetic data: the discrepancy regulariser against none. A regime sweep (label
//! noise, training-set size, student width below, at and above the teacher's, two
//! teachers; lambda on a half-decade grid chosen on a validation set apart from train and
//! test) explores; a confirmation on fresh seeds decides, in the cells where the paper's
//! effect should show most (a student as wide as the teacher, noise-free targets), at the
//! lambda the sweep chose. Test error is the plain mean squared error against the
//! noise-free teacher outputs; effects are log-ratios, summarised by their median.

mod confirm;
pub mod report;
#[cfg(test)]
mod tests;

use diversenet::data::{Dataset, SyntheticConfig, Targets};
use diversenet::error::Result;
use diversenet::model::train::score;
use diversenet::model::Loss;

use super::common::{
    half_decade, minibatch_settings, scaled_synthetic, split_last, spread, train_to_end,
};
use super::registry::{Known, ReportContext, Runs, Shared, Study, StudyPlan};
use super::rules::{select_lambda, Selection};
use crate::report::section::Section;

/// RQ5 on synthetic data.
pub struct SyntheticReg;

impl Study for SyntheticReg {
    const ID: &'static str = "rq5-synthetic";
    const TITLE: &'static str = "RQ5: the diversity regulariser on synthetic data";
    type Plan = Plan;
    type Spec = Spec;
    type Outcome = Outcome;

    fn expected(plan: &Plan) -> (Vec<Spec>, usize) {
        let mut runs = plan.sweep_runs();
        for (setting, width) in plan.confirm_cells() {
            runs.extend(plan.confirm_runs(&setting, width, 1.0));
        }
        let n = runs.len();
        (runs, n)
    }
    fn sizes(p: &Plan) -> serde_json::Value {
        serde_json::json!({"seeds": p.seeds, "confirmation_seeds": p.confirm_seeds, "teachers_(d,width)": p.teachers, "noises": p.noises, "train_sizes": p.train_sizes, "widths": p.cells().iter().map(|c| c.1).collect::<std::collections::BTreeSet<_>>(), "lambdas": p.lambdas(), "epochs": p.epochs})
    }
    /// Measured: 150 epochs of Adam (batch 32) at m = 800, n = 40, d = 20: about 0.25 s
    /// without the regulariser, 0.6 s with it.
    fn seconds(s: &Spec) -> f64 {
        let per = if s.lambda > 0.0 { 2.4e-9 } else { 1.0e-9 };
        per * (s.epochs * s.setting.train_samples * s.width * s.setting.dim) as f64 + 0.003
    }
    fn execute(spec: &Spec, _: &Shared<'_>) -> Result<Outcome> {
        execute(spec)
    }
    fn section(plan: &Plan, runs: &Runs<Self>, _: &ReportContext) -> Section {
        report::section(plan, runs)
    }
}

/// A teacher and its data regime.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Setting {
    pub dim: usize,
    pub teacher_width: usize,
    pub train_samples: usize,
    /// Standard deviation of the label noise on training and validation targets.
    pub noise: f64,
}

impl Setting {
    pub fn label(&self) -> String {
        format!(
            "d={}, teacher {}, m={}, noise {}",
            self.dim, self.teacher_width, self.train_samples, self.noise
        )
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub seeds: u64,
    /// (d, teacher width) pairs.
    pub teachers: Vec<(usize, usize)>,
    pub noises: Vec<f64>,
    pub train_sizes: Vec<usize>,
    pub validation: usize,
    pub test_samples: usize,
    /// Student widths as multiples of the teacher's (rounded up; at least 1).
    pub width_factors: Vec<f64>,
    /// lambda = 10^(k/2) for these k (0 is always run as the baseline).
    pub lambda_exponents: Vec<i32>,
    pub epochs: usize,
    /// Fresh seeds (after the sweep's) of the confirmation, in the cells with a student as
    /// wide as the teacher and noise-free targets.
    pub confirm_seeds: u64,
}

impl StudyPlan<SyntheticReg> for Plan {
    fn full() -> Self {
        Self {
            seeds: 10,
            teachers: vec![(10, 5), (20, 10)],
            noises: vec![0.0, 0.5],
            train_sizes: vec![200, 800],
            validation: 200,
            test_samples: 2000,
            width_factors: vec![0.5, 1.0, 4.0],
            lambda_exponents: (-6..=2).collect(),
            epochs: 150,
            confirm_seeds: 50,
        }
    }
    fn quick(&self) -> Self {
        Self {
            seeds: 3,
            teachers: self.teachers[..1].to_vec(),
            train_sizes: self.train_sizes[..1].to_vec(),
            lambda_exponents: spread(&self.lambda_exponents, 3),
            epochs: self.epochs / 4,
            confirm_seeds: 6,
            ..self.clone()
        }
    }
    /// The sweep, and each confirmation cell once the sweep has chosen its lambda.
    fn runs(&self, known: &Known<'_, SyntheticReg>) -> Vec<Spec> {
        let mut out = self.sweep_runs();
        for (setting, width) in self.confirm_cells() {
            if let Some(sel) =
                self.selection(&setting, width, |s| known(s).map(|o| o.validation_mse))
            {
                out.extend(self.confirm_runs(&setting, width, sel.chosen));
            }
        }
        out
    }
}

impl Plan {
    pub fn lambdas(&self) -> Vec<f64> {
        std::iter::once(0.0)
            .chain(self.lambda_exponents.iter().map(|&k| half_decade(k)))
            .collect()
    }
    /// Every (setting, width) cell.
    pub fn cells(&self) -> Vec<(Setting, usize)> {
        let mut out = Vec::new();
        for &(dim, teacher_width) in &self.teachers {
            for &noise in &self.noises {
                for &train_samples in &self.train_sizes {
                    let setting = Setting {
                        dim,
                        teacher_width,
                        train_samples,
                        noise,
                    };
                    for &f in &self.width_factors {
                        let width = ((teacher_width as f64 * f).ceil() as usize).max(1);
                        out.push((setting.clone(), width));
                    }
                }
            }
        }
        out
    }
    /// The sweep: every cell, lambda and seed.
    pub fn sweep_runs(&self) -> Vec<Spec> {
        let mut out = Vec::new();
        for seed in 0..self.seeds {
            for (setting, width) in self.cells() {
                for lambda in self.lambdas() {
                    out.push(self.spec(seed, &setting, width, lambda));
                }
            }
        }
        out
    }
    fn spec(&self, seed: u64, setting: &Setting, width: usize, lambda: f64) -> Spec {
        Spec {
            seed,
            setting: setting.clone(),
            validation: self.validation,
            test_samples: self.test_samples,
            width,
            lambda,
            epochs: self.epochs,
        }
    }
    /// The confirmation's cells: width as the teacher's, no label noise.
    pub fn confirm_cells(&self) -> Vec<(Setting, usize)> {
        self.cells()
            .into_iter()
            .filter(|(s, w)| s.noise == 0.0 && *w == s.teacher_width)
            .collect()
    }
    /// The confirmation's runs of one cell at `lambda`: λ = 0 and `lambda` on the fresh seeds.
    pub fn confirm_runs(&self, setting: &Setting, width: usize, lambda: f64) -> Vec<Spec> {
        (self.seeds..self.seeds + self.confirm_seeds)
            .flat_map(|seed| [0.0, lambda].map(|l| self.spec(seed, setting, width, l)))
            .collect()
    }
    /// The sweep's choice of lambda in a cell, from validation numbers only (None until every
    /// run of the cell is known).
    pub fn selection(
        &self,
        setting: &Setting,
        width: usize,
        validation: impl Fn(&Spec) -> Option<f64>,
    ) -> Option<Selection> {
        let curve: Option<Vec<(f64, Vec<f64>)>> = self
            .lambdas()
            .into_iter()
            .map(|l| {
                let v: Option<Vec<f64>> = (0..self.seeds)
                    .map(|seed| validation(&self.spec(seed, setting, width, l)))
                    .collect();
                v.map(|v| (l, v))
            })
            .collect();
        select_lambda(&curve?)
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub seed: u64,
    pub setting: Setting,
    pub validation: usize,
    pub test_samples: usize,
    pub width: usize,
    pub lambda: f64,
    pub epochs: usize,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// The training objective's data term, (1/2m) ||y - f(X)||^2, on the (noisy) training part.
    pub train_loss: f64,
    /// Plain mean squared error on the (noisy) validation part.
    pub validation_mse: f64,
    /// Plain mean squared error against the noise-free teacher outputs on the test inputs.
    pub test_mse: f64,
    pub l2_discrepancy_sq: f64,
}

/// The test set with its targets replaced by the teacher's noise-free outputs.
fn noise_free(test: &Dataset, cfg: &SyntheticConfig, seed: u64) -> Result<Dataset> {
    let (w, v) = cfg.teacher(seed);
    let y = (0..test.len())
        .map(|i| {
            let x = test.x.row(i);
            (0..w.rows())
                .map(|k| {
                    let pre: f64 = w.row(k).iter().zip(x).map(|(a, b)| a * b).sum();
                    v[k] * pre.max(0.0)
                })
                .sum()
        })
        .collect();
    Dataset::new(
        format!("{} (noise-free teacher outputs)", test.name),
        test.x.clone(),
        Targets::Scalar(y),
    )
}

pub fn execute(spec: &Spec) -> Result<Outcome> {
    let st = &spec.setting;
    let cfg = SyntheticConfig {
        dim: st.dim,
        teacher_width: st.teacher_width,
        train_samples: st.train_samples + spec.validation,
        test_samples: spec.test_samples,
        noise: st.noise,
    };
    let (all_train, noisy_test) = scaled_synthetic(&cfg, spec.seed)?;
    let test = noise_free(&noisy_test, &cfg, spec.seed)?;
    let (train_data, val_data) = split_last(&all_train, spec.validation);
    let settings = minibatch_settings(spec.width, spec.epochs, spec.seed, spec.lambda)?;
    let cfg = settings.resolve(&train_data)?;
    let (state, m) = train_to_end(&cfg, &train_data, &test)?;
    // Squared loss is (1/2)(y - f)^2 per sample: twice it is the plain MSE.
    Ok(Outcome {
        train_loss: score(&state.net, Loss::Squared, &train_data).0,
        validation_mse: 2.0 * score(&state.net, Loss::Squared, &val_data).0,
        test_mse: 2.0 * score(&state.net, Loss::Squared, &test).0,
        l2_discrepancy_sq: m.l2_discrepancy_sq.unwrap_or(f64::NAN),
    })
}
