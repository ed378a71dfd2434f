//! Model and checkpoint files in the safetensors format (PyTorch's
//! `safetensors.torch.load_file` reads them): tensors `W` (n x d) and `V` (c x n), the
//! configuration as JSON in the metadata, and a SHA-256 over the content so that a
//! corrupted file is refused instead of used.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use crate::data::{InputScaling, InputTransform};
use crate::error::{Error, Message, Result};
use crate::files::{hex, write_atomic};
use crate::linalg::{Matrix, Real};

use super::config::TrainConfig;
use super::network::Network;
use super::optim::OptimizerState;
use super::train::{tensor_lengths, TrainState};
use super::trained::TrainedModel;

/// Metadata key of the content checksum.
pub const CHECKSUM_KEY: &str = "diversenet.sha256";

/// A set of named tensors (row-major, f32 or f64) with string metadata.
#[derive(Clone, Debug, Default)]
pub struct TensorFile {
    pub metadata: BTreeMap<String, String>,
    tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
}

impl TensorFile {
    /// Adds a matrix in its own precision.
    pub fn put_matrix<T: Real>(&mut self, name: &str, m: &Matrix<T>) {
        let mut bytes = Vec::with_capacity(m.as_slice().len() * T::BYTES);
        m.as_slice().iter().for_each(|v| v.write_le(&mut bytes));
        let dtype = if T::BYTES == 4 {
            Dtype::F32
        } else {
            Dtype::F64
        };
        self.tensors
            .insert(name.to_string(), (dtype, vec![m.rows(), m.cols()], bytes));
    }

    /// Adds a vector of f64.
    pub fn put_vector(&mut self, name: &str, v: &[f64]) {
        let m = Matrix::from_vec(1, v.len(), v.to_vec());
        self.put_matrix(name, &m);
        self.tensors.get_mut(name).expect("just inserted").1 = vec![v.len()];
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensors' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The tensor `name` as a matrix (a 1-D tensor is one row), converted to `T`; refuses
    /// a missing tensor, another dtype or shape, and non-finite values.
    pub fn matrix<T: Real>(&self, name: &str, path: &Path) -> Result<Matrix<T>> {
        let (dtype, shape, bytes) = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::format(path, format!("tensor `{name}` is missing")))?;
        let (rows, cols) = match shape[..] {
            [r, c] => (r, c),
            [c] => (1, c),
            _ => {
                return Err(Error::format(
                    path,
                    format!("tensor `{name}` has shape {shape:?}; expected 2 dimensions"),
                ))
            }
        };
        let values: Vec<f64> = match dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::read_le(c) as f64)
                .collect(),
            Dtype::F64 => bytes.chunks_exact(8).map(f64::read_le).collect(),
            other => {
                return Err(Error::format(
                    path,
                    format!("tensor `{name}` has dtype {other:?}; expected F32 or F64"),
                ))
            }
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::format(
                path,
                format!(
                    "tensor `{name}` holds {} at row {}, column {}: weights must be finite",
                    values[i],
                    i / cols.max(1),
                    i % cols.max(1)
                ),
            ));
        }
        Ok(Matrix::from_vec(
            rows,
            cols,
            values.into_iter().map(T::from_f64).collect(),
        ))
    }

    /// The checksum of the tensors and of every metadata entry but the checksum itself.
    fn digest(&self) -> String {
        let mut h = Sha256::new();
        for (k, v) in self.metadata.iter().filter(|(k, _)| *k != CHECKSUM_KEY) {
            h.update((k.len() as u64).to_le_bytes());
            h.update(k.as_bytes());
            h.update((v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        for (name, (dtype, shape, bytes)) in &self.tensors {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update(format!("{dtype:?}{shape:?}").as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        hex(&h.finalize())
    }

    /// Serialises to safetensors bytes with the checksum in the metadata. The header's
    /// keys are sorted, so equal content gives byte-identical files.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut with_format = self.clone();
        with_format
            .metadata
            .entry("format".into())
            .or_insert_with(|| "pt".into());
        let digest = with_format.digest();
        let mut metadata = with_format.metadata;
        metadata.insert(CHECKSUM_KEY.into(), digest);
        let mut header = serde_json::Map::new();
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(&metadata).expect("strings serialise"),
        );
        let mut offset = 0usize;
        for (name, (dtype, shape, bytes)) in &self.tensors {
            let expected = shape.iter().product::<usize>() * dtype.bitsize() / 8;
            if expected != bytes.len() {
                return Err(Error::config(
                    "tensor",
                    format!("`{name}`: {} bytes for shape {shape:?}", bytes.len()),
                ));
            }
            header.insert(
                name.clone(),
                serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.len()] }),
            );
            offset += bytes.len();
        }
        let mut header = serde_json::to_string(&header)
            .expect("header serialises")
            .into_bytes();
        while header.len() % 8 != 0 {
            header.push(b' ');
        }
        let mut out = Vec::with_capacity(8 + header.len() + offset);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        for (_, _, bytes) in self.tensors.values() {
            out.extend_from_slice(bytes);
        }
        Ok(out)
    }

    /// Writes atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.encode()?)
    }

    /// Parses safetensors bytes; if the checksum is present it must match.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
        let (_, meta) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
        let mut file = TensorFile {
            metadata: meta
                .metadata()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            tensors: BTreeMap::new(),
        };
        for name in st.names() {
            let t = st
                .tensor(name)
                .map_err(|e| Error::format(path, e.to_string()))?;
            file.tensors.insert(
                name.to_string(),
                (t.dtype(), t.shape().to_vec(), t.data().to_vec()),
            );
        }
        if let Some(stored) = file.metadata.get(CHECKSUM_KEY) {
            let actual = file.digest();
            if *stored != actual {
                return Err(Error::format(
                    path,
                    format!("checksum mismatch (stored {stored}, content {actual}): the file is corrupted; it was not used"),
                ));
            }
        }
        Ok(file)
    }

    pub fn read(path: &Path) -> Result<Self> {
        Self::decode(&crate::files::read(path)?, path)
    }

    fn meta(&self, key: &str, path: &Path) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::format(path, format!("metadata entry `{key}` is missing")))
    }

    fn meta_parse<V: std::str::FromStr>(&self, key: &str, path: &Path) -> Result<V> {
        let raw = self.meta(key, path)?;
        raw.parse().map_err(|_| {
            Error::format(
                path,
                format!("metadata entry `{key}` = `{raw}` is not valid"),
            )
        })
    }
}

fn put_network<T: Real>(file: &mut TensorFile, net: &Network<T>, config: &TrainConfig) {
    file.put_matrix("W", &net.w);
    file.put_matrix("V", &net.v);
    file.metadata.insert("dtype".into(), T::NAME.into());
    file.metadata.insert(
        "config".into(),
        serde_json::to_string(config).expect("config serialises"),
    );
    file.metadata.insert(
        "diversenet.version".into(),
        env!("CARGO_PKG_VERSION").into(),
    );
}

/// W (n x d) and V (c x n) must match the configuration's n, d and c: what disagrees.
fn shape_mismatch<T>(w: &Matrix<T>, v: &Matrix<T>, config: &TrainConfig) -> Option<String> {
    let (n, d, c) = (config.width(), config.dim(), config.outputs());
    (w.rows() != n || w.cols() != d || v.rows() != c || v.cols() != n).then(|| {
        format!(
            "tensor shapes W {}x{} and V {}x{} disagree with the configuration (n={n}, d={d}, c={c})",
            w.rows(),
            w.cols(),
            v.rows(),
            v.cols()
        )
    })
}

fn get_network<T: Real>(file: &TensorFile, path: &Path) -> Result<(Network<T>, TrainConfig)> {
    let config = TrainConfig::from_stored_json(file.meta("config", path)?).map_err(|e| {
        Error::format(
            path,
            format!("metadata `config` is not a valid configuration: {e}"),
        )
    })?;
    let w = file.matrix::<T>("W", path)?;
    let v = file.matrix::<T>("V", path)?;
    if let Some(problem) = shape_mismatch(&w, &v, &config) {
        return Err(Error::format(path, problem));
    }
    Ok((
        Network {
            w,
            v,
            output_layer: config.output_layer(),
        },
        config,
    ))
}

/// Saves a trained model with its input scaling, its weights in their precision `T`.
pub fn save_model<T: Real>(path: &Path, model: &TrainedModel<T>) -> Result<()> {
    let (transform, config) = (model.transform(), model.config());
    let mut file = TensorFile::default();
    put_network(&mut file, model.net(), config);
    file.metadata
        .insert("input_scaling".into(), transform.scaling.to_string());
    file.metadata.insert(
        "targets".into(),
        if model.classes() { "classes" } else { "scalar" }.into(),
    );
    if transform.scaling == InputScaling::Standardise {
        file.put_vector("input_mean", &transform.mean);
        file.put_vector("input_scale", &transform.scale);
    }
    file.write(path)
}

/// Loads a model saved by [`save_model`] (weights widened to f64). Files of other
/// programs (no `config` metadata) are read by [`super::foreign::load_network`].
pub fn load_model(path: &Path) -> Result<TrainedModel> {
    model_from_file(&TensorFile::read(path)?, path)
}

/// The model held by a decoded file written by [`save_model`], checked as
/// [`TrainedModel::new`] checks it; a checkpoint is refused with the name of the run's model
/// file.
pub fn model_from_file(file: &TensorFile, path: &Path) -> Result<TrainedModel> {
    if file.metadata.contains_key("epochs_done") {
        return Err(Error::format(
            path,
            Message::from("this is a training checkpoint (weights and optimiser state, for ")
                .setting("resume")
                .text(format!(
                    "), not a model; pass the run's model file, {}",
                    path.with_file_name(super::run::MODEL_FILE).display()
                )),
        ));
    }
    let (net, config) = get_network::<f64>(file, path)?;
    let scaling: InputScaling = file.meta_parse("input_scaling", path)?;
    let (mean, scale) = if scaling == InputScaling::Standardise {
        let mean = file.matrix::<f64>("input_mean", path)?.into_vec();
        let scale = file.matrix::<f64>("input_scale", path)?.into_vec();
        (mean, scale)
    } else {
        (Vec::new(), Vec::new())
    };
    let classes = match file.meta("targets", path)? {
        "classes" => true,
        "scalar" => false,
        other => {
            return Err(Error::format(
                path,
                format!("metadata `targets` = `{other}`: expected classes or scalar"),
            ))
        }
    };
    let transform = InputTransform {
        scaling,
        mean,
        scale,
    };
    // The file, not a caller's argument, is at fault here.
    TrainedModel::new(net, transform, config, classes)
        .map_err(|e| Error::format(path, e.to_string()))
}

/// Saves the full training state (weights, optimiser buffers, random-stream position).
pub fn save_checkpoint<T: Real>(
    path: &Path,
    state: &TrainState<T>,
    config: &TrainConfig,
) -> Result<()> {
    let mut file = TensorFile::default();
    put_network(&mut file, &state.net, config);
    for (i, b) in state.optimizer.buffers.iter().enumerate() {
        file.put_matrix(
            &format!("optimizer.{i}"),
            &Matrix::from_vec(1, b.len(), b.clone()),
        );
    }
    let m = &mut file.metadata;
    m.insert("epochs_done".into(), state.epochs_done.to_string());
    m.insert("optimizer_steps".into(), state.optimizer.steps.to_string());
    m.insert(
        "batch_rng_position".into(),
        state.batch_rng_position.to_string(),
    );
    m.insert("wall_s".into(), state.wall_s.to_string());
    m.insert(THREADS_KEY.into(), crate::linalg::threads().to_string());
    file.write(path)
}

/// Checkpoint metadata: the thread count the run trained with ([`crate::linalg::threads`]),
/// on which its bits depend; absent from checkpoints written before it was recorded.
const THREADS_KEY: &str = "threads";

/// A checkpoint read by [`load_checkpoint`].
pub struct Checkpoint<T> {
    pub state: TrainState<T>,
    pub config: TrainConfig,
    /// The thread count it was trained with (`None`: a checkpoint from before it was
    /// recorded).
    pub threads: Option<usize>,
}

/// Loads a checkpoint written by [`save_checkpoint`] in precision `T`.
pub fn load_checkpoint<T: Real>(path: &Path) -> Result<Checkpoint<T>> {
    let file = TensorFile::read(path)?;
    if file.meta("dtype", path)? != T::NAME {
        return Err(Error::format(
            path,
            format!(
                "checkpoint precision is {}, the run asks for {}",
                file.meta("dtype", path)?,
                T::NAME
            ),
        ));
    }
    let (net, config) = get_network::<T>(&file, path)?;
    let lengths = tensor_lengths(&net);
    let per = config.optimizer().buffers_per_tensor();
    let mut buffers = Vec::new();
    for i in 0..per * lengths.len() {
        let b = file
            .matrix::<T>(&format!("optimizer.{i}"), path)?
            .into_vec();
        if b.len() != lengths[i / per.max(1)] {
            return Err(Error::format(
                path,
                format!(
                    "optimizer.{i} has {} values, expected {}",
                    b.len(),
                    lengths[i / per]
                ),
            ));
        }
        buffers.push(b);
    }
    let state = TrainState {
        net,
        optimizer: OptimizerState {
            kind: config.optimizer(),
            steps: file.meta_parse("optimizer_steps", path)?,
            buffers,
        },
        epochs_done: file.meta_parse("epochs_done", path)?,
        batch_rng_position: file.meta_parse("batch_rng_position", path)?,
        wall_s: file.meta_parse("wall_s", path)?,
    };
    let threads = match file.metadata.contains_key(THREADS_KEY) {
        true => Some(file.meta_parse(THREADS_KEY, path)?),
        false => None,
    };
    Ok(Checkpoint {
        state,
        config,
        threads,
    })
}

#[cfg(test)]
mod tests {
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
}
