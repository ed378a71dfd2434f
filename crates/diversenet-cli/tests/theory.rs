//! Theory diagnostics end to end: the loss bound on random and trained networks (property
//! tests), the analysis of a trained model, and the `analyze` / `spectrum` commands.

mod common;

use std::process::Command;

use common::small_synthetic;
use diversenet::data::{Dataset, Targets};
use diversenet::linalg::{Cancel, Matrix};
use diversenet::model::file::load_model;
use diversenet::model::run::{run_training, Silent};
use diversenet::model::{Network, OptimizerKind, OutputLayer, TrainSettings, Weights};
use diversenet::rng::{SeededRng, Stream};
use diversenet::theory::feature_matrix::{
    loss_bound, smallest_singular_value, squared_loss_and_gradient_norm,
};
use diversenet::theory::{analyze, AnalysisOptions};
use proptest::prelude::*;

fn sphere_points(m: usize, d: usize, rng: &mut SeededRng) -> Matrix<f64> {
    Matrix::from_vec(m, d, (0..m).flat_map(|_| rng.unit_vector(d)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// L <= m ||grad_W L||^2 / (2 s_m(D)^2) at any W, V and targets.
    #[test]
    fn loss_bound_holds_for_random_networks(d in 2usize..6, n in 1usize..30, m in 1usize..40, c in 1usize..4,
                                            trained in any::<bool>(), zero_rows in 0usize..3, seed in any::<u64>()) {
        let mut rng = SeededRng::new(seed, Stream::Init);
        let layer = if trained { OutputLayer::Trained } else { OutputLayer::Fixed };
        let mut net: Network<f64> = Network::init(d, n, c, layer, 1.0, &mut rng);
        for k in 0..zero_rows.min(n) {
            net.w.row_mut(k).fill(0.0);
        }
        let x = sphere_points(m, d, &mut rng);
        let y = Matrix::from_vec(m, c, (0..m * c).map(|_| rng.normal()).collect());
        let s = smallest_singular_value(&net, &x, Cancel::NEVER).unwrap();
        let (loss, grad) = squared_loss_and_gradient_norm(&net, &x, &y);
        if s.value > 1e-6 {
            let bound = loss_bound(m, grad, s.value);
            prop_assert!(loss <= bound * (1.0 + 1e-8) + 1e-12, "L = {loss} > bound {bound} (s = {})", s.value);
        }
    }
}

#[test]
fn loss_bound_holds_along_a_training_run_and_analysis_is_consistent() {
    for epochs in [0, 5, 40] {
        let dir = tempfile::tempdir().unwrap();
        let (mut train, test) = small_synthetic(11);
        let s = TrainSettings {
            width: 80,
            epochs,
            seed: 1,
            optimizer: OptimizerKind::Gd,
            lr: 0.5,
            ..TrainSettings::default()
        };
        run_training(&s, train.clone(), test, dir.path(), false, &mut Silent).unwrap();
        let model = load_model(&dir.path().join("model.safetensors")).unwrap();
        model.transform().apply(&mut train.x);
        let a = analyze(
            &weights(model.net()),
            &train,
            &AnalysisOptions {
                all_points: true,
                monte_carlo: Some(50_000),
                ..Default::default()
            },
            Cancel::NEVER,
        )
        .unwrap();
        assert_eq!(a.points_used, 300);
        assert!(a.s_min > 0.0, "d n = 480 >= m = 300: {a:?}");
        let ratio = a.loss_over_bound.unwrap();
        assert!(ratio <= 1.0 + 1e-9, "epochs {epochs}: L / bound = {ratio}");
        // s_m(D)^2 / n >= lambda_min(K) - ||E_W||_2 (PAPER.md section 3).
        assert!(a.s_min_sq_over_n.unwrap() >= a.kernel_lower_bound - 1e-10);
        let mc = a.monte_carlo.unwrap();
        assert!((mc.estimate - a.l2_discrepancy_sq).abs() < 4.0 * mc.std_error + 1e-12);
    }
}

/// Off the sphere the split (1/n) D^T D = K + (X X^T) o E_W still holds, but ||(X X^T) o
/// E_W|| can exceed ||E_W||: at |x| = 10 the bound lambda_min(K) - ||E_W||_2 was 4.37 against
/// s_m(D)^2 / n = 4.17. The reported bound stays below s_m(D)^2 / n at radii 0.3 to 10, and
/// equals the paper's form on the sphere.
#[test]
fn the_kernel_lower_bound_holds_off_the_sphere() {
    let mut rng = SeededRng::new(5, Stream::Init);
    let net: Network<f64> = Network::init(5, 200, 1, OutputLayer::Fixed, 1.0, &mut rng);
    let unit = sphere_points(30, 5, &mut rng);
    for radius in [1.0, 0.3, 3.0, 10.0] {
        let mut x = unit.clone();
        x.as_mut_slice().iter_mut().for_each(|v| *v *= radius);
        let data = Dataset::new("radius", x, Targets::Scalar(vec![0.0; 30])).unwrap();
        let options = AnalysisOptions {
            all_points: true,
            ..Default::default()
        };
        let a = analyze(&weights(&net), &data, &options, Cancel::NEVER).unwrap();
        let s_sq = a.s_min_sq_over_n.unwrap();
        assert!(
            s_sq >= a.kernel_lower_bound - 1e-10,
            "radius {radius}: {s_sq} < {a:?}"
        );
        let r_sq = (radius * radius).max(1.0);
        let paper = a.lambda_min_k - a.e_w_norm;
        assert!((a.kernel_lower_bound - (a.lambda_min_k - r_sq * a.e_w_norm)).abs() <= 1e-9 * r_sq);
        if radius == 1.0 {
            assert_eq!(a.kernel_lower_bound, paper);
        }
    }
}

#[test]
fn analysis_refuses_a_dimension_mismatch_and_d_1() {
    let mut rng = SeededRng::new(1, Stream::Init);
    let net: Network<f64> = Network::init(3, 4, 1, OutputLayer::Fixed, 1.0, &mut rng);
    let data = Dataset::new(
        "four-d",
        sphere_points(5, 4, &mut rng),
        Targets::Scalar(vec![0.0; 5]),
    )
    .unwrap();
    let e = analyze(
        &weights(&net),
        &data,
        &AnalysisOptions::default(),
        Cancel::NEVER,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("four-d") && e.contains("takes 3 inputs"), "{e}");
    let net1: Network<f64> = Network::init(1, 4, 1, OutputLayer::Fixed, 1.0, &mut rng);
    let data1 = Dataset::new(
        "line",
        Matrix::from_vec(2, 1, vec![1.0, -1.0]),
        Targets::Scalar(vec![0.0; 2]),
    )
    .unwrap();
    let e = analyze(
        &weights(&net1),
        &data1,
        &AnalysisOptions::default(),
        Cancel::NEVER,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("d = 1"), "{e}");
    // One point: a 1 x 1 Gram; s_1(D) is the norm of D's single column.
    let one = Dataset::new(
        "one",
        Matrix::from_vec(1, 3, vec![1.0, 0.0, 0.0]),
        Targets::Scalar(vec![0.5]),
    )
    .unwrap();
    let a = analyze(
        &weights(&net),
        &one,
        &AnalysisOptions::default(),
        Cancel::NEVER,
    )
    .unwrap();
    let active = (0..4).filter(|&k| net.w.row(k)[0] > 0.0).count() as f64;
    assert!((a.s_min - active.sqrt()).abs() < 1e-12);
}

/// A network, checked for measurement.
fn weights(net: &Network<f64>) -> Weights {
    Weights::of(net.clone(), "the network").unwrap()
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_diversenet"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn analyze_and_spectrum_commands_write_the_documented_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run(&[
        "train",
        "--data",
        "synthetic",
        "--dim",
        "5",
        "--train-samples",
        "300",
        "--epochs",
        "3",
        "--width",
        "80",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success());
    let json = dir.path().join("a.json");
    let model = out.join("model.safetensors");
    let o = run(&[
        "analyze",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "synthetic",
        "--dim",
        "5",
        "--train-samples",
        "300",
        "--points",
        "150",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("s_m(D)"));
    let a: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for key in [
        "s_min",
        "loss",
        "grad_norm",
        "bound",
        "lambda_min_k",
        "e_w_norm",
        "l2_discrepancy_sq",
        "points_used",
    ] {
        assert!(a.get(key).is_some(), "{key} missing");
    }
    assert_eq!(a["points_used"], 150);
    // Where the points came from: the model's own scaling (train's default), the training split (analyze's default).
    assert_eq!(a["input_scaling"], "sphere");
    assert_eq!(a["split"], "train");
    // A model of another dimension is refused.
    let o = run(&[
        "analyze",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "synthetic",
        "--dim",
        "6",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("takes 5 inputs"));

    let sj = dir.path().join("s.json");
    let svg = dir.path().join("s.svg");
    let o = run(&[
        "spectrum",
        "--dim",
        "3",
        "--max-degree",
        "6",
        "--json",
        sj.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("trustworthy"));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&sj).unwrap()).unwrap();
    assert_eq!(s["dim"], 3);
    let d2 = &s["degrees"][2];
    assert_eq!(d2["u"], 2);
    assert!((d2["gamma"].as_f64().unwrap() - 7.0 / 256.0).abs() < 1e-10);
    assert_eq!(d2["multiplicity"], 5.0);
    assert_eq!(d2["trusted"], true);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let o = run(&["spectrum", "--dim", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("d >= 2"));
}

/// lambda_min from the Cholesky shift-and-invert path against the dense solver, to 1e-9
/// relative, on the hard cases of `analyze`: the kernel K on random points of S^783 (its
/// bottom is a dense band: the two smallest eigenvalues differ by about 1e-3 of them) and
/// the feature Gram D^T D of a trained network.
#[test]
fn lambda_min_meets_its_relative_tolerance_on_kernel_and_trained_grams() {
    use diversenet::linalg::{smallest_eigenvalue_psd_with_stats, symmetric_eigenvalues};
    use diversenet::theory::kernel::{kernel_gram, PairGeometry};
    let mut rng = SeededRng::new(21, Stream::Data);
    for m in [500, 1000] {
        let k = kernel_gram(
            &PairGeometry::of(&sphere_points(m, 784, &mut rng), Cancel::NEVER).unwrap(),
        );
        let dense = symmetric_eigenvalues(&k).unwrap();
        assert!(dense[1] - dense[0] < 1e-2 * dense[0], "a clustered bottom");
        let (result, stats) = smallest_eigenvalue_psd_with_stats(k, Cancel::NEVER).unwrap();
        let fast = result.value().unwrap();
        assert_eq!(result.method(), "cholesky-shift-invert");
        assert!(
            (fast - dense[0]).abs() <= 1e-9 * dense[0],
            "K, m = {m}: {fast} vs dense {} ({stats:?})",
            dense[0]
        );
    }
    let trained = diversenet_repro::bench::bench_gram(600, 60, 30, true, true, 1).unwrap();
    let (fast, dense) = (trained.s_min.powi(2), trained.s_min_full.unwrap().powi(2));
    assert_eq!(trained.method, "cholesky-shift-invert");
    assert!(
        (fast - dense).abs() <= 1e-9 * dense,
        "trained network: {fast} vs dense {dense} ({:?})",
        trained.solver
    );
}
