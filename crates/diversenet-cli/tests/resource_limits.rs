//! Work beyond the machine's resources is refused before it starts, with what would fit
//! and nothing written: data files, widths, dimensions and point counts beyond the memory
//! budget, thread counts beyond the cores.

mod common;

use std::io::Write;
use std::path::Path;

use common::{fails, run, small_synthetic_run};
use diversenet::data::idx::encode_idx;
use diversenet::limits::analyze_estimate;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn an_idx_file_declaring_more_than_the_budget_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    // The header alone, gzipped: 400000 x 28 x 28 images declared.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&encode_idx(&[400_000, 28, 28], &[])).unwrap();
    let images = e.finish().unwrap();
    let labels = encode_idx(&[400_000], &[]);
    let names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    // A missing test file is named before the training files are read (the training
    // images here are not even valid).
    std::fs::write(dir.path().join(format!("{}.gz", names[0])), b"junk").unwrap();
    std::fs::write(dir.path().join(names[1]), &labels).unwrap();
    let out = dir.path().join("run");
    let args = [
        "--max-memory",
        "1G",
        "train",
        "--data=mnist",
        "--data-dir",
        s(dir.path()),
        "--out",
        s(&out),
    ];
    fails(&args, &["t10k-images-idx3-ubyte", "not found"]);
    for (i, name) in names.iter().enumerate() {
        let bytes = if i % 2 == 0 { &images } else { &labels };
        std::fs::write(dir.path().join(format!("{name}.gz")), bytes).unwrap();
    }
    let _ = std::fs::remove_file(dir.path().join(names[1]));
    fails(
        &args,
        &[
            "loading",
            "400000 x 784",
            "would need about 2.8 GB",
            "budget of 1.0 GB (set by --max-memory)",
        ],
    );
    assert!(!out.exists());
}

#[test]
fn a_width_or_dimension_beyond_memory_is_refused_with_what_fits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    fails(
        &[
            "--max-memory",
            "2G",
            "train",
            "--width",
            "100000000000",
            "--epochs",
            "1",
            "--out",
            s(&out),
        ],
        &[
            "training a width-100000000000 network",
            "budget of 2.0 GB",
            "the largest --width that fits is",
        ],
    );
    fails(
        &[
            "train",
            "--dim",
            "100000000",
            "--epochs",
            "1",
            "--out",
            s(&out),
        ],
        &[
            "synthetic data",
            "d = 100000000",
            "the largest --dim that fits is",
        ],
    );
    assert!(!out.exists(), "no directory left behind");
    // The largest width named fits.
    let e = run(&[
        "--max-memory",
        "2G",
        "train",
        "--width",
        "100000000000",
        "--out",
        s(&out),
    ]);
    let msg = String::from_utf8_lossy(&e.stderr);
    let fits: usize = msg
        .split("the largest --width that fits is ")
        .nth(1)
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    assert!(fits > 1000 && fits < 100_000_000, "{fits}");
}

#[test]
fn analyze_on_all_points_of_a_big_set_is_refused_with_the_points_that_fit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    small_synthetic_run(&out, "1", &[]);
    let model = out.join("model.safetensors");
    let args = [
        "--max-memory",
        "4G",
        "analyze",
        "--model",
        s(&model),
        "--data",
        "synthetic",
        "--train-samples",
        "60000",
        "--all-points",
    ];
    fails(
        &args,
        &["analyze on 60000 points", "Gram D^T D", "budget of 4.0 GB"],
    );
    let msg = String::from_utf8_lossy(&run(&args).stderr).into_owned();
    let fits: usize = msg
        .split("the largest --points that fits is ")
        .nth(1)
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    // About 40 m^2 bytes (D^T D, X X^T, slice volumes, K, E_W) within 4e9: m just below 10000.
    let bytes = |m| analyze_estimate(m, 10, 8, 1).total();
    assert!(bytes(fits) <= 4e9 && bytes(fits + 1) > 4e9, "{fits}");
    assert!((9990..10000).contains(&fits), "{fits}");
}

#[test]
fn absurd_thread_counts_are_refused() {
    fails(
        &["--threads", "100000", "spectrum", "--dim", "3"],
        &["invalid setting --threads", "100000 threads", "per core"],
    );
}
