//! ReLU MLPs of any depth with biases: the empirical NTK (`ntk`, `ntk_lambda_min`) and the
//! per-layer analysis (`analyze_network`, behind `diversenet.analyze`), on a network given
//! as a list of (W, b) pairs, a torch `nn.Sequential` (read through `state_dict()`; torch
//! is never imported here), a state dict, or a file.

use std::path::PathBuf;

use diversenet::data::{InputScaling, Points, TargetArray};
use diversenet::error::Spelling;
use diversenet::linalg::Matrix;
use diversenet::mlp::load::load_mlp;
use diversenet::mlp::sequential::{from_state_dict, NamedTensor};
use diversenet::mlp::{Dense, Mlp};
use diversenet::theory::measure;
use diversenet::theory::mlp_analysis::{analyze_mlp_points, NtkOptions};
use diversenet::theory::ntk::NtkForm;
use diversenet::theory::AnalysisOptions;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::{
    array, is_integer_array, lib, matrix, to_py_err_spelled, to_python, Keywords,
};
use crate::detach_interruptible;

/// What `network` may be, for messages.
const NETWORK_KINDS: &str = "a list of (W, b) pairs (W: n_l x n_(l-1), b: n_l values or \
    None), a torch nn.Sequential of Linear and ReLU modules, its state_dict(), or the path of \
    a model file (safetensors or .npz)";

/// A network argument as a validated MLP: a path, a torch module (its children's class
/// names and its state dict, tensors converted through `.detach().cpu().double().numpy()`),
/// a state dict (a mapping of `0.weight`-style names to arrays), or a sequence of (W, b)
/// pairs.
pub(crate) fn mlp_argument(obj: &Bound<'_, PyAny>) -> PyResult<Mlp> {
    let py = obj.py();
    if let Ok(path) = obj.extract::<PathBuf>() {
        let source = path.display().to_string();
        return lib(py.detach(move || load_mlp(&path)?.into_mlp(&source)));
    }
    if obj.hasattr("state_dict")? && obj.hasattr("children")? {
        let kinds: Vec<String> = obj
            .call_method0("children")?
            .try_iter()?
            .map(|child| child?.get_type().name()?.extract())
            .collect::<PyResult<_>>()?;
        let state = obj.call_method0("state_dict")?;
        let tensors = named_tensors(&state)?;
        let source = format!("the torch module {}", obj.get_type().name()?);
        return lib(from_state_dict(tensors, Some(&kinds), &source));
    }
    if let Ok(state) = obj.cast::<PyDict>() {
        let tensors = named_tensors(state.as_any())?;
        return lib(from_state_dict(tensors, None, "the state dict"));
    }
    let Ok(items) = obj.try_iter() else {
        return Err(PyTypeError::new_err(format!(
            "network: expected {NETWORK_KINDS}; got {}",
            obj.get_type().name()?
        )));
    };
    let mut layers = Vec::new();
    for (l, item) in items.enumerate() {
        let item = item?;
        let pair: Vec<Bound<'_, PyAny>> = match item.try_iter() {
            Ok(it) if !item.hasattr("shape")? => it.collect::<PyResult<_>>()?,
            _ => Vec::new(),
        };
        let [w, b] = &pair[..] else {
            return Err(PyTypeError::new_err(format!(
                "network[{l}]: expected a (W, b) pair (b may be None); network must be {NETWORK_KINDS}"
            )));
        };
        let (w_name, b_name) = (format!("network[{l}][0]"), format!("network[{l}][1]"));
        let weight = matrix(&detached(w, true)?, &w_name, false)?;
        let bias = if b.is_none() {
            None
        } else {
            let (shape, values) = array(&detached(b, true)?, &b_name)?;
            if shape.len() != 1 {
                return Err(PyValueError::new_err(format!(
                    "{b_name} has shape {shape:?}; a bias is 1-dimensional (n_l values)"
                )));
            }
            Some(values)
        };
        layers.push(Dense::new(weight, bias, w_name, b_name));
    }
    lib(Mlp::new(layers, "network"))
}

/// A torch tensor (anything with `detach`) as a numpy array through
/// `.detach().cpu()[.double()].numpy()` (a tensor that requires grad, on a GPU, or in half
/// precision), without importing torch; anything else as it is. `double`: weights and
/// inputs (float64); targets keep their dtype (integer labels stay classes).
fn detached<'py>(value: &Bound<'py, PyAny>, double: bool) -> PyResult<Bound<'py, PyAny>> {
    if !value.hasattr("detach")? {
        return Ok(value.clone());
    }
    let tensor = value.call_method0("detach")?.call_method0("cpu")?;
    let tensor = if double {
        tensor.call_method0("double")?
    } else {
        tensor
    };
    tensor.call_method0("numpy")
}

/// The (name, array) items of a state dict (tensors through [`detached`], in float64).
fn named_tensors(state: &Bound<'_, PyAny>) -> PyResult<Vec<NamedTensor>> {
    let mut out = Vec::new();
    for item in state.call_method0("items")?.try_iter()? {
        let (name, value): (String, Bound<'_, PyAny>) = item?.extract()?;
        let (shape, data) = array(&detached(&value, true)?, &name)?;
        out.push(NamedTensor { name, shape, data });
    }
    Ok(out)
}

/// Python's spelling in `ntk` and `ntk_lambda_min`, whose `outputs=` chooses the eNTK's
/// form (the library's setting `ntk`, `analyze`'s `ntk=`).
struct OutputsKeyword;

impl Spelling for OutputsKeyword {
    fn setting(&self, name: &str) -> String {
        match name {
            "ntk" => "outputs=".into(),
            _ => Keywords.setting(name),
        }
    }
    fn setting_value(&self, name: &str, value: &str) -> String {
        match name {
            "ntk" => format!("outputs={value}"),
            _ => Keywords.setting_value(name, value),
        }
    }
    fn offers(&self, name: &str) -> bool {
        Keywords.offers(name)
    }
    fn front_end(&self) -> &str {
        Keywords.front_end()
    }
}

/// The eNTK's form given as `outputs=`.
fn form_argument(outputs: &str) -> PyResult<NtkForm> {
    outputs
        .parse()
        .map_err(|e| to_py_err_spelled(e, &OutputsKeyword))
}

/// A matrix as a 2-D float64 numpy array, moving its storage (no copy).
fn into_numpy(py: Python<'_>, m: Matrix<f64>) -> PyResult<Bound<'_, PyAny>> {
    use numpy::PyArrayMethods;
    let (rows, cols) = (m.rows(), m.cols());
    Ok(numpy::PyArray1::from_vec(py, m.into_vec())
        .reshape([rows, cols])?
        .into_any())
}

/// The points X (a torch tensor through [`detached`]) as a matrix, for the library's
/// [`Points`].
#[allow(non_snake_case)]
fn points_matrix(X: &Bound<'_, PyAny>) -> PyResult<Matrix<f64>> {
    matrix(&detached(X, true)?, "X", false)
}

/// The empirical NTK of a ReLU MLP on the rows of X (used as given), without Jacobians:
/// Theta = sum_l Theta_l, Theta_l = (H~_(l-1) Gram) o (G_l Gram). `outputs="full"`: the
/// (m c) x (m c) matrix, row i c + j for sample i and output j; `"trace"`: the m x m sum
/// over outputs. `blocks=True`: the list of every layer's Theta_l instead (input side
/// first); `select`: the layers (numbered from 1) summed.
#[pyfunction]
#[pyo3(signature = (network, X, *, outputs = "full", blocks = false, select = None))]
#[allow(non_snake_case)]
fn ntk<'py>(
    py: Python<'py>,
    network: &Bound<'py, PyAny>,
    X: &Bound<'py, PyAny>,
    outputs: &str,
    blocks: bool,
    select: Option<Vec<usize>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mlp = mlp_argument(network)?;
    let form = form_argument(outputs)?;
    let x = points_matrix(X)?;
    let result = detach_interruptible(py, move |cancel| {
        let x = Points::new(x, "X")?;
        measure::ntk(&mlp, &x, form, select.as_deref(), blocks, cancel)
    })?;
    if !blocks {
        let only = result.into_iter().next().expect("one matrix");
        return into_numpy(py, only);
    }
    let list = PyList::empty(py);
    for block in result {
        list.append(into_numpy(py, block)?)?;
    }
    Ok(list.into_any())
}

/// lambda_min of the empirical NTK of a ReLU MLP on the rows of X (of the layers `select`,
/// numbered from 1; all by default), with one Gram in memory: Cholesky shift-and-invert
/// block Krylov (0 when the parameters bound the rank below the size).
#[pyfunction]
#[pyo3(signature = (network, X, *, outputs = "full", select = None))]
#[allow(non_snake_case)]
fn ntk_lambda_min(
    py: Python<'_>,
    network: &Bound<'_, PyAny>,
    X: &Bound<'_, PyAny>,
    outputs: &str,
    select: Option<Vec<usize>>,
) -> PyResult<f64> {
    let mlp = mlp_argument(network)?;
    let form = form_argument(outputs)?;
    let x = points_matrix(X)?;
    detach_interruptible(py, move |cancel| {
        let x = Points::new(x, "X")?;
        measure::ntk_lambda_min(&mlp, &x, form, select.as_deref(), cancel)
    })
}

/// The per-layer analysis of a ReLU MLP (what `diversenet analyze` reports on one): the
/// dict of `diversenet analyze --json`; for the paper's network (one hidden layer, no
/// biases) with `analyze`'s keys too.
#[pyfunction]
#[pyo3(signature = (network, X, y = None, *, input_scaling = "raw", points = None, all_points = false, seed = 0, monte_carlo = None, ntk = "full", select = None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn analyze_network<'py>(
    py: Python<'py>,
    network: &Bound<'py, PyAny>,
    X: &Bound<'py, PyAny>,
    y: Option<&Bound<'py, PyAny>>,
    input_scaling: &str,
    points: Option<usize>,
    all_points: bool,
    seed: u64,
    monte_carlo: Option<usize>,
    ntk: &str,
    select: Option<Vec<usize>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mlp = mlp_argument(network)?;
    let options = AnalysisOptions {
        points,
        all_points,
        seed,
        monte_carlo,
    };
    let ntk = NtkOptions {
        form: lib(ntk.parse())?,
        layers: select,
    };
    analyze_on(py, mlp, X, y, input_scaling, options, ntk)
}

/// The analysis of `mlp` on X (scaled as `input_scaling` says, with the statistics of X)
/// and the targets y, as a dict: `analyze` for both kinds of network.
pub(crate) fn analyze_on<'py>(
    py: Python<'py>,
    mlp: Mlp,
    x: &Bound<'py, PyAny>,
    y: Option<&Bound<'py, PyAny>>,
    input_scaling: &str,
    options: AnalysisOptions,
    ntk: NtkOptions,
) -> PyResult<Bound<'py, PyAny>> {
    let x = points_matrix(x)?;
    let y = y
        .map(|y| {
            let y = detached(y, false)?;
            let (shape, values) = array(&y, "y")?;
            let targets =
                TargetArray::new(&shape, values, is_integer_array(&y)?, "y", x.rows(), "X");
            lib(targets.and_then(|t| t.into_matrix(mlp.outputs(), "y")))
        })
        .transpose()?;
    let scaling: InputScaling = lib(input_scaling.parse())?;
    let analysis = detach_interruptible(py, move |cancel| {
        let x = Points::scaled(x, scaling, "X")?;
        analyze_mlp_points(&mlp, &x, y.as_ref(), &options, &ntk, cancel)
    })?;
    to_python(py, &analysis)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ntk, m)?)?;
    m.add_function(wrap_pyfunction!(ntk_lambda_min, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_network, m)?)?;
    Ok(())
}
