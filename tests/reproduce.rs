//! `diversenet reproduce --quick` end to end, as CI runs it: every section, plot and
//! verdict present and computed; finished runs reused; corrupted results detected;
//! shards filling one directory; MNIST missing offline.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::mnist_dir;

fn reproduce(out: &Path, extra: &[&str], envs: &[(&str, &Path)]) -> (Output, serde_json::Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_diversenet"));
    cmd.args(["reproduce", "--quick", "--quiet", "--out"])
        .arg(out)
        .args(extra);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = serde_json::from_slice(&o.stdout).unwrap();
    (o, v)
}

const SECTIONS: [&str; 5] = [
    "RQ1: the training-loss bound",
    "RQ2/RQ4",
    "RQ3: the kernel spectrum",
    "RQ5: the diversity regulariser on synthetic data",
    "RQ5: the diversity regulariser and its peers on MNIST",
];
const PLOTS: [&str; 7] = [
    "rq1_trajectory.svg",
    "rq2_discrepancy_vs_smin.svg",
    "rq2_discrepancy_vs_train_loss.svg",
    "rq2_discrepancy_vs_test_loss.svg",
    "rq3_spectrum.svg",
    "rq5_synthetic_change.svg",
    "rq5_mnist_change.svg",
];

#[test]
fn quick_reproduction_writes_every_section_plot_and_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rep");
    let data = mnist_dir();
    let (_, outcome) = reproduce(&out, &["--data-dir", data.to_str().unwrap()], &[]);
    assert_eq!(outcome["runs_missing"], 0);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for s in SECTIONS {
        assert!(
            md.contains(&format!("## {s}")),
            "section {s} missing from report.md"
        );
        assert!(html.contains(s), "section {s} missing from report.html");
    }
    for p in PLOTS {
        let svg = std::fs::read_to_string(out.join("plots").join(p)).unwrap();
        assert!(svg.contains("<svg"), "{p}");
        assert!(md.contains(&format!("(plots/{p})")), "{p} not in report.md");
    }
    assert_eq!(
        html.matches("<figure><svg").count(),
        PLOTS.len(),
        "plots inline in the HTML"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<script"),
        "self-contained HTML"
    );
    // The claims: every one has a computed verdict (MNIST is present, so none is `not run`).
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let claims = results["claims"].as_array().unwrap();
    assert!(claims.len() >= 10, "{}", claims.len());
    for c in claims {
        let v = c["verdict"].as_str().unwrap();
        assert!(
            ["Reproduced", "Partly", "NotReproduced"].contains(&v),
            "{c}"
        );
        assert!(!c["ours"].as_str().unwrap().is_empty());
        assert!(md.contains(
            c["finding"]
                .as_str()
                .unwrap()
                .split('|')
                .next()
                .unwrap()
                .trim()
        ));
    }
    // The loss bound is exact: the computed ratio never exceeds 1.
    assert!(
        results["numbers"]["rq1_max_loss_over_bound"]
            .as_f64()
            .unwrap()
            <= 1.0 + 1e-9
    );
    for csv in [
        "rq1_trajectories.csv",
        "rq2_points.csv",
        "rq3_kernel.csv",
        "rq5_synthetic.csv",
        "rq5_mnist.csv",
    ] {
        assert!(
            std::fs::read_to_string(out.join(csv))
                .unwrap()
                .lines()
                .count()
                > 2,
            "{csv}"
        );
    }
    // A second invocation reuses every run and only renders again.
    let (_, again) = reproduce(&out, &["--data-dir", data.to_str().unwrap()], &[]);
    assert_eq!(again["runs_done_now"], 0);
    assert_eq!(
        std::fs::read_to_string(out.join("report.md")).unwrap(),
        md,
        "same results, same report"
    );
    // A corrupted result is detected, reported and run again.
    let runs = out.join("runs");
    let victim = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&victim).unwrap();
    std::fs::write(
        &victim,
        text.replacen("\"result\": {", "\"result\": {\"forged\": 1, ", 1),
    )
    .unwrap();
    let (o, third) = reproduce(&out, &["--data-dir", data.to_str().unwrap()], &[]);
    assert_eq!(third["runs_done_now"], 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("was corrupted"));
}

#[test]
fn shards_fill_one_directory_and_offline_mnist_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rep");
    let empty_cache = dir.path().join("cache");
    let env = [("DIVERSENET_CACHE", empty_cache.as_path())];
    let (o, first) = reproduce(&out, &["--shard", "0/2", "--no-fetch"], &env);
    assert!(first["runs_missing"].as_u64().unwrap() > 0);
    assert!(first["report"].is_null());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("MNIST"),
        "says MNIST is skipped"
    );
    let (_, second) = reproduce(&out, &["--shard", "1/2", "--no-fetch"], &env);
    assert_eq!(second["runs_missing"], 0);
    assert_eq!(
        first["runs_done_now"].as_u64().unwrap() + second["runs_done_now"].as_u64().unwrap(),
        second["runs_planned"].as_u64().unwrap()
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("Not run: MNIST is not in"),
        "the MNIST section says why it did not run"
    );
    assert!(md.contains("| not run |"));
    assert!(md.contains("## RQ5: the diversity regulariser on synthetic data"));
    let bad = Command::new(env!("CARGO_BIN_EXE_diversenet"))
        .args(["reproduce", "--quick", "--shard", "2/2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("shard"));
}
