//! Targets given as an array (Python's y): [`TargetArray`], the one parser of them, and
//! targets as the m x c matrix the theory's loss is taken against.

use crate::error::{Error, Message, Result};
use crate::linalg::Matrix;

use super::csv::MAX_CLASSES;
use super::{check_finite_targets, Targets};

/// Targets given as an array, checked against the inputs: integer class labels, or real
/// values (m,) or (m, c), one row per sample, every value finite.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetArray {
    /// Class labels in 0..[`MAX_CLASSES`] (from an array of integers); always
    /// [`Targets::Classes`].
    Classes(Targets),
    /// Real values, m x c.
    Real(Matrix<f64>),
}

impl TargetArray {
    /// The targets `name` from the `values` (C order) of an array of shape `shape`: class
    /// labels when `integer` (shape (m,) or (m, 1)), else real values of shape (m,) or
    /// (m, c); one per row of the inputs (`rows` rows of `inputs`).
    pub fn new(
        shape: &[usize],
        values: Vec<f64>,
        integer: bool,
        name: &str,
        rows: usize,
        inputs: &str,
    ) -> Result<Self> {
        let (m, c) = match (integer, shape) {
            (_, &[m]) | (true, &[m, 1]) => (m, 1),
            (false, &[m, c]) => (m, c),
            (true, _) => {
                return Err(Error::data(
                    name,
                    format!("integer class labels must be 1-dimensional; shape {shape:?}"),
                ))
            }
            (false, _) => {
                return Err(Error::data(
                    name,
                    format!("expected shape (m,) or (m, c); it has shape {shape:?}"),
                ))
            }
        };
        if m != rows {
            return Err(Error::data(
                name,
                format!(
                    "{m} targets but {inputs} has {rows} rows (samples): one target per sample"
                ),
            ));
        }
        if integer {
            return class_labels(&values)
                .map(Self::Classes)
                .map_err(|(i, v)| Error::data(name, not_a_class_index(i, v)));
        }
        check_finite_targets(&values, c, name)?;
        Ok(Self::Real(Matrix::from_vec(m, c, values)))
    }

    /// The targets of a training set: classes, or one real value per sample.
    pub fn into_targets(self, name: &str) -> Result<Targets> {
        match self {
            Self::Classes(targets) => Ok(targets),
            Self::Real(y) if y.cols() == 1 => Ok(Targets::Scalar(y.into_vec())),
            Self::Real(y) => Err(Error::data(
                name,
                format!(
                    "{} real targets per sample: training takes one per sample (shape (m,)) \
                     or integer class labels",
                    y.cols()
                ),
            )),
        }
    }

    /// The m x c matrix of targets of a network with `outputs` outputs (one-hot labels).
    pub fn into_matrix(self, outputs: usize, name: &str) -> Result<Matrix<f64>> {
        match self {
            Self::Classes(targets) => target_matrix(&targets, outputs, name),
            Self::Real(y) if y.cols() == outputs => Ok(y),
            Self::Real(y) => Err(Error::data(
                name,
                format!(
                    "{} target(s) per sample, but the network has {outputs} outputs (V has \
                     {outputs} rows); expected shape ({}, {outputs}){}",
                    y.cols(),
                    y.rows(),
                    if outputs == 1 {
                        format!(" or ({},)", y.rows())
                    } else {
                        String::new()
                    }
                ),
            )),
        }
    }
}

/// Class labels from values, each an integer in 0..[`MAX_CLASSES`]; the first value that is
/// not, with its sample, as the error.
pub(crate) fn class_labels(values: &[f64]) -> std::result::Result<Targets, (usize, f64)> {
    let mut labels = Vec::with_capacity(values.len());
    for (i, &v) in values.iter().enumerate() {
        if v.fract() != 0.0 || v < 0.0 || v >= MAX_CLASSES as f64 {
            return Err((i, v));
        }
        labels.push(v as u32);
    }
    let num_classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    Ok(Targets::Classes {
        labels,
        num_classes,
    })
}

/// Why value `v` of sample `i` is no class label, and how to read real-valued targets.
pub(crate) fn not_a_class_index(i: usize, v: f64) -> Message {
    Message::from(format!(
        "label {v} of sample {i} is not a class index: expected an integer in 0..{MAX_CLASSES} \
         (use "
    ))
    .setting_value("task", "regress")
    .text(" for real-valued targets)")
}

/// Targets as an m x c matrix (one-hot for classes).
pub fn target_matrix(targets: &Targets, outputs: usize, name: &str) -> Result<Matrix<f64>> {
    match targets {
        Targets::Scalar(y) => {
            if outputs != 1 {
                return Err(Error::data(
                    name,
                    format!("real-valued targets, but the model has {outputs} outputs"),
                ));
            }
            Ok(Matrix::from_vec(y.len(), 1, y.clone()))
        }
        Targets::Classes { labels, .. } => {
            let mut m = Matrix::zeros(labels.len(), outputs);
            for (i, &l) in labels.iter().enumerate() {
                if l as usize >= outputs {
                    return Err(Error::data(
                        name,
                        format!("label {l} at sample {i}, but the model has {outputs} outputs"),
                    ));
                }
                m.row_mut(i)[l as usize] = 1.0;
            }
            Ok(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_real_values_are_read_and_checked_against_the_inputs() {
        let labels = TargetArray::new(&[3], vec![0.0, 2.0, 1.0], true, "y", 3, "X").unwrap();
        assert_eq!(
            labels.clone().into_targets("y").unwrap(),
            Targets::Classes {
                labels: vec![0, 2, 1],
                num_classes: 3
            }
        );
        let one_hot = labels.into_matrix(3, "y").unwrap();
        assert_eq!(one_hot.row(1), &[0.0, 0.0, 1.0]);
        let real =
            TargetArray::new(&[2, 2], vec![0.5, 1.0, -1.0, 2.0], false, "y", 2, "X").unwrap();
        assert_eq!(
            real.clone().into_matrix(2, "y").unwrap().row(1),
            &[-1.0, 2.0]
        );
        let e = real.into_targets("y").unwrap_err().to_string();
        assert!(e.starts_with("y: 2 real targets per sample"), "{e}");
        let error = |shape: &[usize], values: Vec<f64>, integer: bool| {
            TargetArray::new(shape, values, integer, "y", 2, "X")
                .unwrap_err()
                .to_string()
        };
        assert!(error(&[3], vec![0.0; 3], false).starts_with("y: 3 targets but X has 2 rows"));
        assert!(error(&[2, 2], vec![0.0; 4], true).contains("must be 1-dimensional"));
        assert!(error(&[1, 1, 2], vec![0.0; 2], false).contains("expected shape (m,) or (m, c)"));
        let e = error(&[2], vec![0.0, -1.0], true);
        assert!(
            e.starts_with("y: label -1 of sample 1 is not a class index"),
            "{e}"
        );
        assert!(error(&[2], vec![0.0, f64::NAN], false).starts_with("y: target NaN at sample 1"));
        let e = TargetArray::new(&[2], vec![0.5, 1.0], false, "y", 2, "X")
            .unwrap()
            .into_matrix(3, "y")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("y: 1 target(s) per sample, but the network has 3 outputs"),
            "{e}"
        );
    }
}
