//! What `eval` and `analyze` say about what they measured: the split (all rows when there
//! is no held-out split), no default data for a network without a data record, the
//! label of the kernel bound off the sphere, why a loss is null, and the zero points that
//! make s_m(D) and lambda_min(K) zero.

mod common;

use std::path::Path;

use common::{csv_of_rows, fails, ok, small_synthetic};
use diversenet::model::file::save_model;
use diversenet::model::fit::train_in_memory;
use diversenet::model::TrainSettings;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// 24 rows off the unit sphere (norms up to 13), real targets.
fn rows(scale_y: f64) -> Vec<[f64; 3]> {
    (0..24)
        .map(|k| {
            let (a, b) = ((k % 7) as f64 - 3.0, (k % 5) as f64 * 2.5 - 4.0);
            [a + 0.5, b, scale_y * (0.3 * a - 0.1 * b)]
        })
        .collect()
}

fn train_raw(dir: &Path, data: &str) -> String {
    let out = dir.join("run");
    ok(&[
        "train",
        "--data",
        data,
        "--all-data",
        "--input-scaling",
        "raw",
        "--width",
        "16",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        s(&out),
    ]);
    s(&out.join("model.safetensors")).to_string()
}

#[test]
fn eval_on_every_row_reports_split_all() {
    let dir = tempfile::tempdir().unwrap();
    let data = csv_of_rows(dir.path(), "d.csv", &rows(1.0));
    let model = train_raw(dir.path(), &data);
    // The recorded data (no held-out split), and the same data named again.
    for extra in [&[][..], &["--data", &data, "--all-data"][..]] {
        let mut args = vec!["eval", "--model", &model];
        args.extend(extra);
        let v: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        assert_eq!(v["split"], "all", "{args:?}");
    }
    let held_out = [data.as_str(), "--test-fraction", "0.25"];
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "eval",
        "--model",
        &model,
        "--data",
        held_out[0],
        held_out[1],
        held_out[2],
    ]))
    .unwrap();
    assert_eq!(v["split"], "test");
}

#[test]
fn a_network_without_a_data_record_needs_data_named() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = small_synthetic(4);
    let settings = TrainSettings {
        width: 5,
        epochs: 1,
        ..TrainSettings::default()
    };
    let fitted = train_in_memory(&settings, train, test).unwrap();
    let model = dir.path().join("saved.safetensors");
    save_model(
        &model,
        &fitted.net,
        &fitted.transform,
        &fitted.config,
        fitted.classes,
    )
    .unwrap();
    for command in ["eval", "analyze"] {
        fails(
            &[command, "--model", s(&model)],
            &["records no data it was trained on", "pass --data"],
        );
    }
    ok(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        "synthetic",
        "--dim",
        "6",
    ]);
}

#[test]
fn analyze_off_the_sphere_labels_the_bound_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let data = csv_of_rows(dir.path(), "d.csv", &rows(1.0));
    let model = train_raw(dir.path(), &data);
    let text = ok(&["analyze", "--model", &model, "--all-points"]);
    assert!(
        text.contains("lambda_min(K) - r^2 ||E_W||_2 (r^2 = max ||x||^2 = ")
            && !text.contains("lambda_min(K) - ||E_W||_2 "),
        "{text}"
    );
    assert!(
        text.contains("measured on every row of the data (no held-out split)"),
        "{text}"
    );
}

#[test]
fn analyze_says_why_a_loss_is_null() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_raw(dir.path(), &csv_of_rows(dir.path(), "d.csv", &rows(1.0)));
    // The same inputs with targets near 1e155: their squares overflow f64.
    let big = csv_of_rows(dir.path(), "big.csv", &rows(1e155));
    let json = dir.path().join("a.json");
    let text = ok(&[
        "analyze",
        "--model",
        &model,
        "--data",
        &big,
        "--all-data",
        "--json",
        s(&json),
    ]);
    assert!(
        text.contains("squared loss L") && text.contains("n/a (the targets reach"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(v["loss"].is_null() && v["grad_norm"].is_null());
    assert!(v["loss_reason"].as_str().unwrap().contains("overflow f64"));
}

#[test]
fn analyze_names_zero_points_and_why_the_values_are_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut with_zero = rows(1.0);
    with_zero[3] = [0.0, 0.0, 0.5];
    with_zero[17] = [0.0, 0.0, -0.5];
    let data = csv_of_rows(dir.path(), "z.csv", &with_zero);
    let model = train_raw(dir.path(), &data);
    let json = dir.path().join("a.json");
    let text = ok(&[
        "analyze",
        "--model",
        &model,
        "--all-points",
        "--json",
        s(&json),
    ]);
    assert!(
        text.contains("2 of the points used are zero (data rows 3, 17)"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["zero_points"], serde_json::json!([3, 17]));
    assert_eq!(v["s_min"], 0.0);
    assert!(v["s_min_reason"]
        .as_str()
        .unwrap()
        .contains("2 of the points are zero (rows 3, 17)"));
    assert!(v["lambda_min_k_reason"].as_str().is_some());
}
