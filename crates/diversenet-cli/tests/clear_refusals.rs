//! Inputs that used to get a misleading answer, refused with the words a user needs: a
//! negative count, an empty CSV, commas inside `npy:` paths, training data no step can
//! learn from, and a memory budget above the machine's.

mod common;

use std::path::Path;

use common::{csv_of_rows, fails, ok, run};
use diversenet::data::npy::encode_npy_f64;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_negative_count_or_seed_is_refused_as_a_negative_number() {
    for args in [
        &["train", "--width", "-3", "--out", "x"][..],
        &["train", "--seed=-1", "--out", "x"][..],
        &["train", "--lr", "-0.5", "--epochs", "-2", "--out", "x"][..],
    ] {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        let (flag, value) = match args[1] {
            "--width" => ("--width", "-3"),
            "--seed=-1" => ("--seed", "-1"),
            _ => ("--epochs", "-2"),
        };
        assert!(
            err.contains(&format!("invalid value '{value}' for {flag}"))
                && err.contains("whole number, 0 or more")
                && !err.contains("unexpected argument"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn an_empty_csv_is_called_empty() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("empty.csv", ""), ("blank.csv", "\n  \n")] {
        let csv = dir.path().join(name);
        std::fs::write(&csv, text).unwrap();
        let data = format!("csv:{}", s(&csv));
        fails(
            &["train", "--data", &data, "--out", s(&dir.path().join("r"))],
            &[name, "the file is empty"],
        );
    }
}

#[test]
fn npy_paths_with_commas_are_written_with_an_escape_and_the_error_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("a,b");
    std::fs::create_dir(&files).unwrap();
    let x: Vec<f64> = (0..40).map(|k| ((k * 37 % 11) as f64) - 5.0).collect();
    let y: Vec<f64> = (0..20).map(|k| (k % 3) as f64 * 0.5).collect();
    std::fs::write(files.join("X.npy"), encode_npy_f64(&[20, 2], &x)).unwrap();
    std::fs::write(files.join("Y.npy"), encode_npy_f64(&[20], &y)).unwrap();
    let escaped = s(&files).replace(',', "\\,");
    let out = dir.path().join("run");
    ok(&[
        "train",
        "--data",
        &format!("npy:{escaped}/X.npy,{escaped}/Y.npy"),
        "--epochs",
        "1",
        "--quiet",
        "--out",
        s(&out),
    ]);
    let plain = s(&files);
    fails(
        &[
            "train",
            "--data",
            &format!("npy:{plain}/X.npy,{plain}/Y.npy"),
            "--out",
            s(&dir.path().join("other")),
        ],
        &["3 unescaped commas", "write a comma inside a path as \\,"],
    );
}

#[test]
fn training_data_no_step_can_learn_from_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = csv_of_rows(
        dir.path(),
        "zeros.csv",
        &[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]],
    );
    fails(
        &[
            "train",
            "--data",
            &zeros,
            "--all-data",
            "--out",
            s(&dir.path().join("z")),
        ],
        &["every training input is zero", "every gradient is 0"],
    );
    // Targets whose squared loss overflows before any step: not a divergence.
    let huge = csv_of_rows(
        dir.path(),
        "huge.csv",
        &[[1.0, 2.0, 1e300], [2.0, 1.0, -1e300], [0.5, 0.5, 3e299]],
    );
    let o = run(&[
        "train",
        "--data",
        &huge,
        "--all-data",
        "--out",
        s(&dir.path().join("h")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the targets reach 1.000e300")
            && err.contains("rescale the targets")
            && !err.contains("diverged")
            && !err.contains("learning rate"),
        "{err}"
    );
    assert!(!dir.path().join("h").exists());
}

/// The machine's memory (installed and swap) from /proc/meminfo, in bytes.
fn machine_bytes() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = info.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024.0)
    };
    Some(field("MemTotal:")? + field("SwapTotal:").unwrap_or(0.0))
}

/// A budget far above the machine's memory is capped there with a note, so that a network
/// whose W alone is twice the machine's memory is refused instead of aborting on its
/// allocation, and no run directory is left behind.
#[test]
fn a_memory_budget_above_the_machine_is_capped_and_says_so() {
    let Some(machine) = machine_bytes() else {
        eprintln!("no /proc/meminfo: the cap is not testable here");
        return;
    };
    // W is width x dim f32 values: twice the machine's memory.
    let side = ((2.0 * machine / 4.0).sqrt().ceil() as u64).to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    fails(
        &[
            "--max-memory",
            "999999T",
            "train",
            "--width",
            &side,
            "--dim",
            &side,
            "--train-samples",
            "4",
            "--test-samples",
            "4",
            "--out",
            s(&out),
        ],
        &[
            "note: --max-memory 999999T is more than this machine's memory",
            "capped at this machine's memory",
            "the largest --width that fits is",
        ],
    );
    assert!(!out.exists(), "no empty run directory");
}
