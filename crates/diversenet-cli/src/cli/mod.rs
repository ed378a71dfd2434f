//! The command line's pieces, one module per group of commands: each parses its flags
//! and calls the library; nothing here computes.

pub mod bench;
pub mod data_args;
pub mod fetch;
pub mod reproduce;
pub mod spelling;
pub mod theory;
pub mod train;

use std::path::Path;

use anyhow::Result;
use diversenet::files::write_atomic;

/// Refuses a `--json` path that could not be written, before the work it would report:
/// a directory, a path whose parent is not a directory (unless it is `run_dir`, which the
/// command creates), or one of the files the run writes there (`run_files`).
pub fn check_json_path(
    path: Option<&Path>,
    run_dir: Option<&Path>,
    run_files: &[&str],
) -> Result<()> {
    let Some(p) = path else { return Ok(()) };
    if p.is_dir() {
        anyhow::bail!(
            "--json {} is a directory; --json names the file to write",
            p.display()
        );
    }
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let in_run_dir = run_dir.is_some_and(|d| d == parent);
    if in_run_dir
        && run_files
            .iter()
            .any(|f| p.file_name() == Some(std::ffi::OsStr::new(f)))
    {
        anyhow::bail!(
            "--json {} is one of the files the run writes; name another file",
            p.display()
        );
    }
    if !in_run_dir && !parent.is_dir() {
        anyhow::bail!(
            "--json {}: {} is not a directory (it is missing or a file); create it first",
            p.display(),
            parent.display()
        );
    }
    Ok(())
}

/// Refuses an output directory that exists as something else, before any work (a
/// download, a run) is done for it. `flag` names the option.
pub fn check_output_dir(dir: &Path, flag: &str) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "{flag} {} exists and is not a directory; name a directory (it is created if missing)",
            dir.display()
        );
    }
    Ok(())
}

pub fn write_json(path: Option<&Path>, value: &impl serde::Serialize) -> Result<()> {
    if let Some(p) = path {
        write_atomic(p, serde_json::to_string_pretty(value)?.as_bytes())?;
    }
    Ok(())
}
