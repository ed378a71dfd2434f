//! What a run records about itself is checked when it is used again: `eval` and `analyze`
//! without `--data` refuse a training file that changed after training (its SHA-256 is in
//! the model), and `--resume` refuses a thread count other than the checkpoint's (a run's
//! bits depend on it).

mod common;

use std::path::Path;

use common::*;
use diversenet::data::npy::encode_npy_f64;
use diversenet::model::file::TensorFile;

fn weights(model: &Path) -> (Vec<f32>, Vec<f32>) {
    let f = TensorFile::read(model).unwrap();
    (
        f.matrix::<f32>("W", model).unwrap().into_vec(),
        f.matrix::<f32>("V", model).unwrap().into_vec(),
    )
}

#[test]
fn eval_and_analyze_refuse_training_data_changed_after_training() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("mut.csv");
    let original = "a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n1,1,0\n";
    std::fs::write(&csv, original).unwrap();
    let data = format!("csv:{}", csv.display());
    let out = dir.path().join("run");
    let model = out.join("model.safetensors");
    let (out, model) = (out.to_str().unwrap(), model.to_str().unwrap());
    let train = ["--threads", "1", "train", "--quiet", "--data", &data];
    ok(&[&train[..], &["--width", "4", "--epochs", "1", "--out", out]].concat());
    let before = ok(&["--threads", "1", "eval", "--model", model]);
    // The same rows in another order: another SHA-256, and (the probe's case) another loss.
    std::fs::write(&csv, "a,b,label\n9,9,1\n8,1,0\n7,7,1\n1,8,0\n5,5,1\n").unwrap();
    let name = csv.display().to_string();
    let needles = [name.as_str(), "differ", "trained on", "--data", "train"];
    fails(&["--threads", "1", "eval", "--model", model], &needles);
    fails(&["--threads", "1", "analyze", "--model", model], &needles);
    // Another seed (another split) is checked too, against the run's own seed's split.
    fails(
        &["--threads", "1", "eval", "--model", model, "--seed", "7"],
        &needles,
    );
    // Other data passed explicitly is measured, as asked.
    ok(&["--threads", "1", "eval", "--model", model, "--data", &data]);
    // The file as it was: accepted again, with the same result.
    std::fs::write(&csv, original).unwrap();
    assert_eq!(ok(&["--threads", "1", "eval", "--model", model]), before);
}

/// Trains on small synthetic data into `out` with `threads` (`None`: no --threads flag).
fn train(out: &Path, threads: Option<usize>, epochs: usize, resume: bool) -> std::process::Output {
    let threads = threads.map(|t| t.to_string());
    let epochs = epochs.to_string();
    let mut args: Vec<&str> = match &threads {
        Some(t) => vec!["--threads", t],
        None => vec![],
    };
    args.extend([
        "train",
        "--quiet",
        "--dim",
        "5",
        "--train-samples",
        "200",
        "--test-samples",
        "50",
        "--width",
        "8",
        "--epochs",
        &epochs,
        "--out",
        out.to_str().unwrap(),
    ]);
    if resume {
        args.push("--resume");
    }
    run(&args)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn resume_refuses_another_thread_count_and_old_checkpoints_resume_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("uninterrupted");
    assert!(train(&reference, Some(1), 4, false).status.success());
    let run = dir.path().join("run");
    assert!(train(&run, Some(1), 2, false).status.success());
    let refused = train(&run, Some(2), 4, true);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    for needle in [
        "invalid setting --threads",
        "--threads 1",
        "has 2",
        "checkpoint.safetensors",
    ] {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
    // The same count resumes to the uninterrupted run's weights, bit for bit.
    let resumed = train(&run, Some(1), 4, true);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let model = "model.safetensors";
    assert_eq!(weights(&run.join(model)), weights(&reference.join(model)));

    // A checkpoint written before the count was recorded still resumes, with a note.
    let old = dir.path().join("old");
    assert!(train(&old, Some(1), 2, false).status.success());
    let checkpoint = old.join("checkpoint.safetensors");
    let mut file = TensorFile::read(&checkpoint).unwrap();
    assert_eq!(file.metadata.remove("threads").as_deref(), Some("1"));
    file.write(&checkpoint).unwrap();
    let resumed = train(&old, Some(1), 4, true);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("does not record the thread count"),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(weights(&old.join(model)), weights(&reference.join(model)));
}

/// Without --threads a run has every core: that is the count recorded and compared.
#[test]
fn the_default_thread_count_is_every_core() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert!(train(&run, Some(cores), 1, false).status.success());
    let resumed = train(&run, None, 2, true);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let other = dir.path().join("other");
    assert!(train(&other, Some(cores + 1), 1, false).status.success());
    let refused = train(&other, None, 2, true);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("--threads {}", cores + 1)) && err.contains(&format!("has {cores}")),
        "{err}"
    );
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
