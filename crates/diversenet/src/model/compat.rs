//! Whether a stored model can be measured on a data set: the data's shape and kind of
//! target against the model's, and weights whose size would overflow f64 in the loss and
//! the theory's quantities (checked before anything is computed, so that an answer is
//! never a silent NaN or inf).

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
    check_data_shape(net.dim(), net.outputs(), predicts_classes, model_path, data)
}

/// [`check_model_data`] for any network of `dim` inputs and `outputs` outputs (an MLP's).
pub fn check_data_shape(
    dim: usize,
    outputs: usize,
    predicts_classes: Option<bool>,
    model_path: &Path,
    data: &Dataset,
) -> Result<()> {
    let here = |message: String| Err(Error::format(model_path, message));
    if data.dim() != dim {
        return here(format!(
            "the model takes {dim} inputs but {} has {} features per sample",
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
        Targets::Classes { num_classes, .. } if num_classes > outputs => here(format!(
            "the model has {outputs} outputs but {} has labels up to {}",
            data.name,
            num_classes - 1
        )),
        Targets::Scalar(_) if outputs != 1 => here(format!(
            "the model has {outputs} outputs but {} has one real-valued target per sample",
            data.name
        )),
        _ => Ok(()),
    }
}

/// Refuses a NaN or infinite entry of W or V, naming the matrix, its value and where it
/// is; `source` names the network in the error.
pub fn check_weights_finite(w: &Matrix<f64>, v: &Matrix<f64>, source: &str) -> Result<()> {
    for (name, m) in [("W", w), ("V", v)] {
        if let Some(i) = m.as_slice().iter().position(|x| !x.is_finite()) {
            return Err(Error::data(
                source,
                format!(
                    "{name} holds {} at row {}, column {}, which is not finite: weights must be \
                     finite",
                    m.as_slice()[i],
                    i / m.cols(),
                    i % m.cols()
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses weights that are not finite, or so large that what is computed from them
/// overflows f64: a row norm ||w_k||^2 (the units' directions, the pre-activations), v^2
/// (D^T D and the output), or an output bound sum_k |v_jk| ||w_k|| squared (the loss).
pub fn check_magnitudes(net: &Network<f64>) -> Result<()> {
    check_weights_finite(&net.w, &net.v, "the network")?;
    let largest = crate::geometry::largest_abs;
    let row_norms: Vec<f64> = (0..net.w.rows())
        .map(|k| net.w.row(k).iter().map(|v| v * v).sum::<f64>())
        .collect();
    if row_norms.iter().any(|s| !s.is_finite()) {
        return Err(Error::config(
            "weights",
            format!(
                "W overflows: its largest entry is {:.3e}, and ||w_k||^2 exceeds f64's range \
                 (about 1.8e308), so the units' directions and pre-activations cannot be \
                 computed; rescale W",
                largest(&net.w)
            ),
        ));
    }
    let v_sq: f64 = net.v.as_slice().iter().map(|v| v * v).sum();
    if !v_sq.is_finite() {
        return Err(Error::config(
            "weights",
            format!(
                "V overflows: its largest entry is {:.3e}, and v^2 (which enters D^T D and the \
                 loss) exceeds f64's range (about 1.8e308); rescale V",
                largest(&net.v)
            ),
        ));
    }
    let output_bound = (0..net.v.rows())
        .map(|j| {
            net.v
                .row(j)
                .iter()
                .zip(&row_norms)
                .map(|(v, s)| v.abs() * s.sqrt())
                .sum::<f64>()
        })
        .fold(0.0f64, f64::max);
    if !(output_bound * output_bound).is_finite() {
        return Err(Error::config(
            "weights",
            format!(
                "the outputs overflow: sum_k |v_k| ||w_k|| = {output_bound:.3e} per unit input, whose \
                 square (the loss) exceeds f64's range; rescale W or V"
            ),
        ));
    }
    Ok(())
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

/// Refuses inputs so large that what is computed from them overflows f64: the Gram
/// entries <x_i, x_j> (up to ||x_i||^2) summed over the m rows, which bound the norms of
/// X X^T, of the kernel matrix K and of D^T D. Without this, s_m(D) and K come out NaN
/// and lambda_min(K) 0, silently. `name` names the input (`X`).
pub fn check_input_magnitude(x: &Matrix<f64>, name: &str) -> Result<()> {
    let largest_sq = crate::geometry::largest_row_norm_sq(x);
    if !(largest_sq * x.rows() as f64).is_finite() {
        let largest = crate::geometry::largest_abs(x);
        return Err(Error::data(
            name,
            format!(
                "the values overflow: the largest is {largest:.3e}, and m max ||x_i||^2 \
                 (m = {} rows; it bounds X X^T, K and D^T D) exceeds f64's range (about \
                 1.8e308); rescale {name}",
                x.rows()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OutputLayer;

    fn net(w_scale: f64, v_scale: f64) -> Network<f64> {
        Network {
            w: Matrix::from_vec(2, 2, vec![w_scale, 0.0, 0.0, w_scale]),
            v: Matrix::from_vec(1, 2, vec![v_scale, -v_scale]),
            output_layer: OutputLayer::Fixed,
        }
    }

    #[test]
    fn overflowing_weights_are_named() {
        assert!(check_magnitudes(&net(1.0, 1.0)).is_ok());
        assert!(check_magnitudes(&net(1e150, 1.0)).is_ok());
        let e = check_magnitudes(&net(1e160, 1.0)).unwrap_err().to_string();
        assert!(e.contains("W overflows") && e.contains("1.000e160"), "{e}");
        let e = check_magnitudes(&net(1.0, 1e160)).unwrap_err().to_string();
        assert!(e.contains("V overflows") && e.contains("1.000e160"), "{e}");
        let e = check_magnitudes(&net(1e100, 1e100))
            .unwrap_err()
            .to_string();
        assert!(e.contains("outputs overflow"), "{e}");
        let e = check_magnitudes(&net(f64::NAN, 1.0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not finite"), "{e}");
    }

    #[test]
    fn overflowing_inputs_are_named() {
        // 10 rows of (s, 0, 0): m max ||x||^2 = 10 s^2 is finite for s = 1e150 (1e301),
        // not for s = 1e160 (1e321) or 4.3e153 (1.85e308 > f64::MAX).
        let rows = |s: f64| {
            Matrix::from_vec(
                10,
                3,
                (0..30).map(|k| if k % 3 == 0 { s } else { 0.0 }).collect(),
            )
        };
        assert!(check_input_magnitude(&rows(1e150), "X").is_ok());
        assert!(check_input_magnitude(&rows(4.2e153), "X").is_ok());
        for s in [1e160, 4.3e153, -1e200] {
            let e = check_input_magnitude(&rows(s), "X")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("X: the values overflow") && e.contains("rescale X"),
                "{e}"
            );
        }
    }

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
