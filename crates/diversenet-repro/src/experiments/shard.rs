//! `--shard K/N`: a deterministic share of the runs, so that N machines (or processes) can
//! fill one results directory.

use std::str::FromStr;

use diversenet::error::{Error, Result};

/// Share `index` of `count` (0 <= index < count). A run belongs to the shard whose index is
/// its key (a hex hash) modulo `count`, so the split does not depend on the order in which
/// runs are planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Checks 0 <= index < count.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(Error::config(
                "shard",
                format!("{index}/{count}: expected K/N with 0 <= K < N"),
            ));
        }
        Ok(Self { index, count })
    }
    pub fn index(&self) -> usize {
        self.index
    }
    pub fn count(&self) -> usize {
        self.count
    }
    /// Whether the run with this key (hex digits) belongs to this shard.
    pub fn owns(&self, key: &str) -> bool {
        let prefix = &key[..key.len().min(12)];
        let value = u64::from_str_radix(prefix, 16).unwrap_or(0);
        value % self.count as u64 == self.index as u64
    }
}

impl FromStr for Shard {
    type Err = Error;
    /// `K/N`, e.g. `0/4`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::config("shard", format!("`{s}`: expected K/N, e.g. 0/4"));
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        Self::new(k, n)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let s: Shard = "1/4".parse().unwrap();
        assert_eq!((s.index(), s.count()), (1, 4));
        assert_eq!(s.to_string(), "1/4");
        for bad in ["4/4", "1/0", "x/2", "1", "-1/3", "1/2/3"] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.contains("shard") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn every_key_has_exactly_one_shard() {
        let keys: Vec<String> = (0..200u64).map(|i| format!("{:016x}", i * 7919)).collect();
        let shards: Vec<Shard> = (0..3).map(|k| Shard::new(k, 3).unwrap()).collect();
        for key in &keys {
            assert_eq!(shards.iter().filter(|s| s.owns(key)).count(), 1);
        }
        // Roughly even.
        for s in &shards {
            let n = keys.iter().filter(|k| s.owns(k)).count();
            assert!((40..=95).contains(&n), "{n}");
        }
    }
}
