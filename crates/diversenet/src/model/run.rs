//! A training run on disk: `config.json`, `metrics.jsonl` (one line per epoch),
//! `checkpoint.safetensors` (resumable state), `model.safetensors` and `summary.json`
//! under one output directory. Every file is replaced atomically (`metrics.jsonl` too,
//! each epoch); `--resume` continues from the last checkpoint and gives the same result as
//! an uninterrupted run.

use std::path::{Path, PathBuf};

use crate::data::source::short;
use crate::data::{DataRecord, Dataset, InputTransform, Targets};
use crate::error::{Error, Message, Result};
use crate::files::write_atomic;
use crate::linalg::{Matrix, Real};

use super::config::{Precision, TrainConfig, TrainSettings};
use super::file::{load_checkpoint, save_checkpoint, save_model};
use super::fit::{prepare, Prepared};
use super::train::{train, EpochMetrics, TrainObserver, TrainState};
use super::trained::TrainedModel;

pub const METRICS_FILE: &str = "metrics.jsonl";
pub const MODEL_FILE: &str = "model.safetensors";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// The checkpoint before the last, kept so that a corrupted last one is not the only one.
pub const PREVIOUS_CHECKPOINT_FILE: &str = "checkpoint.prev.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const SUMMARY_FILE: &str = "summary.json";

/// Hooks for showing progress (a progress bar in the CLI; nothing in tests).
pub trait RunProgress {
    /// Called once with the run's total steps and those already done (on resume).
    fn start(&mut self, _total_steps: u64, _done_steps: u64) {}
    fn step(&mut self, _steps_done: u64) {}
    fn epoch(&mut self, _metrics: &EpochMetrics) {}
}

/// Progress that shows nothing.
pub struct Silent;
impl RunProgress for Silent {}

/// What a finished run reports (also written to `summary.json`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    pub config: TrainConfig,
    pub data: String,
    pub train_samples: usize,
    pub test_samples: usize,
    /// Inputs that were all zero and so have no direction on the sphere (they stay zero);
    /// once each when the test set is the training set (the CLI's `all_data`).
    pub zero_inputs: usize,
    /// Epochs restored from a checkpoint instead of trained in this invocation.
    pub resumed_from_epoch: usize,
    /// What the run had to work around (a corrupted checkpoint, stale temporary files),
    /// and what it could not do; each front end renders the settings they name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Message>,
    pub final_metrics: EpochMetrics,
    pub out_dir: PathBuf,
    pub model: PathBuf,
    pub metrics: PathBuf,
}

/// Trains with `settings` on raw (unscaled) data and writes the run under `out_dir`.
pub fn run_training(
    settings: &TrainSettings,
    mut train_data: Dataset,
    mut test_data: Dataset,
    out_dir: &Path,
    resume: bool,
    progress: &mut dyn RunProgress,
) -> Result<RunSummary> {
    check_out_dir(out_dir)?;
    let record = DataRecord::of(&train_data, &test_data);
    let Prepared {
        transform,
        config,
        zero_inputs,
        ..
    } = prepare(settings, &mut train_data, &mut test_data)?;
    let config = config.with_data(record);
    let job = RunJob {
        config: &config,
        transform: &transform,
        train_data: &train_data,
        test_data: &test_data,
        out_dir,
        resume,
        zero_inputs,
        progress,
    };
    match config.precision() {
        Precision::F32 => run_typed::<f32>(job),
        Precision::F64 => run_typed::<f64>(job),
    }
}

/// Everything one run needs once its data are scaled and its configuration resolved.
struct RunJob<'a> {
    config: &'a TrainConfig,
    transform: &'a InputTransform,
    train_data: &'a Dataset,
    test_data: &'a Dataset,
    out_dir: &'a Path,
    resume: bool,
    /// All-zero inputs found while scaling (reported in the summary).
    zero_inputs: usize,
    progress: &'a mut dyn RunProgress,
}

/// `--out` must be a directory or not exist yet.
fn check_out_dir(out_dir: &Path) -> Result<()> {
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(Error::config(
            "out",
            Message::from(format!(
                "{} exists and is not a directory; ",
                out_dir.display()
            ))
            .setting("out")
            .text(" names the directory the run is written to"),
        ));
    }
    Ok(())
}

/// Refuses to resume on data other than the checkpoint's (when both runs recorded theirs).
fn check_same_data(saved: &TrainConfig, now: &TrainConfig, checkpoint: &Path) -> Result<()> {
    let (Some(then), Some(now)) = (saved.data(), now.data()) else {
        return Ok(());
    };
    match then.first_difference(now) {
        None => Ok(()),
        Some((which, was, is)) => Err(Error::config(
            "resume",
            Message::from(format!(
                "the {which} data differ from those {} was trained on (SHA-256 {} now, \
                 {} then): resume with the same data, or start a new run in another ",
                checkpoint.display(),
                short(is),
                short(was)
            ))
            .setting("out"),
        )),
    }
}

/// Refuses to resume with another thread count than the checkpoint's: a run's bits depend
/// on it ([`crate::linalg::threads`]: `--threads`, or every core when it is not given), so
/// the resumed run would match no uninterrupted one. A checkpoint from before the count was
/// recorded (`None`) resumes, with a note saying that this could not be checked.
fn check_same_threads(saved: Option<usize>, checkpoint: &Path) -> Result<Option<Message>> {
    let now = crate::linalg::threads();
    match saved {
        Some(then) if then != now => Err(Error::config(
            "threads",
            Message::from(format!("{} was trained with ", checkpoint.display()))
                .setting_value("threads", then)
                .text(format!(", this run has {now} ("))
                .setting("threads")
                .text(
                    ", or every core when it is not given): a run's bits depend on the thread \
                     count, so resume with ",
                )
                .setting_value("threads", then)
                .text(", or start a new run in another ")
                .setting("out"),
        )),
        Some(_) => Ok(None),
        None => Ok(Some(Message::from(format!(
            "{} does not record the thread count it was trained with (written by an older \
             version); resumed with {now} threads: the result is an uninterrupted run's only if \
             that is the same count",
            checkpoint.display()
        )))),
    }
}

struct DiskObserver<'a> {
    config: &'a TrainConfig,
    /// Every line of `metrics.jsonl` so far; the file is replaced as a whole each epoch.
    metrics_text: String,
    metrics_path: PathBuf,
    checkpoint_path: PathBuf,
    last: Option<EpochMetrics>,
    progress: &'a mut dyn RunProgress,
}

impl<T: Real> TrainObserver<T> for DiskObserver<'_> {
    fn discrepancy(&mut self, w: &Matrix<T>) -> Option<f64> {
        crate::geometry::l2_slice_discrepancy_sq(w)
    }
    fn on_step(&mut self, steps_done: u64) {
        self.progress.step(steps_done);
    }
    fn on_epoch(&mut self, metrics: &EpochMetrics, state: &TrainState<T>) -> Result<()> {
        self.metrics_text += &serde_json::to_string(metrics).expect("metrics serialise");
        self.metrics_text.push('\n');
        // Durable (and whole) before the checkpoint that claims this epoch is written.
        write_atomic(&self.metrics_path, self.metrics_text.as_bytes())?;
        let epoch = metrics.epoch;
        if epoch > 0
            && (epoch % self.config.checkpoint_every() == 0 || epoch == self.config.epochs())
        {
            // Keep the last good checkpoint until the new one is complete.
            if self.checkpoint_path.exists() {
                let previous = self
                    .checkpoint_path
                    .with_file_name(PREVIOUS_CHECKPOINT_FILE);
                std::fs::rename(&self.checkpoint_path, &previous)
                    .map_err(|e| Error::io(&previous, e))?;
            }
            save_checkpoint(&self.checkpoint_path, state, self.config)?;
        }
        self.progress.epoch(metrics);
        self.last = Some(metrics.clone());
        Ok(())
    }
}

/// Reads `metrics.jsonl`, keeping the lines of epochs `0..=epochs_done` verbatim (a line
/// cut by a crash, or written after the checkpoint, is dropped).
fn metrics_up_to(path: &Path, epochs_done: usize) -> Result<Vec<(String, EpochMetrics)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let kept: Vec<(String, EpochMetrics)> = text
        .lines()
        .filter_map(|l| {
            Some((
                format!("{l}\n"),
                serde_json::from_str::<EpochMetrics>(l).ok()?,
            ))
        })
        .filter(|(_, m)| m.epoch <= epochs_done)
        .collect();
    if kept.len() != epochs_done + 1 || kept.iter().enumerate().any(|(i, (_, m))| m.epoch != i) {
        return Err(Error::format(
            path,
            Message::from(format!(
                "holds metrics for epochs {:?}, but the checkpoint is at epoch {epochs_done}: \
                 the run directory is inconsistent; start again without ",
                kept.iter().map(|(_, m)| m.epoch).collect::<Vec<_>>()
            ))
            .setting("resume")
            .text(" in a new ")
            .setting("out"),
        ));
    }
    Ok(kept)
}

/// Removes temporary files a killed run left behind (`.NAME.tmp-PID`), and says so.
fn remove_stale_temporaries(dir: &Path) -> Vec<Message> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with('.') && n.contains(".tmp-")
        })
        .filter_map(|e| {
            std::fs::remove_file(e.path()).ok().map(|_| {
                Message::from(format!(
                    "removed {}, left by an interrupted write",
                    e.path().display()
                ))
            })
        })
        .collect()
}

fn run_typed<T: Real>(job: RunJob<'_>) -> Result<RunSummary> {
    let RunJob {
        config,
        transform,
        train_data,
        test_data,
        out_dir,
        resume,
        zero_inputs,
        progress,
    } = job;
    let metrics_path = out_dir.join(METRICS_FILE);
    let checkpoint_path = out_dir.join(CHECKPOINT_FILE);
    let model_path = out_dir.join(MODEL_FILE);
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let previous_path = out_dir.join(PREVIOUS_CHECKPOINT_FILE);
    let mut notes = remove_stale_temporaries(out_dir);
    let existing = [&metrics_path, &checkpoint_path, &previous_path, &model_path]
        .iter()
        .any(|p| p.exists());
    let mut state = TrainState::<T>::initial(config);
    let mut kept = Vec::new();
    if resume && (checkpoint_path.exists() || previous_path.exists()) {
        let checkpoint = match load_checkpoint::<T>(&checkpoint_path) {
            Ok(c) => c,
            Err(latest) => match load_checkpoint::<T>(&previous_path) {
                Ok(c) => {
                    // The corrupt file goes, so that the next checkpoint keeps the good one as previous.
                    let _ = std::fs::remove_file(&checkpoint_path);
                    notes.push(Message::from(format!(
                        "{} is unusable ({latest}); resumed from the previous checkpoint, epoch {}",
                        checkpoint_path.display(),
                        c.state.epochs_done
                    )));
                    c
                }
                Err(_) if !checkpoint_path.exists() => return Err(latest),
                Err(prev) => {
                    return Err(Error::format(
                        &checkpoint_path,
                        Message::from(format!(
                            "the checkpoint cannot be used ({latest}) and neither can the \
                             previous one ({prev}); start again without "
                        ))
                        .setting("resume"),
                    ))
                }
            },
        };
        let (saved, saved_config) = (checkpoint.state, checkpoint.config);
        check_same_data(&saved_config, config, &checkpoint_path)?;
        notes.extend(check_same_threads(checkpoint.threads, &checkpoint_path)?);
        if !saved_config.same_run_as(config) {
            return Err(Error::config(
                "resume",
                Message::from(format!(
                    "{} was written by a different configuration; only ",
                    checkpoint_path.display()
                ))
                .setting("epochs")
                .text(format!(
                    " may change on resume.\n  saved: {}\n  now:   {}",
                    serde_json::to_string(&saved_config).unwrap_or_default(),
                    serde_json::to_string(config).unwrap_or_default()
                )),
            ));
        }
        kept = metrics_up_to(&metrics_path, saved.epochs_done)?;
        if saved.epochs_done >= config.epochs() {
            notes.push(
                Message::from(format!(
                    "nothing to train: the checkpoint is at epoch {} and ",
                    saved.epochs_done
                ))
                .setting("epochs")
                .text(format!(
                    " is {}; the model and summary are those of epoch {}; pass a larger ",
                    config.epochs(),
                    saved.epochs_done
                ))
                .setting("epochs")
                .text(" to continue"),
            );
        }
        state = saved;
    } else if resume {
        notes.push(Message::default().setting("resume").text(format!(
            ": {} holds no checkpoint; started a new run from epoch 0",
            out_dir.display()
        )));
    } else if existing {
        return Err(Error::config(
            "out",
            Message::from(format!("{} already holds a run; pass ", out_dir.display()))
                .setting("resume")
                .text(" to continue it, or choose another ")
                .setting("out"),
        ));
    }
    let resumed_from_epoch = state.epochs_done;
    write_atomic(
        &out_dir.join(CONFIG_FILE),
        serde_json::to_string_pretty(config)
            .expect("config serialises")
            .as_bytes(),
    )?;
    // The kept metrics, rewritten atomically; each epoch replaces the file again.
    let metrics_text: String = kept.iter().map(|(line, _)| line.as_str()).collect();
    write_atomic(&metrics_path, metrics_text.as_bytes())?;
    let total_steps = (config.steps_per_epoch() * config.epochs()) as u64;
    progress.start(total_steps, state.optimizer.steps);
    let mut observer = DiskObserver {
        config,
        metrics_text,
        metrics_path: metrics_path.clone(),
        checkpoint_path,
        last: kept.last().map(|(_, m)| m.clone()),
        progress,
    };
    let state = train(config, train_data, test_data, state, &mut observer)?;
    let final_metrics = observer.last.clone().expect("at least epoch 0 is reported");
    match super::compat::dead_units(&state.net, &train_data.x) {
        0 => {}
        dead if dead == config.width() => notes.push(Message::from(format!(
            "every hidden unit is dead (zero on every training input), so the network outputs \
             a constant and no gradient can change W; the learning rate ({:e}) is likely too large",
            config.lr()
        ))),
        dead => notes.push(Message::from(format!(
            "{dead} of {} hidden units are dead (zero on every training input)",
            config.width()
        ))),
    }
    let classes = matches!(train_data.targets, Targets::Classes { .. });
    let model = TrainedModel::new(state.net, transform.clone(), config.clone(), classes)?;
    save_model(&model_path, &model)?;
    let summary = RunSummary {
        config: config.clone(),
        data: train_data.name.clone(),
        train_samples: train_data.len(),
        test_samples: test_data.len(),
        zero_inputs,
        resumed_from_epoch,
        notes,
        final_metrics,
        out_dir: out_dir.to_path_buf(),
        model: model_path,
        metrics: metrics_path,
    };
    write_atomic(
        &out_dir.join(SUMMARY_FILE),
        serde_json::to_string_pretty(&summary)
            .expect("summary serialises")
            .as_bytes(),
    )?;
    Ok(summary)
}
