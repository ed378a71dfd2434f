//! Data sources: the in-memory [`Dataset`], its loaders (synthetic teacher-student data,
//! MNIST's IDX files, CSV, NumPy `.npy`), input scaling, the MNIST download, in [`source`]
//! where a data set comes from and the record of it a run keeps, and inputs given as arrays,
//! checked once: [`Points`] to measure on, [`TargetArray`] (the one parser of targets).

pub mod csv;
pub mod fetch;
pub mod idx;
pub mod inputs;
pub mod labels;
pub mod mnist;
pub mod npy;
pub mod points;
pub mod scaling;
pub mod source;
pub mod synthetic;
pub mod targets;

use crate::error::{Error, Expected, Result};
use crate::linalg::Matrix;
use crate::rng::{SeededRng, Stream};

pub use labels::{ClassLabels, LabelValues};
pub use points::Points;
pub use scaling::{InputScaling, InputTransform};
pub use source::{DataRecord, DataSource, DataSpec, LoadOptions, Task};
pub use synthetic::SyntheticConfig;
pub use targets::{target_matrix, TargetArray};

/// What a model predicts for each sample.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One real target per sample (regression; the theory's setting).
    Scalar(Vec<f64>),
    /// A class index in `0..num_classes` per sample.
    Classes {
        labels: Vec<u32>,
        num_classes: usize,
    },
}

impl Targets {
    pub fn len(&self) -> usize {
        match self {
            Targets::Scalar(y) => y.len(),
            Targets::Classes { labels, .. } => labels.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of network outputs: 1 for scalar targets, the class count otherwise.
    pub fn outputs(&self) -> usize {
        match self {
            Targets::Scalar(_) => 1,
            Targets::Classes { num_classes, .. } => *num_classes,
        }
    }
    /// The targets of the samples `indices`.
    pub fn select(&self, indices: &[usize]) -> Targets {
        match self {
            Targets::Scalar(y) => Targets::Scalar(indices.iter().map(|&i| y[i]).collect()),
            Targets::Classes {
                labels,
                num_classes,
            } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                num_classes: *num_classes,
            },
        }
    }
}

/// Samples as rows of `x` (m x d) with their targets.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Where the data came from (named in error messages).
    pub name: String,
    pub x: Matrix<f64>,
    pub targets: Targets,
    /// How to load it again (set by [`DataSource::load`]; stored with a trained model so
    /// that `eval` and `analyze` default to the same data).
    pub spec: Option<DataSpec>,
    /// The input columns' names in order (CSV header without the target), where the file
    /// names them; train and test files must agree.
    pub feature_names: Option<Vec<String>>,
    /// Where a selection of the data as loaded (a split) took each sample from: its row
    /// there, counted from 0 ([`Dataset::source_row`]); `None` where the samples are those
    /// rows in order.
    pub source_rows: Option<Vec<usize>>,
}

impl Dataset {
    /// Checks shapes and values: as many targets as rows, at least one sample, every value
    /// finite, every label below the class count.
    pub fn new(name: impl Into<String>, x: Matrix<f64>, targets: Targets) -> Result<Self> {
        Self::checked(name.into(), x, targets, true)
    }

    /// [`Dataset::new`] for inputs finite by construction (MNIST's pixels p / 255), which
    /// skips the scan for non-finite values (a pass over every input).
    pub(crate) fn with_finite_inputs(
        name: impl Into<String>,
        x: Matrix<f64>,
        targets: Targets,
    ) -> Result<Self> {
        Self::checked(name.into(), x, targets, false)
    }

    fn checked(name: String, x: Matrix<f64>, targets: Targets, scan_inputs: bool) -> Result<Self> {
        if x.rows() != targets.len() {
            return Err(Error::data(
                &name,
                format!(
                    "{} samples but {} targets: inputs and targets must have the same count",
                    x.rows(),
                    targets.len()
                ),
            ));
        }
        if x.rows() == 0 {
            return Err(Error::data(&name, "no samples"));
        }
        if x.cols() == 0 {
            return Err(Error::data(&name, "samples have no features (dimension 0)"));
        }
        if scan_inputs {
            check_finite(&x, "input", &name)?;
        }
        match &targets {
            Targets::Scalar(y) => check_finite_targets(y, 1, &name)?,
            Targets::Classes {
                labels,
                num_classes,
            } => {
                if *num_classes < 1 {
                    return Err(Error::data(&name, "class count is 0"));
                }
                if let Some(i) = labels.iter().position(|&l| l as usize >= *num_classes) {
                    return Err(Error::data(
                        &name,
                        format!(
                            "label {} at sample {i} is out of range: expected 0..{}",
                            labels[i], num_classes
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            name,
            x,
            targets,
            spec: None,
            feature_names: None,
            source_rows: None,
        })
    }

    /// The row of the data as loaded (the file, counted from 0) that sample `i` is.
    pub fn source_row(&self, i: usize) -> usize {
        self.source_rows.as_ref().map_or(i, |rows| rows[i])
    }

    pub fn len(&self) -> usize {
        self.x.rows()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn dim(&self) -> usize {
        self.x.cols()
    }

    /// A SHA-256 tree hash of the inputs (f64, little-endian) and targets: equal for equal
    /// data. The inputs are hashed in blocks of [`FINGERPRINT_BLOCK_ROWS`] rows, in
    /// parallel, and the result is the SHA-256 of the shape, the blocks' digests in order
    /// and the targets (independent of the thread count).
    pub fn fingerprint(&self) -> String {
        use rayon::prelude::*;
        use sha2::{Digest, Sha256};
        let d = self.dim();
        let blocks: Vec<_> = self
            .x
            .as_slice()
            .par_chunks((FINGERPRINT_BLOCK_ROWS * d).max(1))
            .map(|rows| {
                let mut h = Sha256::new();
                h.update(le_bytes(rows).as_ref());
                h.finalize()
            })
            .collect();
        let mut h = Sha256::new();
        h.update((self.x.rows() as u64).to_le_bytes());
        h.update((self.x.cols() as u64).to_le_bytes());
        blocks.iter().for_each(|b| h.update(b));
        match &self.targets {
            Targets::Scalar(y) => {
                h.update(b"scalar");
                h.update(le_bytes(y).as_ref());
            }
            Targets::Classes {
                labels,
                num_classes,
            } => {
                h.update(b"classes");
                h.update((*num_classes as u64).to_le_bytes());
                let bytes: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
                h.update(&bytes);
            }
        }
        crate::files::hex(&h.finalize())
    }

    /// Where the targets came from, for errors about them: the targets file of an
    /// `npy:X,Y` pair (with the rest of `name`, such as the split), else `name`.
    pub fn targets_name(&self) -> String {
        if let Some(DataSpec {
            source: DataSource::Npy { x, y },
            ..
        }) = &self.spec
        {
            if let Some(rest) = self.name.strip_prefix(&*x.display().to_string()) {
                return format!("{}{rest}", y.display());
            }
        }
        self.name.clone()
    }

    /// The samples `indices`, in that order.
    pub fn select(&self, indices: &[usize], name: impl Into<String>) -> Dataset {
        let mut x = Matrix::zeros(0, self.dim());
        x.gather_rows(&self.x, indices);
        Dataset {
            name: name.into(),
            x,
            targets: self.targets.select(indices),
            spec: self.spec.clone(),
            feature_names: self.feature_names.clone(),
            source_rows: Some(indices.iter().map(|&i| self.source_row(i)).collect()),
        }
    }

    /// [`Dataset::split`], or for `test_fraction` = 0 every row on both sides.
    pub fn split_or_all(&self, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if test_fraction == 0.0 {
            let all = self.select(
                &(0..self.len()).collect::<Vec<_>>(),
                format!("{} (all rows, no held-out split)", self.name),
            );
            return Ok((all.clone(), all));
        }
        self.split(test_fraction, seed)
    }

    /// A seeded random split into (train, test) with `test_fraction` of the samples in test.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let (train, test) = self.split_indices(test_fraction, seed)?;
        Ok((
            self.select(&train, format!("{} (train split)", self.name)),
            self.select(&test, format!("{} (test split)", self.name)),
        ))
    }

    /// The rows of [`Dataset::split`]'s (train, test) sets, in the order they take them.
    pub fn split_indices(&self, test_fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::Config {
                setting: "test_fraction",
                value: Some(test_fraction.to_string()),
                expected: Expected::Described(
                    format!("{test_fraction} is not strictly between 0 and 1").into(),
                ),
            });
        }
        let m = self.len();
        let n_test = ((m as f64) * test_fraction).round() as usize;
        if n_test == 0 || n_test == m {
            return Err(Error::data(
                &self.name,
                format!(
                    "{m} samples cannot be split with test fraction {test_fraction}: \
                     one side would be empty"
                ),
            ));
        }
        let mut order: Vec<usize> = (0..m).collect();
        SeededRng::new(seed, Stream::Split).shuffle(&mut order);
        let (test, train) = order.split_at(n_test);
        Ok((train.to_vec(), test.to_vec()))
    }
}

/// Refuses a target that is NaN or infinite, naming `name` (the data, the targets file or
/// argument), the sample and (with `outputs` > 1 values per sample) the output.
pub fn check_finite_targets(values: &[f64], outputs: usize, name: &str) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::data(
            name,
            format!(
                "target {} at sample {}{}: targets must be finite",
                values[i],
                i / outputs.max(1),
                if outputs > 1 {
                    format!(", output {}", i % outputs)
                } else {
                    String::new()
                }
            ),
        )),
    }
}

/// Refuses a NaN or infinite value of `m` (rows are samples), naming `what` and `name`.
pub fn check_finite(m: &Matrix<f64>, what: &str, name: &str) -> Result<()> {
    use rayon::prelude::*;
    // Blocks in parallel, each scanned plainly (a per-element parallel search is slower).
    const BLOCK: usize = 1 << 16;
    let first = m
        .as_slice()
        .par_chunks(BLOCK)
        .enumerate()
        .filter_map(|(b, block)| {
            block
                .iter()
                .position(|v| !v.is_finite())
                .map(|i| b * BLOCK + i)
        })
        .min();
    match first {
        None => Ok(()),
        Some(pos) => Err(Error::data(
            name,
            format!(
                "{what} value {} at sample {}, feature {}: every value must be finite",
                m.as_slice()[pos],
                pos / m.cols(),
                pos % m.cols()
            ),
        )),
    }
}

/// The little-endian bytes of `values`: borrowed where the machine is little-endian (f64 has
/// no padding and every byte pattern is a valid u8), converted otherwise.
fn le_bytes(values: &[f64]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: the slice covers exactly the `8 * len` initialised bytes of `values`,
        // which outlive the borrow; u8 has alignment 1.
        std::borrow::Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        })
    } else {
        std::borrow::Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

/// Rows per block of [`Dataset::fingerprint`]'s tree hash.
pub const FINGERPRINT_BLOCK_ROWS: usize = 1024;

/// Columns are matched by position: a data set whose input columns are named must name
/// them as `expected` (those of `expected_from`, the training data) in the same order.
pub fn check_feature_names(expected: &[String], expected_from: &str, data: &Dataset) -> Result<()> {
    match &data.feature_names {
        Some(names) if names != expected => Err(Error::data(
            &data.name,
            format!(
                "input columns {names:?} differ from those of the training data {expected_from}, \
                 {expected:?}: columns are matched by position, so they must have the same \
                 names in the same order"
            ),
        )),
        _ => Ok(()),
    }
}

/// Train and test sets must have the same dimension and the same kind of target, and
/// every test class must be one of the training data's.
pub fn check_compatible(train: &Dataset, test: &Dataset) -> Result<()> {
    if let Some(names) = &train.feature_names {
        check_feature_names(names, &train.name, test)?;
    }
    if train.dim() != test.dim() {
        return Err(Error::data(
            &test.name,
            format!(
                "{} features per sample, but the training data has {}",
                test.dim(),
                train.dim()
            ),
        ));
    }
    match (&train.targets, &test.targets) {
        (Targets::Scalar(_), Targets::Scalar(_)) => Ok(()),
        (Targets::Classes { num_classes, .. }, Targets::Classes { labels, .. }) => {
            match labels.iter().position(|&l| l as usize >= *num_classes) {
                Some(i) => Err(Error::data(
                    &test.name,
                    format!(
                        "label {} at sample {i} is a class absent from the training data \
                         (its labels are 0..{}): a network cannot be trained or scored on a \
                         class it has no output for; use a test set whose classes occur in training",
                        labels[i],
                        num_classes - 1
                    ),
                )),
                None => Ok(()),
            }
        }
        _ => Err(Error::data(
            &test.name,
            "its targets are of another kind (classes vs real values) than the training data's",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_the_documented_tree_hash_whatever_the_threads() {
        use sha2::{Digest, Sha256};
        // 2500 rows: blocks of 1024, 1024 and 452.
        let (m, d) = (2500, 3);
        let x = Matrix::from_vec(m, d, (0..m * d).map(|i| (i as f64).sin()).collect());
        let labels: Vec<u32> = (0..m).map(|i| (i % 4) as u32).collect();
        let data = Dataset::new(
            "t",
            x.clone(),
            Targets::Classes {
                labels: labels.clone(),
                num_classes: 4,
            },
        )
        .unwrap();
        // The reference, written out sequentially.
        let mut top = Sha256::new();
        top.update((m as u64).to_le_bytes());
        top.update((d as u64).to_le_bytes());
        for rows in [0..1024, 1024..2048, 2048..2500] {
            let mut h = Sha256::new();
            for i in rows {
                for v in x.row(i) {
                    h.update(v.to_le_bytes());
                }
            }
            top.update(h.finalize());
        }
        top.update(b"classes");
        top.update(4u64.to_le_bytes());
        for l in &labels {
            top.update(l.to_le_bytes());
        }
        let want = crate::files::hex(&top.finalize());
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            assert_eq!(pool.install(|| data.fingerprint()), want);
        }
        let mut changed = data.clone();
        changed.x.row_mut(2100)[1] += 1e-12;
        assert_ne!(changed.fingerprint(), want);
    }

    #[test]
    fn dataset_refuses_mismatch_nan_and_out_of_range_labels() {
        let x = Matrix::from_vec(2, 2, vec![0.0, 1.0, 2.0, 3.0]);
        let e = Dataset::new("d", x.clone(), Targets::Scalar(vec![1.0])).unwrap_err();
        assert!(e.to_string().contains("2 samples but 1 targets"));
        let nan = Matrix::from_vec(2, 2, vec![0.0, f64::NAN, 2.0, 3.0]);
        let e = Dataset::new("d", nan, Targets::Scalar(vec![1.0, 2.0])).unwrap_err();
        assert!(e.to_string().contains("sample 0, feature 1"));
        let e = Dataset::new(
            "d",
            x,
            Targets::Classes {
                labels: vec![0, 3],
                num_classes: 3,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("label 3 at sample 1"));
    }

    #[test]
    fn split_is_seeded_and_disjoint() {
        let x = Matrix::from_vec(10, 1, (0..10).map(|v| v as f64).collect());
        let d = Dataset::new("d", x, Targets::Scalar((0..10).map(|v| v as f64).collect())).unwrap();
        let (a, b) = d.split(0.3, 1).unwrap();
        let (a2, _) = d.split(0.3, 1).unwrap();
        assert_eq!(a.x, a2.x);
        assert_eq!((a.len(), b.len()), (7, 3));
        let mut all: Vec<f64> =
            a.x.as_slice()
                .iter()
                .chain(b.x.as_slice())
                .copied()
                .collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all, (0..10).map(|v| v as f64).collect::<Vec<_>>());
    }

    #[test]
    fn parses_data_specs() {
        let s = SyntheticConfig::default();
        assert!(matches!(
            DataSource::parse("npy:a.npy,b.npy", None, s.clone()).unwrap(),
            DataSource::Npy { .. }
        ));
        assert!(DataSource::parse("npy:a.npy", None, s.clone()).is_err());
        assert!(DataSource::parse("csv:", None, s.clone()).is_err());
        assert!(DataSource::parse("parquet:x", None, s)
            .unwrap_err()
            .to_string()
            .contains("expected synthetic"));
    }
}
