//! A stopped run says what it kept and how to go on: Ctrl-C (SIGINT) during `train` exits
//! 130 naming the last checkpoint and the command that resumes (which gives the
//! uninterrupted result); a run whose checkpoints are both unusable points to
//! `--overwrite`, which replaces it.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{fails, logged_epochs, ok, read_metrics, small_train_args, without_time};

fn train_args(out: &Path) -> Vec<String> {
    [
        "--threads",
        "2",
        "train",
        "--train-samples",
        "3000",
        "--width",
        "300",
        "--dim",
        "20",
        "--epochs",
        "30",
        "--seed",
        "5",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn ctrl_c_keeps_the_last_checkpoint_and_prints_the_command_that_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let args = train_args(&straight);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = dir.path().join("stopped");
    let mut child = Command::new(env!("CARGO_BIN_EXE_diversenet"))
        .args(train_args(&out))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once epoch 4 is logged (the run's own progress), epoch 3's checkpoint is on disk.
    while logged_epochs(&out) < 5 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted after")
            && err.contains("with its checkpoint of epoch")
            && err.contains("continue the run with:"),
        "{err}"
    );
    // The command printed resumes the run to the uninterrupted result.
    let command = err
        .lines()
        .skip_while(|l| !l.contains("continue the run with:"))
        .nth(1)
        .expect("the command follows")
        .trim();
    assert!(command.ends_with("--resume"), "{command}");
    let resumed = Command::new("sh").args(["-c", command]).output().unwrap();
    assert!(
        resumed.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(
        without_time(&read_metrics(&straight.join("metrics.jsonl"))),
        without_time(&read_metrics(&out.join("metrics.jsonl")))
    );
    assert_eq!(
        std::fs::read(straight.join("model.safetensors")).unwrap(),
        std::fs::read(out.join("model.safetensors")).unwrap()
    );
}

#[test]
fn a_run_beyond_repair_points_to_overwrite_which_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = |extra: &[&str]| small_train_args(&out, extra);
    ok(&refs(&args(&[])));
    fails(
        &refs(&args(&[])),
        &["already holds a run", "--resume", "--overwrite", "--out"],
    );
    for f in ["checkpoint.safetensors", "checkpoint.prev.safetensors"] {
        let p = out.join(f);
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 3] ^= 0x10;
        std::fs::write(&p, b).unwrap();
    }
    let mut more = args(&["--resume"]);
    let epochs = more.iter().position(|a| a == "--epochs").unwrap();
    more[epochs + 1] = "5".into();
    fails(
        &refs(&more),
        &[
            "neither can the previous one",
            "start the run again with --overwrite instead of --resume",
        ],
    );
    // A file of the user's in the directory is left alone.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    ok(&refs(&args(&["--overwrite"])));
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(read_metrics(&out.join("metrics.jsonl")).len(), 4);
    ok(&refs(&more));
}

fn refs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}
