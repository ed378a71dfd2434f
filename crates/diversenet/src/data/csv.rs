//! CSV with a header row: every column but the target is a numeric feature; the target is
//! a named column (`label`, `target` or `y` by default).

use std::path::Path;

use crate::error::{Error, Message, Result};
use crate::linalg::Matrix;

use super::{Dataset, Targets, Task};

/// Largest class index accepted in a label column (refuses e.g. ids used as labels).
pub const MAX_CLASSES: usize = 100_000;

/// Target column names found without --target-column (at most one may be present).
const DEFAULT_TARGETS: [&str; 3] = ["label", "target", "y"];

/// Loads a CSV file.
pub fn load(path: &Path, target_column: Option<&str>, task: Task) -> Result<Dataset> {
    let bytes = crate::files::read(path)?;
    parse(&bytes, path, target_column, task)
}

/// Parses CSV bytes; `path` only names the source in errors.
pub fn parse(
    bytes: &[u8],
    path: &Path,
    target_column: Option<&str>,
    task: Task,
) -> Result<Dataset> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::format(path, format!("cannot read the header row: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if let Some((i, name)) = header
        .iter()
        .enumerate()
        .find(|(i, h)| header[..*i].contains(h))
    {
        return Err(Error::format(
            path,
            format!("column {} repeats the name `{name}` (columns: {header:?}): every column needs its own name", i + 1),
        ));
    }
    let candidates: Vec<&str> = DEFAULT_TARGETS
        .into_iter()
        .filter(|n| header.iter().any(|h| h == n))
        .collect();
    if target_column.is_none() && candidates.len() > 1 {
        return Err(Error::format(
            path,
            Message::from(format!(
                "columns {candidates:?} could each be the target: name it with "
            ))
            .setting("target_column")
            .text(" (the others would become input features)"),
        ));
    }
    let target = match target_column {
        Some(name) => header.iter().position(|h| h == name).ok_or_else(|| {
            Error::format(
                path,
                format!("no column named `{name}`; the columns are {header:?}"),
            )
        })?,
        None => candidates
            .first()
            .and_then(|n| header.iter().position(|h| h == n))
            .ok_or_else(|| {
                Error::format(
                    path,
                    Message::from("no target column: name one with ")
                        .setting("target_column")
                        .text(format!(
                            " (columns: {header:?}); `label`, `target` and `y` are found \
                             automatically"
                        )),
                )
            })?,
    };
    if header.len() < 2 {
        return Err(Error::format(
            path,
            "needs at least one feature column besides the target",
        ));
    }
    let d = header.len() - 1;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => Error::format(
                path,
                format!("line {line}: {len} fields, but the header has {expected_len}"),
            ),
            _ => Error::format(path, format!("line {line}: {e}")),
        })?;
        for (col, field) in record.iter().enumerate() {
            let v: f64 = field.parse().map_err(|_| {
                Error::format(
                    path,
                    format!(
                        "line {line}, column `{}`: `{field}` is not a number",
                        header[col]
                    ),
                )
            })?;
            if !v.is_finite() {
                return Err(Error::format(
                    path,
                    format!("line {line}, column `{}`: {v} is not finite", header[col]),
                ));
            }
            if col == target {
                y.push(v);
            } else {
                x.push(v);
            }
        }
    }
    if y.is_empty() {
        return Err(Error::format(path, "no data rows after the header"));
    }
    let targets = targets_from_values(&y, task, header[target] == "label", path)?;
    let mut data = Dataset::new(
        path.display().to_string(),
        Matrix::from_vec(y.len(), d, x),
        targets,
    )?;
    let mut names = header;
    names.remove(target);
    data.feature_names = Some(names);
    Ok(data)
}

/// Turns target values into classes or scalars. `Auto` picks classes when `label_named`
/// (the column is called `label`), scalars otherwise.
pub fn targets_from_values(
    y: &[f64],
    task: Task,
    label_named: bool,
    path: &Path,
) -> Result<Targets> {
    let classify = match task {
        Task::Classify => true,
        Task::Regress => false,
        Task::Auto => label_named,
    };
    if !classify {
        return Ok(Targets::Scalar(y.to_vec()));
    }
    super::targets::class_labels(y)
        .map_err(|(i, v)| Error::format(path, super::targets::not_a_class_index(i, v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("data.csv")
    }

    #[test]
    fn refuses_duplicate_names_and_several_default_targets() {
        let e = |b: &[u8], t: Option<&str>| parse(b, p(), t, Task::Auto).unwrap_err().to_string();
        let dup = b"a,b,label,label\n1,2,0,1\n3,4,1,0\n";
        assert!(e(dup, None).contains("column 4 repeats the name `label`"));
        assert!(e(dup, Some("label")).contains("repeats the name `label`"));
        let two = b"a,label,y\n1,0,1\n2,1,0\n";
        assert!(e(two, None).contains("[\"label\", \"y\"] could each be the target"));
        // Named explicitly, the other candidate is an input column.
        let d = parse(two, p(), Some("label"), Task::Auto).unwrap();
        assert_eq!(d.x.as_slice(), &[1.0, 1.0, 2.0, 0.0]);
        assert_eq!(
            d.feature_names,
            Some(vec!["a".to_string(), "y".to_string()])
        );
    }

    #[test]
    fn reads_features_and_label() {
        let d = parse(b"a,label,b\n1,0,2\n3,2,4\n", p(), None, Task::Auto).unwrap();
        assert_eq!(d.x.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            d.targets,
            Targets::Classes {
                labels: vec![0, 2],
                num_classes: 3
            }
        );
        let r = parse(b"a,y\n1,0.5\n", p(), None, Task::Auto).unwrap();
        assert_eq!(r.targets, Targets::Scalar(vec![0.5]));
    }

    #[test]
    fn refuses_ragged_non_numeric_nan_and_bad_labels() {
        let e = |b: &[u8]| parse(b, p(), None, Task::Auto).unwrap_err().to_string();
        assert!(e(b"a,label\n1,0\n1,2,3\n").contains("line 3: 3 fields, but the header has 2"));
        assert!(e(b"a,label\nx,0\n").contains("line 2, column `a`: `x` is not a number"));
        assert!(e(b"a,label\nNaN,0\n").contains("not finite"));
        assert!(e(b"a,label\n1,0.5\n").contains("not a class index"));
        assert!(e(b"a,b\n1,2\n").contains("no target column"));
        assert!(e(b"a,label\n").contains("no data rows"));
        assert!(e(b"a,label\nx,0\n").starts_with("data.csv"));
    }
}
