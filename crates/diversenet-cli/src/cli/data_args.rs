//! The data flags shared by `train`, `eval` and `analyze`, and loading a model with the
//! data it is to be measured on.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::spelling::flag as flag_of;
use clap::Args;

use diversenet::data::{
    self, DataSource, InputScaling, InputTransform, LoadOptions, SyntheticConfig, Task,
};
use diversenet::error::{Error, Expected, Message};
use diversenet::model::compat::check_model_data;
use diversenet::model::foreign::{load_network, load_npy_weights, LoadedNetwork};
use diversenet::model::Weights;

#[derive(Args, Clone)]
pub struct DataArgs {
    /// synthetic | mnist | csv:PATH | npy:INPUTS.npy,TARGETS.npy (a comma inside a path is
    /// written \,) (default: synthetic for
    /// train; for eval and analyze, the data the model was trained on, with its flags, as
    /// stored in the model file).
    #[arg(long)]
    pub data: Option<String>,
    /// Directory holding MNIST's four IDX files (raw or .gz). Default: the cache directory
    /// that `diversenet fetch mnist` fills.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Separate test file for csv/npy data: csv:PATH or npy:X.npy,Y.npy; otherwise
    /// --test-fraction is held out.
    #[arg(long)]
    pub test: Option<String>,
    /// For csv/npy data, without --test: the training option of the same name.
    #[arg(long, value_name = "F", help = super::train::help("test_fraction"), allow_negative_numbers = true)]
    pub test_fraction: Option<f64>,
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
    /// Synthetic: input dimension d [default: 10].
    #[arg(long)]
    pub dim: Option<usize>,
    /// Synthetic: teacher units [default: 5].
    #[arg(long)]
    pub teacher_width: Option<usize>,
    /// Synthetic: training samples [default: 1000].
    #[arg(long)]
    pub train_samples: Option<usize>,
    /// Synthetic: test samples [default: 1000].
    #[arg(long)]
    pub test_samples: Option<usize>,
    /// Synthetic: standard deviation of Gaussian label noise [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub noise: Option<f64>,
}

impl DataArgs {
    pub fn source(&self, spec: &str) -> Result<DataSource> {
        let default = SyntheticConfig::default();
        let synthetic = SyntheticConfig {
            dim: self.dim.unwrap_or(default.dim),
            teacher_width: self.teacher_width.unwrap_or(default.teacher_width),
            train_samples: self.train_samples.unwrap_or(default.train_samples),
            test_samples: self.test_samples.unwrap_or(default.test_samples),
            noise: self.noise.unwrap_or(default.noise),
        };
        Ok(DataSource::parse(spec, self.data_dir.clone(), synthetic)?)
    }

    /// The `--data` value (synthetic when not given).
    pub fn spec(&self) -> &str {
        self.data.as_deref().unwrap_or("synthetic")
    }

    /// The data flags given that do not apply to the `--data` value `spec` (`None`: the
    /// data stored in a model file, to which no data flag applies).
    fn inapplicable_flags(&self, spec: Option<&str>) -> Vec<(&'static str, &'static str)> {
        let kind = spec.map(|s| {
            if s == "synthetic" || s == "mnist" {
                s
            } else if s.starts_with("csv:") {
                "csv"
            } else {
                "npy"
            }
        });
        let is = |k: &str| kind == Some(k);
        let file = is("csv") || is("npy");
        let given = [
            (
                "data_dir",
                self.data_dir.is_some(),
                is("mnist"),
                "mnist data",
            ),
            (
                "test",
                self.test.is_some(),
                file,
                "csv:PATH and npy:X,Y data",
            ),
            (
                "test_fraction",
                self.test_fraction.is_some(),
                file && self.test.is_none(),
                "csv:PATH and npy:X,Y data without --test",
            ),
            (
                "all_data",
                self.all_data,
                file && self.test.is_none(),
                "csv:PATH and npy:X,Y data without --test",
            ),
            (
                "target_column",
                self.target_column.is_some(),
                is("csv"),
                "csv:PATH data",
            ),
            ("dim", self.dim.is_some(), is("synthetic"), "synthetic data"),
            (
                "teacher_width",
                self.teacher_width.is_some(),
                is("synthetic"),
                "synthetic data",
            ),
            (
                "train_samples",
                self.train_samples.is_some(),
                is("synthetic"),
                "synthetic data",
            ),
            (
                "test_samples",
                self.test_samples.is_some(),
                is("synthetic"),
                "synthetic data",
            ),
            (
                "noise",
                self.noise.is_some(),
                is("synthetic"),
                "synthetic data",
            ),
        ];
        given
            .into_iter()
            .filter(|(_, given, applies, _)| *given && !applies)
            .map(|(flag, _, _, applies_to)| (flag, applies_to))
            .collect()
    }

    /// Refuses data flags that do not apply to the `--data` value `spec` (`None`: the data
    /// stored in a model file): a flag that would be silently ignored is an error.
    pub fn check_flags(&self, spec: Option<&str>) -> Result<()> {
        if let Some(&(flag, applies_to)) = self.inapplicable_flags(spec).first() {
            let data = match spec {
                Some(s) => format!("{} {s}", flag_of("data")),
                None => format!("the data stored in the model file (no {})", flag_of("data")),
            };
            return Err(Error::no_effect(
                flag,
                format!("it applies to {applies_to} only, not to {data}"),
            )
            .into());
        }
        Ok(())
    }

    pub fn load(&self, seed: u64) -> Result<(data::Dataset, data::Dataset)> {
        let task: Task = self.task.parse()?;
        let spec = self.spec();
        self.check_flags(Some(spec))?;
        let test = match self.test.as_deref() {
            Some(t) if t.starts_with("csv:") || t.starts_with("npy:") => Some(self.source(t)?),
            Some(t) => {
                return Err(Error::setting(
                    "test",
                    t,
                    Expected::OneOf("csv:PATH or npy:X.npy,Y.npy"),
                )
                .into())
            }
            None => None,
        };
        let options = LoadOptions {
            target_column: self.target_column.clone(),
            task,
            test,
            test_fraction: if self.all_data {
                0.0
            } else {
                self.test_fraction.unwrap_or_else(|| {
                    super::train::default("test_fraction")
                        .parse()
                        .expect("a number")
                })
            },
        };
        Ok(self.source(spec)?.load(&options, seed)?)
    }
}

/// The network measured by `eval` and `analyze`: a model file, or foreign weights.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// A model.safetensors written by `train`, or a safetensors file of another program
    /// holding `W` and `V`, or PyTorch's `0.weight` and `2.weight` (no biases); for
    /// `analyze`, also any ReLU MLP: a PyTorch nn.Sequential of Linear and ReLU saved with
    /// safetensors (`0.weight`, `0.bias`, `2.weight`, ...) or a .npz of W1, b1, W2, ...
    #[arg(long, required_unless_present = "weights", conflicts_with = "weights")]
    pub model: Option<PathBuf>,
    /// Foreign weights as two .npy files: W (n x d) and V (c x n) (a comma inside a path is
    /// written \,).
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
                let (w, v) = data::source::path_pair(pair).map_err(|why| {
                    Error::config("weights", format!("expected W.npy,V.npy; {why}"))
                })?;
                Ok(LoadedNetwork::Foreign(load_npy_weights(
                    Path::new(&w),
                    Path::new(&v),
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
    /// The network, checked for measurement.
    pub weights: Weights,
    pub loaded: LoadedNetwork,
    pub dataset: data::Dataset,
    /// Seed of the data (synthetic data, csv/npy split) and of sub-samples.
    pub seed: u64,
    pub scaling: InputScaling,
    /// The split measured: `train`, `test`, or `all` when both are every row (no held-out
    /// split: `--all-data`, or a model trained that way).
    pub split: String,
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

/// The refusal of a network without a record of its data (foreign weights, a model saved
/// from Python, a model file from before data were recorded) when no `--data` is given:
/// measuring it on the default synthetic data would answer a question nobody asked.
fn no_data_record(loaded: &LoadedNetwork, model_name: &str) -> Error {
    let what = match loaded {
        LoadedNetwork::Trained(_) => {
            "records no data it was trained on (a model saved from \
                                      Python, or one whose data record was removed)"
        }
        LoadedNetwork::Foreign(_) => "is foreign weights, which record no data",
    };
    Error::needed(
        "data",
        Message::from(format!("{model_name} {what}: pass "))
            .setting("data")
            .text(
                " with the data to measure it on (synthetic, mnist, csv:PATH or npy:X.npy,Y.npy)",
            ),
    )
}

/// Split `split` (train or test) of a loaded pair, with its name for reports: `all` where
/// both sides hold every row (`--all-data`).
pub fn choose_split(
    train: data::Dataset,
    test: data::Dataset,
    split: &str,
) -> Result<(data::Dataset, String)> {
    let same_rows = train.x == test.x && train.targets == test.targets;
    let chosen = match split {
        "test" => test,
        "train" => train,
        other => {
            return Err(Error::setting("split", other, Expected::OneOf("test or train")).into())
        }
    };
    Ok((chosen, if same_rows { "all" } else { split }.to_string()))
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
    let (seed, record) = match &loaded {
        LoadedNetwork::Trained(m) => (seed.unwrap_or(m.config().seed()), m.config().data()),
        LoadedNetwork::Foreign(_) => (seed.unwrap_or(0), None),
    };
    let stored = record.and_then(|r| r.spec.as_ref());
    // Without --data, the recorded data, checked against their recorded SHA-256s (arrays
    // trained on in memory are refused, naming --data: no file holds them).
    let reloaded = match (&data.data, record, &loaded) {
        (None, Some(record), LoadedNetwork::Trained(m)) => {
            let pair = record.load_again(m.config().seed(), seed)?;
            if pair.is_some() {
                data.check_flags(None)?;
            }
            pair
        }
        _ => None,
    };
    let (train_data, test_data) = match reloaded {
        Some(pair) => pair,
        None if data.data.is_none() => return Err(no_data_record(&loaded, &model_name).into()),
        None => data.load(seed)?,
    };
    // Scaled as in training: a model file stores its transform; foreign weights take
    // --input-scaling (raw by default), fitted on the training split.
    let transform = match (&loaded, &model.input_scaling) {
        (LoadedNetwork::Trained(m), None) => m.transform().clone(),
        (LoadedNetwork::Trained(m), Some(_)) => {
            return Err(Error::no_effect(
                "input_scaling",
                format!(
                    "{model_name} was written by `diversenet train` and stores its input \
                     scaling ({}); {} is for foreign weights",
                    m.transform().scaling,
                    flag_of("input_scaling")
                ),
            )
            .into())
        }
        (LoadedNetwork::Foreign(_), scaling) => {
            let scaling: InputScaling = scaling.as_deref().unwrap_or("raw").parse()?;
            InputTransform::fit_checked(
                scaling,
                &train_data.x,
                &train_data.name,
                train_data.feature_names.as_deref(),
            )?
        }
    };
    if let Some(names) = record.and_then(|r| r.feature_names.as_ref()) {
        let trained_on = stored.map_or(model_name.clone(), |spec| match &spec.source {
            DataSource::Csv { path } => path.display().to_string(),
            _ => model_name.clone(),
        });
        data::check_feature_names(names, &trained_on, &train_data)?;
    }
    let (mut dataset, split) = choose_split(train_data, test_data, split)?;
    if let LoadedNetwork::Trained(m) = &loaded {
        m.index_labels(&mut dataset)?;
    }
    let predicts_classes = match &loaded {
        LoadedNetwork::Trained(m) => Some(m.classes()),
        LoadedNetwork::Foreign(_) => None,
    };
    check_model_data(
        loaded.net(),
        predicts_classes,
        Path::new(&model_name),
        &dataset,
    )?;
    let weights = Weights::of(loaded.net().clone(), &model_name)?;
    transform.apply(&mut dataset.x);
    Ok(ModelOnData {
        weights,
        loaded,
        dataset,
        seed,
        scaling: transform.scaling,
        split,
    })
}
