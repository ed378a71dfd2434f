//! One process at a time in a run directory: `train` (new, resumed or overwriting) holds
//! its `--out` exclusively, `reproduce` holds its results directory shared and claims each
//! run exclusively. Each test makes the conflict without timing assumptions: the test
//! process itself holds the lock while the program runs, or two programs run together and
//! whatever their order the outcome must be consistent.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{fails, ok, quick_reproduce as reproduce, small_train_args};
use diversenet::dir_lock::{Access, DirLock, RunClaim};

fn train_args(out: &Path, seed: &str) -> Vec<String> {
    let mut args = vec!["--threads".to_string(), "1".to_string()];
    args.extend(small_train_args(out, &["--seed", seed]));
    args
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn train_refuses_a_directory_another_process_holds_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let held = DirLock::acquire(&out, Access::Exclusive, "out").unwrap();
    let me = format!("pid {}", std::process::id());
    let train = train_args(&out, "1");
    fails(
        &args(&train),
        &["is in use by another process", &me, "--out"],
    );
    // Nothing was written while it was held.
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [".diversenet.lock"], "{names:?}");
    drop(held);
    ok(&args(&train));
    // A resume and an overwrite are refused the same way while it is held again, also by
    // a shared holder (a reproduction using the directory).
    for access in [Access::Exclusive, Access::Shared] {
        let held = DirLock::acquire(&out, access, "out").unwrap();
        for extra in ["--resume", "--overwrite"] {
            let mut a = args(&train);
            a.push(extra);
            fails(&a, &["is in use by another process", &me]);
        }
        drop(held);
    }
    let mut resume = args(&train);
    let epochs = resume.iter().position(|a| *a == "--epochs").unwrap();
    resume[epochs + 1] = "4";
    resume.push("--resume");
    ok(&resume);
}

/// Two trainings started together into one directory (seeds 1 and 2): whichever order the
/// system gives them, one run is written, whole: the other is refused (in use, or already
/// holding a run), and the directory's configuration, model and summary are of one seed.
#[test]
fn two_trainings_into_one_directory_leave_one_consistent_run() {
    let dir = tempfile::tempdir().unwrap();
    for attempt in 0..3 {
        let out = dir.path().join(format!("run-{attempt}"));
        let children: Vec<_> = ["1", "2"]
            .iter()
            .map(|seed| {
                Command::new(env!("CARGO_BIN_EXE_diversenet"))
                    .args(train_args(&out, seed))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let succeeded = outputs.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            succeeded, 1,
            "attempt {attempt}: exactly one run is written"
        );
        let refused = outputs.iter().find(|o| !o.status.success()).unwrap();
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            err.contains("is in use by another process") || err.contains("already holds a run"),
            "{err}"
        );
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(
            config["seed"], summary["config"]["seed"],
            "attempt {attempt}"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // The model file is the summary's run: eval on its recorded data works.
        ok(&[
            "eval",
            "--model",
            out.join("model.safetensors").to_str().unwrap(),
        ]);
    }
}

fn outcome(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Two reproductions run together into one directory, as two shards (then one pass more,
/// for the runs planned from both shards' results) and as two whole plans: both finish,
/// every run is computed exactly once (the shards' shares, or the claims of the two whole
/// plans), and a report is rendered.
#[test]
fn reproductions_running_together_share_their_directory_and_compute_each_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("empty-cache");
    for shards in [Some(["0/2", "1/2"]), None] {
        let out = dir
            .path()
            .join(if shards.is_some() { "sharded" } else { "whole" });
        let children: Vec<_> = (0..2)
            .map(|k| {
                reproduce(&out, &cache, shards.map(|s| s[k]))
                    .spawn()
                    .unwrap()
            })
            .collect();
        let results: Vec<serde_json::Value> = children
            .into_iter()
            .map(|c| outcome(&c.wait_with_output().unwrap()))
            .collect();
        let mut done: u64 = results
            .iter()
            .map(|r| r["runs_done_now"].as_u64().unwrap())
            .sum();
        let mut planned = results[0]["runs_planned"].as_u64().unwrap();
        if shards.is_some() {
            // Runs planned from other runs' results (the synthetic confirmation at the
            // lambda its sweep chose) are known to a shard only once the other shard's
            // sweep is stored: a second pass over the directory computes them.
            let last = outcome(&reproduce(&out, &cache, None).output().unwrap());
            done += last["runs_done_now"].as_u64().unwrap();
            planned = last["runs_planned"].as_u64().unwrap();
        }
        assert_eq!(
            done, planned,
            "every run computed exactly once ({shards:?})"
        );
        assert!(out.join("report.md").exists(), "{shards:?}");
        let claims: Vec<_> = std::fs::read_dir(out.join("runs"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".lock"))
            .map(|e| e.file_name())
            .collect();
        assert!(
            claims.iter().all(|c| c == "wall_seconds.lock"),
            "claims of stored runs are removed: {claims:?}"
        );
    }
}

/// A run claimed by another process is left to it: the reproduction computes the rest,
/// then waits for that run (the test holds its claim), and finishes once it is released.
/// A training refuses the results directory meanwhile, naming the reproduction.
#[test]
fn a_reproduction_waits_for_a_run_another_process_computes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("empty-cache");
    let out = dir.path().join("rep");
    // The keys of the plan: from a first, complete reproduction elsewhere.
    let reference = dir.path().join("reference");
    let first = outcome(&reproduce(&reference, &cache, None).output().unwrap());
    let mut keys: Vec<String> = std::fs::read_dir(reference.join("runs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .filter(|k| k != "wall_seconds")
        .collect();
    keys.sort();
    assert_eq!(keys.len() as u64, first["runs_planned"].as_u64().unwrap());
    let held_key = &keys[keys.len() / 2];
    std::fs::create_dir_all(out.join("runs")).unwrap();
    let claim = RunClaim::try_claim(&out.join("runs").join(format!("{held_key}.lock")))
        .unwrap()
        .expect("free");
    let mut child = reproduce(&out, &cache, None).spawn().unwrap();
    // Every other run is stored, and the program is still waiting for the claimed one.
    let stored = |key: &str| out.join("runs").join(format!("{key}.json")).exists();
    let others_done = || keys.iter().filter(|k| *k != held_key).all(|k| stored(k));
    while !others_done() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the reproduction ended before the other runs were stored"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "it waits for the claimed run"
    );
    assert!(
        !stored(held_key),
        "a claimed run was computed by another process"
    );
    // The reproduction holds the directory: a training is refused, naming it.
    let train = train_args(&out, "1");
    fails(
        &args(&train),
        &["is in use by another process", "reproduce"],
    );
    claim.release_and_remove();
    let o = child.wait_with_output().unwrap();
    let result = outcome(&o);
    assert!(stored(held_key));
    assert_eq!(result["runs_missing"], 0);
    assert_eq!(result["runs_done_now"], first["runs_planned"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("being computed by another process"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Every run is stored: a second invocation computes nothing.
    let again = outcome(&reproduce(&out, &cache, None).output().unwrap());
    assert_eq!(again["runs_done_now"], 0);
}
