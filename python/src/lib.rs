//! `diversenet` for Python: a thin layer over the Rust library (every computation is a
//! call into `diversenet`), on numpy arrays of float32 or float64 in any memory order. The
//! arrays are copied once into the library's row-major f64 matrices while the GIL is
//! held; the GIL is released while the library computes (`train` and `analyze`'s Monte
//! Carlo estimate take it back every 0.1 s to let Ctrl-C raise KeyboardInterrupt). Library
//! errors raise ValueError (values, shapes, settings) or OSError (files) with the
//! library's message.

mod convert;
mod model;

use std::time::{Duration, Instant};

use diversenet::data::{check_finite, InputScaling, InputTransform};
use diversenet::limits::{
    check_rows, feature_gram_estimate, kernel_estimate, unit_angles_estimate,
};
use diversenet::linalg::Matrix;
use diversenet::model::compat::check_input_magnitude;
use diversenet::model::foreign::network_from_weights;
use diversenet::model::Network;
use diversenet::regularizer::{value_and_gradient, RegularizerKind};
use diversenet::theory::analyze::{analyze_points_until, check_points, target_matrix};
use diversenet::theory::discrepancy::discrepancies;
use diversenet::theory::kernel::{kernel_gram, kernel_lambda_min_until, PairGeometry};
use diversenet::theory::AnalysisOptions;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use convert::{
    array, check_finite_targets, check_target_count, class_labels, is_integer_array, lib, matrix,
    to_numpy, to_py_err, to_python,
};

/// How often a long computation takes the GIL back to look for signals (Ctrl-C): the
/// library runs without the GIL, so Python's handlers run only when asked.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `work` without the GIL, handing it a check that takes the GIL back at most every
/// [`SIGNAL_CHECK_INTERVAL`] to run Python's signal handlers and says whether to stop; a
/// pending signal's own exception (KeyboardInterrupt for Ctrl-C) is raised instead of
/// `work`'s result. When `work` stopped for it (rather than finishing first), the exception
/// carries the attribute `diversenet_steps`: the training steps or Monte Carlo samples done
/// when it stopped (0 for an eigenvalue), so that a caller (a test) can tell that the
/// computation itself was cut short.
pub(crate) fn detach_interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&mut dyn FnMut() -> bool) -> diversenet::Result<T> + Send,
) -> PyResult<T> {
    let mut signal: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut last_check = Instant::now();
        let mut interrupted = || {
            if last_check.elapsed() < SIGNAL_CHECK_INTERVAL {
                return false;
            }
            last_check = Instant::now();
            signal = Python::attach(|py| py.check_signals()).err();
            signal.is_some()
        };
        work(&mut interrupted)
    });
    match (signal, result) {
        (Some(signal), Err(diversenet::Error::Interrupted { steps })) => {
            // Best effort: an exception type that takes no attributes is raised as it is.
            let _ = signal.value(py).setattr("diversenet_steps", steps);
            Err(signal)
        }
        (Some(signal), _) => Err(signal),
        (None, result) => result.map_err(to_py_err),
    }
}

/// W (n x d) and V (c x n, or n values for one output) as a network.
pub(crate) fn network(w: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>) -> PyResult<Network<f64>> {
    lib(network_from_weights(
        matrix(w, "W", false)?,
        matrix(v, "V", true)?,
        "the weights W, V",
    ))
}

#[allow(non_snake_case)]
/// The points X (m x d, m >= 1): the theory of no points is undefined.
fn input_points(X: &Bound<'_, PyAny>) -> PyResult<Matrix<f64>> {
    let x = matrix(X, "X", false)?;
    if x.rows() == 0 {
        return Err(PyValueError::new_err(format!(
            "X is empty (shape ({}, {})): at least one point (row) is needed",
            x.rows(),
            x.cols()
        )));
    }
    Ok(x)
}

/// Targets y for `rows` points as an m x c matrix: integer labels (one-hot over the c
/// outputs), m real values (c = 1), or an m x c float array. Errors name y.
fn target_rows(y: &Bound<'_, PyAny>, outputs: usize, rows: usize) -> PyResult<Matrix<f64>> {
    let (shape, values) = array(y, "y")?;
    if is_integer_array(y)? {
        if shape.len() != 1 {
            return Err(PyValueError::new_err(format!(
                "y: integer class labels must be 1-dimensional; shape {shape:?}"
            )));
        }
        check_target_count(values.len(), rows, "y", "X")?;
        let targets = class_labels(&values, "y")?;
        return lib(target_matrix(&targets, outputs, "y"));
    }
    let (m, c) = match shape[..] {
        [m] => (m, 1),
        [m, c] => (m, c),
        _ => {
            return Err(PyValueError::new_err(format!(
                "y must have shape (m,) or (m, c); it has shape {shape:?}"
            )))
        }
    };
    check_target_count(m, rows, "y", "X")?;
    if c != outputs {
        return Err(PyValueError::new_err(format!(
            "y has shape {shape:?}: {c} target(s) per sample, but the network has {outputs} \
             outputs (V has {outputs} rows); expected shape ({rows}, {outputs}){}",
            if outputs == 1 {
                format!(" or ({rows},)")
            } else {
                String::new()
            }
        )));
    }
    check_finite_targets(&values, c, "y")?;
    Ok(Matrix::from_vec(m, c, values))
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
    let net = network(W, V)?;
    let x = input_points(X)?;
    // s_m(D) is 0 without a Gram matrix when d n < m c (D has fewer rows than columns).
    if x.cols() * net.width() >= x.rows() * net.outputs() {
        lib(check_rows("smallest_singular_value", "X", x.rows(), |m| {
            feature_gram_estimate(m, net.width(), net.outputs())
        }))?;
    }
    detach_interruptible(py, move |interrupted| {
        check_points(&net, &x, "X")?;
        check_input_magnitude(&x, "X")?;
        diversenet::theory::feature_matrix::smallest_singular_value_until(&net, &x, interrupted)
            .map(|s| s.value)
    })
}

/// The kernel Gram matrix K_ij = <x_i, x_j> (pi - theta_ij) / (2 pi) of the rows of X
/// (= kappa(<x_i, x_j>) on the sphere).
#[pyfunction]
#[pyo3(signature = (X))]
#[allow(non_snake_case)]
fn kernel_matrix<'py>(py: Python<'py>, X: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let x = input_points(X)?;
    lib(check_rows("kernel_matrix", "X", x.rows(), kernel_estimate))?;
    let k = detach_interruptible(py, move |interrupted| {
        check_finite(&x, "input", "X")?;
        check_input_magnitude(&x, "X")?;
        Ok(kernel_gram(&PairGeometry::of_until(&x, interrupted)?))
    })?;
    to_numpy(py, &k)
}

/// lambda_min(K), the smallest eigenvalue of the kernel Gram matrix of the rows of X.
#[pyfunction(name = "kernel_lambda_min")]
#[pyo3(signature = (X))]
#[allow(non_snake_case)]
fn kernel_lambda_min_py(py: Python<'_>, X: &Bound<'_, PyAny>) -> PyResult<f64> {
    let x = input_points(X)?;
    lib(check_rows(
        "kernel_lambda_min",
        "X",
        x.rows(),
        kernel_estimate,
    ))?;
    detach_interruptible(py, move |interrupted| {
        check_finite(&x, "input", "X")?;
        check_input_magnitude(&x, "X")?;
        kernel_lambda_min_until(&PairGeometry::of_until(&x, interrupted)?, interrupted)
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
    lib(check_rows("l2_discrepancy", "W", w.rows(), |n| {
        unit_angles_estimate(n, w.cols())
    }))?;
    py.detach(move || {
        check_finite(&w, "weight", "W")?;
        Ok(discrepancies(&w)?.l2_slice_sq)
    })
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
    lib(check_rows("regularizer", "W", w.rows(), |n| {
        unit_angles_estimate(n, w.cols())
    }))?;
    let (value, grad) = py
        .detach(move || {
            check_finite(&w, "weight", "W")?;
            let mut grad = Matrix::zeros(w.rows(), w.cols());
            let value = value_and_gradient(kind, &w, Some((&mut grad, 1.0)));
            Ok((value, grad))
        })
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
    let net = network(W, V)?;
    let mut x = input_points(X)?;
    let y = y
        .map(|y| target_rows(y, net.outputs(), x.rows()))
        .transpose()?;
    let scaling: InputScaling = lib(input_scaling.parse())?;
    let options = AnalysisOptions {
        points,
        all_points,
        seed,
        monte_carlo,
    };
    let analysis = detach_interruptible(py, move |interrupted| {
        check_finite(&x, "input", "X")?;
        InputTransform::fit_checked(scaling, &x, "X", None)?.apply(&mut x);
        check_input_magnitude(&x, "X")?;
        analyze_points_until(&net, &x, y.as_ref(), "X", &options, interrupted)
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
