//! RQ5 on synthetic data: the discrepancy regulariser against none, across a regime sweep
//! (label noise, training-set size, student width below, at and above the teacher's, two
//! teachers); lambda on a half-decade grid chosen on a validation set apart from train and
//! test; test error measured on the noise-free teacher outputs, as plain mean squared error.

pub mod report;

use diversenet::data::{Dataset, SyntheticConfig, Targets};
use diversenet::error::Result;
use diversenet::model::train::score;
use diversenet::model::Loss;

use super::common::{
    half_decade, minibatch_settings, scaled_synthetic, split_last, spread, train_to_end,
};

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
}

impl Plan {
    pub fn full() -> Self {
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
        }
    }
    pub fn quick(&self) -> Self {
        Self {
            seeds: 3,
            teachers: self.teachers[..1].to_vec(),
            train_sizes: self.train_sizes[..1].to_vec(),
            lambda_exponents: spread(&self.lambda_exponents, 3),
            epochs: self.epochs / 4,
            ..self.clone()
        }
    }
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
    pub fn runs(&self) -> Vec<Spec> {
        let mut out = Vec::new();
        for seed in 0..self.seeds {
            for (setting, width) in self.cells() {
                for lambda in self.lambdas() {
                    out.push(Spec {
                        seed,
                        setting: setting.clone(),
                        validation: self.validation,
                        test_samples: self.test_samples,
                        width,
                        lambda,
                        epochs: self.epochs,
                    });
                }
            }
        }
        out
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
