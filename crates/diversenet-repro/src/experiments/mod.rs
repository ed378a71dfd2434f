//! The reproduction of the paper's findings (`diversenet reproduce`). Each experiment is one
//! module implementing [`registry::Study`] (its plan, run specification, typed result,
//! cost model and report section with its verdicts) plus one line of [`REGISTRY`]; nothing
//! else names it. [`plan`] sums the plans for `--plan`, [`store`] keeps each run's result
//! under `DIR/runs/<key>.json` atomically and with a checksum (an interrupted run loses
//! nothing finished, a re-run skips what is done), [`shard`] splits the runs between
//! machines, [`rules`] holds the verdict rules shared by several experiments and [`stats`]
//! the statistics; [`crate::report::render`] assembles the report from the sections.

pub mod common;
pub mod diversity;
pub mod kernel;
pub mod loss_bound;
pub mod mnist_reg;
pub mod plan;
pub mod random_labels;
pub mod registry;
pub mod rules;
pub mod shard;
pub mod stats;
pub mod store;
pub mod synthetic_reg;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

use diversenet::data::{mnist, Dataset};
use diversenet::error::Result;

pub use plan::PlanSummary;
pub use registry::{DataNeed, Experiment, ReportContext, RunSpec, Shared};
pub use shard::Shard;
pub use store::{run_key, StoredRun, RESULTS_VERSION};

use registry::Registered;

/// Every experiment, in report order: one line each.
pub static REGISTRY: &[&dyn Experiment] = &[
    &Registered::<loss_bound::LossBound>::NEW,
    &Registered::<random_labels::RandomLabels>::NEW,
    &Registered::<diversity::Diversity>::NEW,
    &Registered::<kernel::Kernel>::NEW,
    &Registered::<synthetic_reg::SyntheticReg>::NEW,
    &Registered::<mnist_reg::MnistReg>::NEW,
];

/// The registered experiment with this id.
pub fn experiment(id: &str) -> Option<&'static dyn Experiment> {
    REGISTRY.iter().copied().find(|e| e.id() == id)
}

/// Progress callbacks of [`reproduce`] (experiments named by their titles).
pub trait ReproduceProgress {
    /// A round of runs is about to start: per experiment, (runs of this shard, to run now).
    fn plan(&mut self, _per_experiment: &[(&'static str, usize, usize)]) {}
    fn run_done(&mut self, _experiment: &'static str) {}
    fn note(&mut self, _message: &str) {}
}

/// What to run.
#[derive(Clone, Debug)]
pub struct ReproduceOptions {
    pub out: PathBuf,
    pub quick: bool,
    pub shard: Option<Shard>,
    /// MNIST's directory; `None`: the cache directory, fetched there if missing.
    pub data_dir: Option<PathBuf>,
    /// Whether MNIST may be downloaded when missing.
    pub fetch: bool,
}

/// What happened.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReproduceOutcome {
    pub runs_planned: usize,
    pub runs_done_now: usize,
    pub runs_reused: usize,
    pub runs_missing: usize,
    pub corrupt_results_replaced: Vec<PathBuf>,
    pub mnist: Option<String>,
    pub report: Option<PathBuf>,
    pub seconds: f64,
}

/// Finds MNIST or explains why it is not available.
fn locate_mnist(
    options: &ReproduceOptions,
    progress: &mut dyn ReproduceProgress,
) -> std::result::Result<PathBuf, String> {
    let explicit: Vec<PathBuf> = options.data_dir.iter().cloned().collect();
    let anywhere = explicit.is_empty();
    mnist::locate_or_fetch(&explicit, anywhere, anywhere && options.fetch, &mut |n| {
        progress.note(n)
    })
    .map_err(|e| format!("{e}; the MNIST experiment is skipped"))
}

/// A lock that a panic elsewhere cannot poison for good.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A planned run: its key, experiment and specification.
type Planned = (String, &'static dyn Experiment, RunSpec);

/// Every run the plan needs given the stored results (experiments that need MNIST only
/// when it is there).
fn planned(quick: bool, with_mnist: bool, store: &store::Store) -> Vec<Planned> {
    let known = |spec: &RunSpec| store.get(&run_key(spec), spec).map(|r| r.outcome);
    REGISTRY
        .iter()
        .filter(|e| with_mnist || !e.uses_mnist())
        .flat_map(|&e| {
            e.runs(quick, &known)
                .into_iter()
                .map(move |s| (run_key(&s), e, s))
        })
        .collect()
}

/// Runs what is missing (of this shard) and renders the report when every run is done.
/// Adaptive plans (a grid chosen on validation, widened at its edges) grow as their runs
/// finish, so runs go in rounds until nothing new is needed (a shard stops when what
/// remains belongs to other shards). Within a round, the most expensive runs start first.
pub fn reproduce(
    options: &ReproduceOptions,
    progress: &mut (dyn ReproduceProgress + Send),
) -> Result<ReproduceOutcome> {
    let started = Instant::now();
    // Recorded as text in the outcome and the report: refused before any work.
    diversenet::files::recordable_path(&options.out, "out")?;
    if let Some(dir) = &options.data_dir {
        diversenet::files::recordable_path(dir, "data_dir")?;
    }
    let mnist_dir = locate_mnist(options, progress);
    if let Err(why) = &mnist_dir {
        progress.note(why);
    }
    let store = store::Store::open(&options.out)?;
    if !store.locked() {
        progress.note(&format!(
            "{}'s file system cannot lock files: processes filling it at the same time may \
             compute a run twice (each result is still stored whole)",
            options.out.display()
        ));
    }
    // The wall time is added to the store as each run is stored (under one lock, so the
    // file's sum is never raced), so an invocation that is interrupted still counts its
    // time up to its last finished run.
    let last_mark = Mutex::new(started);
    let add_wall_time = || -> Result<f64> {
        let mut last = lock(&last_mark);
        let now = Instant::now();
        let seconds = now.duration_since(*last).as_secs_f64();
        *last = now;
        store.add_wall_seconds(seconds)
    };
    let owned = |key: &str| options.shard.is_none_or(|s| s.owns(key));
    let mut done_now = 0;
    let mut raw_mnist: Option<(Dataset, Dataset)> = None;
    let mut splits: Vec<((usize, usize, usize), common::MnistSplit)> = Vec::new();
    let mut mine_total;
    // Runs another process was computing when this one looked (shards of one directory).
    let busy: Mutex<Vec<String>> = Mutex::new(Vec::new());
    loop {
        let all = planned(options.quick, mnist_dir.is_ok(), &store);
        let mine: Vec<&Planned> = all.iter().filter(|(k, _, _)| owned(k)).collect();
        mine_total = mine.len();
        let mut todo: Vec<&Planned> = mine
            .iter()
            .copied()
            .filter(|(k, _, s)| store.get(k, s).is_none())
            .collect();
        if todo.is_empty() {
            break;
        }
        let per: Vec<(&'static str, usize, usize)> = REGISTRY
            .iter()
            .map(|e| {
                let of = |runs: &[&Planned]| runs.iter().filter(|r| r.1.id() == e.id()).count();
                (e.title(), of(&mine), of(&todo))
            })
            .collect();
        progress.plan(&per);
        // Longest first, so that the round does not end on one long run.
        todo.sort_by(|a, b| b.1.seconds(&b.2).total_cmp(&a.1.seconds(&a.2)));
        // The MNIST splits this round needs, prepared once each.
        for (_, e, s) in &todo {
            if let DataNeed::Mnist {
                train,
                validation,
                test,
            } = e.data(s)?
            {
                if !splits.iter().any(|(k, _)| *k == (train, validation, test)) {
                    if raw_mnist.is_none() {
                        let dir = mnist_dir.as_ref().map_err(|why| {
                            diversenet::error::Error::config("data-dir", why.clone())
                        })?;
                        raw_mnist = Some(mnist::load(dir)?);
                    }
                    let (tr, te) = raw_mnist.as_ref().expect("just loaded");
                    splits.push((
                        (train, validation, test),
                        common::MnistSplit::new(tr, te, train, validation, test),
                    ));
                }
            }
        }
        let progress_lock = Mutex::new(&mut *progress);
        let done = std::sync::atomic::AtomicUsize::new(0);
        // Independent runs execute in parallel (most are too small to use both cores on
        // their own); each result is stored as soon as its run finishes.
        todo.par_iter()
            .with_max_len(1)
            .try_for_each(|(key, e, spec)| -> Result<()> {
                // Another process computing this run (or one that just stored it) is
                // left to it.
                let Some(claim) = store.try_claim(key)? else {
                    lock(&busy).push(key.clone());
                    return Ok(());
                };
                if store.get(key, spec).is_some() {
                    claim.release_and_remove();
                    return Ok(());
                }
                let shared = Shared {
                    mnist: match e.data(spec)? {
                        DataNeed::Mnist {
                            train,
                            validation,
                            test,
                        } => splits
                            .iter()
                            .find(|(k, _)| *k == (train, validation, test))
                            .map(|(_, s)| s),
                        DataNeed::None => None,
                    },
                };
                let t = Instant::now();
                let outcome = e.execute(spec, &shared)?;
                store.put(
                    key,
                    StoredRun::new(spec.clone(), outcome, t.elapsed().as_secs_f64()),
                )?;
                claim.release_and_remove();
                add_wall_time()?;
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                lock(&progress_lock).run_done(e.title());
                Ok(())
            })?;
        let done = done.into_inner();
        done_now += done;
        // Nothing left that this process could claim: wait for a run another process is
        // computing, then look again (it is stored, or its process ended without it).
        let waiting = std::mem::take(&mut *lock(&busy));
        if let Some(key) = waiting.first() {
            if done == 0 {
                let holders = store.claimed_by(key);
                progress.note(&format!(
                    "{} of this plan's runs are being computed by another process{}; waiting \
                     for them",
                    waiting.len(),
                    if holders.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", holders.join("; "))
                    }
                ));
                store.wait_for(key)?;
            }
        }
    }
    let all = planned(options.quick, mnist_dir.is_ok(), &store);
    // The time after the last stored run (rendering aside) counts where runs were done.
    let wall_seconds = if done_now > 0 {
        add_wall_time()?
    } else {
        store.add_wall_seconds(0.0)?
    };
    let runs: Vec<StoredRun> = all.iter().filter_map(|(k, _, s)| store.get(k, s)).collect();
    let missing = all.len() - runs.len();
    let report = if missing == 0 {
        let ctx = ReportContext {
            quick: options.quick,
            mnist_missing: mnist_dir.as_ref().err().cloned(),
            data_dir: options.data_dir.clone(),
        };
        Some(crate::report::render::render(
            &options.out,
            &ctx,
            &runs,
            wall_seconds,
        )?)
    } else {
        progress.note(&format!(
            "{missing} of {} runs are not done yet (other shards, or runs that wait for their results); \
             the report is rendered when all are",
            all.len()
        ));
        None
    };
    Ok(ReproduceOutcome {
        runs_planned: all.len(),
        runs_done_now: done_now,
        runs_reused: mine_total.saturating_sub(done_now),
        runs_missing: missing,
        corrupt_results_replaced: store.corrupt(),
        mnist: mnist_dir.as_ref().ok().map(|p| p.display().to_string()),
        report,
        seconds: started.elapsed().as_secs_f64(),
    })
}
