//! Regularisers inside training: lambda = 0 changes nothing, the discrepancy regulariser
//! makes the units more diverse (exactly or sampled), a sampled run repeats and resumes
//! exactly, and the command line pairs --reg with --lambda.

mod common;

use common::*;
use diversenet::model::run::{run_training, Silent};
use diversenet::model::TrainSettings;
use diversenet::regularizer::{RegSampling, RegTerm, RegularizerKind};

fn settings(regularizers: Vec<RegTerm>) -> TrainSettings {
    TrainSettings {
        width: 24,
        epochs: 15,
        seed: 2,
        batch_size: 32,
        regularizers,
        ..TrainSettings::default()
    }
}

fn train(s: &TrainSettings) -> (Vec<diversenet::model::EpochMetrics>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    train_in(s, dir.path(), false)
}

/// Trains (or resumes) in `dir` and reads back the metrics and the model file.
fn train_in(
    s: &TrainSettings,
    dir: &std::path::Path,
    resume: bool,
) -> (Vec<diversenet::model::EpochMetrics>, Vec<u8>) {
    let (train, test) = small_synthetic(4);
    run_training(s, train, test, dir, resume, &mut Silent).unwrap();
    (
        read_metrics(&dir.join("metrics.jsonl")),
        std::fs::read(dir.join("model.safetensors")).unwrap(),
    )
}

#[test]
fn lambda_zero_is_bit_identical_to_no_regulariser() {
    let (m0, w0) = train(&settings(vec![]));
    for kind in ["discrepancy", "mhe0", "mma", "orthogonal", "weight-decay"] {
        let (m, w) = train(&settings(vec![
            RegTerm::new(kind.parse().unwrap(), 0.0).unwrap()
        ]));
        assert_eq!(without_time(&m0), without_time(&m), "{kind}");
        assert_eq!(w0, w, "{kind}");
    }
}

#[test]
fn discrepancy_regulariser_lowers_the_discrepancy_and_is_logged() {
    let (plain, _) = train(&settings(vec![]));
    let (reg, _) = train(&settings(vec![RegTerm::new(
        RegularizerKind::Discrepancy,
        5.0,
    )
    .unwrap()]));
    let (a, b) = (plain.last().unwrap(), reg.last().unwrap());
    assert!(
        b.l2_discrepancy_sq.unwrap() < 0.8 * a.l2_discrepancy_sq.unwrap(),
        "{:?} vs {:?}",
        b.l2_discrepancy_sq,
        a.l2_discrepancy_sq
    );
    assert!(b.regularizers.contains_key("discrepancy"));
    // Applying it every 4 steps (scaled by 4) still lowers it.
    let (every, _) = train(&TrainSettings {
        reg_every: 4,
        ..settings(vec![
            RegTerm::new(RegularizerKind::Discrepancy, 5.0).unwrap()
        ])
    });
    assert!(every.last().unwrap().l2_discrepancy_sq.unwrap() < 0.8 * a.l2_discrepancy_sq.unwrap());
}

#[test]
fn sampled_discrepancy_lowers_the_discrepancy_repeats_and_resumes_exactly() {
    let sampled = |epochs| TrainSettings {
        epochs,
        reg_sampling: Some(RegSampling::new(6).unwrap()),
        ..settings(vec![
            RegTerm::new(RegularizerKind::Discrepancy, 5.0).unwrap()
        ])
    };
    let (plain, _) = train(&settings(vec![]));
    let (a, wa) = train(&sampled(15));
    assert!(
        a.last().unwrap().l2_discrepancy_sq.unwrap()
            < 0.8 * plain.last().unwrap().l2_discrepancy_sq.unwrap()
    );
    // Not the exact regulariser's run, but the same run again, straight or resumed.
    let (exact, _) = train(&settings(vec![RegTerm::new(
        RegularizerKind::Discrepancy,
        5.0,
    )
    .unwrap()]));
    assert_ne!(without_time(&exact), without_time(&a));
    let (b, wb) = train(&sampled(15));
    assert_eq!((without_time(&a), &wa), (without_time(&b), &wb));
    let dir = tempfile::tempdir().unwrap();
    train_in(&sampled(7), dir.path(), false);
    let (c, wc) = train_in(&sampled(15), dir.path(), true);
    assert_eq!((without_time(&a), &wa), (without_time(&c), &wc));
}

#[test]
fn command_line_pairs_reg_and_lambda() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_diversenet"))
            .args([
                "train",
                "--data",
                "synthetic",
                "--epochs",
                "2",
                "--width",
                "8",
                "--quiet",
                "--out",
            ])
            .arg(dir.path().join(out))
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = run(
        &[
            "--reg",
            "discrepancy",
            "--lambda",
            "0.1",
            "--reg",
            "mhe1-angular",
            "--lambda",
            "0.01",
        ],
        "a",
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("\"discrepancy\"") && text.contains("\"mhe1-angular\""));
    let bad = run(
        &[
            "--reg",
            "discrepancy",
            "--lambda",
            "0.1",
            "--reg",
            "mma",
            "--lambda",
            "1",
            "--lambda",
            "2",
        ],
        "b",
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("3 values for 2 --reg"));
    let bad = run(&["--reg", "dropout", "--lambda", "0.1"], "c");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected discrepancy"));
    let sampled = run(
        &[
            "--reg",
            "discrepancy",
            "--lambda",
            "0.1",
            "--reg-sample",
            "3",
        ],
        "e",
    );
    assert!(
        sampled.status.success(),
        "{}",
        String::from_utf8_lossy(&sampled.stderr)
    );
    let bad = run(
        &[
            "--reg",
            "discrepancy",
            "--lambda",
            "0.1",
            "--reg-sample",
            "0",
        ],
        "f",
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid setting --reg-sample"));
    let bad = run(&["--reg", "mma", "--lambda", "-1"], "d");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid setting --lambda"));
}
