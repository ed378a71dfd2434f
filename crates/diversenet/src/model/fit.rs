//! Training on data in memory, without a run directory: the network and every epoch's
//! metrics are returned instead of written (Python's `diversenet.train`). The same
//! configuration and seed give the same network as `diversenet train`.

use crate::data::{check_compatible, DataRecord, Dataset, InputTransform, Targets};
use crate::error::{Error, Result};
use crate::limits::{check_metrics_of_epochs, check_training, TrainingSizes};
use crate::linalg::{Cancel, Real};

use super::config::{Precision, TrainConfig, TrainSettings};
use super::network::Network;
use super::train::{train, EpochMetrics, TrainObserver, TrainState};
use super::trained::TrainedModel;

/// A trained network with how it was trained.
#[derive(Clone, Debug)]
pub struct FittedModel {
    /// The network, widened to f64 (exact: the training precision's values).
    pub net: Network<f64>,
    /// The input scaling fitted on the training data.
    pub transform: InputTransform,
    /// The configuration, with the record of the arrays trained on
    /// ([`DataRecord::in_memory`]).
    pub config: TrainConfig,
    /// Whether the targets are classes (else real values).
    pub classes: bool,
    /// Epoch 0 (the initial network) to the last.
    pub metrics: Vec<EpochMetrics>,
    /// Inputs that were all zero, so without a direction on the sphere.
    pub zero_inputs: usize,
}

impl FittedModel {
    /// The trained model (classes 0..c-1 for a classifier: see
    /// [`TrainedModel::with_classes`]).
    pub fn model(&self) -> Result<TrainedModel> {
        TrainedModel::new(
            self.net.clone(),
            self.transform.clone(),
            self.config.clone(),
            self.classes,
        )
    }
}

/// Collects every epoch's metrics and asks `cancel` after each step whether to stop.
struct CollectMetrics<'a> {
    metrics: Vec<EpochMetrics>,
    cancel: Cancel<'a>,
}

impl<T: Real> TrainObserver<T> for CollectMetrics<'_> {
    fn on_epoch(&mut self, metrics: &EpochMetrics, _state: &TrainState<T>) -> Result<()> {
        self.metrics.push(metrics.clone());
        Ok(())
    }
    fn keep_going(&mut self, steps_done: u64) -> Result<()> {
        if self.cancel.requested() {
            return Err(Error::Interrupted { steps: steps_done });
        }
        Ok(())
    }
}

/// The sizes that decide what training with `config` on these data allocates.
pub fn training_sizes(
    config: &TrainConfig,
    train_data: &Dataset,
    test_data: &Dataset,
) -> TrainingSizes {
    TrainingSizes {
        train_samples: train_data.len(),
        test_samples: test_data.len(),
        dim: config.dim(),
        width: config.width(),
        outputs: config.outputs(),
        batch_size: config.batch_size(),
        value_bytes: config.precision().value_bytes(),
        optimizer_buffers: config.optimizer().buffers_per_tensor(),
    }
}

/// Data scaled and a configuration resolved for one training run ([`prepare`]).
pub struct Prepared {
    pub transform: InputTransform,
    pub config: TrainConfig,
    /// What the run allocates, already checked against the memory budget.
    pub sizes: TrainingSizes,
    /// Inputs that were all zero, so without a direction on the sphere.
    pub zero_inputs: usize,
}

/// What every training run does first, on raw (unscaled) data: checks that the sets fit
/// together, fits the scaling on the training set and applies it to both (or to the
/// training set alone, where there is no test set), resolves the
/// configuration, refuses scaled inputs that the training precision cannot hold (in f32
/// beyond 3.4e38 they became inf and the loss NaN, reported as a divergence, or a test
/// loss of null; in f64 a standardised test value can overflow too), and refuses a run
/// whose buffers would not fit the memory budget.
pub fn prepare(
    settings: &TrainSettings,
    train_data: &mut Dataset,
    mut test_data: Option<&mut Dataset>,
) -> Result<Prepared> {
    if let Some(test) = test_data.as_deref() {
        check_compatible(train_data, test)?;
    }
    check_trainable(train_data)?;
    let transform = InputTransform::fit_to(settings.scaling, train_data)?;
    let zero_inputs = match test_data.as_deref_mut() {
        Some(test) => {
            crate::data::scaling::apply_to_both(&transform, &mut train_data.x, &mut test.x)
        }
        None => transform.apply(&mut train_data.x),
    };
    let config = settings.resolve(train_data)?;
    for data in std::iter::once(&*train_data).chain(test_data.as_deref()) {
        check_representable(data, config.precision(), transform.scaling)?;
    }
    let mut sizes = training_sizes(&config, train_data, train_data);
    sizes.test_samples = test_data.as_deref().map_or(0, Dataset::len);
    check_training(&sizes)?;
    Ok(Prepared {
        transform,
        config,
        sizes,
        zero_inputs,
    })
}

/// Refuses training data that no step could learn from, before any work: inputs that are
/// all zero (the network's output is 0 whatever W, so every gradient is 0 and training
/// would run to its end unchanged), and real targets whose squared loss overflows f64 (the
/// loss sums 0.5 (y - f)^2 over the training set in f64: at |y| near 1e154 it is
/// infinite before any step, which read as a divergence).
fn check_trainable(data: &Dataset) -> Result<()> {
    if !data.is_empty() && data.x.as_slice().iter().all(|v| *v == 0.0) {
        return Err(Error::data(
            &data.name,
            format!(
                "every training input is zero ({} samples): the network's output is 0 whatever \
                 its weights, so every gradient is 0 and training cannot change anything",
                data.len()
            ),
        ));
    }
    if let Targets::Scalar(y) = &data.targets {
        let largest = y.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if !(0.5 * largest * largest * y.len() as f64).is_finite() {
            return Err(Error::data(
                data.targets_name(),
                format!(
                    "the targets reach {largest:.3e}: the squared loss sums 0.5 y^2 over the {} \
                     training samples, which overflows f64 (largest 1.8e308) before any step; \
                     rescale the targets (divide them by a constant)",
                    y.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses scaled inputs beyond the largest value of the training precision.
fn check_representable(
    data: &Dataset,
    precision: Precision,
    scaling: crate::data::InputScaling,
) -> Result<()> {
    if scaling == crate::data::InputScaling::Sphere {
        // Projected rows have entries of magnitude at most 1 (to a rounding): no scan.
        return Ok(());
    }
    let (limit, name) = match precision {
        Precision::F32 => (f64::from(f32::MAX), "f32"),
        Precision::F64 => (f64::MAX, "f64"),
    };
    if data.x.par_all(|v| v.abs() <= limit) {
        return Ok(());
    }
    let largest = crate::geometry::largest_abs(&data.x);
    Err(Error::data(
        &data.name,
        format!(
            "after {scaling} scaling the inputs reach {largest:.3e}, beyond {name}'s largest \
             value ({limit:.3e}): train in f64 precision, or rescale the inputs"
        ),
    ))
}

/// Trains with `settings` on raw (unscaled) data, with test metrics where there is a test
/// set. `cancel` is asked after every step (Python asks whether Ctrl-C was pressed); it
/// stops training with [`Error::Interrupted`].
pub fn train_in_memory(
    settings: &TrainSettings,
    mut train_data: Dataset,
    mut test_data: Option<Dataset>,
    cancel: Cancel<'_>,
) -> Result<FittedModel> {
    // Of the data as given, before scaling: what a model file records of them.
    let record = DataRecord::in_memory(&train_data, test_data.as_ref());
    let Prepared {
        transform,
        config,
        sizes,
        zero_inputs,
    } = prepare(settings, &mut train_data, test_data.as_mut())?;
    check_metrics_of_epochs(&sizes, config.epochs())?;
    let mut observer = CollectMetrics {
        metrics: Vec::new(),
        cancel,
    };
    let net = match config.precision() {
        Precision::F32 => train(
            &config,
            &train_data,
            test_data.as_ref(),
            TrainState::<f32>::initial(&config),
            &mut observer,
        )?
        .net
        .convert(),
        Precision::F64 => {
            train(
                &config,
                &train_data,
                test_data.as_ref(),
                TrainState::<f64>::initial(&config),
                &mut observer,
            )?
            .net
        }
    };
    Ok(FittedModel {
        net,
        transform,
        config: config.with_data(record),
        classes: matches!(train_data.targets, Targets::Classes { .. }),
        metrics: observer.metrics,
        zero_inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::InputScaling;
    use crate::linalg::Matrix;
    use crate::model::optim::OptimizerKind;

    /// 200 points of R^4, labelled by the sign of the first coordinate (as in the probe).
    fn data(m: usize) -> Dataset {
        let x: Vec<f64> = (0..m * 4)
            .map(|k| ((k * 7919 % 1009) as f64 / 1009.0 - 0.5) * 3.0)
            .collect();
        let labels = (0..m).map(|i| u32::from(x[i * 4] > 0.0)).collect();
        let targets = Targets::Classes {
            labels,
            num_classes: 2,
        };
        Dataset::new("fit test", Matrix::from_vec(m, 4, x), targets).unwrap()
    }

    fn field_of(settings: TrainSettings) -> (&'static str, String) {
        let (train, test) = data(200).split_or_all(0.2, 0).unwrap();
        match train_in_memory(&settings, train, Some(test), Cancel::NEVER) {
            Err(e @ Error::Config { .. }) => (e.settings()[0], e.to_string()),
            Err(e) => panic!("expected a configuration error, got {e}"),
            Ok(f) => panic!("expected a refusal; W = {:?}", &f.net.w.as_slice()[..4]),
        }
    }

    /// SGD at lr = 100 overflows (as `diversenet train` refuses it): refused (the loss turns
    /// infinite, or W turns NaN behind a finite loss), never returned as NaN weights.
    #[test]
    fn diverging_training_is_refused() {
        let settings = TrainSettings {
            width: 16,
            epochs: 10,
            lr: 100.0,
            optimizer: OptimizerKind::Sgd { momentum: 0.9 },
            ..TrainSettings::default()
        };
        let (train, test) = data(200).split_or_all(0.2, 0).unwrap();
        match train_in_memory(&settings, train, Some(test), Cancel::NEVER) {
            Err(Error::Diverged { .. }) => {}
            Err(e @ Error::Config { setting: "lr", .. }) => {
                assert!(e.to_string().contains("training diverged by epoch"), "{e}");
            }
            Err(e) => panic!("expected a divergence, got {e}"),
            Ok(f) => panic!("expected a refusal; W = {:?}", &f.net.w.as_slice()[..4]),
        }
    }

    /// Inputs beyond f32's largest value (3.4e38) after scaling became inf in an f32 run:
    /// the loss was NaN, reported as a divergence (raw training inputs at 1e39), or the
    /// test loss null (a standardised test value at 1e300). Refused naming the data; f64
    /// holds them.
    #[test]
    fn inputs_beyond_the_training_precision_are_refused() {
        let scaled = |m: usize, factor: f64, name: &str| {
            let mut d = data(m);
            d.name = name.into();
            for i in 0..m {
                d.x.row_mut(i)[0] *= factor;
            }
            d
        };
        let raw = TrainSettings {
            width: 4,
            epochs: 1,
            scaling: InputScaling::Raw,
            ..TrainSettings::default()
        };
        let standardise = TrainSettings {
            scaling: InputScaling::Standardise,
            ..raw.clone()
        };
        let cases = [
            (&raw, scaled(100, 1e39, "train"), data(20), "train"),
            (&standardise, data(100), scaled(20, 1e300, "test"), "test"),
        ];
        for (settings, train, test, name) in cases {
            match train_in_memory(settings, train.clone(), Some(test.clone()), Cancel::NEVER) {
                Err(Error::Data {
                    source_name,
                    message,
                }) => {
                    assert_eq!(source_name, name);
                    assert!(
                        message.to_string().contains("beyond f32's largest value"),
                        "{message}"
                    );
                }
                Err(e) => panic!("expected a data error, got {e}"),
                Ok(_) => panic!("{name}: trained on inputs beyond f32"),
            }
            let f64_settings = TrainSettings {
                precision: Precision::F64,
                ..settings.clone()
            };
            assert!(
                train_in_memory(&f64_settings, train, Some(test), Cancel::NEVER).is_ok(),
                "{name}"
            );
        }
    }

    /// 1e39 is beyond f32's largest value (3.4e38): the initial W is inf.
    #[test]
    fn initial_scale_overflowing_f32_is_refused() {
        let (field, msg) = field_of(TrainSettings {
            width: 8,
            epochs: 1,
            init_scale: Some(1e39),
            scaling: InputScaling::Raw,
            ..TrainSettings::default()
        });
        assert_eq!(field, "init_scale");
        assert!(msg.contains("overflows"), "{msg}");
    }

    /// A caller that answers "stop" at its 5th question ends training after 5 steps (of
    /// 10 epochs x 2 steps) with `Interrupted`, never returning a network.
    #[test]
    fn training_stops_when_the_caller_interrupts() {
        let (train, test) = data(200).split_or_all(0.2, 0).unwrap();
        let settings = TrainSettings {
            width: 8,
            epochs: 10,
            batch_size: 80,
            ..TrainSettings::default()
        };
        let asked = std::cell::Cell::new(0);
        let stop_at_fifth = || {
            asked.set(asked.get() + 1);
            asked.get() == 5
        };
        match train_in_memory(&settings, train, Some(test), Cancel::when(&stop_at_fifth)) {
            Err(Error::Interrupted { steps }) => assert_eq!(steps, 5),
            other => panic!("expected an interruption, got {:?}", other.map(|_| ())),
        }
        assert_eq!(asked.get(), 5);
    }

    /// Width 10^12 needs terabytes (4 d n bytes for W alone): refused before allocating.
    #[test]
    fn training_beyond_the_memory_budget_is_refused() {
        let (train, test) = data(60).split_or_all(0.0, 0).unwrap();
        let settings = TrainSettings {
            width: 1_000_000_000_000,
            epochs: 1,
            ..TrainSettings::default()
        };
        match train_in_memory(&settings, train, Some(test), Cancel::NEVER) {
            Err(Error::Memory(refusal)) => {
                assert!(refusal.task.contains("width-1000000000000"), "{refusal:?}");
                assert!(
                    matches!(
                        refusal.advice,
                        Some(crate::error::Advice::Largest {
                            setting: "width",
                            ..
                        })
                    ),
                    "{refusal:?}"
                );
            }
            other => panic!("expected a memory refusal, got {:?}", other.map(|_| ())),
        }
    }

    /// 10^12 epochs would keep 10^12 metrics records (about 2 PB): refused before training,
    /// with the most epochs that fit (nearly the budget's worth of 2 kB records).
    #[test]
    fn epochs_whose_metrics_exceed_the_memory_budget_are_refused() {
        let (train, test) = data(60).split_or_all(0.0, 0).unwrap();
        let settings = TrainSettings {
            width: 4,
            epochs: 1_000_000_000_000,
            ..TrainSettings::default()
        };
        match train_in_memory(&settings, train, Some(test), Cancel::NEVER) {
            Err(Error::Memory(refusal)) => {
                let msg = refusal.render(&crate::error::Neutral);
                assert!(msg.contains("training for 1000000000000 epochs"), "{msg}");
                let Some(crate::error::Advice::AtMost { count, what }) = refusal.advice else {
                    panic!("no epoch advice in: {msg}")
                };
                assert_eq!(what, "epochs");
                let most = count as u64;
                // The budget over 2 kB per epoch, less the small network's buffers.
                let by_budget = crate::limits::memory_budget().bytes / 2048;
                assert!(
                    most < by_budget && most as f64 > 0.99 * by_budget as f64,
                    "{msg}"
                );
            }
            other => panic!("expected a memory refusal, got {:?}", other.map(|_| ())),
        }
    }
}
