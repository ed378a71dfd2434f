//! Training on data in memory, without a run directory: the network and every epoch's
//! metrics are returned instead of written (Python's `diversenet.train`). The same
//! configuration and seed give the same network as `diversenet train`.

use crate::data::{check_compatible, Dataset, InputTransform, Targets};
use crate::error::Result;
use crate::linalg::Real;

use super::config::{Precision, TrainConfig, TrainSettings};
use super::network::Network;
use super::train::{train, EpochMetrics, TrainObserver, TrainState};

/// A trained network with how it was trained.
#[derive(Clone, Debug)]
pub struct FittedModel {
    /// The network, widened to f64 (exact: the training precision's values).
    pub net: Network<f64>,
    /// The input scaling fitted on the training data.
    pub transform: InputTransform,
    pub config: TrainConfig,
    /// Whether the targets are classes (else real values).
    pub classes: bool,
    /// Epoch 0 (the initial network) to the last.
    pub metrics: Vec<EpochMetrics>,
    /// Inputs that were all zero, so without a direction on the sphere.
    pub zero_inputs: usize,
}

struct CollectMetrics(Vec<EpochMetrics>);

impl<T: Real> TrainObserver<T> for CollectMetrics {
    fn on_epoch(&mut self, metrics: &EpochMetrics, _state: &TrainState<T>) -> Result<()> {
        self.0.push(metrics.clone());
        Ok(())
    }
}

/// Trains with `settings` on raw (unscaled) data.
pub fn train_in_memory(
    settings: &TrainSettings,
    mut train_data: Dataset,
    mut test_data: Dataset,
) -> Result<FittedModel> {
    check_compatible(&train_data, &test_data)?;
    let transform = InputTransform::fit(settings.scaling, &train_data.x);
    let zero_inputs = transform.apply(&mut train_data.x) + transform.apply(&mut test_data.x);
    let config = settings.resolve(&train_data)?;
    let mut observer = CollectMetrics(Vec::new());
    let net = match config.precision() {
        Precision::F32 => train(
            &config,
            &train_data,
            &test_data,
            TrainState::<f32>::initial(&config),
            &mut observer,
        )?
        .net
        .convert(),
        Precision::F64 => {
            train(
                &config,
                &train_data,
                &test_data,
                TrainState::<f64>::initial(&config),
                &mut observer,
            )?
            .net
        }
    };
    Ok(FittedModel {
        net,
        transform,
        config,
        classes: matches!(train_data.targets, Targets::Classes { .. }),
        metrics: observer.0,
        zero_inputs,
    })
}
