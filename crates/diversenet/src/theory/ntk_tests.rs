//! The eNTK blocks against explicit Jacobians, built here row by row (one sample and one
//! output at a time, by the chain rule in scalar loops), and their eigenvalues against the
//! dense eigensolver.

use super::*;
use crate::linalg::symmetric_eigenvalues;
use crate::mlp::Dense;
use crate::rng::{SeededRng, Stream};

/// A random MLP with the widths n_0, ..., c, a bias where `biases` says, entries
/// N(0, 1/fan_in) (rounded to f32 when `f32`).
pub(crate) fn random_mlp(widths: &[usize], biases: &[bool], f32: bool, seed: u64) -> Mlp {
    let mut rng = SeededRng::new(seed, Stream::Init);
    let mut value = |scale: f64| {
        let v = scale * rng.normal();
        if f32 {
            f64::from(v as f32)
        } else {
            v
        }
    };
    let layers = widths
        .windows(2)
        .zip(biases)
        .enumerate()
        .map(|(l, (w, &bias))| {
            let scale = 1.0 / (w[0] as f64).sqrt();
            let weight =
                Matrix::from_vec(w[1], w[0], (0..w[0] * w[1]).map(|_| value(scale)).collect());
            let bias = bias.then(|| (0..w[1]).map(|_| value(0.5)).collect());
            Dense::new(weight, bias, format!("W{}", l + 1), format!("b{}", l + 1))
        })
        .collect();
    Mlp::new(layers, "a random MLP").unwrap()
}

pub(crate) fn random_points(m: usize, d: usize, seed: u64) -> Matrix<f64> {
    let mut rng = SeededRng::new(seed, Stream::Data);
    Matrix::from_vec(m, d, (0..m * d).map(|_| rng.normal()).collect())
}

/// [`random_points`] as checked points, named X.
pub(crate) fn random_x(m: usize, d: usize, seed: u64) -> Points<'static> {
    Points::new(random_points(m, d, seed), "X").unwrap()
}

/// d f_j(x) / d(W_t, b_t) for every output j and layer t: `rows[j][t]`, W_t row-major then
/// b_t, by the chain rule on the one sample `x`.
fn jacobian_rows(mlp: &Mlp, x: &[f64]) -> Vec<Vec<Vec<f64>>> {
    let layers = mlp.layers();
    let mut hs = vec![x.to_vec()];
    let mut zs = Vec::new();
    for (t, layer) in layers.iter().enumerate() {
        let h = &hs[t];
        let z: Vec<f64> = (0..layer.width())
            .map(|k| {
                let mut s = layer.bias.as_ref().map_or(0.0, |b| b[k]);
                for (w, hq) in layer.weight.row(k).iter().zip(h) {
                    s += w * hq;
                }
                s
            })
            .collect();
        hs.push(z.iter().map(|v| v.max(0.0)).collect());
        zs.push(z);
    }
    (0..mlp.outputs())
        .map(|j| {
            let mut g: Vec<f64> = (0..mlp.outputs())
                .map(|o| f64::from(u8::from(o == j)))
                .collect();
            let mut rows = vec![Vec::new(); layers.len()];
            for t in (0..layers.len()).rev() {
                let layer = &layers[t];
                let mut row = Vec::with_capacity(layer.parameters());
                for gk in &g {
                    for hq in &hs[t] {
                        row.push(gk * hq);
                    }
                }
                if layer.bias.is_some() {
                    row.extend(&g);
                }
                rows[t] = row;
                if t > 0 {
                    g = (0..layer.inputs())
                        .map(|q| {
                            let back: f64 = (0..layer.width())
                                .map(|k| layer.weight.row(k)[q] * g[k])
                                .sum();
                            if zs[t - 1][q] > 0.0 {
                                back
                            } else {
                                0.0
                            }
                        })
                        .collect();
                }
            }
            rows
        })
        .collect()
}

/// The reference blocks Theta_t = J_t J_t^T in `form`, from the explicit Jacobian.
pub(crate) fn reference_blocks(mlp: &Mlp, x: &Matrix<f64>, form: NtkForm) -> Vec<Matrix<f64>> {
    let (m, c) = (x.rows(), mlp.outputs());
    let rows: Vec<_> = (0..m).map(|i| jacobian_rows(mlp, x.row(i))).collect();
    let size = form.size(m, c);
    (0..mlp.layers().len())
        .map(|t| {
            let mut theta = Matrix::zeros(size, size);
            for i in 0..m {
                for ip in 0..m {
                    for j in 0..c {
                        for jp in 0..c {
                            let dot: f64 = rows[i][j][t]
                                .iter()
                                .zip(&rows[ip][jp][t])
                                .map(|(a, b)| a * b)
                                .sum();
                            match form {
                                NtkForm::Full => theta.row_mut(i * c + j)[ip * c + jp] = dot,
                                NtkForm::Trace if j == jp => theta.row_mut(i)[ip] += dot,
                                NtkForm::Trace => {}
                            }
                        }
                    }
                }
            }
            theta
        })
        .collect()
}

/// max |a - b| <= tol max |b|.
pub(crate) fn assert_close(a: &Matrix<f64>, b: &Matrix<f64>, tol: f64, what: &str) {
    assert_eq!((a.rows(), a.cols()), (b.rows(), b.cols()), "{what}: shapes");
    let scale = b.as_slice().iter().fold(0.0f64, |s, v| s.max(v.abs()));
    let worst = a
        .as_slice()
        .iter()
        .zip(b.as_slice())
        .fold(0.0f64, |s, (x, y)| s.max((x - y).abs()));
    assert!(
        worst <= tol * scale,
        "{what}: max error {worst:e} against scale {scale:e}"
    );
}

fn sum(blocks: &[Matrix<f64>], layers: &[usize]) -> Matrix<f64> {
    let mut out = Matrix::zeros(blocks[0].rows(), blocks[0].cols());
    for &t in layers {
        for (o, v) in out.as_mut_slice().iter_mut().zip(blocks[t].as_slice()) {
            *o += v;
        }
    }
    out
}

/// The cases of the reference tests: depth 1 to 3, with and without biases (and mixed),
/// c = 1 and 3, weights in f64 and rounded to f32.
fn cases() -> Vec<(Vec<usize>, Vec<bool>, bool)> {
    let mut out = Vec::new();
    for c in [1, 3] {
        for (hidden, biases) in [
            (vec![6], vec![false, false]),
            (vec![6], vec![true, true]),
            (vec![5, 7], vec![true, false, true]),
            (vec![5, 7], vec![false, false, false]),
            (vec![4, 6, 5], vec![true, true, true]),
            (vec![4, 6, 5], vec![false, true, false, true]),
        ] {
            for f32 in [false, true] {
                let mut widths = vec![4];
                widths.extend(&hidden);
                widths.push(c);
                out.push((widths, biases.clone(), f32));
            }
        }
    }
    out
}

#[test]
fn the_reference_jacobian_matches_central_differences() {
    let mlp = random_mlp(&[3, 5, 4, 2], &[true, false, true], false, 3);
    let x = random_points(1, 3, 4);
    let rows = jacobian_rows(&mlp, x.row(0));
    let h = 1e-6;
    for t in 0..3 {
        #[allow(clippy::needless_range_loop)] // p indexes the rows and the parameters
        for p in 0..mlp.layers()[t].parameters() {
            let shifted = |delta: f64| {
                let mut layers = mlp.layers().to_vec();
                let weights = layers[t].width() * layers[t].inputs();
                if p < weights {
                    layers[t].weight.as_mut_slice()[p] += delta;
                } else {
                    layers[t].bias.as_mut().unwrap()[p - weights] += delta;
                }
                Mlp::new(layers, "shifted")
                    .unwrap()
                    .forward(&x, "x")
                    .unwrap()
                    .output
            };
            let (up, down) = (shifted(h), shifted(-h));
            for (j, row) in rows.iter().enumerate() {
                let fd = (up.row(0)[j] - down.row(0)[j]) / (2.0 * h);
                assert!(
                    (fd - row[t][p]).abs() < 1e-7,
                    "layer {t}, parameter {p}, output {j}"
                );
            }
        }
    }
}

#[test]
fn every_block_and_the_sum_match_explicit_jacobians() {
    for (widths, biases, f32) in cases() {
        let mlp = random_mlp(&widths, &biases, f32, widths.len() as u64);
        let x = random_x(7, widths[0], 11);
        for form in [NtkForm::Full, NtkForm::Trace] {
            let what = format!("{widths:?} biases {biases:?} f32 {f32} {form}");
            let reference = reference_blocks(&mlp, &x, form);
            let factors = NtkFactors::new(&mlp, &x, form).unwrap();
            let blocks = factors.blocks(Cancel::NEVER).unwrap();
            assert_eq!(blocks.len(), reference.len());
            for (t, (got, want)) in blocks.iter().zip(&reference).enumerate() {
                assert_close(got, want, 1e-10, &format!("{what}: block {}", t + 1));
            }
            let all: Vec<usize> = (0..reference.len()).collect();
            let total = factors.sum(&all, Cancel::NEVER).unwrap();
            assert_close(
                &total,
                &sum(&reference, &all),
                1e-10,
                &format!("{what}: the sum"),
            );
            let ends = [0, reference.len() - 1];
            let part = factors.sum(&ends, Cancel::NEVER).unwrap();
            assert_close(
                &part,
                &sum(&reference, &ends),
                1e-10,
                &format!("{what}: first and last"),
            );
        }
    }
}

/// The paper's network (bias-free first layer, one hidden layer) takes Theta_1 from D^T D
/// (popcount with v = +/-1, GEMM otherwise); the general Hadamard route gives the same.
#[test]
fn the_paper_route_and_the_general_route_agree() {
    let signs = Mlp::new(
        vec![
            Dense::new(random_points(40, 9, 1), None, "W", "b"),
            Dense::new(
                Matrix::from_vec(
                    1,
                    40,
                    (0..40)
                        .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 })
                        .collect(),
                ),
                None,
                "V",
                "c",
            ),
        ],
        "signs",
    )
    .unwrap();
    let trained = random_mlp(&[9, 40, 3], &[false, true], false, 5);
    let x = random_x(30, 9, 2);
    for mlp in [&signs, &trained] {
        for form in [NtkForm::Full, NtkForm::Trace] {
            let paper = NtkFactors::new(mlp, &x, form).unwrap();
            let general = NtkFactors::new(mlp, &x, form)
                .unwrap()
                .with_route(Route::General);
            assert!(paper.paper_first_layer(0).is_some() && general.paper_first_layer(0).is_none());
            let a = paper.sum(&[0], Cancel::NEVER).unwrap();
            let b = general.sum(&[0], Cancel::NEVER).unwrap();
            assert_close(&a, &b, 1e-12, &format!("{} outputs, {form}", mlp.outputs()));
        }
    }
}

#[test]
fn lambda_min_and_lambda_max_match_the_dense_eigensolver() {
    // 784-style shapes in small: 12 points, 3 outputs (N = 36 full, 12 trace).
    let mlp = random_mlp(&[10, 20, 8, 3], &[true, true, true], false, 9);
    let x = random_x(12, 10, 3);
    let mut solved = 0;
    for form in [NtkForm::Full, NtkForm::Trace] {
        let reference = reference_blocks(&mlp, &x, form);
        let factors = NtkFactors::new(&mlp, &x, form).unwrap();
        for layers in [vec![0], vec![1], vec![2], vec![0, 1, 2], vec![1, 2]] {
            let s = factors.spectrum(&layers, true, Cancel::NEVER).unwrap();
            let dense = symmetric_eigenvalues(&sum(&reference, &layers)).unwrap();
            let (low, high) = (dense[0], dense[dense.len() - 1]);
            let what = format!("{form} layers {layers:?} ({})", s.method);
            assert!(
                (s.lambda_max.unwrap() - high).abs() <= 1e-10 * high,
                "{what}: lambda_max"
            );
            if s.method == "rank" {
                assert!(
                    low.abs() <= 1e-10 * high,
                    "{what}: rank-deficient, lambda_min {low:e}"
                );
                assert!(factors.rank_bound(&layers) < s.size, "{what}");
            } else if s.method == "singular-gram" {
                assert!(
                    low.abs() <= 1e-10 * high,
                    "{what}: singular, lambda_min {low:e}"
                );
            } else {
                assert!(low > 1e-8 * high, "{what}: a well-posed case");
                assert!(
                    (s.lambda_min - low).abs() <= 1e-8 * low,
                    "{what}: {} vs {low}",
                    s.lambda_min
                );
                solved += 1;
            }
        }
    }
    assert!(solved >= 6, "only {solved} cases reached the eigensolver");
    // The output layer alone comes from H~_L (its parameters 3 x 9 = 27 < 36: rank).
    let s = NtkFactors::new(&mlp, &x, NtkForm::Full)
        .unwrap()
        .spectrum(&[2], false, Cancel::NEVER)
        .unwrap();
    assert_eq!((s.method, s.lambda_min), ("rank", 0.0));
    // With room for it: 4 points, c = 3, N = 12 <= 27.
    let x4 = random_x(4, 10, 8);
    for form in [NtkForm::Full, NtkForm::Trace] {
        let reference = reference_blocks(&mlp, &x4, form);
        let s = NtkFactors::new(&mlp, &x4, form)
            .unwrap()
            .spectrum(&[2], true, Cancel::NEVER)
            .unwrap();
        let dense = symmetric_eigenvalues(&reference[2]).unwrap();
        assert!(
            (s.lambda_min - dense[0]).abs() <= 1e-8 * dense[0],
            "{form}: {} vs {}",
            s.lambda_min,
            dense[0]
        );
        assert!(
            (s.lambda_max.unwrap() - dense[dense.len() - 1]).abs()
                <= 1e-10 * dense[dense.len() - 1]
        );
    }
}

#[test]
fn layer_choices_outside_the_network_are_refused() {
    let mlp = random_mlp(&[3, 4, 2], &[true, true], false, 1);
    assert_eq!(select_layers(&mlp, None).unwrap(), vec![0, 1]);
    assert_eq!(select_layers(&mlp, Some(&[2, 1])).unwrap(), vec![0, 1]);
    for (chosen, expected) in [
        (&[0usize][..], "layer 0: the network has layers 1 to 2"),
        (&[3][..], "layer 3"),
        (&[1, 1][..], "layer 1 is chosen twice"),
        (&[][..], "no layer chosen"),
    ] {
        let e = select_layers(&mlp, Some(chosen)).unwrap_err().to_string();
        assert!(e.contains("`layers`") && e.contains(expected), "{e}");
    }
    assert!("both"
        .parse::<NtkForm>()
        .unwrap_err()
        .to_string()
        .contains("expected full"));
}

/// The memory estimate of m c = 20,000 (m = 2000 points of a 784-100-100-10 MLP, full
/// form): two 20,000^2 matrices of f64 (the eNTK and the solver's fallback copy) and little
/// else, within the default budget of an idle 24 GiB machine (80% of it); the measured peak
/// is in bench/ntk.md.
#[test]
fn the_estimate_of_twenty_thousand_rows_fits_in_24_gib() {
    use crate::limits::{ntk_estimate, NtkSizes};
    let sizes = NtkSizes {
        widths: vec![784, 100, 100, 10],
        full: true,
        matrices: 1,
        eigenvalue: true,
        paper_block: false,
    };
    let bytes = ntk_estimate(2000, &sizes).total();
    let square = 20_000f64 * 20_000.0 * 8.0;
    assert!(bytes >= 2.0 * square && bytes <= 2.1 * square, "{bytes:e}");
    assert!(bytes <= 0.8 * 24.0 * 1024f64.powi(3));
}

/// A `Cancel` that asks to stop on its `at`-th question (counting from 1).
fn stop_at(at: usize) -> impl Fn() -> bool {
    let asked = std::cell::Cell::new(0);
    move || {
        asked.set(asked.get() + 1);
        asked.get() >= at
    }
}

/// The blocks, their sum and the spectrum ask the caller's `Cancel` while they build and
/// solve, and stop with `Interrupted` at the first question that says stop, wherever it
/// comes (between blocks, between groups of panels, between solver steps); asked never to
/// stop, the same calls finish.
#[test]
fn a_cancel_stops_the_blocks_the_sum_and_the_spectrum() {
    let mlp = random_mlp(&[10, 20, 8, 3], &[true, false, true], false, 2);
    let x = random_x(12, 10, 4);
    let factors = NtkFactors::new(&mlp, &x, NtkForm::Full).unwrap();
    let all = [0, 1, 2];
    let mut questions = 0;
    for at in 1..50 {
        let stop = stop_at(at);
        let stopped = [
            factors.blocks(Cancel::when(&stop)).map(|_| ()),
            factors.sum(&all, Cancel::when(&stop)).map(|_| ()),
            factors
                .spectrum(&all, true, Cancel::when(&stop))
                .map(|_| ()),
        ];
        if stopped.iter().all(Result::is_ok) {
            break;
        }
        questions = at;
        assert!(
            stopped
                .iter()
                .any(|r| matches!(r, Err(Error::Interrupted { steps: 0 }))),
            "stop at question {at}"
        );
    }
    assert!(questions >= 3, "only {questions} questions asked");
    assert!(factors.spectrum(&all, true, Cancel::NEVER).is_ok());
}

/// `measure::ntk` refuses `layers` beside `blocks` (it chooses the blocks of a sum), and a
/// matrix beyond the memory budget before building it, naming the rows of X that fit.
#[test]
fn the_ntk_measure_refuses_layers_with_blocks_and_what_does_not_fit() {
    use crate::error::Expected;
    use crate::theory::measure;
    let mlp = random_mlp(&[4, 6, 2], &[true, true], false, 1);
    let x = random_x(5, 4, 2);
    match measure::ntk(&mlp, &x, NtkForm::Full, Some(&[1]), true, Cancel::NEVER) {
        Err(Error::Config {
            setting: "layers",
            expected: Expected::NoEffect(why),
            ..
        }) => assert_eq!(why.settings(), ["blocks"]),
        other => panic!("{:?}", other.map(|m| m.len())),
    }
    let blocks = measure::ntk(&mlp, &x, NtkForm::Full, None, true, Cancel::NEVER).unwrap();
    let total = sum(&blocks, &[0, 1]);
    let both = measure::ntk(&mlp, &x, NtkForm::Full, Some(&[1, 2]), false, Cancel::NEVER);
    assert_close(&both.unwrap()[0], &total, 1e-14, "the sum");
    let lambda = measure::ntk_lambda_min(&mlp, &x, NtkForm::Full, None, Cancel::NEVER).unwrap();
    let dense = symmetric_eigenvalues(&total).unwrap();
    assert!((lambda - dense[0]).abs() <= 1e-8 * dense[dense.len() - 1]);
    // 200,000 points of 2 outputs: two 400,000^2 matrices, about 2.6 TB.
    let big = Points::new(Matrix::zeros(200_000, 4), "X").unwrap();
    let sizes = ntk_sizes(&mlp, NtkForm::Full, 1, true);
    let needed = crate::limits::ntk_estimate(200_000, &sizes).total();
    if needed > crate::limits::memory_budget().bytes as f64 {
        match measure::ntk_lambda_min(&mlp, &big, NtkForm::Full, None, Cancel::NEVER) {
            Err(Error::Memory(refusal)) => {
                assert!(refusal.task.contains("rows of X"), "{}", refusal.task)
            }
            other => panic!("{other:?}"),
        }
    }
}
