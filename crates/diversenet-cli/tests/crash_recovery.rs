//! Crashes, interruptions and corrupted files during training: a run killed with SIGKILL at
//! a random point resumes to exactly the uninterrupted result; Ctrl-C (SIGINT) exits 130
//! naming the last checkpoint and the command that resumes (which gives the uninterrupted
//! result); a corrupted checkpoint is detected and the previous one used, and a run whose
//! checkpoints are both unusable points to `--overwrite`, which replaces it.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use diversenet::model::run::{run_training, Silent};
use diversenet::model::TrainSettings;
use diversenet::rng::{SeededRng, Stream};

fn uninterrupted(out: &Path, epochs: &str) {
    let o = train_cmd(out, epochs, false).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn train_cmd(out: &Path, epochs: &str, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_diversenet"));
    c.args([
        "--threads",
        "2",
        "train",
        "--data",
        "synthetic",
        "--train-samples",
        "3000",
        "--width",
        "300",
        "--dim",
        "20",
        "--epochs",
        epochs,
        "--seed",
        "5",
        "--quiet",
        "--out",
    ])
    .arg(out)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if resume {
        c.arg("--resume");
    }
    c
}

/// The run in `dir` is the uninterrupted one in `straight`: the same metrics (but the
/// times) and the same model, bit for bit.
fn same_run(straight: &Path, dir: &Path, after: &str) {
    assert_eq!(
        without_time(&read_metrics(&straight.join("metrics.jsonl"))),
        without_time(&read_metrics(&dir.join("metrics.jsonl"))),
        "metrics after {after}"
    );
    assert_eq!(
        std::fs::read(straight.join("model.safetensors")).unwrap(),
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        "model after {after}"
    );
}

#[test]
fn sigkill_at_a_random_point_then_resume_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    uninterrupted(&straight, "30");
    // Kill points drawn from a seeded stream, spread over the run: after a drawn number of
    // epochs is logged (the run's own progress, not a clock), anywhere in the next epoch.
    let mut rng = SeededRng::new(2026, Stream::Sample);
    for attempt in 0..3 {
        let killed = dir.path().join(format!("killed-{attempt}"));
        let mut child = train_cmd(&killed, "30", false).spawn().unwrap();
        // From 3: epoch 1's checkpoint is on disk once epoch 2 is logged.
        let after = 3 + (25.0 * rng.uniform()) as usize;
        while logged_epochs(&killed) < after {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before epoch {after} was logged"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        // A checkpoint is on disk: the last one, or (killed while the next was being
        // written, after the last was renamed) the previous one.
        let lines = logged_epochs(&killed);
        let checkpointed = ["checkpoint.safetensors", "checkpoint.prev.safetensors"]
            .iter()
            .any(|f| killed.join(f).exists());
        assert!(
            checkpointed && lines < 31,
            "the kill after epoch {after} landed between two checkpoints"
        );
        let o = train_cmd(&killed, "30", true).output().unwrap();
        assert!(
            o.status.success(),
            "resume after a kill after epoch {after}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        same_run(&straight, &killed, &format!("a kill after epoch {after}"));
        let leftovers: Vec<_> = std::fs::read_dir(&killed)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn a_corrupted_checkpoint_is_detected_and_the_previous_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let settings = |epochs| TrainSettings {
        width: 16,
        epochs,
        seed: 9,
        batch_size: 32,
        ..TrainSettings::default()
    };
    let straight = dir.path().join("straight");
    let (train, test) = small_synthetic(3);
    run_training(
        &settings(6),
        train.clone(),
        test.clone(),
        &straight,
        false,
        &mut Silent,
    )
    .unwrap();
    let split = dir.path().join("split");
    run_training(
        &settings(4),
        train.clone(),
        test.clone(),
        &split,
        false,
        &mut Silent,
    )
    .unwrap();
    let ckpt = split.join("checkpoint.safetensors");
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    std::fs::write(&ckpt, bytes).unwrap();
    let summary = run_training(
        &settings(6),
        train.clone(),
        test.clone(),
        &split,
        true,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(summary.resumed_from_epoch, 3);
    assert!(
        summary
            .notes
            .iter()
            .any(|n| n.to_string().contains("checksum mismatch")),
        "{:?}",
        summary.notes
    );
    assert_eq!(
        without_time(&read_metrics(&straight.join("metrics.jsonl"))),
        without_time(&read_metrics(&split.join("metrics.jsonl")))
    );
    // Both checkpoints corrupted: a clear error, nothing silently used.
    for f in ["checkpoint.safetensors", "checkpoint.prev.safetensors"] {
        let p = split.join(f);
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 3] ^= 0x10;
        std::fs::write(&p, b).unwrap();
    }
    let e = run_training(&settings(8), train, test, &split, true, &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("neither can the previous one"), "{e}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_keeps_the_last_checkpoint_and_prints_the_command_that_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    uninterrupted(&straight, "30");
    let out = dir.path().join("stopped");
    let mut child = train_cmd(&out, "30", false).spawn().unwrap();
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
    same_run(&straight, &out, "Ctrl-C and the printed command");
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
