//! The program's defaults and what it prints: `eval` and `analyze` take the data stored
//! in the model, `analyze`'s default point count, how float targets are read, the
//! spectrum's table and JSON, and every `--json` explained.

mod common;

use common::{fails, ok, s};
use diversenet::data::npy::encode_npy_f64;

#[test]
fn a_new_users_first_hour() {
    let dir = tempfile::tempdir().unwrap();
    // eval and analyze take the data from the model: here an npy pair and a split.
    let x: Vec<f64> = (0..600)
        .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
        .collect();
    let y: Vec<f64> = (0..200).map(|i| (i as f64 / 10.0).sin()).collect();
    let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    std::fs::write(&xp, encode_npy_f64(&[200, 3], &x)).unwrap();
    std::fs::write(&yp, encode_npy_f64(&[200], &y)).unwrap();
    let out = dir.path().join("run");
    let spec = format!("npy:{},{}", s(&xp), s(&yp));
    ok(&[
        "train",
        "--data",
        &spec,
        "--epochs",
        "2",
        "--width",
        "5",
        "--seed",
        "3",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let model = out.join("model.safetensors");
    let with_flags = ok(&["eval", "--model", s(&model), "--data", &spec]);
    let without = ok(&["eval", "--model", s(&model)]);
    assert_eq!(with_flags, without, "the stored data source is the default");
    assert!(without.contains("x.npy (test split)"), "{without}");
    // analyze's default point count keeps m c <= n d (here 15), so s_m(D) is not 0 by rank.
    let a = ok(&["analyze", "--model", s(&model)]);
    assert!(a.contains("(15 of 160 points"), "{a}");
    assert!(!a.contains("[rank"), "{a}");
    // Float targets 0.0/1.0 are real values under auto, classes under --task classify.
    let labels: Vec<f64> = (0..200).map(|i| (i % 2) as f64).collect();
    let lp = dir.path().join("l.npy");
    std::fs::write(&lp, encode_npy_f64(&[200], &labels)).unwrap();
    let spec = format!("npy:{},{}", s(&xp), s(&lp));
    let summary = |task: &str, name: &str| -> serde_json::Value {
        let o = ok(&[
            "train",
            "--data",
            &spec,
            "--task",
            task,
            "--epochs",
            "1",
            "--width",
            "4",
            "--out",
            s(&dir.path().join(name)),
            "--quiet",
        ]);
        serde_json::from_str::<serde_json::Value>(o.lines().last().unwrap()).unwrap()["summary"]
            .clone()
    };
    assert_eq!(summary("auto", "auto")["config"]["loss"], "squared");
    let classes = summary("classify", "classify");
    assert_eq!(classes["config"]["loss"], "cross-entropy");
    assert_eq!(classes["config"]["outputs"], 2);
    // A cross-entropy model's analysis says which loss it prints and why s_m(D)^2/n is absent.
    let a = ok(&[
        "analyze",
        "--model",
        s(&dir.path().join("classify/model.safetensors")),
    ]);
    assert!(a.contains("squared loss on one-hot targets"), "{a}");
    assert!(a.contains("given for one output only"), "{a}");
    // --task classify on synthetic data is refused, not ignored.
    fails(
        &[
            "train",
            "--task",
            "classify",
            "--out",
            s(&dir.path().join("syn")),
        ],
        &[
            "invalid setting --task",
            "synthetic data has real-valued targets",
        ],
    );
    // spectrum: huge multiplicities in scientific notation in the table, exact in JSON.
    let json = dir.path().join("spectrum.json");
    let table = ok(&[
        "spectrum",
        "--dim",
        "784",
        "--max-degree",
        "300",
        "--json",
        s(&json),
    ]);
    let row = |u: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(u))
            .unwrap()
            .to_string()
    };
    assert!(row("4").contains(" 15862196700 "), "{}", row("4"));
    assert!(row("300").contains(" 8.8889e275 "), "{}", row("300"));
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(j["degrees"][4]["multiplicity"], 15862196700.0);
    // Every command that takes --json explains it.
    for cmd in [
        &["train"][..],
        &["eval"],
        &["analyze"],
        &["spectrum"],
        &["reproduce"],
        &["fetch"],
        &["bench", "train"],
        &["bench", "theory"],
        &["bench", "reg"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = ok(&args);
        // `--json <JSON>`, or `--json [<JSON>]` where the path is optional.
        let after = help
            .split("--json <JSON>")
            .nth(1)
            .or_else(|| help.split("--json [<JSON>]").nth(1))
            .unwrap_or_else(|| panic!("{cmd:?}: no --json flag in --help"));
        let text = after.split("\n  -").next().unwrap();
        assert!(text.trim().len() > 10, "{cmd:?}: --json has no help text");
    }
}
