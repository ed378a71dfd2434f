//! Where a data set comes from ([`DataSource`]: synthetic, MNIST, CSV, `.npy`), the options
//! it is loaded with, and the record of it ([`DataRecord`]) that a run stores so that
//! `--resume` can check it trains on the same data.

use std::path::PathBuf;

use crate::error::{Error, Expected, Message, Result};

use super::{check_compatible, csv, mnist, npy, Dataset, SyntheticConfig};

/// Where the data for a run comes from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// Teacher-student data on the unit sphere.
    Synthetic(SyntheticConfig),
    /// MNIST's four IDX files in a directory.
    Mnist { dir: PathBuf },
    /// A CSV file with a header row.
    Csv { path: PathBuf },
    /// A pair of `.npy` files: inputs (m x d) and targets (m).
    Npy { x: PathBuf, y: PathBuf },
}

/// How a CSV or NPY target column is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Integer targets become classes, others scalars (CSV: a column named `label` is classes).
    #[default]
    Auto,
    Classify,
    Regress,
}

impl std::str::FromStr for Task {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Task::Auto),
            "classify" => Ok(Task::Classify),
            "regress" => Ok(Task::Regress),
            other => Err(Error::setting(
                "task",
                other,
                Expected::OneOf("auto, classify or regress"),
            )),
        }
    }
}

/// Options for loading user files.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadOptions {
    /// CSV target column; `None` looks for `label`, then `target`, then `y`.
    pub target_column: Option<String>,
    pub task: Task,
    /// A separate test file (same format); otherwise a seeded split.
    pub test: Option<DataSource>,
    /// Fraction held out as test data when there is no test file; 0: none, both sets are
    /// every row.
    pub test_fraction: f64,
}

/// A data source with its loading options: enough to load the same data again.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub source: DataSource,
    pub options: LoadOptions,
}

/// The data a run was trained on, stored in its configuration: how to load it again (or,
/// for arrays given in memory, their shapes) and the SHA-256 of the training and test data
/// ([`Dataset::fingerprint`]), checked on resume.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<DataSpec>,
    pub train_sha256: String,
    /// Empty where the model was trained without a test set (arrays in memory).
    pub test_sha256: String,
    /// The training file's input column names (CSV), checked against data measured later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_names: Option<Vec<String>>,
    /// Arrays given in memory (Python's `train`), which no file loads again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrays: Option<InMemoryArrays>,
}

/// The shapes of the arrays a model was trained on in memory.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InMemoryArrays {
    /// The training inputs, (m, d).
    pub train: [usize; 2],
    /// The test inputs, where a test set was given or held out.
    pub test: Option<[usize; 2]>,
}

impl LoadOptions {
    /// Checks the options against the source they load, for every source (the fraction is
    /// stored in the run's configuration, which must load again): the test fraction lies in
    /// [0, 1), a target column names a CSV column, a separate test set goes with csv/npy data.
    pub fn check(&self, source: &DataSource) -> Result<()> {
        if !(self.test_fraction >= 0.0 && self.test_fraction < 1.0) {
            return Err(Error::Config {
                setting: "test_fraction",
                value: Some(self.test_fraction.to_string()),
                expected: Expected::Described(
                    format!(
                        "{} is not in [0, 1) (0: no held-out split)",
                        self.test_fraction
                    )
                    .into(),
                ),
            });
        }
        let is_file = matches!(source, DataSource::Csv { .. } | DataSource::Npy { .. });
        if self.target_column.is_some() && !matches!(source, DataSource::Csv { .. }) {
            return Err(Error::config(
                "target_column",
                "a target column applies to csv:PATH data only",
            ));
        }
        if self.test.is_some() && !is_file {
            return Err(Error::config(
                "test",
                "a separate test set applies to csv:PATH and npy:X,Y data only",
            ));
        }
        Ok(())
    }
}

impl DataSpec {
    /// Loads (train, test) as [`DataSource::load`] does.
    pub fn load(&self, seed: u64) -> Result<(Dataset, Dataset)> {
        self.source.load(&self.options, seed)
    }
}

impl DataRecord {
    /// The record of a (train, test) pair, as loaded (before scaling).
    pub fn of(train: &Dataset, test: &Dataset) -> Self {
        Self {
            spec: train.spec.clone(),
            train_sha256: train.fingerprint(),
            test_sha256: test.fingerprint(),
            feature_names: train.feature_names.clone(),
            arrays: None,
        }
    }

    /// The record of arrays given in memory: their shapes and SHA-256s.
    pub fn in_memory(train: &Dataset, test: Option<&Dataset>) -> Self {
        let shape = |d: &Dataset| [d.len(), d.dim()];
        Self {
            spec: None,
            train_sha256: train.fingerprint(),
            test_sha256: test.map(Dataset::fingerprint).unwrap_or_default(),
            feature_names: None,
            arrays: Some(InMemoryArrays {
                train: shape(train),
                test: test.map(shape),
            }),
        }
    }

    /// What the data were, for messages: their files, or the arrays' shapes and SHA-256s.
    pub fn describe(&self) -> String {
        match (&self.spec, &self.arrays) {
            (Some(spec), _) => spec.describe(),
            (None, Some(arrays)) => {
                let test = match arrays.test {
                    Some([m, d]) => format!("{m} x {d}, SHA-256 {}", short(&self.test_sha256)),
                    None => "none".into(),
                };
                format!(
                    "in-memory arrays (training inputs {} x {}, SHA-256 {}; test set: {test})",
                    arrays.train[0],
                    arrays.train[1],
                    short(&self.train_sha256)
                )
            }
            (None, None) => format!("data of SHA-256 {}", short(&self.train_sha256)),
        }
    }
}

impl DataRecord {
    /// The first of the training and test sets whose SHA-256 differs between this record
    /// (made when the run was trained) and `now`: ("training" or "test", then, now).
    pub fn first_difference<'a>(
        &'a self,
        now: &'a DataRecord,
    ) -> Option<(&'static str, &'a str, &'a str)> {
        [
            ("training", &self.train_sha256, &now.train_sha256),
            ("test", &self.test_sha256, &now.test_sha256),
        ]
        .into_iter()
        .find(|(_, then, now)| then != now)
        .map(|(which, then, now)| (which, then.as_str(), now.as_str()))
    }

    /// Loads the recorded data again (`None` where the record holds no [`DataSpec`]) with
    /// `seed`, refusing data that are no longer those the run was trained on: the data
    /// loaded with the run's own seed `trained_seed` must have the recorded SHA-256s (a
    /// file changed after training is an error naming it, not a silent other answer).
    /// Arrays given in memory are refused: no file holds them, so the data to measure on
    /// must be given.
    pub fn load_again(&self, trained_seed: u64, seed: u64) -> Result<Option<(Dataset, Dataset)>> {
        let Some(spec) = &self.spec else {
            if self.arrays.is_some() {
                return Err(Error::needed(
                    "data",
                    Message::from(format!(
                        "the model was trained on {}, which no file holds, so they cannot be \
                         loaded again: name the data to measure it on",
                        self.describe()
                    )),
                ));
            }
            return Ok(None);
        };
        let (train, test) = spec.load(seed)?;
        let now = if seed == trained_seed {
            DataRecord::of(&train, &test)
        } else {
            let (train, test) = spec.load(trained_seed)?;
            DataRecord::of(&train, &test)
        };
        if let Some((which, then, now)) = self.first_difference(&now) {
            return Err(Error::data(
                spec.describe(),
                Message::from(format!(
                    "the {which} data differ from those the model was trained on (SHA-256 {} \
                     now, {} then): the data changed after training; train the model again on \
                     them, or pass the data explicitly (",
                    short(now),
                    short(then)
                ))
                .setting("data")
                .text(") to measure it on other data"),
            ));
        }
        Ok(Some((train, test)))
    }
}

/// The first 12 hex digits of a SHA-256, enough to tell two apart in a message.
pub fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

impl DataSpec {
    /// The files (or the kind of data) this spec loads, for messages.
    pub fn describe(&self) -> String {
        let files = |s: &DataSource| match s {
            DataSource::Synthetic(_) => "synthetic data".to_string(),
            DataSource::Mnist { dir } => dir.display().to_string(),
            DataSource::Csv { path } => path.display().to_string(),
            DataSource::Npy { x, y } => format!("{}, {}", x.display(), y.display()),
        };
        match &self.options.test {
            Some(test) => format!("{} (test: {})", files(&self.source), files(test)),
            None => files(&self.source),
        }
    }
}

/// Two paths separated by one comma (`X.npy,Y.npy`); a comma inside a path is written
/// `\,` (any other backslash is kept). What is wrong, in words, otherwise.
pub fn path_pair(text: &str) -> std::result::Result<(String, String), String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                parts.last_mut().expect("one part").push(',');
                chars.next();
            }
            ',' => parts.push(String::new()),
            c => parts.last_mut().expect("one part").push(c),
        }
    }
    let escape = "write a comma inside a path as \\,";
    match <[String; 2]>::try_from(parts) {
        Ok([x, y]) if !x.is_empty() && !y.is_empty() => Ok((x, y)),
        Ok(_) => Err(format!("both paths are needed ({escape})")),
        Err(parts) => Err(format!(
            "`{text}` holds {} unescaped commas, not one between the two paths ({escape})",
            parts.len() - 1
        )),
    }
}

impl DataSource {
    /// Parses `synthetic`, `mnist`, `csv:PATH` or `npy:X.npy,Y.npy` ([`path_pair`]: `\,` is
    /// a comma inside a path); `data_dir` is MNIST's directory.
    pub fn parse(
        spec: &str,
        data_dir: Option<PathBuf>,
        synthetic: SyntheticConfig,
    ) -> Result<Self> {
        let bad = |msg: &str| Error::config("data", format!("`{spec}`: {msg}"));
        match spec {
            "synthetic" => Ok(DataSource::Synthetic(synthetic)),
            "mnist" => Ok(DataSource::Mnist {
                dir: data_dir.unwrap_or_else(mnist::default_dir),
            }),
            _ => {
                if let Some(p) = spec.strip_prefix("csv:") {
                    if p.is_empty() {
                        return Err(bad("expected csv:PATH"));
                    }
                    Ok(DataSource::Csv { path: p.into() })
                } else if let Some(p) = spec.strip_prefix("npy:") {
                    let (x, y) = path_pair(p).map_err(|why| {
                        bad(&format!("expected npy:INPUTS.npy,TARGETS.npy; {why}"))
                    })?;
                    Ok(DataSource::Npy {
                        x: x.into(),
                        y: y.into(),
                    })
                } else {
                    Err(bad(
                        "expected synthetic, mnist, csv:PATH or npy:X.npy,Y.npy",
                    ))
                }
            }
        }
    }

    /// Loads (train, test) data. Synthetic data draws from `seed`; user files without a
    /// test file are split with `seed`.
    pub fn load(&self, options: &LoadOptions, seed: u64) -> Result<(Dataset, Dataset)> {
        let spec = DataSpec {
            source: self.absolute(),
            options: LoadOptions {
                test: options.test.as_ref().map(DataSource::absolute),
                ..options.clone()
            },
        };
        // Recorded in the run's configuration: text, checked before the data are read.
        spec.source.check_recordable("data")?;
        if let Some(test) = &spec.options.test {
            test.check_recordable("test")?;
        }
        let (mut train, mut test) = self.load_unrecorded(options, seed)?;
        train.spec = Some(spec.clone());
        test.spec = Some(spec);
        Ok((train, test))
    }

    /// Refuses paths that could not be recorded as text ([`crate::files::recordable_path`]),
    /// naming `setting` (`data_dir` for MNIST's directory).
    fn check_recordable(&self, setting: &'static str) -> Result<()> {
        use crate::files::recordable_path;
        match self {
            DataSource::Synthetic(_) => Ok(()),
            DataSource::Mnist { dir } => recordable_path(dir, "data_dir").map(drop),
            DataSource::Csv { path } => recordable_path(path, setting).map(drop),
            DataSource::Npy { x, y } => {
                recordable_path(x, setting)?;
                recordable_path(y, setting).map(drop)
            }
        }
    }

    /// The same source with absolute paths (so that it can be found from another directory).
    pub fn absolute(&self) -> DataSource {
        let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        match self {
            DataSource::Synthetic(c) => DataSource::Synthetic(c.clone()),
            DataSource::Mnist { dir } => DataSource::Mnist { dir: abs(dir) },
            DataSource::Csv { path } => DataSource::Csv { path: abs(path) },
            DataSource::Npy { x, y } => DataSource::Npy {
                x: abs(x),
                y: abs(y),
            },
        }
    }

    fn load_unrecorded(&self, options: &LoadOptions, seed: u64) -> Result<(Dataset, Dataset)> {
        options.check(self)?;
        let fixed_kind = match self {
            DataSource::Synthetic(_) => Some(("synthetic data", Task::Classify, "real-valued")),
            DataSource::Mnist { .. } => Some(("MNIST", Task::Regress, "class labels 0..9")),
            _ => None,
        };
        if let Some((what, refused, has)) = fixed_kind {
            if options.task == refused {
                return Err(Error::config(
                    "task",
                    Message::from(format!("{what} has {has} targets; "))
                        .setting("task")
                        .text(
                            " chooses how csv/npy targets are read and cannot change them \
                             (leave it at auto)",
                        ),
                ));
            }
        }
        match self {
            DataSource::Synthetic(cfg) => cfg.generate(seed),
            DataSource::Mnist { dir } => mnist::load(dir),
            DataSource::Csv { .. } | DataSource::Npy { .. } => {
                let train = self.load_file(options)?;
                match &options.test {
                    Some(test_source) => {
                        let test = test_source.load_file(options)?;
                        check_compatible(&train, &test)?;
                        Ok((train, test))
                    }
                    None => train.split_or_all(options.test_fraction, seed),
                }
            }
        }
    }

    fn load_file(&self, options: &LoadOptions) -> Result<Dataset> {
        match self {
            DataSource::Csv { path } => {
                csv::load(path, options.target_column.as_deref(), options.task)
            }
            DataSource::Npy { x, y } => npy::load_pair(x, y, options.task),
            _ => Err(Error::config(
                "test",
                "a separate test set must be a csv:PATH or npy:X,Y file",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Targets;
    use crate::linalg::Matrix;

    /// A model trained on arrays in memory records their shapes and SHA-256s, and asking
    /// for its data again is refused naming the data setting (never synthetic data).
    #[test]
    fn arrays_in_memory_are_recorded_and_never_loaded_again() {
        let x = Matrix::from_vec(3, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let train = Dataset::new("X", x, Targets::Scalar(vec![0.0, 1.0, 2.0])).unwrap();
        let record = DataRecord::in_memory(&train, None);
        assert_eq!(record.train_sha256, train.fingerprint());
        assert_eq!(record.test_sha256, "");
        assert_eq!(
            record.arrays,
            Some(InMemoryArrays {
                train: [3, 2],
                test: None
            })
        );
        assert!(record
            .describe()
            .starts_with("in-memory arrays (training inputs 3 x 2"));
        let e = record.load_again(0, 0).unwrap_err();
        assert_eq!(e.settings(), vec!["data"], "{e}");
        assert!(e.to_string().contains("no file holds"), "{e}");
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<DataRecord>(&json).unwrap(), record);
    }
}
