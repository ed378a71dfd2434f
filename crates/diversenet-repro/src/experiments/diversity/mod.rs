//! RQ2/RQ4: networks of varied diversity (random or clustered initial directions, or the
//! discrepancy regulariser) trained the same way; at checkpoints the discrepancy, s_m(D),
//! and the training and test losses are measured.

pub mod report;

use diversenet::data::SyntheticConfig;
use diversenet::error::Result;
use diversenet::model::train::{train, EpochMetrics, TrainState};
use diversenet::model::{Network, Precision, TrainSettings};
use diversenet::rng::{SeededRng, Stream};

use super::common::{
    measure, minibatch_settings, reference_teacher, scaled_synthetic, spread, Collect, Measurement,
};

/// How the first layer starts.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum InitKind {
    /// Gaussian rows (directions uniform on the sphere).
    Random,
    /// Rows around 3 random centre directions, each perturbed by `spread` times a unit
    /// vector: the smaller the spread, the less diverse.
    Clustered { spread: f64 },
}

/// A treatment: the initial directions and the regulariser's lambda.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Treatment {
    pub init: InitKind,
    pub lambda: f64,
}

impl Treatment {
    pub fn label(&self) -> String {
        let init = match self.init {
            InitKind::Random => "random".to_string(),
            InitKind::Clustered { spread } => format!("clustered {spread}"),
        };
        format!("{init}, λ = {}", self.lambda)
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub seeds: u64,
    pub data: SyntheticConfig,
    pub widths: Vec<usize>,
    pub epochs: usize,
    pub checkpoint_every: usize,
    pub treatments: Vec<Treatment>,
}

impl Plan {
    pub fn full() -> Self {
        let t = |init, lambda| Treatment { init, lambda };
        let c = |spread| InitKind::Clustered { spread };
        Self {
            seeds: 10,
            data: reference_teacher(2000, 0.1),
            widths: vec![20, 60],
            epochs: 60,
            checkpoint_every: 5,
            treatments: vec![
                t(InitKind::Random, 0.0),
                t(c(1.0), 0.0),
                t(c(0.3), 0.0),
                t(c(0.1), 0.0),
                t(c(0.03), 0.0),
                t(InitKind::Random, 1.0),
                t(InitKind::Random, 10.0),
            ],
        }
    }
    pub fn quick(&self) -> Self {
        Self {
            seeds: 4,
            epochs: self.epochs / 3,
            treatments: spread(&self.treatments, 4),
            ..self.clone()
        }
    }
    pub fn checkpoints(&self) -> Vec<usize> {
        (0..=self.epochs)
            .filter(|e| e % self.checkpoint_every == 0 || *e == self.epochs)
            .collect()
    }
    pub fn runs(&self) -> Vec<Spec> {
        let mut out = Vec::new();
        for seed in 0..self.seeds {
            for &width in &self.widths {
                for &treatment in &self.treatments {
                    out.push(Spec {
                        seed,
                        data: self.data.clone(),
                        width,
                        treatment,
                        epochs: self.epochs,
                        checkpoints: self.checkpoints(),
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
    pub data: SyntheticConfig,
    pub width: usize,
    pub treatment: Treatment,
    pub epochs: usize,
    pub checkpoints: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub epoch: usize,
    #[serde(flatten)]
    pub m: Measurement,
    pub train_loss: f64,
    pub test_loss: f64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub checkpoints: Vec<Checkpoint>,
}

fn clustered_init(net: &mut Network<f64>, spread: f64, seed: u64) {
    let (n, d) = (net.width(), net.dim());
    let mut rng = SeededRng::new(seed ^ 0x5eed, Stream::Init);
    let centres: Vec<Vec<f64>> = (0..3).map(|_| rng.unit_vector(d)).collect();
    for k in 0..n {
        let norm = diversenet::linalg::norm(net.w.row(k));
        let noise = rng.unit_vector(d);
        let row: Vec<f64> = centres[k % 3]
            .iter()
            .zip(&noise)
            .map(|(c, e)| c + spread * e)
            .collect();
        let rn = diversenet::linalg::norm(&row);
        net.w
            .row_mut(k)
            .iter_mut()
            .zip(&row)
            .for_each(|(w, r)| *w = r / rn * norm);
    }
}

pub fn execute(spec: &Spec) -> Result<Outcome> {
    let (train_data, test_data) = scaled_synthetic(&spec.data, spec.seed)?;
    let settings = TrainSettings {
        precision: Precision::F64,
        ..minibatch_settings(spec.width, spec.epochs, spec.seed, spec.treatment.lambda)?
    };
    let cfg = settings.resolve(&train_data)?;
    let mut state = TrainState::<f64>::initial(&cfg);
    if let InitKind::Clustered { spread } = spec.treatment.init {
        clustered_init(&mut state.net, spread, spec.seed);
    }
    let mut checkpoints = Vec::new();
    let mut obs = Collect {
        wanted: spec.checkpoints.clone(),
        each: |m: &EpochMetrics, s: &TrainState<f64>| {
            // Exact losses of the network at the checkpoint (not running averages).
            let measured = measure(&s.net, &train_data);
            checkpoints.push(Checkpoint {
                epoch: m.epoch,
                train_loss: measured.loss,
                test_loss: diversenet::model::train::score(&s.net, cfg.loss(), &test_data).0,
                m: measured,
            });
            Ok(())
        },
    };
    train::<f64>(&cfg, &train_data, &test_data, state, &mut obs)?;
    Ok(Outcome { checkpoints })
}
