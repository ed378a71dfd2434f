//! Inputs without targets, to predict on: the `X` of a `npy:X.npy[,Y.npy]` pair, or the
//! feature columns of a CSV file: those named in the model's record where it has one
//! (columns matched by name, in the model's order), else every column but a target column
//! (`label`, `target` or `y`).

use std::path::Path;

use crate::error::{Error, Expected, Result};
use crate::linalg::Matrix;

use super::csv::DEFAULT_TARGETS;
use super::npy::read_npy;

/// The inputs (m x d) of data given as `csv:PATH` or `npy:X.npy[,Y.npy]` (targets, if
/// named, are not read). `feature_names`: the CSV columns the model was trained on.
pub fn read_inputs(spec: &str, feature_names: Option<&[String]>) -> Result<Matrix<f64>> {
    if let Some(rest) = spec.strip_prefix("npy:") {
        let x_path = Path::new(rest.split(',').next().unwrap_or(rest));
        let x = read_npy(x_path)?;
        return match x.shape[..] {
            [m, d] => Ok(Matrix::from_vec(m, d, x.data)),
            [m] => Ok(Matrix::from_vec(m, 1, x.data)),
            _ => Err(Error::format(
                x_path,
                format!(
                    "inputs must have shape (samples, features); found {:?}",
                    x.shape
                ),
            )),
        };
    }
    if let Some(path) = spec.strip_prefix("csv:") {
        let path = Path::new(path);
        return csv_inputs(&crate::files::read(path)?, path, feature_names);
    }
    Err(Error::setting(
        "data",
        spec,
        Expected::OneOf("csv:PATH or npy:X.npy (inputs to predict on)"),
    ))
}

/// The feature columns of CSV bytes (see [`read_inputs`]); `path` names them in errors.
pub fn csv_inputs(
    bytes: &[u8],
    path: &Path,
    feature_names: Option<&[String]>,
) -> Result<Matrix<f64>> {
    let (mut reader, header) = super::csv::open(bytes, path)?;
    let columns: Vec<usize> = match feature_names {
        Some(names) => names
            .iter()
            .map(|n| {
                header.iter().position(|h| h == n).ok_or_else(|| {
                    Error::format(
                        path,
                        format!(
                            "no column `{n}`, which the model was trained on (its inputs: \
                             {names:?}; the file's columns: {header:?})"
                        ),
                    )
                })
            })
            .collect::<Result<_>>()?,
        None => (0..header.len())
            .filter(|&j| !DEFAULT_TARGETS.contains(&header[j].as_str()))
            .collect(),
    };
    let mut x = Vec::new();
    let mut rows = 0;
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| Error::format(path, format!("line {line}: {e}")))?;
        for &j in &columns {
            let field = &record[j];
            let v: f64 = field.parse().map_err(|_| {
                Error::format(
                    path,
                    format!(
                        "line {line}, column `{}`: `{field}` is not a number",
                        header[j]
                    ),
                )
            })?;
            x.push(v);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::format(path, "no data rows after the header"));
    }
    Ok(Matrix::from_vec(rows, columns.len(), x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_inputs_are_the_models_columns_or_all_but_the_target() {
        let csv = b"b,label,a\n1,0,2\n3,1,4\n";
        let p = Path::new("t.csv");
        let all = csv_inputs(csv, p, None).unwrap();
        assert_eq!((all.rows(), all.cols()), (2, 2));
        assert_eq!(all.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
        let named = csv_inputs(csv, p, Some(&["a".into(), "b".into()])).unwrap();
        assert_eq!(named.as_slice(), &[2.0, 1.0, 4.0, 3.0]);
        let e = csv_inputs(csv, p, Some(&["c".into()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `c`"), "{e}");
        let e = csv_inputs(b"a\nx\n", p, None).unwrap_err().to_string();
        assert!(e.contains("line 2, column `a`: `x` is not a number"), "{e}");
    }
}
