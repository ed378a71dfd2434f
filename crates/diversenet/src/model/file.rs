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

/// Metadata key of a classifier's classes (a JSON array, in output order), where they are
/// not its output indices 0..c-1.
const CLASSES_KEY: &str = "classes";

/// Metadata keys that only files written by diversenet have (a file with one of them must
/// carry its checksum).
const DIVERSENET_KEYS: [&str; 5] = [
    "config",
    "diversenet.version",
    "input_scaling",
    "targets",
    "epochs_done",
];

/// A set of named tensors (row-major, f32 or f64) with string metadata.
#[derive(Clone, Debug, Default)]
pub struct TensorFile {
    pub metadata: BTreeMap<String, String>,
    pub(crate) tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
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
        while !header.len().is_multiple_of(8) {
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
        match file.metadata.get(CHECKSUM_KEY) {
            Some(stored) => {
                let actual = file.digest();
                if *stored != actual {
                    return Err(Error::format(
                        path,
                        format!("checksum mismatch (stored {stored}, content {actual}): the file is corrupted; it was not used"),
                    ));
                }
            }
            // Every file diversenet has written carries its checksum (since the first
            // build); one with diversenet's entries but none was edited, and its entries
            // (the configuration, scaling, loss, precision) cannot be trusted.
            None => {
                if let Some(key) = DIVERSENET_KEYS
                    .iter()
                    .find(|k| file.metadata.contains_key(**k))
                {
                    return Err(Error::format(
                        path,
                        format!(
                            "the file has diversenet's metadata (`{key}`) but no checksum entry \
                             `{CHECKSUM_KEY}`, which every file diversenet writes has: it was \
                             edited, and its entries cannot be trusted; it was not used (train \
                             again, or load its W and V as foreign weights)"
                        ),
                    ));
                }
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
    if let Some(classes) = model.class_labels().filter(|c| !c.are_indices()) {
        let json = serde_json::to_string(classes).expect("classes serialise");
        file.metadata.insert(CLASSES_KEY.into(), json);
    }
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
    if scaling != config.scaling() {
        return Err(Error::format(
            path,
            format!(
                "metadata `input_scaling` = {scaling} contradicts the configuration's scaling \
                 ({}): the file is inconsistent; it was not used",
                config.scaling()
            ),
        ));
    }
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
    let model = TrainedModel::new(net, transform, config, classes);
    let model = match file.metadata.get(CLASSES_KEY) {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| Error::config(CLASSES_KEY, format!("not a JSON array of classes: {e}")))
            .and_then(|classes| model?.with_classes(classes)),
        None => model,
    };
    model.map_err(|e| Error::format(path, e.to_string()))
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
#[path = "file_tests.rs"]
mod tests;
