//! The individual runs of the reproduction: each is a pure function of its [`RunSpec`]
//! (seeded), so that its stored result can be reused and its hash names it.

use crate::data::{Dataset, InputScaling, InputTransform, SyntheticConfig, Targets};
use crate::error::Result;
use crate::linalg::Matrix;
use crate::linalg::{smallest_eigenvalue_psd, symmetric_spectral_norm};
use crate::model::train::{train, EpochMetrics, TrainObserver, TrainState};
use crate::model::{Network, OptimizerKind, Precision, TrainConfig, TrainSettings};
use crate::regularizer::{RegTerm, RegularizerKind};
use crate::rng::{SeededRng, Stream};
use crate::theory::discrepancy::discrepancies;
use crate::theory::feature_matrix::activation_pattern;
use crate::theory::feature_matrix::{
    loss_bound, smallest_singular_value, squared_loss_and_gradient_norm,
};
use crate::theory::kernel::{discrepancy_matrix, kernel_gram, PairGeometry};

/// How the first layer starts in the diversity experiment.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum InitKind {
    /// Gaussian rows (directions uniform on the sphere).
    Random,
    /// Rows around 3 random centre directions, each perturbed by `spread` times a
    /// Gaussian of the same norm: the smaller the spread, the less diverse.
    Clustered { spread: f64 },
}

/// One run of the reproduction.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "run", rename_all = "kebab-case")]
pub enum RunSpec {
    /// RQ1: full-batch gradient descent on teacher-student data, measuring L, ||grad L||,
    /// s_m(D) and the bound every `log_every` steps.
    LossBound {
        seed: u64,
        data: SyntheticConfig,
        width: usize,
        steps: usize,
        lr: f64,
        log_every: usize,
    },
    /// RQ2/RQ4: networks of varied diversity trained the same way; measurements at checkpoints.
    Diversity {
        seed: u64,
        data: SyntheticConfig,
        width: usize,
        init: InitKind,
        lambda: f64,
        epochs: usize,
        checkpoints: Vec<usize>,
    },
    /// RQ3: lambda_min(K) on random sphere points, and the decomposition for random units.
    KernelOnData {
        seed: u64,
        dim: usize,
        points: usize,
        width: usize,
    },
    /// RQ5 synthetic: one width and lambda of the discrepancy regulariser (lambda 0 = none).
    SyntheticReg {
        seed: u64,
        data: SyntheticConfig,
        validation: usize,
        width: usize,
        lambda: f64,
        epochs: usize,
    },
    /// RQ5 MNIST: one width, regulariser and lambda; validation carved from the training set.
    MnistReg {
        seed: u64,
        width: usize,
        reg: Option<RegularizerKind>,
        lambda: f64,
        epochs: usize,
        train_samples: usize,
        validation: usize,
        reg_every: usize,
    },
}

struct Collect<F> {
    wanted: Vec<usize>,
    each: F,
}

impl<T: crate::linalg::Real, F: FnMut(&EpochMetrics, &TrainState<T>) -> Result<()>> TrainObserver<T>
    for Collect<F>
{
    fn discrepancy(&mut self, w: &Matrix<T>) -> Option<f64> {
        crate::model::run::l2_discrepancy_sq(w)
    }
    fn wants_epoch(&self, epoch: usize) -> bool {
        self.wanted.contains(&epoch)
    }
    fn on_epoch(&mut self, m: &EpochMetrics, s: &TrainState<T>) -> Result<()> {
        (self.each)(m, s)
    }
}

fn scaled_synthetic(cfg: &SyntheticConfig, seed: u64) -> Result<(Dataset, Dataset)> {
    let (mut train, mut test) = cfg.generate(seed)?;
    let t = InputTransform::fit(InputScaling::Sphere, &train.x);
    t.apply(&mut train.x);
    t.apply(&mut test.x);
    Ok((train, test))
}

fn targets_matrix(d: &Dataset) -> Matrix<f64> {
    match &d.targets {
        Targets::Scalar(y) => Matrix::from_vec(y.len(), 1, y.clone()),
        Targets::Classes { .. } => unreachable!("synthetic data is real-valued"),
    }
}

/// Measurements of the theory on a network and its training data.
fn measure(net: &Network<f64>, train: &Dataset) -> serde_json::Value {
    let s = smallest_singular_value(net, &train.x);
    let (loss, grad) = squared_loss_and_gradient_norm(net, &train.x, &targets_matrix(train));
    let bound = (s.value > 0.0).then(|| loss_bound(train.len(), grad, s.value));
    let disc = discrepancies(&net.w)
        .map(|d| d.l2_slice_sq)
        .unwrap_or(f64::NAN);
    serde_json::json!({ "loss": loss, "grad_norm": grad, "s_min": s.value, "bound": bound, "l2_discrepancy_sq": disc })
}

fn clustered_init(net: &mut Network<f64>, spread: f64, seed: u64) {
    let (n, d) = (net.width(), net.dim());
    let mut rng = SeededRng::new(seed ^ 0x5eed, Stream::Init);
    let centres: Vec<Vec<f64>> = (0..3).map(|_| rng.unit_vector(d)).collect();
    for k in 0..n {
        let norm = crate::linalg::norm(net.w.row(k));
        let noise = rng.unit_vector(d);
        let row: Vec<f64> = centres[k % 3]
            .iter()
            .zip(&noise)
            .map(|(c, e)| c + spread * e)
            .collect();
        let rn = crate::linalg::norm(&row);
        net.w
            .row_mut(k)
            .iter_mut()
            .zip(&row)
            .for_each(|(w, r)| *w = r / rn * norm);
    }
}

/// Executes a run; the result is a JSON object whose fields depend on the kind.
pub fn execute(spec: &RunSpec) -> Result<serde_json::Value> {
    match spec {
        RunSpec::LossBound {
            seed,
            data,
            width,
            steps,
            lr,
            log_every,
        } => {
            let (train_data, test_data) = scaled_synthetic(data, *seed)?;
            let settings = TrainSettings {
                width: *width,
                epochs: *steps,
                seed: *seed,
                optimizer: OptimizerKind::Gd,
                lr: *lr,
                precision: Precision::F64,
                // The theory reads exact training metrics.
                exact_metrics_every: 1,
                ..TrainSettings::default()
            };
            let cfg = settings.resolve(&train_data)?;
            let mut points = Vec::new();
            let wanted: Vec<usize> = (0..=*steps).filter(|e| e % log_every == 0).collect();
            let mut obs = Collect {
                wanted,
                each: |m: &EpochMetrics, s: &TrainState<f64>| {
                    let mut v = measure(&s.net, &train_data);
                    v["step"] = m.epoch.into();
                    points.push(v);
                    Ok(())
                },
            };
            train::<f64>(
                &cfg,
                &train_data,
                &test_data,
                TrainState::initial(&cfg),
                &mut obs,
            )?;
            Ok(serde_json::json!({ "trajectory": points }))
        }
        RunSpec::Diversity {
            seed,
            data,
            width,
            init,
            lambda,
            epochs,
            checkpoints,
        } => {
            let (train_data, test_data) = scaled_synthetic(data, *seed)?;
            let settings = TrainSettings {
                width: *width,
                epochs: *epochs,
                seed: *seed,
                batch_size: 32,
                precision: Precision::F64,
                regularizers: if *lambda > 0.0 {
                    vec![RegTerm::new(RegularizerKind::Discrepancy, *lambda)?]
                } else {
                    vec![]
                },
                // The theory reads exact training metrics.
                exact_metrics_every: 1,
                ..TrainSettings::default()
            };
            let cfg = settings.resolve(&train_data)?;
            let mut state = TrainState::<f64>::initial(&cfg);
            if let InitKind::Clustered { spread } = init {
                clustered_init(&mut state.net, *spread, *seed);
            }
            let mut points = Vec::new();
            let mut obs = Collect {
                wanted: checkpoints.clone(),
                each: |m: &EpochMetrics, s: &TrainState<f64>| {
                    if checkpoints.contains(&m.epoch) {
                        let mut v = measure(&s.net, &train_data);
                        v["epoch"] = m.epoch.into();
                        v["train_loss"] = m.train_loss.into();
                        v["test_loss"] = m.test_loss.into();
                        points.push(v);
                    }
                    Ok(())
                },
            };
            train::<f64>(&cfg, &train_data, &test_data, state, &mut obs)?;
            Ok(serde_json::json!({ "checkpoints": points }))
        }
        RunSpec::KernelOnData {
            seed,
            dim,
            points,
            width,
        } => {
            let mut rng = SeededRng::new(*seed, Stream::Data);
            let x = Matrix::from_vec(
                *points,
                *dim,
                (0..*points).flat_map(|_| rng.unit_vector(*dim)).collect(),
            );
            let geometry = PairGeometry::of(&x);
            let k = kernel_gram(&geometry);
            let lambda_min_k = smallest_eigenvalue_psd(k).value().unwrap_or(0.0).max(0.0);
            let net: Network<f64> = Network::init(
                *dim,
                *width,
                1,
                crate::model::OutputLayer::Fixed,
                1.0,
                &mut SeededRng::new(*seed, Stream::Init),
            );
            let e = discrepancy_matrix(
                &geometry,
                &activation_pattern(&net, &x),
                &vec![1.0 / *width as f64; *width],
            );
            let e_norm = symmetric_spectral_norm(&e);
            let s = smallest_singular_value(&net, &x);
            Ok(serde_json::json!({
                "lambda_min_k": lambda_min_k,
                "e_w_norm": e_norm,
                "lower_bound": lambda_min_k - e_norm,
                "s_min_sq_over_n": s.value * s.value / *width as f64,
            }))
        }
        RunSpec::SyntheticReg {
            seed,
            data,
            validation,
            width,
            lambda,
            epochs,
        } => {
            let (all_train, test_data) = scaled_synthetic(data, *seed)?;
            let (train_data, val_data) = split_last(&all_train, *validation);
            let settings = TrainSettings {
                width: *width,
                epochs: *epochs,
                seed: *seed,
                batch_size: 32,
                regularizers: if *lambda > 0.0 {
                    vec![RegTerm::new(RegularizerKind::Discrepancy, *lambda)?]
                } else {
                    vec![]
                },
                // The theory reads exact training metrics.
                exact_metrics_every: 1,
                ..TrainSettings::default()
            };
            let cfg = settings.resolve(&train_data)?;
            let (state, m) = train_to_end(&cfg, &train_data, &test_data)?;
            let (val_loss, _) = crate::model::train::score(&state.net, cfg.loss(), &val_data);
            Ok(
                serde_json::json!({ "train_loss": m.train_loss, "validation_loss": val_loss, "test_loss": m.test_loss, "l2_discrepancy_sq": m.l2_discrepancy_sq }),
            )
        }
        RunSpec::MnistReg { .. } => {
            unreachable!("MNIST runs are executed with their data: execute_mnist")
        }
    }
}

/// Trains (f32) from the configuration's initial state, evaluating only after the last
/// epoch; returns the final state and its metrics.
fn train_to_end(
    cfg: &TrainConfig,
    train_data: &Dataset,
    test_data: &Dataset,
) -> Result<(TrainState<f32>, EpochMetrics)> {
    let mut last = None;
    let mut obs = Collect {
        wanted: vec![cfg.epochs()],
        each: |m: &EpochMetrics, _: &TrainState<f32>| {
            last = Some(m.clone());
            Ok(())
        },
    };
    let state = train::<f32>(
        cfg,
        train_data,
        test_data,
        TrainState::initial(cfg),
        &mut obs,
    )?;
    Ok((state, last.expect("the last epoch is always reported")))
}

/// The first `len - validation` samples and the last `validation` ones.
fn split_last(d: &Dataset, validation: usize) -> (Dataset, Dataset) {
    let m = d.len();
    let cut = m - validation.min(m - 1);
    let first: Vec<usize> = (0..cut).collect();
    let rest: Vec<usize> = (cut..m).collect();
    (
        d.select(&first, format!("{} (training part)", d.name)),
        d.select(&rest, format!("{} (validation part)", d.name)),
    )
}

/// Executes an MNIST run on the loaded (raw) MNIST train/test sets.
pub fn execute_mnist(
    spec: &RunSpec,
    mnist_train: &Dataset,
    mnist_test: &Dataset,
) -> Result<serde_json::Value> {
    let RunSpec::MnistReg {
        seed,
        width,
        reg,
        lambda,
        epochs,
        train_samples,
        validation,
        reg_every,
    } = spec
    else {
        unreachable!("execute_mnist takes MNIST runs");
    };
    // A fixed seeded permutation of the 60,000 (the same for every run): the first
    // `train_samples` train, the next `validation` validate.
    let mut order: Vec<usize> = (0..mnist_train.len()).collect();
    SeededRng::new(0, Stream::Split).shuffle(&mut order);
    let n_train = (*train_samples).min(mnist_train.len() - validation);
    let mut train_data = mnist_train.select(&order[..n_train], "MNIST training part");
    let mut val_data = mnist_train.select(
        &order[n_train..n_train + validation],
        "MNIST validation part",
    );
    let mut test_data = mnist_test.clone();
    let t = InputTransform::fit(InputScaling::Sphere, &train_data.x);
    for d in [&mut train_data, &mut val_data, &mut test_data] {
        t.apply(&mut d.x);
    }
    let settings = TrainSettings {
        width: *width,
        epochs: *epochs,
        seed: *seed,
        regularizers: match reg {
            Some(kind) if *lambda > 0.0 => vec![RegTerm::new(*kind, *lambda)?],
            _ => vec![],
        },
        reg_every: *reg_every,
        // The theory reads exact training metrics.
        exact_metrics_every: 1,
        ..TrainSettings::default()
    };
    let cfg = settings.resolve(&train_data)?;
    let (state, m) = train_to_end(&cfg, &train_data, &test_data)?;
    let (val_loss, val_error) = crate::model::train::score(&state.net, cfg.loss(), &val_data);
    Ok(serde_json::json!({
        "train_loss": m.train_loss, "train_error": m.train_error, "validation_loss": val_loss,
        "validation_error": val_error, "test_loss": m.test_loss, "test_error": m.test_error,
        "l2_discrepancy_sq": m.l2_discrepancy_sq,
    }))
}
