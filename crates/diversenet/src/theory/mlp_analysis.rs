//! The theory's measurements on any ReLU MLP, layer by layer: for each layer, its width,
//! dead units, s_min of its eNTK block, ||grad_l L||, the loss bound, and the L2
//! discrepancy of its units' directions; for the whole network (or the chosen layers),
//! lambda_min and lambda_max of the eNTK, the condition number, ||grad L|| and the bound.
//! For the paper's network the paper's instruments (`analyze`: K, E_W, the discrepancies)
//! come with them, and its first layer's block is D^T D with s_m(D) from there.
//!
//! The bound: for the squared loss L = (1/2m) sum_i ||f(x_i) - y_i||^2 and any set S of
//! parameters, grad_S L = (1/m) J_S^T r with r = f - y, so ||grad_S L||^2 >= (1/m^2)
//! lambda_min(J_S J_S^T) ||r||^2 = (2 L / m) lambda_min(Theta_S), that is
//! L <= m ||grad_S L||^2 / (2 lambda_min(Theta_S)) (the full eNTK; the trace form bounds
//! nothing for c > 1).

use std::time::Instant;

use crate::data::{target_matrix, Dataset, Points};
use crate::error::{Error, Result};
use crate::geometry::l2_slice_discrepancy_sq;
use crate::limits::{check_analysis, check_points, ntk_estimate};
use crate::linalg::{gemm, Cancel, Matrix, Op};
use crate::mlp::{Activations, Mlp};
use crate::model::Weights;

use super::analyze::{
    analyze_points, check_targets, default_points, sample_points, sampled_rows, Analysis,
    AnalysisOptions, DEFAULT_GRAM_SIZE,
};
use super::feature_matrix::loss_bound;
use super::ntk::{ntk_sizes, select_layers, NtkFactors, NtkForm, NtkSpectrum};

/// Which eNTK and which of its blocks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NtkOptions {
    pub form: NtkForm,
    /// Layers whose blocks are measured and summed, numbered from 1 (input side first);
    /// `None`: all.
    pub layers: Option<Vec<usize>>,
}

/// One layer's measurements.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerReport {
    /// Numbered from 1, input side first; the last is the output layer.
    pub layer: usize,
    /// `hidden` or `output`.
    pub kind: &'static str,
    /// n_{l-1}.
    pub inputs: usize,
    /// n_l (c for the output layer).
    pub width: usize,
    pub bias: bool,
    pub parameters: usize,
    /// Units whose ReLU is 0 on every point, as a fraction of the width (hidden layers).
    pub dead_fraction: Option<f64>,
    /// lambda_min(Theta_l) and how it was obtained.
    pub lambda_min: f64,
    /// sqrt(lambda_min(Theta_l)) (s_m(D) for the paper's first layer).
    pub s_min: f64,
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// ||grad_l L|| (weights and bias) of the squared loss (null without targets).
    pub grad_norm: Option<f64>,
    /// m ||grad_l L||^2 / (2 lambda_min(Theta_l)) (null when lambda_min = 0, without
    /// targets, and for the trace form with c > 1).
    pub bound: Option<f64>,
    pub loss_over_bound: Option<f64>,
    /// L2(W_l)^2 of the unit directions w_k / ||w_k|| (hidden layers with n_{l-1} >= 2).
    pub l2_discrepancy_sq: Option<f64>,
    /// The same for [w_k; b_k] (layers with a bias).
    pub l2_discrepancy_sq_with_bias: Option<f64>,
}

/// The chosen layers together (the whole network by default).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NetworkReport {
    /// The layers whose blocks are summed, numbered from 1.
    pub layers: Vec<usize>,
    pub lambda_min: f64,
    pub s_min: f64,
    pub lambda_max: f64,
    /// lambda_max / lambda_min (null when lambda_min = 0).
    pub condition_number: Option<f64>,
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub grad_norm: Option<f64>,
    pub bound: Option<f64>,
    pub loss_over_bound: Option<f64>,
}

/// Everything measured on an MLP (also the JSON of `diversenet analyze` on one).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NtkReport {
    pub points_used: usize,
    pub points_total: usize,
    pub dim: usize,
    /// n_0 = d, n_1, ..., n_L, c.
    pub widths: Vec<usize>,
    pub outputs: usize,
    /// `full` ((m c) x (m c)) or `trace` (m x m).
    pub ntk: NtkForm,
    /// Rows of the eNTK.
    pub ntk_size: usize,
    /// The squared loss L = ||f - y||^2 / (2m) on the points (null without targets).
    pub loss: Option<f64>,
    /// Why no bound is given, when none is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound_note: Option<String>,
    pub layers: Vec<LayerReport>,
    pub network: NetworkReport,
    pub seconds: f64,
}

/// The MLP's measurements, and for the paper's network its instruments (K, E_W, the
/// discrepancies). Serialised as one object: the paper's keys (those of `analyze`) and
/// then the MLP's.
#[derive(Clone, Debug)]
pub struct MlpAnalysis {
    pub report: NtkReport,
    pub paper: Option<Analysis>,
}

impl serde::Serialize for MlpAnalysis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let object = |v: serde_json::Result<serde_json::Value>| match v {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(_) => Err(S::Error::custom("a report serialises to an object")),
            Err(e) => Err(S::Error::custom(e)),
        };
        let mut map = match &self.paper {
            Some(paper) => object(serde_json::to_value(paper))?,
            None => serde_json::Map::new(),
        };
        map.extend(object(serde_json::to_value(&self.report))?);
        map.serialize(s)
    }
}

/// The default point count m: the eNTK at most [`DEFAULT_GRAM_SIZE`] square, and no more
/// rows than the network has parameters (so that lambda_min(Theta) is not 0 by rank
/// alone); for the paper's network, `analyze`'s [`default_points`].
pub fn default_ntk_points(mlp: &Mlp, form: NtkForm) -> usize {
    if let Some(net) = mlp.as_paper_network() {
        return default_points(net.dim(), net.width(), net.outputs());
    }
    let per_point = form.size(1, mlp.outputs());
    let rank = match form {
        NtkForm::Full => mlp.parameters(),
        NtkForm::Trace => mlp.parameters().saturating_mul(mlp.outputs()),
    };
    (DEFAULT_GRAM_SIZE / per_point).min(rank / per_point).max(1)
}

/// Measures the MLP on the (already scaled) data set; `cancel` as in
/// [`analyze_mlp_points`].
pub fn analyze_mlp(
    mlp: &Mlp,
    data: &Dataset,
    options: &AnalysisOptions,
    ntk: &NtkOptions,
    cancel: Cancel<'_>,
) -> Result<MlpAnalysis> {
    let y = target_matrix(&data.targets, mlp.outputs(), &data.name)?;
    let points = Points::borrowed(&data.x, &data.name)?;
    let mut analysis = analyze_mlp_points(mlp, &points, Some(&y), options, ntk, cancel)?;
    if let Some(paper) = &mut analysis.paper {
        paper.rename_zero_points(|i| data.source_row(i));
    }
    Ok(analysis)
}

/// Measures the MLP on the points `x` (used as given) with targets `y` (m x c); without
/// targets the loss, the gradients and the bounds are absent. `cancel` is asked during the
/// long steps (the paper's instruments, each block's Gram and eigenvalues; Python's
/// Ctrl-C) and stops the analysis with [`Error::Interrupted`].
pub fn analyze_mlp_points(
    mlp: &Mlp,
    x: &Points<'_>,
    y: Option<&Matrix<f64>>,
    options: &AnalysisOptions,
    ntk: &NtkOptions,
    cancel: Cancel<'_>,
) -> Result<MlpAnalysis> {
    let started = Instant::now();
    let paper_net = mlp
        .as_paper_network()
        .map(|net| Weights::of(net, mlp.source()))
        .transpose()?;
    if paper_net.is_none() && options.monte_carlo.is_some() {
        return Err(Error::no_effect(
            "monte_carlo",
            "the Monte Carlo estimate checks the paper's L2(W)^2 of a one-hidden-layer network \
             without biases; for this network each layer's L2 discrepancy is computed exactly",
        ));
    }
    let chosen = select_layers(mlp, ntk.layers.as_deref())?;
    check_targets(x, y, mlp.outputs())?;
    let m_total = x.rows();
    let wanted = options.points_used(m_total, || default_ntk_points(mlp, ntk.form))?;
    let sizes = ntk_sizes(mlp, ntk.form, 1, true);
    // The paper's instruments run first (and free their memory before the eNTK's).
    if let Some(net) = &paper_net {
        let monte_carlo = options.monte_carlo.is_some();
        check_analysis(wanted, net.dim(), net.width(), net.outputs(), monte_carlo)?;
    }
    check_points("analyze's eNTK", wanted, |m| ntk_estimate(m, &sizes))?;
    let rows = sampled_rows(m_total, wanted, options.seed);
    let (x, y) = sample_points(x, y, wanted, options.seed);
    let paper = match &paper_net {
        Some(net) => {
            let same_points = AnalysisOptions {
                all_points: true,
                ..options.clone()
            };
            let mut a = analyze_points(net, &x, y.as_ref(), &same_points, cancel)?;
            a.points_total = m_total;
            // By their rows in the points given, not their places in the sub-sample.
            a.rename_zero_points(|i| rows[i]);
            Some(a)
        }
        None => None,
    };
    let acts = mlp.forward(&x, x.name())?;
    let residual = y.as_ref().map(|y| residual(&acts, y));
    let m = x.rows();
    let loss = residual
        .as_ref()
        .map(|r| r.as_slice().iter().map(|v| v * v).sum::<f64>() / (2.0 * m as f64));
    let grad_norms = residual
        .as_ref()
        .map(|r| layer_gradient_norms(mlp, &acts, r));
    let factors = NtkFactors::with_activations(mlp, &x, acts, ntk.form);
    let bounds_hold = ntk.form == NtkForm::Full || mlp.outputs() == 1;
    let bound_of = |grad: Option<f64>, lambda: f64| {
        let (loss, grad) = (loss?, grad?);
        (bounds_hold && lambda > 0.0).then(|| {
            let b = loss_bound(m, grad, lambda.sqrt());
            (b, if b > 0.0 { loss / b } else { 0.0 })
        })
    };

    let mut layers = Vec::with_capacity(chosen.len());
    for &t in &chosen {
        let layer = &mlp.layers()[t];
        let output = t + 1 == mlp.layers().len();
        let spectrum = match (&paper, t, bounds_hold) {
            // The paper's first block is D^T D: its s_m(D) is the one `analyze` found.
            (Some(a), 0, true) => NtkSpectrum {
                lambda_min: a.s_min * a.s_min,
                lambda_max: None,
                method: a.s_min_method,
                reason: a.s_min_reason.clone(),
                size: a.gram_size,
            },
            _ => factors.spectrum(&[t], false, cancel)?,
        };
        let grad = grad_norms.as_ref().map(|g| g[t]);
        let bound = bound_of(grad, spectrum.lambda_min);
        let dead_fraction = (!output).then(|| {
            let h = &factors.activations().inputs[t + 1];
            let dead = (0..h.cols())
                .filter(|&k| (0..h.rows()).all(|i| h.row(i)[k] <= 0.0))
                .count();
            dead as f64 / h.cols() as f64
        });
        layers.push(LayerReport {
            layer: t + 1,
            kind: if output { "output" } else { "hidden" },
            inputs: layer.inputs(),
            width: layer.width(),
            bias: layer.bias.is_some(),
            parameters: layer.parameters(),
            dead_fraction,
            lambda_min: spectrum.lambda_min,
            s_min: spectrum.s_min(),
            method: spectrum.method,
            reason: spectrum.reason,
            grad_norm: grad,
            bound: bound.map(|b| b.0),
            loss_over_bound: bound.map(|b| b.1),
            l2_discrepancy_sq: (!output)
                .then(|| l2_slice_discrepancy_sq(&layer.weight))
                .flatten(),
            l2_discrepancy_sq_with_bias: (!output && layer.bias.is_some())
                .then(|| l2_slice_discrepancy_sq(&layer.augmented_weight()))
                .flatten(),
        });
    }
    let whole = factors.spectrum(&chosen, true, cancel)?;
    let grad = grad_norms
        .as_ref()
        .map(|g| chosen.iter().map(|&t| g[t] * g[t]).sum::<f64>().sqrt());
    let bound = bound_of(grad, whole.lambda_min);
    let lambda_max = whole.lambda_max.unwrap_or(f64::NAN);
    let network = NetworkReport {
        layers: chosen.iter().map(|t| t + 1).collect(),
        lambda_min: whole.lambda_min,
        s_min: whole.s_min(),
        lambda_max,
        condition_number: (whole.lambda_min > 0.0).then(|| lambda_max / whole.lambda_min),
        method: whole.method,
        reason: whole.reason,
        grad_norm: grad,
        bound: bound.map(|b| b.0),
        loss_over_bound: bound.map(|b| b.1),
    };
    let bound_note = (!bounds_hold && y.is_some()).then(|| {
        format!(
            "no loss bound from the trace eNTK: with c = {} outputs it is a sum of the full \
             eNTK's diagonal blocks, whose lambda_min bounds nothing; use the full form",
            mlp.outputs()
        )
    });
    Ok(MlpAnalysis {
        report: NtkReport {
            points_used: wanted,
            points_total: m_total,
            dim: mlp.dim(),
            widths: mlp.widths(),
            outputs: mlp.outputs(),
            ntk: ntk.form,
            ntk_size: factors.size(),
            loss,
            bound_note,
            layers,
            network,
            seconds: started.elapsed().as_secs_f64(),
        },
        paper,
    })
}

/// The residual r = f(X) - y (m x c) of a forward pass.
pub fn residual(acts: &Activations, y: &Matrix<f64>) -> Matrix<f64> {
    let mut r = acts.output.clone();
    r.as_mut_slice()
        .iter_mut()
        .zip(y.as_slice())
        .for_each(|(f, t)| *f -= t);
    r
}

/// ||grad_{W_l, b_l} L|| of every layer for the squared loss L = ||r||^2 / (2m), r = f - y
/// (m x c): backpropagation, delta_{L+1} = r / m, delta_l = 1[z_l > 0] o (delta_{l+1}
/// W_{l+1}), grad W_l = delta_l^T h_{l-1}, grad b_l = sum_i delta_l(x_i).
pub fn layer_gradient_norms(mlp: &Mlp, acts: &Activations, residual: &Matrix<f64>) -> Vec<f64> {
    layer_gradients(mlp, acts, residual)
        .iter()
        .map(|(w, b)| {
            let sq = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
            (sq(w.as_slice()) + b.as_deref().map_or(0.0, sq)).sqrt()
        })
        .collect()
}

/// The gradients (grad W_l, grad b_l) of the squared loss, input side first (see
/// [`layer_gradient_norms`]).
pub fn layer_gradients(
    mlp: &Mlp,
    acts: &Activations,
    residual: &Matrix<f64>,
) -> Vec<(Matrix<f64>, Option<Vec<f64>>)> {
    let m = residual.rows() as f64;
    let mut delta = residual.map(|r| r / m);
    let mut out = Vec::with_capacity(mlp.layers().len());
    for (t, layer) in mlp.layers().iter().enumerate().rev() {
        let h = &acts.inputs[t];
        let mut gw = Matrix::zeros(layer.width(), layer.inputs());
        gemm(&mut gw, false, delta.view(), Op::T, h.view(), Op::N, 1.0);
        let gb = layer.bias.as_ref().map(|_| {
            (0..delta.cols())
                .map(|k| (0..delta.rows()).map(|i| delta.row(i)[k]).sum())
                .collect()
        });
        out.push((gw, gb));
        if t > 0 {
            let mut below = Matrix::zeros(delta.rows(), layer.inputs());
            gemm(
                &mut below,
                false,
                delta.view(),
                Op::N,
                layer.weight.view(),
                Op::N,
                1.0,
            );
            for (d, &hv) in below.as_mut_slice().iter_mut().zip(h.as_slice()) {
                if hv <= 0.0 {
                    *d = 0.0;
                }
            }
            delta = below;
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
#[path = "mlp_analysis_tests.rs"]
mod tests;
