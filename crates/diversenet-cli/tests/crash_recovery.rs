//! Crashes and corrupted files during training: a run killed with SIGKILL at a random point
//! resumes to exactly the uninterrupted result, and a corrupted checkpoint is detected and
//! the previous one used.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

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

#[test]
fn sigkill_at_a_random_point_then_resume_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let t = Instant::now();
    uninterrupted(&straight, "30");
    let full = t.elapsed();
    // Kill points drawn from a seeded stream, spread over the run.
    let mut rng = SeededRng::new(2026, Stream::Sample);
    let mut interrupted_mid_run = false;
    for attempt in 0..3 {
        let killed = dir.path().join(format!("killed-{attempt}"));
        let mut child = train_cmd(&killed, "30", false).spawn().unwrap();
        let at = full.mul_f64(0.15 + 0.7 * rng.uniform());
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        let lines = std::fs::read_to_string(killed.join("metrics.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        interrupted_mid_run |= killed.join("checkpoint.safetensors").exists() && lines < 31;
        let o = train_cmd(&killed, "30", true).output().unwrap();
        assert!(
            o.status.success(),
            "resume after a kill at {at:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            without_time(&read_metrics(&straight.join("metrics.jsonl"))),
            without_time(&read_metrics(&killed.join("metrics.jsonl"))),
            "metrics after a kill at {at:?}"
        );
        assert_eq!(
            std::fs::read(straight.join("model.safetensors")).unwrap(),
            std::fs::read(killed.join("model.safetensors")).unwrap()
        );
        let leftovers: Vec<_> = std::fs::read_dir(&killed)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
    assert!(
        interrupted_mid_run,
        "no kill landed between two checkpoints (run took {full:?})"
    );
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
