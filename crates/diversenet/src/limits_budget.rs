//! The memory budget: the one set (capped at the machine's memory), else a share of the
//! memory available; sizes as people write and read them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Budget, BudgetSource, Error, Expected, Result};

/// The budget set by [`set_memory_budget`] (0: the default).
static BUDGET_BYTES: AtomicU64 = AtomicU64::new(0);

/// Share of the machine's available memory used when no budget is set.
pub const DEFAULT_SHARE: f64 = 0.8;
/// Budget used when the machine's memory cannot be read.
pub const FALLBACK_BYTES: u64 = 8_000_000_000;
/// The budget asked for when it was capped at the machine's memory (0: not capped).
static ASKED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Sets the memory budget for this process (`None`: the default share of the machine's).
/// A budget above the machine's memory ([`machine_memory`]) is capped there: no allocation
/// beyond it can succeed (a 40 GB matrix under a budget of 999999T was an abort on a failed
/// allocation, not a refusal); the cap is returned, to be told to the user.
pub fn set_memory_budget(bytes: Option<u64>) -> Option<Budget> {
    let machine = machine_memory(
        std::fs::read_to_string("/proc/meminfo").ok().as_deref(),
        std::fs::read_to_string("/sys/fs/cgroup/memory.max")
            .ok()
            .as_deref(),
    );
    let (budget, asked) = match (bytes, machine) {
        (Some(asked), Some(machine)) if asked > machine => (machine, asked),
        (b, _) => (b.unwrap_or(0), 0),
    };
    BUDGET_BYTES.store(budget, Ordering::Relaxed);
    ASKED_BYTES.store(asked, Ordering::Relaxed);
    (asked > 0).then(memory_budget)
}

/// The budget in force: the one set, else the default share of the machine's memory.
pub fn memory_budget() -> Budget {
    match (
        BUDGET_BYTES.load(Ordering::Relaxed),
        ASKED_BYTES.load(Ordering::Relaxed),
    ) {
        (0, _) => default_budget(std::fs::read_to_string("/proc/meminfo").ok().as_deref()),
        (bytes, 0) => Budget {
            bytes,
            source: BudgetSource::Set,
        },
        (bytes, asked) => Budget {
            bytes,
            source: BudgetSource::Capped { asked },
        },
    }
}

/// The most memory this process could have: the memory installed plus swap (`MemTotal`
/// and `SwapTotal` of the text of `/proc/meminfo`), or the control group's limit (the text
/// of `/sys/fs/cgroup/memory.max`) where that is lower; `None` where neither is readable.
pub fn machine_memory(meminfo: Option<&str>, cgroup_max: Option<&str>) -> Option<u64> {
    let installed = meminfo.and_then(|info| {
        let total = meminfo_field(info, "MemTotal")?;
        Some(total + meminfo_field(info, "SwapTotal").unwrap_or(0))
    });
    let limit = cgroup_max.and_then(|t| t.trim().parse::<u64>().ok());
    match (installed, limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A `/proc/meminfo` field (`MemTotal`) in bytes.
fn meminfo_field(meminfo: &str, name: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
}

/// The default budget from the text of `/proc/meminfo` (`None`: not readable).
pub fn default_budget(meminfo: Option<&str>) -> Budget {
    let field = |name: &str| meminfo_field(meminfo?, name);
    let share = |bytes: u64, source: BudgetSource| Budget {
        bytes: (bytes as f64 * DEFAULT_SHARE) as u64,
        source,
    };
    match (field("MemAvailable"), field("MemTotal")) {
        (Some(a), _) => share(a, BudgetSource::Available { bytes: a }),
        (None, Some(t)) => share(t, BudgetSource::Installed { bytes: t }),
        (None, None) => Budget {
            bytes: FALLBACK_BYTES,
            source: BudgetSource::Unreadable,
        },
    }
}

/// Parses a memory size: `8G`, `500M`, `1.5GB`, `64KiB`, `1000000` (bytes). K, M, G, T
/// are powers of 1000, KiB, MiB, GiB, TiB powers of 1024.
pub fn parse_size(text: &str) -> Result<u64> {
    let bad = || {
        Error::setting(
            "max_memory",
            text,
            Expected::OneOf("a size such as 8G, 500M, 2GiB or a number of bytes"),
        )
    };
    let refuse = |why: String| Error::Config {
        setting: "max_memory",
        value: Some(text.to_string()),
        expected: Expected::Described(format!("`{text}`: {why}").into()),
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0f64.powi(2),
        "gib" => 1024.0f64.powi(3),
        "tib" => 1024.0f64.powi(4),
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if bytes.is_nan() || bytes < 1.0 {
        return Err(refuse("must be at least 1 byte".into()));
    }
    if bytes >= u64::MAX as f64 {
        return Err(refuse(format!(
            "too large: a budget must be below 2^64 bytes ({})",
            format_bytes(u64::MAX as f64)
        )));
    }
    Ok(bytes as u64)
}

/// A byte count for people: `28.8 GB`, `512 MB`, `4.0 kB`.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} bytes")
    } else if v >= 1e6 {
        format!("{v:.1e} {}", UNITS[unit])
    } else if v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
