//! Input scaling: projection onto the unit sphere (the theory's setting), per-feature
//! standardisation fitted on the training data, or none.

use std::str::FromStr;

use crate::error::Error;
use crate::linalg::Matrix;

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
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "sphere" => Ok(Self::Sphere),
            "standardise" | "standardize" => Ok(Self::Standardise),
            "raw" => Ok(Self::Raw),
            _ => Err(Error::config(
                "input-scaling",
                format!("`{s}`: expected sphere, standardise or raw"),
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
    /// Fits the scaling on training inputs.
    pub fn fit(scaling: InputScaling, x: &Matrix<f64>) -> Self {
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
                    .map(|s| {
                        let sd = (s / m).sqrt();
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
