//! The empirical neural tangent kernel (eNTK) of a ReLU MLP ([`crate::mlp::Mlp`]), layer by
//! layer, without Jacobians.
//!
//! With h~_{l-1} = [h_{l-1}; 1] where layer l has a bias and g_l^(j)(x) = d f_j / d z_l
//! (g_{L+1}^(j) = e_j, g_l^(j) = 1[z_l > 0] o (W_{l+1}^T g_{l+1}^(j))), the block of the
//! eNTK that belongs to layer l's parameters is, for samples i, i' and outputs j, j',
//!
//! ```text
//! Theta_l[(i,j),(i',j')] = (h~_{l-1}(x_i) . h~_{l-1}(x_i')) (g_l^(j)(x_i) . g_l^(j')(x_i'))
//! ```
//!
//! a Hadamard product of two Gram matrices; the network's eNTK is Theta = sum_l Theta_l
//! (the output layer's block is (h~_L . h~_L') delta_jj'). The full form is (m c) x (m c),
//! row i c + j for sample i and output j; the trace form sums the diagonal output blocks,
//! sum_j Theta[(i,j),(i',j)] (m x m, what most papers report). Building Theta_l costs
//! O(m^2 (n_{l-1} + n_l c^2)) and O((m c)^2) memory; the Jacobian (m c x P) is never formed.
//!
//! For the paper's network (one hidden layer, no bias in it), Theta_1 = D^T D of
//! `feature_matrix` and is built there, with its popcount path; the trace form's Theta_1
//! is D^T D of one output with v_k = ||V_:k||.

use crate::data::Points;
use crate::error::{Error, Expected, Result};
use crate::limits::NtkSizes;
use crate::linalg::{
    add_hadamard_gram_lower, gemm, gram_lower, smallest_eigenvalue_psd_with_stats,
    symmetric_spectral_norm, symmetrize_from_lower, Cancel, Matrix, MatrixView, Op,
    SmallestEigenvalue,
};
use crate::mlp::{Activations, Mlp};
use crate::model::{Network, OutputLayer};

use super::feature_matrix::feature_gram;

/// Which eNTK: the full (m c) x (m c) matrix, or its trace over outputs (m x m).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NtkForm {
    /// Theta[(i,j),(i',j')], (m c) x (m c): the form the loss bound is about.
    #[default]
    Full,
    /// sum_j Theta[(i,j),(i',j)], m x m.
    Trace,
}

impl std::str::FromStr for NtkForm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "full" => Ok(Self::Full),
            "trace" => Ok(Self::Trace),
            _ => Err(Error::setting(
                "ntk",
                s,
                Expected::OneOf("full ((m c) x (m c)) or trace (m x m, summed over outputs)"),
            )),
        }
    }
}

impl std::fmt::Display for NtkForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Full => "full",
            Self::Trace => "trace",
        })
    }
}

impl NtkForm {
    /// Rows of the matrix for m points and c outputs: m c (full) or m (trace).
    pub fn size(self, points: usize, outputs: usize) -> usize {
        match self {
            Self::Full => points * outputs,
            Self::Trace => points,
        }
    }
}

/// The layers whose blocks are used: `chosen` (numbered from 1, input side first) checked
/// against the network's, sorted, as 0-based indices; `None`: every layer. Refuses 0, a
/// number above the layer count and repeats, naming `layers`.
pub fn select_layers(mlp: &Mlp, chosen: Option<&[usize]>) -> Result<Vec<usize>> {
    let count = mlp.layers().len();
    let Some(chosen) = chosen else {
        return Ok((0..count).collect());
    };
    if chosen.is_empty() {
        return Err(Error::config(
            "layers",
            "no layer chosen; layers are numbered 1 to the layer count",
        ));
    }
    let mut out = Vec::with_capacity(chosen.len());
    for &l in chosen {
        if l == 0 || l > count {
            return Err(Error::config(
                "layers",
                format!(
                    "layer {l}: the network has layers 1 to {count} (the output layer is {count})"
                ),
            ));
        }
        if out.contains(&(l - 1)) {
            return Err(Error::config(
                "layers",
                format!("layer {l} is chosen twice"),
            ));
        }
        out.push(l - 1);
    }
    out.sort_unstable();
    Ok(out)
}

/// What decides the memory of the eNTK of `mlp` in `form` ([`crate::limits::ntk_estimate`])
/// with `matrices` of its size held at once, and an eigenvalue computed when `eigenvalue`.
pub fn ntk_sizes(mlp: &Mlp, form: NtkForm, matrices: usize, eigenvalue: bool) -> NtkSizes {
    NtkSizes {
        widths: mlp.widths(),
        full: form == NtkForm::Full,
        matrices,
        eigenvalue,
        paper_block: mlp.depth() == 1 && mlp.layers()[0].bias.is_none(),
    }
}

/// How Theta_1 of the paper's network is built: through `feature_matrix` (the library's
/// route) or through the general Hadamard product (tests compare the two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Auto,
    General,
}

/// The factors of every block on m points: the forward pass's layer inputs h_{l-1}.
pub struct NtkFactors<'a> {
    mlp: &'a Mlp,
    x: &'a Matrix<f64>,
    acts: Activations,
    form: NtkForm,
    route: Route,
}

impl<'a> NtkFactors<'a> {
    /// The forward pass of `mlp` on the points `x` (m x d); errors name the points.
    pub fn new(mlp: &'a Mlp, x: &'a Points<'_>, form: NtkForm) -> Result<Self> {
        Ok(Self::with_activations(
            mlp,
            x,
            mlp.forward(x, x.name())?,
            form,
        ))
    }

    /// From the forward pass `acts` of `mlp` on `x`, already done.
    pub(crate) fn with_activations(
        mlp: &'a Mlp,
        x: &'a Matrix<f64>,
        acts: Activations,
        form: NtkForm,
    ) -> Self {
        debug_assert_eq!(acts.inputs.len(), mlp.layers().len());
        Self {
            mlp,
            x,
            acts,
            form,
            route: Route::Auto,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_route(mut self, route: Route) -> Self {
        self.route = route;
        self
    }

    /// The forward pass.
    pub fn activations(&self) -> &Activations {
        &self.acts
    }
    /// Points m.
    pub fn points(&self) -> usize {
        self.x.rows()
    }
    /// Rows of the eNTK: m c (full) or m (trace).
    pub fn size(&self) -> usize {
        self.form.size(self.points(), self.mlp.outputs())
    }

    /// A bound on the rank of Theta_S from the parameters P_l of its layers: sum_l P_l in
    /// the full form; in the trace form, a sum of c Grams of P_l-vectors, c P_l for a hidden
    /// layer and n_L (+1) = P_l / c for the output layer (whose block is c H~_L).
    fn rank_bound(&self, layers: &[usize]) -> usize {
        let (last, c) = (self.mlp.layers().len() - 1, self.mlp.outputs());
        layers
            .iter()
            .map(|&t| {
                let p = self.mlp.layers()[t].parameters();
                match (self.form, t == last) {
                    (NtkForm::Full, _) => p,
                    (NtkForm::Trace, true) => p / c,
                    (NtkForm::Trace, false) => p.saturating_mul(c),
                }
            })
            .fold(0usize, usize::saturating_add)
    }

    /// H~_t = h~_t(x_i) . h~_t(x_i') of layer t's input (0-based t), lower triangle, m x m.
    fn input_gram_lower(&self, t: usize) -> Matrix<f64> {
        let mut h = gram_lower(self.acts.inputs[t].view());
        if self.mlp.layers()[t].bias.is_some() {
            for i in 0..h.rows() {
                h.row_mut(i)[..=i].iter_mut().for_each(|v| *v += 1.0);
            }
        }
        h
    }

    /// Calls `visit(t, J_t)` for the layers t = P-1 down to `lowest` (0-based): J_t, m c x
    /// n_t, holds g_t^(j)(x_i) in row i c + j (`None` for the output layer, whose g is e_j).
    fn backward_top_down(
        &self,
        lowest: usize,
        mut visit: impl FnMut(usize, Option<&Matrix<f64>>) -> Result<()>,
    ) -> Result<()> {
        let layers = self.mlp.layers();
        let (p, c, m) = (layers.len(), self.mlp.outputs(), self.points());
        visit(p - 1, None)?;
        if p == 1 || lowest == p - 1 {
            return Ok(());
        }
        let mask = |j: &mut Matrix<f64>, t: usize| {
            let h = &self.acts.inputs[t + 1];
            for i in 0..m {
                for row in i * c..(i + 1) * c {
                    for (g, &hv) in j.row_mut(row).iter_mut().zip(h.row(i)) {
                        if hv <= 0.0 {
                            *g = 0.0;
                        }
                    }
                }
            }
        };
        let out = &layers[p - 1].weight;
        let mut j = Matrix::zeros(m * c, out.cols());
        for i in 0..m {
            for o in 0..c {
                j.row_mut(i * c + o).copy_from_slice(out.row(o));
            }
        }
        mask(&mut j, p - 2);
        visit(p - 2, Some(&j))?;
        for t in (lowest..p - 2).rev() {
            let w = &layers[t + 1].weight;
            let mut next = Matrix::zeros(m * c, w.cols());
            gemm(&mut next, false, j.view(), Op::N, w.view(), Op::N, 1.0);
            mask(&mut next, t);
            j = next;
            visit(t, Some(&j))?;
        }
        Ok(())
    }

    /// Adds Theta_t (layer t, 0-based, with its backward vectors `jt`) to the lower triangle
    /// of `dst` (size x size).
    fn add_block_lower(
        &self,
        dst: &mut Matrix<f64>,
        t: usize,
        jt: Option<&Matrix<f64>>,
        cancel: Cancel<'_>,
    ) -> Result<()> {
        let (m, c) = (self.points(), self.mlp.outputs());
        if let Some(net) = self.paper_first_layer(t) {
            let g = feature_gram(&net, self.x, cancel)?;
            for i in 0..g.rows() {
                for (d, v) in dst.row_mut(i)[..=i].iter_mut().zip(g.row(i)) {
                    *d += v;
                }
            }
            return Ok(());
        }
        let h = self.input_gram_lower(t);
        cancel.check()?;
        match (jt, self.form) {
            (None, NtkForm::Full) => {
                for i in 0..m {
                    for ip in 0..=i {
                        let v = h.row(i)[ip];
                        for o in 0..c {
                            dst.row_mut(i * c + o)[ip * c + o] += v;
                        }
                    }
                }
            }
            (None, NtkForm::Trace) => {
                for i in 0..m {
                    for (d, v) in dst.row_mut(i)[..=i].iter_mut().zip(h.row(i)) {
                        *d += c as f64 * v;
                    }
                }
            }
            (Some(j), NtkForm::Full) => add_hadamard_gram_lower(dst, &h, j.view(), c, cancel)?,
            (Some(j), NtkForm::Trace) => {
                // Rows i c .. i c + c of J_t, side by side: row i of an m x (c n_t) matrix
                // whose Gram is sum_j g^(j)(x_i) . g^(j)(x_i').
                let wide = MatrixView::from_slice(m, c * j.cols(), j.as_slice());
                add_hadamard_gram_lower(dst, &h, wide, 1, cancel)?
            }
        }
        Ok(())
    }

    /// The paper's network f(x) = V relu(W x) whose D^T D is Theta_1 here, when layer `t`
    /// is the first of a one-hidden-layer network without a bias in it (the output bias
    /// does not enter Theta_1): V itself (full form), or the column norms ||V_:k|| (trace).
    fn paper_first_layer(&self, t: usize) -> Option<Network<f64>> {
        let layers = self.mlp.layers();
        if self.route == Route::General || t != 0 || layers.len() != 2 || layers[0].bias.is_some() {
            return None;
        }
        let v = &layers[1].weight;
        let v = match self.form {
            NtkForm::Full => v.clone(),
            NtkForm::Trace => Matrix::from_vec(
                1,
                v.cols(),
                (0..v.cols())
                    .map(|k| {
                        (0..v.rows())
                            .map(|o| v.row(o)[k].powi(2))
                            .sum::<f64>()
                            .sqrt()
                    })
                    .collect(),
            ),
        };
        Some(Network {
            w: layers[0].weight.clone(),
            v,
            output_layer: OutputLayer::Trained,
        })
    }

    /// Theta_S = sum of the blocks of `layers` (0-based), both triangles. `cancel` is asked
    /// between the blocks and between groups of rows of each (Python's Ctrl-C).
    pub fn sum(&self, layers: &[usize], cancel: Cancel<'_>) -> Result<Matrix<f64>> {
        let size = self.size();
        let mut dst = Matrix::zeros(size, size);
        let lowest = layers.iter().copied().min().unwrap_or(0);
        self.backward_top_down(lowest, |t, jt| {
            if layers.contains(&t) {
                self.add_block_lower(&mut dst, t, jt, cancel)?;
            }
            Ok(())
        })?;
        symmetrize_from_lower(&mut dst);
        Ok(dst)
    }

    /// Every layer's block Theta_l, input side first, both triangles (`cancel` as in
    /// [`Self::sum`]).
    pub fn blocks(&self, cancel: Cancel<'_>) -> Result<Vec<Matrix<f64>>> {
        let size = self.size();
        let mut out = Vec::new();
        self.backward_top_down(0, |t, jt| {
            let mut dst = Matrix::zeros(size, size);
            self.add_block_lower(&mut dst, t, jt, cancel)?;
            symmetrize_from_lower(&mut dst);
            out.push(dst);
            Ok(())
        })?;
        out.reverse();
        Ok(out)
    }

    /// lambda_min of Theta_S (`layers` 0-based), and lambda_max when `with_max`, with one
    /// Gram in memory: 0 without a Gram where the parameters bound the rank below the size;
    /// the output layer alone from H~_L (Theta_{L+1} = H~_L (x) I_c, c H~_L for the trace).
    /// `cancel` is asked while the Gram is built and between the eigensolver's steps.
    pub fn spectrum(
        &self,
        layers: &[usize],
        with_max: bool,
        cancel: Cancel<'_>,
    ) -> Result<NtkSpectrum> {
        let (size, c) = (self.size(), self.mlp.outputs());
        let rank = self.rank_bound(layers);
        let output_only = layers == [self.mlp.layers().len() - 1];
        let rank_deficient = rank < size;
        if rank_deficient && !with_max {
            return Ok(NtkSpectrum::rank(rank, size, None));
        }
        let (matrix, scale) = if output_only {
            let mut h = self.input_gram_lower(layers[0]);
            symmetrize_from_lower(&mut h);
            let scale = if self.form == NtkForm::Trace {
                c as f64
            } else {
                1.0
            };
            (h, scale)
        } else {
            (self.sum(layers, cancel)?, 1.0)
        };
        let lambda_max = with_max.then(|| scale * symmetric_spectral_norm(&matrix));
        if rank_deficient {
            return Ok(NtkSpectrum::rank(rank, size, lambda_max));
        }
        let (eigenvalue, _) = smallest_eigenvalue_psd_with_stats(matrix, cancel)?;
        Ok(NtkSpectrum::from_eigenvalue(
            eigenvalue, scale, lambda_max, size,
        ))
    }
}

/// lambda_min (and lambda_max) of an eNTK block or sum, with how it was obtained.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NtkSpectrum {
    /// The smallest eigenvalue (0 when the rank is too low or the Gram numerically
    /// singular; NaN when it has non-finite entries).
    pub lambda_min: f64,
    /// The largest eigenvalue, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda_max: Option<f64>,
    /// `cholesky-shift-invert`, `dense`, `rank`, `singular-gram` or `non-finite` (as s_m(D)).
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Rows of the matrix.
    pub size: usize,
}

impl NtkSpectrum {
    fn rank(rank: usize, size: usize, lambda_max: Option<f64>) -> Self {
        Self {
            lambda_min: 0.0,
            lambda_max,
            method: "rank",
            reason: Some(format!(
                "its parameters bound the rank by {rank}, below its size {size}"
            )),
            size,
        }
    }

    fn from_eigenvalue(
        e: SmallestEigenvalue,
        scale: f64,
        lambda_max: Option<f64>,
        size: usize,
    ) -> Self {
        let (lambda_min, method, reason) = match e {
            SmallestEigenvalue::Value(l) | SmallestEigenvalue::DenseValue(l) => {
                (scale * l.max(0.0), e.method(), None)
            }
            SmallestEigenvalue::NumericallySingular => (
                0.0,
                "singular-gram",
                Some(
                    "the Gram matrix is numerically singular (its Cholesky factorisation failed)"
                        .into(),
                ),
            ),
            SmallestEigenvalue::NonFinite => (
                f64::NAN,
                "non-finite",
                Some("the Gram matrix has NaN or infinite entries".into()),
            ),
        };
        Self {
            lambda_min,
            lambda_max,
            method,
            reason,
            size,
        }
    }

    /// sqrt(lambda_min): the smallest singular value of the block's Jacobian (s_m(D) for
    /// the paper's first layer).
    pub fn s_min(&self) -> f64 {
        self.lambda_min.max(0.0).sqrt()
    }
}

#[cfg(test)]
#[path = "ntk_tests.rs"]
pub(crate) mod tests;
