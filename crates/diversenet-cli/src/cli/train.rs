//! `train` and `eval`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use diversenet::model::config::{check_options_apply, GivenOptions};
use diversenet::model::foreign::LoadedNetwork;
use diversenet::model::optim::DEFAULT_MOMENTUM;
use diversenet::model::run::{run_training_from, RunProgress, RunSummary, Start, SUMMARY_FILE};
use diversenet::model::train::score;
use diversenet::model::{EpochMetrics, Loss, OptimizerKind, TrainSettings};
use diversenet::regularizer;

use super::data_args::{model_and_data, DataArgs, ModelArgs};
use super::spelling::Flags;
use super::write_json;

#[derive(Args)]
pub struct TrainArgs {
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
    #[arg(long, default_value_t = TrainSettings::default().lr, allow_negative_numbers = true)]
    lr: f64,
    /// Momentum of sgd (sgd only; default 0.9).
    #[arg(long, allow_negative_numbers = true)]
    momentum: Option<f64>,
    /// constant | cosine | step:EVERY_EPOCHS:FACTOR
    #[arg(long, default_value = "constant")]
    lr_schedule: String,
    /// Samples per step of sgd and adam (default 128; gd steps on the whole training set).
    #[arg(long)]
    batch_size: Option<usize>,
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
    #[arg(long, allow_negative_numbers = true)]
    init_scale: Option<f64>,
    /// Regulariser of W (repeatable): discrepancy (the paper's), mhe[0|1|2][-angular],
    /// mma, orthogonal, weight-decay (lambda ||W||^2 added to the loss, which Adam rescales;
    /// see --weight-decay for AdamW's). Each takes the --lambda at the same position.
    #[arg(long)]
    reg: Vec<String>,
    /// Strength of each --reg (one value applies to all).
    #[arg(long, allow_negative_numbers = true)]
    lambda: Vec<f64>,
    /// Decoupled weight decay of W, as in AdamW: each step shrinks W by the factor
    /// 1 - lr_t * WD, apart from the gradient (works with every --optimizer). 0 = none.
    #[arg(
        long,
        value_name = "WD",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    weight_decay: f64,
    /// Apply the regularisers every this many steps (scaled to keep their average): cheaper for large widths (default 1).
    #[arg(long)]
    reg_every: Option<usize>,
    /// Exact training metrics (loss, error and full gradient norm over the whole training
    /// set, one extra pass) at epoch 0, every K epochs and after the last; 0 = never: the
    /// epoch's running averages are logged instead (`train_loss_kind` in metrics.jsonl).
    #[arg(long, value_name = "K", default_value_t = 0)]
    exact_metrics: usize,
    /// Estimate the pairwise regularisers (discrepancy, mhe, orthogonal) from K random
    /// partner units per step: unbiased, O(n K d) instead of O(n^2 d). Default: exact.
    #[arg(long, value_name = "K")]
    reg_sample: Option<usize>,
    /// Write a resumable checkpoint every this many epochs.
    #[arg(long, default_value_t = TrainSettings::default().checkpoint_every)]
    checkpoint_every: usize,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Start a new run in --out, replacing the run there (its run files are removed first;
    /// other files are left alone).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Also write the summary to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Seed of the synthetic data or of the csv/npy split (default: the training run's seed,
    /// from the model file).
    #[arg(long)]
    seed: Option<u64>,
    /// test | train. The default is test, unlike analyze's train: eval scores how the
    /// model generalises, while analyze measures the theory's training-loss bound.
    #[arg(long, default_value = "test")]
    split: String,
    /// Also write the result to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
}

struct Bar {
    bar: ProgressBar,
    /// Print each epoch's metrics as a JSON line on stdout (when it is not a terminal).
    json_lines: bool,
    /// The run's epochs, shown beside the steps the bar counts.
    epochs: usize,
    /// The epoch of the last checkpoint on disk, and the last epoch logged.
    checkpoint: Option<usize>,
    logged: Option<usize>,
}

impl RunProgress for Bar {
    fn checkpoint(&mut self, epoch: usize) {
        self.checkpoint = Some(epoch);
    }
    fn interrupted(&mut self) -> bool {
        super::interrupt::requested()
    }
    fn start(&mut self, total: u64, done: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }
    fn step(&mut self, steps_done: u64) {
        self.bar.set_position(steps_done);
    }
    fn epoch(&mut self, m: &EpochMetrics) {
        self.logged = Some(m.epoch);
        let err = m
            .test_error
            .map(|e| format!(" test err {:.2}%", 100.0 * e))
            .unwrap_or_default();
        self.bar.set_message(format!(
            "epoch {}/{} train loss {:.4e} test loss {:.4e}{err}",
            m.epoch, self.epochs, m.train_loss, m.test_loss
        ));
        if self.json_lines {
            self.bar
                .suspend(|| println!("{}", serde_json::to_string(m).expect("metrics serialise")));
        }
    }
}

pub fn train(args: TrainArgs) -> Result<()> {
    use diversenet::model::run::{
        CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, MODEL_FILE, PREVIOUS_CHECKPOINT_FILE,
    };
    let run_files = [
        MODEL_FILE,
        CHECKPOINT_FILE,
        PREVIOUS_CHECKPOINT_FILE,
        METRICS_FILE,
        CONFIG_FILE,
    ];
    super::check_json_path(args.json.as_deref(), Some(&args.out), &run_files)?;
    diversenet::model::run::check_out_dir(&args.out)?;
    let epochs = args.epochs.unwrap_or(if args.data.spec() == "synthetic" {
        200
    } else {
        5
    });
    let optimizer =
        OptimizerKind::parse(&args.optimizer, args.momentum.unwrap_or(DEFAULT_MOMENTUM))?;
    check_applicable(&args, optimizer)?;
    let defaults = TrainSettings::default();
    let settings = TrainSettings {
        width: args.width,
        epochs,
        seed: args.seed,
        optimizer,
        lr: args.lr,
        schedule: args.lr_schedule.parse()?,
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        loss: args.loss.as_deref().map(str::parse).transpose()?,
        output_layer: args.output_layer.as_deref().map(str::parse).transpose()?,
        scaling: args.input_scaling.parse()?,
        precision: args.precision.parse()?,
        init_scale: args.init_scale,
        checkpoint_every: args.checkpoint_every,
        regularizers: regularizer::terms(&args.reg, &args.lambda)?,
        weight_decay: args.weight_decay,
        reg_every: args.reg_every.unwrap_or(defaults.reg_every),
        exact_metrics_every: args.exact_metrics,
        reg_sampling: args
            .reg_sample
            .map(diversenet::regularizer::RegSampling::new)
            .transpose()?,
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
    let terminal = std::io::stdout().is_terminal();
    let mut progress = Bar {
        bar,
        json_lines: !terminal,
        epochs,
        checkpoint: None,
        logged: None,
    };
    let start = match (args.resume, args.overwrite) {
        (true, _) => Start::Resume,
        (false, true) => Start::Overwrite,
        (false, false) => Start::New,
    };
    // Ctrl-C stops after the step in progress; what is on disk stays for a resume.
    super::interrupt::install();
    let result = run_training_from(
        &settings,
        train_data,
        test_data,
        &args.out,
        start,
        &mut progress,
    );
    let summary = match result {
        Err(diversenet::Error::Interrupted { steps }) => {
            progress.bar.abandon();
            eprintln!("{}", interrupted_note(&args, &progress, steps));
            std::process::exit(130);
        }
        other => other?,
    };
    progress.bar.finish_and_clear();
    for note in &summary.notes {
        eprintln!("note: {}", note.render(&Flags));
    }
    if summary.zero_inputs > 0 {
        eprintln!(
            "note: {} all-zero inputs have no direction; they stay zero after sphere projection",
            summary.zero_inputs
        );
    }
    if terminal {
        print_summary(&summary);
    } else {
        println!("{}", serde_json::json!({ "summary": &summary }));
    }
    write_json(args.json.as_deref(), &summary)
}

/// What an interrupted run kept, and the command that continues it.
fn interrupted_note(args: &TrainArgs, progress: &Bar, steps: u64) -> String {
    let out = args.out.display();
    let stopped = format!("interrupted after {steps} steps");
    match progress.checkpoint {
        Some(epoch) => format!(
            "{stopped}: kept {out} with its checkpoint of epoch {epoch} and the metrics up to \
             it{}; continue the run with:\n  {}",
            match progress.logged {
                Some(logged) if logged > epoch => format!(
                    " (epochs {} to {logged} are logged but were not checkpointed: the resumed \
                     run trains them again, to the same result)",
                    epoch + 1
                ),
                _ => String::new(),
            },
            super::interrupt::resume_command()
        ),
        None => format!(
            "{stopped}, before the first checkpoint (every --checkpoint-every {} epochs): \
             nothing to resume; start again with the same command plus --overwrite (it \
             replaces the run files in {out})",
            args.checkpoint_every
        ),
    }
}

/// Refuses flags that would have no effect beside the others given (as the data flags that
/// do not apply to the data source are), by the library's rule.
fn check_applicable(args: &TrainArgs, optimizer: OptimizerKind) -> Result<()> {
    let given = GivenOptions {
        momentum: args.momentum.is_some(),
        batch_size: args.batch_size.is_some(),
        reg_every: args.reg_every.is_some(),
        reg_sample: args.reg_sample.is_some(),
        reg: !args.reg.is_empty(),
    };
    Ok(check_options_apply(given, optimizer)?)
}

/// A few lines for a person at a terminal (the JSON goes to a pipe or to --json).
fn print_summary(s: &RunSummary) {
    let m = &s.final_metrics;
    let error = |e: Option<f64>| {
        e.map(|e| format!(", error {:.2}%", 100.0 * e))
            .unwrap_or_default()
    };
    println!(
        "trained {} epochs (width {}, {} loss) on {} ({} training, {} test samples)",
        m.epoch,
        s.config.width(),
        s.config.loss(),
        s.data,
        s.train_samples,
        s.test_samples
    );
    println!("  train loss {:.4e}{}", m.train_loss, error(m.train_error));
    println!("  test loss  {:.4e}{}", m.test_loss, error(m.test_error));
    println!(
        "  model {}; metrics {}; summary {}",
        s.model.display(),
        s.metrics.display(),
        s.out_dir.join(SUMMARY_FILE).display()
    );
}

pub fn eval(args: EvalArgs) -> Result<()> {
    let measured = model_and_data(&args.model, &args.data, args.seed, &args.split)?;
    let dataset = &measured.dataset;
    let loss_function = match &measured.loaded {
        LoadedNetwork::Trained(m) => m.config.loss(),
        LoadedNetwork::Foreign(_) => Loss::default_for(&dataset.targets),
    };
    let (loss, error) = score(measured.loaded.net(), loss_function, dataset);
    let result = serde_json::json!({
        "model": args.model.describe(),
        "data": dataset.name,
        "split": measured.split,
        "samples": dataset.len(),
        "input_scaling": measured.scaling,
        "note": measured.foreign_note(),
        "loss_function": loss_function,
        "loss": loss,
        "error": error,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    write_json(args.json.as_deref(), &result)
}
