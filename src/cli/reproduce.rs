//! `reproduce`: the paper's findings as a report, with progress bars.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use diversenet::experiments::{self, Experiment, ReproduceOptions, ReproduceProgress};

use super::write_json;

#[derive(Args)]
pub struct ReproduceArgs {
    /// Output directory (results are stored and reused there).
    #[arg(long)]
    out: PathBuf,
    /// Smaller sizes and fewer seeds: about a minute on 2 cores (69 s measured, MNIST included).
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
        // Straight to stderr when the bars are not drawn (--quiet, or not a terminal).
        if self.quiet || self.multi.is_hidden() {
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

pub fn reproduce(args: ReproduceArgs) -> Result<()> {
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
