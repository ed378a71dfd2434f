//! `analyze` and `spectrum`: the theory's quantities on a model, and the kernel spectrum.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use diversenet::files::write_atomic;
use diversenet::linalg::Cancel;
use diversenet::mlp::Mlp;
use diversenet::model::foreign::LoadedNetwork;
use diversenet::model::Loss;
use diversenet::theory::mlp_analysis::analyze_mlp;
use diversenet::theory::{self, AnalysisOptions};
use diversenet_repro::report::plot::{self, PlotSpec, Series};

use super::data_args::{model_and_data, DataArgs, ModelArgs};
use super::ntk::{self, NtkArgs};
use super::spelling::Flags;
use super::write_json;

#[derive(Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Seed of the synthetic data or csv/npy split, and of the sub-sample (default: the
    /// training run's seed, from the model file).
    #[arg(long)]
    seed: Option<u64>,
    /// train | test: which part of the data the quantities are measured on. The default is
    /// train, unlike eval's test: the theory's bound is about the training loss at the
    /// weights training reached, while eval scores generalisation.
    #[arg(long, default_value = "train")]
    split: String,
    /// Points m of a seeded sub-sample (default: the largest m with m c <= 2000, so that
    /// D^T D is at most 2000 x 2000, and m c <= n d, so that s_m(D) is not 0 by rank).
    #[arg(long)]
    points: Option<usize>,
    /// Use every point of the split (the Gram matrix is m c x m c: mind the memory).
    #[arg(long, conflicts_with = "points")]
    all_points: bool,
    /// Also estimate the L2 discrepancy by Monte Carlo with this many (x, y) pairs.
    #[arg(long)]
    monte_carlo: Option<usize>,
    #[command(flatten)]
    ntk: NtkArgs,
    /// Also write every measurement to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
pub struct SpectrumArgs {
    /// Input dimension d (the sphere S^(d-1)).
    #[arg(long)]
    dim: usize,
    /// Highest degree u.
    #[arg(long, default_value_t = 20)]
    max_degree: usize,
    /// Also write the spectrum (exact multiplicities, error bounds) to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// SVG plot of gamma_(m) and m gamma_(m) against the rank m.
    #[arg(long)]
    svg: Option<PathBuf>,
}

pub fn analyze(args: AnalyzeArgs) -> Result<()> {
    let options = |seed| AnalysisOptions {
        points: args.points,
        all_points: args.all_points,
        seed,
        monte_carlo: args.monte_carlo,
    };
    // ReLU MLPs with biases or depth: the per-layer eNTK analysis alone.
    if let Some(mlp) = ntk::general_mlp(&args.model)? {
        let seed = args.seed.unwrap_or(0);
        return ntk::analyze(
            mlp,
            ntk::MlpRun {
                model: &args.model,
                data: &args.data,
                seed,
                split: &args.split,
                options: options(seed),
                ntk: &args.ntk,
                json: args.json.as_deref(),
            },
        );
    }
    let measured = model_and_data(&args.model, &args.data, args.seed, &args.split)?;
    let mlp = Mlp::from_weights(&measured.weights);
    let analysis = analyze_mlp(
        &mlp,
        &measured.dataset,
        &options(measured.seed),
        &args.ntk.options()?,
        Cancel::NEVER,
    )
    .map_err(|e| anyhow::anyhow!("{}: {}", args.model.describe(), e.render(&Flags)))?;
    let a = analysis
        .paper
        .as_ref()
        .expect("the paper's network has its analysis");
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.6e}"));
    // The loss and its gradient norm: null for a reason the analysis gives.
    let loss_value = |v: Option<f64>| match (v, &a.loss_reason) {
        (None, Some(why)) => format!("n/a ({why})"),
        (v, _) => opt(v),
    };
    // On the sphere the paper's lambda_min(K) - ||E_W||_2; off it, ||E_W||_2 is weighted by
    // r^2 = max ||x||^2 (the Schur bound), and the label says so.
    let lower_bound_label = if a.kernel_bound_factor == 1.0 {
        "lambda_min(K) - ||E_W||_2".to_string()
    } else {
        format!(
            "lambda_min(K) - r^2 ||E_W||_2 (r^2 = max ||x||^2 = {:.4e})",
            a.kernel_bound_factor
        )
    };
    println!(
        "theory diagnostics of {} on {} ({} of {} points, d = {}, n = {}, c = {})",
        args.model.describe(),
        measured.dataset.name,
        a.points_used,
        a.points_total,
        a.dim,
        a.width,
        a.outputs
    );
    if let Some(note) = measured.foreign_note() {
        println!("  {note}");
    }
    match measured.split.as_str() {
        "all" => println!("  measured on every row of the data (no held-out split)"),
        split => println!("  measured on the {split} split (--split)"),
    }
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
        ("squared loss L", loss_value(a.loss)),
        ("||grad_W L||", loss_value(a.grad_norm)),
        ("bound m||grad||^2/(2 s^2)", opt(a.bound)),
        ("L / bound (<= 1)", opt(a.loss_over_bound)),
        (
            "lambda_min(K)",
            format!(
                "{:.6e}{}",
                a.lambda_min_k,
                a.lambda_min_k_reason
                    .as_ref()
                    .map(|r| format!("  [{r}]"))
                    .unwrap_or_default()
            ),
        ),
        ("||E_W||_2", format!("{:.6e}", a.e_w_norm)),
        (
            lower_bound_label.as_str(),
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
    if !a.zero_points.is_empty() {
        let shown: Vec<String> = a
            .zero_points
            .iter()
            .take(10)
            .map(|r| r.to_string())
            .collect();
        let more = a.zero_points.len().saturating_sub(10);
        println!(
            "  note: {} of the points used are zero (rows {}{} of the data as loaded, counted \
             from 0): kept, they have no direction and make s_m(D) and lambda_min(K) 0",
            a.zero_points.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    if let Some(mc) = &a.monte_carlo {
        println!(
            "  {:<28} {:.6e} +/- {:.1e} ({} samples)",
            "Monte Carlo L2^2", mc.estimate, mc.std_error, mc.samples
        );
    }
    if matches!(&measured.loaded, LoadedNetwork::Trained(m) if m.config().loss() == Loss::CrossEntropy)
    {
        println!(
            "  note: the model was trained with cross-entropy; the loss above is the theory's \
             squared loss on one-hot targets, ||Y - f(X)||^2 / (2m), the loss its bound is about"
        );
    }
    if a.outputs > 1 {
        println!(
            "  note: s_m(D)^2 / n is given for one output only: the identity (1/n) D^T D = K + \
             (X X^T) o E_W that relates it to lambda_min(K) - ||E_W||_2 holds for c = 1, and this \
             model has c = {}",
            a.outputs
        );
    }
    if !a.skipped_rows.is_empty() {
        println!(
            "  rows of W with no direction (zero), left out of the discrepancies: {:?}",
            a.skipped_rows
        );
    }
    ntk::print_layers(&analysis.report);
    ntk::write_analysis(
        args.json.as_deref(),
        &analysis,
        measured.scaling,
        &measured.split,
    )
}

/// 10^log10 in scientific notation (`6.8097e274`), also beyond f64's range.
fn scientific_from_log10(log10: f64) -> String {
    let exponent = log10.floor();
    let mut mantissa = 10f64.powf(log10 - exponent);
    let mut exponent = exponent as i64;
    if format!("{mantissa:.4}") == "10.0000" {
        mantissa = 1.0;
        exponent += 1;
    }
    format!("{mantissa:.4}e{exponent}")
}

pub fn spectrum(args: SpectrumArgs) -> Result<()> {
    let s = theory::spectrum::spectrum(args.dim, args.max_degree)?;
    println!(
        "{:>5} {:>14} {:>14} {:>12} {:>8}",
        "u", "gamma_u", "N(d,u)", "cumulative", "trusted"
    );
    let mut cumulative = 0.0;
    for e in &s.degrees {
        cumulative += e.weight();
        let summed = s.cumulative_up_to.is_some_and(|last| e.u <= last);
        let cumulative_text = if summed {
            format!("{cumulative:.8}")
        } else {
            "n/a".into()
        };
        let mult = e
            .multiplicity
            .filter(|n| *n < 1e12)
            .map_or(scientific_from_log10(e.log10_multiplicity), |n| {
                format!("{n:.0}")
            });
        println!(
            "{:>5} {:>14.6e} {:>14} {:>12} {:>8}",
            e.u, e.gamma, mult, cumulative_text, e.trusted
        );
    }
    match s.trusted_up_to {
        Some(u) if u == s.max_degree => println!("every degree up to {u} is trustworthy (relative error < 1e-6)"),
        Some(u) => println!("trustworthy up to degree {u} (relative error < 1e-6); higher degrees are estimates with the error bound in the JSON"),
        None => println!("no degree reached relative error 1e-6"),
    }
    if s.cumulative_up_to != Some(s.max_degree) {
        println!(
            "the cumulative sum stops at degree {}: the next degree's gamma_u is not known to \
             1e-6, and its rounding error times N(d,u) could exceed the whole sum",
            s.cumulative_up_to.map_or("-".into(), |u| u.to_string())
        );
    }
    let steps = s.ranked_steps();
    if let Some(path) = &args.svg {
        let gamma = Series::line("γ_(m)", steps.clone());
        let m_gamma = Series::line("m γ_(m)", steps.iter().map(|&(m, g)| (m, m * g)).collect());
        let title = format!("ReLU kernel spectrum on S^{}, degrees <= {} (diversenet spectrum --dim {} --max-degree {})", args.dim - 1, args.max_degree, args.dim, args.max_degree);
        let spec = PlotSpec::log_log(&title, "rank m", "eigenvalue");
        write_atomic(path, plot::svg(&spec, &[gamma, m_gamma]).as_bytes())?;
    }
    write_json(args.json.as_deref(), &s.report())
}
