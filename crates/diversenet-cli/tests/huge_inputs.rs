//! Inputs whose statistics overflow f64 are refused when the scaling is fitted, before
//! any training, with an error naming the file and the column; the default initial scale
//! of raw inputs is never blamed on `--init-scale`.

mod common;

use common::*;

fn train(dir: &std::path::Path, csv: &str, scaling: &str) -> std::process::Output {
    let path = dir.join("data.csv");
    std::fs::write(&path, csv).unwrap();
    let data = format!("csv:{}", path.display());
    let out = dir.join(format!("run-{scaling}"));
    run(&[
        "--threads",
        "1",
        "train",
        "--quiet",
        "--data",
        &data,
        "--width",
        "4",
        "--epochs",
        "1",
        "--input-scaling",
        scaling,
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn overflowing_columns_are_refused_before_training_naming_file_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.csv").display().to_string();
    // Raw: sum ||x_i||^2 overflows, so the default 1/sqrt(mean ||x||^2) was 0 and the
    // error spoke of `init-scale`, which the user never set.
    let big = "a,b,label\n1e308,1e308,0\n3,4,1\n5,6,0\n7,8,1\n1,1,0\n2,2,1\n";
    let out = train(dir.path(), big, "raw");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&file) && err.contains("mean squared norm"),
        "{err}"
    );
    assert!(!err.contains("init-scale"), "{err}");
    assert!(!dir.path().join("run-raw").exists(), "nothing is trained");
    // Standardise: column b's mean is finite, its deviations are not (1.7e308 + 1e307).
    let deviations = "a,b,label\n1,1.7e308,0\n2,-1e308,1\n3,-1e308,0\n";
    let out = train(dir.path(), deviations, "standardise");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&file) && err.contains("column `b`") && err.contains("standard deviation"),
        "{err}"
    );
    assert!(
        !dir.path().join("run-standardise").exists(),
        "nothing is trained"
    );
    // The probe's file standardises: column a = (1e308, 3, 5, 7, 1, 2) has a finite
    // standard deviation (about 3.7e307), which rescaled deviations find.
    let out = train(dir.path(), big, "standardise");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
