//! File plumbing shared by every writer and loader: atomic writes (temporary file, fsync,
//! rename) and SHA-256 digests.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Message, Result};

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never
/// a half-written one. Creates the parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let tmp = temporary_sibling(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// `DIR/.NAME.tmp-PID`: the temporary name used while `path` is being written.
pub fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// `path` as text, for a path that is recorded in JSON (a run's configuration and summary,
/// a model file's metadata, the reproduction's outcome), which holds UTF-8 text only: a
/// path that is not UTF-8 is refused, naming `setting`, before any work (it could not be
/// recorded after the work, nor found again from a lossy copy).
pub fn recordable_path<'a>(path: &'a Path, setting: &'static str) -> Result<&'a str> {
    path.to_str().ok_or_else(|| {
        Error::config(
            setting,
            Message::from(format!(
                "{} is not valid UTF-8 (shown with U+FFFD for the bytes that are not): \
                 diversenet records this path as text in JSON, which holds UTF-8 only; \
                 rename it, or choose a path that is UTF-8",
                path.display()
            )),
        )
    })
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Lower-case hexadecimal SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_matches_fips_180_2() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_refused_naming_the_setting() {
        use std::os::unix::ffi::OsStrExt;
        let bad = Path::new(std::ffi::OsStr::from_bytes(b"runs/bad\xff/run"));
        match recordable_path(bad, "out") {
            Err(Error::Config { setting, .. }) => assert_eq!(setting, "out"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(
            recordable_path(Path::new("runs/ok"), "out").unwrap(),
            "runs/ok"
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
