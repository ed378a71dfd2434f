//! The data flags shared by `train`, `eval` and `analyze`, and loading a model with the
//! data it is to be measured on.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use diversenet::data::{self, DataSource, LoadOptions, SyntheticConfig, Task};
use diversenet::model::compat::{check_magnitudes, check_model_data};
use diversenet::model::file::{load_model, ModelFile};

#[derive(Args, Clone)]
pub struct DataArgs {
    /// synthetic | mnist | csv:PATH | npy:INPUTS.npy,TARGETS.npy (default: synthetic for
    /// train; for eval and analyze, the data the model was trained on, with its flags, as
    /// stored in the model file).
    #[arg(long)]
    pub data: Option<String>,
    /// Directory holding MNIST's four IDX files (raw or .gz). Default: the cache directory
    /// that `diversenet fetch mnist` fills.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Separate test file for csv/npy data (same format); otherwise --test-fraction is held out.
    #[arg(long)]
    pub test: Option<String>,
    /// Fraction of a csv/npy file held out as test data (seeded split).
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub test_fraction: f64,
    /// CSV target column (default: `label`, `target` or `y`).
    #[arg(long)]
    pub target_column: Option<String>,
    /// auto | classify | regress: how csv/npy targets are read. auto: a csv column named
    /// `label` and npy targets of an integer or bool dtype are classes; other columns and
    /// float dtypes are real values, even whole numbers such as 0.0/1.0 (pass classify to
    /// read those as classes). Synthetic data is always real-valued, MNIST always classes.
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
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
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

    /// The `--data` value (synthetic when not given).
    pub fn spec(&self) -> &str {
        self.data.as_deref().unwrap_or("synthetic")
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
        Ok(self.source(self.spec())?.load(&options, seed)?)
    }
}

/// Loads a model and the split of a data set it is to be measured on, scaled as in
/// training. Without `--data`, the data are those the model was trained on (stored in the
/// model file); the seed defaults to the training run's.
pub fn model_and_data(
    model_path: &Path,
    data: &DataArgs,
    seed: Option<u64>,
    split: &str,
) -> Result<(ModelFile, data::Dataset)> {
    let model = load_model(model_path)?;
    let seed = seed.unwrap_or(model.config.seed);
    let stored = model.config.data.as_ref().and_then(|r| r.spec.as_ref());
    let (train_data, test_data) = match (&data.data, stored) {
        (None, Some(spec)) => spec.load(seed)?,
        _ => data.load(seed)?,
    };
    let mut dataset = match split {
        "test" => test_data,
        "train" => train_data,
        other => bail!("invalid setting `split`: `{other}`: expected test or train"),
    };
    check_model_data(&model, model_path, &dataset)?;
    check_magnitudes(&model.net)?;
    model.transform.apply(&mut dataset.x);
    Ok((model, dataset))
}
