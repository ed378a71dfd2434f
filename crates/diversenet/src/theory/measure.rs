//! The theory's instruments on checked inputs ([`Weights`], [`Points`], [`HiddenUnits`]),
//! each refusing first what would not fit in memory: what the Python package calls, one
//! function each.

use crate::cancel::Cancel;
use crate::data::Points;
use crate::error::{Error, Result};
use crate::limits::{check_rows, feature_gram_estimate, kernel_estimate, unit_angles_estimate};
use crate::linalg::Matrix;
use crate::model::{HiddenUnits, Weights};
use crate::regularizer::{value_and_gradient, RegularizerKind};

use super::feature_matrix::SmallestSingularValue;
use super::kernel::{kernel_gram, PairGeometry};

/// Refuses points the network cannot be measured on: other than d inputs, or d < 2 (on
/// S^0 the theory is void).
pub fn check_fits(net: &Weights, x: &Points<'_>) -> Result<()> {
    let d = net.dim();
    if x.cols() != d {
        return Err(Error::data(
            x.name(),
            format!(
                "{} features per sample, but the model takes {d} inputs",
                x.cols()
            ),
        ));
    }
    if d < 2 {
        return Err(Error::config(
            "dim",
            "d = 1: inputs on S^0 are only +1 and -1; the theory needs d >= 2",
        ));
    }
    Ok(())
}

/// s_m(D) of the network on the points ([`super::feature_matrix::smallest_singular_value`]),
/// refused when its Gram matrix would not fit (none is built when d n < m c: s is 0 by rank).
pub fn smallest_singular_value(
    net: &Weights,
    x: &Points<'_>,
    cancel: Cancel<'_>,
) -> Result<SmallestSingularValue> {
    check_fits(net, x)?;
    if x.cols() * net.width() >= x.rows() * net.outputs() {
        check_rows("smallest_singular_value", x.name(), x.rows(), |m| {
            feature_gram_estimate(m, net.width(), net.outputs())
        })?;
    }
    super::feature_matrix::smallest_singular_value(net, x, cancel)
}

/// The kernel Gram matrix K of the points ([`kernel_gram`]).
pub fn kernel_matrix(x: &Points<'_>, cancel: Cancel<'_>) -> Result<Matrix<f64>> {
    check_rows("kernel_matrix", x.name(), x.rows(), kernel_estimate)?;
    Ok(kernel_gram(&PairGeometry::of(x, cancel)?))
}

/// lambda_min(K) of the kernel Gram matrix of the points.
pub fn kernel_lambda_min(x: &Points<'_>, cancel: Cancel<'_>) -> Result<f64> {
    check_rows("kernel_lambda_min", x.name(), x.rows(), kernel_estimate)?;
    super::kernel::kernel_lambda_min(&PairGeometry::of(x, cancel)?, cancel)
}

/// L2(W)^2, the squared L2 slice discrepancy of the units' directions (closed form).
pub fn l2_discrepancy_sq(w: &HiddenUnits) -> Result<f64> {
    check_rows("l2_discrepancy", w.name(), w.rows(), |n| {
        unit_angles_estimate(n, w.cols())
    })?;
    Ok(super::discrepancy::discrepancies(w)?.l2_slice_sq)
}

/// R(W) and dR/dW of regulariser `kind`.
pub fn regularizer(kind: RegularizerKind, w: &HiddenUnits) -> Result<(f64, Matrix<f64>)> {
    check_rows("regularizer", w.name(), w.rows(), |n| {
        unit_angles_estimate(n, w.cols())
    })?;
    let mut grad = Matrix::zeros(w.rows(), w.cols());
    let value = value_and_gradient(kind, w, Some((&mut grad, 1.0)));
    Ok((value, grad))
}
