//! Tests of the training configuration: every bad constant refused by name, stored
//! configurations checked again, the metrics schedule.

use super::*;
use crate::linalg::Matrix;

fn data() -> Dataset {
    Dataset::new(
        "test data",
        Matrix::from_vec(4, 2, vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8, -1.0, 0.0]),
        Targets::Scalar(vec![0.5, -0.5, 0.1, 0.2]),
    )
    .unwrap()
}

fn field_of(settings: TrainSettings) -> &'static str {
    expected_of(settings).0
}

/// The setting refused and what it allows.
fn expected_of(settings: TrainSettings) -> (&'static str, Expected) {
    match settings.resolve(&data()) {
        Err(Error::Config {
            setting, expected, ..
        }) => (setting, expected),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn resolve_rejects_each_bad_constant_by_name() {
    let base = TrainSettings::default;
    let cases = [
        (
            TrainSettings {
                schedule: LrSchedule::Step {
                    every: 0,
                    factor: 0.5,
                },
                ..base()
            },
            "lr_schedule",
        ),
        (
            TrainSettings {
                schedule: LrSchedule::Step {
                    every: 2,
                    factor: f64::NAN,
                },
                ..base()
            },
            "lr_schedule",
        ),
        (
            TrainSettings {
                optimizer: OptimizerKind::Sgd { momentum: 1.0 },
                ..base()
            },
            "momentum",
        ),
        (
            TrainSettings {
                optimizer: OptimizerKind::Adam {
                    beta1: 0.9,
                    beta2: 1.5,
                    eps: 1e-8,
                },
                ..base()
            },
            "beta2",
        ),
        (
            TrainSettings {
                optimizer: OptimizerKind::Adam {
                    beta1: -0.1,
                    beta2: 0.999,
                    eps: 1e-8,
                },
                ..base()
            },
            "beta1",
        ),
        (TrainSettings { width: 0, ..base() }, "width"),
        (TrainSettings { lr: 0.0, ..base() }, "lr"),
        (
            TrainSettings {
                batch_size: 0,
                ..base()
            },
            "batch_size",
        ),
        (
            TrainSettings {
                init_scale: Some(-1.0),
                ..base()
            },
            "init_scale",
        ),
        (
            TrainSettings {
                reg_every: 0,
                ..base()
            },
            "reg_every",
        ),
        (
            TrainSettings {
                weight_decay: -0.1,
                ..base()
            },
            "weight_decay",
        ),
        (
            // lr 0.01 x 100 = 1: W would be zeroed at every step.
            TrainSettings {
                weight_decay: 100.0,
                ..base()
            },
            "weight_decay",
        ),
        (
            // Fine at the base rate 0.01 (0.2), but the schedule doubles it 3 times in 20
            // epochs (1.6).
            TrainSettings {
                weight_decay: 20.0,
                schedule: LrSchedule::Step {
                    every: 5,
                    factor: 2.0,
                },
                ..base()
            },
            "weight_decay",
        ),
    ];
    for (settings, field) in cases {
        assert_eq!(field_of(settings), field);
    }
    // What each allows, as a field.
    let base = TrainSettings::default;
    assert_eq!(
        expected_of(TrainSettings { lr: 0.0, ..base() }).1,
        Expected::Positive
    );
    assert_eq!(
        expected_of(TrainSettings { width: 0, ..base() }).1,
        Expected::AtLeast {
            min: 1,
            unit: "hidden unit"
        }
    );
    assert_eq!(
        expected_of(TrainSettings {
            optimizer: OptimizerKind::Sgd { momentum: 1.0 },
            ..base()
        })
        .1,
        Expected::UnitInterval
    );
    assert_eq!(
        expected_of(TrainSettings {
            weight_decay: -0.1,
            ..base()
        })
        .1,
        Expected::NonNegative
    );
}

#[test]
fn a_stored_configuration_is_checked_again() {
    let cfg = TrainSettings {
        schedule: LrSchedule::Step {
            every: 3,
            factor: 0.5,
        },
        ..TrainSettings::default()
    }
    .resolve(&data())
    .unwrap();
    let json = serde_json::to_string(&cfg).unwrap();
    let back: TrainConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
    let bad = json.replace("\"every\":3", "\"every\":0");
    assert_ne!(bad, json);
    let err = serde_json::from_str::<TrainConfig>(&bad).unwrap_err();
    assert!(err.to_string().contains("lr_schedule"), "{err}");
    let bad = json.replace("\"beta1\":0.9", "\"beta1\":1.0");
    assert_ne!(bad, json);
    assert!(serde_json::from_str::<TrainConfig>(&bad).is_err());
}

#[test]
fn exact_metrics_schedule() {
    let at = |every, epochs| {
        let cfg = TrainSettings {
            exact_metrics_every: every,
            epochs,
            ..TrainSettings::default()
        }
        .resolve(&data())
        .unwrap();
        (0..=epochs)
            .filter(|&e| cfg.exact_metrics_at(e))
            .collect::<Vec<_>>()
    };
    assert_eq!(at(1, 3), vec![0, 1, 2, 3]);
    assert_eq!(at(2, 5), vec![0, 2, 4, 5]);
    assert_eq!(at(0, 5), Vec::<usize>::new());
}

/// --reg-sample with only mma or weight-decay (which sampling does not estimate) was
/// accepted and had no effect; a pair sum, even at lambda = 0, makes it apply.
#[test]
fn sampling_without_a_pairwise_regulariser_is_refused() {
    use crate::regularizer::{RegSampling, RegTerm, RegularizerKind};
    let with = |kinds: &[(RegularizerKind, f64)]| TrainSettings {
        regularizers: kinds
            .iter()
            .map(|&(kind, lambda)| RegTerm::new(kind, lambda).unwrap())
            .collect(),
        reg_sampling: Some(RegSampling::new(4).unwrap()),
        ..TrainSettings::default()
    };
    for kinds in [
        &[][..],
        &[(RegularizerKind::Mma, 0.1)],
        &[
            (RegularizerKind::WeightDecay, 0.1),
            (RegularizerKind::Mma, 0.1),
        ],
    ] {
        let (setting, expected) = expected_of(with(kinds));
        assert_eq!(setting, "reg_sample", "{kinds:?}");
        assert!(matches!(expected, Expected::NoEffect(_)), "{kinds:?}");
    }
    for kinds in [
        &[(RegularizerKind::Discrepancy, 0.1)][..],
        &[
            (RegularizerKind::Mma, 0.1),
            (RegularizerKind::Orthogonal, 0.0),
        ],
    ] {
        assert!(with(kinds).resolve(&data()).is_ok(), "{kinds:?}");
    }
}

/// A stored configuration with a key the format does not have (a misspelt optional field
/// would otherwise silently take its default) is refused, naming the key, at the top level
/// and inside the optimiser, the schedule, a regulariser and the data record; a model file
/// carrying one is refused naming the file.
#[test]
fn a_stored_configuration_with_an_unknown_key_is_refused() {
    let mut settings = TrainSettings {
        schedule: LrSchedule::Step {
            every: 3,
            factor: 0.5,
        },
        regularizers: vec![crate::regularizer::RegTerm::new(
            crate::regularizer::RegularizerKind::Discrepancy,
            0.1,
        )
        .unwrap()],
        ..TrainSettings::default()
    };
    settings.width = 3;
    let cfg = settings
        .resolve(&data())
        .unwrap()
        .with_data(crate::data::DataRecord {
            spec: None,
            train_sha256: "a".into(),
            test_sha256: "b".into(),
            feature_names: None,
        });
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), cfg);
    for (from, to, key) in [
        (
            "\"width\":3",
            "\"width\":3,\"weight_decy\":0.1",
            "weight_decy",
        ),
        ("\"beta1\":0.9", "\"beta1\":0.9,\"beta3\":0.5", "beta3"),
        ("\"every\":3", "\"every\":3,\"warmup\":2", "warmup"),
        ("\"lambda\":0.1", "\"lambda\":0.1,\"lamda\":0.2", "lamda"),
        (
            "\"train_sha256\"",
            "\"train_sha\":\"c\",\"train_sha256\"",
            "train_sha",
        ),
    ] {
        let bad = json.replacen(from, to, 1);
        assert_ne!(bad, json, "{from}");
        let err = serde_json::from_str::<TrainConfig>(&bad).unwrap_err();
        assert!(
            err.to_string().contains(&format!("unknown field `{key}`")),
            "{err}"
        );
    }
    // A variant without fields takes any keys in serde: the stored form's keys are also
    // compared with the configuration written back (`from_stored_json`, what model files
    // and Python's `save_model` go through); a key given as null that is not written is
    // allowed.
    let plain = serde_json::to_string(
        &TrainSettings {
            optimizer: OptimizerKind::Gd,
            ..TrainSettings::default()
        }
        .resolve(&data())
        .unwrap(),
    )
    .unwrap();
    assert!(TrainConfig::from_stored_json(&plain).is_ok());
    for (from, to, key) in [
        (
            "\"name\":\"constant\"",
            "\"name\":\"constant\",\"every\":3",
            "`schedule.every`",
        ),
        (
            "\"name\":\"gd\"",
            "\"name\":\"gd\",\"momentum\":0.9",
            "`optimizer.momentum`",
        ),
        (
            "\"width\":",
            "\"lerning_rate\":0.5,\"width\":",
            "unknown field `lerning_rate`",
        ),
    ] {
        let bad = plain.replacen(from, to, 1);
        assert_ne!(bad, plain, "{from}");
        assert!(serde_json::from_str::<TrainConfig>(&bad).is_ok() || key.contains("unknown"));
        let err = TrainConfig::from_stored_json(&bad).unwrap_err();
        assert!(err.contains(key), "{err}");
    }
    let with_null = plain.replacen("\"width\":", "\"data\":null,\"width\":", 1);
    assert_ne!(with_null, plain);
    assert!(TrainConfig::from_stored_json(&with_null).is_ok());
    // In a model file: the error names the file and the key.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let net = crate::model::Network {
        w: Matrix::from_vec(3, 2, vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5]),
        v: Matrix::from_vec(1, 3, vec![1.0; 3]),
        output_layer: cfg.output_layer(),
    };
    let transform = crate::data::InputTransform::fit_to(cfg.scaling(), &data()).unwrap();
    let model = crate::model::TrainedModel::new(net, transform, cfg.clone(), false).unwrap();
    crate::model::file::save_model(&path, &model).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut file = crate::model::file::TensorFile::decode(&bytes, &path).unwrap();
    assert!(crate::model::file::model_from_file(&file, &path).is_ok());
    let stored = file.metadata["config"].clone();
    file.metadata.insert(
        "config".into(),
        stored.replacen("\"width\":3", "\"width\":3,\"weight_decy\":0.1", 1),
    );
    let Err(err) = crate::model::file::model_from_file(&file, &path) else {
        panic!("an unknown key is refused");
    };
    let err = err.to_string();
    assert!(
        err.contains("m.safetensors") && err.contains("weight_decy"),
        "{err}"
    );
    file.metadata.insert(
        "config".into(),
        stored.replacen("\"name\":\"step\"", "\"name\":\"step\",\"warmup\":1", 1),
    );
    let Err(err) = crate::model::file::model_from_file(&file, &path) else {
        panic!("an unknown key in the schedule is refused");
    };
    assert!(err.to_string().contains("warmup"), "{err}");
}
