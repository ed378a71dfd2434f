//! The `diversenet` program as a user runs it: training and evaluation on every data
//! source, and clear errors (never a panic) on bad input.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fails, mnist_dir, ok, read_metrics, run, small_synthetic_run};
use diversenet::data::idx::encode_idx;
use diversenet::data::npy::encode_npy_f64;
use diversenet::model::file::{load_model, save_model};
use diversenet::model::TrainedModel;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn train_then_eval_synthetic() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let json = dir.path().join("summary.json");
    let stdout = ok(&[
        "train",
        "--data",
        "synthetic",
        "--epochs",
        "3",
        "--width",
        "16",
        "--seed",
        "7",
        "--out",
        s(&out),
        "--json",
        s(&json),
        "--quiet",
    ]);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "4 epoch lines and the summary");
    for key in [
        "epoch",
        "train_loss",
        "train_loss_kind",
        "test_loss",
        "wall_s",
    ] {
        assert!(lines[0].get(key).is_some(), "{key}");
    }
    // Without --exact-metrics the trained epochs log running averages, without the gradient.
    assert_eq!(lines[0]["train_loss_kind"], "exact");
    assert_eq!(lines[3]["train_loss_kind"], "running");
    assert!(lines[3].get("grad_norm").is_none());
    let summary = &lines[4]["summary"];
    for f in [
        "metrics.jsonl",
        "model.safetensors",
        "config.json",
        "summary.json",
        "checkpoint.safetensors",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    assert_eq!(read_metrics(&out.join("metrics.jsonl")).len(), 4);
    assert!(json.is_file());
    let eval = ok(&[
        "eval",
        "--model",
        s(&out.join("model.safetensors")),
        "--data",
        "synthetic",
    ]);
    let eval: serde_json::Value = serde_json::from_str(&eval).unwrap();
    let (a, b) = (
        eval["loss"].as_f64().unwrap(),
        summary["final_metrics"]["test_loss"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-5 * b.abs(), "eval {a} vs training {b}");
}

#[test]
fn csv_and_npy_data_train_and_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    // Two Gaussian blobs in 3-d, labelled 0 and 1.
    let mut csv = String::from("f1,f2,f3,label\n");
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..200 {
        let c = i % 2;
        let sign = if c == 0 { 1.0 } else { -1.0 };
        let row = [
            sign + 0.1 * ((i * 7 % 13) as f64 - 6.0) / 6.0,
            0.5,
            sign * 0.3,
        ];
        csv += &format!("{},{},{},{c}\n", row[0], row[1], row[2]);
        x.extend(row);
        y.push(if c == 0 { 0.5 } else { -0.5 });
    }
    let csv_path = dir.path().join("blobs.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let out = dir.path().join("csv-run");
    let spec = format!("csv:{}", s(&csv_path));
    let stdout = ok(&[
        "train",
        "--data",
        &spec,
        "--epochs",
        "30",
        "--width",
        "8",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().nth(30).unwrap()).unwrap();
    assert!(last["test_error"].as_f64().unwrap() < 0.05, "{last}");
    let eval = ok(&[
        "eval",
        "--model",
        s(&out.join("model.safetensors")),
        "--data",
        &spec,
    ]);
    assert!(eval.contains("\"error\""));

    let xp = dir.path().join("x.npy");
    let yp = dir.path().join("y.npy");
    std::fs::write(&xp, encode_npy_f64(&[200, 3], &x)).unwrap();
    std::fs::write(&yp, encode_npy_f64(&[200], &y)).unwrap();
    let spec = format!("npy:{},{}", s(&xp), s(&yp));
    let out = dir.path().join("npy-run");
    ok(&[
        "train",
        "--data",
        &spec,
        "--epochs",
        "5",
        "--width",
        "8",
        "--input-scaling",
        "standardise",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let m = read_metrics(&out.join("metrics.jsonl"));
    assert!(m[5].train_loss < m[0].train_loss);
    assert!(m[5].test_error.is_none(), "float targets are a regression");
}

#[test]
fn bad_user_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "a,b,label\n1,2,0\n1,2\n").unwrap();
    fails(
        &[
            "train",
            "--data",
            &format!("csv:{}", s(&ragged)),
            "--out",
            s(&out),
        ],
        &["ragged.csv", "line 3"],
    );
    let words = dir.path().join("words.csv");
    std::fs::write(&words, "a,label\nseven,0\n").unwrap();
    fails(
        &[
            "train",
            "--data",
            &format!("csv:{}", s(&words)),
            "--out",
            s(&out),
        ],
        &["words.csv", "`seven` is not a number"],
    );
    let nan_x = dir.path().join("nan.npy");
    std::fs::write(&nan_x, encode_npy_f64(&[2, 1], &[1.0, f64::NAN])).unwrap();
    let y = dir.path().join("y.npy");
    std::fs::write(&y, encode_npy_f64(&[2], &[0.0, 1.0])).unwrap();
    fails(
        &[
            "train",
            "--data",
            &format!("npy:{},{}", s(&nan_x), s(&y)),
            "--out",
            s(&out),
        ],
        &["nan.npy", "finite"],
    );
    let y3 = dir.path().join("y3.npy");
    std::fs::write(&y3, encode_npy_f64(&[3], &[0.0, 1.0, 2.0])).unwrap();
    fails(
        &[
            "train",
            "--data",
            &format!("npy:{},{}", s(&nan_x), s(&y3)),
            "--out",
            s(&out),
        ],
        &["y3.npy", "shape"],
    );
    fails(
        &[
            "train",
            "--data",
            "synthetic",
            "--width",
            "0",
            "--out",
            s(&out),
        ],
        &["invalid setting --width"],
    );
    fails(
        &[
            "train",
            "--data",
            "synthetic",
            "--optimizer",
            "lbfgs",
            "--out",
            s(&out),
        ],
        &["optimizer", "gd, sgd or adam"],
    );
    fails(
        &["eval", "--model", s(&ragged), "--data", "synthetic"],
        &["ragged.csv", "safetensors"],
    );
}

#[test]
fn bad_mnist_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let write_set = |images: Vec<u8>, labels: Vec<u8>| {
        std::fs::write(dir.path().join("train-images-idx3-ubyte"), &images).unwrap();
        std::fs::write(dir.path().join("train-labels-idx1-ubyte"), &labels).unwrap();
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), &images).unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    };
    let args = [
        "train",
        "--data",
        "mnist",
        "--data-dir",
        s(dir.path()),
        "--out",
        s(&out),
    ];
    fails(&args, &["not found", "diversenet fetch mnist"]);
    write_set(
        b"\x00\x00\x08\x01\x00\x00\x00\x02ab"[..6].to_vec(),
        encode_idx(&[2], &[0, 1]),
    );
    fails(&args, &["train-images-idx3-ubyte", "file ends before"]);
    let mut wrong_magic = encode_idx(&[2, 2, 2], &[0; 8]);
    wrong_magic[1] = 7;
    write_set(wrong_magic, encode_idx(&[2], &[0, 1]));
    fails(&args, &["train-images-idx3-ubyte", "magic"]);
    write_set(encode_idx(&[2, 2, 2], &[0; 7]), encode_idx(&[2], &[0, 1]));
    fails(&args, &["train-images-idx3-ubyte", "need 8 bytes"]);
    write_set(
        encode_idx(&[100_000, 100_000, 100_000], &[]),
        encode_idx(&[2], &[0, 1]),
    );
    fails(&args, &["train-images-idx3-ubyte", "would need more than"]);
    write_set(encode_idx(&[3, 2, 2], &[0; 12]), encode_idx(&[2], &[0, 1]));
    fails(&args, &["train-labels-idx1-ubyte", "2 labels but"]);
    write_set(encode_idx(&[2, 2, 2], &[0; 8]), encode_idx(&[2], &[0, 12]));
    fails(&args, &["train-labels-idx1-ubyte", "label 12"]);
}

/// The model file loads in Python's safetensors (the loader PyTorch uses), with the same
/// values. Skipped with a note when Python lacks the packages, unless
/// DIVERSENET_REQUIRE_PYTHON=1 (as in CI).
#[test]
fn model_file_loads_in_python_safetensors() {
    let probe = Command::new("python3")
        .args(["-c", "import numpy, safetensors.numpy"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        assert!(
            std::env::var("DIVERSENET_REQUIRE_PYTHON").is_err(),
            "python3 with numpy and safetensors is required: pip install numpy safetensors"
        );
        eprintln!(
            "skipped: python3 with numpy and safetensors not found (pip install numpy safetensors)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "--data",
        "synthetic",
        "--epochs",
        "1",
        "--width",
        "6",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let model = diversenet::model::file::load_model(&out.join("model.safetensors")).unwrap();
    let script = r#"
import sys, json
from safetensors.numpy import load_file
from safetensors import safe_open
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="numpy") as f:
    meta = f.metadata()
print(json.dumps({"W": t["W"].astype(float).ravel().tolist(), "shape": list(t["W"].shape), "dtype": str(t["W"].dtype), "V": t["V"].astype(float).ravel().tolist(), "format": meta["format"], "config": json.loads(meta["config"])["width"]}))
"#;
    let py = Command::new("python3")
        .args(["-c", script])
        .arg(out.join("model.safetensors"))
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(v["shape"], serde_json::json!([6, 10]));
    assert_eq!(v["dtype"], "float32");
    assert_eq!(v["format"], "pt");
    assert_eq!(v["config"], 6);
    let w: Vec<f64> = serde_json::from_value(v["W"].clone()).unwrap();
    assert_eq!(w, model.net().w.as_slice());
    let vv: Vec<f64> = serde_json::from_value(v["V"].clone()).unwrap();
    assert_eq!(vv, model.net().v.as_slice());
}

#[test]
fn eval_on_mnist_refuses_a_model_of_another_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "--data",
        "synthetic",
        "--epochs",
        "1",
        "--width",
        "4",
        "--out",
        s(&out),
        "--quiet",
    ]);
    fails(
        &[
            "eval",
            "--model",
            s(&out.join("model.safetensors")),
            "--data",
            "mnist",
            "--data-dir",
            s(&mnist_dir()),
        ],
        &["takes 10 inputs", "784 features"],
    );
}

#[test]
fn unclear_answers_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    fails(
        &["spectrum", "--dim", "784", "--max-degree", "100000000"],
        &["cap of 10000", "square of the degree"],
    );
    // --lr -1 reaches our validation; --lr 1e30 kills every unit and says so.
    let out = dir.path().join("run");
    fails(
        &["train", "--lr", "-1", "--out", s(&out)],
        &["invalid setting --lr: -1 is not a finite value > 0"],
    );
    fails(
        &[
            "train",
            "--lr",
            "1e30",
            "--epochs",
            "2",
            "--out",
            s(&out),
            "--quiet",
        ],
        &[
            "training diverged by epoch 1",
            "W holds NaN",
            "1e30 is too large",
        ],
    );
    let out = dir.path().join("good-run");
    small_synthetic_run(&out, "2", &[]);
    // --out naming a file: one message, the OS error at most once.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let o = run(&["train", "--epochs", "1", "--out", s(&file)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exists and is not a directory"), "{err}");
    assert!(err.matches("os error").count() <= 1, "{err}");
    let o = run(&[
        "eval",
        "--model",
        s(&dir.path().join("missing.safetensors")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    // A checkpoint passed as --model.
    fails(
        &["eval", "--model", s(&out.join("checkpoint.safetensors"))],
        &["training checkpoint", "model.safetensors"],
    );
    // W or V scaled by 1e160.
    let path = out.join("model.safetensors");
    for (which, needle) in [("W", "W overflows"), ("V", "V overflows")] {
        let m = load_model(&path).unwrap();
        let mut net = m.net().clone();
        let target = if which == "W" { &mut net.w } else { &mut net.v };
        target.as_mut_slice().iter_mut().for_each(|v| *v *= 1e160);
        let scaled = dir.path().join(format!("{which}.safetensors"));
        let m = TrainedModel::new(net, m.transform().clone(), m.config().clone(), m.classes());
        save_model(&scaled, &m.unwrap()).unwrap();
        for cmd in ["analyze", "eval"] {
            fails(&[cmd, "--model", s(&scaled)], &[needle, "largest entry is"]);
        }
    }
}
