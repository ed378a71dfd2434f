//! Tests of the regulariser terms' couplings: the decoupled step composed by hand, its
//! equality with the coupled one where no optimiser rescales (plain SGD, gradient descent),
//! the null control's norms and directions, and the stored form of the default.

use super::*;
use crate::data::{Dataset, Targets};
use crate::model::step::MinibatchStep;
use crate::model::train::{train, EpochMetrics, TrainObserver, TrainState};
use crate::model::{OptimizerKind, Precision, TrainSettings};
use crate::regularizer::{value_and_gradient, RegTerm, RegularizerKind};

fn data(m: usize, d: usize) -> Dataset {
    let mut rng = SeededRng::new(9, Stream::Data);
    let x = Matrix::from_vec(m, d, (0..m * d).map(|_| rng.normal()).collect());
    let y = (0..m).map(|_| rng.normal()).collect();
    Dataset::new("coupling test", x, Targets::Scalar(y)).unwrap()
}

fn settings(optimizer: &str, coupling: Option<Coupling>, lambda: f64) -> TrainSettings {
    TrainSettings {
        width: 12,
        epochs: 1,
        optimizer: OptimizerKind::parse(optimizer, 0.0).unwrap(),
        batch_size: 30,
        precision: Precision::F64,
        regularizers: coupling
            .map(|c| {
                vec![RegTerm::new(RegularizerKind::Discrepancy, lambda)
                    .unwrap()
                    .with_coupling(c)]
            })
            .unwrap_or_default(),
        ..TrainSettings::default()
    }
}

/// W after one minibatch step (on samples 0..30) from the run's initial state.
fn one_step(s: &TrainSettings, lr: f64) -> (Matrix<f64>, Matrix<f64>) {
    let d = data(30, 5);
    let cfg = s.resolve(&d).unwrap();
    let mut state = TrainState::<f64>::initial(&cfg);
    let w0 = state.net.w.clone();
    let mut step = MinibatchStep::<f64>::with_blocks(&cfg, &d, 1);
    step.step(&mut state, &(0..30).collect::<Vec<_>>(), lr)
        .unwrap();
    (w0, state.net.w)
}

fn discrepancy_gradient(w: &Matrix<f64>, lambda: f64) -> Matrix<f64> {
    let mut g = Matrix::zeros(w.rows(), w.cols());
    value_and_gradient(RegularizerKind::Discrepancy, w, Some((&mut g, lambda)));
    g
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn decoupled_term_steps_outside_adam() {
    let (lr, lambda) = (0.05, 3.0);
    let (w0, plain) = one_step(&settings("adam", None, 0.0), lr);
    let (_, decoupled) = one_step(&settings("adam", Some(Coupling::Decoupled), lambda), lr);
    let g = discrepancy_gradient(&w0, lambda);
    let expected: Vec<f64> = plain
        .as_slice()
        .iter()
        .zip(g.as_slice())
        .map(|(w, g)| w - lr * g)
        .collect();
    assert!(max_diff(decoupled.as_slice(), &expected) < 1e-13);
    // Through Adam, the same term moves W differently (Adam rescales it).
    let (_, coupled) = one_step(&settings("adam", Some(Coupling::Coupled), lambda), lr);
    assert!(max_diff(coupled.as_slice(), &expected) > 1e-6);
}

#[test]
fn decoupled_equals_coupled_where_nothing_rescales() {
    let (_, coupled) = one_step(&settings("sgd", Some(Coupling::Coupled), 2.0), 0.1);
    let (_, decoupled) = one_step(&settings("sgd", Some(Coupling::Decoupled), 2.0), 0.1);
    assert!(max_diff(coupled.as_slice(), decoupled.as_slice()) < 1e-13);
    // Full-batch gradient descent over several steps, through `train`.
    struct Last(Option<EpochMetrics>);
    impl TrainObserver<f64> for Last {
        fn on_epoch(&mut self, m: &EpochMetrics, _: &TrainState<f64>) -> crate::error::Result<()> {
            self.0 = Some(m.clone());
            Ok(())
        }
    }
    let d = data(30, 5);
    let run = |c| {
        let s = TrainSettings {
            epochs: 5,
            lr: 0.2,
            ..settings("gd", Some(c), 2.0)
        };
        let cfg = s.resolve(&d).unwrap();
        let state = train::<f64>(&cfg, &d, &d, TrainState::initial(&cfg), &mut Last(None));
        state.unwrap().net.w
    };
    let (a, b) = (run(Coupling::Coupled), run(Coupling::Decoupled));
    assert!(max_diff(a.as_slice(), b.as_slice()) < 1e-12);
    assert!(max_diff(a.as_slice(), run(Coupling::NullControl).as_slice()) > 1e-6);
}

#[test]
fn null_control_has_the_terms_norms_in_random_tangential_directions() {
    let (lr, lambda) = (0.1, 5.0);
    let (w0, plain) = one_step(&settings("sgd", None, 0.0), lr);
    let (_, null) = one_step(&settings("sgd", Some(Coupling::NullControl), lambda), lr);
    let g = discrepancy_gradient(&w0, lambda);
    let mut cosines = Vec::new();
    for k in 0..w0.rows() {
        // The step's extra part, -lr p_k.
        let p: Vec<f64> = plain
            .row(k)
            .iter()
            .zip(null.row(k))
            .map(|(a, b)| (a - b) / lr)
            .collect();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        assert!((norm(&p) - norm(g.row(k))).abs() < 1e-10 * norm(g.row(k)));
        assert!(dot(&p, w0.row(k)).abs() < 1e-10 * norm(&p) * norm(w0.row(k)));
        cosines.push(dot(&p, g.row(k)) / (norm(&p) * norm(g.row(k))));
    }
    // Random directions: not the gradient's.
    assert!(cosines.iter().all(|c| *c < 0.99), "{cosines:?}");
    // Seeded: the same run gives the same bits.
    let (_, again) = one_step(&settings("sgd", Some(Coupling::NullControl), lambda), lr);
    assert_eq!(null.as_slice(), again.as_slice());
}

#[test]
fn randomize_tangential_keeps_norms_and_skips_zero_rows() {
    let mut rng = SeededRng::new(1, Stream::Init);
    let w = Matrix::from_vec(3, 4, (0..12).map(|_| rng.normal()).collect::<Vec<f64>>());
    let mut g = w.clone();
    g.row_mut(1).fill(0.0);
    let before: Vec<f64> = (0..3).map(|k| crate::linalg::norm(g.row(k))).collect();
    randomize_tangential(&w, &mut g, &mut SeededRng::new(2, Stream::NullControl));
    for (k, norm_before) in before.iter().enumerate() {
        assert!((crate::linalg::norm(g.row(k)) - norm_before).abs() < 1e-12);
        let along: f64 = g.row(k).iter().zip(w.row(k)).map(|(a, b)| a * b).sum();
        assert!(along.abs() < 1e-12, "row {k}: {along}");
    }
    assert!(g.row(1).iter().all(|v| *v == 0.0));
}

#[test]
fn the_default_coupling_is_not_written() {
    let term = RegTerm::new(RegularizerKind::Discrepancy, 0.5).unwrap();
    let json = serde_json::to_string(&term).unwrap();
    assert_eq!(json, r#"{"kind":{"name":"discrepancy"},"lambda":0.5}"#);
    let back: RegTerm = serde_json::from_str(&json).unwrap();
    assert_eq!(back.coupling, Coupling::Coupled);
    let null = term.with_coupling(Coupling::NullControl);
    let json = serde_json::to_string(&null).unwrap();
    assert!(json.contains(r#""coupling":"null-control""#), "{json}");
    assert_eq!(serde_json::from_str::<RegTerm>(&json).unwrap(), null);
}

#[test]
fn random_tangential_directions_are_isotropic_in_the_tangent_plane() {
    // w along e_3 in R^3: the directions live in the (e_1, e_2) plane, unit norm, with
    // mean 0 and second moments 1/2 on each axis of the plane (uniform on its circle).
    let w = Matrix::from_vec(1, 3, vec![0.0, 0.0, 2.0]);
    let mut rng = SeededRng::new(5, Stream::NullControl);
    let draws = 20_000;
    let (mut mean, mut second) = ([0.0; 3], [0.0; 3]);
    for _ in 0..draws {
        let mut g = Matrix::from_vec(1, 3, vec![1.0, 0.0, 0.0]);
        randomize_tangential(&w, &mut g, &mut rng);
        for i in 0..3 {
            mean[i] += g.row(0)[i] / draws as f64;
            second[i] += g.row(0)[i].powi(2) / draws as f64;
        }
    }
    assert!(second[2] < 1e-20 && mean[2].abs() < 1e-12);
    for i in 0..2 {
        // Standard errors: about 0.005 for the mean, 0.0025 for the second moment.
        assert!(mean[i].abs() < 0.025, "{mean:?}");
        assert!((second[i] - 0.5).abs() < 0.0125, "{second:?}");
    }
}
