//! `analyze` on ReLU MLPs with biases and depth: safetensors with nn.Sequential names and
//! `.npz` files give the library's per-layer numbers; `--ntk`, `--layers`; other layers,
//! bad choices and memory beyond the budget are refused with the tensor, the flag or the
//! largest point count named.

mod common;

use std::path::Path;

use common::{fails, ok};
use diversenet::data::npy::encode_npy_f64;
use diversenet::data::Points;
use diversenet::linalg::{Cancel, Matrix};
use diversenet::mlp::load::{save_npz, save_sequential};
use diversenet::mlp::{Dense, Mlp};
use diversenet::model::file::TensorFile;
use diversenet::rng::{SeededRng, Stream};
use diversenet::theory::mlp_analysis::{analyze_mlp_points, NtkOptions};
use diversenet::theory::ntk::NtkForm;
use diversenet::theory::AnalysisOptions;

fn random(rows: usize, cols: usize, rng: &mut SeededRng) -> Matrix<f64> {
    Matrix::from_vec(
        rows,
        cols,
        (0..rows * cols).map(|_| rng.normal() * 0.5).collect(),
    )
}

/// A 5-16-12-3 MLP with biases on the first and last layers, and 40 points with labels
/// 0..2 (stored as floats: the data flags say `--task classify`).
fn setup(dir: &Path) -> (Mlp, Matrix<f64>, Vec<usize>, String) {
    let mut rng = SeededRng::new(21, Stream::Init);
    let layers = vec![
        Dense::new(
            random(16, 5, &mut rng),
            Some(random(1, 16, &mut rng).into_vec()),
            "",
            "",
        ),
        Dense::new(random(12, 16, &mut rng), None, "", ""),
        Dense::new(
            random(3, 12, &mut rng),
            Some(random(1, 3, &mut rng).into_vec()),
            "",
            "",
        ),
    ];
    let mlp = Mlp::new(layers, "test").unwrap();
    let x = random(40, 5, &mut rng);
    let labels: Vec<usize> = (0..40).map(|i| (i * 7) % 3).collect();
    let labels_f: Vec<f64> = labels.iter().map(|&l| l as f64).collect();
    std::fs::write(dir.join("X.npy"), encode_npy_f64(&[40, 5], x.as_slice())).unwrap();
    std::fs::write(dir.join("y.npy"), encode_npy_f64(&[40], &labels_f)).unwrap();
    let data = format!(
        "npy:{},{}",
        dir.join("X.npy").display(),
        dir.join("y.npy").display()
    );
    (mlp, x, labels, data)
}

/// `analyze` with these data flags and `extra`.
fn args<'a>(model: &'a str, data: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut out = vec![
        "analyze",
        "--model",
        model,
        "--data",
        data,
        "--all-data",
        "--task",
        "classify",
    ];
    out.extend(extra);
    out
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_sequential_file_gives_the_librarys_per_layer_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (mlp, x, labels, data) = setup(dir.path());
    let model = dir.path().join("mlp.safetensors");
    save_sequential(&model, &mlp).unwrap();
    let mut y = Matrix::zeros(40, 3);
    labels
        .iter()
        .enumerate()
        .for_each(|(i, &l)| y.row_mut(i)[l] = 1.0);
    for (form, layers) in [("full", None), ("trace", Some("1,3"))] {
        let report = dir.path().join(format!("{form}.json"));
        let r = report.to_str().unwrap();
        let mut extra = vec!["--all-points", "--ntk", form, "--json", r];
        if let Some(l) = layers {
            extra.extend(["--layers", l]);
        }
        let args = args(model.to_str().unwrap(), &data, &extra);
        let stdout = ok(&args);
        assert!(
            stdout.contains("a ReLU MLP 5-16-12-3") && stdout.contains("network (layers"),
            "{stdout}"
        );
        let got = json(&report);
        // An nn.Sequential file records no scaling: the points are used raw; --all-data
        // measures every row of the file.
        assert_eq!(got["input_scaling"], "raw");
        assert_eq!(got["split"], "all");
        let options = AnalysisOptions {
            all_points: true,
            ..AnalysisOptions::default()
        };
        let ntk = NtkOptions {
            form: form.parse::<NtkForm>().unwrap(),
            layers: layers.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()),
        };
        let points = Points::borrowed(&x, "X").unwrap();
        let want =
            analyze_mlp_points(&mlp, &points, Some(&y), &options, &ntk, Cancel::NEVER).unwrap();
        let want = serde_json::to_value(&want).unwrap();
        assert_eq!(
            got["layers"].as_array().unwrap().len(),
            if layers.is_some() { 2 } else { 3 }
        );
        for (g, w) in got["layers"]
            .as_array()
            .unwrap()
            .iter()
            .zip(want["layers"].as_array().unwrap())
        {
            for key in ["s_min", "grad_norm", "l2_discrepancy_sq", "dead_fraction"] {
                assert_eq!(g[key], w[key], "{form}: layer {}, {key}", g["layer"]);
            }
        }
        for key in ["lambda_min", "lambda_max", "grad_norm", "bound"] {
            assert_eq!(
                got["network"][key], want["network"][key],
                "{form}: network {key}"
            );
        }
        assert!(
            got.get("lambda_min_k").is_none(),
            "no paper instruments for an MLP"
        );
    }
    // The same network from a .npz of W1, b1, W2, W3, b3.
    let npz = dir.path().join("mlp.npz");
    save_npz(&npz, &mlp, false).unwrap();
    let report = dir.path().join("npz.json");
    ok(&args(
        npz.to_str().unwrap(),
        &data,
        &["--all-points", "--json", report.to_str().unwrap()],
    ));
    assert_eq!(
        json(&report)["network"],
        json(&dir.path().join("full.json"))["network"]
    );
}

#[test]
fn other_layers_bad_choices_and_too_many_points_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mlp, _, _, data) = setup(dir.path());
    let model = dir.path().join("mlp.safetensors");
    save_sequential(&model, &mlp).unwrap();
    let m = model.to_str().unwrap();
    fails(
        &args(m, &data, &["--layers", "4"]),
        &["--layers", "layer 4: the network has layers 1 to 3"],
    );
    fails(
        &args(m, &data, &["--ntk", "diag"]),
        &["--ntk", "expected full"],
    );
    fails(
        &args(m, &data, &["--monte-carlo", "1000"]),
        &["--monte-carlo", "each layer's L2 discrepancy"],
    );
    // 40 points of 3 outputs: a 120 x 120 eNTK needs about 0.35 MB; a budget of 0.2 MB
    // fits fewer points, and the largest it names does fit.
    let budget = ["--max-memory", "200000"];
    let out = common::run(&[&budget[..], &args(m, &data, &["--all-points"])].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let largest: String = err
        .split("the largest --points that fits is ")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"))
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let fits: usize = largest.parse().unwrap();
    assert!(fits > 0 && fits < 40, "{err}");
    ok(&[&budget[..], &args(m, &data, &["--points", &largest])].concat());
    // A normalisation layer, named; a network of 9 inputs on data of 5 features.
    let mut wide = TensorFile::default();
    wide.put_matrix("0.weight", &Matrix::<f32>::zeros(4, 9));
    wide.put_vector("0.bias", &[0.0; 4]);
    wide.put_matrix("2.weight", &Matrix::<f32>::zeros(3, 4));
    wide.write(&dir.path().join("wide.safetensors")).unwrap();
    let mut bn = TensorFile::default();
    bn.put_matrix("0.weight", &Matrix::<f32>::zeros(4, 5));
    bn.put_vector("1.running_mean", &[0.0; 4]);
    bn.write(&dir.path().join("bn.safetensors")).unwrap();
    let supported = "supported: nn.Sequential of Linear and ReLU";
    let p = dir.path().join("bn.safetensors");
    fails(
        &args(p.to_str().unwrap(), &data, &[]),
        &[
            "`1.running_mean` belongs to a normalisation layer",
            supported,
        ],
    );
    let p = dir.path().join("wide.safetensors");
    fails(
        &args(p.to_str().unwrap(), &data, &[]),
        &["the model takes 9 inputs", "5 features"],
    );
}

/// The paper's network: `analyze`'s keys as before, with the per-layer eNTK beside them,
/// whose first layer is s_m(D).
#[test]
fn the_paper_network_keeps_its_report_and_gains_the_layers() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, _, data) = setup(dir.path());
    let mut rng = SeededRng::new(2, Stream::Init);
    let mut file = TensorFile::default();
    file.put_matrix("W", &random(30, 5, &mut rng));
    file.put_matrix("V", &random(3, 30, &mut rng));
    let model = dir.path().join("wv.safetensors");
    file.write(&model).unwrap();
    let report = dir.path().join("a.json");
    let stdout = ok(&args(
        model.to_str().unwrap(),
        &data,
        &["--json", report.to_str().unwrap()],
    ));
    assert!(
        stdout.contains("lambda_min(K)") && stdout.contains("empirical NTK, full form"),
        "{stdout}"
    );
    let a = json(&report);
    assert_eq!(a["layers"][0]["s_min"], a["s_min"]);
    assert!(a["lambda_min_k"].is_number() && a["network"]["lambda_min"].is_number());
}
