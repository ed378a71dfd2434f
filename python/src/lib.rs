//! `diversenet` for Python: a thin layer over the Rust library, on numpy arrays of float32
//! or float64 in any memory order. The binding only converts: the arrays are copied once
//! into the library's row-major f64 matrices while the GIL is held, and the library checks
//! them (its `Weights`, `Points`, `HiddenUnits`, `TargetArray`, `TrainedModel`) and computes
//! with the GIL released (long computations take it back every 0.1 s to let Ctrl-C raise
//! KeyboardInterrupt). Library errors raise ValueError (values, shapes, settings, memory),
//! OSError (files) or KeyboardInterrupt, with the library's message in Python's spelling
//! of the settings it names.

mod convert;
mod model;

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use diversenet::data::{InputScaling, Points, TargetArray};
use diversenet::linalg::Cancel;
use diversenet::model::{HiddenUnits, Weights};
use diversenet::regularizer::RegularizerKind;
use diversenet::theory::analyze::analyze_points;
use diversenet::theory::{measure, AnalysisOptions};
use pyo3::prelude::*;

use convert::{array, is_integer_array, lib, matrix, to_numpy, to_py_err, to_python};

/// How often a long computation takes the GIL back to look for signals (Ctrl-C): the
/// library runs without the GIL, so Python's handlers run only when asked.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `work` without the GIL, handing it a [`Cancel`] that takes the GIL back at most
/// every [`SIGNAL_CHECK_INTERVAL`] to run Python's signal handlers and says whether to stop;
/// a pending signal's own exception (KeyboardInterrupt for Ctrl-C) is raised instead of
/// `work`'s result.
pub(crate) fn detach_interruptible<T: Send>(
    py: Python<'_>,
    work: impl for<'c> FnOnce(Cancel<'c>) -> diversenet::Result<T> + Send,
) -> PyResult<T> {
    let (result, signal) = py.detach(|| {
        let last_check = Cell::new(Instant::now());
        let signal: RefCell<Option<PyErr>> = RefCell::new(None);
        let ctrl_c = || {
            if last_check.get().elapsed() < SIGNAL_CHECK_INTERVAL {
                return false;
            }
            last_check.set(Instant::now());
            let pending = Python::attach(|py| py.check_signals()).err();
            let stop = pending.is_some();
            *signal.borrow_mut() = pending;
            stop
        };
        let result = work(Cancel::when(&ctrl_c));
        (result, signal.into_inner())
    });
    match signal {
        Some(signal) => Err(signal),
        None => result.map_err(to_py_err),
    }
}

/// W (n x d) and V (c x n, or n values for one output) as checked weights.
pub(crate) fn weights(w: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>) -> PyResult<Weights> {
    lib(Weights::new(
        matrix(w, "W", false)?,
        matrix(v, "V", true)?,
        "the weights W, V",
    ))
}

/// s_m(D): the smallest singular value of the extended feature matrix D (dn x m) of the
/// network f(x) = V relu(W x) on the rows of X, from the Gram form
/// D^T D = (X X^T) o (A^T diag(v^2) A), without building D (c outputs: s_{mc}(D)).
#[pyfunction]
#[pyo3(signature = (W, V, X))]
#[allow(non_snake_case)]
fn smallest_singular_value(
    py: Python<'_>,
    W: &Bound<'_, PyAny>,
    V: &Bound<'_, PyAny>,
    X: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let (net, x) = (weights(W, V)?, matrix(X, "X", false)?);
    detach_interruptible(py, move |cancel| {
        let x = Points::new(x, "X")?;
        measure::smallest_singular_value(&net, &x, cancel).map(|s| s.value)
    })
}

/// The kernel Gram matrix K_ij = <x_i, x_j> (pi - theta_ij) / (2 pi) of the rows of X
/// (= kappa(<x_i, x_j>) on the sphere).
#[pyfunction]
#[pyo3(signature = (X))]
#[allow(non_snake_case)]
fn kernel_matrix<'py>(py: Python<'py>, X: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let x = matrix(X, "X", false)?;
    let k = detach_interruptible(py, move |cancel| {
        measure::kernel_matrix(&Points::new(x, "X")?, cancel)
    })?;
    to_numpy(py, &k)
}

/// lambda_min(K), the smallest eigenvalue of the kernel Gram matrix of the rows of X.
#[pyfunction(name = "kernel_lambda_min")]
#[pyo3(signature = (X))]
#[allow(non_snake_case)]
fn kernel_lambda_min_py(py: Python<'_>, X: &Bound<'_, PyAny>) -> PyResult<f64> {
    let x = matrix(X, "X", false)?;
    detach_interruptible(py, move |cancel| {
        measure::kernel_lambda_min(&Points::new(x, "X")?, cancel)
    })
}

/// The kernel's eigenvalues gamma_u on the sphere S^(d-1) for u = 0..max_degree, with
/// multiplicities N(d, u), error bounds and the ranked eigenvalues gamma_(m): the dict
/// of `diversenet spectrum --json`.
#[pyfunction]
#[pyo3(signature = (dim, max_degree = 20))]
fn spectrum<'py>(py: Python<'py>, dim: usize, max_degree: usize) -> PyResult<Bound<'py, PyAny>> {
    let report = py
        .detach(move || diversenet::theory::spectrum::spectrum(dim, max_degree).map(|s| s.report()))
        .map_err(to_py_err)?;
    to_python(py, &report)
}

/// L2(W)^2, the squared L2 slice discrepancy of the unit directions w_k / ||w_k||
/// (closed form: (1/n^2) sum_{k,l} ((pi - theta_kl)/(2 pi))^2 - c_d; zero rows skipped).
#[pyfunction]
#[pyo3(signature = (W))]
#[allow(non_snake_case)]
fn l2_discrepancy(py: Python<'_>, W: &Bound<'_, PyAny>) -> PyResult<f64> {
    let w = matrix(W, "W", false)?;
    py.detach(move || measure::l2_discrepancy_sq(&HiddenUnits::new(w, "W")?))
        .map_err(to_py_err)
}

/// c_d = E[theta^2] / (4 pi^2), theta the angle between two uniform points of S^(d-1).
#[pyfunction]
fn slice_constant(py: Python<'_>, d: usize) -> PyResult<f64> {
    py.detach(move || diversenet::theory::discrepancy::slice_constant(d))
        .map_err(to_py_err)
}

/// R(W) and dR/dW (float64) for a regulariser `train --reg` accepts: discrepancy (the
/// paper's R(W) = (1/n^2) sum ((pi - theta_kl)/(2 pi))^2), mhe[0|1|2][-angular], mma,
/// orthogonal, weight-decay.
#[pyfunction]
#[pyo3(signature = (kind, W))]
#[allow(non_snake_case)]
fn regularizer<'py>(
    py: Python<'py>,
    kind: &str,
    W: &Bound<'py, PyAny>,
) -> PyResult<(f64, Bound<'py, PyAny>)> {
    let kind: RegularizerKind = lib(kind.parse())?;
    let w = matrix(W, "W", false)?;
    let (value, grad) = py
        .detach(move || measure::regularizer(kind, &HiddenUnits::new(w, "W")?))
        .map_err(to_py_err)?;
    Ok((value, to_numpy(py, &grad)?))
}

/// Every quantity of the theory on the network f(x) = V relu(W x) and the points X (with
/// targets y, if given: the squared loss, ||grad_W L||, the bound m ||grad_W L||^2 /
/// (2 s_m(D)^2)): s_m(D), lambda_min(K), ||E_W||_2, the discrepancies. The dict has the
/// keys of `diversenet analyze --json`. X is used as given unless `input_scaling` is
/// sphere or standardise (statistics of X).
#[pyfunction]
#[pyo3(signature = (W, V, X, y = None, *, input_scaling = "raw", points = None, all_points = false, seed = 0, monte_carlo = None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn analyze<'py>(
    py: Python<'py>,
    W: &Bound<'py, PyAny>,
    V: &Bound<'py, PyAny>,
    X: &Bound<'py, PyAny>,
    y: Option<&Bound<'py, PyAny>>,
    input_scaling: &str,
    points: Option<usize>,
    all_points: bool,
    seed: u64,
    monte_carlo: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let net = weights(W, V)?;
    let x = matrix(X, "X", false)?;
    let y = y
        .map(|y| {
            let (shape, values) = array(y, "y")?;
            let targets =
                TargetArray::new(&shape, values, is_integer_array(y)?, "y", x.rows(), "X");
            lib(targets.and_then(|t| t.into_matrix(net.outputs(), "y")))
        })
        .transpose()?;
    let scaling: InputScaling = lib(input_scaling.parse())?;
    let options = AnalysisOptions {
        points,
        all_points,
        seed,
        monte_carlo,
    };
    let analysis = detach_interruptible(py, move |cancel| {
        let x = Points::scaled(x, scaling, "X")?;
        analyze_points(&net, &x, y.as_ref(), &options, cancel)
    })?;
    to_python(py, &analysis)
}

#[pymodule]
fn _diversenet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(smallest_singular_value, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_lambda_min_py, m)?)?;
    m.add_function(wrap_pyfunction!(spectrum, m)?)?;
    m.add_function(wrap_pyfunction!(l2_discrepancy, m)?)?;
    m.add_function(wrap_pyfunction!(slice_constant, m)?)?;
    m.add_function(wrap_pyfunction!(regularizer, m)?)?;
    model::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
