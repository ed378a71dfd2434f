//! The `diversenet` command line: a thin layer that parses flags, calls the library and
//! prints results. Every command that writes a result also takes `--json PATH`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use diversenet::data::{self, DataSource, LoadOptions, SyntheticConfig, Task};
use diversenet::experiments::{self, Experiment, ReproduceOptions, ReproduceProgress};
use diversenet::files::write_atomic;
use diversenet::model::file::{load_model, ModelFile};
use diversenet::model::run::{run_training, RunProgress};
use diversenet::model::train::score;
use diversenet::model::{EpochMetrics, OptimizerKind, TrainSettings};
use diversenet::regularizer::RegTerm;
use diversenet::report::plot::{self, PlotSpec, Series};
use diversenet::theory::{self, AnalysisOptions};

#[derive(Parser)]
#[command(
    name = "diversenet",
    version,
    about = "Diverse one-hidden-layer ReLU networks: training, theory diagnostics and the diversity regulariser (Xie, Liang & Song, AISTATS 2017)"
)]
struct Cli {
    /// Threads for matrix products (0: all cores). Results are bit-for-bit reproducible
    /// for a fixed seed and thread count.
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network; writes metrics.jsonl, model.safetensors and summary.json under --out.
    Train(TrainArgs),
    /// Score a saved model on a data set.
    Eval(EvalArgs),
    /// Measure the theory's quantities on a trained model: s_m(D), the loss bound, the
    /// kernel decomposition and the discrepancies.
    Analyze(AnalyzeArgs),
    /// The kernel's eigenvalues gamma_u on the sphere S^(d-1), with a plot of gamma_(m).
    Spectrum(SpectrumArgs),
    /// Reproduce the paper's findings: runs every experiment and writes DIR/report.md,
    /// DIR/report.html, results (JSON, CSV) and plots. Finished runs are reused.
    Reproduce(ReproduceArgs),
    /// Download a data set (only `mnist`), verifying checksums.
    Fetch(FetchArgs),
    /// Print throughput figures.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Args, Clone)]
struct DataArgs {
    /// synthetic | mnist | csv:PATH | npy:INPUTS.npy,TARGETS.npy
    #[arg(long, default_value = "synthetic")]
    data: String,
    /// Directory holding MNIST's four IDX files (raw or .gz). Default: the cache directory
    /// that `diversenet fetch mnist` fills.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Separate test file for csv/npy data (same format); otherwise --test-fraction is held out.
    #[arg(long)]
    test: Option<String>,
    /// Fraction of a csv/npy file held out as test data (seeded split).
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// CSV target column (default: `label`, `target` or `y`).
    #[arg(long)]
    target_column: Option<String>,
    /// auto | classify | regress: how csv/npy targets are read.
    #[arg(long, default_value = "auto")]
    task: String,
    /// Synthetic: input dimension d.
    #[arg(long, default_value_t = 10)]
    dim: usize,
    /// Synthetic: teacher units.
    #[arg(long, default_value_t = 5)]
    teacher_width: usize,
    /// Synthetic: training samples.
    #[arg(long, default_value_t = 1000)]
    train_samples: usize,
    /// Synthetic: test samples.
    #[arg(long, default_value_t = 1000)]
    test_samples: usize,
    /// Synthetic: standard deviation of Gaussian label noise.
    #[arg(long, default_value_t = 0.0)]
    noise: f64,
}

impl DataArgs {
    fn source(&self, spec: &str) -> Result<DataSource> {
        let synthetic = SyntheticConfig {
            dim: self.dim,
            teacher_width: self.teacher_width,
            train_samples: self.train_samples,
            test_samples: self.test_samples,
            noise: self.noise,
        };
        Ok(DataSource::parse(spec, self.data_dir.clone(), synthetic)?)
    }

    fn load(&self, seed: u64) -> Result<(data::Dataset, data::Dataset)> {
        let task = match self.task.as_str() {
            "auto" => Task::Auto,
            "classify" => Task::Classify,
            "regress" => Task::Regress,
            other => bail!("invalid setting `task`: `{other}`: expected auto, classify or regress"),
        };
        let options = LoadOptions {
            target_column: self.target_column.clone(),
            task,
            test: self.test.as_deref().map(|t| self.source(t)).transpose()?,
            test_fraction: self.test_fraction,
        };
        Ok(self.source(&self.data)?.load(&options, seed)?)
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Hidden units n.
    #[arg(long, default_value_t = TrainSettings::default().width)]
    width: usize,
    /// Epochs (default: 200 for synthetic data, 5 otherwise).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// gd (full batch) | sgd (minibatch, momentum) | adam
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate.
    #[arg(long, default_value_t = TrainSettings::default().lr)]
    lr: f64,
    /// Momentum of sgd.
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    /// constant | cosine | step:EVERY_EPOCHS:FACTOR
    #[arg(long, default_value = "constant")]
    lr_schedule: String,
    #[arg(long, default_value_t = TrainSettings::default().batch_size)]
    batch_size: usize,
    /// squared | cross-entropy (default: squared for real targets, cross-entropy for classes).
    #[arg(long)]
    loss: Option<String>,
    /// fixed (+/-1, the theory's setting) | trained (default: fixed for real targets, trained for classes).
    #[arg(long)]
    output_layer: Option<String>,
    /// sphere | standardise | raw
    #[arg(long, default_value = "sphere")]
    input_scaling: String,
    /// f32 | f64
    #[arg(long, default_value = "f32")]
    precision: String,
    /// Standard deviation of W's initial entries (default: 1/sqrt(mean ||x||^2)).
    #[arg(long)]
    init_scale: Option<f64>,
    /// Regulariser of W (repeatable): discrepancy (the paper's), mhe[0|1|2][-angular],
    /// mma, orthogonal, weight-decay. Each takes the --lambda at the same position.
    #[arg(long)]
    reg: Vec<String>,
    /// Strength of each --reg (one value applies to all).
    #[arg(long, allow_negative_numbers = true)]
    lambda: Vec<f64>,
    /// Apply the regularisers every this many steps (scaled to keep their average): cheaper for large widths.
    #[arg(long, default_value_t = 1)]
    reg_every: usize,
    /// Write a resumable checkpoint every this many epochs.
    #[arg(long, default_value_t = TrainSettings::default().checkpoint_every)]
    checkpoint_every: usize,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Also write the summary to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// A model.safetensors written by `train`.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Seed of the synthetic data or of the csv/npy split (use the training run's seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// test | train
    #[arg(long, default_value = "test")]
    split: String,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// A model.safetensors written by `train`.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Seed of the synthetic data or csv/npy split (use the training run's seed), and of the
    /// sub-sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// train | test: which part of the data the quantities are measured on.
    #[arg(long, default_value = "train")]
    split: String,
    /// Points of a seeded sub-sample (default: 2000 / outputs, so that D^T D is at most 2000 x 2000).
    #[arg(long)]
    points: Option<usize>,
    /// Use every point of the split (the Gram matrix is m c x m c: mind the memory).
    #[arg(long, conflicts_with = "points")]
    all_points: bool,
    /// Also estimate the L2 discrepancy by Monte Carlo with this many (x, y) pairs.
    #[arg(long)]
    monte_carlo: Option<usize>,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct SpectrumArgs {
    /// Input dimension d (the sphere S^(d-1)).
    #[arg(long)]
    dim: usize,
    /// Highest degree u.
    #[arg(long, default_value_t = 20)]
    max_degree: usize,
    #[arg(long)]
    json: Option<PathBuf>,
    /// SVG plot of gamma_(m) and m gamma_(m) against the rank m.
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[derive(Args)]
struct ReproduceArgs {
    /// Output directory (results are stored and reused there).
    #[arg(long)]
    out: PathBuf,
    /// Smaller sizes and fewer seeds: a few minutes on 2 cores.
    #[arg(long)]
    quick: bool,
    /// Run only share K of N (K/N, 0 <= K < N): N machines can fill one directory.
    #[arg(long)]
    shard: Option<String>,
    /// MNIST's directory (default: the cache directory, fetched there if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Never download MNIST (the MNIST experiment is skipped if it is missing).
    #[arg(long)]
    no_fetch: bool,
    /// Also write the outcome to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

struct ReproduceBars {
    multi: indicatif::MultiProgress,
    overall: ProgressBar,
    bars: Vec<(Experiment, ProgressBar)>,
    quiet: bool,
}

impl ReproduceProgress for ReproduceBars {
    fn plan(&mut self, per: &[(Experiment, usize, usize)]) {
        let total: usize = per.iter().map(|p| p.2).sum();
        self.overall.set_length(total as u64);
        let style = ProgressStyle::with_template("{prefix:<62} [{bar:25}] {pos}/{len} ({eta})")
            .expect("template")
            .progress_chars("=> ");
        for &(e, _, todo) in per {
            if todo > 0 {
                let b = self.multi.add(
                    ProgressBar::new(todo as u64)
                        .with_style(style.clone())
                        .with_prefix(e.title()),
                );
                self.bars.push((e, b));
            }
        }
    }
    fn run_done(&mut self, e: Experiment) {
        self.overall.inc(1);
        if let Some((_, b)) = self.bars.iter().find(|(x, _)| *x == e) {
            b.inc(1);
        }
    }
    fn note(&mut self, message: &str) {
        if self.quiet {
            eprintln!("note: {message}");
        } else {
            let _ = self.multi.println(format!("note: {message}"));
        }
    }
}

fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("invalid setting `shard`: `{s}`: expected K/N, e.g. 0/4"))?;
    Ok((
        k.trim().parse().context("shard K")?,
        n.trim().parse().context("shard N")?,
    ))
}

fn reproduce(args: ReproduceArgs) -> Result<()> {
    let multi = indicatif::MultiProgress::with_draw_target(if args.quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let overall = multi.add(ProgressBar::new(0));
    overall.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} overall [{bar:40}] {pos}/{len} runs ({eta})",
        )?
        .progress_chars("=> "),
    );
    let mut bars = ReproduceBars {
        multi,
        overall,
        bars: Vec::new(),
        quiet: args.quiet,
    };
    let options = ReproduceOptions {
        out: args.out.clone(),
        quick: args.quick,
        shard: args.shard.as_deref().map(parse_shard).transpose()?,
        data_dir: args.data_dir.clone(),
        fetch: !args.no_fetch,
    };
    let outcome = experiments::reproduce(&options, &mut bars)?;
    bars.overall.finish_and_clear();
    for (_, b) in &bars.bars {
        b.finish_and_clear();
    }
    for p in &outcome.corrupt_results_replaced {
        eprintln!(
            "note: {} was corrupted (checksum or format) and was run again",
            p.display()
        );
    }
    match &outcome.report {
        Some(p) => eprintln!("report: {} (and report.html beside it)", p.display()),
        None => eprintln!(
            "{} of {} runs still missing; the report is rendered when every shard is done",
            outcome.runs_missing, outcome.runs_planned
        ),
    }
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    write_json(args.json.as_deref(), &outcome)
}

#[derive(Args)]
struct FetchArgs {
    /// What to fetch: only `mnist`.
    dataset: String,
    /// Destination directory (default: the cache directory used when --data-dir is not given).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Base URL of a mirror (repeatable; replaces the built-in list).
    #[arg(long)]
    mirror: Vec<String>,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Samples per second of MNIST-shaped training steps (784 -> n -> 10).
    Train {
        /// Hidden widths to measure.
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        widths: Vec<usize>,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Timed repeats (the median and the best are reported).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// sgd | adam
        #[arg(long, default_value = "adam")]
        optimizer: String,
        #[arg(long, default_value = "f32")]
        precision: String,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Seconds for each regulariser's value + gradient beside one MNIST-shaped training
    /// epoch, and what applying it every k steps does to the result.
    Reg {
        #[arg(long, default_value_t = 1000)]
        width: usize,
        #[arg(long, default_value_t = 784)]
        dim: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Seconds for s_m(D) (Gram form; Cholesky + Lanczos against the full eigensolver) and
    /// for the kernel spectrum.
    Theory {
        /// Point counts m (n = 1000 units, d = 784).
        #[arg(long, value_delimiter = ',', default_value = "2000,10000")]
        points: Vec<usize>,
        #[arg(long, default_value_t = 1000)]
        width: usize,
        #[arg(long, default_value_t = 784)]
        dim: usize,
        /// Also time the full eigendecomposition, and a trained network, for point counts up to this.
        #[arg(long, default_value_t = 2000)]
        full_up_to: usize,
        /// Degree of the spectrum benchmark.
        #[arg(long, default_value_t = 200)]
        max_degree: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn write_json(path: Option<&Path>, value: &impl serde::Serialize) -> Result<()> {
    if let Some(p) = path {
        write_atomic(p, serde_json::to_string_pretty(value)?.as_bytes())?;
    }
    Ok(())
}

struct Bar {
    bar: ProgressBar,
}

impl RunProgress for Bar {
    fn start(&mut self, total: u64, done: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }
    fn step(&mut self, steps_done: u64) {
        self.bar.set_position(steps_done);
    }
    fn epoch(&mut self, m: &EpochMetrics) {
        let err = m
            .test_error
            .map(|e| format!(" test err {:.2}%", 100.0 * e))
            .unwrap_or_default();
        self.bar.set_message(format!(
            "epoch {} train loss {:.4e} test loss {:.4e}{err}",
            m.epoch, m.train_loss, m.test_loss
        ));
        self.bar
            .suspend(|| println!("{}", serde_json::to_string(m).expect("metrics serialise")));
    }
}

/// Pairs each --reg with its --lambda.
fn regularizers(names: &[String], lambdas: &[f64]) -> Result<Vec<RegTerm>> {
    if names.is_empty() {
        if !lambdas.is_empty() {
            bail!("invalid setting `lambda`: given without --reg");
        }
        return Ok(Vec::new());
    }
    if lambdas.len() != names.len() && lambdas.len() != 1 {
        bail!("invalid setting `lambda`: {} values for {} --reg flags; give one per --reg, or one for all", lambdas.len(), names.len());
    }
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Ok(RegTerm::new(
                n.parse()?,
                lambdas[if lambdas.len() == 1 { 0 } else { i }],
            )?)
        })
        .collect()
}

fn train(args: TrainArgs) -> Result<()> {
    let epochs = args.epochs.unwrap_or(if args.data.data == "synthetic" {
        200
    } else {
        5
    });
    let settings = TrainSettings {
        width: args.width,
        epochs,
        seed: args.seed,
        optimizer: OptimizerKind::parse(&args.optimizer, args.momentum)?,
        lr: args.lr,
        schedule: args.lr_schedule.parse()?,
        batch_size: args.batch_size,
        loss: args.loss.as_deref().map(str::parse).transpose()?,
        output_layer: args.output_layer.as_deref().map(str::parse).transpose()?,
        scaling: args.input_scaling.parse()?,
        precision: args.precision.parse()?,
        init_scale: args.init_scale,
        checkpoint_every: args.checkpoint_every,
        regularizers: regularizers(&args.reg, &args.lambda)?,
        reg_every: args.reg_every,
    };
    let (train_data, test_data) = args.data.load(args.seed)?;
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if args.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} steps ({eta}) {msg}",
        )?
        .progress_chars("=> "),
    );
    let mut progress = Bar { bar };
    let summary = run_training(
        &settings,
        train_data,
        test_data,
        &args.out,
        args.resume,
        &mut progress,
    )?;
    progress.bar.finish_and_clear();
    for note in &summary.notes {
        eprintln!("note: {note}");
    }
    if summary.zero_inputs > 0 {
        eprintln!(
            "note: {} all-zero inputs have no direction; they stay zero after sphere projection",
            summary.zero_inputs
        );
    }
    println!("{}", serde_json::json!({ "summary": &summary }));
    write_json(args.json.as_deref(), &summary)
}

/// Loads a model and the split of a data set it is to be measured on, scaled as in training.
fn model_and_data(
    model_path: &Path,
    data: &DataArgs,
    seed: u64,
    split: &str,
) -> Result<(ModelFile, data::Dataset)> {
    let model = load_model(model_path)?;
    let (train_data, test_data) = data.load(seed)?;
    let mut dataset = match split {
        "test" => test_data,
        "train" => train_data,
        other => bail!("invalid setting `split`: `{other}`: expected test or train"),
    };
    if dataset.dim() != model.net.dim() {
        bail!(
            "{}: the model takes {} inputs but {} has {} features per sample",
            model_path.display(),
            model.net.dim(),
            dataset.name,
            dataset.dim()
        );
    }
    if model.classes != matches!(dataset.targets, data::Targets::Classes { .. }) {
        bail!(
            "{}: the model predicts {} but {} has {}",
            model_path.display(),
            if model.classes {
                "classes"
            } else {
                "real values"
            },
            dataset.name,
            if model.classes {
                "real-valued targets"
            } else {
                "class labels"
            }
        );
    }
    if let data::Targets::Classes { num_classes, .. } = dataset.targets {
        if num_classes > model.net.outputs() {
            bail!(
                "{}: the model has {} outputs but {} has labels up to {}",
                model_path.display(),
                model.net.outputs(),
                dataset.name,
                num_classes - 1
            );
        }
    }
    model.transform.apply(&mut dataset.x);
    Ok((model, dataset))
}

fn eval(args: EvalArgs) -> Result<()> {
    let (model, dataset) = model_and_data(&args.model, &args.data, args.seed, &args.split)?;
    let (loss, error) = score(&model.net, model.config.loss, &dataset);
    let result = serde_json::json!({
        "model": args.model,
        "data": dataset.name,
        "split": args.split,
        "samples": dataset.len(),
        "loss_function": model.config.loss,
        "loss": loss,
        "error": error,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    write_json(args.json.as_deref(), &result)
}

fn analyze(args: AnalyzeArgs) -> Result<()> {
    let (model, dataset) = model_and_data(&args.model, &args.data, args.seed, &args.split)?;
    let options = AnalysisOptions {
        points: args.points,
        all_points: args.all_points,
        seed: args.seed,
        monte_carlo: args.monte_carlo,
    };
    let a = theory::analyze(&model.net, &dataset, &options)?;
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.6e}"));
    println!(
        "theory diagnostics of {} on {} ({} of {} points, d = {}, n = {}, c = {})",
        args.model.display(),
        dataset.name,
        a.points_used,
        a.points_total,
        a.dim,
        a.width,
        a.outputs
    );
    let rows: Vec<(&str, String)> = vec![
        (
            "s_m(D)",
            format!(
                "{:.6e}  [{}{}]",
                a.s_min,
                a.s_min_method,
                a.s_min_reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        ),
        ("squared loss L", format!("{:.6e}", a.loss)),
        ("||grad_W L||", format!("{:.6e}", a.grad_norm)),
        ("bound m||grad||^2/(2 s^2)", opt(a.bound)),
        ("L / bound (<= 1)", opt(a.loss_over_bound)),
        ("lambda_min(K)", format!("{:.6e}", a.lambda_min_k)),
        ("||E_W||_2", format!("{:.6e}", a.e_w_norm)),
        (
            "lambda_min(K) - ||E_W||_2",
            format!("{:.6e}", a.kernel_lower_bound),
        ),
        ("s_m(D)^2 / n", opt(a.s_min_sq_over_n)),
        (
            "L2 slice discrepancy^2",
            format!("{:.6e}  (c_d = {:.6})", a.l2_discrepancy_sq, a.c_d),
        ),
        (
            "hemisphere discrepancy^2",
            format!("{:.6e}", a.hemisphere_discrepancy_sq),
        ),
        (
            "wedge discrepancy^2",
            format!("{:.6e}", a.wedge_discrepancy_sq),
        ),
    ];
    for (k, v) in rows {
        println!("  {k:<28} {v}");
    }
    if let Some(mc) = &a.monte_carlo {
        println!(
            "  {:<28} {:.6e} +/- {:.1e} ({} samples)",
            "Monte Carlo L2^2", mc.estimate, mc.std_error, mc.samples
        );
    }
    if !a.skipped_rows.is_empty() {
        println!(
            "  rows of W with no direction (zero), left out of the discrepancies: {:?}",
            a.skipped_rows
        );
    }
    write_json(args.json.as_deref(), &a)
}

fn spectrum(args: SpectrumArgs) -> Result<()> {
    let s = theory::spectrum::spectrum(args.dim, args.max_degree)?;
    println!(
        "{:>5} {:>14} {:>14} {:>12} {:>8}",
        "u", "gamma_u", "N(d,u)", "cumulative", "trusted"
    );
    let mut cumulative = 0.0;
    for e in &s.degrees {
        if e.gamma > 0.0 {
            cumulative += (e.log10_gamma + e.log10_multiplicity)
                .mul_add(std::f64::consts::LN_10, 0.0)
                .exp();
        }
        let mult = e
            .multiplicity
            .map_or(format!("1e{:.1}", e.log10_multiplicity), |n| {
                format!("{n:.0}")
            });
        println!(
            "{:>5} {:>14.6e} {:>14} {:>12.8} {:>8}",
            e.u, e.gamma, mult, cumulative, e.trusted
        );
    }
    match s.trusted_up_to {
        Some(u) if u == s.max_degree => println!("every degree up to {u} is trustworthy (relative error < 1e-6)"),
        Some(u) => println!("trustworthy up to degree {u} (relative error < 1e-6); higher degrees are estimates with the error bound in the JSON"),
        None => println!("no degree reached relative error 1e-6"),
    }
    let steps = s.ranked_steps();
    if let Some(path) = &args.svg {
        let gamma = Series {
            name: "gamma_(m)".into(),
            points: steps.clone(),
            scatter: false,
        };
        let m_gamma = Series {
            name: "m gamma_(m)".into(),
            points: steps.iter().map(|&(m, g)| (m, m * g)).collect(),
            scatter: false,
        };
        let title = format!("ReLU kernel spectrum on S^{}, degrees <= {} (diversenet spectrum --dim {} --max-degree {})", args.dim - 1, args.max_degree, args.dim, args.max_degree);
        let spec = PlotSpec {
            title: &title,
            x_label: "rank m",
            y_label: "eigenvalue",
            log_x: true,
            log_y: true,
        };
        write_atomic(path, plot::svg(&spec, &[gamma, m_gamma]).as_bytes())?;
    }
    let json = serde_json::json!({
        "dim": s.dim,
        "max_degree": s.max_degree,
        "degrees": s.degrees,
        "cumulative": s.cumulative,
        "trusted_up_to": s.trusted_up_to,
        "ranked": steps.iter().map(|&(m, g)| serde_json::json!({"m": m, "gamma": g, "m_gamma": m * g})).collect::<Vec<_>>(),
    });
    write_json(args.json.as_deref(), &json)
}

fn fetch(args: FetchArgs) -> Result<()> {
    if args.dataset != "mnist" {
        bail!(
            "unknown data set `{}`: only `mnist` can be fetched",
            args.dataset
        );
    }
    let dir = args.dir.unwrap_or_else(data::mnist::default_dir);
    let mirrors: Vec<String> = if args.mirror.is_empty() {
        data::fetch::MIRRORS.iter().map(|s| s.to_string()).collect()
    } else {
        args.mirror
            .iter()
            .map(|m| {
                if m.ends_with('/') {
                    m.clone()
                } else {
                    format!("{m}/")
                }
            })
            .collect()
    };
    let report = data::fetch::fetch_mnist(&dir, &mirrors, |name| {
        eprintln!("downloading {name}.gz ...")
    })
    .with_context(|| format!("fetching MNIST into {}", dir.display()))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "MNIST is ready in {}; train with --data mnist --data-dir {}",
        dir.display(),
        dir.display()
    );
    write_json(args.json.as_deref(), &report)
}

fn bench(what: BenchCommand) -> Result<()> {
    match what {
        BenchCommand::Train {
            widths,
            batch_size,
            steps,
            repeats,
            optimizer,
            precision,
            json,
        } => {
            let mut results = Vec::new();
            for width in widths {
                let r = diversenet::bench::bench_train(
                    width,
                    784,
                    10,
                    batch_size,
                    OptimizerKind::parse(&optimizer, 0.9)?,
                    precision.parse()?,
                    steps,
                    repeats,
                )?;
                println!(
                    "train step 784 -> {width} -> 10, batch {batch_size}, {} {}, {} threads: median {:.0} samples/s ({:.3} ms/step), best {:.0} samples/s",
                    r.optimizer, r.precision, r.threads, r.samples_per_second, r.ms_per_step, r.best_samples_per_second
                );
                results.push(r);
            }
            write_json(json.as_deref(), &results)
        }
        BenchCommand::Reg {
            width,
            dim,
            repeats,
            json,
        } => {
            let step = diversenet::bench::bench_train(
                width,
                dim,
                10,
                128,
                OptimizerKind::parse("adam", 0.9)?,
                "f32".parse()?,
                100,
                3,
            )?;
            let epoch_steps = 60_000usize.div_ceil(128);
            let epoch = step.ms_per_step * 1e-3 * epoch_steps as f64;
            println!("one training step {dim} -> {width} -> 10 (batch 128, adam, f32): {:.2} ms; one 60,000-sample epoch ({epoch_steps} steps): {epoch:.2} s", step.ms_per_step);
            let mut results = Vec::new();
            for (name, secs) in diversenet::bench::bench_regularizers(width, dim, repeats) {
                println!(
                    "  {name:<14} value + gradient, n = {width}, d = {dim}: {:.2} ms = {:.0}% of a training step; every step adds {:.1} s per epoch, every 10 steps {:.2} s",
                    secs * 1e3, 100.0 * secs * 1e3 / step.ms_per_step, secs * epoch_steps as f64, secs * epoch_steps as f64 / 10.0
                );
                results.push(serde_json::json!({"regularizer": name, "seconds": secs, "width": width, "dim": dim, "step_seconds": step.ms_per_step * 1e-3, "epoch_seconds": epoch}));
            }
            let every = diversenet::bench::reg_every_effect()?;
            for e in &every {
                println!("  discrepancy (lambda {}) every {:>2} steps on synthetic data: L2 discrepancy^2 {:.4e}, test loss {:.4e}, {:.2} s", e.lambda, e.every, e.l2_discrepancy_sq.unwrap_or(f64::NAN), e.test_loss, e.seconds);
            }
            results.push(serde_json::to_value(&every)?);
            write_json(json.as_deref(), &results)
        }
        BenchCommand::Theory {
            points,
            width,
            dim,
            full_up_to,
            max_degree,
            json,
        } => {
            let mut results = Vec::new();
            // The trained-network variant (20 epochs of training first) only where the
            // full eigendecomposition is timed too.
            for (m, trained) in points
                .iter()
                .flat_map(|&m| [(m, false), (m, true)])
                .filter(|&(m, t)| !t || m <= full_up_to)
            {
                let r = diversenet::bench::bench_gram(m, width, dim, m <= full_up_to, trained)?;
                let full = r
                    .full_eigen_seconds
                    .map(|f| {
                        format!(
                            ", full eigendecomposition {f:.2} s ({:.1}x slower; s = {:.6e})",
                            f / r.smallest_eigenvalue_seconds,
                            r.s_min_full.unwrap_or(f64::NAN)
                        )
                    })
                    .unwrap_or_default();
                println!(
                    "s_m(D), m = {m}, n = {width}, d = {dim}, {} network, {} threads: build D^T D {:.2} s, smallest eigenvalue {:.2} s by {} (s = {:.6e}){full}",
                    if trained { "trained" } else { "random" }, r.threads, r.build_seconds, r.smallest_eigenvalue_seconds, r.method, r.s_min
                );
                results.push(serde_json::to_value(&r)?);
            }
            let (secs, trusted) = diversenet::bench::bench_spectrum(dim, max_degree)?;
            println!("spectrum d = {dim}, degrees 0..={max_degree}: {secs:.3} s (trusted up to degree {trusted:?})");
            results.push(serde_json::json!({"spectrum_dim": dim, "max_degree": max_degree, "seconds": secs, "trusted_up_to": trusted}));
            write_json(json.as_deref(), &results)
        }
    }
}

fn main() {
    // Exit quietly when stdout is closed early (`diversenet ... | head`).
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    diversenet::linalg::set_threads(cli.threads);
    if cli.threads > 0 {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(cli.threads)
            .build_global();
    }
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
        Command::Analyze(a) => analyze(a),
        Command::Spectrum(a) => spectrum(a),
        Command::Reproduce(a) => reproduce(a),
        Command::Fetch(a) => fetch(a),
        Command::Bench { what } => bench(what),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
