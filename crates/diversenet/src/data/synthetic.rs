//! Teacher-student data on the unit sphere (PAPER.md section 1): inputs uniform on
//! S^{d-1}, targets y = sum_k v_k relu(w_k . x) + noise from a teacher network with
//! Gaussian w_k and v_k = +1 / -1 (alternating, so half of each).

use crate::error::{Advice, Error, Expected, Message, Result};
use crate::linalg::Matrix;
use crate::rng::{SeededRng, Stream};

use super::{Dataset, Targets};

/// Settings of the teacher-student data.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticConfig {
    /// Input dimension d.
    pub dim: usize,
    /// Number of teacher units.
    pub teacher_width: usize,
    /// Training samples m.
    pub train_samples: usize,
    /// Test samples.
    pub test_samples: usize,
    /// Standard deviation of Gaussian label noise (0: none).
    pub noise: f64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            dim: 10,
            teacher_width: 5,
            train_samples: 1000,
            test_samples: 1000,
            noise: 0.0,
        }
    }
}

impl SyntheticConfig {
    fn validate(&self) -> Result<()> {
        let positive = [
            ("dim", self.dim),
            ("teacher_width", self.teacher_width),
            ("train_samples", self.train_samples),
            ("test_samples", self.test_samples),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err(Error::setting(
                    field,
                    v,
                    Expected::AtLeast { min: 1, unit: "" },
                ));
            }
        }
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            return Err(Error::setting("noise", self.noise, Expected::NonNegative));
        }
        self.check_memory()
    }

    /// Refuses data that would not fit in the memory budget (X train and test, the teacher).
    fn check_memory(&self) -> Result<()> {
        let bytes = |d: usize| {
            let mut e = crate::limits::Estimate::default();
            e.add(
                "inputs X",
                (self.train_samples as f64 + self.test_samples as f64) * d as f64,
                8,
            )
            .add("teacher W", self.teacher_width as f64 * d as f64, 8);
            e
        };
        crate::limits::check_largest_fitting(
            &format!(
                "synthetic data of {} + {} samples in d = {}",
                self.train_samples, self.test_samples, self.dim
            ),
            1,
            self.dim,
            bytes,
            |fits| {
                Advice::largest(
                    "dim",
                    fits,
                    "even d = 1 does not fit",
                    Some(
                        Message::from("use fewer ")
                            .setting("train_samples")
                            .text(" or ")
                            .setting("test_samples"),
                    ),
                )
            },
        )
    }

    /// The teacher's first-layer weights (teacher_width x dim) and output signs.
    pub fn teacher(&self, seed: u64) -> (Matrix<f64>, Vec<f64>) {
        let mut rng = SeededRng::new(seed, Stream::Data);
        let w = (0..self.teacher_width * self.dim)
            .map(|_| rng.normal())
            .collect();
        let v = (0..self.teacher_width)
            .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        (Matrix::from_vec(self.teacher_width, self.dim, w), v)
    }

    /// Draws (train, test) data; the teacher is the same for both.
    pub fn generate(&self, seed: u64) -> Result<(Dataset, Dataset)> {
        self.validate()?;
        let (w, v) = self.teacher(seed);
        // The inputs and noise continue the data stream after the teacher's weights.
        let mut rng = SeededRng::new(seed, Stream::Data);
        for _ in 0..w.as_slice().len() {
            rng.normal();
        }
        let mut draw = |m: usize, name: &str| {
            let mut x = Vec::with_capacity(m * self.dim);
            let mut y = Vec::with_capacity(m);
            for _ in 0..m {
                let xi = rng.unit_vector(self.dim);
                let f: f64 = (0..self.teacher_width)
                    .map(|k| {
                        let pre: f64 = w.row(k).iter().zip(&xi).map(|(a, b)| a * b).sum();
                        v[k] * pre.max(0.0)
                    })
                    .sum();
                let noise = if self.noise > 0.0 {
                    self.noise * rng.normal()
                } else {
                    0.0
                };
                y.push(f + noise);
                x.extend(xi);
            }
            Dataset::new(
                format!(
                    "synthetic {name} (d={}, teacher width {})",
                    self.dim, self.teacher_width
                ),
                Matrix::from_vec(m, self.dim, x),
                Targets::Scalar(y),
            )
        };
        let train = draw(self.train_samples, "train")?;
        let test = draw(self.test_samples, "test")?;
        Ok((train, test))
    }
}

/// Random unit-norm inputs of dimension `dim` with `classes` random labels.
pub fn random_classification(
    samples: usize,
    dim: usize,
    classes: usize,
    seed: u64,
) -> Result<Dataset> {
    let mut rng = SeededRng::new(seed, Stream::Data);
    let mut x = Vec::with_capacity(samples * dim);
    for _ in 0..samples {
        x.extend(rng.unit_vector(dim));
    }
    let labels = (0..samples).map(|_| rng.below(classes) as u32).collect();
    Dataset::new(
        "benchmark data",
        Matrix::from_vec(samples, dim, x),
        Targets::Classes {
            labels,
            num_classes: classes,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_on_sphere_and_targets_follow_the_teacher() {
        let cfg = SyntheticConfig {
            dim: 4,
            teacher_width: 3,
            train_samples: 50,
            test_samples: 20,
            noise: 0.0,
        };
        let (train, test) = cfg.generate(9).unwrap();
        assert_eq!((train.len(), test.len(), train.dim()), (50, 20, 4));
        let (w, v) = cfg.teacher(9);
        let Targets::Scalar(y) = &train.targets else {
            panic!()
        };
        for (i, &target) in y.iter().enumerate() {
            let x = train.x.row(i);
            assert!((x.iter().map(|a| a * a).sum::<f64>() - 1.0).abs() < 1e-12);
            let f: f64 = (0..3)
                .map(|k| {
                    v[k] * w
                        .row(k)
                        .iter()
                        .zip(x)
                        .map(|(a, b)| a * b)
                        .sum::<f64>()
                        .max(0.0)
                })
                .sum();
            assert!((f - target).abs() < 1e-12);
        }
        let (again, _) = cfg.generate(9).unwrap();
        assert_eq!(again.x, train.x);
    }

    #[test]
    fn refuses_zero_sizes() {
        let cfg = SyntheticConfig {
            dim: 0,
            ..Default::default()
        };
        assert!(cfg.generate(1).unwrap_err().to_string().contains("`dim`"));
    }
}
