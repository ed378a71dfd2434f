//! The training loop: settings validated into a [`TrainConfig`] before anything runs, then
//! epochs of minibatch (or full-batch) steps, each epoch closed by an exact evaluation of
//! the training loss, its full gradient norm and the test metrics.

use std::str::FromStr;
use std::time::Instant;

use crate::data::{Dataset, InputScaling, Targets};
use crate::error::{Error, Result};
use crate::linalg::{norm, Matrix, Real};
use crate::regularizer::RegTerm;
use crate::rng::{SeededRng, Stream};

use super::loss::{loss_and_gradient, BatchTargets, BatchTotals, Gradient, Loss, Workspace};
use super::network::{Network, OutputLayer};
use super::optim::{LrSchedule, OptimizerKind, OptimizerState};

/// Floating-point precision of training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    F64,
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Self::F32),
            "f64" => Ok(Self::F64),
            _ => Err(Error::config(
                "precision",
                format!("`{s}`: expected f32 or f64"),
            )),
        }
    }
}

/// What a user asks for; `None` fields are chosen from the data by [`TrainSettings::resolve`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSettings {
    /// Hidden units n.
    pub width: usize,
    pub epochs: usize,
    pub seed: u64,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub schedule: LrSchedule,
    /// Minibatch size (ignored by full-batch `gd`).
    pub batch_size: usize,
    /// Default: squared for real targets, cross-entropy for classes.
    pub loss: Option<Loss>,
    /// Default: fixed +/-1 for real targets (the theory), trained for classes.
    pub output_layer: Option<OutputLayer>,
    pub scaling: InputScaling,
    pub precision: Precision,
    /// Standard deviation of W's entries. Default: 1/sqrt(mean ||x||^2), which gives the
    /// pre-activations w_k . x unit variance, divided by sqrt(n) when V is fixed to +/-1 so
    /// that the initial outputs have variance of order 1 (a trained V starts at N(0, 1/n)).
    pub init_scale: Option<f64>,
    /// Write a checkpoint every this many epochs (and at the end).
    pub checkpoint_every: usize,
    /// Regularisers of W added to the loss: L + sum lambda_i R_i(W).
    pub regularizers: Vec<RegTerm>,
    /// Apply the regularisers' gradient every this many steps, scaled by that number so
    /// that its average is unchanged (a cheaper option for large n).
    pub reg_every: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            width: 100,
            epochs: 20,
            seed: 0,
            optimizer: OptimizerKind::parse("adam", 0.0).expect("adam"),
            lr: 1e-2,
            schedule: LrSchedule::Constant,
            batch_size: 128,
            loss: None,
            output_layer: None,
            scaling: InputScaling::Sphere,
            precision: Precision::F32,
            init_scale: None,
            checkpoint_every: 1,
            regularizers: Vec::new(),
            reg_every: 1,
        }
    }
}

/// A validated configuration: every choice made, checked against the data.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub width: usize,
    pub epochs: usize,
    pub seed: u64,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub schedule: LrSchedule,
    /// Effective batch size (the training-set size for `gd`).
    pub batch_size: usize,
    pub loss: Loss,
    pub output_layer: OutputLayer,
    pub scaling: InputScaling,
    pub precision: Precision,
    pub init_scale: f64,
    pub checkpoint_every: usize,
    /// Regularisers with lambda > 0 (a lambda of 0 is dropped: training is then
    /// bit-identical to training without it).
    #[serde(default)]
    pub regularizers: Vec<RegTerm>,
    #[serde(default = "one")]
    pub reg_every: usize,
    /// Input dimension d.
    pub dim: usize,
    /// Outputs c.
    pub outputs: usize,
    pub train_samples: usize,
    /// The data trained on: how to load it again, and its SHA-256 (set by `run_training`;
    /// checked on resume, not compared by [`TrainConfig::same_run_as`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<crate::data::DataRecord>,
}

fn one() -> usize {
    1
}

impl TrainConfig {
    /// Optimisation steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.train_samples.div_ceil(self.batch_size)
    }
    /// Whether `other` describes the same run up to its epoch count (so it can resume this one).
    pub fn same_run_as(&self, other: &TrainConfig) -> bool {
        TrainConfig {
            epochs: 0,
            checkpoint_every: 0,
            data: None,
            ..self.clone()
        } == TrainConfig {
            epochs: 0,
            checkpoint_every: 0,
            data: None,
            ..other.clone()
        }
    }
}

impl TrainSettings {
    /// Validates the settings against the (already scaled) training data.
    pub fn resolve(&self, train: &Dataset) -> Result<TrainConfig> {
        if self.width == 0 {
            return Err(Error::config("width", "must be at least 1 hidden unit"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::config(
                "lr",
                format!("{} is not a finite value > 0", self.lr),
            ));
        }
        if self.batch_size == 0 && self.optimizer != OptimizerKind::Gd {
            return Err(Error::config("batch-size", "must be at least 1"));
        }
        if self.checkpoint_every == 0 {
            return Err(Error::config("checkpoint-every", "must be at least 1"));
        }
        if self.reg_every == 0 {
            return Err(Error::config("reg-every", "must be at least 1"));
        }
        for term in &self.regularizers {
            RegTerm::new(term.kind, term.lambda)?;
        }
        let classes = matches!(train.targets, Targets::Classes { .. });
        let loss = self.loss.unwrap_or(if classes {
            Loss::CrossEntropy
        } else {
            Loss::Squared
        });
        if loss == Loss::CrossEntropy && !classes {
            return Err(Error::config(
                "loss",
                "cross-entropy needs class labels; these targets are real values (use squared)",
            ));
        }
        let output_layer = self.output_layer.unwrap_or(if classes {
            OutputLayer::Trained
        } else {
            OutputLayer::Fixed
        });
        let init_scale = match self.init_scale {
            Some(s) if s > 0.0 && s.is_finite() => s,
            Some(s) => {
                return Err(Error::config(
                    "init-scale",
                    format!("{s} is not a finite value > 0"),
                ))
            }
            None => {
                let mean_sq =
                    train.x.as_slice().iter().map(|v| v * v).sum::<f64>() / train.len() as f64;
                let unit_preactivation = if mean_sq > 0.0 {
                    1.0 / mean_sq.sqrt()
                } else {
                    1.0
                };
                match output_layer {
                    OutputLayer::Fixed => unit_preactivation / (self.width as f64).sqrt(),
                    OutputLayer::Trained => unit_preactivation,
                }
            }
        };
        let batch_size = match self.optimizer {
            OptimizerKind::Gd => train.len(),
            _ => self.batch_size.min(train.len()),
        };
        Ok(TrainConfig {
            width: self.width,
            epochs: self.epochs,
            seed: self.seed,
            optimizer: self.optimizer,
            lr: self.lr,
            schedule: self.schedule,
            batch_size,
            loss,
            output_layer,
            scaling: self.scaling,
            precision: self.precision,
            init_scale,
            checkpoint_every: self.checkpoint_every,
            regularizers: self
                .regularizers
                .iter()
                .copied()
                .filter(|t| t.lambda > 0.0)
                .collect(),
            reg_every: self.reg_every,
            dim: train.dim(),
            outputs: train.targets.outputs(),
            train_samples: train.len(),
            data: None,
        })
    }
}

/// One line of `metrics.jsonl`: the state after `epoch` epochs (epoch 0 is the initial network).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Optimisation steps taken so far.
    pub steps: u64,
    /// Learning rate of the epoch's last step (the first step's for epoch 0).
    pub lr: f64,
    /// Mean loss over the whole training set.
    pub train_loss: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub train_error: Option<f64>,
    pub test_loss: f64,
    /// Fraction of misclassified test samples (classification only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_error: Option<f64>,
    /// Norm of the full-batch gradient of the training loss over all trained parameters.
    pub grad_norm: f64,
    /// ||grad_W L||_F, the quantity in the paper's loss bound.
    pub grad_norm_w: f64,
    /// The L2 slice discrepancy L2(W)^2 of the hidden units (PAPER.md section 4); absent
    /// for d = 1 (no continuum of directions) or when every row of W is zero.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub l2_discrepancy_sq: Option<f64>,
    /// R_i(W) of each regulariser in use, by name (lambda not applied).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty", default)]
    pub regularizers: std::collections::BTreeMap<String, f64>,
    /// Seconds since the run started (carried over a resume; not reproducible).
    pub wall_s: f64,
}

/// Everything needed to continue training exactly where it stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState<T> {
    pub net: Network<T>,
    pub optimizer: OptimizerState<T>,
    pub epochs_done: usize,
    /// Position of the minibatch-order random stream.
    pub batch_rng_position: u128,
    /// Seconds of training before this state (for `wall_s` across resumes).
    pub wall_s: f64,
}

impl<T: Real> TrainState<T> {
    /// The initial state of a run.
    pub fn initial(cfg: &TrainConfig) -> Self {
        let mut rng = SeededRng::new(cfg.seed, Stream::Init);
        let net = Network::init(
            cfg.dim,
            cfg.width,
            cfg.outputs,
            cfg.output_layer,
            cfg.init_scale,
            &mut rng,
        );
        let optimizer = OptimizerState::new(cfg.optimizer, &tensor_lengths(&net));
        Self {
            net,
            optimizer,
            epochs_done: 0,
            batch_rng_position: SeededRng::new(cfg.seed, Stream::Batches).position(),
            wall_s: 0.0,
        }
    }
}

/// Lengths of the parameter tensors the optimiser sees: W, then V.
pub fn tensor_lengths<T>(net: &Network<T>) -> Vec<usize> {
    vec![net.w.as_slice().len(), net.v.as_slice().len()]
}

/// Hooks called by [`train`]: progress per step, and each epoch's metrics with the state
/// (to log and checkpoint).
pub trait TrainObserver<T> {
    fn on_step(&mut self, _steps_done: u64) {}
    /// Whether to evaluate and report after `epoch` (the last epoch always is). Skipping
    /// saves the full passes over the data; run directories want every epoch.
    fn wants_epoch(&self, _epoch: usize) -> bool {
        true
    }
    fn on_epoch(&mut self, metrics: &EpochMetrics, state: &TrainState<T>) -> Result<()>;
}

/// Targets converted to the training precision.
enum OwnedTargets<T> {
    Scalar(Vec<T>),
    Classes(Vec<u32>),
}

impl<T: Real> OwnedTargets<T> {
    fn new(t: &Targets) -> Self {
        match t {
            Targets::Scalar(y) => Self::Scalar(y.iter().map(|&v| T::from_f64(v)).collect()),
            Targets::Classes { labels, .. } => Self::Classes(labels.clone()),
        }
    }
    fn range(&self, start: usize, end: usize) -> BatchTargets<'_, T> {
        match self {
            Self::Scalar(y) => BatchTargets::Scalar(&y[start..end]),
            Self::Classes(l) => BatchTargets::Classes(&l[start..end]),
        }
    }
    fn is_classes(&self) -> bool {
        matches!(self, Self::Classes(_))
    }
}

/// The minibatch copied out of the training set.
struct BatchBuffers<T> {
    x: Matrix<T>,
    scalar: Vec<T>,
    labels: Vec<u32>,
}

impl<T: Real> BatchBuffers<T> {
    fn new(dim: usize) -> Self {
        Self {
            x: Matrix::zeros(0, dim),
            scalar: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Gathers the samples `batch` and adds the gradient of their mean loss to `grad`.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        net: &Network<T>,
        x: &Matrix<T>,
        y: &OwnedTargets<T>,
        batch: &[usize],
        loss: Loss,
        grad: &mut Gradient<T>,
        ws: &mut Workspace<T>,
    ) -> BatchTotals {
        self.x.gather_rows(x, batch);
        let targets = match y {
            OwnedTargets::Scalar(y) => {
                self.scalar.clear();
                self.scalar.extend(batch.iter().map(|&i| y[i]));
                BatchTargets::Scalar(&self.scalar)
            }
            OwnedTargets::Classes(l) => {
                self.labels.clear();
                self.labels.extend(batch.iter().map(|&i| l[i]));
                BatchTargets::Classes(&self.labels)
            }
        };
        let scale = 1.0 / batch.len() as f64;
        loss_and_gradient(net, self.x.view(), targets, loss, Some((grad, scale)), ws)
    }
}

/// Adds lambda * k * dR/dW of every regulariser to the gradient on every k-th step
/// (k = `reg_every`; the step about to be taken is number `steps + 1`).
fn add_regularizers<T: Real>(cfg: &TrainConfig, state: &TrainState<T>, grad: &mut Gradient<T>) {
    if cfg.regularizers.is_empty() || (state.optimizer.steps as usize) % cfg.reg_every != 0 {
        return;
    }
    for term in &cfg.regularizers {
        crate::regularizer::value_and_gradient(
            term.kind,
            &state.net.w,
            Some((&mut grad.w, term.lambda * cfg.reg_every as f64)),
        );
    }
}

/// One optimiser step on the trained tensors.
fn apply_update<T: Real>(state: &mut TrainState<T>, grad: &Gradient<T>, lr: f64) {
    state.optimizer.begin_step();
    state
        .optimizer
        .update(0, state.net.w.as_mut_slice(), grad.w.as_slice(), lr);
    if state.net.output_layer == OutputLayer::Trained {
        state
            .optimizer
            .update(1, state.net.v.as_mut_slice(), grad.v.as_slice(), lr);
    }
}

/// Times `steps` training steps (gather, forward, backward, optimiser update) on
/// consecutive minibatches of `data`, after `warmup` untimed steps; returns seconds.
pub fn time_training_steps<T: Real>(
    cfg: &TrainConfig,
    data: &Dataset,
    warmup: usize,
    steps: usize,
) -> f64 {
    let mut state = TrainState::<T>::initial(cfg);
    let x: Matrix<T> = data.x.map(|&v| T::from_f64(v));
    let y = OwnedTargets::<T>::new(&data.targets);
    let mut buffers = BatchBuffers::new(cfg.dim);
    let mut grad = Gradient::zeros_like(&state.net);
    let mut ws = Workspace::default();
    let order: Vec<usize> = (0..data.len()).collect();
    let batches: Vec<&[usize]> = order
        .chunks(cfg.batch_size)
        .filter(|b| b.len() == cfg.batch_size)
        .collect();
    assert!(
        !batches.is_empty(),
        "time_training_steps needs at least one full batch"
    );
    let mut run = |k: usize, state: &mut TrainState<T>| {
        grad.clear();
        buffers.step(
            &state.net,
            &x,
            &y,
            batches[k % batches.len()],
            cfg.loss,
            &mut grad,
            &mut ws,
        );
        add_regularizers(cfg, state, &mut grad);
        apply_update(state, &grad, cfg.lr);
    };
    for k in 0..warmup {
        run(k, &mut state);
    }
    let t = Instant::now();
    for k in 0..steps {
        run(k, &mut state);
    }
    t.elapsed().as_secs_f64()
}

/// Rows per chunk when evaluating a whole data set.
const EVAL_CHUNK: usize = 4096;

/// Mean loss, error rate and (optionally) the full gradient over a data set.
fn evaluate<T: Real>(
    net: &Network<T>,
    x: &Matrix<T>,
    y: &OwnedTargets<T>,
    loss: Loss,
    mut grad: Option<&mut Gradient<T>>,
    ws: &mut Workspace<T>,
) -> (f64, Option<f64>) {
    let m = x.rows();
    if let Some(g) = grad.as_deref_mut() {
        g.clear();
    }
    let mut totals = BatchTotals::default();
    for start in (0..m).step_by(EVAL_CHUNK) {
        let end = (start + EVAL_CHUNK).min(m);
        let t = loss_and_gradient(
            net,
            x.row_range(start, end),
            y.range(start, end),
            loss,
            grad.as_deref_mut().map(|g| (g, 1.0 / m as f64)),
            ws,
        );
        totals.loss_sum += t.loss_sum;
        totals.errors += t.errors;
    }
    let error = y.is_classes().then(|| totals.errors as f64 / m as f64);
    (totals.loss_sum / m as f64, error)
}

/// Trains from `state` (fresh or resumed) until `cfg.epochs`, calling `observer` after each
/// step and epoch. `train` and `test` must already be scaled. Stops with
/// [`Error::Diverged`] if a loss becomes non-finite.
pub fn train<T: Real>(
    cfg: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    mut state: TrainState<T>,
    observer: &mut dyn TrainObserver<T>,
) -> Result<TrainState<T>> {
    let started = Instant::now();
    let wall_before = state.wall_s;
    let x_train: Matrix<T> = train.x.map(|&v| T::from_f64(v));
    let x_test: Matrix<T> = test.x.map(|&v| T::from_f64(v));
    let y_train = OwnedTargets::<T>::new(&train.targets);
    let y_test = OwnedTargets::<T>::new(&test.targets);
    let mut ws = Workspace::default();
    let mut grad = Gradient::zeros_like(&state.net);
    let m = x_train.rows();
    let steps_per_epoch = cfg.steps_per_epoch();
    let total_steps = steps_per_epoch * cfg.epochs;
    let mut rng = SeededRng::new(cfg.seed, Stream::Batches);
    rng.set_position(state.batch_rng_position);
    let mut buffers = BatchBuffers::new(cfg.dim);
    let mut order: Vec<usize> = Vec::with_capacity(m);
    let mut lr = cfg.schedule.lr(
        cfg.lr,
        state.epochs_done,
        state.optimizer.steps as usize,
        total_steps,
    );

    let report = |state: &TrainState<T>,
                  lr: f64,
                  ws: &mut Workspace<T>,
                  grad: &mut Gradient<T>,
                  observer: &mut dyn TrainObserver<T>|
     -> Result<()> {
        let (train_loss, train_error) =
            evaluate(&state.net, &x_train, &y_train, cfg.loss, Some(grad), ws);
        let (test_loss, test_error) = evaluate(&state.net, &x_test, &y_test, cfg.loss, None, ws);
        let grad_norm_w = norm(grad.w.as_slice());
        let grad_norm = match cfg.output_layer {
            OutputLayer::Trained => grad_norm_w.hypot(norm(grad.v.as_slice())),
            OutputLayer::Fixed => grad_norm_w,
        };
        if !train_loss.is_finite() {
            return Err(Error::Diverged {
                epoch: state.epochs_done,
                step: state.optimizer.steps as usize,
                loss: train_loss,
            });
        }
        let w64 = state.net.w.map(|v| v.to_f64());
        let l2_discrepancy_sq = crate::theory::discrepancy::discrepancies(&w64)
            .ok()
            .map(|d| d.l2_slice_sq);
        let regularizers = cfg
            .regularizers
            .iter()
            .map(|t| {
                (
                    t.kind.to_string(),
                    crate::regularizer::value(t.kind, &state.net.w),
                )
            })
            .collect();
        let metrics = EpochMetrics {
            epoch: state.epochs_done,
            steps: state.optimizer.steps,
            lr,
            train_loss,
            train_error,
            test_loss,
            test_error,
            grad_norm,
            grad_norm_w,
            l2_discrepancy_sq,
            regularizers,
            wall_s: wall_before + started.elapsed().as_secs_f64(),
        };
        observer.on_epoch(&metrics, state)
    };

    if state.epochs_done == 0 && state.optimizer.steps == 0 {
        report(&state, lr, &mut ws, &mut grad, observer)?;
    }
    while state.epochs_done < cfg.epochs {
        let epoch = state.epochs_done;
        order.clear();
        order.extend(0..m);
        if cfg.optimizer != OptimizerKind::Gd {
            rng.shuffle(&mut order);
        }
        for batch in order.chunks(cfg.batch_size) {
            lr = cfg
                .schedule
                .lr(cfg.lr, epoch, state.optimizer.steps as usize, total_steps);
            grad.clear();
            let totals = if batch.len() == m && cfg.optimizer == OptimizerKind::Gd {
                // Full batch: no copy, chunked like the evaluation.
                let (loss, _) = evaluate(
                    &state.net,
                    &x_train,
                    &y_train,
                    cfg.loss,
                    Some(&mut grad),
                    &mut ws,
                );
                BatchTotals {
                    loss_sum: loss * m as f64,
                    errors: 0,
                }
            } else {
                buffers.step(
                    &state.net, &x_train, &y_train, batch, cfg.loss, &mut grad, &mut ws,
                )
            };
            add_regularizers(cfg, &state, &mut grad);
            let batch_loss = totals.loss_sum / batch.len() as f64;
            if !batch_loss.is_finite() {
                return Err(Error::Diverged {
                    epoch: epoch + 1,
                    step: state.optimizer.steps as usize + 1,
                    loss: batch_loss,
                });
            }
            apply_update(&mut state, &grad, lr);
            observer.on_step(state.optimizer.steps);
        }
        state.epochs_done += 1;
        state.batch_rng_position = rng.position();
        state.wall_s = wall_before + started.elapsed().as_secs_f64();
        if state.epochs_done == cfg.epochs || observer.wants_epoch(state.epochs_done) {
            report(&state, lr, &mut ws, &mut grad, observer)?;
        }
    }
    Ok(state)
}

/// Mean loss and (for classes) error rate of `net` on an already scaled data set.
pub fn score<T: Real>(net: &Network<T>, loss: Loss, data: &Dataset) -> (f64, Option<f64>) {
    let x: Matrix<T> = data.x.map(|&v| T::from_f64(v));
    let y = OwnedTargets::<T>::new(&data.targets);
    evaluate(net, &x, &y, loss, None, &mut Workspace::default())
}
