//! The training loop: epochs of minibatch (or full-batch) steps from a validated
//! [`TrainConfig`], each reported epoch closed by the test metrics (where there is a test
//! set) and the training metrics:
//! exact ones (one fused pass over the training set for loss, error and full gradient) on
//! the epochs the configuration asks for, the epoch's running averages otherwise.

use std::time::Instant;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::linalg::{norm, Matrix, Real};
use crate::rng::{SeededRng, Stream};

use super::config::TrainConfig;
use super::loss::{loss_and_gradient, BatchTotals, Gradient, Loss, Workspace};
use super::network::{Network, OutputLayer};
use super::optim::{OptimizerKind, OptimizerState};
use super::step::{MinibatchStep, OwnedTargets};
use crate::regularizer::coupling::{self, Coupling};

/// How a training loss or error in [`EpochMetrics`] was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// Over the whole training set with the network at the end of the epoch.
    #[default]
    Exact,
    /// Averaged over the epoch's minibatches as they were trained on (each measured before
    /// its update), as PyTorch training loops usually log it.
    Running,
}

/// One line of `metrics.jsonl`: the state after `epoch` epochs (epoch 0 is the initial network).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Optimisation steps taken so far.
    pub steps: u64,
    /// Learning rate of the epoch's last step (the first step's for epoch 0).
    pub lr: f64,
    /// Mean loss over the training set (see `train_loss_kind`).
    pub train_loss: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub train_error: Option<f64>,
    /// Whether `train_loss` and `train_error` are exact or the epoch's running averages.
    #[serde(default)]
    pub train_loss_kind: MetricKind,
    /// Mean loss over the test set (absent when training without one: Python's `train`
    /// without `X_test` or `test_fraction`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_loss: Option<f64>,
    /// Fraction of misclassified test samples (classification only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_error: Option<f64>,
    /// Norm of the full-batch gradient of the training loss over all trained parameters
    /// (with exact training metrics only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grad_norm: Option<f64>,
    /// ||grad_W L||_F, the quantity in the paper's loss bound (with exact metrics only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grad_norm_w: Option<f64>,
    /// The L2 slice discrepancy L2(W)^2 of the hidden units (PAPER.md section 4), from the
    /// observer's [`TrainObserver::discrepancy`]; absent when it measures none (d = 1, W = 0,
    /// or an observer without the theory).
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
        let mut rng = SeededRng::new(cfg.seed(), Stream::Init);
        let net = Network::init(
            cfg.dim(),
            cfg.width(),
            cfg.outputs(),
            cfg.output_layer(),
            cfg.init_scale(),
            &mut rng,
        );
        let optimizer = OptimizerState::new(cfg.optimizer(), &tensor_lengths(&net));
        Self {
            net,
            optimizer,
            epochs_done: 0,
            batch_rng_position: SeededRng::new(cfg.seed(), Stream::Batches).position(),
            wall_s: 0.0,
        }
    }
}

/// Lengths of the parameter tensors the optimiser sees: W, then V.
pub fn tensor_lengths<T>(net: &Network<T>) -> Vec<usize> {
    vec![net.w.as_slice().len(), net.v.as_slice().len()]
}

/// Hooks called by [`train`]: progress per step, each epoch's metrics with the state (to
/// log and checkpoint), and measurements of W that the training loop does not know about.
pub trait TrainObserver<T> {
    fn on_step(&mut self, _steps_done: u64) {}
    /// Whether to evaluate and report after `epoch` (the last epoch always is). Skipping
    /// saves the full passes over the data; run directories want every epoch.
    fn wants_epoch(&self, _epoch: usize) -> bool {
        true
    }
    /// The L2 slice discrepancy L2(W)^2 of the first layer for the epoch's metrics (the
    /// theory's measurement, supplied by the caller); `None` by default.
    fn discrepancy(&mut self, _w: &Matrix<T>) -> Option<f64> {
        None
    }
    fn on_epoch(&mut self, metrics: &EpochMetrics, state: &TrainState<T>) -> Result<()>;
    /// Checked after every step: an error (the caller's cancellation, e.g. Ctrl-C in
    /// Python, as [`Error::Interrupted`]) stops training and is what [`train`] returns.
    /// Never stops by default.
    fn keep_going(&mut self, _steps_done: u64) -> Result<()> {
        Ok(())
    }
}

/// Rows per chunk when evaluating a whole data set.
const EVAL_CHUNK: usize = 4096;

/// Summed loss and errors and (optionally) the full gradient of the mean loss over a data
/// set, in one pass.
fn evaluate<T: Real>(
    net: &Network<T>,
    x: &Matrix<T>,
    y: &OwnedTargets<T>,
    loss: Loss,
    mut grad: Option<&mut Gradient<T>>,
    ws: &mut Workspace<T>,
) -> BatchTotals {
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
    totals
}

/// Mean loss and (for classes) error rate from a data set's totals.
fn means<T: Real>(totals: BatchTotals, samples: usize, y: &OwnedTargets<T>) -> (f64, Option<f64>) {
    let m = samples.max(1) as f64;
    (
        totals.loss_sum / m,
        y.is_classes().then(|| totals.errors as f64 / m),
    )
}

/// One full-batch gradient-descent step on the whole training set (no copy: chunked like
/// the evaluation).
fn full_batch_step<T: Real>(
    cfg: &TrainConfig,
    data: &MinibatchStep<T>,
    state: &mut TrainState<T>,
    grad: &mut Gradient<T>,
    ws: &mut Workspace<T>,
    lr: f64,
) -> Result<BatchTotals> {
    let totals = evaluate(
        &state.net,
        data.inputs(),
        data.targets(),
        cfg.loss(),
        Some(grad),
        ws,
    );
    let loss = totals.loss_sum / data.samples() as f64;
    if !loss.is_finite() {
        return Err(Error::Diverged {
            epoch: state.epochs_done + 1,
            step: state.optimizer.steps as usize + 1,
            loss,
        });
    }
    add_regularizer_gradient(cfg, &state.net.w, state.optimizer.steps, &mut grad.w);
    let decoupled = decoupled_gradient(cfg, &state.net.w, state.optimizer.steps);
    state.optimizer.begin_step();
    let rule = state.optimizer.rule(lr);
    let w_rule = rule.decaying(lr, cfg.weight_decay());
    state
        .optimizer
        .update(0, state.net.w.as_mut_slice(), grad.w.as_slice(), w_rule);
    if let Some(g) = decoupled {
        coupling::apply_decoupled(&mut state.net.w, &g, lr);
    }
    if state.net.output_layer == OutputLayer::Trained {
        state
            .optimizer
            .update(1, state.net.v.as_mut_slice(), grad.v.as_slice(), rule);
    }
    Ok(totals)
}

/// Refuses to go on (or to return) weights that are no longer numbers (checked every
/// epoch, before the observers see the epoch): relu turns a NaN
/// pre-activation into 0, so the loss can stay finite while W is NaN. At epoch 0 the
/// initial weights overflowed the training precision (`init_scale` too large); later,
/// training diverged (`lr` too large).
fn check_finite_weights<T: Real>(net: &Network<T>, epoch: usize, cfg: &TrainConfig) -> Result<()> {
    let (lr, init_scale) = (cfg.lr(), cfg.init_scale());
    for (name, m) in [("W", &net.w), ("V", &net.v)] {
        if let Some(v) = m.as_slice().iter().find(|v| !v.is_finite()) {
            return Err(if epoch == 0 {
                Error::config(
                    "init_scale",
                    format!(
                        "the initial {name} holds {v}: the initial scale {init_scale:e} \
                         overflows the training precision; lower it"
                    ),
                )
            } else {
                Error::config(
                    "lr",
                    format!(
                        "training diverged by epoch {epoch}: {name} holds {v} (the loss can \
                         look finite because relu maps NaN to 0); the learning rate {lr:e} is \
                         too large, lower it"
                    ),
                )
            });
        }
    }
    Ok(())
}

/// Trains from `state` (fresh or resumed) until `cfg.epochs()`, calling `observer` after
/// each step and epoch. `train` and `test` (a data set, or `None` for no test metrics) must
/// already be scaled. Stops with [`Error::Diverged`] if a loss becomes non-finite.
pub fn train<'d, T: Real>(
    cfg: &TrainConfig,
    train: &Dataset,
    test: impl Into<Option<&'d Dataset>>,
    mut state: TrainState<T>,
    observer: &mut dyn TrainObserver<T>,
) -> Result<TrainState<T>> {
    if state.epochs_done == 0 {
        // An initial scale that overflows the precision, named before any loss is taken.
        check_finite_weights(&state.net, 0, cfg)?;
    }
    let started = Instant::now();
    let wall_before = state.wall_s;
    let mut stepper = MinibatchStep::<T>::new(cfg, train);
    let test = test.into().map(|t| {
        (
            t.x.par_map(|&v| T::from_f64(v)),
            OwnedTargets::<T>::new(&t.targets),
        )
    });
    let mut ws = Workspace::default();
    let mut grad = Gradient::zeros_like(&state.net);
    let m = stepper.samples();
    let steps_per_epoch = cfg.steps_per_epoch();
    let total_steps = steps_per_epoch * cfg.epochs();
    let mut rng = SeededRng::new(cfg.seed(), Stream::Batches);
    rng.set_position(state.batch_rng_position);
    let mut order: Vec<usize> = Vec::with_capacity(m);
    let mut lr = cfg.schedule().lr(
        cfg.lr(),
        state.epochs_done,
        state.optimizer.steps as usize,
        total_steps,
    );

    // `running`: the epoch's summed minibatch totals (None for epoch 0).
    let report = |state: &TrainState<T>,
                  lr: f64,
                  running: Option<BatchTotals>,
                  stepper: &MinibatchStep<T>,
                  ws: &mut Workspace<T>,
                  grad: &mut Gradient<T>,
                  observer: &mut dyn TrainObserver<T>|
     -> Result<()> {
        let exact = cfg.exact_metrics_at(state.epochs_done);
        let (x, y) = (stepper.inputs(), stepper.targets());
        let (totals, kind) = match running {
            Some(t) if !exact => (t, MetricKind::Running),
            _ => (
                evaluate(
                    &state.net,
                    x,
                    y,
                    cfg.loss(),
                    exact.then_some(&mut *grad),
                    ws,
                ),
                MetricKind::Exact,
            ),
        };
        let (train_loss, train_error) = means(totals, m, y);
        if !train_loss.is_finite() {
            return Err(Error::Diverged {
                epoch: state.epochs_done,
                step: state.optimizer.steps as usize,
                loss: train_loss,
            });
        }
        let (grad_norm, grad_norm_w) = if exact {
            let w = norm(grad.w.as_slice());
            let all = match cfg.output_layer() {
                OutputLayer::Trained => w.hypot(norm(grad.v.as_slice())),
                OutputLayer::Fixed => w,
            };
            (Some(all), Some(w))
        } else {
            (None, None)
        };
        let (test_loss, test_error) = match &test {
            Some((x_test, y_test)) => {
                let totals = evaluate(&state.net, x_test, y_test, cfg.loss(), None, ws);
                let (loss, error) = means(totals, x_test.rows(), y_test);
                (Some(loss), error)
            }
            None => (None, None),
        };
        let regularizers = cfg
            .regularizers()
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
            train_loss_kind: kind,
            test_loss,
            test_error,
            grad_norm,
            grad_norm_w,
            l2_discrepancy_sq: observer.discrepancy(&state.net.w),
            regularizers,
            wall_s: wall_before + started.elapsed().as_secs_f64(),
        };
        // Before any observer records the epoch: NaN weights can hide behind a finite loss.
        check_finite_weights(&state.net, metrics.epoch, cfg)?;
        observer.on_epoch(&metrics, state)
    };

    if state.epochs_done == 0 && state.optimizer.steps == 0 {
        report(&state, lr, None, &stepper, &mut ws, &mut grad, observer)?;
    }
    while state.epochs_done < cfg.epochs() {
        let epoch = state.epochs_done;
        order.clear();
        order.extend(0..m);
        let full_batch = cfg.optimizer() == OptimizerKind::Gd;
        if !full_batch {
            rng.shuffle(&mut order);
        }
        let mut running = BatchTotals::default();
        for batch in order.chunks(cfg.batch_size()) {
            lr = cfg
                .schedule()
                .lr(cfg.lr(), epoch, state.optimizer.steps as usize, total_steps);
            let totals = if full_batch {
                full_batch_step(cfg, &stepper, &mut state, &mut grad, &mut ws, lr)?
            } else {
                stepper.step(&mut state, batch, lr)?
            };
            running.loss_sum += totals.loss_sum;
            running.errors += totals.errors;
            observer.on_step(state.optimizer.steps);
            observer.keep_going(state.optimizer.steps)?;
        }
        state.epochs_done += 1;
        state.batch_rng_position = rng.position();
        state.wall_s = wall_before + started.elapsed().as_secs_f64();
        if state.epochs_done == cfg.epochs() || observer.wants_epoch(state.epochs_done) {
            report(
                &state,
                lr,
                Some(running),
                &stepper,
                &mut ws,
                &mut grad,
                observer,
            )?;
        }
    }
    Ok(state)
}

/// Mean loss and (for classes) error rate of `net` on an already scaled data set.
pub fn score<T: Real>(net: &Network<T>, loss: Loss, data: &Dataset) -> (f64, Option<f64>) {
    let x: Matrix<T> = data.x.map(|&v| T::from_f64(v));
    let y = OwnedTargets::<T>::new(&data.targets);
    let totals = evaluate(net, &x, &y, loss, None, &mut Workspace::default());
    means(totals, x.rows(), &y)
}

/// On every k-th step (k = `reg_every`; `steps` taken so far), adds
/// sum_i lambda_i k dR_i/dW over the terms that act through the optimiser (coupled ones and
/// null controls, see [`Coupling`]) to `grad` (exact, or estimated from sampled partner
/// units when the configuration asks for it); whether it added any.
pub(crate) fn add_regularizer_gradient<T: Real>(
    cfg: &TrainConfig,
    w: &Matrix<T>,
    steps: u64,
    grad: &mut Matrix<T>,
) -> bool {
    add_terms_gradient(cfg, w, steps, grad, |c| c != Coupling::Decoupled)
}

/// As [`add_regularizer_gradient`], over the decoupled terms (applied after the
/// optimiser's step as W <- W - lr_t `grad`).
pub(crate) fn add_decoupled_gradient<T: Real>(
    cfg: &TrainConfig,
    w: &Matrix<T>,
    steps: u64,
    grad: &mut Matrix<T>,
) -> bool {
    add_terms_gradient(cfg, w, steps, grad, |c| c == Coupling::Decoupled)
}

/// Whether every regulariser term is coupled (the default).
pub(crate) fn all_coupled(cfg: &TrainConfig) -> bool {
    cfg.regularizers().iter().all(|t| t.coupling.is_coupled())
}

fn add_terms_gradient<T: Real>(
    cfg: &TrainConfig,
    w: &Matrix<T>,
    steps: u64,
    grad: &mut Matrix<T>,
    selected: impl Fn(Coupling) -> bool,
) -> bool {
    if !cfg.regularizes_at(steps) {
        return false;
    }
    let mut sampled = cfg
        .reg_sampling()
        .map(|s| (s, crate::regularizer::RegSampling::rng(cfg.seed(), steps)));
    let mut any = false;
    for term in cfg.regularizers().iter().filter(|t| selected(t.coupling)) {
        any = true;
        let weight = term.lambda * cfg.reg_every() as f64;
        let mut own = (term.coupling == Coupling::NullControl)
            .then(|| Matrix::<T>::zeros(w.rows(), w.cols()));
        let scaled = Some((own.as_mut().unwrap_or(&mut *grad), weight));
        match sampled.as_mut() {
            Some((sampling, rng)) => {
                crate::regularizer::value_and_gradient_sampled(term.kind, w, scaled, *sampling, rng)
            }
            None => crate::regularizer::value_and_gradient(term.kind, w, scaled),
        };
        if let Some(mut own) = own {
            let mut rng = coupling::null_control_rng(cfg.seed(), steps);
            coupling::randomize_tangential(w, &mut own, &mut rng);
            for (g, o) in grad.as_mut_slice().iter_mut().zip(own.as_slice()) {
                *g += *o;
            }
        }
    }
    any
}

/// The decoupled terms' gradient at `w` on a step where they apply (None otherwise).
pub(crate) fn decoupled_gradient<T: Real>(
    cfg: &TrainConfig,
    w: &Matrix<T>,
    steps: u64,
) -> Option<Matrix<T>> {
    let decoupled = |t: &crate::regularizer::RegTerm| t.coupling == Coupling::Decoupled;
    if !cfg.regularizers().iter().any(decoupled) || !cfg.regularizes_at(steps) {
        return None;
    }
    let mut g = Matrix::zeros(w.rows(), w.cols());
    add_decoupled_gradient(cfg, w, steps, &mut g).then_some(g)
}

/// Each regulariser with the weight lambda_i k its gradient enters a step with, on the
/// steps where it applies (every k-th, k = `reg_every`).
pub(crate) fn regularizer_weights(
    cfg: &TrainConfig,
) -> impl Iterator<Item = (crate::regularizer::RegularizerKind, f64)> + '_ {
    cfg.regularizers()
        .iter()
        .map(|term| (term.kind, term.lambda * cfg.reg_every() as f64))
}
