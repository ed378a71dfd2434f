//! The README's test command finds the program where cargo put it: `.ci/test-all` points
//! pytest at `$(bash .ci/target-dir)/release/diversenet`, and `.ci/target-dir` follows
//! CARGO_TARGET_DIR (and the build configuration, through `cargo metadata`).

use std::path::Path;
use std::process::Command;

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn target_dir(env: Option<&Path>) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(repository().join(".ci/target-dir"));
    // The cargo running this test, whichever toolchain it is.
    if let Some(cargo) = std::env::var_os("CARGO") {
        let bin = Path::new(&cargo).parent().unwrap().to_path_buf();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    }
    match env {
        Some(dir) => cmd.env("CARGO_TARGET_DIR", dir),
        None => cmd.env_remove("CARGO_TARGET_DIR"),
    };
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn the_test_command_follows_cargo_target_dir() {
    let elsewhere = tempfile::tempdir().unwrap();
    assert_eq!(
        target_dir(Some(elsewhere.path())),
        elsewhere.path().to_str().unwrap()
    );
    let test_all = std::fs::read_to_string(repository().join(".ci/test-all")).unwrap();
    assert!(
        test_all.contains("target_dir=$(bash .ci/target-dir)")
            && test_all.contains("DIVERSENET_BIN=\"$target_dir/release/diversenet\""),
        "{test_all}"
    );
    // Without it, the workspace's own target directory.
    let default = target_dir(None);
    assert!(default.ends_with("target"), "{default}");
}
