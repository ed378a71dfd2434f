//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use diversenet::data::{DataSource, Dataset, LoadOptions, SyntheticConfig};
use diversenet::model::train::EpochMetrics;

/// MNIST as CI lays it out: `../shared/data/mnist` beside the repository.
pub fn mnist_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

pub fn small_synthetic(seed: u64) -> (Dataset, Dataset) {
    let cfg = SyntheticConfig {
        dim: 6,
        teacher_width: 3,
        train_samples: 300,
        test_samples: 200,
        noise: 0.0,
    };
    DataSource::Synthetic(cfg)
        .load(&LoadOptions::default(), seed)
        .unwrap()
}

pub fn read_metrics(path: &std::path::Path) -> Vec<EpochMetrics> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Metrics without the wall-clock field, which is the one thing that may differ.
pub fn without_time(m: &[EpochMetrics]) -> Vec<EpochMetrics> {
    m.iter()
        .map(|e| EpochMetrics {
            wall_s: 0.0,
            ..e.clone()
        })
        .collect()
}
