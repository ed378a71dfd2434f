//! `analyze` on ReLU MLPs of any depth with biases: the flags of the empirical NTK
//! (`--ntk`, `--layers`), loading an MLP with its data, and the per-layer table; and
//! `bench ntk`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

use diversenet::data::{InputScaling, InputTransform};
use diversenet::error::{Error, Expected};
use diversenet::linalg::Cancel;
use diversenet::mlp::load::{load_mlp, MlpFile};
use diversenet::mlp::Mlp;
use diversenet::model::compat::check_data_shape;
use diversenet::theory::analyze::AnalysisOptions;
use diversenet::theory::mlp_analysis::{analyze_mlp, NtkOptions, NtkReport};
use diversenet::theory::ntk::NtkForm;
use diversenet_repro::bench_ntk;

use super::data_args::{choose_split, DataArgs, ModelArgs};
use super::spelling::Flags;
use super::write_json;

#[derive(Args, Clone)]
pub struct NtkArgs {
    /// full | trace: the empirical NTK measured, (m c) x (m c) over samples and outputs
    /// (the loss bound is about this one), or m x m summed over the outputs (what most
    /// papers report; no bound for c > 1).
    #[arg(long, default_value = "full")]
    pub ntk: String,
    /// Layers whose eNTK blocks are measured and summed for the network's row, numbered
    /// from 1 (input side first; the output layer is the last), e.g. 1,3. Default: all.
    #[arg(long, value_delimiter = ',')]
    pub layers: Option<Vec<usize>>,
}

impl NtkArgs {
    pub fn options(&self) -> Result<NtkOptions> {
        Ok(NtkOptions {
            form: self.ntk.parse()?,
            layers: self.layers.clone(),
        })
    }
}

/// The network of `--model` when it is a ReLU MLP that the paper network's loader does
/// not read (an nn.Sequential with biases or depth, a `.npz`), else `None`.
pub fn general_mlp(model: &ModelArgs) -> Result<Option<Mlp>> {
    let Some(path) = &model.model else {
        return Ok(None);
    };
    Ok(match load_mlp(path)? {
        MlpFile::Mlp(mlp) => Some(mlp),
        MlpFile::Network(_) => None,
    })
}

/// What `analyze` measures on a general MLP, and where it writes it.
pub struct MlpRun<'a> {
    pub model: &'a ModelArgs,
    pub data: &'a DataArgs,
    pub seed: u64,
    pub split: &'a str,
    pub options: AnalysisOptions,
    pub ntk: &'a NtkArgs,
    pub json: Option<&'a Path>,
}

/// `analyze` on a general MLP: loads the split of the data (inputs scaled as
/// `--input-scaling` says, raw by default, fitted on the training split), measures, prints
/// the per-layer table and writes the JSON.
pub fn analyze(mlp: Mlp, run: MlpRun<'_>) -> Result<()> {
    let ntk = run.ntk.options()?;
    let (train, test) = run.data.load(run.seed)?;
    let scaling: InputScaling = run
        .model
        .input_scaling
        .as_deref()
        .unwrap_or("raw")
        .parse()?;
    let transform = InputTransform::fit_checked(
        scaling,
        &train.x,
        &train.name,
        train.feature_names.as_deref(),
    )?;
    let (mut dataset, split) = choose_split(train, test, run.split)?;
    let name = run.model.describe();
    check_data_shape(mlp.dim(), mlp.outputs(), None, Path::new(&name), &dataset)?;
    transform.apply(&mut dataset.x);
    let a = analyze_mlp(&mlp, &dataset, &run.options, &ntk, Cancel::NEVER)
        .map_err(|e| anyhow::anyhow!("{name}: {}", e.render(&Flags)))?;
    let r = &a.report;
    println!(
        "theory diagnostics of {name} on {} ({} of {} points; a ReLU MLP {}, {} parameters)",
        dataset.name,
        r.points_used,
        r.points_total,
        widths_text(&r.widths),
        mlp.parameters()
    );
    println!("  inputs scaled with --input-scaling {scaling}");
    print_layers(r);
    write_analysis(run.json, &a, scaling, &split)
}

/// `analyze --json`: the analysis, with the scaling the inputs were measured in and the
/// split they came from (the analysis itself only sees the scaled points).
pub fn write_analysis(
    path: Option<&Path>,
    analysis: &impl serde::Serialize,
    scaling: InputScaling,
    split: &str,
) -> Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let mut value = serde_json::to_value(analysis)?;
    if let Some(fields) = value.as_object_mut() {
        fields.insert("input_scaling".into(), serde_json::json!(scaling));
        fields.insert("split".into(), serde_json::json!(split));
    }
    write_json(Some(path), &value)
}

/// `784-100-10`.
fn widths_text(widths: &[usize]) -> String {
    widths
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

/// The per-layer table and the network's row of the eNTK analysis.
pub fn print_layers(r: &NtkReport) {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4e}"));
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
    println!(
        "  empirical NTK, {} form ({} x {}); squared loss L = {}",
        r.ntk,
        r.ntk_size,
        r.ntk_size,
        opt(r.loss)
    );
    println!(
        "  {:>5} {:>7} {:>11} {:>4} {:>6} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}  method",
        "layer",
        "kind",
        "shape",
        "bias",
        "dead",
        "s_min",
        "||grad_l||",
        "bound",
        "L/bound",
        "L2^2",
        "L2^2 [w;b]"
    );
    for l in &r.layers {
        println!(
            "  {:>5} {:>7} {:>11} {:>4} {:>6} {:>11.4e} {:>11} {:>11} {:>11} {:>11} {:>11}  {}{}",
            l.layer,
            l.kind,
            format!("{}x{}", l.width, l.inputs),
            if l.bias { "yes" } else { "no" },
            pct(l.dead_fraction),
            l.s_min,
            opt(l.grad_norm),
            opt(l.bound),
            opt(l.loss_over_bound),
            opt(l.l2_discrepancy_sq),
            opt(l.l2_discrepancy_sq_with_bias),
            l.method,
            l.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    let n = &r.network;
    let chosen = n
        .layers
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    println!(
        "  network (layers {chosen}): lambda_min {:.4e}, lambda_max {:.4e}, condition number {}, \
         ||grad L|| {}, bound {}, L/bound {}  [{}{}]",
        n.lambda_min,
        n.lambda_max,
        opt(n.condition_number),
        opt(n.grad_norm),
        opt(n.bound),
        opt(n.loss_over_bound),
        n.method,
        n.reason
            .as_ref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    if let Some(note) = &r.bound_note {
        println!("  note: {note}");
    }
}

#[derive(Args)]
pub struct NtkBenchArgs {
    /// Point counts m.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000")]
    pub points: Vec<usize>,
    /// The eNTK forms timed: trace (m x m), full ((m c) x (m c)).
    #[arg(long, value_delimiter = ',', default_value = "trace,full")]
    pub forms: Vec<String>,
    /// Widths of the MLP, input first (every layer has a bias).
    #[arg(long, value_delimiter = ',', default_value = "784,100,100,10")]
    pub widths: Vec<usize>,
    /// Seed of the network and the points.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the network (mlp.safetensors) and the points (points.npy) are written for
    /// `bench/torch_ntk.py`.
    #[arg(long, default_value = "ntk-bench")]
    pub out: std::path::PathBuf,
    /// Also write the figures to this JSON file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// `bench ntk`: every run's memory checked first, the inputs written, then one timed run
/// per point count and form.
pub fn bench(args: NtkBenchArgs) -> Result<()> {
    let forms = args
        .forms
        .iter()
        .map(|f| f.parse::<NtkForm>())
        .collect::<diversenet::Result<Vec<_>>>()?;
    let mlp = bench_ntk::torch_like_mlp(&args.widths, args.seed)?;
    let most = args.points.iter().copied().max().unwrap_or(0);
    if most == 0 {
        return Err(Error::setting(
            "points",
            0,
            Expected::AtLeast {
                min: 1,
                unit: "point",
            },
        )
        .into());
    }
    bench_ntk::check_ntk_runs(&mlp, &args.points, &forms)?;
    let x = bench_ntk::sphere_points(most, mlp.dim(), args.seed);
    bench_ntk::save_inputs(&args.out, &mlp, &x)?;
    println!(
        "network and points written to {} (for bench/torch_ntk.py)",
        args.out.display()
    );
    let mut results = Vec::new();
    for &m in &args.points {
        for &form in &forms {
            let r = bench_ntk::bench_ntk(&mlp, &x, m, form)?;
            println!("{}", bench_ntk::describe(&r));
            results.push(r);
        }
    }
    write_json(args.json.as_deref(), &results)
}
