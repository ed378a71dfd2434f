//! Whether a stored model can be measured on a data set (the data's shape and kind of
//! target against the model's), and the units a data set leaves dead.

use std::path::Path;

use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};

use crate::linalg::{gemm, Matrix, Op, Real};

use super::network::Network;

/// Refuses a data set the network cannot be measured on: another input dimension, another
/// kind of target (classes vs real values, where the model file says which it predicts:
/// `predicts_classes`; `None` for foreign weights), labels beyond the outputs, or real
/// targets for a network of several outputs. `model_path` names the network in errors.
pub fn check_model_data(
    net: &Network<f64>,
    predicts_classes: Option<bool>,
    model_path: &Path,
    data: &Dataset,
) -> Result<()> {
    let here = |message: String| Err(Error::format(model_path, message));
    if data.dim() != net.dim() {
        return here(format!(
            "the model takes {} inputs but {} has {} features per sample",
            net.dim(),
            data.name,
            data.dim()
        ));
    }
    let data_classes = matches!(data.targets, Targets::Classes { .. });
    if let Some(model_classes) = predicts_classes.filter(|&c| c != data_classes) {
        let (predicts, has) = if model_classes {
            ("classes", "real-valued targets")
        } else {
            ("real values", "class labels")
        };
        return here(format!(
            "the model predicts {predicts} but {} has {has}",
            data.name
        ));
    }
    match data.targets {
        Targets::Classes { num_classes, .. } if num_classes > net.outputs() => here(format!(
            "the model has {} outputs but {} has labels up to {}",
            net.outputs(),
            data.name,
            num_classes - 1
        )),
        Targets::Scalar(_) if net.outputs() != 1 => here(format!(
            "the model has {} outputs but {} has one real-valued target per sample",
            net.outputs(),
            data.name
        )),
        _ => Ok(()),
    }
}

/// Hidden units that are zero on every row of `x` (relu(w_k . x_i) = 0 for all i): dead
/// units, which no gradient can revive. Computed in chunks of rows converted to the
/// network's precision, stopping as soon as every unit has been positive somewhere (for a
/// trained network, usually within the first chunk).
pub fn dead_units<T: Real>(net: &Network<T>, x: &Matrix<f64>) -> usize {
    const CHUNK_ROWS: usize = 512;
    let mut alive = vec![false; net.width()];
    let mut chunk = Matrix::<T>::zeros(0, x.cols());
    let mut pre = Matrix::zeros(0, net.width());
    for start in (0..x.rows()).step_by(CHUNK_ROWS) {
        let end = (start + CHUNK_ROWS).min(x.rows());
        chunk.resize_rows(end - start);
        for (c, &v) in chunk
            .as_mut_slice()
            .iter_mut()
            .zip(&x.as_slice()[start * x.cols()..end * x.cols()])
        {
            *c = T::from_f64(v);
        }
        pre.resize_rows(end - start);
        gemm(
            &mut pre,
            false,
            chunk.view(),
            Op::N,
            net.w.view(),
            Op::T,
            T::from_f64(1.0),
        );
        for i in 0..pre.rows() {
            for (a, &p) in alive.iter_mut().zip(pre.row(i)) {
                *a |= p > T::from_f64(0.0);
            }
        }
        if alive.iter().all(|&a| a) {
            break;
        }
    }
    alive.iter().filter(|a| !**a).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OutputLayer;

    #[test]
    fn dead_units_are_those_zero_on_every_point() {
        // Units (1, 0) and (0, 1) and (-1, -1) on points in the positive quadrant: the
        // third is dead; on 5000 points (two chunks) as on one.
        let n = Network {
            w: Matrix::from_vec(3, 2, vec![1.0, 0.0, 0.0, 1.0, -1.0, -1.0]),
            v: Matrix::from_vec(1, 3, vec![1.0, 1.0, 1.0]),
            output_layer: OutputLayer::Fixed,
        };
        let x = Matrix::from_vec(5000, 2, (0..10000).map(|i| (i % 7) as f64 + 0.5).collect());
        assert_eq!(dead_units(&n, &x), 1);
        // (0, 1) is dead on points of the form (a, 0).
        let x = Matrix::from_vec(2, 2, vec![1.0, 0.0, 2.0, 0.0]);
        assert_eq!(dead_units(&n, &x), 2);
        // ... unless the last point of a later chunk revives it; in f32 as in f64.
        let mut x = Matrix::from_vec(5000, 2, (0..10000).map(|i| ((i + 1) % 2) as f64).collect());
        assert_eq!(dead_units(&n, &x), 2);
        x.row_mut(4999)[1] = 1e-3;
        assert_eq!(dead_units(&n, &x), 1);
        let n32 = Network {
            w: n.w.map(|&v| v as f32),
            v: n.v.map(|&v| v as f32),
            output_layer: OutputLayer::Fixed,
        };
        assert_eq!(dead_units(&n32, &x), 1);
    }
}
