//! A trained model: the network with its training configuration, its input scaling and the
//! kind of target it predicts (with a classifier's classes), checked together by
//! [`TrainedModel::new`] (what a model file holds, and what Python's `Model` wraps).

use crate::data::{ClassLabels, Dataset, InputTransform, LabelValues, Targets};
use crate::error::{Error, Result};
use crate::linalg::Real;

use super::config::TrainConfig;
use super::loss::Loss;
use super::network::Network;

/// A network with how it was trained, checked: W and V of the configuration's shapes; a
/// model of real values is not trained with cross-entropy; the input scaling is the
/// configuration's, standardised inputs with d finite means and d finite scales > 0 (and
/// none otherwise). The network's output layer is the configuration's. A classifier's
/// outputs stand for its classes in order (0..c-1 unless [`TrainedModel::with_classes`]
/// says otherwise). Its weights are in precision `T` (f64 when read back from a file; a
/// model file stores them in `T`).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedModel<T = f64> {
    net: Network<T>,
    transform: InputTransform,
    config: TrainConfig,
    /// A classifier's classes, one per output (`None`: a model of real values).
    classes: Option<ClassLabels>,
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
            classes: classes.then(|| ClassLabels::indices(c)),
            net,
            transform,
            config,
        })
    }

    /// The same classifier with output j standing for class `classes[j]` (as many classes
    /// as outputs); refused for a model of real values.
    pub fn with_classes(mut self, classes: ClassLabels) -> Result<Self> {
        if self.classes.is_none() {
            return Err(Error::data(
                "classes",
                "the model predicts real values; classes belong to a classifier",
            ));
        }
        let classes = ClassLabels::new(classes, "classes")?;
        if classes.len() != self.net.v.rows() {
            return Err(Error::data(
                "classes",
                format!(
                    "{} classes for a network of {} outputs: one class per output",
                    classes.len(),
                    self.net.v.rows()
                ),
            ));
        }
        self.classes = Some(classes);
        Ok(self)
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
        self.classes.is_some()
    }
    /// A classifier's classes in the order of its outputs.
    pub fn class_labels(&self) -> Option<&ClassLabels> {
        self.classes.as_ref()
    }
    /// Class targets read from a file (a label's integer value is its class) indexed by
    /// this classifier's classes: label `classes[j]` becomes class j, so that a model
    /// trained from Python on labels such as {3, 7} is measured on files holding those
    /// labels. A label that is none of the classes is refused, naming the data and the
    /// sample. Nothing changes for classes 0..c-1, real targets or a model of real values.
    pub fn index_labels(&self, data: &mut Dataset) -> Result<()> {
        let (Some(classes), Targets::Classes { labels, .. }) = (&self.classes, &data.targets)
        else {
            return Ok(());
        };
        if classes.are_indices() {
            return Ok(());
        }
        let values = LabelValues::Numbers {
            values: labels.iter().map(|&l| f64::from(l)).collect(),
            integer: true,
        };
        data.targets = Targets::Classes {
            labels: classes.encode(&values, &data.targets_name())?,
            num_classes: classes.len(),
        };
        Ok(())
    }
    /// The same model with its weights in precision `U`.
    pub fn convert<U: Real>(&self) -> TrainedModel<U> {
        TrainedModel {
            net: self.net.convert(),
            transform: self.transform.clone(),
            config: self.config.clone(),
            classes: self.classes.clone(),
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
    t.check_statistics(config.dim())
}
