//! The results store: each run's typed result under `DIR/runs/<key>.json`, where the key
//! hashes the results version and the run's specification; written atomically with a
//! checksum, so that an interrupted reproduction loses nothing finished and a corrupted
//! file is detected and run again. The processes filling one directory (shards, or two
//! invocations by mistake) each hold it shared and claim each run exclusively while they
//! compute it (`runs/<key>.lock`, removed once the result is stored), so that no run is
//! computed twice at once and a `train` can never write there meanwhile
//! ([`diversenet::dir_lock`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use diversenet::dir_lock::{Access, DirLock, RunClaim};
use diversenet::error::Result;
use diversenet::files::{hex, write_atomic};

use serde_json::Value;

use super::registry::RunSpec;

/// Bumped when a change makes stored results stale.
pub const RESULTS_VERSION: &str = "diversenet-results-3";

/// The key of a run: the first 16 hex digits of SHA-256 over the results version and the
/// run's specification.
pub fn run_key(spec: &RunSpec) -> String {
    let mut h = Sha256::new();
    h.update(RESULTS_VERSION.as_bytes());
    h.update(
        serde_json::to_string(spec)
            .expect("specs serialise")
            .as_bytes(),
    );
    hex(&h.finalize())[..16].to_string()
}

/// A stored run result.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StoredRun {
    pub spec: RunSpec,
    /// The experiment's typed result, as JSON.
    pub outcome: Value,
    pub seconds: f64,
    /// SHA-256 of the JSON of `spec` and `outcome`.
    pub checksum: String,
}

impl StoredRun {
    pub fn new(spec: RunSpec, outcome: Value, seconds: f64) -> Self {
        Self {
            checksum: checksum(&spec, &outcome),
            spec,
            outcome,
            seconds,
        }
    }
}

fn checksum(spec: &RunSpec, outcome: &Value) -> String {
    let text = serde_json::to_string(&(spec, outcome)).expect("serialises");
    diversenet::files::sha256_hex(text.as_bytes())
}

/// A lock that a panic elsewhere cannot poison for good (the map stays usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The runs directory of a results directory, with what has been read from it (shared by
/// the runs executing in parallel).
pub struct Store {
    /// The results directory, held shared for the store's lifetime.
    lock: DirLock,
    dir: PathBuf,
    loaded: Mutex<HashMap<String, StoredRun>>,
    /// Files that failed their checksum or did not parse (they are run again).
    corrupt: Mutex<Vec<PathBuf>>,
}

impl Store {
    /// Opens (creating) `out/runs`, holding `out` shared: refused while a process holds it
    /// exclusively (a training run with `out` as its run directory).
    pub fn open(out: &Path) -> Result<Self> {
        let lock = DirLock::acquire(out, Access::Shared, "out")?;
        let dir = out.join("runs");
        std::fs::create_dir_all(&dir).map_err(|e| diversenet::error::Error::io(&dir, e))?;
        Ok(Self {
            lock,
            dir,
            loaded: Mutex::new(HashMap::new()),
            corrupt: Mutex::new(Vec::new()),
        })
    }

    /// Whether the results directory is locked (false where its file system cannot lock:
    /// then nothing keeps two processes from computing a run at once).
    pub fn locked(&self) -> bool {
        self.lock.held()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn claim_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.lock"))
    }

    /// Claims run `key` for this process without waiting: `None` while another process
    /// computes it. Look for its stored result after claiming (the other may have
    /// finished it just before), and release the claim with
    /// [`RunClaim::release_and_remove`] once the result is stored.
    pub fn try_claim(&self, key: &str) -> Result<Option<RunClaim>> {
        RunClaim::try_claim(&self.claim_path(key))
    }

    /// Waits until no other process computes run `key` (the claim is released at once).
    pub fn wait_for(&self, key: &str) -> Result<()> {
        RunClaim::claim(&self.claim_path(key)).map(drop)
    }

    /// The processes computing run `key` now, as `pid N: COMMAND`.
    pub fn claimed_by(&self, key: &str) -> Vec<String> {
        RunClaim::holders(&self.claim_path(key))
    }

    /// The stored result of `spec` (key `key`), if present and intact; a file that fails
    /// its checksum or does not parse is remembered in [`Store::corrupt`] and treated as
    /// missing (it will be run again and replaced).
    pub fn get(&self, key: &str, spec: &RunSpec) -> Option<StoredRun> {
        if let Some(s) = lock(&self.loaded).get(key) {
            return Some(s.clone());
        }
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<StoredRun>(&bytes) {
            Ok(s) if &s.spec == spec && s.checksum == checksum(&s.spec, &s.outcome) => {
                lock(&self.loaded).insert(key.to_string(), s.clone());
                Some(s)
            }
            _ => {
                let mut corrupt = lock(&self.corrupt);
                if !corrupt.contains(&path) {
                    corrupt.push(path);
                }
                None
            }
        }
    }

    /// Adds `seconds` to the wall time spent running this directory's runs (kept in
    /// `runs/wall_seconds.json`, summed over the invocations that ran something); returns
    /// the total.
    pub fn add_wall_seconds(&self, seconds: f64) -> Result<f64> {
        // One process at a time reads and rewrites the sum.
        let _claim = RunClaim::claim(&self.claim_path("wall_seconds"))?;
        let path = self.dir.join("wall_seconds.json");
        let before: f64 = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(0.0);
        if seconds > 0.0 {
            write_atomic(&path, format!("{}", before + seconds).as_bytes())?;
        }
        Ok(before + seconds)
    }

    /// Files found corrupted so far.
    pub fn corrupt(&self) -> Vec<PathBuf> {
        lock(&self.corrupt).clone()
    }

    /// Writes a result atomically.
    pub fn put(&self, key: &str, run: StoredRun) -> Result<()> {
        write_atomic(
            &self.path(key),
            serde_json::to_string_pretty(&run)
                .expect("serialises")
                .as_bytes(),
        )?;
        lock(&self.loaded).insert(key.to_string(), run);
        Ok(())
    }
}
