//! Model files and training: `load_model`, `save_model` and `train`.

use std::path::PathBuf;

use diversenet::data::{InputScaling, InputTransform};
use diversenet::model::file::save_model as save_model_file;
use diversenet::model::foreign::{load_network, save_weights, LoadedNetwork};
use diversenet::model::{Loss, Precision, TrainConfig, TrainedModel};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyDictMethods};

use crate::convert::{
    is_float32, lib, to_json, to_numpy, to_py_err, to_python, vector, vector_to_numpy,
};
use crate::predict::classes_from;
use crate::weights;

/// The model in `path`: a dict with `W` (n x d), `V` (c x n) as float64 arrays, `config`
/// (the training configuration, None for foreign weights), `input_scaling`, `targets`
/// ("classes" or "scalar", None for foreign weights), `classes` (a classifier's, in
/// output order; None otherwise), `input_mean` and `input_scale`
/// (standardised inputs only) and `foreign` (True for weights written by another program).
#[pyfunction]
pub fn load_model<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let loaded = py.detach(move || load_network(&path)).map_err(to_py_err)?;
    let out = PyDict::new(py);
    out.set_item("W", to_numpy(py, &loaded.net().w)?)?;
    out.set_item("V", to_numpy(py, &loaded.net().v)?)?;
    match &loaded {
        LoadedNetwork::Trained(m) => {
            out.set_item("config", to_python(py, m.config())?)?;
            out.set_item("input_scaling", m.transform().scaling.to_string())?;
            out.set_item("targets", if m.classes() { "classes" } else { "scalar" })?;
            out.set_item("classes", to_python(py, &m.class_labels())?)?;
            if m.transform().scaling == InputScaling::Standardise {
                out.set_item("input_mean", vector_to_numpy(py, &m.transform().mean))?;
                out.set_item("input_scale", vector_to_numpy(py, &m.transform().scale))?;
            }
            out.set_item("foreign", false)?;
        }
        LoadedNetwork::Foreign(_) => {
            out.set_item("config", py.None())?;
            out.set_item("input_scaling", InputScaling::Raw.to_string())?;
            out.set_item("targets", py.None())?;
            out.set_item("classes", py.None())?;
            out.set_item("foreign", true)?;
        }
    }
    Ok(out)
}

/// Writes W (n x d) and V (c x n) to a safetensors file. Without `config` only the two
/// tensors are written (float32 if both arrays are float32, else float64); `diversenet
/// analyze --model` and `eval` read them as foreign weights with raw inputs. With
/// `config` (a dict as `load_model` or `train` return it) the file is a full diversenet
/// model in the configuration's precision; `targets` ("classes" or "scalar") defaults to
/// classes for a cross-entropy loss, and standardised inputs need `input_mean` and
/// `input_scale` (d values each); `classes` (one per output, in order) are a classifier's
/// labels where they are not 0..c-1. Bad arguments (unknown config keys, shapes other than
/// the config's, scalar targets with cross-entropy, bad input_mean or input_scale) raise
/// ValueError before anything is written; OSError is for the file only.
#[pyfunction]
#[pyo3(signature = (path, W, V, config = None, *, targets = None, input_mean = None, input_scale = None, classes = None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
pub fn save_model(
    py: Python<'_>,
    path: PathBuf,
    W: &Bound<'_, PyAny>,
    V: &Bound<'_, PyAny>,
    config: Option<&Bound<'_, PyAny>>,
    targets: Option<&str>,
    input_mean: Option<&Bound<'_, PyAny>>,
    input_scale: Option<&Bound<'_, PyAny>>,
    classes: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let net = weights(W, V)?.into_network();
    let classes = classes_from(classes)?;
    let Some(config) = config else {
        if targets.is_some() || input_mean.is_some() || input_scale.is_some() || classes.is_some() {
            return Err(PyValueError::new_err(
                "targets, classes, input_mean and input_scale are stored with a config; without one only W and V are written",
            ));
        }
        let single = is_float32(W) && is_float32(V);
        return py
            .detach(move || {
                if single {
                    save_weights(&path, &net.convert::<f32>())
                } else {
                    save_weights(&path, &net)
                }
            })
            .map_err(to_py_err);
    };
    let config = TrainConfig::from_stored_json(&to_json(config)?).map_err(|e| {
        PyValueError::new_err(format!(
            "config is not a valid diversenet configuration: {e}"
        ))
    })?;
    let classify = match targets {
        Some("classes") => true,
        Some("scalar") => false,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "targets = {other:?}: expected \"classes\" or \"scalar\""
            )))
        }
        None => config.loss() == Loss::CrossEntropy || classes.is_some(),
    };
    let transform = InputTransform {
        scaling: config.scaling(),
        mean: input_mean
            .map(|a| vector(a, "input_mean"))
            .transpose()?
            .unwrap_or_default(),
        scale: input_scale
            .map(|a| vector(a, "input_scale"))
            .transpose()?
            .unwrap_or_default(),
    };
    let model = lib(TrainedModel::new(net, transform, config, classify))?;
    let model = match classes {
        Some(c) => lib(model.with_classes(c))?,
        None => model,
    };
    py.detach(move || match model.config().precision() {
        Precision::F32 => save_model_file(&path, &model.convert::<f32>()),
        Precision::F64 => save_model_file(&path, &model),
    })
    .map_err(to_py_err)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load_model, m)?)?;
    m.add_function(wrap_pyfunction!(save_model, m)?)?;
    Ok(())
}
