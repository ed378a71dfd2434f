//! `reproduce`: the paper's findings as a report, with progress bars; `--plan` prints the
//! plan without running anything.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use diversenet_repro::experiments::{self, ReproduceOptions, ReproduceProgress, Shard};

use super::write_json;

#[derive(Args)]
pub struct ReproduceArgs {
    /// Output directory (results are stored and reused there). Not needed with --plan.
    #[arg(long, required_unless_present = "plan")]
    out: Option<PathBuf>,
    /// The quick plan, derived from the full one (fewer seeds, points and epochs): under a
    /// minute of computation on 2 cores.
    #[arg(long)]
    quick: bool,
    /// Print the plan (sizes, seeds, grids, number of runs, estimated compute) and exit.
    #[arg(long)]
    plan: bool,
    /// Run only share K of N (K/N, 0 <= K < N): N machines can fill one directory.
    #[arg(long)]
    shard: Option<Shard>,
    /// MNIST's directory (default: the cache directory, fetched there if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Never download MNIST (the MNIST experiment is skipped if it is missing).
    #[arg(long)]
    no_fetch: bool,
    /// Also write the outcome (or, with --plan, the plan) to this JSON file; with --plan and
    /// no path, print the plan as JSON.
    #[arg(long, num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

struct ReproduceBars {
    multi: indicatif::MultiProgress,
    overall: ProgressBar,
    bars: Vec<(&'static str, ProgressBar)>,
    quiet: bool,
}

impl ReproduceProgress for ReproduceBars {
    fn plan(&mut self, per: &[(&'static str, usize, usize)]) {
        let total: usize = per.iter().map(|p| p.2).sum();
        self.overall.inc_length(total as u64);
        let style = ProgressStyle::with_template("{prefix:<62} [{bar:25}] {pos}/{len} ({eta})")
            .expect("template")
            .progress_chars("=> ");
        for &(e, _, todo) in per {
            if todo == 0 {
                continue;
            }
            match self.bars.iter().find(|(x, _)| *x == e) {
                Some((_, b)) => b.inc_length(todo as u64),
                None => {
                    let b = self.multi.add(
                        ProgressBar::new(todo as u64)
                            .with_style(style.clone())
                            .with_prefix(e),
                    );
                    self.bars.push((e, b));
                }
            }
        }
    }
    fn run_done(&mut self, e: &'static str) {
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

fn print_plan(args: &ReproduceArgs) -> Result<()> {
    let summary = experiments::plan::summary(args.quick);
    match args.json.as_deref() {
        Some(p) if p.as_os_str() == "-" => {
            println!("{}", serde_json::to_string_pretty(&summary)?);
            return Ok(());
        }
        other => write_json(other, &summary)?,
    }
    println!(
        "{} plan: {} runs ({} at most, if every adaptive grid is widened fully), about {:.0} min of compute, \
         about {:.0} min of wall time on 2 cores ({})",
        if summary.quick { "quick" } else { "full" },
        summary.runs,
        summary.runs_at_most,
        summary.estimated_seconds / 60.0,
        summary.estimated_wall_seconds / 60.0,
        summary.estimate_note
    );
    for e in &summary.experiments {
        println!(
            "\n{}: {} runs{}, about {:.1} min",
            e.title,
            e.runs,
            if e.runs_at_most > e.runs {
                format!(" ({} at most)", e.runs_at_most)
            } else {
                String::new()
            },
            e.estimated_seconds / 60.0
        );
        if let Some(map) = e.sizes.as_object() {
            for (k, v) in map {
                println!("  {k}: {v}");
            }
        }
    }
    Ok(())
}

pub fn reproduce(args: ReproduceArgs) -> Result<()> {
    if args.plan {
        return print_plan(&args);
    }
    let out = args
        .out
        .clone()
        .expect("clap requires --out without --plan");
    super::check_output_dir(&out, "--out")?;
    super::check_json_path(args.json.as_deref(), None, &[])?;
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
        out,
        quick: args.quick,
        shard: args.shard,
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
    write_json(
        args.json.as_deref().filter(|p| p.as_os_str() != "-"),
        &outcome,
    )
}
