//! A trained model: the network with its training configuration, its input scaling and the
//! kind of target it predicts, checked together by [`TrainedModel::new`] (what a model file
//! holds, and what Python's `save_model` is given).

use crate::data::{InputScaling, InputTransform};
use crate::error::{Error, Result};
use crate::linalg::Real;

use super::config::TrainConfig;
use super::loss::Loss;
use super::network::Network;

/// A network with how it was trained, checked: W and V of the configuration's shapes; a
/// model of real values is not trained with cross-entropy; the input scaling is the
/// configuration's, standardised inputs with d finite means and d finite scales > 0 (and
/// none otherwise). The network's output layer is the configuration's. Its weights are in
/// precision `T` (f64 when read back from a file; a model file stores them in `T`).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedModel<T = f64> {
    net: Network<T>,
    transform: InputTransform,
    config: TrainConfig,
    classes: bool,
}

impl<T: Real> TrainedModel<T> {
    /// `net` trained with `config` on inputs scaled by `transform`, predicting classes when
    /// `classes` (else real values).
    pub fn new(
        mut net: Network<T>,
        transform: InputTransform,
        config: TrainConfig,
        classes: bool,
    ) -> Result<Self> {
        let (n, d, c) = (net.w.rows(), net.w.cols(), net.v.rows());
        if (n, d, c, net.v.cols()) != (config.width(), config.dim(), config.outputs(), n) {
            return Err(Error::data(
                "W, V",
                format!(
                    "W is {n}x{d} and V {c}x{}, but the configuration is for width {}, dim {} \
                     and outputs {} (W must be width x dim, V outputs x width)",
                    net.v.cols(),
                    config.width(),
                    config.dim(),
                    config.outputs()
                ),
            ));
        }
        if !classes && config.loss() == Loss::CrossEntropy {
            return Err(Error::data(
                "targets",
                "\"scalar\" with a cross-entropy configuration: cross-entropy is a loss over \
                 class labels; real-valued targets are trained with the squared loss",
            ));
        }
        check_transform(&transform, &config)?;
        net.output_layer = config.output_layer();
        Ok(Self {
            net,
            transform,
            config,
            classes,
        })
    }

    /// The network.
    pub fn net(&self) -> &Network<T> {
        &self.net
    }
    /// The input scaling fitted on the training data.
    pub fn transform(&self) -> &InputTransform {
        &self.transform
    }
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }
    /// Whether the model predicts classes (else real values).
    pub fn classes(&self) -> bool {
        self.classes
    }
    /// The same model with its weights in precision `U`.
    pub fn convert<U: Real>(&self) -> TrainedModel<U> {
        TrainedModel {
            net: self.net.convert(),
            transform: self.transform.clone(),
            config: self.config.clone(),
            classes: self.classes,
        }
    }
}

/// The input scaling must be the configuration's; standardised inputs need d finite means
/// and d finite scales > 0, other scalings none.
fn check_transform(t: &InputTransform, config: &TrainConfig) -> Result<()> {
    if t.scaling != config.scaling() {
        return Err(Error::data(
            "input_scaling",
            format!(
                "{}, but the configuration's input scaling is {}",
                t.scaling,
                config.scaling()
            ),
        ));
    }
    let d = config.dim();
    if t.scaling != InputScaling::Standardise {
        if t.mean.is_empty() && t.scale.is_empty() {
            return Ok(());
        }
        return Err(Error::data(
            "input_mean, input_scale",
            format!(
                "they belong to standardised inputs; this configuration's input scaling is {}",
                t.scaling
            ),
        ));
    }
    if t.mean.is_empty() || t.scale.is_empty() {
        return Err(Error::data(
            "input_mean, input_scale",
            format!(
                "this configuration standardises its inputs: give both input_mean and \
                 input_scale ({d} values each)"
            ),
        ));
    }
    let finite = |v: f64| v.is_finite();
    let positive = |v: f64| v.is_finite() && v > 0.0;
    for (name, values, valid, expected) in [
        (
            "input_mean",
            &t.mean,
            &finite as &dyn Fn(f64) -> bool,
            "finite",
        ),
        ("input_scale", &t.scale, &positive, "finite and > 0"),
    ] {
        if values.len() != d {
            return Err(Error::data(
                name,
                format!(
                    "{} values, but the inputs have {d} dimensions: expected shape ({d},), one \
                     value per input",
                    values.len()
                ),
            ));
        }
        if let Some(i) = values.iter().position(|&v| !valid(v)) {
            return Err(Error::data(
                name,
                format!("entry {i} is {}: every value must be {expected}", values[i]),
            ));
        }
    }
    Ok(())
}
