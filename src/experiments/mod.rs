//! The reproduction of the paper's findings (`diversenet reproduce`): a plan of seeded
//! runs per experiment, each stored under `DIR/runs/<hash>.json` (the hash of its
//! configuration) atomically and with a checksum, so that an interrupted run loses
//! nothing finished and a re-run skips what is done; `--shard K/N` runs a deterministic
//! share; the report is rendered from the stored results alone.

pub mod findings;
pub mod runs;
pub mod stats;

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::data::{mnist, Dataset, SyntheticConfig};
use crate::error::{Error, Result};
use crate::files::{hex, write_atomic};
use crate::regularizer::RegularizerKind;

pub use runs::{InitKind, RunSpec};

/// Bumped when a change makes stored results stale.
pub const RESULTS_VERSION: &str = "diversenet-results-1";

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
}

/// One planned run.
#[derive(Clone, Debug)]
pub struct PlannedRun {
    pub experiment: Experiment,
    pub spec: RunSpec,
    pub key: String,
}

/// The sizes of every experiment (`quick` for a check in minutes, full for the report).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Plan {
    pub quick: bool,
    pub synthetic_seeds: u64,
    pub mnist_seeds: u64,
    pub rq1_data: SyntheticConfig,
    pub rq1_width: usize,
    pub rq1_steps: usize,
    pub rq1_lr: f64,
    pub rq1_log_every: usize,
    pub rq2_data: SyntheticConfig,
    pub rq2_widths: Vec<usize>,
    pub rq2_epochs: usize,
    pub rq2_inits: Vec<(InitKind, f64)>,
    pub rq3_dims: Vec<usize>,
    pub rq3_points: Vec<usize>,
    pub rq3_width: usize,
    pub rq3_widths_at: (usize, usize, Vec<usize>),
    pub rq5_data: SyntheticConfig,
    pub rq5_validation: usize,
    pub rq5_widths: Vec<usize>,
    pub rq5_lambdas: Vec<f64>,
    pub rq5_epochs: usize,
    pub mnist_widths: Vec<usize>,
    pub mnist_epochs: usize,
    pub mnist_train: usize,
    pub mnist_validation: usize,
    pub mnist_regs: Vec<(RegularizerKind, Vec<f64>)>,
}

impl Plan {
    pub fn new(quick: bool) -> Self {
        let synthetic = |train_samples: usize, noise: f64| SyntheticConfig {
            dim: 10,
            teacher_width: 5,
            train_samples,
            test_samples: 2000,
            noise,
        };
        if quick {
            Plan {
                quick,
                synthetic_seeds: 4,
                mnist_seeds: 2,
                rq1_data: synthetic(200, 0.0),
                rq1_width: 40,
                rq1_steps: 400,
                rq1_lr: 0.5,
                rq1_log_every: 20,
                rq2_data: synthetic(200, 0.1),
                rq2_widths: vec![20, 60],
                rq2_epochs: 20,
                rq2_inits: vec![
                    (InitKind::Random, 0.0),
                    (InitKind::Clustered { spread: 0.3 }, 0.0),
                    (InitKind::Clustered { spread: 0.05 }, 0.0),
                    (InitKind::Random, 3.0),
                ],
                rq3_dims: vec![5, 10],
                rq3_points: vec![100, 200],
                rq3_width: 1000,
                rq3_widths_at: (10, 200, vec![100, 10000]),
                rq5_data: synthetic(600, 0.3),
                rq5_validation: 300,
                rq5_widths: vec![5, 20, 80],
                rq5_lambdas: vec![0.3, 3.0],
                rq5_epochs: 40,
                mnist_widths: vec![50, 100],
                mnist_epochs: 2,
                mnist_train: 10_000,
                mnist_validation: 2_000,
                mnist_regs: vec![
                    (RegularizerKind::Discrepancy, vec![3.0]),
                    (RegularizerKind::WeightDecay, vec![1e-5]),
                ],
            }
        } else {
            Plan {
                quick,
                synthetic_seeds: 10,
                mnist_seeds: 3,
                rq1_data: synthetic(200, 0.0),
                rq1_width: 40,
                rq1_steps: 3000,
                rq1_lr: 0.5,
                rq1_log_every: 50,
                rq2_data: synthetic(200, 0.1),
                rq2_widths: vec![20, 60],
                rq2_epochs: 60,
                rq2_inits: vec![
                    (InitKind::Random, 0.0),
                    (InitKind::Clustered { spread: 1.0 }, 0.0),
                    (InitKind::Clustered { spread: 0.3 }, 0.0),
                    (InitKind::Clustered { spread: 0.1 }, 0.0),
                    (InitKind::Clustered { spread: 0.03 }, 0.0),
                    (InitKind::Random, 1.0),
                    (InitKind::Random, 10.0),
                ],
                rq3_dims: vec![5, 10],
                rq3_points: vec![100, 200, 300],
                rq3_width: 1000,
                rq3_widths_at: (10, 200, vec![100, 10000]),
                rq5_data: synthetic(600, 0.3),
                rq5_validation: 300,
                rq5_widths: vec![5, 10, 20, 50, 100],
                rq5_lambdas: vec![0.03, 0.3, 3.0],
                rq5_epochs: 150,
                mnist_widths: vec![50, 100, 200, 500, 1000],
                mnist_epochs: 5,
                mnist_train: 50_000,
                mnist_validation: 10_000,
                mnist_regs: vec![
                    (RegularizerKind::Discrepancy, vec![0.3, 3.0]),
                    (
                        RegularizerKind::Mhe {
                            power: 0,
                            angular: false,
                        },
                        vec![0.1, 1.0],
                    ),
                    (RegularizerKind::Mma, vec![0.01, 0.1]),
                    (RegularizerKind::Orthogonal, vec![1e-4, 1e-3]),
                    (RegularizerKind::WeightDecay, vec![1e-6, 1e-5]),
                ],
            }
        }
    }

    /// Every run, in a fixed order.
    pub fn runs(&self, with_mnist: bool) -> Vec<PlannedRun> {
        let mut out = Vec::new();
        let mut push = |experiment: Experiment, spec: RunSpec| {
            out.push(PlannedRun {
                experiment,
                key: run_key(&spec),
                spec,
            })
        };
        for seed in 0..self.synthetic_seeds {
            push(
                Experiment::LossBound,
                RunSpec::LossBound {
                    seed,
                    data: self.rq1_data.clone(),
                    width: self.rq1_width,
                    steps: self.rq1_steps,
                    lr: self.rq1_lr,
                    log_every: self.rq1_log_every,
                },
            );
        }
        let checkpoints = vec![0, self.rq2_epochs / 4, self.rq2_epochs];
        for seed in 0..self.synthetic_seeds {
            for &width in &self.rq2_widths {
                for &(init, lambda) in &self.rq2_inits {
                    push(
                        Experiment::Diversity,
                        RunSpec::Diversity {
                            seed,
                            data: self.rq2_data.clone(),
                            width,
                            init,
                            lambda,
                            epochs: self.rq2_epochs,
                            checkpoints: checkpoints.clone(),
                        },
                    );
                }
            }
        }
        for seed in 0..self.synthetic_seeds {
            for &dim in &self.rq3_dims {
                for &points in &self.rq3_points {
                    push(
                        Experiment::Spectrum,
                        RunSpec::KernelOnData {
                            seed,
                            dim,
                            points,
                            width: self.rq3_width,
                        },
                    );
                }
            }
            let (dim, points, ref widths) = self.rq3_widths_at;
            for &width in widths {
                push(
                    Experiment::Spectrum,
                    RunSpec::KernelOnData {
                        seed,
                        dim,
                        points,
                        width,
                    },
                );
            }
        }
        for seed in 0..self.synthetic_seeds {
            for &width in &self.rq5_widths {
                for &lambda in std::iter::once(&0.0).chain(&self.rq5_lambdas) {
                    push(
                        Experiment::SyntheticRegularizer,
                        RunSpec::SyntheticReg {
                            seed,
                            data: self.rq5_data.clone(),
                            validation: self.rq5_validation,
                            width,
                            lambda,
                            epochs: self.rq5_epochs,
                        },
                    );
                }
            }
        }
        if with_mnist {
            for seed in 0..self.mnist_seeds {
                for &width in &self.mnist_widths {
                    let reg_every = if width >= 500 { 10 } else { 1 };
                    let base = |reg, lambda| RunSpec::MnistReg {
                        seed,
                        width,
                        reg,
                        lambda,
                        epochs: self.mnist_epochs,
                        train_samples: self.mnist_train,
                        validation: self.mnist_validation,
                        reg_every,
                    };
                    push(Experiment::MnistRegularizer, base(None, 0.0));
                    for (kind, lambdas) in &self.mnist_regs {
                        for &lambda in lambdas {
                            push(Experiment::MnistRegularizer, base(Some(*kind), lambda));
                        }
                    }
                }
            }
        }
        out
    }
}

/// The key of a run: the first 16 hex digits of SHA-256 over the results version and the
/// run's configuration.
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
    pub result: serde_json::Value,
    pub seconds: f64,
    /// SHA-256 of the JSON of `spec` and `result`.
    pub checksum: String,
}

fn checksum(spec: &RunSpec, result: &serde_json::Value) -> String {
    let text = serde_json::to_string(&(spec, result)).expect("serialises");
    crate::files::sha256_hex(text.as_bytes())
}

/// The stored result of a run, if present and intact. A file that fails its checksum or
/// does not parse is reported through `corrupt` and treated as missing (it will be run
/// again and replaced).
pub fn load_run(dir: &Path, run: &PlannedRun, corrupt: &mut Vec<PathBuf>) -> Option<StoredRun> {
    let path = dir.join("runs").join(format!("{}.json", run.key));
    let bytes = std::fs::read(&path).ok()?;
    match serde_json::from_slice::<StoredRun>(&bytes) {
        Ok(s) if s.spec == run.spec && s.checksum == checksum(&s.spec, &s.result) => Some(s),
        _ => {
            corrupt.push(path);
            None
        }
    }
}

/// Progress callbacks of [`reproduce`].
pub trait ReproduceProgress {
    fn plan(&mut self, _per_experiment: &[(Experiment, usize, usize)]) {}
    fn run_done(&mut self, _experiment: Experiment) {}
    fn note(&mut self, _message: &str) {}
}

/// What to run.
#[derive(Clone, Debug)]
pub struct ReproduceOptions {
    pub out: PathBuf,
    pub quick: bool,
    /// (K, N): run only the runs whose index in the plan is K modulo N (K in 0..N).
    pub shard: Option<(usize, usize)>,
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

/// Runs what is missing (of this shard) and renders the report when every run is done.
pub fn reproduce(
    options: &ReproduceOptions,
    progress: &mut dyn ReproduceProgress,
) -> Result<ReproduceOutcome> {
    let started = Instant::now();
    if let Some((k, n)) = options.shard {
        if n == 0 || k >= n {
            return Err(Error::config(
                "shard",
                format!("{k}/{n}: expected K/N with 0 <= K < N"),
            ));
        }
    }
    let plan = Plan::new(options.quick);
    let mnist_dir = locate_mnist(options, progress);
    if let Err(why) = &mnist_dir {
        progress.note(why);
    }
    let runs = plan.runs(mnist_dir.is_ok());
    std::fs::create_dir_all(options.out.join("runs"))
        .map_err(|e| Error::io(options.out.join("runs"), e))?;
    let mut corrupt = Vec::new();
    let mine: Vec<(usize, &PlannedRun)> = runs
        .iter()
        .enumerate()
        .filter(|(i, _)| options.shard.is_none_or(|(k, n)| i % n == k))
        .collect();
    let todo: Vec<&PlannedRun> = mine
        .iter()
        .filter(|(_, r)| load_run(&options.out, r, &mut corrupt).is_none())
        .map(|(_, r)| *r)
        .collect();
    let per: Vec<(Experiment, usize, usize)> = Experiment::ALL
        .iter()
        .map(|&e| {
            (
                e,
                mine.iter().filter(|(_, r)| r.experiment == e).count(),
                todo.iter().filter(|r| r.experiment == e).count(),
            )
        })
        .collect();
    progress.plan(&per);
    let mut mnist_data: Option<(Dataset, Dataset)> = None;
    for run in &todo {
        let t = Instant::now();
        let result = match &run.spec {
            RunSpec::MnistReg { .. } => {
                if mnist_data.is_none() {
                    let dir = mnist_dir
                        .as_ref()
                        .expect("MNIST runs are planned only when MNIST is present");
                    mnist_data = Some(mnist::load(dir)?);
                }
                let (train, test) = mnist_data.as_ref().expect("just loaded");
                runs::execute_mnist(&run.spec, train, test)?
            }
            spec => runs::execute(spec)?,
        };
        let stored = StoredRun {
            checksum: checksum(&run.spec, &result),
            spec: run.spec.clone(),
            result,
            seconds: t.elapsed().as_secs_f64(),
        };
        write_atomic(
            &options.out.join("runs").join(format!("{}.json", run.key)),
            serde_json::to_string_pretty(&stored)
                .expect("serialises")
                .as_bytes(),
        )?;
        progress.run_done(run.experiment);
    }
    let mut ignored = Vec::new();
    let stored: Vec<(Experiment, StoredRun)> = runs
        .iter()
        .filter_map(|r| load_run(&options.out, r, &mut ignored).map(|s| (r.experiment, s)))
        .collect();
    let missing = runs.len() - stored.len();
    let report = if missing == 0 {
        let mnist_note = mnist_dir.as_ref().err().cloned();
        Some(findings::render(
            &options.out,
            &plan,
            &stored,
            mnist_note.as_deref(),
        )?)
    } else {
        progress.note(&format!("{missing} of {} runs are not done yet (other shards?); the report is rendered when all are", runs.len()));
        None
    };
    Ok(ReproduceOutcome {
        runs_planned: runs.len(),
        runs_done_now: todo.len(),
        runs_reused: mine.len() - todo.len(),
        runs_missing: missing,
        corrupt_results_replaced: corrupt,
        mnist: mnist_dir.as_ref().ok().map(|p| p.display().to_string()),
        report,
        seconds: started.elapsed().as_secs_f64(),
    })
}
