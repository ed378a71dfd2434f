//! The data flags shared by `train`, `eval` and `analyze`, and loading a model with the
//! data it is to be measured on.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use diversenet::data::{self, DataSource, LoadOptions, SyntheticConfig, Task};
use diversenet::model::file::{load_model, ModelFile};

#[derive(Args, Clone)]
pub struct DataArgs {
    /// synthetic | mnist | csv:PATH | npy:INPUTS.npy,TARGETS.npy
    #[arg(long, default_value = "synthetic")]
    pub data: String,
    /// Directory holding MNIST's four IDX files (raw or .gz). Default: the cache directory
    /// that `diversenet fetch mnist` fills.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Separate test file for csv/npy data (same format); otherwise --test-fraction is held out.
    #[arg(long)]
    pub test: Option<String>,
    /// Fraction of a csv/npy file held out as test data (seeded split).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// CSV target column (default: `label`, `target` or `y`).
    #[arg(long)]
    pub target_column: Option<String>,
    /// auto | classify | regress: how csv/npy targets are read.
    #[arg(long, default_value = "auto")]
    pub task: String,
    /// Synthetic: input dimension d.
    #[arg(long, default_value_t = 10)]
    pub dim: usize,
    /// Synthetic: teacher units.
    #[arg(long, default_value_t = 5)]
    pub teacher_width: usize,
    /// Synthetic: training samples.
    #[arg(long, default_value_t = 1000)]
    pub train_samples: usize,
    /// Synthetic: test samples.
    #[arg(long, default_value_t = 1000)]
    pub test_samples: usize,
    /// Synthetic: standard deviation of Gaussian label noise.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
}

impl DataArgs {
    pub fn source(&self, spec: &str) -> Result<DataSource> {
        let synthetic = SyntheticConfig {
            dim: self.dim,
            teacher_width: self.teacher_width,
            train_samples: self.train_samples,
            test_samples: self.test_samples,
            noise: self.noise,
        };
        Ok(DataSource::parse(spec, self.data_dir.clone(), synthetic)?)
    }

    pub fn load(&self, seed: u64) -> Result<(data::Dataset, data::Dataset)> {
        let task = match self.task.as_str() {
            "auto" => Task::Auto,
            "classify" => Task::Classify,
            "regress" => Task::Regress,
            other => bail!("invalid setting `task`: `{other}`: expected auto, classify or regress"),
        };
        let options = LoadOptions {
            target_column: self.target_column.clone(),
            task,
            test: self.test.as_deref().map(|t| self.source(t)).transpose()?,
            test_fraction: self.test_fraction,
        };
        Ok(self.source(&self.data)?.load(&options, seed)?)
    }
}

/// Loads a model and the split of a data set it is to be measured on, scaled as in
/// training. The data's seed defaults to the training run's (stored in the model file).
pub fn model_and_data(
    model_path: &Path,
    data: &DataArgs,
    seed: Option<u64>,
    split: &str,
) -> Result<(ModelFile, data::Dataset)> {
    let model = load_model(model_path)?;
    let (train_data, test_data) = data.load(seed.unwrap_or(model.config.seed()))?;
    let mut dataset = match split {
        "test" => test_data,
        "train" => train_data,
        other => bail!("invalid setting `split`: `{other}`: expected test or train"),
    };
    if dataset.dim() != model.net.dim() {
        bail!(
            "{}: the model takes {} inputs but {} has {} features per sample",
            model_path.display(),
            model.net.dim(),
            dataset.name,
            dataset.dim()
        );
    }
    if model.classes != matches!(dataset.targets, data::Targets::Classes { .. }) {
        bail!(
            "{}: the model predicts {} but {} has {}",
            model_path.display(),
            if model.classes {
                "classes"
            } else {
                "real values"
            },
            dataset.name,
            if model.classes {
                "real-valued targets"
            } else {
                "class labels"
            }
        );
    }
    if let data::Targets::Classes { num_classes, .. } = dataset.targets {
        if num_classes > model.net.outputs() {
            bail!(
                "{}: the model has {} outputs but {} has labels up to {}",
                model_path.display(),
                model.net.outputs(),
                dataset.name,
                num_classes - 1
            );
        }
    }
    model.transform.apply(&mut dataset.x);
    Ok((model, dataset))
}
