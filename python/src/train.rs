//! Training from Python: `train` and the table of its options, `train_options`.

use diversenet::data::labels::{targets_for, training_targets};
use diversenet::data::{ClassLabels, Dataset, InputScaling, Task};
use diversenet::model::config::{check_options_apply, GivenOptions};
use diversenet::model::fit::train_in_memory;
use diversenet::model::optim::DEFAULT_MOMENTUM;
use diversenet::model::options::{
    train_option, FrontEnds, OptionDefault, TrainOption, TRAIN_OPTIONS,
};
use diversenet::model::{OptimizerKind, TrainSettings};
use diversenet::regularizer;
use numpy::ToPyArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyDictMethods};

use crate::convert::{
    lib, matrix, to_numpy, to_py_err, to_python, vector_to_numpy, whole_opt, Keywords,
};
use crate::detach_interruptible;
use crate::predict::label_values;

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
/// `lambda_`, a separate test set and the task (how y is read).
fn train_keywords() -> Vec<&'static str> {
    python_options()
        .map(|o| keyword(o.name))
        .chain(["lambda", "X_test", "y_test", "task"])
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
            PyValueError::new_err(format!("{name}: {e}"))
        }),
        _ => Ok(None),
    }
}

/// A whole-number training option (its least value from the library's table,
/// [`TrainOption::whole_min`]): anything else is a ValueError naming it and the range.
fn whole_option(options: Option<&Bound<'_, PyDict>>, name: &str) -> PyResult<Option<usize>> {
    let min = train_option(name)
        .whole_min
        .expect("a whole-number training option");
    let value = options.map(|o| o.get_item(name)).transpose()?.flatten();
    Ok(whole_opt(value.as_ref(), keyword(name), min)?.map(|v| v as usize))
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

/// The inputs X (m x d) and the training targets y: class labels (integers, or any labels
/// with `task="classify"`; their classes are the distinct labels, sorted, as
/// scikit-learn's LabelEncoder finds them) or real values (floats).
fn training_set(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    task: Task,
) -> PyResult<(Dataset, Option<ClassLabels>)> {
    let x = matrix(x, "X", false)?;
    let (shape, values) = label_values(y, "y")?;
    let (targets, classes) = lib(training_targets(&shape, values, task, "y", x.rows(), "X"))?;
    let data = lib(targets
        .into_targets("y")
        .and_then(|t| Dataset::new("X", x, t)))?;
    Ok((data, classes))
}

/// A separate test set for a model with `classes` (None: real values): every label must
/// be one of the classes.
fn test_set(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    classes: Option<&ClassLabels>,
) -> PyResult<Dataset> {
    let x = matrix(x, "X_test", false)?;
    let (shape, values) = label_values(y, "y_test")?;
    let targets = targets_for(classes, &shape, values, "y_test", x.rows(), "X_test");
    lib(targets
        .and_then(|t| t.into_targets("y_test"))
        .and_then(|t| Dataset::new("X_test", x, t)))
}

/// Trains f(x) = V relu(W x) on every row of X (m x d) and y (integer labels: classes;
/// floats: real values; strings only with `task="classify"`) with the training options as
/// keywords ([`train_options`]); a test set only when asked: X_test and y_test, or
/// `test_fraction` of X held out (a seeded split). Options that would have no effect are
/// refused (see [`check_applicable`]). Ctrl-C stops training within about 0.1 s
/// ([`crate::detach_interruptible`]) and raises KeyboardInterrupt. Returns a dict with `W`,
/// `V` (float64), `metrics` (one dict per epoch, epoch 0 = the initial network; no test
/// loss without a test set), `metrics_on` (what the training and test metrics were
/// computed on), `test_indices` (the rows of X held out, or None), `config` (with the
/// record of the arrays: shapes and SHA-256s), `targets`, `classes` (a classifier's, in
/// output order), `input_scaling` (and `input_mean`, `input_scale` when standardised):
/// what `diversenet.Model` is made of.
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
    let seed = whole_option(options, "seed")?.map_or(defaults.seed, |s| s as u64);
    let settings = TrainSettings {
        width: whole_option(options, "width")?.unwrap_or(defaults.width),
        epochs: whole_option(options, "epochs")?.unwrap_or(defaults.epochs),
        seed,
        optimizer: lib(OptimizerKind::parse(
            &parsed("optimizer")?.unwrap_or_else(|| defaults.optimizer.name().to_string()),
            option(options, "momentum")?.unwrap_or(DEFAULT_MOMENTUM),
        ))?,
        lr: option(options, "lr")?.unwrap_or(defaults.lr),
        schedule: lib(parsed("lr_schedule")?.map_or(Ok(defaults.schedule), |s| s.parse()))?,
        batch_size: whole_option(options, "batch_size")?.unwrap_or(defaults.batch_size),
        loss: lib(parsed("loss")?.map(|s| s.parse()).transpose())?,
        output_layer: lib(parsed("output_layer")?.map(|s| s.parse()).transpose())?,
        scaling: lib(parsed("input_scaling")?.map_or(Ok(defaults.scaling), |s| s.parse()))?,
        precision: lib(parsed("precision")?.map_or(Ok(defaults.precision), |s| s.parse()))?,
        init_scale: option(options, "init_scale")?,
        regularizers: lib(regularizer::terms(
            &list::<String>(options, "reg")?,
            &lambdas,
        ))?,
        reg_every: whole_option(options, "reg_every")?.unwrap_or(defaults.reg_every),
        weight_decay: option(options, "weight_decay")?.unwrap_or(defaults.weight_decay),
        reg_sampling: lib(whole_option(options, "reg_sample")?
            .map(regularizer::RegSampling::new)
            .transpose())?,
        exact_metrics_every: whole_option(options, "exact_metrics")?
            .unwrap_or(defaults.exact_metrics_every),
        ..defaults
    };
    check_applicable(options, settings.optimizer)?;
    let task: Task = lib(parsed("task")?.map_or(Ok(Task::Auto), |s| s.parse()))?;
    let (data, classes) = training_set(X, y, task)?;
    let x_test = options.map(|o| o.get_item("X_test")).transpose()?.flatten();
    let y_test = options.map(|o| o.get_item("y_test")).transpose()?.flatten();
    let test = match (x_test, y_test) {
        (Some(xt), Some(yt)) => Some(test_set(&xt, &yt, classes.as_ref())?),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "give both X_test and y_test, or neither",
            ))
        }
    };
    let test_fraction = option::<f64>(options, "test_fraction")?.filter(|&f| f != 0.0);
    let m = data.len();
    let (train_data, test_data, held_out, metrics_on) = match (test, test_fraction) {
        (Some(test), _) => {
            let on = MetricsOn {
                train: format!("every row of X ({m} rows)"),
                test: Some(format!("X_test, y_test ({} rows)", test.len())),
            };
            (data, Some(test), None, on)
        }
        (None, Some(f)) => {
            let (train_rows, test_rows) = lib(data.split_indices(f, seed))?;
            let on = MetricsOn {
                train: format!("the {} rows of X not held out", train_rows.len()),
                test: Some(format!(
                    "the {} rows of X held out (test_fraction={f}, seed={seed}: test_indices)",
                    test_rows.len()
                )),
            };
            let train = data.select(&train_rows, "X");
            let test = data.select(&test_rows, "X (held out)");
            (train, Some(test), Some(test_rows), on)
        }
        (None, None) => {
            let on = MetricsOn {
                train: format!("every row of X ({m} rows)"),
                test: None,
            };
            (data, None, None, on)
        }
    };
    let fitted = detach_interruptible(py, |cancel| {
        train_in_memory(&settings, train_data, test_data, cancel)
    })?;
    let out = PyDict::new(py);
    out.set_item("W", to_numpy(py, &fitted.net.w)?)?;
    out.set_item("V", to_numpy(py, &fitted.net.v)?)?;
    out.set_item("metrics", to_python(py, &fitted.metrics)?)?;
    out.set_item("metrics_on", to_python(py, &metrics_on)?)?;
    let held_out: Option<Vec<i64>> =
        held_out.map(|rows| rows.into_iter().map(|i| i as i64).collect());
    out.set_item("test_indices", held_out.map(|rows| rows.to_pyarray(py)))?;
    out.set_item("config", to_python(py, &fitted.config)?)?;
    out.set_item("targets", if fitted.classes { "classes" } else { "scalar" })?;
    out.set_item("classes", to_python(py, &classes)?)?;
    out.set_item("input_scaling", fitted.transform.scaling.to_string())?;
    if fitted.transform.scaling == InputScaling::Standardise {
        out.set_item("input_mean", vector_to_numpy(py, &fitted.transform.mean))?;
        out.set_item("input_scale", vector_to_numpy(py, &fitted.transform.scale))?;
    }
    out.set_item("zero_inputs", fitted.zero_inputs)?;
    Ok(out)
}

/// What a model's metrics were computed on, in words.
#[derive(serde::Serialize)]
struct MetricsOn {
    train: String,
    /// None: no test set (no test metrics).
    test: Option<String>,
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(train_options, m)?)?;
    Ok(())
}
