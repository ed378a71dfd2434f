//! The MLP analysis: its gradients against the explicit Jacobian, the bound at random and
//! trained weights, and the paper's network against `analyze`.

use super::*;
use crate::model::{Network, OutputLayer, Weights};
use crate::rng::{SeededRng, Stream};
use crate::theory::analyze::analyze_points;
use crate::theory::ntk::tests::{random_mlp, random_x, reference_blocks};
use crate::theory::ntk::Route;

fn targets(m: usize, c: usize, seed: u64) -> Matrix<f64> {
    let mut rng = SeededRng::new(seed, Stream::Data);
    Matrix::from_vec(m, c, (0..m * c).map(|_| rng.normal()).collect())
}

fn options() -> AnalysisOptions {
    AnalysisOptions {
        all_points: true,
        ..AnalysisOptions::default()
    }
}

fn analysis(mlp: &Mlp, x: &Points<'_>, y: &Matrix<f64>, form: NtkForm) -> MlpAnalysis {
    let ntk = NtkOptions { form, layers: None };
    analyze_mlp_points(mlp, x, Some(y), &options(), &ntk, Cancel::NEVER).unwrap()
}

/// Every bound of the report holds: L <= bound (up to rounding), for each layer and for
/// the whole network; returns how many bounds there were.
fn assert_bounds_hold(r: &NtkReport, what: &str) -> usize {
    let loss = r.loss.unwrap();
    let mut bounds = 0;
    let network = [(r.network.bound, "network".to_string())];
    let layers = r
        .layers
        .iter()
        .map(|l| (l.bound, format!("layer {}", l.layer)));
    for (bound, name) in layers.chain(network) {
        if let Some(b) = bound {
            assert!(
                loss <= b * (1.0 + 1e-9),
                "{what}, {name}: L = {loss} > bound {b}"
            );
            bounds += 1;
        }
    }
    bounds
}

/// ||grad_l L|| of the backpropagation equals ||(1/m) J_l^T r|| with J_l the explicit
/// Jacobian (through ||J^T r||^2 = r^T (J J^T) r = r^T Theta_l r).
#[test]
fn gradient_norms_match_the_explicit_jacobian() {
    let mlp = random_mlp(&[5, 7, 6, 3], &[true, false, true], false, 4);
    let x = random_x(9, 5, 5);
    let y = targets(9, 3, 6);
    let acts = mlp.forward(&x, "X").unwrap();
    let r = residual(&acts, &y);
    let norms = layer_gradient_norms(&mlp, &acts, &r);
    for (t, theta) in reference_blocks(&mlp, &x, NtkForm::Full).iter().enumerate() {
        let rv = r.as_slice();
        let quadratic: f64 = (0..rv.len())
            .map(|a| rv[a] * (0..rv.len()).map(|b| theta.row(a)[b] * rv[b]).sum::<f64>())
            .sum();
        let want = quadratic.sqrt() / 9.0;
        assert!(
            (norms[t] - want).abs() <= 1e-12 * want,
            "layer {t}: {} vs {want}",
            norms[t]
        );
    }
}

/// The bound holds at random weights and after training: plain gradient descent on the
/// squared loss (with the analysis's own gradients) to a near-stationary point, where the
/// loss has fallen, the gradient is small, and the bound is still above the loss.
#[test]
fn the_bound_holds_at_random_and_at_trained_weights() {
    for (widths, biases) in [
        (vec![4, 30, 3], vec![true, true]),
        (vec![4, 12, 12, 2], vec![true, false, true]),
        (vec![4, 10, 10, 10, 1], vec![false, true, true, true]),
    ] {
        let mut mlp = random_mlp(&widths, &biases, false, 7);
        let c = mlp.outputs();
        let x = random_x(8, 4, 8);
        let y = targets(8, c, 9);
        let before = analysis(&mlp, &x, &y, NtkForm::Full);
        let what = format!("{widths:?}");
        assert!(
            assert_bounds_hold(&before.report, &what) >= 2,
            "{what}: too few bounds"
        );
        for _ in 0..3000 {
            let acts = mlp.forward(&x, "X").unwrap();
            let grads = layer_gradients(&mlp, &acts, &residual(&acts, &y));
            let mut layers = mlp.layers().to_vec();
            for (layer, (gw, gb)) in layers.iter_mut().zip(grads) {
                let step = 0.1;
                layer
                    .weight
                    .as_mut_slice()
                    .iter_mut()
                    .zip(gw.as_slice())
                    .for_each(|(w, g)| *w -= step * g);
                if let (Some(b), Some(gb)) = (layer.bias.as_mut(), gb) {
                    b.iter_mut().zip(gb).for_each(|(b, g)| *b -= step * g);
                }
            }
            mlp = Mlp::new(layers, "trained").unwrap();
        }
        let after = analysis(&mlp, &x, &y, NtkForm::Full);
        let (l0, l1) = (before.report.loss.unwrap(), after.report.loss.unwrap());
        assert!(l1 < 0.1 * l0, "{what}: training did not fit ({l0} -> {l1})");
        let (g0, g1) = (
            before.report.network.grad_norm.unwrap(),
            after.report.network.grad_norm.unwrap(),
        );
        assert!(
            g1 < 0.1 * g0,
            "{what}: not near a stationary point ({g0} -> {g1})"
        );
        assert!(assert_bounds_hold(&after.report, &format!("{what} trained")) >= 2);
    }
}

/// For the paper's network f(x) = V relu(W x), the MLP analysis gives `analyze`'s numbers:
/// s_m(D) (layer 1), the loss, ||grad_W L|| (an independent computation here) and the
/// bound, to 1e-10; s_m(D) from the general Hadamard route agrees too. The report carries
/// the paper's keys and the MLP's.
#[test]
fn the_paper_network_agrees_with_analyze() {
    let mut rng = SeededRng::new(3, Stream::Init);
    for (c, layer) in [(1, OutputLayer::Fixed), (3, OutputLayer::Trained)] {
        let net: Network<f64> = Network::init(6, 40, c, layer, 1.0, &mut rng);
        let weights = Weights::of(net.clone(), "net").unwrap();
        let mlp = Mlp::from_weights(&weights);
        let x = random_x(60, 6, 10);
        let y = targets(60, c, 11);
        let opts = AnalysisOptions {
            points: Some(30),
            seed: 5,
            ..AnalysisOptions::default()
        };
        let paper = analyze_points(&weights, &x, Some(&y), &opts, Cancel::NEVER).unwrap();
        let ntk = NtkOptions::default();
        let a = analyze_mlp_points(&mlp, &x, Some(&y), &opts, &ntk, Cancel::NEVER).unwrap();
        let close = |a: f64, b: f64, what: &str| {
            assert!(
                (a - b).abs() <= 1e-10 * b.abs(),
                "c = {c}, {what}: {a} vs {b}"
            )
        };
        let first = &a.report.layers[0];
        assert_eq!((a.report.points_used, a.report.points_total), (30, 60));
        close(first.s_min, paper.s_min, "s_m(D)");
        close(a.report.loss.unwrap(), paper.loss.unwrap(), "loss");
        close(
            first.grad_norm.unwrap(),
            paper.grad_norm.unwrap(),
            "||grad_W L||",
        );
        close(first.bound.unwrap(), paper.bound.unwrap(), "bound");
        close(
            first.l2_discrepancy_sq.unwrap(),
            paper.l2_discrepancy_sq,
            "L2(W)^2",
        );
        // The same sub-sample through the general route.
        let (xs, _) = sample_points(&x, None, 30, 5);
        let general = NtkFactors::new(&mlp, &xs, NtkForm::Full)
            .unwrap()
            .with_route(Route::General)
            .spectrum(&[0], false, Cancel::NEVER)
            .unwrap();
        close(general.s_min(), paper.s_min, "s_m(D), general route");
        let json = serde_json::to_value(&a).unwrap();
        for key in [
            "s_min",
            "lambda_min_k",
            "e_w_norm",
            "layers",
            "network",
            "widths",
        ] {
            assert!(json.get(key).is_some(), "key {key} missing");
        }
        assert_eq!(json["points_total"], 60);
    }
    // A network with biases or depth has no paper instruments.
    let mlp = random_mlp(&[6, 8, 1], &[true, false], false, 2);
    let x = random_x(10, 6, 3);
    let a = analysis(&mlp, &x, &targets(10, 1, 4), NtkForm::Trace);
    let json = serde_json::to_value(&a).unwrap();
    assert!(
        a.paper.is_none() && json.get("lambda_min_k").is_none() && json.get("layers").is_some()
    );
}

/// The trace form gives no bound with several outputs, and says why; with one output it
/// is the full form.
#[test]
fn the_trace_form_bounds_only_single_output_networks() {
    let x = random_x(10, 4, 1);
    let three = random_mlp(&[4, 30, 3], &[true, true], false, 1);
    let a = analysis(&three, &x, &targets(10, 3, 2), NtkForm::Trace);
    assert!(a.report.layers.iter().all(|l| l.bound.is_none()) && a.report.network.bound.is_none());
    assert!(a
        .report
        .bound_note
        .as_deref()
        .unwrap()
        .contains("use the full form"));
    let one = random_mlp(&[4, 30, 1], &[true, true], false, 1);
    let y = targets(10, 1, 2);
    let (t, f) = (
        analysis(&one, &x, &y, NtkForm::Trace),
        analysis(&one, &x, &y, NtkForm::Full),
    );
    assert!(t.report.bound_note.is_none());
    assert!(
        (t.report.network.lambda_min - f.report.network.lambda_min).abs()
            <= 1e-12 * f.report.network.lambda_min
    );
}

/// Dead units: a unit whose weights and bias make it negative on every point.
#[test]
fn dead_units_are_counted_per_hidden_layer() {
    let mut mlp = random_mlp(&[3, 4, 5, 2], &[true, true, true], false, 6);
    let mut layers = mlp.layers().to_vec();
    layers[1]
        .weight
        .row_mut(2)
        .iter_mut()
        .for_each(|w| *w = 0.0);
    layers[1].bias.as_mut().unwrap()[2] = -1.0;
    mlp = Mlp::new(layers, "one dead").unwrap();
    let x = random_x(10, 3, 7);
    let a = analysis(&mlp, &x, &targets(10, 2, 8), NtkForm::Full);
    assert_eq!(a.report.layers[1].dead_fraction, Some(0.2));
    assert_eq!(a.report.layers[2].dead_fraction, None);
    // A zero row has no direction: left out of L2(W)^2, kept in the biased [w; b].
    assert!(a.report.layers[1].l2_discrepancy_sq.is_some());
    assert!(a.report.layers[1].l2_discrepancy_sq_with_bias.is_some());
}

/// The analysis asks the caller's `Cancel` (the paper's instruments, then each block):
/// one that says stop ends it with `Interrupted`, for the paper's network and any MLP.
#[test]
fn a_cancel_stops_the_analysis() {
    let mut rng = SeededRng::new(1, Stream::Init);
    let net = Network::init(4, 10, 1, OutputLayer::Fixed, 1.0, &mut rng);
    let paper = Mlp::from_weights(&Weights::of(net, "net").unwrap());
    let deep = random_mlp(&[4, 8, 6, 2], &[true, true, false], false, 3);
    let x = random_x(9, 4, 2);
    let stop = || true;
    for mlp in [&paper, &deep] {
        let y = targets(9, mlp.outputs(), 3);
        let ntk = NtkOptions::default();
        let result = analyze_mlp_points(mlp, &x, Some(&y), &options(), &ntk, Cancel::when(&stop));
        assert!(
            matches!(result, Err(Error::Interrupted { .. })),
            "{:?}",
            result.map(|a| a.report.seconds)
        );
        assert!(analyze_mlp_points(mlp, &x, Some(&y), &options(), &ntk, Cancel::NEVER).is_ok());
    }
}
