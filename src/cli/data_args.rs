//! The data flags shared by `train`, `eval` and `analyze`, and loading a model with the
//! data it is to be measured on.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use diversenet::data::{
    self, DataSource, InputScaling, InputTransform, LoadOptions, SyntheticConfig, Task,
};
use diversenet::model::compat::{check_magnitudes, check_model_data};
use diversenet::model::foreign::{load_network, load_npy_weights, LoadedNetwork};

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
    /// Fraction of a csv/npy file held out as test data (seeded split); 0: no split,
    /// both splits are every row.
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub test_fraction: f64,
    /// Every row of a csv/npy file, no held-out split (the same as --test-fraction 0).
    #[arg(long, conflicts_with = "test_fraction")]
    pub all_data: bool,
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
            test_fraction: if self.all_data {
                0.0
            } else {
                self.test_fraction
            },
        };
        let spec = self.spec();
        if self.all_data && !(spec.starts_with("csv:") || spec.starts_with("npy:")) {
            bail!(
                "invalid setting `all-data`: `{}` has fixed train and test sets (choose one with --split); \
                 --all-data applies to csv:PATH and npy:X,Y data",
                spec
            );
        }
        Ok(self.source(spec)?.load(&options, seed)?)
    }
}

/// The network measured by `eval` and `analyze`: a model file, or foreign weights.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// A model.safetensors written by `train`, or a safetensors file of another program
    /// holding `W` and `V`, or PyTorch's `0.weight` and `2.weight` (no biases).
    #[arg(long, required_unless_present = "weights", conflicts_with = "weights")]
    pub model: Option<PathBuf>,
    /// Foreign weights as two .npy files: W (n x d) and V (c x n).
    #[arg(long, value_name = "W.npy,V.npy")]
    pub weights: Option<String>,
    /// sphere | standardise | raw: how foreign weights' inputs are scaled (default raw;
    /// standardise uses the training split's statistics). A model written by `train`
    /// uses the scaling stored in it.
    #[arg(long)]
    pub input_scaling: Option<String>,
}

impl ModelArgs {
    pub fn load(&self) -> Result<LoadedNetwork> {
        match (&self.model, &self.weights) {
            (Some(path), _) => Ok(load_network(path)?),
            (None, Some(pair)) => {
                let Some((w, v)) = pair
                    .split_once(',')
                    .filter(|(w, v)| !w.is_empty() && !v.is_empty())
                else {
                    bail!("invalid setting `weights`: `{pair}`: expected W.npy,V.npy");
                };
                Ok(LoadedNetwork::Foreign(load_npy_weights(
                    Path::new(w),
                    Path::new(v),
                )?))
            }
            (None, None) => bail!("give --model PATH or --weights W.npy,V.npy"),
        }
    }

    /// What was loaded, for output.
    pub fn describe(&self) -> String {
        match (&self.model, &self.weights) {
            (Some(path), _) => path.display().to_string(),
            (None, w) => w.clone().unwrap_or_default(),
        }
    }
}

/// A network with the data it is measured on, scaled as the network expects.
pub struct ModelOnData {
    pub loaded: LoadedNetwork,
    pub dataset: data::Dataset,
    /// Seed of the data (synthetic data, csv/npy split) and of sub-samples.
    pub seed: u64,
    pub scaling: InputScaling,
}

impl ModelOnData {
    /// A line saying how foreign weights were used (none for a diversenet model).
    pub fn foreign_note(&self) -> Option<String> {
        match &self.loaded {
            LoadedNetwork::Trained(_) => None,
            LoadedNetwork::Foreign(f) => Some(format!(
                "foreign weights from {} (no diversenet configuration): inputs scaled with --input-scaling {}",
                f.source, self.scaling
            )),
        }
    }
}

/// Loads a network and the split of a data set it is to be measured on, scaled as in
/// training (foreign weights: as --input-scaling says, raw by default). Without `--data`,
/// a model written by `train` is measured on the data it was trained on (stored in the
/// model file). The data's seed defaults to the training run's, 0 for foreign weights.
pub fn model_and_data(
    model: &ModelArgs,
    data: &DataArgs,
    seed: Option<u64>,
    split: &str,
) -> Result<ModelOnData> {
    let loaded = model.load()?;
    let model_name = model.describe();
    let (seed, stored) = match &loaded {
        LoadedNetwork::Trained(m) => (
            seed.unwrap_or(m.config.seed()),
            m.config.data().and_then(|r| r.spec.as_ref()),
        ),
        LoadedNetwork::Foreign(_) => (seed.unwrap_or(0), None),
    };
    let (train_data, test_data) = match (&data.data, stored) {
        (None, Some(spec)) => spec.load(seed)?,
        _ => data.load(seed)?,
    };
    // Scaled as in training: a model file stores its transform; foreign weights take
    // --input-scaling (raw by default), fitted on the training split.
    let transform = match (&loaded, &model.input_scaling) {
        (LoadedNetwork::Trained(m), None) => m.transform.clone(),
        (LoadedNetwork::Trained(m), Some(_)) => bail!(
            "invalid setting `input-scaling`: {model_name} was written by `diversenet train` and stores its input scaling ({}); \
             --input-scaling is for foreign weights",
            m.transform.scaling
        ),
        (LoadedNetwork::Foreign(_), scaling) => {
            let scaling: InputScaling = scaling.as_deref().unwrap_or("raw").parse()?;
            InputTransform::fit(scaling, &train_data.x)
        }
    };
    let mut dataset = match split {
        "test" => test_data,
        "train" => train_data,
        other => bail!("invalid setting `split`: `{other}`: expected test or train"),
    };
    let predicts_classes = match &loaded {
        LoadedNetwork::Trained(m) => Some(m.classes),
        LoadedNetwork::Foreign(_) => None,
    };
    check_model_data(
        loaded.net(),
        predicts_classes,
        Path::new(&model_name),
        &dataset,
    )?;
    check_magnitudes(loaded.net())?;
    transform.apply(&mut dataset.x);
    Ok(ModelOnData {
        loaded,
        dataset,
        seed,
        scaling: transform.scaling,
    })
}
