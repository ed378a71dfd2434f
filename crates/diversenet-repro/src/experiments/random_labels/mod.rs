//! RQ1 in its falsifiable form: the theorem says that where s_m(D) > 0 every stationary
//! point is a global minimum, so with n·d ≥ m units full-batch training should fit *any*
//! targets, random ones included. Random-label targets (i.i.d. N(0, 1), no teacher) on m
//! points of the sphere, widths straddling n·d = m, full-batch training (Adam on the whole
//! training set); a run converged when its loss falls below an absolute threshold. Below n·d = m, D has fewer
//! rows than columns, s_m(D) = 0 and the loss cannot reach 0 (the negative control).

pub mod report;
#[cfg(test)]
mod tests;

use diversenet::data::{Dataset, Targets};
use diversenet::error::Result;
use diversenet::model::train::TrainState;
use diversenet::model::{OptimizerKind, Precision, TrainSettings};
use diversenet::rng::{SeededRng, Stream};

use super::common::{logged_training, sphere_points};
use super::registry::{Known, ReportContext, Runs, Shared, Study, StudyPlan};
use crate::report::section::Section;

/// RQ1 on random labels.
pub struct RandomLabels;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub seeds: u64,
    pub dim: usize,
    pub points: usize,
    /// Widths n; n·d = m at n = points / dim.
    pub widths: Vec<usize>,
    /// Full-batch optimiser: gradient descent or Adam on the whole training set.
    pub optimizer: OptimizerKind,
    pub steps: usize,
    pub lr: f64,
    pub log_every: usize,
}

impl StudyPlan<RandomLabels> for Plan {
    fn full() -> Self {
        Self {
            seeds: 10,
            dim: 10,
            points: 200,
            widths: vec![10, 15, 18, 20, 22, 25, 30, 40],
            // Full-batch Adam at a constant rate: gradient descent needs ~m / (lr s_m(D)^2)
            // steps per e-fold, 10^5 and more near n d = m (timed trials).
            optimizer: OptimizerKind::parse("adam", 0.0).expect("adam"),
            steps: 30_000,
            lr: 0.003,
            log_every: 500,
        }
    }
    fn quick(&self) -> Self {
        Self {
            seeds: 2,
            widths: vec![15, 20, 30],
            steps: self.steps / 10,
            ..self.clone()
        }
    }
    fn runs(&self, _: &Known<'_, RandomLabels>) -> Vec<Spec> {
        (0..self.seeds)
            .flat_map(|seed| {
                self.widths.iter().map(move |&width| Spec {
                    seed,
                    dim: self.dim,
                    points: self.points,
                    width,
                    optimizer: self.optimizer,
                    steps: self.steps,
                    lr: self.lr,
                    log_every: self.log_every,
                })
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub seed: u64,
    pub dim: usize,
    pub points: usize,
    pub width: usize,
    pub optimizer: OptimizerKind,
    pub steps: usize,
    pub lr: f64,
    pub log_every: usize,
}

impl Spec {
    /// n·d ≥ m: D can have full column rank.
    pub fn enough_units(&self) -> bool {
        self.width * self.dim >= self.points
    }
}

pub use super::common::Point;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub trajectory: Vec<Point>,
}

/// m points uniform on the sphere with i.i.d. N(0, 1) targets, from the seed's data stream.
pub fn random_label_data(seed: u64, dim: usize, points: usize) -> Result<Dataset> {
    let mut rng = SeededRng::new(seed, Stream::Data);
    let x = sphere_points(&mut rng, points, dim);
    let y: Vec<f64> = (0..points).map(|_| rng.normal()).collect();
    Dataset::new("random labels", x, Targets::Scalar(y))
}

pub fn execute(spec: &Spec) -> Result<Outcome> {
    let data = random_label_data(spec.seed, spec.dim, spec.points)?;
    let settings = TrainSettings {
        width: spec.width,
        epochs: spec.steps,
        seed: spec.seed,
        exact_metrics_every: 1,
        optimizer: spec.optimizer,
        // Full batch: one step per epoch.
        batch_size: spec.points,
        lr: spec.lr,
        precision: Precision::F64,
        ..TrainSettings::default()
    };
    let cfg = settings.resolve(&data)?;
    let state = TrainState::initial(&cfg);
    let trajectory = logged_training(&cfg, &data, &data, state, spec.log_every)?;
    Ok(Outcome { trajectory })
}

impl Study for RandomLabels {
    const ID: &'static str = "rq1-random-labels";
    const TITLE: &'static str = "RQ1: no spurious minima, on random labels";
    type Plan = Plan;
    type Spec = Spec;
    type Outcome = Outcome;

    fn sizes(p: &Plan) -> serde_json::Value {
        serde_json::json!({"seeds": p.seeds, "d": p.dim, "m": p.points, "widths": p.widths, "steps": p.steps})
    }
    /// Measured: 20,000 full-batch steps at n = 30, m = 200, d = 10 with s_m(D) every 500,
    /// about 0.75 s.
    fn seconds(s: &Spec) -> f64 {
        5e-10 * (s.steps * s.width * s.points * s.dim) as f64
            + 2e-3 * (s.steps / s.log_every) as f64
    }
    fn execute(spec: &Spec, _: &Shared<'_>) -> Result<Outcome> {
        execute(spec)
    }
    fn section(plan: &Plan, runs: &Runs<Self>, _: &ReportContext) -> Section {
        report::section(plan, runs)
    }
}
