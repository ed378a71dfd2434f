//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diversenet::data::{DataSource, Dataset, LoadOptions, SyntheticConfig};
use diversenet::model::train::EpochMetrics;

/// MNIST for the tests: `DIVERSENET_MNIST_DIR`, then `../shared/data/mnist` beside the
/// repository (as CI lays it out), then the cache directory, then a download into it.
/// Panics (the test fails, it is never skipped) with a message saying how to provide it.
pub fn mnist_dir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("DIVERSENET_MNIST_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist"));
    diversenet::data::mnist::locate_or_fetch(&candidates, true, true, &mut |n| eprintln!("{n}"))
        .unwrap_or_else(|e| panic!("the MNIST tests need the data: {e}"))
}

pub fn small_synthetic(seed: u64) -> (Dataset, Dataset) {
    let cfg = SyntheticConfig {
        dim: 6,
        teacher_width: 3,
        train_samples: 300,
        test_samples: 200,
        noise: 0.0,
    };
    DataSource::Synthetic(cfg)
        .load(&LoadOptions::default(), seed)
        .unwrap()
}

pub fn read_metrics(path: &std::path::Path) -> Vec<EpochMetrics> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Metrics without the wall-clock field, which is the one thing that may differ.
pub fn without_time(m: &[EpochMetrics]) -> Vec<EpochMetrics> {
    m.iter()
        .map(|e| EpochMetrics {
            wall_s: 0.0,
            ..e.clone()
        })
        .collect()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the `diversenet` program.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diversenet"))
        .args(args)
        .output()
        .unwrap()
}

pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with a message containing every one of `needles`.
pub fn fails(args: &[&str], needles: &[&str]) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: expected exit 1, stderr:\n{err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` missing from:\n{err}");
    }
}

/// Lines of `metrics.jsonl` in the run directory `dir` (0 before it exists): the epochs a
/// running training has logged, for tests that act on its progress rather than a clock.
pub fn logged_epochs(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Writes `dir/name`, a CSV with columns a, b (inputs) and y (real target), one line per
/// row; returns the `--data` value `csv:PATH`.
pub fn csv_of_rows(dir: &std::path::Path, name: &str, rows: &[[f64; 3]]) -> String {
    let mut text = "a,b,y\n".to_string();
    for r in rows {
        text += &format!("{:e},{:e},{:e}\n", r[0], r[1], r[2]);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    format!("csv:{}", path.display())
}

/// The arguments of a small, quick training into `out` (width 8, d = 4, 64 training
/// samples, 3 epochs, no progress bar), then `extra`.
pub fn small_train_args(out: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--width",
        "8",
        "--dim",
        "4",
        "--train-samples",
        "64",
        "--test-samples",
        "32",
        "--epochs",
        "3",
        "--quiet",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(out.to_str().expect("a UTF-8 test path").to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Trains a width-6 network on the default synthetic data for `epochs`; returns stderr.
pub fn small_synthetic_run(out: &Path, epochs: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--epochs",
        epochs,
        "--width",
        "6",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    stderr_of(&args)
}

/// Runs a command that must succeed; returns its stderr (notes, warnings).
pub fn stderr_of(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `diversenet --threads 1 reproduce --quick --quiet --no-fetch --out OUT` with the cache
/// directory `cache` (an empty one: MNIST only where the tests' data are), optionally one
/// shard `K/N`; stdout and stderr piped.
pub fn quick_reproduce(out: &Path, cache: &Path, shard: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_diversenet"));
    cmd.args([
        "--threads",
        "1",
        "reproduce",
        "--quick",
        "--quiet",
        "--no-fetch",
    ])
    .arg("--out")
    .arg(out)
    .env("DIVERSENET_CACHE", cache)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    if let Some(s) = shard {
        cmd.args(["--shard", s]);
    }
    cmd
}
