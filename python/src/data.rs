//! MNIST for Python: the library's loader (the same files, checks and scaling as
//! `diversenet train --data mnist`).

use std::path::PathBuf;

use diversenet::data::{mnist, Dataset, Targets};
use numpy::ToPyArray;
use pyo3::prelude::*;

use crate::convert::{lib, to_numpy};

/// Inputs (float64, m x 784, pixels / 255) and labels (int64) of a data set.
fn arrays<'py>(py: Python<'py>, d: &Dataset) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let labels: Vec<i64> = match &d.targets {
        Targets::Classes { labels, .. } => labels.iter().map(|&l| i64::from(l)).collect(),
        Targets::Scalar(y) => y.iter().map(|&v| v as i64).collect(),
    };
    Ok((to_numpy(py, &d.x)?, labels.to_pyarray(py).into_any()))
}

/// MNIST as (X_train, y_train, X_test, y_test): X float64 (m x 784, pixels / 255), y int64
/// digits. Looked for in `data_dir`, then $DIVERSENET_MNIST_DIR, then the cache directory
/// (`diversenet fetch mnist` fills it); never downloaded from here.
#[pyfunction]
#[pyo3(signature = (data_dir = None))]
#[allow(clippy::type_complexity)]
fn load_mnist(
    py: Python<'_>,
    data_dir: Option<PathBuf>,
) -> PyResult<(
    Bound<'_, PyAny>,
    Bound<'_, PyAny>,
    Bound<'_, PyAny>,
    Bound<'_, PyAny>,
)> {
    let candidates: Vec<PathBuf> = data_dir
        .into_iter()
        .chain(std::env::var_os("DIVERSENET_MNIST_DIR").map(PathBuf::from))
        .collect();
    let (train, test) = lib(py.detach(move || {
        let dir = mnist::locate_or_fetch(&candidates, true, false, &mut |_| {})?;
        mnist::load(&dir)
    }))?;
    let (x_train, y_train) = arrays(py, &train)?;
    let (x_test, y_test) = arrays(py, &test)?;
    Ok((x_train, y_train, x_test, y_test))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load_mnist, m)?)?;
    Ok(())
}
