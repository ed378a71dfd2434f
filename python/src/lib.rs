use pyo3::prelude::*;
#[pymodule]
fn _diversenet(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
