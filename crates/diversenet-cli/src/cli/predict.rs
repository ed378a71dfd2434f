//! `predict`: a saved model's predictions on inputs, written as .npy or .csv.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use diversenet::data::inputs::read_inputs;
use diversenet::data::npy::{encode_npy_f64, encode_npy_i64};
use diversenet::data::{ClassLabels, InputScaling, InputTransform};
use diversenet::files::write_atomic;
use diversenet::linalg::Matrix;
use diversenet::model::foreign::LoadedNetwork;
use diversenet::model::predict::{class_indices, outputs, probabilities};
use diversenet::model::Loss;

use super::data_args::ModelArgs;

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The inputs: csv:PATH (the columns the model was trained on, by name; else every
    /// column but `label`, `target` or `y`) or npy:X.npy (an X.npy,Y.npy pair: X only).
    #[arg(long)]
    data: String,
    /// What to write: predict (a classifier's classes, else the real values), proba (class
    /// probabilities of a cross-entropy classifier) or decision (the raw outputs f(x)).
    #[arg(long, default_value = "predict")]
    kind: String,
    /// The file to write: .npy (classes as int64, else float64) or .csv (with a header).
    #[arg(long)]
    out: PathBuf,
}

/// What `predict` writes: one value per sample or a row per sample, with column names.
enum Table {
    Indices(Vec<usize>, ClassLabels),
    Values(Matrix<f64>, Vec<String>),
}

pub fn predict(args: PredictArgs) -> Result<()> {
    let format = match args.out.extension().and_then(|e| e.to_str()) {
        Some("npy") => "npy",
        Some("csv") => "csv",
        _ => bail!(
            "--out {}: name a .npy or .csv file (the format follows the extension)",
            args.out.display()
        ),
    };
    let loaded = args.model.load()?;
    let (transform, classes, loss, names) = match &loaded {
        LoadedNetwork::Trained(m) => (
            m.transform().clone(),
            m.class_labels().cloned(),
            Some(m.config().loss()),
            m.config().data().and_then(|r| r.feature_names.clone()),
        ),
        LoadedNetwork::Foreign(_) => {
            let scaling: InputScaling = args
                .model
                .input_scaling
                .as_deref()
                .unwrap_or("raw")
                .parse()?;
            if scaling == InputScaling::Standardise {
                bail!(
                    "--input-scaling standardise needs the statistics of the training data, \
                     which foreign weights do not carry: use raw or sphere, or save the model \
                     with its statistics (Python's Model.save)"
                );
            }
            let transform = InputTransform {
                scaling,
                mean: Vec::new(),
                scale: Vec::new(),
            };
            (transform, None, None, None)
        }
    };
    let x = read_inputs(&args.data, names.as_deref())?;
    let f = outputs(loaded.net(), &transform, x, &args.data)?;
    let c = f.cols();
    let numbered = |prefix: &str| (0..c).map(|j| format!("{prefix}{j}")).collect();
    let table = match (args.kind.as_str(), classes) {
        ("predict", Some(classes)) => Table::Indices(class_indices(&f), classes),
        ("predict", None) if f.cols() == 1 => Table::Values(f, vec!["prediction".into()]),
        ("predict", None) => Table::Values(f, numbered("prediction_")),
        ("proba", Some(classes)) if loss == Some(Loss::CrossEntropy) => {
            let names = (0..classes.len())
                .map(|j| format!("p_{}", classes.show(j).trim_matches('"')))
                .collect();
            Table::Values(probabilities(&f), names)
        }
        ("proba", _) => bail!(
            "--kind proba: class probabilities are the softmax of a classifier trained with \
             the cross-entropy loss; {} is not one (--kind decision writes its raw outputs)",
            args.model.describe()
        ),
        ("decision", _) => Table::Values(f, numbered("output_")),
        (other, _) => bail!("--kind {other}: expected predict, proba or decision"),
    };
    let bytes = match format {
        "npy" => npy(&table)?,
        _ => csv(&table),
    };
    write_atomic(&args.out, &bytes)?;
    let rows = match &table {
        Table::Indices(i, _) => i.len(),
        Table::Values(v, _) => v.rows(),
    };
    println!(
        "{} predictions ({}) of {} written to {}",
        rows,
        args.kind,
        args.model.describe(),
        args.out.display()
    );
    Ok(())
}

/// The table as a .npy array: integer classes as int64, real ones and values as float64
/// (one column: a 1-dimensional array); class names need a .csv file.
fn npy(table: &Table) -> Result<Vec<u8>> {
    Ok(match table {
        Table::Indices(idx, ClassLabels::Integers(c)) => {
            let v: Vec<i64> = idx.iter().map(|&j| c[j]).collect();
            encode_npy_i64(&[v.len()], &v)
        }
        Table::Indices(idx, ClassLabels::Reals(c)) => {
            let v: Vec<f64> = idx.iter().map(|&j| c[j]).collect();
            encode_npy_f64(&[v.len()], &v)
        }
        Table::Indices(_, ClassLabels::Names(_)) => {
            bail!("the model's classes are names, which a float or integer .npy cannot hold: write a .csv file")
        }
        Table::Values(m, _) if m.cols() == 1 => encode_npy_f64(&[m.rows()], m.as_slice()),
        Table::Values(m, _) => encode_npy_f64(&[m.rows(), m.cols()], m.as_slice()),
    })
}

/// The table as CSV with a header row (values in Rust's shortest round-trip form).
fn csv(table: &Table) -> Vec<u8> {
    let mut out = String::new();
    match table {
        Table::Indices(idx, classes) => {
            out.push_str("prediction\n");
            for &j in idx {
                out.push_str(classes.show(j).trim_matches('"'));
                out.push('\n');
            }
        }
        Table::Values(m, names) => {
            out.push_str(&names.join(","));
            out.push('\n');
            for i in 0..m.rows() {
                let row: Vec<String> = m.row(i).iter().map(|v| v.to_string()).collect();
                out.push_str(&row.join(","));
                out.push('\n');
            }
        }
    }
    out.into_bytes()
}
