//! The `diversenet` command line: a thin layer that parses flags, calls the library and
//! prints results. Every command that writes a result also takes `--json PATH`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use diversenet::data::{self, DataSource, LoadOptions, SyntheticConfig, Task};
use diversenet::files::write_atomic;
use diversenet::model::file::load_model;
use diversenet::model::run::{run_training, RunProgress};
use diversenet::model::train::score;
use diversenet::model::{EpochMetrics, OptimizerKind, TrainSettings};

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
    if summary.zero_inputs > 0 {
        eprintln!(
            "note: {} all-zero inputs have no direction; they stay zero after sphere projection",
            summary.zero_inputs
        );
    }
    println!("{}", serde_json::json!({ "summary": &summary }));
    write_json(args.json.as_deref(), &summary)
}

fn eval(args: EvalArgs) -> Result<()> {
    let model = load_model(&args.model)?;
    let (train_data, test_data) = args.data.load(args.seed)?;
    let mut dataset = match args.split.as_str() {
        "test" => test_data,
        "train" => train_data,
        other => bail!("invalid setting `split`: `{other}`: expected test or train"),
    };
    if dataset.dim() != model.net.dim() {
        bail!(
            "{}: the model takes {} inputs but {} has {} features per sample",
            args.model.display(),
            model.net.dim(),
            dataset.name,
            dataset.dim()
        );
    }
    if model.classes != matches!(dataset.targets, data::Targets::Classes { .. }) {
        bail!(
            "{}: the model predicts {} but {} has {}",
            args.model.display(),
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
                args.model.display(),
                model.net.outputs(),
                dataset.name,
                num_classes - 1
            );
        }
    }
    model.transform.apply(&mut dataset.x);
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
    }
}

fn main() {
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
        Command::Fetch(a) => fetch(a),
        Command::Bench { what } => bench(what),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
