//! Losses and the backward pass. Squared loss L = (1/(2m)) sum_i ||y_i - f(x_i)||^2
//! (PAPER.md section 1; one-hot targets for classes) and softmax cross-entropy, with the
//! exact gradients dL/dW and dL/dV computed by matrix products over a whole batch.

use std::str::FromStr;

use crate::error::{Error, Expected};
use crate::linalg::{gemm, Matrix, MatrixView, Op, Real};

use super::network::{relu_mask, set_shape, Network, OutputLayer};

/// Below this value of f_label - max_j f_j, the cross-entropy is taken in the log domain:
/// exp(-70) / 10^5 classes is still a normal f32, so above it p_label is accurate.
const LOG_NORMAL_FLOOR: f64 = -70.0;

/// The training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// (1/2) ||y - f(x)||^2 per sample, averaged (one-hot y for classes).
    Squared,
    /// -log softmax(f(x))_y per sample, averaged (classes only).
    CrossEntropy,
}

impl FromStr for Loss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "squared" | "mse" => Ok(Self::Squared),
            "cross-entropy" | "ce" => Ok(Self::CrossEntropy),
            _ => Err(Error::setting(
                "loss",
                s,
                Expected::OneOf("squared or cross-entropy"),
            )),
        }
    }
}

impl Loss {
    /// The default for these targets: cross-entropy for classes, squared for real values.
    pub fn default_for(targets: &crate::data::Targets) -> Self {
        match targets {
            crate::data::Targets::Classes { .. } => Self::CrossEntropy,
            crate::data::Targets::Scalar(_) => Self::Squared,
        }
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Squared => "squared",
            Self::CrossEntropy => "cross-entropy",
        })
    }
}

/// The targets of a batch, in the network's precision.
#[derive(Clone, Copy, Debug)]
pub enum BatchTargets<'a, T> {
    /// Real values, one per output: b x c, row-major (c = 1 for a data set's scalar
    /// targets).
    Real(&'a [T]),
    /// A class index per sample.
    Classes(&'a [u32]),
}

/// Gradients with the network's shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradient<T> {
    pub w: Matrix<T>,
    pub v: Matrix<T>,
}

impl<T: Real> Gradient<T> {
    pub fn zeros_like(net: &Network<T>) -> Self {
        Self {
            w: Matrix::zeros(net.w.rows(), net.w.cols()),
            v: Matrix::zeros(net.v.rows(), net.v.cols()),
        }
    }
    pub fn clear(&mut self) {
        self.w.as_mut_slice().fill(T::from_f64(0.0));
        self.v.as_mut_slice().fill(T::from_f64(0.0));
    }
}

/// Reusable buffers of the forward and backward pass.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    hidden: Matrix<T>,
    out: Matrix<T>,
    d_hidden: Matrix<T>,
}

impl<T: Real> Default for Workspace<T> {
    fn default() -> Self {
        Self {
            hidden: Matrix::zeros(0, 0),
            out: Matrix::zeros(0, 0),
            d_hidden: Matrix::zeros(0, 0),
        }
    }
}

/// Sums over a batch: loss and misclassified samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchTotals {
    /// Sum of the per-sample losses (divide by the sample count for the mean).
    pub loss_sum: f64,
    /// Samples whose arg-max output is not their label (classes only).
    pub errors: usize,
}

/// Forward pass on the batch `x`; if `grad` is given, adds `scale` times the gradient of
/// the summed per-sample loss to it (so `scale = 1/m` over chunks of an m-sample set gives
/// the gradient of the mean loss). The gradient of V is only formed when V is trained.
pub fn loss_and_gradient<T: Real>(
    net: &Network<T>,
    x: MatrixView<'_, T>,
    targets: BatchTargets<'_, T>,
    loss: Loss,
    grad: Option<(&mut Gradient<T>, f64)>,
    ws: &mut Workspace<T>,
) -> BatchTotals {
    net.forward(x, &mut ws.hidden, &mut ws.out);
    let c = net.outputs();
    let b = x.rows();
    let totals = output_gradient(&mut ws.out, targets, loss);
    debug_assert_eq!(ws.out.cols(), c);
    let Some((grad, scale)) = grad else {
        return totals;
    };
    let scale = T::from_f64(scale);
    // dV = scale * dF^T H
    if net.output_layer == OutputLayer::Trained {
        gemm(
            &mut grad.v,
            true,
            ws.out.view(),
            Op::T,
            ws.hidden.view(),
            Op::N,
            scale,
        );
    }
    // dH = (dF V) o 1[H > 0]; dW = scale * dH^T X
    set_shape(&mut ws.d_hidden, b, net.width());
    gemm(
        &mut ws.d_hidden,
        false,
        ws.out.view(),
        Op::N,
        net.v.view(),
        Op::N,
        T::from_f64(1.0),
    );
    relu_mask(ws.d_hidden.as_mut_slice(), ws.hidden.as_slice());
    gemm(
        &mut grad.w,
        true,
        ws.d_hidden.view(),
        Op::T,
        x,
        Op::N,
        scale,
    );
    totals
}

/// Replaces the outputs `out` (one row per sample) by dLoss_i/df_i, the gradient of each
/// sample's loss (unscaled), and returns the batch's summed loss and misclassifications.
pub(super) fn output_gradient<T: Real>(
    out: &mut Matrix<T>,
    targets: BatchTargets<'_, T>,
    loss: Loss,
) -> BatchTotals {
    let b = out.rows();
    let mut totals = BatchTotals::default();
    // `out` becomes dLoss_i/df_i (unscaled), row by row.
    for i in 0..b {
        let f = out.row_mut(i);
        match (targets, loss) {
            (BatchTargets::Real(y), _) => {
                let c = f.len();
                for (fj, &yj) in f.iter_mut().zip(&y[i * c..(i + 1) * c]) {
                    let r = *fj - yj;
                    totals.loss_sum += 0.5 * r.to_f64() * r.to_f64();
                    *fj = r;
                }
            }
            (BatchTargets::Classes(labels), Loss::Squared) => {
                let label = labels[i] as usize;
                if argmax(f) != label {
                    totals.errors += 1;
                }
                let mut s = 0.0;
                for (j, fj) in f.iter_mut().enumerate() {
                    let r = *fj - T::from_f64(if j == label { 1.0 } else { 0.0 });
                    s += r.to_f64() * r.to_f64();
                    *fj = r;
                }
                totals.loss_sum += 0.5 * s;
            }
            (BatchTargets::Classes(labels), Loss::CrossEntropy) => {
                let label = labels[i] as usize;
                if argmax(f) != label {
                    totals.errors += 1;
                }
                let max = f.iter().copied().fold(f[0], |a, b| a.max(b));
                let shifted_label = (f[label] - max).to_f64();
                let mut z = T::from_f64(0.0);
                for fj in f.iter_mut() {
                    *fj = (*fj - max).exp();
                    z += *fj;
                }
                // loss = -log p_label = log z - (f_label - max). While exp(f_label - max) is
                // a normal number (also in f32), -log(p_label) from p itself; further down,
                // where p_label would round to a subnormal or to 0, the log-domain form.
                totals.loss_sum += if shifted_label > LOG_NORMAL_FLOOR {
                    -(f[label] / z).to_f64().ln()
                } else {
                    z.to_f64().ln() - shifted_label
                };
                for (j, pj) in f.iter_mut().enumerate() {
                    *pj = *pj / z - T::from_f64(if j == label { 1.0 } else { 0.0 });
                }
            }
        }
    }
    totals
}

fn argmax<T: Real>(f: &[T]) -> usize {
    let mut best = 0;
    for (j, v) in f.iter().enumerate() {
        if *v > f[best] {
            best = j;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{SeededRng, Stream};

    fn mean_loss(net: &Network<f64>, x: &Matrix<f64>, t: BatchTargets<'_, f64>, loss: Loss) -> f64 {
        let mut ws = Workspace::default();
        loss_and_gradient(net, x.view(), t, loss, None, &mut ws).loss_sum / x.rows() as f64
    }

    /// Central finite differences against the analytic gradient, for every entry of W and V.
    fn check(outputs: usize, output_layer: OutputLayer, loss: Loss) {
        let (d, n, m) = (4, 5, 7);
        let mut rng = SeededRng::new(11, Stream::Init);
        let mut net: Network<f64> = Network::init(d, n, outputs, output_layer, 1.0, &mut rng);
        let x = Matrix::from_vec(m, d, (0..m * d).map(|_| rng.normal()).collect());
        let ys: Vec<f64> = (0..m).map(|_| rng.normal()).collect();
        let labels: Vec<u32> = (0..m).map(|i| (i % outputs) as u32).collect();
        let t = if outputs == 1 {
            BatchTargets::Real(&ys)
        } else {
            BatchTargets::Classes(&labels)
        };
        let mut g = Gradient::zeros_like(&net);
        let mut ws = Workspace::default();
        loss_and_gradient(
            &net,
            x.view(),
            t,
            loss,
            Some((&mut g, 1.0 / m as f64)),
            &mut ws,
        );
        let h = 1e-6;
        for which in 0..2 {
            let len = if which == 0 {
                net.w.as_slice().len()
            } else {
                net.v.as_slice().len()
            };
            for k in 0..len {
                fn slot(net: &mut Network<f64>, which: usize, k: usize) -> &mut f64 {
                    if which == 0 {
                        &mut net.w.as_mut_slice()[k]
                    } else {
                        &mut net.v.as_mut_slice()[k]
                    }
                }
                let orig = *slot(&mut net, which, k);
                *slot(&mut net, which, k) = orig + h;
                let lp = mean_loss(&net, &x, t, loss);
                *slot(&mut net, which, k) = orig - h;
                let lm = mean_loss(&net, &x, t, loss);
                *slot(&mut net, which, k) = orig;
                let fd = (lp - lm) / (2.0 * h);
                let an = if which == 0 {
                    g.w.as_slice()[k]
                } else {
                    g.v.as_slice()[k]
                };
                let expect = if which == 1 && output_layer == OutputLayer::Fixed {
                    0.0
                } else {
                    fd
                };
                assert!(
                    (an - expect).abs() < 1e-6 * (1.0 + fd.abs()),
                    "{loss:?} {output_layer:?} c={outputs} param {which}/{k}: analytic {an}, finite difference {fd}"
                );
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        check(1, OutputLayer::Fixed, Loss::Squared);
        check(1, OutputLayer::Trained, Loss::Squared);
        check(3, OutputLayer::Fixed, Loss::Squared);
        check(3, OutputLayer::Trained, Loss::Squared);
        check(3, OutputLayer::Fixed, Loss::CrossEntropy);
        check(3, OutputLayer::Trained, Loss::CrossEntropy);
    }

    #[test]
    fn gradient_identity_of_the_paper() {
        // vec(grad_W L) = -(1/m) D r with D's column i stacking v_k 1[w_k.x_i > 0] x_i.
        let (d, n, m) = (3, 4, 6);
        let mut rng = SeededRng::new(2, Stream::Init);
        let net: Network<f64> = Network::init(d, n, 1, OutputLayer::Fixed, 1.0, &mut rng);
        let x = Matrix::from_vec(m, d, (0..m * d).map(|_| rng.normal()).collect());
        let y: Vec<f64> = (0..m).map(|_| rng.normal()).collect();
        let f = net.predict(x.view());
        let mut g = Gradient::zeros_like(&net);
        loss_and_gradient(
            &net,
            x.view(),
            BatchTargets::Real(&y),
            Loss::Squared,
            Some((&mut g, 1.0 / m as f64)),
            &mut Workspace::default(),
        );
        for k in 0..n {
            for a in 0..d {
                let dr: f64 = (0..m)
                    .map(|i| {
                        let pre: f64 = net.w.row(k).iter().zip(x.row(i)).map(|(p, q)| p * q).sum();
                        let active = if pre > 0.0 { 1.0 } else { 0.0 };
                        net.v.as_slice()[k] * active * x.row(i)[a] * (y[i] - f.row(i)[0])
                    })
                    .sum();
                assert!((g.w.row(k)[a] + dr / m as f64).abs() < 1e-12);
            }
        }
    }

    /// -log softmax(f)_label against log-sum-exp written out by hand, for margins where
    /// p_label is ordinary, subnormal or below f64's range (the loss was floored at
    /// -ln(f64::MIN_POSITIVE) = 708.4 before), in f64 and f32.
    #[test]
    fn cross_entropy_of_large_margins_is_exact() {
        for margin in [1.0, 69.0, 71.0, 500.0, 745.0, 1000.0, 1e4] {
            // Outputs (0, -margin, -margin - 1), label 1: log(1 + e^-margin + e^-(margin+1)) + margin.
            let want = margin + (1.0 + (-margin).exp() + (-margin - 1.0).exp()).ln();
            let f = [0.0, -margin, -margin - 1.0];
            let mut out = Matrix::from_vec(1, 3, f.to_vec());
            let got = output_gradient(&mut out, BatchTargets::Classes(&[1]), Loss::CrossEntropy);
            assert!(
                (got.loss_sum - want).abs() <= 1e-12 * want,
                "{margin}: {got:?} vs {want}"
            );
            let mut out32 = Matrix::from_vec(1, 3, f.map(|v| v as f32).to_vec());
            let got = output_gradient(&mut out32, BatchTargets::Classes(&[1]), Loss::CrossEntropy);
            assert!(
                (got.loss_sum - want).abs() <= 1e-6 * want,
                "f32 {margin}: {got:?} vs {want}"
            );
            assert!(out.as_slice().iter().all(|g| g.is_finite()));
        }
    }

    #[test]
    fn cross_entropy_of_uniform_outputs_is_log_c() {
        let net = Network {
            w: Matrix::from_vec(1, 2, vec![0.0, 0.0]),
            v: Matrix::from_vec(4, 1, vec![0.0; 4]),
            output_layer: OutputLayer::Trained,
        };
        let x = Matrix::from_vec(1, 2, vec![1.0, 0.0]);
        let l = mean_loss(&net, &x, BatchTargets::Classes(&[2]), Loss::CrossEntropy);
        assert!((l - 4f64.ln()).abs() < 1e-12);
    }
}
