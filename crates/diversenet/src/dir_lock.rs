//! Advisory locks that keep two processes from writing one directory at once: a training
//! run holds its run directory exclusively for its lifetime (`train`, and `train` with
//! `resume`); the reproduction's processes (shards) share their results directory, each
//! holding it shared, and claim each run exclusively while they compute it
//! ([`RunClaim`]). The locks are the operating system's (`flock` on Unix, `LockFileEx` on
//! Windows) on the file [`LOCK_FILE`] in the directory: they are released when the process
//! exits, however it exits (a crash or SIGKILL included), so a lock is never stale.
//!
//! The lock file also holds a line `PID COMMAND` per holder, so that a refusal can name
//! the other process; an exclusive holder replaces the lines, a shared one appends its own
//! (lines of processes that have ended are ignored where the system says which are alive).
//!
//! A file system that cannot lock (some network and FUSE file systems refuse `flock`)
//! leaves the directory unlocked, as before locks existed: [`DirLock::held`] says so, and
//! the run notes it; claims there always succeed.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file in a locked directory.
pub const LOCK_FILE: &str = ".diversenet.lock";

/// How a directory is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// By one process alone (a training run).
    Exclusive,
    /// By any number of processes that each hold it shared (the reproduction's shards),
    /// and by no exclusive holder.
    Shared,
}

/// A held directory lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
    /// False where the file system cannot lock: nothing is held.
    held: bool,
}

impl DirLock {
    /// Creates `dir` if it is missing and takes its lock with `access`, without waiting:
    /// when another process holds it in a way that conflicts, an [`Error::InUse`] naming
    /// that process (its id and command line, where the system tells them) and `setting`,
    /// the option that chose the directory.
    pub fn acquire(dir: &Path, access: Access, setting: &'static str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = open_lock_file(&path)?;
        let attempt = match access {
            Access::Exclusive => file.try_lock(),
            Access::Shared => file.try_lock_shared(),
        };
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::InUse {
                    path: dir.to_path_buf(),
                    holders: holders(&path),
                    setting,
                })
            }
            // The file system cannot lock (the file itself opened): go on unlocked.
            Err(TryLockError::Error(_)) => {
                return Ok(Self {
                    _file: file,
                    path,
                    held: false,
                })
            }
        }
        // Our own line, for the message another process may have to write.
        let line = own_line();
        let written = match access {
            Access::Exclusive => file
                .set_len(0)
                .and_then(|_| file.seek(SeekFrom::Start(0)))
                .and_then(|_| file.write_all(line.as_bytes())),
            // One short append (O_APPEND): whole even beside other holders' appends.
            Access::Shared => file.write_all(line.as_bytes()),
        };
        written.map_err(|e| Error::io(&path, e))?;
        Ok(Self {
            _file: file,
            path,
            held: true,
        })
    }

    /// Whether the lock is held (false where the file system cannot lock).
    pub fn held(&self) -> bool {
        self.held
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// An exclusive claim of one item of a shared directory (one run of the reproduction,
/// `NAME.lock` beside its result), so that two processes never compute it at once.
#[derive(Debug)]
pub struct RunClaim {
    file: File,
    path: PathBuf,
}

impl RunClaim {
    /// Claims `path` (a lock file) without waiting; `None` when another process holds it.
    pub fn try_claim(path: &Path) -> Result<Option<Self>> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self::held(file, path))),
            Err(TryLockError::WouldBlock) => Ok(None),
            // The file system cannot lock: the claim is this process's, unshared.
            Err(TryLockError::Error(_)) => Ok(Some(Self::held(file, path))),
        }
    }

    /// Claims `path`, waiting for the process that holds it to release it (or to end).
    pub fn claim(path: &Path) -> Result<Self> {
        let file = open_lock_file(path)?;
        // Where the file system cannot lock there is nothing to wait for.
        let _ = file.lock();
        Ok(Self::held(file, path))
    }

    fn held(mut file: File, path: &Path) -> Self {
        // The holder's line is only for messages: a failed write loses nothing.
        let _ = file
            .set_len(0)
            .and_then(|_| file.write_all(own_line().as_bytes()));
        Self {
            file,
            path: path.to_path_buf(),
        }
    }

    /// The processes that hold `path` now, as `pid N: COMMAND` (for a note while waiting).
    pub fn holders(path: &Path) -> Vec<String> {
        holders(path)
    }

    /// Releases the claim and removes its file: for a claim whose work is stored, so that
    /// finished items leave no lock files behind. Safe beside a process that opened the
    /// file before it was removed: every claimant looks for the stored result after
    /// claiming, and the result is stored before the file goes.
    pub fn release_and_remove(self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// `PID COMMAND\n` of this process.
fn own_line() -> String {
    let command: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!(
        "{} {}\n",
        std::process::id(),
        command.join(" ").replace('\n', " ")
    )
}

/// The holders recorded in the lock file `path` that are still running (where the system
/// says: /proc on Linux), as `pid N: COMMAND`; this process left out.
fn holders(path: &Path) -> Vec<String> {
    let mut text = String::new();
    if File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .is_err()
    {
        return Vec::new();
    }
    let me = std::process::id();
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let (pid, command) = line.split_once(' ').unwrap_or((line, ""));
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == me || !alive(pid) {
            continue;
        }
        let holder = format!("pid {pid}: {}", command.trim());
        if !out.contains(&holder) {
            out.push(holder);
        }
    }
    out
}

/// Whether process `pid` is running (always true where the system does not say).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusive_lock_excludes_every_other_and_shared_locks_coexist() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let held = DirLock::acquire(&run, Access::Exclusive, "out").unwrap();
        // A second open file description conflicts as another process's would.
        for access in [Access::Exclusive, Access::Shared] {
            match DirLock::acquire(&run, access, "out") {
                Err(Error::InUse { path, setting, .. }) => {
                    assert_eq!((path, setting), (run.clone(), "out"))
                }
                other => panic!("expected InUse, got {other:?}"),
            }
        }
        drop(held);
        let a = DirLock::acquire(&run, Access::Shared, "out").unwrap();
        let b = DirLock::acquire(&run, Access::Shared, "out").unwrap();
        assert!(matches!(
            DirLock::acquire(&run, Access::Exclusive, "out"),
            Err(Error::InUse { .. })
        ));
        drop((a, b));
        DirLock::acquire(&run, Access::Exclusive, "out").unwrap();
    }

    #[test]
    fn a_run_claim_is_exclusive_and_its_file_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.lock");
        let claim = RunClaim::try_claim(&path).unwrap().expect("free");
        assert!(RunClaim::try_claim(&path).unwrap().is_none());
        claim.release_and_remove();
        assert!(!path.exists());
        assert!(RunClaim::try_claim(&path).unwrap().is_some());
    }
}
