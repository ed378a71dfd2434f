//! The theory's instruments on checked inputs ([`Weights`], [`Points`], [`HiddenUnits`],
//! a validated [`Mlp`]), each refusing first what would not fit in memory: what the Python
//! package calls, one function each.

use crate::cancel::Cancel;
use crate::data::Points;
use crate::error::{Error, Message, Result};
use crate::limits::{
    check_rows, feature_gram_estimate, kernel_estimate, ntk_estimate, unit_angles_estimate,
};
use crate::linalg::Matrix;
use crate::mlp::Mlp;
use crate::model::{HiddenUnits, Weights};
use crate::regularizer::{value_and_gradient, RegularizerKind};

use super::feature_matrix::SmallestSingularValue;
use super::kernel::{kernel_gram, PairGeometry};
use super::ntk::{ntk_sizes, select_layers, NtkFactors, NtkForm};

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

/// The empirical NTK of the MLP on the points in `form` ([`NtkFactors`]): the sum of the
/// blocks of `layers` (numbered from 1; all by default), or with `blocks` every layer's
/// block, input side first (then `layers` is refused: it chooses the blocks of a sum).
/// Refused first when the matrices would not fit in memory.
pub fn ntk(
    mlp: &Mlp,
    x: &Points<'_>,
    form: NtkForm,
    layers: Option<&[usize]>,
    blocks: bool,
    cancel: Cancel<'_>,
) -> Result<Vec<Matrix<f64>>> {
    let chosen = select_layers(mlp, layers)?;
    if blocks && layers.is_some() {
        return Err(Error::no_effect(
            "layers",
            Message::from("")
                .setting("blocks")
                .text(" returns every layer's block, while the layers chosen are summed"),
        ));
    }
    let matrices = if blocks { mlp.layers().len() } else { 1 };
    let sizes = ntk_sizes(mlp, form, matrices, false);
    check_rows("ntk", x.name(), x.rows(), |m| ntk_estimate(m, &sizes))?;
    let factors = NtkFactors::new(mlp, x, form)?;
    if blocks {
        factors.blocks(cancel)
    } else {
        factors.sum(&chosen, cancel).map(|m| vec![m])
    }
}

/// lambda_min of the empirical NTK of the MLP on the points in `form`, of the blocks of
/// `layers` (numbered from 1; all by default), with one Gram in memory (refused first when
/// it would not fit).
pub fn ntk_lambda_min(
    mlp: &Mlp,
    x: &Points<'_>,
    form: NtkForm,
    layers: Option<&[usize]>,
    cancel: Cancel<'_>,
) -> Result<f64> {
    let chosen = select_layers(mlp, layers)?;
    let sizes = ntk_sizes(mlp, form, 1, true);
    check_rows("ntk_lambda_min", x.name(), x.rows(), |m| {
        ntk_estimate(m, &sizes)
    })?;
    let spectrum = NtkFactors::new(mlp, x, form)?.spectrum(&chosen, false, cancel)?;
    Ok(spectrum.lambda_min)
}
