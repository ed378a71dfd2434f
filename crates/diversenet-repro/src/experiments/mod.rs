//! The reproduction of the paper's findings (`diversenet reproduce`). One module per
//! experiment owns its plan sizes, its run specification, its typed result and its report
//! section ([`loss_bound`] RQ1, [`diversity`] RQ2/RQ4, [`kernel`] RQ3, [`synthetic_reg`]
//! and [`mnist_reg`] RQ5); [`plan`] gathers the plans (the quick one derived from the full
//! one), [`store`] keeps each run's result under `DIR/runs/<key>.json` atomically and with
//! a checksum (an interrupted run loses nothing finished, a re-run skips what is done),
//! [`shard`] splits the runs between machines, [`findings`] turns stored results into
//! claims, verdicts and the report, [`stats`] holds the statistics.

pub mod common;
pub mod diversity;
pub mod findings;
pub mod kernel;
pub mod loss_bound;
pub mod mnist_reg;
pub mod plan;
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

pub use plan::{Plan, PlanSummary};
pub use shard::Shard;
pub use store::{run_key, StoredRun, RESULTS_VERSION};

/// The experiments, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Experiment {
    LossBound,
    Diversity,
    Spectrum,
    SyntheticRegularizer,
    MnistRegularizer,
}

impl Experiment {
    pub const ALL: [Experiment; 5] = [
        Self::LossBound,
        Self::Diversity,
        Self::Spectrum,
        Self::SyntheticRegularizer,
        Self::MnistRegularizer,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Self::LossBound => "RQ1: the training-loss bound",
            Self::Diversity => "RQ2/RQ4: diversity, s_m(D), training loss and generalisation",
            Self::Spectrum => "RQ3: the kernel spectrum and the decomposition of s_m(D)",
            Self::SyntheticRegularizer => "RQ5: the diversity regulariser on synthetic data",
            Self::MnistRegularizer => "RQ5: the diversity regulariser and its peers on MNIST",
        }
    }
    /// The anchor of the experiment's section in the report.
    pub fn anchor(self) -> String {
        crate::report::document::slug(self.title())
    }
}

/// One run of the reproduction.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "run", rename_all = "kebab-case")]
pub enum RunSpec {
    LossBound(loss_bound::Spec),
    Diversity(diversity::Spec),
    Kernel(kernel::Spec),
    SyntheticReg(synthetic_reg::Spec),
    MnistReg(mnist_reg::Spec),
}

/// A run's typed result.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "run", rename_all = "kebab-case")]
pub enum RunOutcome {
    LossBound(loss_bound::Outcome),
    Diversity(diversity::Outcome),
    Kernel(kernel::Outcome),
    SyntheticReg(synthetic_reg::Outcome),
    MnistReg(mnist_reg::Outcome),
}

impl RunSpec {
    pub fn experiment(&self) -> Experiment {
        match self {
            Self::LossBound(_) => Experiment::LossBound,
            Self::Diversity(_) => Experiment::Diversity,
            Self::Kernel(_) => Experiment::Spectrum,
            Self::SyntheticReg(_) => Experiment::SyntheticRegularizer,
            Self::MnistReg(_) => Experiment::MnistRegularizer,
        }
    }

    /// The (training, validation) sizes of the MNIST data a run needs prepared (None for
    /// runs that do not use MNIST).
    pub fn mnist_sizes(&self) -> Option<(usize, usize)> {
        match self {
            Self::MnistReg(m) => Some((m.train_samples, m.validation)),
            _ => None,
        }
    }

    /// Rough seconds of compute on the 2-core development machine: the run's size times a
    /// per-unit cost measured in the first edition's full run.
    pub fn estimated_seconds(&self) -> f64 {
        match self {
            Self::LossBound(s) => {
                3.6e-9 * (s.steps * s.width * s.data.train_samples * s.data.dim) as f64
            }
            Self::Diversity(s) => {
                1.0e-8 * (s.epochs * s.data.train_samples * s.width * s.data.dim) as f64
            }
            Self::Kernel(s) => {
                let diverse = if s.units == kernel::Units::Diverse {
                    4e-9 * (kernel::DIVERSE_STEPS * s.width * s.width * s.dim) as f64
                } else {
                    0.0
                };
                6e-10 * (s.points * s.points * s.width) as f64 + diverse
            }
            Self::SyntheticReg(s) => {
                let per = if s.lambda > 0.0 { 2.4e-9 } else { 1.0e-9 };
                per * (s.epochs * s.setting.train_samples * s.width * s.setting.dim) as f64
            }
            Self::MnistReg(s) => {
                let factor = match s.reg {
                    None | Some(mnist_reg::Treatment::DecoupledWeightDecay) => 1.0,
                    Some(_) if s.reg_every > 1 => 1.1,
                    Some(_) => 1.7,
                };
                1.3e-10 * factor * (s.epochs * s.train_samples * s.width * 804) as f64
            }
        }
    }
}

/// Executes a run (MNIST runs on the prepared MNIST).
pub fn execute(spec: &RunSpec, mnist_data: Option<&mnist_reg::Prepared>) -> Result<RunOutcome> {
    Ok(match spec {
        RunSpec::LossBound(s) => RunOutcome::LossBound(loss_bound::execute(s)?),
        RunSpec::Diversity(s) => RunOutcome::Diversity(diversity::execute(s)?),
        RunSpec::Kernel(s) => RunOutcome::Kernel(kernel::execute(s)?),
        RunSpec::SyntheticReg(s) => RunOutcome::SyntheticReg(synthetic_reg::execute(s)?),
        RunSpec::MnistReg(s) => {
            let data = mnist_data.expect("MNIST runs are planned only when MNIST is present");
            RunOutcome::MnistReg(mnist_reg::execute(s, data)?)
        }
    })
}

/// The stored results a report is made from.
#[derive(Clone, Debug, Default)]
pub struct Results {
    pub runs: Vec<StoredRun>,
}

macro_rules! accessor {
    ($name:ident, $variant:ident, $module:ident) => {
        pub fn $name(&self) -> Vec<(&$module::Spec, &$module::Outcome)> {
            self.runs
                .iter()
                .filter_map(|r| match (&r.spec, &r.outcome) {
                    (RunSpec::$variant(s), RunOutcome::$variant(o)) => Some((s, o)),
                    _ => None,
                })
                .collect()
        }
    };
}

impl Results {
    accessor!(loss_bound, LossBound, loss_bound);
    accessor!(diversity, Diversity, diversity);
    accessor!(kernel, Kernel, kernel);
    accessor!(synthetic_reg, SyntheticReg, synthetic_reg);
    accessor!(mnist_reg, MnistReg, mnist_reg);

    /// Results from (spec, outcome) pairs (planted results in tests; seconds 0).
    pub fn from_pairs(pairs: Vec<(RunSpec, RunOutcome)>) -> Self {
        Self {
            runs: pairs
                .into_iter()
                .map(|(s, o)| StoredRun::new(s, o, 0.0))
                .collect(),
        }
    }
}

/// Progress callbacks of [`reproduce`].
pub trait ReproduceProgress {
    /// A round of runs is about to start: per experiment, (runs of this shard, to run now).
    fn plan(&mut self, _per_experiment: &[(Experiment, usize, usize)]) {}
    fn run_done(&mut self, _experiment: Experiment) {}
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

/// Runs (key, specification) that share their data: MNIST prepared at the given
/// (training, validation) sizes, or none.
type RunGroup<'a> = (Option<(usize, usize)>, Vec<&'a (String, RunSpec)>);

/// Runs what is missing (of this shard) and renders the report when every run is done.
/// MNIST's plan grows as its selection runs finish, so runs go in rounds until nothing
/// new is needed (a shard stops when what remains belongs to other shards).
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
    let plan = Plan::new(options.quick);
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
    let validation = |s: &mnist_reg::Spec| {
        let spec = RunSpec::MnistReg(s.clone());
        match store.get(&run_key(&spec), &spec)?.outcome {
            RunOutcome::MnistReg(o) => Some(o.validation_error),
            _ => None,
        }
    };
    let owned = |key: &str| options.shard.is_none_or(|s| s.owns(key));
    let mut done_now = 0;
    let mut raw_mnist: Option<(Dataset, Dataset)> = None;
    let mut mnist_data: Option<mnist_reg::Prepared> = None;
    let mut mine_total;
    let busy: Mutex<Vec<String>> = Mutex::new(Vec::new());
    loop {
        let done_before = done_now;
        let planned: Vec<(String, RunSpec)> = plan
            .runs(mnist_dir.is_ok(), &validation)
            .into_iter()
            .map(|s| (run_key(&s), s))
            .collect();
        let mine: Vec<&(String, RunSpec)> = planned.iter().filter(|(k, _)| owned(k)).collect();
        mine_total = mine.len();
        let todo: Vec<&(String, RunSpec)> = mine
            .iter()
            .copied()
            .filter(|(k, s)| store.get(k, s).is_none())
            .collect();
        if todo.is_empty() {
            break;
        }
        let per: Vec<(Experiment, usize, usize)> = Experiment::ALL
            .iter()
            .map(|&e| {
                (
                    e,
                    mine.iter().filter(|(_, r)| r.experiment() == e).count(),
                    todo.iter().filter(|(_, r)| r.experiment() == e).count(),
                )
            })
            .collect();
        progress.plan(&per);
        // Independent runs execute in parallel (most are too small to use both cores on
        // their own), the MNIST ones on data prepared once per size; each result is stored
        // as soon as its run finishes.
        let mut by_data: Vec<RunGroup<'_>> = Vec::new();
        for run in todo {
            let sizes = run.1.mnist_sizes();
            match by_data.iter_mut().find(|(s, _)| *s == sizes) {
                Some((_, group)) => group.push(run),
                None => by_data.push((sizes, vec![run])),
            }
        }
        for (sizes, group) in by_data {
            if let Some(sizes) = sizes {
                if raw_mnist.is_none() {
                    let dir = mnist_dir
                        .as_ref()
                        .expect("MNIST runs are planned only when MNIST is present");
                    raw_mnist = Some(mnist::load(dir)?);
                }
                if mnist_data.as_ref().is_none_or(|d| d.sizes != sizes) {
                    let (train, test) = raw_mnist.as_ref().expect("just loaded");
                    mnist_data = Some(mnist_reg::Prepared::new(train, test, sizes.0, sizes.1));
                }
            }
            let progress = Mutex::new(&mut *progress);
            let data = mnist_data.as_ref();
            let done = std::sync::atomic::AtomicUsize::new(0);
            group
                .par_iter()
                .with_max_len(1)
                .try_for_each(|(key, spec)| -> Result<()> {
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
                    let t = Instant::now();
                    let outcome = execute(spec, data)?;
                    store.put(
                        key,
                        StoredRun::new(spec.clone(), outcome, t.elapsed().as_secs_f64()),
                    )?;
                    claim.release_and_remove();
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    lock(&progress).run_done(spec.experiment());
                    Ok(())
                })?;
            done_now += done.into_inner();
        }
        // Nothing left that this process could claim: wait for a run another process is
        // computing, then look again (it is stored, or its process ended without it).
        let waiting = std::mem::take(&mut *lock(&busy));
        if let Some(key) = waiting.first() {
            if done_now == done_before {
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
    let planned: Vec<(String, RunSpec)> = plan
        .runs(mnist_dir.is_ok(), &validation)
        .into_iter()
        .map(|s| (run_key(&s), s))
        .collect();
    let wall_seconds = store.add_wall_seconds(if done_now > 0 {
        started.elapsed().as_secs_f64()
    } else {
        0.0
    })?;
    let runs: Vec<StoredRun> = planned
        .iter()
        .filter_map(|(k, s)| store.get(k, s))
        .collect();
    let missing = planned.len() - runs.len();
    let report = if missing == 0 {
        let mnist_note = mnist_dir.as_ref().err().cloned();
        Some(findings::render(
            &options.out,
            &plan,
            &Results { runs },
            mnist_note.as_deref(),
            wall_seconds,
            options.data_dir.as_deref(),
        )?)
    } else {
        progress.note(&format!(
            "{missing} of {} runs are not done yet (other shards, or runs that wait for their results); \
             the report is rendered when all are",
            planned.len()
        ));
        None
    };
    Ok(ReproduceOutcome {
        runs_planned: planned.len(),
        runs_done_now: done_now,
        runs_reused: mine_total.saturating_sub(done_now),
        runs_missing: missing,
        corrupt_results_replaced: store.corrupt(),
        mnist: mnist_dir.as_ref().ok().map(|p| p.display().to_string()),
        report,
        seconds: started.elapsed().as_secs_f64(),
    })
}
