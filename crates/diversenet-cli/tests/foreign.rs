//! Networks trained elsewhere in the CLI: PyTorch-named safetensors, `--weights W.npy,V.npy`,
//! raw inputs by default (and said), biases refused, `--all-data`, and unusable weights named
//! by their file.

use std::path::Path;
use std::process::{Command, Output};

use diversenet::data::npy::encode_npy_f64;
use diversenet::linalg::{Cancel, Matrix};
use diversenet::model::file::TensorFile;
use diversenet::model::{Network, OutputLayer};
use diversenet::rng::{SeededRng, Stream};
use diversenet::theory::feature_matrix::smallest_singular_value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diversenet"))
        .args(args)
        .output()
        .unwrap()
}

fn random(rows: usize, cols: usize, rng: &mut SeededRng) -> Matrix<f64> {
    Matrix::from_vec(rows, cols, (0..rows * cols).map(|_| rng.normal()).collect())
}

fn write_npy(path: &Path, m: &Matrix<f64>) {
    std::fs::write(path, encode_npy_f64(&[m.rows(), m.cols()], m.as_slice())).unwrap();
}

#[test]
fn foreign_weights_are_analysed_on_raw_inputs_and_biases_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let mut rng = SeededRng::new(3, Stream::Init);
    let (w, v, x) = (
        random(12, 4, &mut rng),
        random(1, 12, &mut rng),
        random(30, 4, &mut rng),
    );
    let y = random(30, 1, &mut rng);
    write_npy(Path::new(&p("X.npy")), &x);
    std::fs::write(p("y.npy"), encode_npy_f64(&[30], y.as_slice())).unwrap();
    let mut torch = TensorFile::default();
    torch.put_matrix("0.weight", &w.map(|&v| v as f32));
    torch.put_matrix("2.weight", &v.map(|&v| v as f32));
    torch.write(Path::new(&p("torch.safetensors"))).unwrap();
    let data = format!("npy:{},{}", p("X.npy"), p("y.npy"));
    let json = p("a.json");
    let out = run(&[
        "analyze",
        "--model",
        &p("torch.safetensors"),
        "--data",
        &data,
        "--all-data",
        "--all-points",
        "--json",
        &json,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("foreign weights") && stdout.contains("--input-scaling raw"));
    assert!(stdout.contains("30 of 30 points"), "{stdout}");
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The raw (unscaled) points and the weights as stored (f32).
    let net = Network {
        w: w.map(|&v| v as f32 as f64),
        v: v.map(|&v| v as f32 as f64),
        output_layer: OutputLayer::Trained,
    };
    let expected = smallest_singular_value(&net, &x, Cancel::NEVER)
        .unwrap()
        .value;
    assert!((a["s_min"].as_f64().unwrap() - expected).abs() <= 1e-9 * expected);

    // The same network from two .npy files.
    write_npy(Path::new(&p("W.npy")), &net.w);
    write_npy(Path::new(&p("V.npy")), &net.v);
    let weights = format!("{},{}", p("W.npy"), p("V.npy"));
    let out = run(&["eval", "--weights", &weights, "--data", &data, "--all-data"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["samples"], 30);
    assert_eq!(e["input_scaling"], "raw");
    assert_eq!(e["loss_function"], "squared");

    // A bias is refused with how to export without one.
    torch.put_matrix("0.bias", &Matrix::from_vec(1, 12, vec![0.0f32; 12]));
    torch.write(Path::new(&p("biased.safetensors"))).unwrap();
    let out = run(&[
        "analyze",
        "--model",
        &p("biased.safetensors"),
        "--data",
        &data,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("`0.bias` is a bias") && err.contains("bias=False"),
        "{err}"
    );
    // --input-scaling is for foreign weights; --all-data for csv/npy files.
    let out = run(&[
        "eval",
        "--weights",
        &weights,
        "--data",
        "synthetic",
        "--dim",
        "4",
        "--all-data",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("invalid setting --all-data: it does not apply here: it applies to csv:PATH"));
    let out = run(&["eval", "--weights", "W.npy", "--data", &data]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected W.npy,V.npy"));
}

/// A foreign model whose weights cannot be used: the error names the file (it spoke of a
/// setting `weights` that no flag sets).
#[test]
fn unusable_foreign_weights_name_the_model_file() {
    let dir = tempfile::tempdir().unwrap();
    // Zero units score fine (`eval`), but have no direction for the theory (`analyze`).
    for (name, w, commands) in [
        ("huge.safetensors", 1e200, &["eval", "analyze"][..]),
        ("zero.safetensors", 0.0, &["analyze"][..]),
    ] {
        let path = dir.path().join(name);
        let net = Network {
            w: Matrix::from_vec(8, 10, (0..80).map(|k| w * (1.0 + (k % 3) as f64)).collect()),
            v: Matrix::from_vec(1, 8, vec![1.0; 8]),
            output_layer: OutputLayer::Fixed,
        };
        diversenet::model::foreign::save_weights(&path, &net).unwrap();
        let model = path.to_str().unwrap();
        for &command in commands {
            let o = run(&[command, "--model", model, "--data", "synthetic"]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{command} {name}: {err}");
            assert!(err.contains(model), "{command} {name}: {err}");
        }
    }
}
