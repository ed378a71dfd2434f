//! Hostile inputs and crashes: loaders never panic on arbitrary or truncated bytes; a run
//! killed with SIGKILL resumes to exactly the uninterrupted result; a corrupted checkpoint
//! is detected and the previous one used; numerical edge cases give answers or clear errors.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use diversenet::data::{csv, idx, npy, Dataset, Targets, Task};
use diversenet::linalg::Matrix;
use diversenet::model::file::TensorFile;
use diversenet::model::run::{run_training, Silent};
use diversenet::model::TrainSettings;
use diversenet::rng::{SeededRng, Stream};
use proptest::prelude::*;

fn valid_files() -> Vec<Vec<u8>> {
    let mut tf = TensorFile::default();
    tf.put_matrix("W", &Matrix::from_vec(2, 3, vec![1.0f32; 6]));
    vec![
        idx::encode_idx(&[3, 2, 2], &[7; 12]),
        npy::encode_npy_f64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        b"a,b,label\n1,2,0\n3,4,1\n".to_vec(),
        tf.encode().unwrap(),
    ]
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Every loader on `bytes`: any result but a panic is acceptable.
fn all_loaders(bytes: &[u8]) {
    let p = Path::new("fuzz");
    let _ = idx::parse_idx(bytes, p);
    let _ = idx::parse_idx(&gz(bytes), p);
    let _ = npy::parse_npy(bytes, p);
    let _ = csv::parse(bytes, p, None, Task::Auto);
    let _ = csv::parse(bytes, p, Some("label"), Task::Classify);
    if let Ok(f) = TensorFile::decode(bytes, p) {
        let _ = f.matrix::<f64>("W", p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn loaders_survive_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        all_loaders(&bytes);
    }

    #[test]
    fn loaders_survive_truncated_and_flipped_files(which in 0usize..4, cut in 0.0f64..1.0, flip in any::<(usize, u8)>()) {
        let mut bytes = valid_files()[which].clone();
        let n = (bytes.len() as f64 * cut) as usize;
        all_loaders(&bytes[..n]);
        let i = flip.0 % bytes.len();
        bytes[i] ^= flip.1 | 1;
        all_loaders(&bytes);
    }
}

#[test]
fn model_files_with_lying_headers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A safetensors header claiming an enormous length.
    let mut lying = (u64::MAX / 2).to_le_bytes().to_vec();
    lying.extend_from_slice(b"{}");
    let p = dir.path().join("m.safetensors");
    std::fs::write(&p, &lying).unwrap();
    let e = diversenet::model::file::load_model(&p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("m.safetensors"), "{e}");
}

fn uninterrupted(out: &Path, epochs: &str) {
    let o = train_cmd(out, epochs, false).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn train_cmd(out: &Path, epochs: &str, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_diversenet"));
    c.args([
        "--threads",
        "2",
        "train",
        "--data",
        "synthetic",
        "--train-samples",
        "3000",
        "--width",
        "300",
        "--dim",
        "20",
        "--epochs",
        epochs,
        "--seed",
        "5",
        "--quiet",
        "--out",
    ])
    .arg(out)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if resume {
        c.arg("--resume");
    }
    c
}

#[test]
fn sigkill_at_a_random_point_then_resume_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    uninterrupted(&straight, "30");
    // Kill points drawn from a seeded stream, spread over the run: after a drawn number of
    // epochs is logged (the run's own progress, not a clock), anywhere in the next epoch.
    let mut rng = SeededRng::new(2026, Stream::Sample);
    for attempt in 0..3 {
        let killed = dir.path().join(format!("killed-{attempt}"));
        let mut child = train_cmd(&killed, "30", false).spawn().unwrap();
        // From 3: epoch 1's checkpoint is on disk once epoch 2 is logged.
        let after = 3 + (25.0 * rng.uniform()) as usize;
        while logged_epochs(&killed) < after {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before epoch {after} was logged"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        // A checkpoint is on disk: the last one, or (killed while the next was being
        // written, after the last was renamed) the previous one.
        let lines = logged_epochs(&killed);
        let checkpointed = ["checkpoint.safetensors", "checkpoint.prev.safetensors"]
            .iter()
            .any(|f| killed.join(f).exists());
        assert!(
            checkpointed && lines < 31,
            "the kill after epoch {after} landed between two checkpoints"
        );
        let o = train_cmd(&killed, "30", true).output().unwrap();
        assert!(
            o.status.success(),
            "resume after a kill after epoch {after}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            without_time(&read_metrics(&straight.join("metrics.jsonl"))),
            without_time(&read_metrics(&killed.join("metrics.jsonl"))),
            "metrics after a kill after epoch {after}"
        );
        assert_eq!(
            std::fs::read(straight.join("model.safetensors")).unwrap(),
            std::fs::read(killed.join("model.safetensors")).unwrap()
        );
        let leftovers: Vec<_> = std::fs::read_dir(&killed)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn a_corrupted_checkpoint_is_detected_and_the_previous_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let settings = |epochs| TrainSettings {
        width: 16,
        epochs,
        seed: 9,
        batch_size: 32,
        ..TrainSettings::default()
    };
    let straight = dir.path().join("straight");
    let (train, test) = small_synthetic(3);
    run_training(
        &settings(6),
        train.clone(),
        test.clone(),
        &straight,
        false,
        &mut Silent,
    )
    .unwrap();
    let split = dir.path().join("split");
    run_training(
        &settings(4),
        train.clone(),
        test.clone(),
        &split,
        false,
        &mut Silent,
    )
    .unwrap();
    let ckpt = split.join("checkpoint.safetensors");
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    std::fs::write(&ckpt, bytes).unwrap();
    let summary = run_training(
        &settings(6),
        train.clone(),
        test.clone(),
        &split,
        true,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(summary.resumed_from_epoch, 3);
    assert!(
        summary
            .notes
            .iter()
            .any(|n| n.to_string().contains("checksum mismatch")),
        "{:?}",
        summary.notes
    );
    assert_eq!(
        without_time(&read_metrics(&straight.join("metrics.jsonl"))),
        without_time(&read_metrics(&split.join("metrics.jsonl")))
    );
    // Both checkpoints corrupted: a clear error, nothing silently used.
    for f in ["checkpoint.safetensors", "checkpoint.prev.safetensors"] {
        let p = split.join(f);
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 3] ^= 0x10;
        std::fs::write(&p, b).unwrap();
    }
    let e = run_training(&settings(8), train, test, &split, true, &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("neither can the previous one"), "{e}");
}

fn dataset(x: Vec<f64>, d: usize, targets: Targets) -> Dataset {
    Dataset::new("edge", Matrix::from_vec(x.len() / d, d, x), targets).unwrap()
}

#[test]
fn numerical_edge_cases_give_answers_or_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = 0;
    let mut run = |train: Dataset, s: TrainSettings| {
        k += 1;
        run_training(
            &s,
            train.clone(),
            train,
            &dir.path().join(k.to_string()),
            false,
            &mut Silent,
        )
    };
    let base = TrainSettings {
        width: 4,
        epochs: 3,
        batch_size: 4,
        ..TrainSettings::default()
    };
    // All-zero inputs: outputs and gradients would be 0 whatever the weights; refused
    // before training (it used to run to its end unchanged).
    let e = run(
        dataset(
            vec![0.0; 12],
            3,
            Targets::Scalar(vec![1.0, -1.0, 1.0, -1.0]),
        ),
        base.clone(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, diversenet::Error::Data { .. })
            && e.to_string().contains("every training input is zero"),
        "{e}"
    );
    // Some zero rows: trained, and those of a test set that is the training set counted
    // once.
    let s = run(
        dataset(
            vec![0.0, 0.0, 0.0, 0.6, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6, 0.8],
            3,
            Targets::Scalar(vec![1.0, -1.0, 1.0, -1.0]),
        ),
        base.clone(),
    )
    .unwrap();
    assert_eq!(s.zero_inputs, 2);
    // Duplicate samples and a constant target: trains.
    let s = run(
        dataset([0.6, 0.8].repeat(6), 2, Targets::Scalar(vec![0.3; 6])),
        base.clone(),
    )
    .unwrap();
    assert!(s.final_metrics.train_loss.is_finite());
    // A single class: cross-entropy is 0 and the error is 0.
    let s = run(
        dataset(
            vec![1.0, 2.0, 3.0, 4.0],
            2,
            Targets::Classes {
                labels: vec![0, 0],
                num_classes: 1,
            },
        ),
        base.clone(),
    )
    .unwrap();
    assert_eq!(s.final_metrics.test_error, Some(0.0));
    assert!(s.final_metrics.train_loss.abs() < 1e-6);
    // Width 1 and d = 1 (inputs on S^0 = {-1, +1}; no discrepancy is defined there).
    let s = run(
        dataset(
            vec![2.0, -1.0, 3.0, -4.0],
            1,
            Targets::Scalar(vec![1.0, 0.0, 1.0, 0.0]),
        ),
        TrainSettings {
            width: 1,
            ..base.clone()
        },
    )
    .unwrap();
    assert!(s.final_metrics.train_loss.is_finite());
    assert!(s.final_metrics.l2_discrepancy_sq.is_none());
    // A learning rate that diverges: a clear error.
    let (train, _) = small_synthetic(7);
    let e = run(
        train,
        TrainSettings {
            optimizer: diversenet::model::OptimizerKind::Sgd { momentum: 0.9 },
            lr: 1e6,
            epochs: 20,
            width: 20,
            batch_size: 32,
            ..base
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("diverged"), "{e}");
}

/// Inputs that once crashed a fuzz target (cargo fuzz, `fuzz/`), kept as regressions.
#[test]
fn fuzzing_finds_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        all_loaders(&std::fs::read(entry.unwrap().path()).unwrap());
        count += 1;
    }
    assert!(count >= 1);
}

/// Output paths that cannot be written are refused before the work: a `--json` under a
/// file, a `--json` that is a directory or one of the run's own files (it overwrote
/// model.safetensors after training before), and `--out`/`--dir` that are files (reproduce
/// and fetch tried the network first). Nothing is trained or written.
#[test]
fn unusable_output_paths_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    let out = dir.path().join("run");
    let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let train = |json: &str| {
        vec![
            "train".to_string(),
            "--data".into(),
            "synthetic".into(),
            "--epochs".into(),
            "1".into(),
            "--width".into(),
            "4".into(),
            "--quiet".into(),
            "--out".into(),
            p(&out),
            "--json".into(),
            json.to_string(),
        ]
    };
    let run = |args: Vec<String>, needle: &str| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        common::fails(&refs, &[needle]);
    };
    run(train(&p(&file.join("summary.json"))), "is not a directory");
    run(train(&p(dir.path())), "is a directory");
    run(
        train(&p(&out.join("model.safetensors"))),
        "one of the files the run writes",
    );
    assert!(!out.exists(), "nothing may be trained or written");
    run(
        vec![
            "reproduce".into(),
            "--quick".into(),
            "--out".into(),
            p(&file),
        ],
        "exists and is not a directory",
    );
    run(
        vec!["fetch".into(), "mnist".into(), "--dir".into(), p(&file)],
        "exists and is not a directory",
    );
}

/// A foreign model whose weights cannot be used: the error names the file (it spoke of a
/// setting `weights` that no flag sets).
#[test]
fn unusable_foreign_weights_name_the_model_file() {
    use diversenet::linalg::Matrix;
    use diversenet::model::{Network, OutputLayer};
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
            let o = common::run(&[command, "--model", model, "--data", "synthetic"]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{command} {name}: {err}");
            assert!(err.contains(model), "{command} {name}: {err}");
        }
    }
}
