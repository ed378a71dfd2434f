//! From stored run results to findings: statistics, verdicts computed from the numbers,
//! plots, and the report (`report.md`, `report.html`, `results.json`, CSV files, SVGs).
//! One module per experiment; this one holds the claims and writes the files.

mod diversity;
mod loss_bound;
mod regularizer;
mod spectrum;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Result;
use crate::files::write_atomic;
use crate::report::document::{html, markdown, Block};
use crate::report::plot::{svg, PlotSpec, Series};

use super::stats::{mean_sd, Correlation};
use super::{Experiment, Plan, StoredRun};

/// A verdict computed from the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    Reproduced,
    Partly,
    NotReproduced,
    NotRun,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Self::Reproduced => "reproduced",
            Self::Partly => "partly",
            Self::NotReproduced => "not reproduced",
            Self::NotRun => "not run",
        }
    }
}

/// One row of the claims table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Claim {
    pub finding: String,
    pub paper: String,
    pub ours: String,
    pub verdict: Verdict,
    pub rule: String,
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// The numbers `keys` of a result as CSV fields.
fn csv_fields(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .map(|k| num(v, k).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn fmt_mean_sd(x: &[f64], scale: f64, digits: usize) -> String {
    let (m, s) = mean_sd(x);
    format!("{:.*} ± {:.*}", digits, m * scale, digits, s * scale)
}

fn fmt_corr(c: &Correlation) -> String {
    format!(
        "ρ = {:.2} [{:.2}, {:.2}] (n = {})",
        c.rho, c.ci_low, c.ci_high, c.n
    )
}

/// Verdict for a rank correlation expected to have sign `sign` (+1 or -1).
fn correlation_verdict(c: &Correlation, sign: f64) -> Verdict {
    if c.rho * sign > 0.0 && c.ci_low * sign > 0.0 && c.ci_high * sign > 0.0 {
        Verdict::Reproduced
    } else if c.rho * sign > 0.0 {
        Verdict::Partly
    } else {
        Verdict::NotReproduced
    }
}

struct Report {
    blocks: Vec<Block>,
    claims: Vec<Claim>,
    csv: Vec<(String, String)>,
    numbers: BTreeMap<String, Value>,
}

impl Report {
    fn plot(&mut self, file: &str, caption: &str, spec: PlotSpec<'_>, series: &[Series]) {
        self.blocks.push(Block::Plot {
            file: format!("plots/{file}"),
            caption: caption.to_string(),
            svg: svg(&spec, series),
        });
    }
    fn config(&mut self, value: Value) {
        self.blocks.push(Block::Paragraph("Configuration:".into()));
        self.blocks.push(Block::Code(
            serde_json::to_string_pretty(&value).expect("serialises"),
        ));
    }
}

fn of(runs: &[(Experiment, StoredRun)], e: Experiment) -> impl Iterator<Item = &StoredRun> {
    runs.iter().filter(move |(x, _)| *x == e).map(|(_, r)| r)
}

/// Writes the report and its files under `out`; returns the path of `report.md`.
pub fn render(
    out: &Path,
    plan: &Plan,
    runs: &[(Experiment, StoredRun)],
    mnist_note: Option<&str>,
) -> Result<PathBuf> {
    let cmd = format!(
        "diversenet reproduce --out DIR{}",
        if plan.quick { " --quick" } else { "" }
    );
    let mut r = Report {
        blocks: Vec::new(),
        claims: Vec::new(),
        csv: Vec::new(),
        numbers: BTreeMap::new(),
    };
    loss_bound::loss_bound_section(&mut r, plan, runs, &cmd);
    diversity::diversity_section(&mut r, plan, runs, &cmd);
    spectrum::spectrum_section(&mut r, plan, runs, &cmd)?;
    regularizer::synthetic_reg_section(&mut r, plan, runs, &cmd);
    regularizer::mnist_section(&mut r, plan, runs, mnist_note, &cmd);
    let total_seconds: f64 = runs.iter().map(|(_, s)| s.seconds).sum();
    let mut head = vec![
        Block::Heading(1, format!("Reproduction of Xie, Liang & Song (AISTATS 2017){}", if plan.quick { " — quick run" } else { "" })),
        Block::Paragraph(format!(
            "Every number, verdict and plot below was computed by diversenet {} from {} stored runs ({:.0} s of computation). \
             Regenerate with the command below; finished runs are reused, so it only renders again.",
            env!("CARGO_PKG_VERSION"),
            runs.len(),
            total_seconds
        )),
        Block::Code(cmd.clone()),
        Block::Heading(2, "Claims".into()),
        Block::Table {
            header: vec!["finding".into(), "paper".into(), "ours".into(), "verdict".into()],
            rows: r.claims.iter().map(|c| vec![c.finding.clone(), c.paper.clone(), c.ours.clone(), c.verdict.label().into()]).collect(),
        },
        Block::Paragraph(format!("Verdict rules: {}", r.claims.iter().map(|c| format!("{}: {}", c.finding, c.rule)).collect::<Vec<_>>().join(" — "))),
    ];
    head.append(&mut r.blocks);
    let blocks = head;
    std::fs::create_dir_all(out.join("plots"))
        .map_err(|e| crate::error::Error::io(out.join("plots"), e))?;
    for b in &blocks {
        if let Block::Plot { file, svg, .. } = b {
            write_atomic(&out.join(file), svg.as_bytes())?;
        }
    }
    for (name, text) in &r.csv {
        write_atomic(&out.join(name), text.as_bytes())?;
    }
    let results = serde_json::json!({
        "plan": plan,
        "claims": r.claims,
        "numbers": r.numbers,
        "runs": runs.iter().map(|(e, s)| serde_json::json!({"experiment": e, "spec": s.spec, "result": s.result, "seconds": s.seconds})).collect::<Vec<_>>(),
    });
    write_atomic(
        &out.join("results.json"),
        serde_json::to_string_pretty(&results)
            .expect("serialises")
            .as_bytes(),
    )?;
    write_atomic(&out.join("report.md"), markdown(&blocks).as_bytes())?;
    write_atomic(
        &out.join("report.html"),
        html("diversenet reproduction", &blocks).as_bytes(),
    )?;
    Ok(out.join("report.md"))
}
