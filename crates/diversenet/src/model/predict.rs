//! Predictions of a network on inputs as a user has them (unscaled): the model's own input
//! scaling applied, the outputs f(x) = V relu(W x) computed a block of rows at a time
//! (memory O(block x n) beside the m x c outputs), and what they mean: class indices (the
//! largest output), class probabilities (softmax of a cross-entropy model's outputs), real
//! values; and the scores scikit-learn's estimators give, accuracy and R^2.

use crate::data::{check_finite, InputTransform};
use crate::error::{Error, Result};
use crate::linalg::Matrix;

use super::network::Network;

/// Rows per block of the forward pass (the hidden activations of a block are block x n).
const BLOCK_ROWS: usize = 4096;

/// The outputs f(x) (m x c) of `net` on the rows of `x` (m x d, unscaled), scaled by
/// `transform` first as in training. `name` names the inputs in errors: they must have the
/// network's d columns, at least one row and finite values.
pub fn outputs(
    net: &Network<f64>,
    transform: &InputTransform,
    mut x: Matrix<f64>,
    name: &str,
) -> Result<Matrix<f64>> {
    if x.cols() != net.dim() {
        return Err(Error::data(
            name,
            format!(
                "{} features per sample, but the model takes {} inputs (W has {} columns)",
                x.cols(),
                net.dim(),
                net.dim()
            ),
        ));
    }
    if x.rows() == 0 {
        return Err(Error::data(name, "no samples (0 rows)"));
    }
    check_finite(&x, "input", name)?;
    transform.apply(&mut x);
    let (m, d, c) = (x.rows(), x.cols(), net.outputs());
    let mut out = Matrix::zeros(m, c);
    for start in (0..m).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(m - start);
        let block = Matrix::from_vec(
            rows,
            d,
            x.as_slice()[start * d..(start + rows) * d].to_vec(),
        );
        let f = net.predict(block.view());
        out.as_mut_slice()[start * c..(start + rows) * c].copy_from_slice(f.as_slice());
    }
    Ok(out)
}

/// softmax of each row (computed from the row's largest value, so it never overflows).
pub fn probabilities(outputs: &Matrix<f64>) -> Matrix<f64> {
    let mut p = outputs.clone();
    let c = p.cols().max(1);
    for row in p.as_mut_slice().chunks_mut(c) {
        let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.iter_mut().for_each(|v| *v = (*v - top).exp());
        let sum: f64 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= sum);
    }
    p
}

/// The index of each row's largest output (the first of equal ones, as numpy's argmax).
pub fn class_indices(outputs: &Matrix<f64>) -> Vec<usize> {
    let c = outputs.cols().max(1);
    outputs
        .as_slice()
        .chunks(c)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (j, &v)| {
                    if v > best.1 {
                        (j, v)
                    } else {
                        best
                    }
                })
                .0
        })
        .collect()
}

/// The fraction of samples whose predicted class is their label (`None`: a label that is
/// none of the model's classes, which no prediction matches).
pub fn accuracy(predicted: &[usize], labels: &[Option<usize>]) -> f64 {
    let right = predicted
        .iter()
        .zip(labels)
        .filter(|(p, l)| Some(**p) == **l)
        .count();
    right as f64 / predicted.len().max(1) as f64
}

/// The coefficient of determination R^2 = 1 - sum (y - f)^2 / sum (y - mean y)^2 of each
/// column of targets `y` (m x c) against predictions `f`, averaged over the columns, as
/// scikit-learn's `r2_score` gives it: a column of constant targets scores 1 when predicted
/// exactly and 0 otherwise.
pub fn r2_score(y: &Matrix<f64>, f: &Matrix<f64>) -> f64 {
    let (m, c) = (y.rows(), y.cols());
    let column = |j: usize| {
        let mean = (0..m).map(|i| y.row(i)[j]).sum::<f64>() / m as f64;
        let total: f64 = (0..m).map(|i| (y.row(i)[j] - mean).powi(2)).sum();
        let residual: f64 = (0..m).map(|i| (y.row(i)[j] - f.row(i)[j]).powi(2)).sum();
        match (total == 0.0, residual == 0.0) {
            (false, _) => 1.0 - residual / total,
            (true, true) => 1.0,
            (true, false) => 0.0,
        }
    };
    (0..c).map(column).sum::<f64>() / c.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::InputScaling;
    use crate::model::OutputLayer;

    fn net() -> Network<f64> {
        Network {
            w: Matrix::from_vec(3, 2, vec![1.0, 0.0, 0.0, 1.0, -1.0, -1.0]),
            v: Matrix::from_vec(2, 3, vec![1.0, -1.0, 0.5, 0.0, 2.0, 1.0]),
            output_layer: OutputLayer::Trained,
        }
    }

    /// The outputs are V relu(W x) of the scaled inputs, written out, in blocks or not.
    #[test]
    fn outputs_are_the_network_on_the_scaled_inputs() {
        let m = BLOCK_ROWS + 3;
        let x = Matrix::from_vec(
            m,
            2,
            (0..2 * m)
                .map(|k| ((k * 37 % 101) as f64 - 50.0) / 7.0)
                .collect(),
        );
        let transform = InputTransform {
            scaling: InputScaling::Standardise,
            mean: vec![0.5, -1.0],
            scale: vec![2.0, 4.0],
        };
        let f = outputs(&net(), &transform, x.clone(), "X").unwrap();
        let n = net();
        for i in [0, 1, BLOCK_ROWS - 1, BLOCK_ROWS, m - 1] {
            let z = [(x.row(i)[0] - 0.5) / 2.0, (x.row(i)[1] + 1.0) / 4.0];
            for j in 0..2 {
                let expected: f64 = (0..3)
                    .map(|k| n.v.row(j)[k] * (n.w.row(k)[0] * z[0] + n.w.row(k)[1] * z[1]).max(0.0))
                    .sum();
                assert!((f.row(i)[j] - expected).abs() < 1e-12, "{i} {j}");
            }
        }
        let sphere = InputTransform::unit_sphere();
        let e = |x: Matrix<f64>| outputs(&net(), &sphere, x, "X").unwrap_err().to_string();
        assert!(
            e(Matrix::zeros(2, 3)).starts_with("X: 3 features per sample, but the model takes 2")
        );
        assert!(e(Matrix::zeros(0, 2)).contains("no samples"));
        assert!(e(Matrix::from_vec(1, 2, vec![f64::NAN, 0.0])).contains("NaN"));
    }

    #[test]
    fn probabilities_classes_and_scores_are_scikit_learns() {
        let f = Matrix::from_vec(3, 2, vec![1000.0, 0.0, 0.0, 0.0, -1.0, 1.0]);
        let p = probabilities(&f);
        assert_eq!(p.row(0), &[1.0, 0.0]);
        assert_eq!(p.row(1), &[0.5, 0.5]);
        let e = (2.0f64).exp();
        assert!((p.row(2)[1] - e / (1.0 + e)).abs() < 1e-15);
        assert_eq!(class_indices(&f), vec![0, 0, 1]);
        assert_eq!(accuracy(&[0, 0, 1], &[Some(0), None, Some(1)]), 2.0 / 3.0);
        let y = Matrix::from_vec(4, 1, vec![1.0, 2.0, 3.0, 4.0]);
        let g = Matrix::from_vec(4, 1, vec![1.5, 2.0, 2.5, 4.0]);
        // 1 - 0.5 / 5.
        assert!((r2_score(&y, &g) - 0.9).abs() < 1e-15);
        let flat = Matrix::from_vec(2, 1, vec![3.0, 3.0]);
        assert_eq!(r2_score(&flat, &flat), 1.0);
        assert_eq!(
            r2_score(&flat, &Matrix::from_vec(2, 1, vec![3.0, 4.0])),
            0.0
        );
    }
}
