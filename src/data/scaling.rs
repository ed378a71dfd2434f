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
                    let n = row.iter().map(|v| v * v).sum::<f64>().sqrt();
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
