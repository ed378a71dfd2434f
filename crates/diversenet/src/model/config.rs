//! The training configuration: what a user asks for ([`TrainSettings`]) and the validated
//! [`TrainConfig`] that training runs on. [`TrainSettings::resolve`] is the only way to build
//! a `TrainConfig`; a configuration read back from a model file or checkpoint passes the same
//! checks (`serde(try_from)`), so an invalid value (a step schedule of period 0, a momentum of
//! 1, an Adam beta outside [0, 1)) never reaches the optimiser.

use std::str::FromStr;

use crate::data::{Dataset, InputScaling, Targets};
use crate::error::{Error, Expected, Result};
use crate::regularizer::{RegSampling, RegTerm};

use super::loss::Loss;
use super::network::OutputLayer;
use super::optim::{LrSchedule, OptimizerKind};
use super::options::default_of;

/// Floating-point precision of training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    F64,
}

impl Precision {
    /// Bytes of one value.
    pub fn value_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F64 => 8,
        }
    }
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Self::F32),
            "f64" => Ok(Self::F64),
            _ => Err(Error::setting(
                "precision",
                s,
                Expected::OneOf("f32 or f64"),
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
    /// Decoupled weight decay of W (AdamW's, Loshchilov & Hutter 2019): each step shrinks W
    /// by the factor 1 - lr_t * weight_decay, apart from the gradient and the optimiser's
    /// moments (so, unlike `weight-decay` in `regularizers`, Adam does not rescale it).
    /// 0 = none. V is not decayed: like the regularisers, it acts on the hidden units.
    pub weight_decay: f64,
    /// Apply the regularisers' gradient every this many steps, scaled by that number so
    /// that its average is unchanged (a cheaper option for large n).
    pub reg_every: usize,
    /// Estimate the pairwise regularisers from K random partner units per step (unbiased;
    /// O(n K d) instead of O(n^2 d)); `None`: exact.
    pub reg_sampling: Option<RegSampling>,
    /// Exact training metrics (mean loss and error over the whole training set and the norm
    /// of the full gradient, one fused pass) at epoch 0 and every this many epochs, and
    /// always after the last epoch; 0 = never (the epoch's running averages are reported
    /// instead, and epoch 0 gets a forward pass without the gradient). The default is 1,
    /// what the theory's measurements need (the command line's is 0: see
    /// [`super::options::TRAIN_OPTIONS`]).
    pub exact_metrics_every: usize,
}

/// The defaults of the table of training options ([`super::options::TRAIN_OPTIONS`]).
impl Default for TrainSettings {
    fn default() -> Self {
        let name = |option: &str| default_of::<String>(option);
        Self {
            width: default_of("width"),
            epochs: default_of("epochs"),
            seed: default_of("seed"),
            optimizer: OptimizerKind::parse(&name("optimizer"), default_of("momentum"))
                .expect("the default optimizer"),
            lr: default_of("lr"),
            schedule: name("lr_schedule").parse().expect("the default schedule"),
            batch_size: default_of("batch_size"),
            loss: None,
            output_layer: None,
            scaling: name("input_scaling").parse().expect("the default scaling"),
            precision: name("precision").parse().expect("the default precision"),
            init_scale: None,
            checkpoint_every: default_of("checkpoint_every"),
            regularizers: Vec::new(),
            weight_decay: default_of("weight_decay"),
            reg_every: default_of("reg_every"),
            reg_sampling: None,
            exact_metrics_every: default_of("exact_metrics"),
        }
    }
}

/// The stored form of a [`TrainConfig`] (the JSON of `config.json` and of model files).
/// An unknown key is refused (a misspelt optional one would otherwise take its default).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFields {
    width: usize,
    epochs: usize,
    seed: u64,
    optimizer: OptimizerKind,
    lr: f64,
    schedule: LrSchedule,
    /// Effective batch size (the training-set size for `gd`).
    batch_size: usize,
    loss: Loss,
    output_layer: OutputLayer,
    scaling: InputScaling,
    precision: Precision,
    init_scale: f64,
    checkpoint_every: usize,
    /// Regularisers with lambda > 0 (a lambda of 0 is dropped: training is then
    /// bit-identical to training without it).
    #[serde(default)]
    regularizers: Vec<RegTerm>,
    /// Decoupled weight decay of W (see [`TrainSettings::weight_decay`]).
    #[serde(default)]
    weight_decay: f64,
    #[serde(default = "one")]
    reg_every: usize,
    #[serde(default)]
    reg_sampling: Option<RegSampling>,
    /// The data trained on: how to load it again, and its SHA-256 (set by
    /// `run_training`; checked on resume, not compared by [`TrainConfig::same_run_as`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<crate::data::DataRecord>,
    /// Input dimension d.
    dim: usize,
    /// Outputs c.
    outputs: usize,
    train_samples: usize,
    #[serde(default = "one")]
    exact_metrics_every: usize,
}

fn one() -> usize {
    1
}

/// The keys of `given` (paths such as `schedule.every`) that `stored` lacks, at every level.
fn unknown_keys(
    given: &serde_json::Value,
    stored: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    if let (Some(given), Some(stored)) = (given.as_object(), stored.as_object()) {
        for (key, value) in given {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match stored.get(key) {
                Some(inner) => unknown_keys(value, inner, &at, out),
                None if value.is_null() => {}
                None => out.push(format!("`{at}`")),
            }
        }
    }
}

fn finite_positive(setting: &'static str, value: f64) -> Result<()> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(Error::setting(setting, value, Expected::Positive))
    }
}

fn at_least_one(setting: &'static str, value: usize, unit: &'static str) -> Result<()> {
    if value == 0 {
        return Err(Error::setting(
            setting,
            value,
            Expected::AtLeast { min: 1, unit },
        ));
    }
    Ok(())
}

/// Checks the optimiser's constants: momentum and the Adam betas in [0, 1), eps finite > 0.
pub(super) fn check_optimizer(kind: OptimizerKind) -> Result<()> {
    let unit = |setting: &'static str, v: f64| {
        if (0.0..1.0).contains(&v) {
            Ok(())
        } else {
            Err(Error::setting(setting, v, Expected::UnitInterval))
        }
    };
    match kind {
        OptimizerKind::Gd => Ok(()),
        OptimizerKind::Sgd { momentum } => unit("momentum", momentum),
        OptimizerKind::Adam { beta1, beta2, eps } => {
            unit("beta1", beta1)?;
            unit("beta2", beta2)?;
            finite_positive("eps", eps)
        }
    }
}

/// Checks decoupled weight decay: finite, >= 0, and small enough that the factor
/// 1 - lr * weight_decay stays positive at the schedule's largest learning rate.
fn check_weight_decay(weight_decay: f64, max_lr: f64) -> Result<()> {
    if !(weight_decay >= 0.0 && weight_decay.is_finite()) {
        return Err(Error::setting(
            "weight_decay",
            weight_decay,
            Expected::NonNegative,
        ));
    }
    if max_lr * weight_decay >= 1.0 {
        return Err(Error::config(
            "weight_decay",
            format!(
                "{weight_decay} times the largest learning rate {max_lr} is {} >= 1: each step \
                 would flip or zero W instead of shrinking it (lower it below {})",
                max_lr * weight_decay,
                1.0 / max_lr
            ),
        ));
    }
    Ok(())
}

/// Checks a schedule's constants: a step schedule needs a period >= 1 epoch and a finite
/// factor > 0.
fn check_schedule(schedule: LrSchedule) -> Result<()> {
    match schedule {
        LrSchedule::Constant | LrSchedule::Cosine => Ok(()),
        LrSchedule::Step { every, factor } => {
            at_least_one("lr_schedule", every, "epoch between steps")?;
            finite_positive("lr_schedule", factor)
        }
    }
}

impl ConfigFields {
    /// Every check that does not need the data: the one gate of both `resolve` and
    /// deserialisation.
    fn validate(self) -> Result<TrainConfig> {
        at_least_one("width", self.width, "hidden unit")?;
        finite_positive("lr", self.lr)?;
        check_optimizer(self.optimizer)?;
        check_schedule(self.schedule)?;
        at_least_one("batch_size", self.batch_size, "sample")?;
        at_least_one("checkpoint_every", self.checkpoint_every, "epoch")?;
        at_least_one("reg_every", self.reg_every, "step")?;
        if let Some(sampling) = self.reg_sampling {
            RegSampling::new(sampling.units_per_step)?;
        }
        finite_positive("init_scale", self.init_scale)?;
        for term in &self.regularizers {
            RegTerm::new(term.kind, term.lambda)?;
        }
        check_weight_decay(
            self.weight_decay,
            self.schedule.max_lr(self.lr, self.epochs),
        )?;
        at_least_one("dim", self.dim, "input dimension")?;
        at_least_one("outputs", self.outputs, "output")?;
        at_least_one("train_samples", self.train_samples, "sample")?;
        if self.batch_size > self.train_samples {
            return Err(Error::config(
                "batch_size",
                format!(
                    "{} is more than the {} training samples",
                    self.batch_size, self.train_samples
                ),
            ));
        }
        Ok(TrainConfig(self))
    }
}

/// A validated configuration: every choice made, checked against the data. Read-only; built
/// by [`TrainSettings::resolve`] or read back (and checked again) from a model file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "ConfigFields", into = "ConfigFields")]
pub struct TrainConfig(ConfigFields);

impl TryFrom<ConfigFields> for TrainConfig {
    type Error = Error;
    fn try_from(fields: ConfigFields) -> Result<Self> {
        fields.validate()
    }
}

impl From<TrainConfig> for ConfigFields {
    fn from(c: TrainConfig) -> Self {
        c.0
    }
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident: $t:ty),* $(,)?) => {
        impl TrainConfig {
            $($(#[$doc])* pub fn $name(&self) -> $t { self.0.$name })*
        }
    };
}

getters! {
    /// Hidden units n.
    width: usize,
    epochs: usize,
    seed: u64,
    optimizer: OptimizerKind,
    lr: f64,
    schedule: LrSchedule,
    /// Effective batch size (the training-set size for `gd`).
    batch_size: usize,
    loss: Loss,
    output_layer: OutputLayer,
    scaling: InputScaling,
    precision: Precision,
    /// Standard deviation of W's initial entries.
    init_scale: f64,
    checkpoint_every: usize,
    /// Regularisers apply every this many steps.
    reg_every: usize,
    /// Decoupled weight decay of W (0 = none; see [`TrainSettings::weight_decay`]).
    weight_decay: f64,
    /// Partner units per step of the sampled pairwise regularisers (`None`: exact).
    reg_sampling: Option<RegSampling>,
    /// Input dimension d.
    dim: usize,
    /// Outputs c.
    outputs: usize,
    train_samples: usize,
    /// Exact training metrics every this many epochs (0 = never; see [`TrainSettings`]).
    exact_metrics_every: usize,
}

impl TrainConfig {
    /// A stored configuration (the JSON of a model file or of Python's `save_model`) read
    /// back and checked again: every value as [`TrainSettings::resolve`] checks it, and
    /// every key one that a configuration has. serde refuses an unknown key of the typed
    /// levels; a variant without fields (the constant or cosine schedule, `gd`) takes any
    /// keys in serde, so the keys given are also compared with the configuration written
    /// back (a key given as null, where the configuration writes nothing, is allowed).
    pub fn from_stored_json(json: &str) -> std::result::Result<Self, String> {
        let given: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let config: Self = serde_json::from_value(given.clone()).map_err(|e| e.to_string())?;
        let stored = serde_json::to_value(&config).map_err(|e| e.to_string())?;
        let mut unknown = Vec::new();
        unknown_keys(&given, &stored, "", &mut unknown);
        if unknown.is_empty() {
            return Ok(config);
        }
        let known = stored
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        Err(format!(
            "keys that are no part of a diversenet configuration: {} (a configuration has {known})",
            unknown.join(", ")
        ))
    }

    /// Whether the regularisers' gradient is added at the step taken after `steps` steps
    /// (every `reg_every`-th step, when there are regularisers).
    pub fn regularizes_at(&self, steps: u64) -> bool {
        !self.0.regularizers.is_empty() && steps % self.0.reg_every as u64 == 0
    }

    /// Regularisers with lambda > 0.
    pub fn regularizers(&self) -> &[RegTerm] {
        &self.0.regularizers
    }
    /// Optimisation steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.0.train_samples.div_ceil(self.0.batch_size)
    }
    /// Whether `other` describes the same run up to its epoch count, checkpoint period and
    /// metrics schedule (so it can resume this one).
    pub fn same_run_as(&self, other: &TrainConfig) -> bool {
        let training_only = |c: &TrainConfig| ConfigFields {
            epochs: 0,
            checkpoint_every: 0,
            exact_metrics_every: 0,
            data: None,
            ..c.0.clone()
        };
        training_only(self) == training_only(other)
    }
    /// The data the run was trained on, where `run_training` recorded it.
    pub fn data(&self) -> Option<&crate::data::DataRecord> {
        self.0.data.as_ref()
    }
    /// The same configuration, recording the data it is trained on.
    pub fn with_data(mut self, record: crate::data::DataRecord) -> Self {
        self.0.data = Some(record);
        self
    }
    /// Whether epoch `epoch` (0 = before training) gets exact training metrics.
    pub fn exact_metrics_at(&self, epoch: usize) -> bool {
        match self.0.exact_metrics_every {
            0 => false,
            k => epoch % k == 0 || epoch == self.0.epochs,
        }
    }
}

/// Which training options a front end (the CLI, the Python package) was given explicitly
/// rather than left at their defaults, for [`check_options_apply`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GivenOptions {
    pub momentum: bool,
    pub batch_size: bool,
    pub reg_every: bool,
    pub reg_sample: bool,
    /// At least one regulariser.
    pub reg: bool,
}

/// Refuses the first option given that would have no effect beside the others, saying
/// why ([`Error::no_effect`]): a silent no-op hides a mistake. The option is `momentum`,
/// `batch_size`, `reg_every` or `reg_sample`.
pub fn check_options_apply(given: GivenOptions, optimizer: OptimizerKind) -> Result<()> {
    let no_reg = !given.reg;
    let refused = [
        (
            "momentum",
            given.momentum && !matches!(optimizer, OptimizerKind::Sgd { .. }),
            format!(
                "only the sgd optimizer has a momentum (this run uses {})",
                optimizer.name()
            ),
        ),
        (
            "batch_size",
            given.batch_size && optimizer == OptimizerKind::Gd,
            "the gd optimizer steps on the whole training set".to_string(),
        ),
        (
            "reg_every",
            given.reg_every && no_reg,
            "it sets how often the regularisers are applied, and none is given".to_string(),
        ),
        (
            "reg_sample",
            given.reg_sample && no_reg,
            "it sets how the regularisers are estimated, and none is given".to_string(),
        ),
    ]
    .into_iter()
    .find(|(_, without_effect, _)| *without_effect);
    match refused {
        Some((option, _, why)) => Err(Error::no_effect(option, why)),
        None => Ok(()),
    }
}

impl TrainSettings {
    /// Refuses a sampling of the regularisers when none of them is a pair sum, the only
    /// kind it estimates: it would have no effect (a new run's check; stored runs are not
    /// re-judged). A pair sum at lambda = 0 counts, so that a lambda sweep keeps its flags.
    fn check_sampling_applies(&self) -> Result<()> {
        use crate::regularizer::registry::names_where;
        match self.reg_sampling {
            Some(_) if !self.regularizers.iter().any(|t| t.kind.is_pair_sum()) => {
                Err(Error::no_effect(
                    "reg_sample",
                    format!(
                        "sampling estimates the pairwise regularisers ({}) and none is given \
                         ({} are always computed exactly)",
                        names_where(true),
                        names_where(false)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Validates the settings against the (already scaled) training data.
    pub fn resolve(&self, train: &Dataset) -> Result<TrainConfig> {
        self.check_sampling_applies()?;
        let classes = matches!(train.targets, Targets::Classes { .. });
        let loss = self
            .loss
            .unwrap_or_else(|| Loss::default_for(&train.targets));
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
        let init_scale = self.init_scale.unwrap_or_else(|| {
            let mean_sq = crate::data::scaling::mean_squared_norm(&train.x);
            let unit_preactivation = if mean_sq > 0.0 {
                1.0 / mean_sq.sqrt()
            } else {
                1.0
            };
            match output_layer {
                OutputLayer::Fixed => unit_preactivation / (self.width.max(1) as f64).sqrt(),
                OutputLayer::Trained => unit_preactivation,
            }
        });
        let batch_size = match self.optimizer {
            OptimizerKind::Gd => train.len(),
            _ => self.batch_size.min(train.len()),
        };
        ConfigFields {
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
                .filter(|t| t.lambda != 0.0)
                .collect(),
            weight_decay: self.weight_decay,
            reg_every: self.reg_every,
            reg_sampling: self.reg_sampling,
            data: None,
            dim: train.dim(),
            outputs: train.targets.outputs(),
            train_samples: train.len(),
            exact_metrics_every: self.exact_metrics_every,
        }
        .validate()
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
