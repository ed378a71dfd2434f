//! Hostile inputs: loaders never panic on arbitrary or truncated bytes (and the fuzzer's
//! finds stay fixed); model files with lying headers, numerical edge cases and unusable
//! output paths give answers or clear errors before any work.

mod common;

use std::path::Path;

use common::*;
use diversenet::data::{csv, idx, npy, Dataset, Targets, Task};
use diversenet::linalg::Matrix;
use diversenet::model::file::TensorFile;
use diversenet::model::run::{run_training, Silent};
use diversenet::model::TrainSettings;
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

#[test]
fn training_data_no_step_can_learn_from_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = csv_of_rows(
        dir.path(),
        "zeros.csv",
        &[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]],
    );
    fails(
        &[
            "train",
            "--data",
            &zeros,
            "--all-data",
            "--out",
            s(&dir.path().join("z")),
        ],
        &["every training input is zero", "every gradient is 0"],
    );
    // Targets whose squared loss overflows before any step: not a divergence.
    let huge = csv_of_rows(
        dir.path(),
        "huge.csv",
        &[[1.0, 2.0, 1e300], [2.0, 1.0, -1e300], [0.5, 0.5, 3e299]],
    );
    let o = run(&[
        "train",
        "--data",
        &huge,
        "--all-data",
        "--out",
        s(&dir.path().join("h")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the targets reach 1.000e300")
            && err.contains("rescale the targets")
            && !err.contains("diverged")
            && !err.contains("learning rate"),
        "{err}"
    );
    assert!(!dir.path().join("h").exists());
    // From an npy:X,Y pair, the error names the targets' file.
    let x = dir.path().join("hx.npy");
    let y = dir.path().join("hy.npy");
    std::fs::write(&x, npy::encode_npy_f64(&[4, 1], &[1.0, 2.0, 3.0, 4.0])).unwrap();
    std::fs::write(&y, npy::encode_npy_f64(&[4], &[1e300, 0.0, 1.0, 2.0])).unwrap();
    let o = run(&[
        "train",
        "--data",
        &format!("npy:{},{}", s(&x), s(&y)),
        "--all-data",
        "--out",
        s(&dir.path().join("hn")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{} (all rows", s(&y)))
            && err.contains("the targets reach 1.000e300"),
        "{err}"
    );
}
