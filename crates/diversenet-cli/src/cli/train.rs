//! `train` and `eval`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use diversenet::model::config::{check_options_apply, GivenOptions};
use diversenet::model::foreign::LoadedNetwork;
use diversenet::model::optim::DEFAULT_MOMENTUM;
use diversenet::model::options::train_option;
use diversenet::model::run::{run_training, RunProgress, RunSummary, SUMMARY_FILE};
use diversenet::model::train::score;
use diversenet::model::{EpochMetrics, Loss, OptimizerKind, TrainSettings};
use diversenet::regularizer;

use super::data_args::{model_and_data, DataArgs, ModelArgs};
use super::spelling::Flags;
use super::write_json;

/// The flags of `train`: the training options of the library's table
/// ([`diversenet::model::options::TRAIN_OPTIONS`]: help and defaults from there), the data
/// flags and the run's own.
#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, value_name = "N", default_value = default("width"), help = help("width"))]
    width: usize,
    #[arg(long, value_name = "N", default_value = default("epochs"), help = help("epochs"))]
    epochs: usize,
    #[arg(long, value_name = "N", default_value = default("seed"), help = help("seed"))]
    seed: u64,
    #[arg(long, value_name = "NAME", default_value = default("optimizer"), help = help("optimizer"))]
    optimizer: String,
    #[arg(long, value_name = "LR", default_value = default("lr"), help = help("lr"), allow_negative_numbers = true)]
    lr: f64,
    #[arg(long, value_name = "M", help = help("momentum"), allow_negative_numbers = true)]
    momentum: Option<f64>,
    #[arg(long, value_name = "SCHEDULE", default_value = default("lr_schedule"), help = help("lr_schedule"))]
    lr_schedule: String,
    #[arg(long, value_name = "N", help = help("batch_size"))]
    batch_size: Option<usize>,
    #[arg(long, value_name = "NAME", help = help("loss"))]
    loss: Option<String>,
    #[arg(long, value_name = "NAME", help = help("output_layer"))]
    output_layer: Option<String>,
    #[arg(long, value_name = "NAME", default_value = default("input_scaling"), help = help("input_scaling"))]
    input_scaling: String,
    #[arg(long, value_name = "NAME", default_value = default("precision"), help = help("precision"))]
    precision: String,
    #[arg(long, value_name = "S", help = help("init_scale"), allow_negative_numbers = true)]
    init_scale: Option<f64>,
    #[arg(long, value_name = "NAME", help = help("reg"))]
    reg: Vec<String>,
    #[arg(long, value_name = "LAMBDA", help = help("lambda"), allow_negative_numbers = true)]
    lambda: Vec<f64>,
    #[arg(long, value_name = "WD", default_value = default("weight_decay"), help = help("weight_decay"), allow_negative_numbers = true)]
    weight_decay: f64,
    #[arg(long, value_name = "K", help = help("reg_every"))]
    reg_every: Option<usize>,
    #[arg(long, value_name = "K", default_value = default("exact_metrics"), help = help("exact_metrics"))]
    exact_metrics: usize,
    #[arg(long, value_name = "K", help = help("reg_sample"))]
    reg_sample: Option<usize>,
    #[arg(long, value_name = "N", default_value = default("checkpoint_every"), help = help("checkpoint_every"))]
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

/// The command line's default of training option `name` (its own, where it has one).
pub fn default(name: &str) -> &'static str {
    let option = train_option(name);
    match option.command_line_default {
        Some((value, _)) => value,
        None => option.default.value().expect("a flag with a default value"),
    }
}

/// The help of training option `name`, in flags.
pub fn help(name: &str) -> String {
    let option = train_option(name);
    let help = option.help_in(&Flags);
    match (option.command_line_default, option.default.value()) {
        (Some((_, why)), Some(elsewhere)) => {
            format!("{help} (Python's and the library's default is {elsewhere}; here it differs: {why}.)")
        }
        _ => help,
    }
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
    /// test | train
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
    let optimizer =
        OptimizerKind::parse(&args.optimizer, args.momentum.unwrap_or(DEFAULT_MOMENTUM))?;
    check_applicable(&args, optimizer)?;
    let defaults = TrainSettings::default();
    let settings = TrainSettings {
        width: args.width,
        epochs: args.epochs,
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
    };
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
        LoadedNetwork::Trained(m) => m.config().loss(),
        LoadedNetwork::Foreign(_) => Loss::default_for(&dataset.targets),
    };
    let (loss, error) = score(&measured.weights, loss_function, dataset);
    let result = serde_json::json!({
        "model": args.model.describe(),
        "data": dataset.name,
        "split": args.split,
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

#[cfg(test)]
mod tests {
    use clap::{Args, Command};
    use diversenet::model::options::{OptionDefault, TRAIN_OPTIONS};

    use super::*;

    /// Every training option of the library's table is a flag of `train` with the table's
    /// help and default (the command line's own where it declares one), and every flag of
    /// `train` is a training option, a data flag or one of the run's own.
    #[test]
    fn train_flags_are_the_table_of_training_options() {
        let train = TrainArgs::augment_args(Command::new("train"));
        let data = DataArgs::augment_args(Command::new("data"));
        let long = |a: &clap::Arg| a.get_long().unwrap_or_default().to_string();
        for option in TRAIN_OPTIONS {
            let flag = option.name.replace('_', "-");
            let arg = train
                .get_arguments()
                .find(|a| long(a) == flag)
                .unwrap_or_else(|| panic!("no flag --{flag}"));
            assert_eq!(arg.get_help().unwrap().to_string(), help(option.name));
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let expected = match (option.command_line_default, option.default) {
                (Some((value, _)), _) => vec![value.to_string()],
                (None, OptionDefault::Number(v) | OptionDefault::Name(v)) => vec![v.to_string()],
                (None, OptionDefault::WhereApplicable(_) | OptionDefault::Unset) => vec![],
            };
            assert_eq!(defaults, expected, "--{flag}");
        }
        let run_flags = ["out", "resume", "json", "quiet", "help"];
        for arg in train.get_arguments() {
            let name = long(arg);
            assert!(
                TRAIN_OPTIONS
                    .iter()
                    .any(|o| o.name.replace('_', "-") == name)
                    || data.get_arguments().any(|a| long(a) == name)
                    || run_flags.contains(&name.as_str()),
                "--{name} is no training option"
            );
        }
    }
}
