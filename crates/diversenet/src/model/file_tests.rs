//! Tests of `model::file`: model and checkpoint files.

use super::*;

#[test]
fn tensor_file_round_trip_and_corruption_is_detected() {
    let mut f = TensorFile::default();
    f.put_matrix("W", &Matrix::from_vec(2, 2, vec![1.0f32, 2.0, 3.0, 4.0]));
    f.metadata.insert("k".into(), "v".into());
    let bytes = f.encode().unwrap();
    let p = Path::new("m.safetensors");
    let g = TensorFile::decode(&bytes, p).unwrap();
    assert_eq!(
        g.matrix::<f64>("W", p).unwrap().as_slice(),
        &[1.0, 2.0, 3.0, 4.0]
    );
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 1] ^= 0x40; // flip a bit of the last weight
    assert!(TensorFile::decode(&bad, p)
        .unwrap_err()
        .to_string()
        .contains("checksum mismatch"));
    assert!(TensorFile::decode(b"garbage", p)
        .unwrap_err()
        .to_string()
        .contains("not a valid safetensors"));
}

/// A configuration for 3 units on 2 inputs with one output (squared loss), standardised.
fn config() -> TrainConfig {
    let x = Matrix::from_vec(4, 2, vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.5, 0.5, -1.0]);
    let data =
        crate::data::Dataset::new("t", x, crate::data::Targets::Scalar(vec![0.0; 4])).unwrap();
    let settings = crate::model::TrainSettings {
        width: 3,
        scaling: InputScaling::Standardise,
        ..Default::default()
    };
    settings.resolve(&data).unwrap()
}

fn network(n: usize, d: usize) -> Network<f64> {
    Network {
        w: Matrix::from_vec(n, d, (0..n * d).map(|k| k as f64 - 2.0).collect()),
        v: Matrix::from_vec(1, n, vec![1.0; n]),
        output_layer: crate::model::OutputLayer::Fixed,
    }
}

fn transform(mean: Vec<f64>, scale: Vec<f64>) -> InputTransform {
    InputTransform {
        scaling: InputScaling::Standardise,
        mean,
        scale,
    }
}

/// A model whose parts disagree is refused by its constructor, naming the part (they
/// were file-format errors naming a file not yet written; a NaN mean was written), so
/// nothing is written; good ones round-trip; a file holding such a model is refused
/// naming the file.
#[test]
fn models_whose_parts_disagree_are_refused_naming_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let (config, ok) = (config(), transform(vec![0.0, 1.0], vec![1.0, 2.0]));
    let part = |net: Network<f64>, t: InputTransform| match TrainedModel::new(
        net,
        t,
        config.clone(),
        false,
    ) {
        Err(Error::Data { source_name, .. }) => source_name,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(part(network(3, 3), ok.clone()), "W, V");
    assert_eq!(part(network(2, 2), ok.clone()), "W, V");
    for (mean, scale, name) in [
        (vec![f64::NAN, 1.0], vec![1.0, 2.0], "input_mean"),
        (vec![0.0, 1.0], vec![0.0, 2.0], "input_scale"),
        (vec![0.0], vec![1.0], "input_mean"),
        (vec![], vec![1.0, 2.0], "input_mean, input_scale"),
    ] {
        assert_eq!(part(network(3, 2), transform(mean, scale)), name);
    }
    let raw = InputTransform {
        scaling: InputScaling::Raw,
        ..ok.clone()
    };
    assert_eq!(part(network(3, 2), raw), "input_scaling");
    let model = TrainedModel::new(network(3, 2), ok.clone(), config.clone(), false).unwrap();
    save_model(&path, &model).unwrap();
    assert_eq!(load_model(&path).unwrap(), model);
    // A file whose standardisation is broken (written by hand).
    let mut file = TensorFile::read(&path).unwrap();
    file.put_vector("input_scale", &[1.0, -2.0]);
    file.write(&path).unwrap();
    match load_model(&path) {
        Err(Error::Format { path: at, message }) => {
            assert_eq!(at, path);
            assert!(
                message
                    .to_string()
                    .starts_with("input_scale: entry 1 is -2"),
                "{message}"
            );
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn refuses_nan_weights() {
    let mut f = TensorFile::default();
    f.put_matrix("W", &Matrix::from_vec(1, 2, vec![1.0f64, f64::NAN]));
    let p = Path::new("m.safetensors");
    let g = TensorFile::decode(&f.encode().unwrap(), p).unwrap();
    assert!(g
        .matrix::<f64>("W", p)
        .unwrap_err()
        .to_string()
        .contains("row 0, column 1"));
}
