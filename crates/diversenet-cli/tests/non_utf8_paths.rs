//! Paths that are not UTF-8 (a real directory named `bad\xff`): the paths a run records
//! as text (its directory, its data files, MNIST's directory, a results directory) are
//! refused before any work, naming the flag; nothing is written. (Unix: other systems'
//! paths are Unicode.)
#![cfg(unix)]

mod common;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bad_dir(root: &Path) -> PathBuf {
    let dir = root.join(OsStr::from_bytes(b"bad\xff"));
    std::fs::create_dir(&dir).unwrap();
    dir
}

fn program(args: &[OsString], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diversenet"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn refused(o: &Output, flag: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("invalid setting {flag}")) && err.contains("is not valid UTF-8"),
        "{err}"
    );
}

fn os(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

#[test]
fn a_run_directory_that_is_not_utf8_is_refused_before_training() {
    let root = tempfile::tempdir().unwrap();
    let bad = bad_dir(root.path());
    let out = bad.join("run");
    for extra in [&[][..], &["--resume"][..]] {
        let mut args = os(&["train", "--epochs", "2", "--quiet", "--out"]);
        args.push(out.clone().into_os_string());
        args.extend(os(extra));
        refused(&program(&args, root.path()), "--out");
        assert!(!out.exists(), "nothing is created");
    }
}

#[test]
fn data_files_and_directories_whose_paths_are_not_utf8_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let bad = bad_dir(root.path());
    std::fs::write(bad.join("d.csv"), "a,b,y\n1,2,3\n4,5,6\n7,8,9\n").unwrap();
    // From inside the directory, by a relative path: recorded as the absolute path.
    let o = program(
        &os(&["train", "--data", "csv:d.csv", "--quiet", "--out", "run"]),
        &bad,
    );
    refused(&o, "--data");
    assert!(!bad.join("run").exists());
    let mut args = os(&[
        "train",
        "--data",
        "mnist",
        "--quiet",
        "--out",
        "run",
        "--data-dir",
    ]);
    args.push(bad.clone().into_os_string());
    refused(&program(&args, root.path()), "--data-dir");
    assert!(!root.path().join("run").exists());
}

#[test]
fn a_results_directory_that_is_not_utf8_is_refused_before_any_run() {
    let root = tempfile::tempdir().unwrap();
    let bad = bad_dir(root.path());
    let out = bad.join("rep");
    let mut args = os(&["reproduce", "--quick", "--quiet", "--no-fetch", "--out"]);
    args.push(out.clone().into_os_string());
    refused(&program(&args, root.path()), "--out");
    assert!(!out.exists());
}
