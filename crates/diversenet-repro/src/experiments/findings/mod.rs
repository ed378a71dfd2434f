//! From typed run results to findings: claims with verdicts computed by stated rules
//! ([`rules`]), consistency checks (identities that cannot fail, reported with their
//! numbers apart from the findings), and the report files (`report.md`, `report.html`,
//! `results.json`, CSV files, SVG plots). Each experiment's section is built by its own
//! module (`loss_bound::report`, ...); this module gathers them.

pub mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::document::{html, markdown, Block};
use crate::report::plot::{svg, PlotSpec, Series};
use diversenet::error::Result;
use diversenet::files::write_atomic;

use super::plan::Plan;
use super::{Experiment, Results};

pub use rules::Verdict;

/// One row of the claims table (and of `results.json`'s `"claims"`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Claim {
    /// Stable identifier, e.g. `rq5-synthetic-gain`.
    pub id: String,
    /// What is claimed (the paper's finding, or the identity checked).
    pub claim: String,
    pub verdict: Verdict,
    /// The deciding statistic, in words and numbers.
    pub statistic: String,
    /// What the verdict rests on (cells, seeds, rule).
    pub evidence: String,
    /// The report section (HTML anchor) with the tables and plots.
    pub section: String,
}

/// One experiment's part of the report.
#[derive(Default)]
pub struct Section {
    pub blocks: Vec<Block>,
    pub claims: Vec<Claim>,
    pub csv: Vec<(String, String)>,
    pub numbers: BTreeMap<String, Value>,
}

impl Section {
    pub fn new(e: Experiment) -> Self {
        let mut s = Self::default();
        s.blocks.push(Block::Heading(2, e.title().into()));
        s
    }
    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph(text.into()));
    }
    pub fn plot(&mut self, file: &str, caption: &str, spec: PlotSpec<'_>, series: &[Series]) {
        self.blocks.push(Block::Plot {
            file: format!("plots/{file}"),
            caption: caption.to_string(),
            svg: svg(&spec, series),
        });
    }
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) {
        self.blocks.push(Block::Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        });
    }
    /// The configuration, folded.
    pub fn config(&mut self, value: &impl serde::Serialize) {
        self.blocks.push(Block::Details {
            summary: "Configuration".into(),
            body: serde_json::to_string_pretty(value).expect("serialises"),
        });
    }
    pub fn claim(
        &mut self,
        e: Experiment,
        id: &str,
        claim: impl Into<String>,
        verdict: Verdict,
        statistic: impl Into<String>,
        evidence: impl Into<String>,
    ) {
        self.claims.push(Claim {
            id: id.into(),
            claim: claim.into(),
            verdict,
            statistic: statistic.into(),
            evidence: evidence.into(),
            section: e.anchor(),
        });
    }
}

/// "1e-3", "3.2e-3", "0.3", "10": a lambda or a small value, compactly.
pub fn fmt_value(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if (0.01..1e4).contains(&v.abs()) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    }
}

/// Every section of the report, from the results.
pub fn sections(plan: &Plan, results: &Results, mnist_note: Option<&str>) -> Vec<Section> {
    vec![
        super::loss_bound::report::section(&plan.loss_bound, results),
        super::diversity::report::section(&plan.diversity, results),
        super::kernel::report::section(&plan.kernel, results),
        super::synthetic_reg::report::section(&plan.synthetic, results),
        super::mnist_reg::report::section(&plan.mnist, results, mnist_note),
    ]
}

/// The command that regenerates the report: the plan and MNIST's directory where one was
/// given (`data_dir`); the results directory is DIR.
pub fn regenerate_command(quick: bool, data_dir: Option<&Path>) -> String {
    let mut cmd = "diversenet reproduce --out DIR".to_string();
    if quick {
        cmd += " --quick";
    }
    if let Some(dir) = data_dir {
        cmd += &format!(
            " --data-dir {}",
            crate::report::document::shell_word(&dir.display().to_string())
        );
    }
    cmd
}

/// Writes the report and its files under `out`; returns the path of `report.md`.
/// `data_dir` is MNIST's directory where the command named one.
pub fn render(
    out: &Path,
    plan: &Plan,
    results: &Results,
    mnist_note: Option<&str>,
    wall_seconds: f64,
    data_dir: Option<&Path>,
) -> Result<PathBuf> {
    let cmd = regenerate_command(plan.quick, data_dir);
    let sections = sections(plan, results, mnist_note);
    let claims: Vec<Claim> = sections.iter().flat_map(|s| s.claims.clone()).collect();
    let computation: f64 = results.runs.iter().map(|s| s.seconds).sum();
    let (findings, checks): (Vec<&Claim>, Vec<&Claim>) = claims
        .iter()
        .partition(|c| c.verdict != Verdict::ConsistencyCheck);
    let row = |c: &&Claim| {
        vec![
            format!("[{}](#{})", c.id, c.section),
            c.claim.clone(),
            c.statistic.clone(),
            c.verdict.label().into(),
        ]
    };
    let mut blocks = vec![
        Block::Heading(1, format!("Reproduction of Xie, Liang & Song (AISTATS 2017){}", if plan.quick { " — quick run" } else { "" })),
        Block::Paragraph(format!(
            "Every number, verdict and plot below was computed by diversenet {} from {} stored runs ({:.0} s of computation; \
             {:.0} s of wall time over the invocations that ran them). Regenerate with the command below; finished runs are \
             reused. Each table and plot was made by it.",
            env!("CARGO_PKG_VERSION"),
            results.runs.len(),
            computation,
            wall_seconds,
        )),
        Block::Code(cmd),
        Block::Heading(2, "Claims".into()),
        Block::Paragraph("Findings of the paper, each with a verdict computed from the numbers by the rule in its evidence \
            column; significant harms are listed as well as gains.".into()),
        Block::Table {
            header: vec!["id".into(), "claim".into(), "statistic".into(), "verdict".into()],
            rows: findings.iter().map(row).collect(),
        },
        Block::Heading(2, "Consistency checks".into()),
        Block::Paragraph("Identities and theorems that hold by construction (they cannot fail for a correct \
            implementation): they check the code, not the paper's claims.".into()),
        Block::Table {
            header: vec!["id".into(), "identity".into(), "numbers".into(), "verdict".into()],
            rows: checks.iter().map(row).collect(),
        },
        Block::Details {
            summary: "Evidence and verdict rules".into(),
            body: claims.iter().map(|c| format!("{}: {}", c.id, c.evidence)).collect::<Vec<_>>().join("\n"),
        },
    ];
    let mut csv = Vec::new();
    let mut numbers = BTreeMap::new();
    for s in sections {
        blocks.extend(s.blocks);
        csv.extend(s.csv);
        numbers.extend(s.numbers);
    }
    std::fs::create_dir_all(out.join("plots"))
        .map_err(|e| diversenet::error::Error::io(out.join("plots"), e))?;
    for b in &blocks {
        if let Block::Plot { file, svg, .. } = b {
            write_atomic(&out.join(file), svg.as_bytes())?;
        }
    }
    for (name, text) in &csv {
        write_atomic(&out.join(name), text.as_bytes())?;
    }
    let results_json = serde_json::json!({
        "plan": plan.summary(),
        "claims": claims,
        "numbers": numbers,
        "wall_seconds": wall_seconds,
        "runs": results.runs.iter().map(|s| serde_json::json!({"spec": s.spec, "outcome": s.outcome, "seconds": s.seconds})).collect::<Vec<_>>(),
    });
    write_atomic(
        &out.join("results.json"),
        serde_json::to_string_pretty(&results_json)
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
