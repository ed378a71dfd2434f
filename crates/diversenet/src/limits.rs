//! Resource limits checked before any work starts: the memory a command will allocate,
//! estimated from declared sizes (data files' headers, the configuration) and compared with
//! a budget, and the thread count.
//!
//! The budget is the one set ([`set_memory_budget`]; the CLI's `max_memory`), else 80% of the
//! memory the operating system reports as available (`MemAvailable` in `/proc/meminfo`,
//! else `MemTotal`), else 8 GB where neither can be read. Estimates count the large
//! buffers only (matrices, optimiser states); they are meant to catch a setting that cannot
//! work, not to account for every byte.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Advice, Error, Expected, MemoryRefusal, Message, Result};
pub use crate::error::{Budget, BudgetSource};

/// The budget set by [`set_memory_budget`] (0: the default).
static BUDGET_BYTES: AtomicU64 = AtomicU64::new(0);

/// Share of the machine's available memory used when no budget is set.
pub const DEFAULT_SHARE: f64 = 0.8;
/// Budget used when the machine's memory cannot be read.
pub const FALLBACK_BYTES: u64 = 8_000_000_000;
/// Most threads per core accepted by [`check_threads`].
pub const MAX_THREADS_PER_CORE: usize = 4;

/// Sets the memory budget for this process (`None`: the default share of the machine's).
pub fn set_memory_budget(bytes: Option<u64>) {
    BUDGET_BYTES.store(bytes.unwrap_or(0), Ordering::Relaxed);
}

/// The budget in force: the one set, else the default share of the machine's memory.
pub fn memory_budget() -> Budget {
    match BUDGET_BYTES.load(Ordering::Relaxed) {
        0 => default_budget(std::fs::read_to_string("/proc/meminfo").ok().as_deref()),
        bytes => Budget {
            bytes,
            source: BudgetSource::Set,
        },
    }
}

/// The default budget from the text of `/proc/meminfo` (`None`: not readable).
pub fn default_budget(meminfo: Option<&str>) -> Budget {
    let field = |name: &str| -> Option<u64> {
        meminfo?
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
    };
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

/// What a command will allocate: its large buffers, by name, in bytes (f64, so that an
/// absurd request is measured instead of overflowing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    pub parts: Vec<(String, f64)>,
}

impl Estimate {
    /// Adds a buffer of `elements` values of `bytes_each` bytes.
    pub fn add(&mut self, what: impl Into<String>, elements: f64, bytes_each: usize) -> &mut Self {
        self.parts.push((what.into(), elements * bytes_each as f64));
        self
    }
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|(_, b)| b).sum()
    }
    /// The three largest parts, largest first, for the refusal (`W 4.0 TB, ...`).
    fn largest(&self) -> Vec<(String, f64)> {
        let mut parts = self.parts.clone();
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        parts.truncate(3);
        parts
    }
}

/// Refuses `estimate` when it exceeds the budget. `what` names the task (`training`,
/// `analyze on 60000 points`); `fits` is told the budget and returns what would fit, as
/// advice (if anything).
pub fn check(
    what: &str,
    estimate: &Estimate,
    fits: impl FnOnce(f64) -> Option<Advice>,
) -> Result<()> {
    check_against(&memory_budget(), what, estimate, fits)
}

/// [`check`] against a given budget.
pub fn check_against(
    budget: &Budget,
    what: &str,
    estimate: &Estimate,
    fits: impl FnOnce(f64) -> Option<Advice>,
) -> Result<()> {
    let total = estimate.total();
    if total <= budget.bytes as f64 {
        return Ok(());
    }
    Err(MemoryRefusal {
        task: what.to_string(),
        needed: total,
        largest_parts: estimate.largest(),
        budget: budget.clone(),
        advice: fits(budget.bytes as f64),
    }
    .into())
}

/// The largest `v` in `lo..=hi` with `bytes(v) <= budget` (`bytes` growing with `v`), if any.
fn largest_fitting(
    lo: usize,
    hi: usize,
    budget: f64,
    bytes: impl Fn(usize) -> f64,
) -> Option<usize> {
    if lo > hi || bytes(lo) > budget {
        return None;
    }
    let (mut good, mut bad) = (lo, hi.saturating_add(1));
    if bytes(hi) <= budget {
        return Some(hi);
    }
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if bytes(mid) <= budget {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(good)
}

/// Refuses `what` when `estimate(value)` would not fit the budget, with `advice` on the
/// largest setting in `lo..=value` that would fit (None: not even `lo` does) as the
/// refusal's advice.
pub fn check_largest_fitting(
    what: &str,
    lo: usize,
    value: usize,
    estimate: impl Fn(usize) -> Estimate,
    advice: impl FnOnce(Option<usize>) -> Option<Advice>,
) -> Result<()> {
    check(what, &estimate(value), |budget| {
        advice(largest_fitting(lo, value, budget, |k| estimate(k).total()))
    })
}

/// The sizes that decide what training allocates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainingSizes {
    pub train_samples: usize,
    pub test_samples: usize,
    /// Input dimension d.
    pub dim: usize,
    /// Hidden units n.
    pub width: usize,
    /// Outputs c.
    pub outputs: usize,
    pub batch_size: usize,
    /// Bytes per value in the training precision (4 or 8).
    pub value_bytes: usize,
    /// Optimiser buffers per parameter tensor (Adam 2, momentum 1, gd 0).
    pub optimizer_buffers: usize,
}

/// Rows per chunk when a whole data set is evaluated (as the training loop does).
const EVAL_CHUNK_ROWS: f64 = 4096.0;

/// What training allocates: the data (f64 and the training precision), W and V, their
/// gradients and optimiser states, the minibatch and evaluation buffers, the n x n unit
/// angles of the L2 discrepancy logged each epoch, and a checkpoint being encoded.
pub fn training_estimate(s: &TrainingSizes) -> Estimate {
    let f = |v: usize| v as f64;
    let (m, n, d, c, p) = (
        f(s.train_samples) + f(s.test_samples),
        f(s.width),
        f(s.dim),
        f(s.outputs),
        s.value_bytes,
    );
    let params = n * d + c * n;
    let batch = f(s.batch_size.min(s.train_samples));
    let chunk = EVAL_CHUNK_ROWS.min(m);
    let mut e = Estimate::default();
    e.add("inputs X", m * d, 8)
        .add("X in the training precision", m * d, p)
        .add("W and V", params, p)
        .add("gradients", params, p)
        .add("optimiser states", params * f(s.optimizer_buffers), p)
        .add("minibatch", batch * (d + 2.0 * n + 2.0 * c), p)
        .add("evaluation chunk", chunk * 2.0 * (n + c), p)
        .add("unit angles (n x n)", n * n, 8)
        .add("checkpoint", 2.0 * params * f(1 + s.optimizer_buffers), p);
    e
}

/// Refuses a training run that would not fit, naming the largest width that would.
pub fn check_training(s: &TrainingSizes) -> Result<()> {
    check_largest_fitting(
        &format!(
            "training a width-{} network on {} x {} inputs",
            s.width, s.train_samples, s.dim
        ),
        1,
        s.width,
        |n| training_estimate(&TrainingSizes { width: n, ..*s }),
        |fits| {
            Advice::largest(
                "width",
                fits,
                "even width 1 does not fit",
                Some("use less data".into()),
            )
        },
    )
}

/// Bytes kept per epoch by training in memory, which returns every epoch's metrics: the
/// record, its JSON and the Python dict made of it. The dicts alone hold about 950 bytes
/// an epoch with two regularisers (tracemalloc over `diversenet.train`, 100 against 2100
/// epochs); the records and their JSON sit beside them while they are converted.
pub const METRICS_BYTES_PER_EPOCH: usize = 2048;

/// Refuses a training in memory (`model::fit`) whose per-epoch metrics, (epochs + 1)
/// records kept until it returns, would not fit beside the training's buffers, naming the
/// most epochs that would (the buffers themselves are [`check_training`]'s).
pub fn check_metrics_of_epochs(s: &TrainingSizes, epochs: usize) -> Result<()> {
    let estimate = |epochs: usize| {
        let mut e = training_estimate(s);
        e.add(
            "per-epoch metrics",
            epochs as f64 + 1.0,
            METRICS_BYTES_PER_EPOCH,
        );
        e
    };
    check_largest_fitting(
        &format!("training for {epochs} epochs, keeping each epoch's metrics"),
        0,
        epochs,
        estimate,
        |fits| {
            fits.map(|k| Advice::AtMost {
                count: k,
                what: "epochs".into(),
            })
        },
    )
}

/// What `analyze` allocates on `points` points: the Gram matrix D^T D ((m c)^2 in f64),
/// X X^T and the slice volumes, K and E_W (m x m each), the activation pattern (n x m),
/// the sub-sample and the n x n unit angles.
pub fn analyze_estimate(points: usize, dim: usize, width: usize, outputs: usize) -> Estimate {
    let (m, d, n, c) = (points as f64, dim as f64, width as f64, outputs as f64);
    let mut e = Estimate::default();
    e.add("Gram D^T D (m c x m c)", (m * c) * (m * c), 8)
        .add("X X^T and slice volumes", 2.0 * m * m, 8)
        .add("K and E_W", 2.0 * m * m, 8)
        .add("activation pattern", 2.0 * n * m, 8)
        .add("points", m * (d + c), 8)
        .add("unit angles (n x n)", n * n, 8);
    e
}

/// Refuses an `analyze` that would not fit, naming the largest `points` that would.
pub fn check_analyze(points: usize, dim: usize, width: usize, outputs: usize) -> Result<()> {
    check_analysis(points, dim, width, outputs, false)
}

/// Pairs (x, y) the Monte Carlo discrepancy estimate draws and tests at a time
/// (`theory::discrepancy::monte_carlo_l2_slice_sq`): its memory is this chunk's, whatever
/// the sample count.
pub const MONTE_CARLO_CHUNK: usize = 2048;

/// What the Monte Carlo discrepancy estimate allocates besides the analysis: the unit
/// directions (n x d), a chunk of point pairs (2 x chunk x d) and their projections on
/// the units (2 x n x chunk).
pub fn monte_carlo_estimate(width: usize, dim: usize) -> Estimate {
    let (n, d, chunk) = (width as f64, dim as f64, MONTE_CARLO_CHUNK as f64);
    let mut e = Estimate::default();
    e.add("unit directions (n x d)", n * d, 8)
        .add("Monte Carlo point pairs", 2.0 * chunk * d, 8)
        .add("Monte Carlo projections (2 n x chunk)", 2.0 * n * chunk, 8);
    e
}

/// [`check_analyze`] with the Monte Carlo estimate's buffers when `monte_carlo` (they are
/// held together with the analysis's).
pub fn check_analysis(
    points: usize,
    dim: usize,
    width: usize,
    outputs: usize,
    monte_carlo: bool,
) -> Result<()> {
    let estimate = |m| {
        let mut e = analyze_estimate(m, dim, width, outputs);
        if monte_carlo {
            e.parts.extend(monte_carlo_estimate(width, dim).parts);
        }
        e
    };
    check_largest_fitting(
        &format!("analyze on {points} points"),
        1,
        points,
        estimate,
        |fits| Advice::largest("points", fits, "not even one point fits", None),
    )
}

/// What the kernel Gram matrix of `points` points allocates: X X^T and the slice volumes
/// (the pair geometry), K and the eigensolver's copy of K (m x m each, f64).
pub fn kernel_estimate(points: usize) -> Estimate {
    let m = points as f64;
    let mut e = Estimate::default();
    e.add("X X^T and slice volumes", 2.0 * m * m, 8).add(
        "K and its eigensolver copy",
        2.0 * m * m,
        8,
    );
    e
}

/// What s_m(D) on `points` points allocates: the Gram matrix D^T D ((m c)^2 in f64) and
/// its eigensolver copy, X X^T (m x m) and the activation pattern (n x m).
pub fn feature_gram_estimate(points: usize, width: usize, outputs: usize) -> Estimate {
    let (m, n, c) = (points as f64, width as f64, outputs as f64);
    let mut e = Estimate::default();
    e.add(
        "Gram D^T D and its copy (m c x m c)",
        2.0 * (m * c) * (m * c),
        8,
    )
    .add("X X^T", m * m, 8)
    .add("activation pattern", n * m, 8);
    e
}

/// What the unit-angle computations on W (the L2 discrepancy, the regularisers) allocate:
/// the n x n angles and cosines, the unit directions and a gradient (n x d each).
pub fn unit_angles_estimate(width: usize, dim: usize) -> Estimate {
    let (n, d) = (width as f64, dim as f64);
    let mut e = Estimate::default();
    e.add("unit angles and cosines (n x n)", 2.0 * n * n, 8)
        .add("unit directions and gradient (n x d)", 2.0 * n * d, 8);
    e
}

/// Refuses a computation on `count` rows of `name` (`what` the task) whose `estimate`
/// (given the row count) would not fit, naming the largest row count that would.
pub fn check_rows(
    what: &str,
    name: &str,
    count: usize,
    estimate: impl Fn(usize) -> Estimate,
) -> Result<()> {
    check_largest_fitting(
        &format!("{what} on {count} rows of {name}"),
        1,
        count,
        estimate,
        |fits| {
            Some(match fits {
                Some(k) => Advice::AtMost {
                    count: k,
                    what: format!("rows of {name}"),
                },
                None => Advice::NothingFits {
                    what: Message::from(format!("not even one row of {name} fits")),
                    remedy: None,
                },
            })
        },
    )
}

/// Refuses loading `samples` x `dim` values (`name` the source) whose decoded form would
/// not fit: `stored_bytes` per value as stored, plus the f64 matrix.
pub fn check_loading(name: &str, samples: usize, dim: usize, stored_bytes: usize) -> Result<()> {
    let mut e = Estimate::default();
    e.add(
        "values as stored",
        samples as f64 * dim as f64,
        stored_bytes,
    )
    .add("inputs X in f64", samples as f64 * dim as f64, 8);
    check(
        &format!("loading {name} ({samples} x {dim} values)"),
        &e,
        |_| None,
    )
}

/// The cores of this machine.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Refuses a thread count above [`MAX_THREADS_PER_CORE`] per core (0 means all cores).
pub fn check_threads(threads: usize) -> Result<()> {
    let cores = cores();
    let limit = MAX_THREADS_PER_CORE * cores;
    if threads > limit {
        return Err(Error::Config {
            setting: "threads",
            value: Some(threads.to_string()),
            expected: Expected::Described(
                format!(
                    "{threads} threads on a machine with {cores} cores: more than \
                     {MAX_THREADS_PER_CORE} per core ({limit}) only adds switching and memory \
                     (each thread has its own stack) and cannot run faster; use at most \
                     {limit}, or 0 for one per core"
                )
                .into(),
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
