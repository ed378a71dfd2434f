//! The program's defaults and what it prints: `eval` and `analyze` take the data stored
//! in the model (and refuse a network without a data record unless `--data` names the
//! data), `analyze`'s default point count, how float targets are read, the spectrum's table
//! and JSON, and every `--json` explained; the split `eval` reports (all rows when there is
//! no held-out split), the label of the kernel bound off the sphere, why a loss is null,
//! and the zero points that make s_m(D) and lambda_min(K) zero.

mod common;

use std::path::Path;

use common::{csv_of_rows, fails, ok, s, small_synthetic};
use diversenet::cancel::Cancel;
use diversenet::data::npy::encode_npy_f64;
use diversenet::model::file::save_model;
use diversenet::model::fit::train_in_memory;
use diversenet::model::{TrainSettings, TrainedModel};

#[test]
fn a_new_users_first_hour() {
    let dir = tempfile::tempdir().unwrap();
    // eval and analyze take the data from the model: here an npy pair and a split.
    let x: Vec<f64> = (0..600)
        .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
        .collect();
    let y: Vec<f64> = (0..200).map(|i| (i as f64 / 10.0).sin()).collect();
    let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    std::fs::write(&xp, encode_npy_f64(&[200, 3], &x)).unwrap();
    std::fs::write(&yp, encode_npy_f64(&[200], &y)).unwrap();
    let out = dir.path().join("run");
    let spec = format!("npy:{},{}", s(&xp), s(&yp));
    ok(&[
        "train",
        "--data",
        &spec,
        "--epochs",
        "2",
        "--width",
        "5",
        "--seed",
        "3",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let model = out.join("model.safetensors");
    let with_flags = ok(&["eval", "--model", s(&model), "--data", &spec]);
    let without = ok(&["eval", "--model", s(&model)]);
    assert_eq!(with_flags, without, "the stored data source is the default");
    assert!(without.contains("x.npy (test split)"), "{without}");
    // analyze's default point count keeps m c <= n d (here 15), so s_m(D) is not 0 by rank.
    let a = ok(&["analyze", "--model", s(&model)]);
    assert!(a.contains("(15 of 160 points"), "{a}");
    assert!(!a.contains("[rank"), "{a}");
    // Float targets 0.0/1.0 are real values under auto, classes under --task classify.
    let labels: Vec<f64> = (0..200).map(|i| (i % 2) as f64).collect();
    let lp = dir.path().join("l.npy");
    std::fs::write(&lp, encode_npy_f64(&[200], &labels)).unwrap();
    let spec = format!("npy:{},{}", s(&xp), s(&lp));
    let summary = |task: &str, name: &str| -> serde_json::Value {
        let o = ok(&[
            "train",
            "--data",
            &spec,
            "--task",
            task,
            "--epochs",
            "1",
            "--width",
            "4",
            "--out",
            s(&dir.path().join(name)),
            "--quiet",
        ]);
        serde_json::from_str::<serde_json::Value>(o.lines().last().unwrap()).unwrap()["summary"]
            .clone()
    };
    assert_eq!(summary("auto", "auto")["config"]["loss"], "squared");
    let classes = summary("classify", "classify");
    assert_eq!(classes["config"]["loss"], "cross-entropy");
    assert_eq!(classes["config"]["outputs"], 2);
    // A cross-entropy model's analysis says which loss it prints and why s_m(D)^2/n is absent.
    let a = ok(&[
        "analyze",
        "--model",
        s(&dir.path().join("classify/model.safetensors")),
    ]);
    assert!(a.contains("squared loss on one-hot targets"), "{a}");
    assert!(a.contains("given for one output only"), "{a}");
    // --task classify on synthetic data is refused, not ignored.
    fails(
        &[
            "train",
            "--task",
            "classify",
            "--out",
            s(&dir.path().join("syn")),
        ],
        &[
            "invalid setting --task",
            "synthetic data has real-valued targets",
        ],
    );
    // spectrum: huge multiplicities in scientific notation in the table, exact in JSON.
    let json = dir.path().join("spectrum.json");
    let table = ok(&[
        "spectrum",
        "--dim",
        "784",
        "--max-degree",
        "300",
        "--json",
        s(&json),
    ]);
    let row = |u: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(u))
            .unwrap()
            .to_string()
    };
    assert!(row("4").contains(" 15862196700 "), "{}", row("4"));
    assert!(row("300").contains(" 8.8889e275 "), "{}", row("300"));
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(j["degrees"][4]["multiplicity"], 15862196700.0);
    // Every command that takes --json explains it.
    for cmd in [
        &["train"][..],
        &["eval"],
        &["analyze"],
        &["spectrum"],
        &["reproduce"],
        &["fetch"],
        &["bench", "train"],
        &["bench", "theory"],
        &["bench", "reg"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = ok(&args);
        // `--json <JSON>`, or `--json [<JSON>]` where the path is optional.
        let after = help
            .split("--json <JSON>")
            .nth(1)
            .or_else(|| help.split("--json [<JSON>]").nth(1))
            .unwrap_or_else(|| panic!("{cmd:?}: no --json flag in --help"));
        let text = after.split("\n  -").next().unwrap();
        assert!(text.trim().len() > 10, "{cmd:?}: --json has no help text");
    }
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
    let fitted = train_in_memory(&settings, train, Some(test), Cancel::NEVER).unwrap();
    let model = dir.path().join("saved.safetensors");
    let trained =
        TrainedModel::new(fitted.net, fitted.transform, fitted.config, fitted.classes).unwrap();
    save_model(&model, &trained).unwrap();
    for command in ["eval", "analyze"] {
        fails(
            &[command, "--model", s(&model)],
            &[
                "--data is needed: ",
                "the model was trained on in-memory arrays (training inputs 300 x 6",
            ],
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

/// [`rows`] with rows 3 and 17 zero, as a CSV in `dir`; the `--data` value.
fn zero_rows_csv(dir: &Path) -> String {
    let mut with_zero = rows(1.0);
    with_zero[3] = [0.0, 0.0, 0.5];
    with_zero[17] = [0.0, 0.0, -0.5];
    csv_of_rows(dir, "z.csv", &with_zero)
}

#[test]
fn analyze_names_zero_points_and_why_the_values_are_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data = zero_rows_csv(dir.path());
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
        text.contains("2 of the points used are zero (rows 3, 17 of the data"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["zero_points"], serde_json::json!([3, 17]));
    assert_eq!(v["s_min"], 0.0);
    assert!(v["s_min_reason"]
        .as_str()
        .unwrap()
        .contains("2 of the 24 points are zero"));
    assert!(v["lambda_min_k_reason"].as_str().is_some());
}

/// With a held-out split the points are a shuffled part of the file: the zero points are
/// still named by their rows in the file (the train and test splits' lists together are
/// the file's zero rows), not by their places in the split or in a sub-sample of it.
#[test]
fn zero_points_are_named_by_their_rows_in_the_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = zero_rows_csv(dir.path());
    let out = dir.path().join("split-run");
    ok(&[
        "train",
        "--data",
        &data,
        "--test-fraction",
        "0.5",
        "--input-scaling",
        "raw",
        "--width",
        "16",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        s(&out),
    ]);
    let model = out.join("model.safetensors");
    let mut named = Vec::new();
    for split in ["train", "test"] {
        let json = dir.path().join(format!("{split}.json"));
        let text = ok(&[
            "analyze",
            "--model",
            s(&model),
            "--split",
            split,
            "--all-points",
            "--json",
            s(&json),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let rows: Vec<u64> = v["zero_points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_u64().unwrap())
            .collect();
        if !rows.is_empty() {
            let listed: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
            assert!(
                text.contains(&format!("(rows {} of the data", listed.join(", "))),
                "{text}"
            );
        }
        named.extend(rows);
    }
    named.sort_unstable();
    assert_eq!(named, vec![3, 17]);
    // A sub-sample of a split: still the file's rows.
    for split in ["train", "test"] {
        let json = dir.path().join(format!("{split}-8.json"));
        ok(&[
            "analyze",
            "--model",
            s(&model),
            "--split",
            split,
            "--points",
            "8",
            "--json",
            s(&json),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        for row in v["zero_points"].as_array().unwrap() {
            assert!(row == 3 || row == 17, "{split}: {}", v["zero_points"]);
        }
    }
}
