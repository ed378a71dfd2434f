//! Throughput benchmarks that print figures (`diversenet bench train`): training samples
//! per second for MNIST-shaped networks (784 -> n -> 10), to compare side by side with
//! `bench/numpy_train_step.py` on the same machine and thread count.

use crate::data::{Dataset, Targets};
use crate::error::Result;
use crate::linalg::{Matrix, Real};
use crate::model::train::time_training_steps;
use crate::model::{OptimizerKind, Precision, TrainSettings};
use crate::rng::{SeededRng, Stream};

/// One benchmark measurement.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainBenchResult {
    pub width: usize,
    pub dim: usize,
    pub classes: usize,
    pub batch_size: usize,
    pub optimizer: String,
    pub precision: String,
    pub threads: usize,
    pub steps: usize,
    pub repeats: usize,
    /// Seconds of each repeat of `steps` steps.
    pub seconds: Vec<f64>,
    /// From the median repeat.
    pub samples_per_second: f64,
    /// From the fastest repeat.
    pub best_samples_per_second: f64,
    pub ms_per_step: f64,
}

/// Random unit-norm inputs of dimension `dim` with `classes` random labels.
pub fn random_classification(
    samples: usize,
    dim: usize,
    classes: usize,
    seed: u64,
) -> Result<Dataset> {
    let mut rng = SeededRng::new(seed, Stream::Data);
    let mut x = Vec::with_capacity(samples * dim);
    for _ in 0..samples {
        x.extend(rng.unit_vector(dim));
    }
    let labels = (0..samples).map(|_| rng.below(classes) as u32).collect();
    Dataset::new(
        "benchmark data",
        Matrix::from_vec(samples, dim, x),
        Targets::Classes {
            labels,
            num_classes: classes,
        },
    )
}

/// Times minibatch training steps (cross-entropy, trained V) for a `dim -> width -> classes`
/// network.
pub fn bench_train(
    width: usize,
    dim: usize,
    classes: usize,
    batch_size: usize,
    optimizer: OptimizerKind,
    precision: Precision,
    steps: usize,
    repeats: usize,
) -> Result<TrainBenchResult> {
    let batches = 16;
    let data = random_classification(batch_size * batches, dim, classes, 0)?;
    let settings = TrainSettings {
        width,
        batch_size,
        optimizer,
        precision,
        ..TrainSettings::default()
    };
    let cfg = settings.resolve(&data)?;
    let warmup = (steps / 10).max(3);
    let repeats = repeats.max(1);
    let seconds: Vec<f64> = (0..repeats)
        .map(|_| match precision {
            Precision::F32 => time_training_steps::<f32>(&cfg, &data, warmup, steps),
            Precision::F64 => time_training_steps::<f64>(&cfg, &data, warmup, steps),
        })
        .collect();
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[repeats / 2];
    Ok(TrainBenchResult {
        width,
        dim,
        classes,
        batch_size,
        optimizer: optimizer.name().into(),
        precision: match precision {
            Precision::F32 => f32::NAME,
            Precision::F64 => f64::NAME,
        }
        .into(),
        threads: crate::linalg::threads(),
        steps,
        repeats,
        samples_per_second: (steps * batch_size) as f64 / median,
        best_samples_per_second: (steps * batch_size) as f64 / sorted[0],
        ms_per_step: 1e3 * median / steps as f64,
        seconds,
    })
}
