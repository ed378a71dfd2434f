//! `diversenet predict`: a saved model's outputs on inputs as the library computes them,
//! CSV columns taken by the names the model was trained on, and what it refuses.

mod common;

use std::path::Path;

use common::{fails, ok, s, small_synthetic_run};
use diversenet::linalg::Matrix;
use diversenet::model::foreign::{load_network, LoadedNetwork};
use diversenet::model::predict::{class_indices, outputs};

/// The values of a CSV file written by `predict` (after its header row), by row.
fn read_csv(path: &Path) -> (String, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let rows = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    (header, rows)
}

#[test]
fn predictions_are_the_models_outputs_on_the_columns_it_was_trained_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut train = String::from("a,b,label\n");
    let mut shuffled = String::from("extra,b,a\n");
    let mut inputs = Vec::new();
    for i in 0..40 {
        let (a, b) = ((i * 7 % 11) as f64 - 5.0, (i * 5 % 13) as f64 - 6.0);
        train += &format!("{a},{b},{}\n", usize::from(a * b > 0.0));
        shuffled += &format!("99,{b},{a}\n");
        inputs.extend([a, b]);
    }
    std::fs::write(dir.path().join("tr.csv"), train).unwrap();
    std::fs::write(dir.path().join("new.csv"), shuffled).unwrap();
    let run = dir.path().join("run");
    let data = format!("csv:{}", s(&dir.path().join("tr.csv")));
    ok(&[
        "train",
        "--data",
        &data,
        "--width",
        "6",
        "--epochs",
        "3",
        "--precision",
        "f64",
        "--input-scaling",
        "standardise",
        "--out",
        s(&run),
        "--quiet",
    ]);
    let model = run.join("model.safetensors");
    let new = format!("csv:{}", s(&dir.path().join("new.csv")));
    let decision = dir.path().join("f.csv");
    let classes = dir.path().join("c.csv");
    ok(&[
        "predict",
        "--model",
        s(&model),
        "--data",
        &new,
        "--kind",
        "decision",
        "--out",
        s(&decision),
    ]);
    ok(&[
        "predict",
        "--model",
        s(&model),
        "--data",
        &new,
        "--out",
        s(&classes),
    ]);
    // The library's outputs on the inputs in the model's column order (a, b), scaled by
    // the model's own statistics.
    let LoadedNetwork::Trained(m) = load_network(&model).unwrap() else {
        panic!("a diversenet model")
    };
    let want = outputs(m.net(), m.transform(), Matrix::from_vec(40, 2, inputs), "X").unwrap();
    let (header, got) = read_csv(&decision);
    assert_eq!(header, "output_0,output_1");
    for (i, row) in got.iter().enumerate() {
        assert_eq!(row.as_slice(), want.row(i), "row {i}");
    }
    let (header, labels) = read_csv(&classes);
    assert_eq!(header, "prediction");
    let labels: Vec<usize> = labels.iter().map(|r| r[0] as usize).collect();
    assert_eq!(labels, class_indices(&want));
}

#[test]
fn predict_refuses_what_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    small_synthetic_run(&run, "1", &[]);
    let model = run.join("model.safetensors");
    let x = dir.path().join("X.npy");
    std::fs::write(
        &x,
        diversenet::data::npy::encode_npy_f64(&[3, 10], &[0.5; 30]),
    )
    .unwrap();
    let data = format!("npy:{}", s(&x));
    let out = dir.path().join("p.npy");
    fails(
        &[
            "predict",
            "--model",
            s(&model),
            "--data",
            &data,
            "--kind",
            "proba",
            "--out",
            s(&out),
        ],
        &["--kind proba", "cross-entropy", "--kind decision"],
    );
    fails(
        &[
            "predict",
            "--model",
            s(&model),
            "--data",
            &data,
            "--out",
            "p.txt",
        ],
        &["--out p.txt", ".npy or .csv"],
    );
    let wrong = dir.path().join("W.npy");
    std::fs::write(
        &wrong,
        diversenet::data::npy::encode_npy_f64(&[3, 2], &[0.5; 6]),
    )
    .unwrap();
    fails(
        &[
            "predict",
            "--model",
            s(&model),
            "--data",
            &format!("npy:{}", s(&wrong)),
            "--out",
            s(&out),
        ],
        &["2 features per sample, but the model takes 10 inputs"],
    );
    // Real values: a float64 array of one value per row.
    ok(&[
        "predict",
        "--model",
        s(&model),
        "--data",
        &data,
        "--out",
        s(&out),
    ]);
    let written = diversenet::data::npy::read_npy(&out).unwrap();
    assert_eq!(written.shape, vec![3]);
}
