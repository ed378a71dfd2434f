//! Training end to end through the library: learning, determinism, resume, MNIST accuracy,
//! divergence and refused settings.

mod common;

use common::*;
use diversenet::data::mnist;
use diversenet::model::file::load_model;
use diversenet::model::run::{run_training, Silent};
use diversenet::model::{OptimizerKind, Precision, TrainSettings};
use diversenet::Error;

fn settings(epochs: usize) -> TrainSettings {
    TrainSettings {
        width: 20,
        epochs,
        seed: 3,
        batch_size: 32,
        ..TrainSettings::default()
    }
}

#[test]
fn learns_the_teacher_with_every_optimiser() {
    for (optimizer, lr) in [
        (OptimizerKind::Gd, 0.5),
        (OptimizerKind::Sgd { momentum: 0.9 }, 0.05),
        (OptimizerKind::parse("adam", 0.0).unwrap(), 0.01),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (train, test) = small_synthetic(1);
        let s = TrainSettings {
            optimizer,
            lr,
            ..settings(60)
        };
        let summary = run_training(&s, train, test, dir.path(), false, &mut Silent).unwrap();
        let m = read_metrics(&dir.path().join("metrics.jsonl"));
        assert_eq!(m.len(), 61);
        let (first, last) = (&m[0], &m[60]);
        assert!(
            last.train_loss < 0.1 * first.train_loss && last.test_loss < 0.2 * first.test_loss,
            "{optimizer:?}: train {} -> {}, test {} -> {}",
            first.train_loss,
            last.train_loss,
            first.test_loss,
            last.test_loss
        );
        assert_eq!(summary.final_metrics.epoch, 60);
    }
}

#[test]
fn same_seed_gives_bit_identical_metrics_and_weights() {
    for precision in [Precision::F32, Precision::F64] {
        let s = TrainSettings {
            precision,
            ..settings(5)
        };
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                let (train, test) = small_synthetic(2);
                run_training(&s, train, test, dir.path(), false, &mut Silent).unwrap();
                (
                    without_time(&read_metrics(&dir.path().join("metrics.jsonl"))),
                    std::fs::read(dir.path().join("model.safetensors")).unwrap(),
                )
            })
            .collect();
        assert_eq!(runs[0].0, runs[1].0);
        assert_eq!(runs[0].1, runs[1].1, "model files differ");
        let other_seed = {
            let dir = tempfile::tempdir().unwrap();
            let (train, test) = small_synthetic(2);
            run_training(
                &TrainSettings {
                    seed: 4,
                    ..s.clone()
                },
                train,
                test,
                dir.path(),
                false,
                &mut Silent,
            )
            .unwrap();
            without_time(&read_metrics(&dir.path().join("metrics.jsonl")))
        };
        assert_ne!(runs[0].0, other_seed);
    }
}

#[test]
fn resume_continues_exactly() {
    let straight = tempfile::tempdir().unwrap();
    let (train, test) = small_synthetic(5);
    run_training(
        &settings(6),
        train.clone(),
        test.clone(),
        straight.path(),
        false,
        &mut Silent,
    )
    .unwrap();
    let split = tempfile::tempdir().unwrap();
    run_training(
        &settings(3),
        train.clone(),
        test.clone(),
        split.path(),
        false,
        &mut Silent,
    )
    .unwrap();
    // Without --resume an existing run is refused rather than overwritten.
    let e = run_training(
        &settings(6),
        train.clone(),
        test.clone(),
        split.path(),
        false,
        &mut Silent,
    )
    .unwrap_err();
    // It names the directory and the setting that continues it.
    assert_eq!(e.settings(), ["out", "resume", "out"], "{e:?}");
    assert!(e.to_string().contains("already holds a run"), "{e}");
    // A different configuration may not resume it.
    let e = run_training(
        &TrainSettings {
            lr: 0.5,
            ..settings(6)
        },
        train.clone(),
        test.clone(),
        split.path(),
        true,
        &mut Silent,
    )
    .unwrap_err();
    assert!(e.to_string().contains("different configuration"), "{e}");
    let summary = run_training(&settings(6), train, test, split.path(), true, &mut Silent).unwrap();
    assert_eq!(summary.resumed_from_epoch, 3);
    assert_eq!(
        without_time(&read_metrics(&straight.path().join("metrics.jsonl"))),
        without_time(&read_metrics(&split.path().join("metrics.jsonl")))
    );
    assert_eq!(
        std::fs::read(straight.path().join("model.safetensors")).unwrap(),
        std::fs::read(split.path().join("model.safetensors")).unwrap()
    );
}

#[test]
fn model_file_round_trips_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = small_synthetic(6);
    let s = TrainSettings {
        precision: Precision::F64,
        scaling: "standardise".parse().unwrap(),
        ..settings(2)
    };
    run_training(&s, train.clone(), test, dir.path(), false, &mut Silent).unwrap();
    let model = load_model(&dir.path().join("model.safetensors")).unwrap();
    assert_eq!(
        (
            model.net().width(),
            model.net().dim(),
            model.net().outputs()
        ),
        (20, 6, 1)
    );
    assert_eq!(model.transform().mean.len(), 6);
    assert!(!model.classes());
    assert_eq!(model.config().epochs(), 2);
}

#[test]
fn diverging_training_stops_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = small_synthetic(7);
    let s = TrainSettings {
        optimizer: OptimizerKind::Sgd { momentum: 0.9 },
        lr: 1e6,
        ..settings(20)
    };
    let e = run_training(&s, train, test, dir.path(), false, &mut Silent).unwrap_err();
    assert!(matches!(e, Error::Diverged { .. }), "{e}");
    assert!(e.to_string().contains("lower the learning rate"));
}

#[test]
fn refuses_width_zero_and_cross_entropy_on_real_targets() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = small_synthetic(8);
    let e = run_training(
        &TrainSettings {
            width: 0,
            ..settings(1)
        },
        train.clone(),
        test.clone(),
        dir.path(),
        false,
        &mut Silent,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            diversenet::Error::Config {
                setting: "width",
                ..
            }
        ),
        "{e:?}"
    );
    let s = TrainSettings {
        loss: Some("cross-entropy".parse().unwrap()),
        ..settings(1)
    };
    let e = run_training(&s, train, test, dir.path(), false, &mut Silent).unwrap_err();
    assert!(
        e.to_string().contains("cross-entropy needs class labels"),
        "{e}"
    );
}

/// The quality bar of the core issue: width 100, 5 epochs, default optimiser, < 4% test error.
#[test]
fn mnist_width_100_under_4_percent_in_5_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = mnist::load(&mnist_dir()).expect("MNIST in ../shared/data/mnist");
    assert_eq!(
        (train.len(), test.len(), train.dim()),
        (60_000, 10_000, 784)
    );
    let s = TrainSettings {
        width: 100,
        epochs: 5,
        seed: 0,
        ..TrainSettings::default()
    };
    let summary = run_training(&s, train, test, dir.path(), false, &mut Silent).unwrap();
    let err = summary.final_metrics.test_error.unwrap();
    eprintln!("MNIST width 100, 5 epochs: test error {:.2}%", 100.0 * err);
    assert!(err < 0.04, "test error {err}");
}
