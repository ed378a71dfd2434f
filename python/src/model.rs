//! Model files and training: `load_model`, `save_model` and `train`.

use std::path::PathBuf;

use diversenet::data::{Dataset, InputScaling, InputTransform, TargetArray};
use diversenet::model::config::{check_options_apply, GivenOptions};
use diversenet::model::file::save_model as save_model_file;
use diversenet::model::fit::train_in_memory;
use diversenet::model::foreign::{load_network, save_weights, LoadedNetwork};
use diversenet::model::optim::DEFAULT_MOMENTUM;
use diversenet::model::options::{
    default_of, FrontEnds, OptionDefault, TrainOption, TRAIN_OPTIONS,
};
use diversenet::model::{Loss, OptimizerKind, Precision, TrainConfig, TrainSettings, TrainedModel};
use diversenet::regularizer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyDictMethods};

use crate::convert::{
    array, is_float32, is_integer_array, lib, matrix, to_json, to_numpy, to_py_err, to_python,
    vector, vector_to_numpy, Keywords,
};
use crate::{detach_interruptible, weights};

/// The model in `path`: a dict with `W` (n x d), `V` (c x n) as float64 arrays, `config`
/// (the training configuration, None for foreign weights), `input_scaling`, `targets`
/// ("classes" or "scalar", None for foreign weights), `input_mean` and `input_scale`
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
/// `input_scale` (d values each). Bad arguments (unknown config keys, shapes other than
/// the config's, scalar targets with cross-entropy, bad input_mean or input_scale) raise
/// ValueError before anything is written; OSError is for the file only.
#[pyfunction]
#[pyo3(signature = (path, W, V, config = None, *, targets = None, input_mean = None, input_scale = None))]
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
) -> PyResult<()> {
    let net = weights(W, V)?.into_network();
    let Some(config) = config else {
        if targets.is_some() || input_mean.is_some() || input_scale.is_some() {
            return Err(PyValueError::new_err(
                "targets, input_mean and input_scale are stored with a config; without one only W and V are written",
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
    let classes = match targets {
        Some("classes") => true,
        Some("scalar") => false,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "targets = {other:?}: expected \"classes\" or \"scalar\""
            )))
        }
        None => config.loss() == Loss::CrossEntropy,
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
    let model = lib(TrainedModel::new(net, transform, config, classes))?;
    py.detach(move || match model.config().precision() {
        Precision::F32 => save_model_file(&path, &model.convert::<f32>()),
        Precision::F64 => save_model_file(&path, &model),
    })
    .map_err(to_py_err)
}

/// Python's keyword for training option `name` (`lambda` is a Python keyword).
pub(crate) fn keyword(name: &str) -> &str {
    match name {
        "lambda" => "lambda_",
        _ => name,
    }
}

/// The training options Python offers (the library's table, [`TRAIN_OPTIONS`]).
pub(crate) fn python_options() -> impl Iterator<Item = &'static TrainOption> {
    TRAIN_OPTIONS
        .iter()
        .filter(|o| o.front_ends == FrontEnds::Both)
}

/// The keywords `train` takes besides X and y: the training options, `lambda` as well as
/// `lambda_`, and a separate test set.
fn train_keywords() -> Vec<&'static str> {
    python_options()
        .map(|o| keyword(o.name))
        .chain(["lambda", "X_test", "y_test"])
        .collect()
}

/// The training options as Python shows them: a dict per option with its keyword `name`,
/// its `default` (None where the library chooses, or where giving the option is what
/// matters: then `default_text` says what it is), and its `help` (settings spelled as
/// keywords). `diversenet.train`'s signature and docstring are made of these.
#[pyfunction]
pub fn train_options(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    python_options()
        .map(|o| {
            let d = PyDict::new(py);
            d.set_item("name", keyword(o.name))?;
            let default: Option<Bound<'_, PyAny>> = match o.default {
                OptionDefault::Number(v) => Some(match v.parse::<i64>() {
                    Ok(int) => int.into_pyobject(py)?.into_any(),
                    Err(_) => o.default_as::<f64>().into_pyobject(py)?.into_any(),
                }),
                OptionDefault::Name(v) => Some(v.into_pyobject(py)?.into_any()),
                OptionDefault::WhereApplicable(_) | OptionDefault::Unset => None,
            };
            d.set_item("default", default)?;
            let text = match o.default {
                OptionDefault::WhereApplicable(v) => Some(format!("{v} where it applies")),
                _ => None,
            };
            d.set_item("default_text", text)?;
            d.set_item("help", (o.help)().render(&Keywords))?;
            Ok(d)
        })
        .collect()
}

/// Whether the caller passed option `name` (a value other than None).
fn is_given(options: Option<&Bound<'_, PyDict>>, name: &str) -> PyResult<bool> {
    Ok(options
        .map(|o| o.get_item(name))
        .transpose()?
        .flatten()
        .is_some_and(|v| !v.is_none()))
}

/// Refuses options that would have no effect with the others (as a silent no-op hides a
/// mistake): the library's rule (momentum without sgd, batch_size with full-batch gd,
/// reg_every or reg_sample without a regulariser), and test_fraction with a separate test
/// set.
fn check_applicable(options: Option<&Bound<'_, PyDict>>, optimizer: OptimizerKind) -> PyResult<()> {
    let given = GivenOptions {
        momentum: is_given(options, "momentum")?,
        batch_size: is_given(options, "batch_size")?,
        reg_every: is_given(options, "reg_every")?,
        reg_sample: is_given(options, "reg_sample")?,
        reg: is_given(options, "reg")?,
    };
    lib(check_options_apply(given, optimizer))?;
    if is_given(options, "test_fraction")? && is_given(options, "X_test")? {
        return Err(to_py_err(diversenet::Error::no_effect(
            "test_fraction",
            "it splits a test set off X when no X_test and y_test are given",
        )));
    }
    Ok(())
}

fn option<'py, T: FromPyObjectOwned<'py>>(
    options: Option<&Bound<'py, PyDict>>,
    name: &str,
) -> PyResult<Option<T>> {
    match options.map(|o| o.get_item(name)).transpose()?.flatten() {
        Some(v) if !v.is_none() => v.extract::<T>().map(Some).map_err(|e| {
            let e: PyErr = e.into();
            PyValueError::new_err(format!("option {name}: {e}"))
        }),
        _ => Ok(None),
    }
}

/// A string or a list of strings (and a float or a list of floats) as a list.
fn list<'py, T: FromPyObjectOwned<'py>>(
    options: Option<&Bound<'py, PyDict>>,
    name: &str,
) -> PyResult<Vec<T>> {
    match options.map(|o| o.get_item(name)).transpose()?.flatten() {
        Some(v) if !v.is_none() => match v.extract::<T>() {
            Ok(one) => Ok(vec![one]),
            Err(_) => v.extract::<Vec<T>>().map_err(|e| {
                PyValueError::new_err(format!("option {name}: expected one value or a list: {e}"))
            }),
        },
        _ => Ok(Vec::new()),
    }
}

/// Inputs (m x d) and targets (integer labels: classes; floats: real values) as a data set.
/// `name` names the inputs (X, X_test); errors about the targets name y (y_test).
fn dataset(x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>, name: &str) -> PyResult<Dataset> {
    let y_name = if name == "X" { "y" } else { "y_test" };
    let x = matrix(x, name, false)?;
    let (shape, values) = array(y, y_name)?;
    let targets = TargetArray::new(&shape, values, is_integer_array(y)?, y_name, x.rows(), name)
        .and_then(|t| t.into_targets(y_name));
    lib(targets.and_then(|targets| Dataset::new(name, x, targets)))
}

/// Trains f(x) = V relu(W x) on X (m x d) and y (integer labels: classes; floats: real
/// values) with the training options as keywords ([`train_options`]; X_test and y_test for a
/// separate test set); options that would have no effect are refused (see
/// [`check_applicable`]). Ctrl-C stops training within about 0.1 s
/// ([`crate::detach_interruptible`]) and raises KeyboardInterrupt. Returns a dict with `W`,
/// `V` (float64), `metrics` (one dict per epoch, epoch 0 = the initial network), `config`,
/// `targets`, `input_scaling` (and `input_mean`, `input_scale` when standardised): what
/// `save_model` takes. The package's `diversenet.train` wraps it with the options'
/// signature and docstring.
#[pyfunction]
#[pyo3(signature = (X, y, **options))]
#[allow(non_snake_case)]
pub fn train<'py>(
    py: Python<'py>,
    X: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let keywords = train_keywords();
    if let Some(o) = options {
        for key in o.keys() {
            let key: String = key.extract()?;
            if !keywords.contains(&key.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "unknown option `{key}`: train takes {}",
                    keywords.join(", ")
                )));
            }
        }
    }
    let defaults = TrainSettings::default();
    let parsed = |name: &str| -> PyResult<Option<String>> { option::<String>(options, name) };
    let mut lambdas = list::<f64>(options, "lambda_")?;
    lambdas.extend(list::<f64>(options, "lambda")?);
    let seed = option(options, "seed")?.unwrap_or(defaults.seed);
    let settings = TrainSettings {
        width: option(options, "width")?.unwrap_or(defaults.width),
        epochs: option(options, "epochs")?.unwrap_or(defaults.epochs),
        seed,
        optimizer: lib(OptimizerKind::parse(
            &parsed("optimizer")?.unwrap_or_else(|| defaults.optimizer.name().to_string()),
            option(options, "momentum")?.unwrap_or(DEFAULT_MOMENTUM),
        ))?,
        lr: option(options, "lr")?.unwrap_or(defaults.lr),
        schedule: lib(parsed("lr_schedule")?.map_or(Ok(defaults.schedule), |s| s.parse()))?,
        batch_size: option(options, "batch_size")?.unwrap_or(defaults.batch_size),
        loss: lib(parsed("loss")?.map(|s| s.parse()).transpose())?,
        output_layer: lib(parsed("output_layer")?.map(|s| s.parse()).transpose())?,
        scaling: lib(parsed("input_scaling")?.map_or(Ok(defaults.scaling), |s| s.parse()))?,
        precision: lib(parsed("precision")?.map_or(Ok(defaults.precision), |s| s.parse()))?,
        init_scale: option(options, "init_scale")?,
        regularizers: lib(regularizer::terms(
            &list::<String>(options, "reg")?,
            &lambdas,
        ))?,
        reg_every: option(options, "reg_every")?.unwrap_or(defaults.reg_every),
        weight_decay: option(options, "weight_decay")?.unwrap_or(defaults.weight_decay),
        reg_sampling: lib(option::<usize>(options, "reg_sample")?
            .map(regularizer::RegSampling::new)
            .transpose())?,
        exact_metrics_every: option(options, "exact_metrics")?
            .unwrap_or(defaults.exact_metrics_every),
        ..defaults
    };
    check_applicable(options, settings.optimizer)?;
    let data = dataset(X, y, "X")?;
    let x_test = options.map(|o| o.get_item("X_test")).transpose()?.flatten();
    let y_test = options.map(|o| o.get_item("y_test")).transpose()?.flatten();
    let test = match (x_test, y_test) {
        (Some(xt), Some(yt)) => Some(dataset(&xt, &yt, "X_test")?),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "give both X_test and y_test, or neither",
            ))
        }
    };
    let test_fraction: f64 =
        option(options, "test_fraction")?.unwrap_or_else(|| default_of("test_fraction"));
    let fitted = detach_interruptible(py, |cancel| {
        let (train_data, test_data) = match test {
            Some(test) => (data, test),
            None => data.split_or_all(test_fraction, seed)?,
        };
        train_in_memory(&settings, train_data, test_data, cancel)
    })?;
    let out = PyDict::new(py);
    out.set_item("W", to_numpy(py, &fitted.net.w)?)?;
    out.set_item("V", to_numpy(py, &fitted.net.v)?)?;
    out.set_item("metrics", to_python(py, &fitted.metrics)?)?;
    out.set_item("config", to_python(py, &fitted.config)?)?;
    out.set_item("targets", if fitted.classes { "classes" } else { "scalar" })?;
    out.set_item("input_scaling", fitted.transform.scaling.to_string())?;
    if fitted.transform.scaling == InputScaling::Standardise {
        out.set_item("input_mean", vector_to_numpy(py, &fitted.transform.mean))?;
        out.set_item("input_scale", vector_to_numpy(py, &fitted.transform.scale))?;
    }
    out.set_item("zero_inputs", fitted.zero_inputs)?;
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load_model, m)?)?;
    m.add_function(wrap_pyfunction!(save_model, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(train_options, m)?)?;
    Ok(())
}
