//! Tests of the extended feature matrix: exact activation signs from the f32 product, the
//! Gram form against the explicit D, rank and antipodal cases, the gradient identity.

use super::*;
use crate::linalg::singular_values;
use crate::model::OutputLayer;
use crate::rng::{SeededRng, Stream};

fn sphere_points(m: usize, d: usize, seed: u64) -> Matrix<f64> {
    let mut rng = SeededRng::new(seed, Stream::Data);
    Matrix::from_vec(m, d, (0..m).flat_map(|_| rng.unit_vector(d)).collect())
}

fn network(d: usize, n: usize, c: usize, layer: OutputLayer, seed: u64) -> Network<f64> {
    Network::init(d, n, c, layer, 1.0, &mut SeededRng::new(seed, Stream::Init))
}

/// Units placed within f32 rounding of the points' hyperplanes: w_k = u_k + e_k x_i with
/// u_k orthogonal to x_i and |e_k| from 1e-6 down to 0, so that w_k . x_i = e_k. An f32
/// product alone gets many of these activations wrong; the corrected one gets every
/// activation of the f64 dot product, and the random entries too.
#[test]
fn f32_activation_patterns_keep_every_f64_sign() {
    let (d, m) = (784, 40);
    let x = sphere_points(m, d, 4);
    let mut rng = SeededRng::new(9, Stream::Init);
    let offsets = [1e-6, -1e-6, 3e-8, -3e-8, 1e-12, -1e-12, 0.0];
    let mut w = Vec::new();
    for i in 0..m {
        let xi = x.row(i);
        for &e in &offsets {
            let mut u: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
            let along: f64 = u.iter().zip(xi).map(|(a, b)| a * b).sum();
            for (uj, xj) in u.iter_mut().zip(xi) {
                *uj += (e - along) * xj;
            }
            w.extend(u);
        }
    }
    let w = Matrix::from_vec(m * offsets.len(), d, w);
    let pattern = packed_activation_pattern(&x, &w);
    assert_eq!(pattern.words, w.rows().div_ceil(64));
    let x32 = x.map(|&v| v as f32);
    let w32 = w.map(|&v| v as f32);
    let mut plain32 = Matrix::<f32>::zeros(m, w.rows());
    gemm(
        &mut plain32,
        false,
        x32.view(),
        Op::N,
        w32.view(),
        Op::T,
        1.0,
    );
    let mut plain_wrong = 0;
    for i in 0..m {
        for k in 0..w.rows() {
            let dot: f64 = x.row(i).iter().zip(w.row(k)).map(|(a, b)| a * b).sum();
            let want = dot > 0.0;
            assert_eq!(pattern.active(i, k), want, "point {i}, unit {k}");
            plain_wrong += usize::from((plain32.row(i)[k] > 0.0) != want);
        }
    }
    assert!(
        plain_wrong >= m,
        "only {plain_wrong} f32 activations were wrong: the test is too easy"
    );
    // Out-of-range values take the f64 product.
    let mut huge = w.clone();
    huge.row_mut(0)[0] = 1e30;
    let pattern = packed_activation_pattern(&x, &huge);
    for i in 0..m {
        let dot: f64 = x.row(i).iter().zip(huge.row(0)).map(|(a, b)| a * b).sum();
        assert_eq!(pattern.active(i, 0), dot > 0.0, "point {i}");
    }
}

#[test]
fn gram_form_equals_explicit_svd() {
    for (d, n, m, c, layer) in [
        (3, 8, 10, 1, OutputLayer::Fixed),
        (4, 10, 12, 1, OutputLayer::Trained),
        (5, 6, 7, 3, OutputLayer::Trained),
        // Larger than the survey's basis: the shift-and-invert path.
        (5, 40, 150, 1, OutputLayer::Fixed),
        (6, 50, 200, 1, OutputLayer::Trained),
        // Activation patterns of three 64-unit words, counted by popcount.
        (4, 130, 100, 1, OutputLayer::Fixed),
    ] {
        let net = network(d, n, c, layer, (d * n) as u64);
        let x = sphere_points(m, d, m as u64);
        let dm = explicit_feature_matrix(&net, &x);
        let svd = singular_values(&dm).unwrap();
        let want = if d * n >= m * c { svd[m * c - 1] } else { 0.0 };
        let got = smallest_singular_value(&net, &x, Cancel::NEVER).unwrap();
        assert!(
            (got.value - want).abs() < 1e-7 * svd[0],
            "d={d} n={n} m={m} c={c}: {} vs {want}",
            got.value
        );
        if m > 96 {
            assert_eq!(got.method, "cholesky-shift-invert");
        }
        // The Gram form itself matches D^T D.
        let mut dtd = Matrix::zeros(m * c, m * c);
        gemm(&mut dtd, false, dm.view(), Op::T, dm.view(), Op::N, 1.0);
        let g = feature_gram(&net, &x, Cancel::NEVER).unwrap();
        for (a, b) in g.as_slice().iter().zip(dtd.as_slice()) {
            assert!((a - b).abs() < 1e-10);
        }
    }
}

#[test]
fn too_few_rows_give_zero_with_the_reason() {
    let net = network(3, 2, 1, OutputLayer::Fixed, 1);
    let s = smallest_singular_value(&net, &sphere_points(10, 3, 2), Cancel::NEVER).unwrap();
    assert_eq!((s.value, s.method), (0.0, "rank"));
    assert!(s.reason.unwrap().contains("d*n = 6 rows < m*c = 10"));
}

#[test]
fn more_than_d_antipodal_pairs_give_zero_for_every_network() {
    let d = 3;
    let half = sphere_points(d + 1, d, 9);
    let mut pts = half.as_slice().to_vec();
    pts.extend(half.as_slice().iter().map(|v| -v));
    let x = Matrix::from_vec(2 * (d + 1), d, pts);
    for seed in 0..5 {
        let net = network(d, 40, 1, OutputLayer::Fixed, seed);
        let s = smallest_singular_value(&net, &x, Cancel::NEVER).unwrap();
        let scale = singular_values(&explicit_feature_matrix(&net, &x)).unwrap()[0];
        assert!(
            s.value < 1e-6 * scale,
            "seed {seed}: s = {} ({})",
            s.value,
            s.method
        );
    }
}

/// The loss and ||grad_W L|| of the shared forward and backward pass are the theory's:
/// L = ||y - f||^2 / (2m) with f from the definition, and ||grad_W L|| = (1/m) ||D r|| (the
/// gradient identity vec(grad_W L) = -(1/m) D r of PAPER.md section 2) with D built
/// explicitly, for one output and for several.
#[test]
fn loss_and_gradient_norm_follow_the_gradient_identity() {
    for (d, n, m, c, layer) in [
        (4, 7, 20, 1, OutputLayer::Fixed),
        (3, 5, 9, 2, OutputLayer::Trained),
    ] {
        let net = network(d, n, c, layer, 3);
        let x = sphere_points(m, d, 4);
        let y = Matrix::from_vec(m, c, (0..m * c).map(|i| (i as f64).sin()).collect());
        let (loss, grad_norm) = squared_loss_and_gradient_norm(&net, &x, &y);
        // r = y - f(X), f by its definition; r's entry (i, j) is D's column i * c + j.
        let mut r = Vec::new();
        for i in 0..m {
            for j in 0..c {
                let f: f64 = (0..n)
                    .map(|k| {
                        let pre: f64 = net.w.row(k).iter().zip(x.row(i)).map(|(a, b)| a * b).sum();
                        net.v.row(j)[k] * pre.max(0.0)
                    })
                    .sum();
                r.push(y.row(i)[j] - f);
            }
        }
        let want_loss = r.iter().map(|v| v * v).sum::<f64>() / (2.0 * m as f64);
        let dm = explicit_feature_matrix(&net, &x);
        let mut dr = Matrix::zeros(d * n, 1);
        let r = Matrix::from_vec(m * c, 1, r);
        gemm(&mut dr, false, dm.view(), Op::N, r.view(), Op::N, 1.0);
        let want_norm = crate::linalg::norm(dr.as_slice()) / m as f64;
        assert!(
            (loss - want_loss).abs() <= 1e-12 * want_loss,
            "c={c}: {loss} vs {want_loss}"
        );
        assert!(
            (grad_norm - want_norm).abs() <= 1e-12 * want_norm,
            "c={c}: {grad_norm} vs {want_norm}"
        );
    }
}
