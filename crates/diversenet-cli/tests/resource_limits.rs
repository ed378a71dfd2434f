//! The six breakages of issue 10, each refused with a clear error before any work starts
//! and nothing written, and the answers that were unclear.

mod common;

use std::io::Write;
use std::path::Path;

use common::{fails, ok, run};
use diversenet::data::idx::encode_idx;
use diversenet::data::npy::encode_npy_f64;
use diversenet::limits::analyze_estimate;
use diversenet::model::file::{load_model, save_model};
use diversenet::model::TrainedModel;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A csv of 3 features and `labels` (one row per label, features from the label).
fn labelled_csv(path: &Path, labels: &[u32]) {
    let mut text = String::from("a,b,c,label\n");
    for (i, l) in labels.iter().enumerate() {
        text += &format!(
            "{},{},{},{l}\n",
            *l as f64 + 0.1 * i as f64,
            1.0,
            -(*l as f64)
        );
    }
    std::fs::write(path, text).unwrap();
}

/// Trains a width-6 network on the default synthetic data for `epochs`; returns stderr.
fn small_synthetic_run(out: &Path, epochs: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--epochs",
        epochs,
        "--width",
        "6",
        "--out",
        s(out),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    stderr_of(&args)
}

fn stderr_of(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_test_class_absent_from_training_is_refused_for_both_losses() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    let test = dir.path().join("test.csv");
    labelled_csv(&train, &[0, 1, 2, 0, 1, 2, 0, 1]);
    labelled_csv(&test, &[0, 1, 3, 2]);
    for loss in ["cross-entropy", "squared"] {
        let out = dir.path().join(format!("run-{loss}"));
        fails(
            &[
                "train",
                "--data",
                &format!("csv:{}", s(&train)),
                "--test",
                &format!("csv:{}", s(&test)),
                "--loss",
                loss,
                "--epochs",
                "1",
                "--out",
                s(&out),
            ],
            &["label 3 at sample 2", "absent from the training data"],
        );
        assert!(!out.exists(), "nothing is written");
    }
}

#[test]
fn an_idx_file_declaring_more_than_the_budget_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    // The header alone, gzipped: 400000 x 28 x 28 images declared.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&encode_idx(&[400_000, 28, 28], &[])).unwrap();
    let images = e.finish().unwrap();
    let labels = encode_idx(&[400_000], &[]);
    let names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    // A missing test file is named before the training files are read (the training
    // images here are not even valid).
    std::fs::write(dir.path().join(format!("{}.gz", names[0])), b"junk").unwrap();
    std::fs::write(dir.path().join(names[1]), &labels).unwrap();
    let out = dir.path().join("run");
    let args = [
        "--max-memory",
        "1G",
        "train",
        "--data=mnist",
        "--data-dir",
        s(dir.path()),
        "--out",
        s(&out),
    ];
    fails(&args, &["t10k-images-idx3-ubyte", "not found"]);
    for (i, name) in names.iter().enumerate() {
        let bytes = if i % 2 == 0 { &images } else { &labels };
        std::fs::write(dir.path().join(format!("{name}.gz")), bytes).unwrap();
    }
    let _ = std::fs::remove_file(dir.path().join(names[1]));
    fails(
        &args,
        &[
            "loading",
            "400000 x 784",
            "would need about 2.8 GB",
            "budget of 1.0 GB (set by --max-memory)",
        ],
    );
    assert!(!out.exists());
}

#[test]
fn a_width_or_dimension_beyond_memory_is_refused_with_what_fits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    fails(
        &[
            "--max-memory",
            "2G",
            "train",
            "--width",
            "100000000000",
            "--epochs",
            "1",
            "--out",
            s(&out),
        ],
        &[
            "training a width-100000000000 network",
            "budget of 2.0 GB",
            "the largest --width that fits is",
        ],
    );
    fails(
        &[
            "train",
            "--dim",
            "100000000",
            "--epochs",
            "1",
            "--out",
            s(&out),
        ],
        &[
            "synthetic data",
            "d = 100000000",
            "the largest --dim that fits is",
        ],
    );
    assert!(!out.exists(), "no directory left behind");
    // The largest width named fits.
    let e = run(&[
        "--max-memory",
        "2G",
        "train",
        "--width",
        "100000000000",
        "--out",
        s(&out),
    ]);
    let msg = String::from_utf8_lossy(&e.stderr);
    let fits: usize = msg
        .split("the largest --width that fits is ")
        .nth(1)
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    assert!(fits > 1000 && fits < 100_000_000, "{fits}");
}

#[test]
fn analyze_on_all_points_of_a_big_set_is_refused_with_the_points_that_fit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    small_synthetic_run(&out, "1", &[]);
    let model = out.join("model.safetensors");
    let args = [
        "--max-memory",
        "4G",
        "analyze",
        "--model",
        s(&model),
        "--data",
        "synthetic",
        "--train-samples",
        "60000",
        "--all-points",
    ];
    fails(
        &args,
        &["analyze on 60000 points", "Gram D^T D", "budget of 4.0 GB"],
    );
    let msg = String::from_utf8_lossy(&run(&args).stderr).into_owned();
    let fits: usize = msg
        .split("the largest --points that fits is ")
        .nth(1)
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    // About 40 m^2 bytes (D^T D, X X^T, slice volumes, K, E_W) within 4e9: m just below 10000.
    let bytes = |m| analyze_estimate(m, 10, 8, 1).total();
    assert!(bytes(fits) <= 4e9 && bytes(fits + 1) > 4e9, "{fits}");
    assert!((9990..10000).contains(&fits), "{fits}");
}

#[test]
fn resume_with_other_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f64> = (0..300)
        .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
        .collect();
    let y: Vec<f64> = (0..100).map(|i| (i as f64 / 10.0).sin()).collect();
    let y_other: Vec<f64> = y.iter().map(|v| v + 1.0).collect();
    for (name, bytes) in [
        ("x.npy", encode_npy_f64(&[100, 3], &x)),
        ("t.npy", encode_npy_f64(&[100], &y)),
        ("t_other.npy", encode_npy_f64(&[100], &y_other)),
    ] {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let data = |t: &str| {
        format!(
            "npy:{},{}",
            s(&dir.path().join("x.npy")),
            s(&dir.path().join(t))
        )
    };
    let out = dir.path().join("run");
    let train = |t: &str, epochs: &str, resume: bool| {
        let mut a: Vec<String> = [
            "train",
            "--data",
            &data(t),
            "--epochs",
            epochs,
            "--width",
            "4",
        ]
        .iter()
        .map(|x| x.to_string())
        .chain(["--out".into(), s(&out).into(), "--quiet".into()])
        .collect();
        if resume {
            a.push("--resume".into());
        }
        a
    };
    let first = train("t.npy", "2", false);
    ok(&first.iter().map(String::as_str).collect::<Vec<_>>());
    let other = train("t_other.npy", "3", true);
    fails(
        &other.iter().map(String::as_str).collect::<Vec<_>>(),
        &["the training data differ", "checkpoint.safetensors"],
    );
    // The same data resume; fewer epochs than done say there is nothing to do.
    let fewer = train("t.npy", "1", true);
    let err = stderr_of(&fewer.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("nothing to train: the checkpoint is at epoch 2"),
        "{err}"
    );
    // --resume in an empty directory says it starts a new run.
    let fresh_out = dir.path().join("fresh");
    let err = small_synthetic_run(&fresh_out, "1", &["--resume"]);
    assert!(
        err.contains("holds no checkpoint; started a new run"),
        "{err}"
    );
}

#[test]
fn absurd_thread_counts_are_refused() {
    fails(
        &["--threads", "100000", "spectrum", "--dim", "3"],
        &["invalid setting --threads", "100000 threads", "per core"],
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
