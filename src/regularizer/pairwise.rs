//! The directional regularisers as functions of the cosines c_kl = u_k . u_l of the unit
//! rows: R = sum over unordered pairs of psi(c_kl) (+ constants), so that
//! dR/du_k = sum_l psi'(c_kl) u_l and, projected onto the tangent space of the row,
//! dR/dw_k = (1/||w_k||) (sum_l S_kl u_l - (sum_l S_kl c_kl) u_k) with S_kl = psi'(c_kl):
//! one Gram product U U^T for the cosines and one product S U for the gradient.

use std::f64::consts::PI;

use crate::linalg::{gemm, Matrix, Op, Real};

use super::RegularizerKind;

/// Pairs with sin(theta) below this contribute no gradient (their direction of change
/// is undefined; for `discrepancy` the dropped term has norm at most 1/(pi n^2)).
pub const SIN_THRESHOLD: f64 = 1e-6;
/// `mhe` clamps pair distances below this (identical rows would have infinite energy).
pub const MIN_DISTANCE: f64 = 1e-3;

/// Value, and for each unordered pair the derivative psi'(c), of one regulariser.
fn pair_terms(kind: RegularizerKind, c: &Matrix<f64>) -> (f64, Matrix<f64>) {
    let n = c.rows();
    let nf = n as f64;
    let mut s = Matrix::zeros(n, n);
    let angle = |c: f64| {
        let sin = ((1.0 - c) * (1.0 + c)).max(0.0).sqrt();
        (sin.atan2(c), sin)
    };
    let mut value = 0.0;
    match kind {
        RegularizerKind::Discrepancy => {
            // (1/n^2) sum_{k,l} ((pi - theta)/(2 pi))^2; the n diagonal terms are 1/4 each.
            value += nf * 0.25;
            for k in 0..n {
                for l in 0..k {
                    let (theta, sin) = angle(c.row(k)[l]);
                    value += 2.0 * ((PI - theta) / (2.0 * PI)).powi(2);
                    if sin > SIN_THRESHOLD {
                        let d = (PI - theta) / (PI * PI * sin);
                        s.row_mut(k)[l] = d;
                        s.row_mut(l)[k] = d;
                    }
                }
            }
            value /= nf * nf;
            for v in s.as_mut_slice() {
                *v /= nf * nf;
            }
        }
        RegularizerKind::Mhe { power, angular } => {
            let pairs = (nf * (nf - 1.0)).max(1.0);
            let f = |z: f64| {
                if power == 0 {
                    -z.ln()
                } else {
                    z.powi(-(power as i32))
                }
            };
            let df = |z: f64| {
                if power == 0 {
                    -1.0 / z
                } else {
                    -(power as f64) * z.powi(-(power as i32) - 1)
                }
            };
            for k in 0..n {
                for l in 0..k {
                    let ck = c.row(k)[l];
                    let (theta, sin) = angle(ck);
                    // z and dz/dc
                    let (z, dz) = if angular {
                        (
                            theta / PI,
                            if sin > SIN_THRESHOLD {
                                -1.0 / (PI * sin)
                            } else {
                                0.0
                            },
                        )
                    } else {
                        let z = (2.0 - 2.0 * ck).max(0.0).sqrt();
                        (z, if z > 0.0 { -1.0 / z } else { 0.0 })
                    };
                    let clamped = z < MIN_DISTANCE;
                    value += 2.0 * f(z.max(MIN_DISTANCE)) / pairs;
                    if !clamped {
                        let d = 2.0 * df(z) * dz / pairs;
                        s.row_mut(k)[l] = d;
                        s.row_mut(l)[k] = d;
                    }
                }
            }
        }
        RegularizerKind::Mma => {
            for k in 0..n {
                let nearest = (0..n)
                    .filter(|&l| l != k)
                    .max_by(|&a, &b| c.row(k)[a].total_cmp(&c.row(k)[b]));
                let Some(l) = nearest else { continue };
                let (theta, sin) = angle(c.row(k)[l]);
                value -= theta / nf;
                if sin > SIN_THRESHOLD {
                    // d(-theta/n)/dc = 1/(n sin theta), on the pair (k, l).
                    let d = 1.0 / (nf * sin);
                    s.row_mut(k)[l] += d;
                    s.row_mut(l)[k] += d;
                }
            }
        }
        RegularizerKind::Orthogonal => {
            for k in 0..n {
                for l in 0..k {
                    let ck = c.row(k)[l];
                    value += 2.0 * ck * ck;
                    s.row_mut(k)[l] = 4.0 * ck;
                    s.row_mut(l)[k] = 4.0 * ck;
                }
            }
        }
        RegularizerKind::WeightDecay => unreachable!("weight decay is not directional"),
    }
    (value, s)
}

/// A directional regulariser's value, and `grad += scale * dR/dW`.
pub(super) fn directional<T: Real>(
    kind: RegularizerKind,
    w: &Matrix<T>,
    grad: Option<(&mut Matrix<T>, f64)>,
) -> f64 {
    let (n, d) = (w.rows(), w.cols());
    // Unit rows of the rows that have a direction.
    let mut kept = Vec::with_capacity(n);
    let mut norms = Vec::with_capacity(n);
    let mut u = Vec::with_capacity(n * d);
    for k in 0..n {
        let norm = crate::linalg::norm(w.row(k));
        if norm > 0.0 && norm.is_finite() {
            kept.push(k);
            norms.push(norm);
            u.extend(w.row(k).iter().map(|v| T::from_f64(v.to_f64() / norm)));
        }
    }
    let m = kept.len();
    if m == 0 {
        return 0.0;
    }
    let u = Matrix::from_vec(m, d, u);
    let mut c = Matrix::zeros(m, m);
    gemm(
        &mut c,
        false,
        u.view(),
        Op::N,
        u.view(),
        Op::T,
        T::from_f64(1.0),
    );
    let c64 = c.map(|v| v.to_f64().clamp(-1.0, 1.0));
    let (value, s) = pair_terms(kind, &c64);
    if let Some((g, scale)) = grad {
        let s_t = s.map(|v| T::from_f64(*v));
        let mut su = Matrix::zeros(m, d);
        gemm(
            &mut su,
            false,
            s_t.view(),
            Op::N,
            u.view(),
            Op::N,
            T::from_f64(1.0),
        );
        for (i, &k) in kept.iter().enumerate() {
            let along: f64 = s.row(i).iter().zip(c64.row(i)).map(|(a, b)| a * b).sum();
            let factor = scale / norms[i];
            let (along, factor) = (T::from_f64(along), T::from_f64(factor));
            for ((gv, sv), uv) in g.row_mut(k).iter_mut().zip(su.row(i)).zip(u.row(i)) {
                *gv += factor * (*sv - along * *uv);
            }
        }
    }
    value
}
