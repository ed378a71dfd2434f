//! The `diversenet` command line: a thin layer that parses flags, calls the library and
//! prints results (the commands live in `cli/`). Every command that writes a result also
//! takes `--json PATH`.

mod cli;

use clap::{Parser, Subcommand};

use cli::bench::BenchCommand;
use cli::fetch::FetchArgs;
use cli::reproduce::ReproduceArgs;
use cli::theory::{AnalyzeArgs, SpectrumArgs};
use cli::train::{EvalArgs, TrainArgs};

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
    /// Memory budget: a command whose estimated memory exceeds it is refused before it
    /// starts, with the largest setting that fits (e.g. 8G, 500M, 2GiB; K/M/G/T are
    /// powers of 1000). Default: 80% of the memory available when the command starts.
    #[arg(long, global = true)]
    max_memory: Option<String>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
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

fn main() {
    // Exit quietly when stdout is closed early (`diversenet ... | head`).
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {}", cli::spelling::error_chain(&e));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    diversenet::limits::check_threads(cli.threads)?;
    let budget = cli
        .max_memory
        .as_deref()
        .map(diversenet::limits::parse_size)
        .transpose()?;
    diversenet::limits::set_memory_budget(budget);
    diversenet::linalg::set_threads(cli.threads);
    if cli.threads > 0 {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(cli.threads)
            .build_global();
    }
    match cli.command {
        Command::Train(a) => cli::train::train(a),
        Command::Eval(a) => cli::train::eval(a),
        Command::Analyze(a) => cli::theory::analyze(a),
        Command::Spectrum(a) => cli::theory::spectrum(a),
        Command::Reproduce(a) => cli::reproduce::reproduce(a),
        Command::Fetch(a) => cli::fetch::fetch(a),
        Command::Bench { what } => cli::bench::bench(what),
    }
}
