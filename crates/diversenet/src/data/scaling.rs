//! Input scaling: projection onto the unit sphere (the theory's setting), per-feature
//! standardisation fitted on the training data, or none.

use std::str::FromStr;

use crate::error::{Error, Expected, Result};
use crate::linalg::Matrix;

use super::Dataset;

/// How inputs are scaled before they reach the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputScaling {
    /// x / ||x|| (PAPER.md section 1). An all-zero row has no direction and stays zero.
    #[default]
    Sphere,
    /// (x - mean) / std per feature, with mean and std from the training data
    /// (a constant feature is only centred).
    Standardise,
    /// Inputs as loaded (MNIST pixels in [0, 1]).
    Raw,
}

impl FromStr for InputScaling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sphere" => Ok(Self::Sphere),
            "standardise" | "standardize" => Ok(Self::Standardise),
            "raw" => Ok(Self::Raw),
            _ => Err(Error::setting(
                "input_scaling",
                s,
                Expected::OneOf("sphere, standardise or raw"),
            )),
        }
    }
}

impl std::fmt::Display for InputScaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sphere => "sphere",
            Self::Standardise => "standardise",
            Self::Raw => "raw",
        })
    }
}

/// A fitted scaling: what is stored with a model so that new data is scaled the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct InputTransform {
    pub scaling: InputScaling,
    /// Per-feature mean subtracted (standardise only; empty otherwise).
    pub mean: Vec<f64>,
    /// Per-feature divisor (standardise only; empty otherwise).
    pub scale: Vec<f64>,
}

impl InputTransform {
    /// Projection onto the unit sphere, x / ||x|| (the theory's setting): no statistics to
    /// fit, so the same transform as fitting [`InputScaling::Sphere`] on any data.
    pub fn unit_sphere() -> Self {
        Self {
            scaling: InputScaling::Sphere,
            mean: Vec::new(),
            scale: Vec::new(),
        }
    }

    /// Fits the scaling on training inputs, unchecked: statistics that overflow give an
    /// infinite scale (callers outside the crate get [`Self::fit_checked`]).
    pub(crate) fn fit(scaling: InputScaling, x: &Matrix<f64>) -> Self {
        let (mean, scale) = match scaling {
            InputScaling::Standardise => {
                let (m, d) = (x.rows() as f64, x.cols());
                let mut mean = vec![0.0; d];
                for i in 0..x.rows() {
                    for (a, v) in mean.iter_mut().zip(x.row(i)) {
                        *a += v;
                    }
                }
                mean.iter_mut().for_each(|a| *a /= m);
                let mut var = vec![0.0; d];
                for i in 0..x.rows() {
                    for ((a, v), mu) in var.iter_mut().zip(x.row(i)).zip(&mean) {
                        *a += (v - mu) * (v - mu);
                    }
                }
                let scale = var
                    .into_iter()
                    .enumerate()
                    .map(|(j, s)| {
                        let sd = if s.is_finite() || !mean[j].is_finite() {
                            (s / m).sqrt()
                        } else {
                            // The squares overflowed (values near 1e160 and above): the
                            // deviations' norm by rescaling, as LAPACK's dnrm2 does.
                            let deviations: Vec<f64> =
                                (0..x.rows()).map(|i| x.row(i)[j] - mean[j]).collect();
                            crate::geometry::scaled_norm(&deviations) / m.sqrt()
                        };
                        if sd > 1e-12 {
                            sd
                        } else {
                            1.0
                        }
                    })
                    .collect();
                (mean, scale)
            }
            _ => (Vec::new(), Vec::new()),
        };
        Self {
            scaling,
            mean,
            scale,
        }
    }

    /// Fits the scaling on the training set `data` for training: [`Self::fit_checked`], and
    /// under `raw` a refusal of inputs whose mean squared norm (1/m) sum_i ||x_i||^2
    /// overflows f64 (the default initial scale 1/sqrt of it would be 0), before any
    /// training, naming the data.
    pub fn fit_to(scaling: InputScaling, data: &Dataset) -> Result<Self> {
        let x = &data.x;
        if scaling == InputScaling::Raw && !mean_squared_norm(x).is_finite() {
            return Err(Error::data(
                &data.name,
                format!(
                    "the inputs' mean squared norm (1/m) sum ||x_i||^2 overflows f64 (about \
                     1.8e308; the largest value is {:.3e}): raw inputs this large cannot be \
                     trained on (the default initial scale 1/sqrt of it would be 0); rescale \
                     the data, or scale them by sphere or standardise",
                    crate::geometry::largest_abs(x)
                ),
            ));
        }
        Self::fit_checked(scaling, x, &data.name, data.feature_names.as_deref())
    }

    /// Fits the scaling on `x` (the inputs `name`, their columns `feature_names` where
    /// known), refusing under `standardise` a column whose mean or standard deviation is
    /// not finite in f64 (it would scale the column to zeros), naming the data and the
    /// column. Sphere projection keeps the direction of any finite row and raw inputs are
    /// left as they are: neither needs a check here.
    pub fn fit_checked(
        scaling: InputScaling,
        x: &Matrix<f64>,
        name: &str,
        feature_names: Option<&[String]>,
    ) -> Result<Self> {
        let transform = Self::fit(scaling, x);
        let column = |j: usize| match feature_names.and_then(|n| n.get(j)) {
            Some(name) => format!("input column `{name}`"),
            None => format!("input column {} (of {}, counting from 1)", j + 1, x.cols()),
        };
        for (j, (mean, scale)) in transform.mean.iter().zip(&transform.scale).enumerate() {
            let what = if !mean.is_finite() {
                "its sum (and so its mean) overflows"
            } else if !scale.is_finite() {
                "its deviations from the mean (and so its standard deviation) overflow"
            } else {
                continue;
            };
            let largest = (0..x.rows()).fold(0.0f64, |a, i| a.max(x.row(i)[j].abs()));
            return Err(Error::data(
                name,
                format!(
                    "{}: {what} f64's range (about 1.8e308; its largest |value| is \
                     {largest:.3e}), so standardising cannot scale it; rescale the column, or \
                     scale the inputs by sphere projection",
                    column(j)
                ),
            ));
        }
        Ok(transform)
    }

    /// Scales `x` in place; returns how many rows were all zero under sphere projection
    /// (they stay zero: a bias-free ReLU network outputs 0 there).
    pub fn apply(&self, x: &mut Matrix<f64>) -> usize {
        use rayon::prelude::*;
        let cols = x.cols().max(1);
        // Row by row (each row on its own: the same result on any number of threads).
        x.as_mut_slice()
            .par_chunks_mut(cols)
            .with_min_len(256)
            .map(|row| match self.scaling {
                InputScaling::Sphere => {
                    let plain = row.iter().map(|v| v * v).sum::<f64>();
                    // Squares that overflow (a row at 1e308 became the zero vector) or
                    // underflow: the norm by rescaling, so the direction is kept.
                    let n = if plain.is_finite() && plain >= 1e-300 {
                        plain.sqrt()
                    } else {
                        crate::geometry::scaled_norm(row)
                    };
                    if n > 0.0 {
                        row.iter_mut().for_each(|v| *v /= n);
                        0
                    } else {
                        1
                    }
                }
                InputScaling::Standardise => {
                    for ((v, mu), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                        *v = (*v - mu) / s;
                    }
                    0
                }
                InputScaling::Raw => 0,
            })
            .sum()
    }
}

/// (1/m) sum_i ||x_i||^2 over the rows of `x` (plain sums of squares: infinite when they
/// overflow), from which the default initial scale 1/sqrt(.) of raw inputs is formed.
pub fn mean_squared_norm(x: &Matrix<f64>) -> f64 {
    x.as_slice().iter().map(|v| v * v).sum::<f64>() / x.rows() as f64
}

/// Scales the training and test inputs; returns the rows that were all zero under sphere
/// projection, each counted once when the test set is the training set itself
/// (`--all-data`).
pub fn apply_to_both(
    transform: &InputTransform,
    train: &mut Matrix<f64>,
    test: &mut Matrix<f64>,
) -> usize {
    let same_rows = train == test;
    let zero_train = transform.apply(train);
    let zero_test = transform.apply(test);
    if same_rows {
        zero_train
    } else {
        zero_train + zero_test
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_projects_and_keeps_zero_rows() {
        let mut x = Matrix::from_vec(2, 2, vec![3.0, 4.0, 0.0, 0.0]);
        let t = InputTransform::fit(InputScaling::Sphere, &x);
        assert_eq!(t.apply(&mut x), 1);
        assert_eq!(x.as_slice(), &[0.6, 0.8, 0.0, 0.0]);
    }

    /// A row at 1e308 overflowed the squares and was projected to the zero vector without
    /// being counted; one at 1e-200 underflowed to a zero norm. Both keep their direction
    /// (3, 4) / 5. A zero row is counted once when the test set is the training set.
    #[test]
    fn sphere_keeps_huge_and_tiny_rows_and_counts_zero_rows_once() {
        let mut x = Matrix::from_vec(3, 2, vec![3e307, 4e307, 3e-200, 4e-200, 0.0, 0.0]);
        let t = InputTransform::fit(InputScaling::Sphere, &x);
        let mut same = x.clone();
        assert_eq!(apply_to_both(&t, &mut x, &mut same), 1);
        for row in [x.row(0), x.row(1)] {
            assert!(
                (row[0] - 0.6).abs() < 1e-15 && (row[1] - 0.8).abs() < 1e-15,
                "{row:?}"
            );
        }
        let mut train = Matrix::from_vec(1, 2, vec![0.0, 0.0]);
        let mut test = Matrix::from_vec(2, 2, vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(apply_to_both(&t, &mut train, &mut test), 2);
    }

    fn dataset(rows: usize, cols: usize, x: Vec<f64>, names: Option<&[&str]>) -> Dataset {
        let mut data = Dataset::new(
            "big.csv",
            Matrix::from_vec(rows, cols, x),
            crate::data::Targets::Scalar(vec![0.0; rows]),
        )
        .unwrap();
        data.feature_names = names.map(|n| n.iter().map(|s| s.to_string()).collect());
        data
    }

    /// A column (V, 0, 0, 0, 0, 0) has mean V/6 and standard deviation V sqrt(5)/6, and
    /// standardises to (sqrt 5, -1/sqrt 5, ...) whatever V: at V = 1.5e308 the squared
    /// deviations overflowed and the scale became inf (every input 0). Ordinary columns keep
    /// the plain formula, bit for bit.
    #[test]
    fn standardise_rescales_deviations_whose_squares_overflow() {
        for v in [1.5e308, 1e200, 6.0] {
            let mut col = vec![0.0; 12];
            col[0] = v;
            col[1] = 1.0;
            col[3] = 2.0; // second column: (1, 2, 0, 0, 0, 0)
            let data = dataset(6, 2, col, Some(&["a", "b"]));
            let t = InputTransform::fit_to(InputScaling::Standardise, &data).unwrap();
            let sd = v / 6.0 * 5f64.sqrt();
            assert!((t.mean[0] / (v / 6.0) - 1.0).abs() < 1e-15, "{t:?}");
            assert!(
                (t.scale[0] / sd - 1.0).abs() < 1e-15,
                "{v}: {} vs {sd}",
                t.scale[0]
            );
            let mut x = data.x.clone();
            t.apply(&mut x);
            assert!((x.row(0)[0] - 5f64.sqrt()).abs() < 1e-14, "{:?}", x.row(0));
            assert!((x.row(1)[0] + 1.0 / 5f64.sqrt()).abs() < 1e-14);
            // (1, 2, 0, 0, 0, 0): mean 1/2, variance (1/4 + 9/4 + 4/4) / 6 = 7/12, exactly
            // the plain formula's rounding.
            assert_eq!(t.mean[1], 0.5);
            assert_eq!(t.scale[1], ((0.25f64 + 2.25 + 4.0 * 0.25) / 6.0).sqrt());
        }
    }

    /// Statistics that overflow f64 whatever the arithmetic are refused, naming the data,
    /// the column and what overflowed; under raw scaling, the mean squared norm.
    #[test]
    fn overflowing_statistics_are_refused_naming_the_column() {
        // Mean: 1.7e308 + 1.7e308 overflows.
        let sum = dataset(3, 1, vec![1.7e308, 1.7e308, -1.0], Some(&["a"]));
        let e = InputTransform::fit_to(InputScaling::Standardise, &sum).unwrap_err();
        let e = e.to_string();
        assert!(e.starts_with("big.csv: input column `a`: its sum"), "{e}");
        // Mean -1e307 is finite; 1.7e308 - (-1e307) is not.
        let dev = dataset(3, 2, vec![0.0, 1.7e308, 0.0, -1e308, 0.0, -1e308], None);
        let e = InputTransform::fit_to(InputScaling::Standardise, &dev).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("input column 2 (of 2") && e.contains("deviations"),
            "{e}"
        );
        // Raw: sum ||x_i||^2 overflows; sphere keeps the directions and is not refused.
        let big = dataset(2, 2, vec![1e308, 1e308, 3.0, 4.0], None);
        let e = InputTransform::fit_to(InputScaling::Raw, &big).unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with("big.csv: the inputs' mean squared norm"),
            "{e}"
        );
        assert!(!e.contains("init-scale"), "{e}");
        assert!(InputTransform::fit_to(InputScaling::Sphere, &big).is_ok());
        assert!(InputTransform::fit_to(
            InputScaling::Raw,
            &dataset(1, 2, vec![1e150, 1e150], None)
        )
        .is_ok());
    }

    #[test]
    fn standardise_uses_training_statistics() {
        let train = Matrix::from_vec(2, 2, vec![1.0, 5.0, 3.0, 5.0]);
        let t = InputTransform::fit(InputScaling::Standardise, &train);
        assert_eq!(t.mean, vec![2.0, 5.0]);
        assert_eq!(t.scale, vec![1.0, 1.0]); // sd 1; constant column keeps divisor 1
        let mut test = Matrix::from_vec(1, 2, vec![4.0, 7.0]);
        t.apply(&mut test);
        assert_eq!(test.as_slice(), &[2.0, 2.0]);
    }
}
