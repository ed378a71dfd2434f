//! RQ2/RQ4: networks of varied diversity trained the same way, in two families: the
//! initial directions (random or clustered, no regulariser) and the discrepancy
//! regulariser's strength (random directions). At checkpoints, and once more where the
//! training loss stops moving (the plateau), the discrepancy, s_m(D), and the training and
//! test losses are measured.

pub mod report;
#[cfg(test)]
mod tests;

use diversenet::data::SyntheticConfig;
use diversenet::error::Result;
use diversenet::model::train::{train, EpochMetrics, TrainState};
use diversenet::model::{Network, Precision, TrainSettings};
use diversenet::rng::{SeededRng, Stream};

use super::common::{
    measure, minibatch_settings, reference_teacher, scaled_synthetic, spread, Collect, Measurement,
};
use super::registry::{Known, ReportContext, Runs, Shared, Study, StudyPlan};
use crate::report::section::Section;

/// RQ2/RQ4.
pub struct Diversity;

impl Study for Diversity {
    const ID: &'static str = "rq2-diversity";
    const TITLE: &'static str = "RQ2/RQ4: diversity, s_m(D), training loss and generalisation";
    type Plan = Plan;
    type Spec = Spec;
    type Outcome = Outcome;

    fn sizes(p: &Plan) -> serde_json::Value {
        serde_json::json!({"seeds": p.seeds, "widths": p.widths, "epochs": p.epochs, "plateau": p.plateau, "treatments": p.treatments.iter().map(|t| t.label()).collect::<Vec<_>>(), "checkpoints": p.checkpoints()})
    }
    /// Measured: up to 600 epochs of 7 Adam steps at n = 60 (f64), with s_m(D) at 14
    /// checkpoints, 0.5 to 1 s.
    fn seconds(s: &Spec) -> f64 {
        2.5e-8 * (s.plateau.max_epochs * s.data.train_samples * s.width * s.data.dim) as f64
            + 0.01 * s.checkpoints.len() as f64
    }
    fn execute(spec: &Spec, _: &Shared<'_>) -> Result<Outcome> {
        execute(spec)
    }
    fn section(plan: &Plan, runs: &Runs<Self>, _: &ReportContext) -> Section {
        report::section(plan, runs)
    }
}

/// Training goes on after the last checkpoint until the training loss stops moving: every
/// `window` epochs the exact training loss is compared with the one `window` epochs before,
/// and training stops when it fell by less than the fraction `tolerance` (or at
/// `max_epochs`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plateau {
    pub window: usize,
    pub tolerance: f64,
    pub max_epochs: usize,
}

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
    /// The initial-diversity family (no regulariser) or the regulariser family (random
    /// directions, lambda >= 0; the unregularised random treatment is in both).
    pub fn in_family(&self, family: Family) -> bool {
        match family {
            Family::InitialDiversity => self.lambda == 0.0,
            Family::Regulariser => self.init == InitKind::Random,
        }
    }
    pub fn label(&self) -> String {
        let init = match self.init {
            InitKind::Random => "random".to_string(),
            InitKind::Clustered { spread } => format!("clustered {spread}"),
        };
        format!("{init}, λ = {}", self.lambda)
    }
}

/// The two ways of varying diversity, reported apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Family {
    InitialDiversity,
    Regulariser,
}

impl Family {
    pub const BOTH: [Family; 2] = [Family::InitialDiversity, Family::Regulariser];
    pub fn name(self) -> &'static str {
        match self {
            Self::InitialDiversity => "initial diversity",
            Self::Regulariser => "regulariser",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub seeds: u64,
    pub data: SyntheticConfig,
    pub widths: Vec<usize>,
    pub epochs: usize,
    pub checkpoint_every: usize,
    pub plateau: Plateau,
    pub treatments: Vec<Treatment>,
}

impl StudyPlan<Diversity> for Plan {
    fn full() -> Self {
        let t = |init, lambda| Treatment { init, lambda };
        let c = |spread| InitKind::Clustered { spread };
        Self {
            seeds: 10,
            data: reference_teacher(2000, 0.1),
            widths: vec![20, 60],
            epochs: 60,
            checkpoint_every: 5,
            plateau: Plateau {
                window: 20,
                tolerance: 0.01,
                max_epochs: 600,
            },
            treatments: vec![
                t(InitKind::Random, 0.0),
                t(c(1.0), 0.0),
                t(c(0.3), 0.0),
                t(c(0.1), 0.0),
                t(c(0.03), 0.0),
                t(InitKind::Random, 0.1),
                t(InitKind::Random, 1.0),
                t(InitKind::Random, 3.0),
                t(InitKind::Random, 10.0),
            ],
        }
    }
    fn quick(&self) -> Self {
        let pick = |family| {
            let of: Vec<Treatment> = self
                .treatments
                .iter()
                .copied()
                .filter(|t| t.in_family(family) && *t != self.treatments[0])
                .collect();
            spread(&of, 2)
        };
        // The shared control (random, no regulariser) and two of each family.
        let mut treatments = vec![self.treatments[0]];
        treatments.extend(pick(Family::InitialDiversity));
        treatments.extend(pick(Family::Regulariser));
        Self {
            seeds: 4,
            epochs: self.epochs / 3,
            plateau: Plateau {
                max_epochs: self.plateau.max_epochs / 10,
                ..self.plateau
            },
            treatments,
            ..self.clone()
        }
    }
    fn runs(&self, _: &Known<'_, Diversity>) -> Vec<Spec> {
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
                        plateau: self.plateau,
                    });
                }
            }
        }
        out
    }
}

impl Plan {
    pub fn checkpoints(&self) -> Vec<usize> {
        (0..=self.epochs)
            .filter(|e| e % self.checkpoint_every == 0 || *e == self.epochs)
            .collect()
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
    pub plateau: Plateau,
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
    /// Where the training loss stopped moving (or `max_epochs`).
    pub plateau: Checkpoint,
    /// Whether it stopped before `max_epochs`.
    pub plateau_reached: bool,
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
    let settings_to = |epochs: usize| -> Result<TrainSettings> {
        Ok(TrainSettings {
            precision: Precision::F64,
            ..minibatch_settings(spec.width, epochs, spec.seed, spec.treatment.lambda)?
        })
    };
    let cfg = settings_to(spec.epochs)?.resolve(&train_data)?;
    let mut state = TrainState::<f64>::initial(&cfg);
    if let InitKind::Clustered { spread } = spec.treatment.init {
        clustered_init(&mut state.net, spread, spec.seed);
    }
    let checkpoint = |epoch: usize, net: &Network<f64>| {
        // Exact losses of the network at the checkpoint (not running averages).
        let measured = measure(net, &train_data);
        Checkpoint {
            epoch,
            train_loss: measured.loss,
            test_loss: diversenet::model::train::score(net, cfg.loss(), &test_data).0,
            m: measured,
        }
    };
    let mut checkpoints = Vec::new();
    let mut obs = Collect {
        wanted: spec.checkpoints.clone(),
        each: |m: &EpochMetrics, s: &TrainState<f64>| {
            checkpoints.push(checkpoint(m.epoch, &s.net));
            Ok(())
        },
    };
    state = train::<f64>(&cfg, &train_data, &test_data, state, &mut obs)?;
    // On to the plateau, `window` epochs at a time (the schedule is constant and the state
    // carries the optimiser and the batch order, so this is one continued run).
    let p = spec.plateau;
    let loss = |net: &Network<f64>| measure_loss(net, &train_data);
    let mut before = loss(&state.net);
    let mut reached = false;
    while state.epochs_done + p.window <= p.max_epochs {
        let cfg = settings_to(state.epochs_done + p.window)?.resolve(&train_data)?;
        let mut quiet = Collect {
            wanted: vec![],
            each: |_: &EpochMetrics, _: &TrainState<f64>| Ok(()),
        };
        state = train::<f64>(&cfg, &train_data, &test_data, state, &mut quiet)?;
        let now = loss(&state.net);
        if now > (1.0 - p.tolerance) * before {
            reached = true;
            break;
        }
        before = now;
    }
    Ok(Outcome {
        checkpoints,
        plateau: checkpoint(state.epochs_done, &state.net),
        plateau_reached: reached,
    })
}

/// The exact training loss of `net`.
fn measure_loss(net: &Network<f64>, data: &diversenet::data::Dataset) -> f64 {
    diversenet::model::train::score(net, diversenet::model::Loss::Squared, data).0
}
