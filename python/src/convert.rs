//! numpy arrays to and from the library's row-major f64 matrices, library errors to
//! Python exceptions, and serialisable results to Python objects.

use diversenet::error::{Neutral, Spelling};
use diversenet::linalg::Matrix;
use numpy::ndarray::ArrayViewD;
use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods, ToPyArray};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyAnyMethods;

/// `diversenet::Error` as a Python exception, in Python's spelling of the settings it
/// names ([`Keywords`]): files (`Io`, `Format`, `Fetch`) raise OSError, an interruption
/// KeyboardInterrupt, everything else (values, shapes, settings, memory, divergence)
/// ValueError.
pub fn to_py_err(e: diversenet::Error) -> PyErr {
    let text = e.render(&Keywords);
    match e {
        diversenet::Error::Io { .. }
        | diversenet::Error::Format { .. }
        | diversenet::Error::Fetch(_) => PyOSError::new_err(text),
        diversenet::Error::Interrupted { .. } => PyKeyboardInterrupt::new_err(text),
        _ => PyValueError::new_err(text),
    }
}

/// How the Python package writes the settings that library errors name: the keyword
/// argument (`batch_size=`; `lambda_=` for lambda); a setting that is no keyword of the
/// package (the command line's `out`, `threads`) keeps the library's spelling.
pub struct Keywords;

/// The keyword arguments of the package's functions besides the training options.
const KEYWORDS: &[&str] = &[
    "input_scaling",
    "points",
    "all_points",
    "seed",
    "monte_carlo",
    "max_degree",
];

/// Python's keyword for setting `name`, if the package has one.
fn keyword(name: &str) -> Option<&str> {
    let training = crate::model::python_options().any(|o| o.name == name);
    (training || KEYWORDS.contains(&name)).then(|| crate::model::keyword(name))
}

impl Spelling for Keywords {
    fn setting(&self, name: &str) -> String {
        match keyword(name) {
            Some(k) => format!("{k}="),
            None => Neutral.setting(name),
        }
    }
    fn setting_value(&self, name: &str, value: &str) -> String {
        match (name, value, keyword(name)) {
            // Targets are classes or real values by the dtype of y.
            ("task", "regress", _) => "a float array".into(),
            (_, _, Some(k)) => format!("{k}={value}"),
            _ => Neutral.setting_value(name, value),
        }
    }
    fn offers(&self, name: &str) -> bool {
        keyword(name).is_some()
    }
    fn front_end(&self) -> &str {
        "the Python package"
    }
}

/// Shorthand: a library result as a Python result.
pub fn lib<T>(r: diversenet::Result<T>) -> PyResult<T> {
    r.map_err(to_py_err)
}

/// An array's values in logical (C) order, whatever its memory order, widened to f64.
fn values<T: Copy + Into<f64>>(a: ArrayViewD<'_, T>) -> Vec<f64> {
    match a.as_slice() {
        Some(s) => s.iter().map(|&v| v.into()).collect(),
        None => a.iter().map(|&v| v.into()).collect(),
    }
}

/// A numeric array of any dtype and memory order as (shape, f64 values in C order):
/// float64 and float32 are read in place; other dtypes (and lists) go through
/// `numpy.asarray(obj, dtype=float64)`. Errors name the argument.
pub fn array(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(Vec<usize>, Vec<f64>)> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
        let r = a.readonly();
        return Ok((r.shape().to_vec(), values(r.as_array())));
    }
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
        let r = a.readonly();
        return Ok((r.shape().to_vec(), values(r.as_array())));
    }
    let numpy = obj.py().import("numpy")?;
    if dtype_kind(obj)?.as_deref() == Some("c") {
        return Err(PyTypeError::new_err(format!(
            "{name}: complex values are not supported; pass real numbers (e.g. X.real, if the \
             imaginary parts are meant to be dropped)"
        )));
    }
    let converted = numpy
        .call_method1("asarray", (obj, "float64"))
        .map_err(|e| {
            PyValueError::new_err(format!(
                "{name}: expected a numeric array (float32 or float64): {e}"
            ))
        })?;
    let a = converted.cast::<PyArrayDyn<f64>>().map_err(|_| {
        PyValueError::new_err(format!("{name}: could not be read as a float64 array"))
    })?;
    let r = a.readonly();
    Ok((r.shape().to_vec(), values(r.as_array())))
}

/// The numpy dtype kind (`f`, `i`, `u`, `b`, `c`, ...) of `obj` as an array: its own for
/// a numpy array, else what `numpy.asarray` infers (lists of Python ints are `i`); `None`
/// when numpy cannot make an array of it (the conversion then reports why).
fn dtype_kind(obj: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let array = match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.clone().into_any(),
        Err(_) => match obj.py().import("numpy")?.call_method1("asarray", (obj,)) {
            Ok(a) => a,
            Err(_) => return Ok(None),
        },
    };
    Ok(Some(array.getattr("dtype")?.getattr("kind")?.extract()?))
}

/// Whether `obj` holds integers or booleans: a numpy array of such a dtype, or a sequence
/// numpy reads as one (a list of Python ints), so that labels are classes either way.
pub fn is_integer_array(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(matches!(dtype_kind(obj)?.as_deref(), Some("i" | "u" | "b")))
}

/// A 2-D array as a matrix; `allow_vector` reads a 1-D array of length k as a 1 x k row.
pub fn matrix(obj: &Bound<'_, PyAny>, name: &str, allow_vector: bool) -> PyResult<Matrix<f64>> {
    let (shape, data) = array(obj, name)?;
    match shape[..] {
        [r, c] => Ok(Matrix::from_vec(r, c, data)),
        [c] if allow_vector => Ok(Matrix::from_vec(1, c, data)),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be a 2-dimensional array{}; it has shape {shape:?}",
            if allow_vector {
                " (or 1-dimensional)"
            } else {
                ""
            }
        ))),
    }
}

/// A 1-dimensional array as its values.
pub fn vector(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<f64>> {
    match array(obj, name)? {
        (shape, values) if shape.len() == 1 => Ok(values),
        (shape, _) => Err(PyValueError::new_err(format!(
            "{name} must be a 1-dimensional array; it has shape {shape:?}"
        ))),
    }
}

/// Whether `obj` is a float32 numpy array.
pub fn is_float32(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyArrayDyn<f32>>().is_ok()
}

/// A matrix as a 2-D float64 numpy array.
pub fn to_numpy<'py>(py: Python<'py>, m: &Matrix<f64>) -> PyResult<Bound<'py, PyAny>> {
    let a = numpy::ndarray::ArrayView2::from_shape((m.rows(), m.cols()), m.as_slice())
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.to_pyarray(py).into_any())
}

/// A vector as a 1-D float64 numpy array.
pub fn vector_to_numpy<'py>(py: Python<'py>, v: &[f64]) -> Bound<'py, PyAny> {
    numpy::ndarray::ArrayView1::from(v)
        .to_pyarray(py)
        .into_any()
}

/// A serialisable value as the Python object `json.loads` makes of its JSON (the same
/// keys as the CLI's `--json` files).
pub fn to_python<'py>(
    py: Python<'py>,
    value: &impl serde::Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// A Python object as JSON text (`json.dumps`), for the library's serde types.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    obj.py()
        .import("json")?
        .call_method1("dumps", (obj,))?
        .extract()
}
