//! One MNIST run of the factorial: the training settings of its arm, the snapshots of W at
//! both ends (R, mean ||w_k||, the gradient norms), and a divergence recorded as an outcome
//! rather than an error (a learning rate or lambda too large for its cell is a result).

use diversenet::error::{Error, Result};
use diversenet::linalg::{norm, Matrix};
use diversenet::model::optim::DEFAULT_MOMENTUM;
use diversenet::model::train::{score, train, EpochMetrics, TrainState};
use diversenet::model::{Loss, Network, OptimizerKind, TrainSettings};
use diversenet::regularizer::{value_and_gradient, Coupling, RegTerm, RegularizerKind};

use super::{Arm, Optimizer, Outcome, Snapshot, Spec};
use crate::experiments::common::{Collect, MnistSplit};

/// The training settings of a run.
pub fn settings(spec: &Spec) -> Result<TrainSettings> {
    let term = |kind, coupling| -> Result<Vec<RegTerm>> {
        Ok(if spec.lambda > 0.0 {
            vec![RegTerm::new(kind, spec.lambda)?.with_coupling(coupling)]
        } else {
            vec![]
        })
    };
    Ok(TrainSettings {
        width: spec.width,
        epochs: spec.epochs,
        seed: spec.seed,
        // Exact metrics at epoch 0 and after the last (the observer asks for no others).
        exact_metrics_every: 1,
        optimizer: match spec.optimizer {
            Optimizer::Adam => OptimizerKind::parse("adam", 0.0)?,
            Optimizer::Sgd => OptimizerKind::parse("sgd", DEFAULT_MOMENTUM)?,
        },
        lr: spec.lr,
        schedule: spec.schedule,
        loss: Some(Loss::CrossEntropy),
        init_scale: Some(spec.init_scale),
        regularizers: match spec.arm {
            Some(Arm::Diversity(coupling)) => term(RegularizerKind::Discrepancy, coupling)?,
            Some(Arm::CoupledL2) => term(RegularizerKind::WeightDecay, Coupling::Coupled)?,
            _ => vec![],
        },
        weight_decay: match spec.arm {
            Some(Arm::DecoupledWeightDecay) => spec.lambda,
            _ => 0.0,
        },
        ..TrainSettings::default()
    })
}

/// ||grad_W R_arm(W)|| at lambda = 1 (0 without an arm).
fn term_gradient_norm(arm: Option<Arm>, w: &Matrix<f64>) -> f64 {
    let kind = match arm {
        Some(Arm::Diversity(_)) => RegularizerKind::Discrepancy,
        Some(Arm::CoupledL2) => RegularizerKind::WeightDecay,
        // AdamW's step -lr lambda W: the "gradient" of its term is W.
        Some(Arm::DecoupledWeightDecay) => return norm(w.as_slice()),
        None => return 0.0,
    };
    let mut g = Matrix::zeros(w.rows(), w.cols());
    value_and_gradient(kind, w, Some((&mut g, 1.0)));
    norm(g.as_slice())
}

fn snapshot(arm: Option<Arm>, net: &Network<f32>, grad_loss: Option<f64>) -> Snapshot {
    let w: Matrix<f64> = net.convert::<f64>().w;
    let rows = w.rows().max(1);
    Snapshot {
        r: diversenet::regularizer::value(RegularizerKind::Discrepancy, &w),
        mean_row_norm: (0..w.rows()).map(|k| norm(w.row(k))).sum::<f64>() / rows as f64,
        grad_loss: grad_loss.unwrap_or(0.0),
        grad_term_unit: term_gradient_norm(arm, &w),
    }
}

/// Whether an error is the run's divergence (a result) rather than a failure.
fn is_divergence(e: &Error) -> bool {
    matches!(e, Error::Diverged { .. }) || matches!(e, Error::Config { setting: "lr", .. })
}

/// Executes a run on the prepared split (whose sizes must be the spec's).
pub fn execute(spec: &Spec, data: &MnistSplit) -> Result<Outcome> {
    let sizes = (spec.train_samples, spec.validation, spec.test_samples);
    if data.sizes != sizes {
        return Err(Error::config(
            "data",
            format!(
                "MNIST prepared for {:?} (training, validation, test) images, the run needs {sizes:?}",
                data.sizes
            ),
        ));
    }
    let cfg = settings(spec)?.resolve(&data.train)?;
    let mut snapshots: Vec<Snapshot> = Vec::new();
    let mut last_metrics = None;
    let mut obs = Collect {
        wanted: vec![0, cfg.epochs()],
        each: |m: &EpochMetrics, s: &TrainState<f32>| {
            snapshots.push(snapshot(spec.arm, &s.net, m.grad_norm_w));
            last_metrics = Some(m.clone());
            Ok(())
        },
    };
    let trained = train::<f32>(
        &cfg,
        &data.train,
        &data.test,
        TrainState::initial(&cfg),
        &mut obs,
    );
    drop(obs);
    let initial = snapshots.first().cloned();
    let state = match trained {
        Ok(state) => state,
        Err(e) if is_divergence(&e) => {
            return Ok(Outcome {
                diverged: true,
                train_loss: None,
                validation_error: 1.0,
                test_error: 1.0,
                test_loss: None,
                l2_discrepancy_sq: None,
                initial,
                last: None,
            })
        }
        Err(e) => return Err(e),
    };
    // The last epoch's exact metrics give the training loss and the test numbers; only the
    // validation split is scored apart.
    let (_, validation_error) = score(&state.net, cfg.loss(), &data.validation);
    let m = last_metrics.expect("the last epoch is always reported");
    Ok(Outcome {
        diverged: false,
        train_loss: Some(m.train_loss).filter(|v| v.is_finite()),
        validation_error: validation_error.unwrap_or(1.0),
        test_error: m.test_error.unwrap_or(1.0),
        test_loss: m.test_loss.filter(|v| v.is_finite()),
        l2_discrepancy_sq: m.l2_discrepancy_sq,
        initial,
        last: snapshots.get(1).cloned(),
    })
}
