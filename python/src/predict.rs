//! What `diversenet.Model` computes in the library: its outputs, class probabilities and
//! class indices on unscaled inputs (the model's own input scaling applied,
//! [`diversenet::model::predict`]), scikit-learn's scores, and class labels as the output
//! indices they stand for.

use diversenet::data::labels::targets_for;
use diversenet::data::{ClassLabels, InputScaling, InputTransform, LabelValues, TargetArray};
use diversenet::model::predict::{self, accuracy, class_indices, probabilities, r2_score};
use diversenet::Error;
use numpy::ToPyArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{array, is_integer_array, lib, matrix, to_json, to_numpy, vector};
use crate::weights;

/// The input scaling a model applies: `input_scaling` (raw, sphere or standardise) with the
/// statistics of standardised inputs, checked for inputs of `d` dimensions.
pub(crate) fn transform(
    input_scaling: &str,
    input_mean: Option<&Bound<'_, PyAny>>,
    input_scale: Option<&Bound<'_, PyAny>>,
    d: usize,
) -> PyResult<InputTransform> {
    let scaling: InputScaling = lib(input_scaling.parse())?;
    let read = |a: Option<&Bound<'_, PyAny>>, name| {
        a.filter(|a| !a.is_none())
            .map(|a| vector(a, name))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let t = InputTransform {
        scaling,
        mean: read(input_mean, "input_mean")?,
        scale: read(input_scale, "input_scale")?,
    };
    lib(t.check_statistics(d))?;
    Ok(t)
}

/// Labels as a user gives them: numbers (integer or boolean arrays marked as such) or
/// strings (numpy `str`/`bytes` arrays, or objects that are all strings), with their shape.
pub(crate) fn label_values(
    obj: &Bound<'_, PyAny>,
    name: &str,
) -> PyResult<(Vec<usize>, LabelValues)> {
    let numpy = obj.py().import("numpy")?;
    let a = numpy.call_method1("asarray", (obj,))?;
    let kind: String = a.getattr("dtype")?.getattr("kind")?.extract()?;
    if matches!(kind.as_str(), "U" | "S" | "O") {
        let shape: Vec<usize> = a.getattr("shape")?.extract()?;
        let flat = a.call_method0("ravel")?.call_method0("tolist")?;
        let names = match kind.as_str() {
            "S" => flat.extract::<Vec<Vec<u8>>>().map(|v| {
                v.into_iter()
                    .map(|b| String::from_utf8_lossy(&b).into())
                    .collect()
            }),
            _ => flat.extract::<Vec<String>>(),
        };
        if let Ok(names) = names {
            return Ok((shape, LabelValues::Names(names)));
        }
    }
    let integer = is_integer_array(obj)?;
    let (shape, values) = array(obj, name)?;
    Ok((shape, LabelValues::Numbers { values, integer }))
}

/// A classifier's classes as Python gives them back (a list: `numpy.asarray` of it is
/// `classes_`), or None.
pub(crate) fn classes_from(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<ClassLabels>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let numpy = obj.py().import("numpy")?;
    let list = numpy
        .call_method1("asarray", (obj,))?
        .call_method0("tolist")?;
    let classes: ClassLabels = serde_json::from_str(&to_json(&list)?).map_err(|_| {
        PyValueError::new_err(
            "classes: expected a 1-dimensional list of integers, real numbers or strings",
        )
    })?;
    lib(ClassLabels::new(classes, "classes")).map(Some)
}

/// What a model's outputs mean in `_predict`.
#[derive(Clone, Copy)]
enum Kind {
    Decision,
    Proba,
    Index,
}

/// The outputs of f(x) = V relu(W x) on the rows of X scaled by the model's transform:
/// `kind` "decision" (m x c outputs), "proba" (softmax of each row) or "index" (the class
/// index of each row's largest output, int64).
#[pyfunction]
#[pyo3(signature = (kind, W, V, X, *, input_scaling = "raw", input_mean = None, input_scale = None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn _predict<'py>(
    py: Python<'py>,
    kind: &str,
    W: &Bound<'py, PyAny>,
    V: &Bound<'py, PyAny>,
    X: &Bound<'py, PyAny>,
    input_scaling: &str,
    input_mean: Option<&Bound<'py, PyAny>>,
    input_scale: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = match kind {
        "decision" => Kind::Decision,
        "proba" => Kind::Proba,
        "index" => Kind::Index,
        other => {
            return Err(PyValueError::new_err(format!(
                "kind={other:?}: expected \"decision\", \"proba\" or \"index\""
            )))
        }
    };
    let net = weights(W, V)?.into_network();
    let t = transform(input_scaling, input_mean, input_scale, net.dim())?;
    let x = matrix(X, "X", false)?;
    let f = lib(py.detach(|| predict::outputs(&net, &t, x, "X")))?;
    match kind {
        Kind::Decision => to_numpy(py, &f),
        Kind::Proba => to_numpy(py, &probabilities(&f)),
        Kind::Index => {
            let idx: Vec<i64> = class_indices(&f).into_iter().map(|j| j as i64).collect();
            Ok(idx.to_pyarray(py).into_any())
        }
    }
}

/// scikit-learn's score of the model on (X, y): the accuracy of a classifier (`classes`
/// given; a label that is no class counts as wrong), the coefficient of determination R^2
/// of a model of real values (averaged over its outputs).
#[pyfunction]
#[pyo3(signature = (W, V, X, y, *, input_scaling = "raw", input_mean = None, input_scale = None, classes = None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn _score<'py>(
    py: Python<'py>,
    W: &Bound<'py, PyAny>,
    V: &Bound<'py, PyAny>,
    X: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    input_scaling: &str,
    input_mean: Option<&Bound<'py, PyAny>>,
    input_scale: Option<&Bound<'py, PyAny>>,
    classes: Option<&Bound<'py, PyAny>>,
) -> PyResult<f64> {
    let net = weights(W, V)?.into_network();
    let t = transform(input_scaling, input_mean, input_scale, net.dim())?;
    let classes = classes_from(classes)?;
    let x = matrix(X, "X", false)?;
    let rows = x.rows();
    let (shape, values) = label_values(y, "y")?;
    let f = lib(py.detach(|| predict::outputs(&net, &t, x, "X")))?;
    match classes {
        Some(classes) => {
            lib(diversenet::data::targets::target_shape(
                &shape, true, "y", rows, "X",
            ))?;
            Ok(accuracy(&class_indices(&f), &classes.positions(&values)))
        }
        None => {
            let y = lib(targets_for(None, &shape, values, "y", rows, "X"))?;
            let y = lib(y.into_matrix(f.cols(), "y"))?;
            Ok(r2_score(&y, &f))
        }
    }
}

/// The output indices of class labels `y` of a classifier with `classes` (every label must
/// be one of them): what `analyze` takes as targets.
#[pyfunction]
#[pyo3(signature = (classes, y, X_rows, name = "y"))]
#[allow(non_snake_case)]
fn _encode_labels<'py>(
    py: Python<'py>,
    classes: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    X_rows: usize,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let classes = classes_from(Some(classes))?
        .ok_or_else(|| PyValueError::new_err("classes: None is no list of classes"))?;
    let (shape, values) = label_values(y, name)?;
    let targets = lib(targets_for(
        Some(&classes),
        &shape,
        values,
        name,
        X_rows,
        "X",
    ))?;
    let TargetArray::Classes(diversenet::data::Targets::Classes { labels, .. }) = targets else {
        return Err(crate::convert::to_py_err(Error::data(
            name,
            "expected class labels",
        )));
    };
    let labels: Vec<i64> = labels.into_iter().map(i64::from).collect();
    Ok(labels.to_pyarray(py).into_any())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_predict, m)?)?;
    m.add_function(wrap_pyfunction!(_score, m)?)?;
    m.add_function(wrap_pyfunction!(_encode_labels, m)?)?;
    Ok(())
}
