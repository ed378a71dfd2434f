//! The whole report from the stored runs: each registered experiment's section in order,
//! preceded by the claims tables (the paper's findings with their verdicts and scopes,
//! comparisons beyond the paper, consistency checks) and followed by nothing else; written
//! as `report.md`, a self-contained `report.html`, `results.json`, the CSV files and the
//! SVG plots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use diversenet::error::Result;
use diversenet::files::write_atomic;

use super::document::{html, markdown, Block};
use super::section::{Claim, ClaimTable, Section, Verdict};
use crate::experiments::{ReportContext, StoredRun, REGISTRY};

/// Every section of the report, in the registry's order.
pub fn sections(ctx: &ReportContext, runs: &[StoredRun]) -> Vec<Section> {
    let refs: Vec<&StoredRun> = runs.iter().collect();
    REGISTRY
        .iter()
        .map(|e| e.section(ctx.quick, &refs, ctx))
        .collect()
}

fn claims_table(claims: &[&Claim], first: &str) -> Block {
    Block::Table {
        header: [first, "claim", "scope", "headline and statistic", "verdict"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        rows: claims
            .iter()
            .map(|c| {
                vec![
                    format!("[{}](#{})", c.id, c.section),
                    c.claim.clone(),
                    c.scope.clone(),
                    c.statistic.clone(),
                    c.verdict.label().into(),
                ]
            })
            .collect(),
    }
}

/// The claims tables and the rules behind the verdicts.
fn claims_blocks(claims: &[Claim]) -> Vec<Block> {
    let of = |t: ClaimTable| -> Vec<&Claim> {
        claims.iter().filter(|c| c.verdict.table() == t).collect()
    };
    let counts = Verdict::ALL
        .iter()
        .filter_map(|v| {
            let n = claims.iter().filter(|c| c.verdict == *v).count();
            (n > 0).then(|| format!("{n} {}", v.label()))
        })
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        Block::Heading(2, "Claims".into()),
        Block::Paragraph(format!(
            "The paper's findings, each with a verdict computed from the numbers by the rule in the folded list below \
             and the scope it was tested in: reproduced, partly, not reproduced (the paper's effect is excluded), \
             equivalent-null (no effect, shown as equivalence within a pre-registered margin), undecided (neither \
             the effect nor its absence is shown), mixed (the sign differs between families or cells). The headline \
             number comes first; the details are in each section. Verdicts: {counts}."
        )),
        claims_table(&of(ClaimTable::Findings), "id"),
        Block::Heading(2, "Beyond the paper".into()),
        Block::Paragraph(
            "Comparisons and statements the paper did not make (controls, peers, later work): reported with their \
             numbers, without a reproduction verdict."
                .into(),
        ),
        claims_table(&of(ClaimTable::Beyond), "id"),
        Block::Heading(2, "Consistency checks".into()),
        Block::Paragraph(
            "Identities and theorems that hold by construction (they cannot fail for a correct implementation): \
             they check the code, not the paper's claims."
                .into(),
        ),
        claims_table(&of(ClaimTable::Checks), "id"),
        Block::Details {
            summary: "Verdict rules".into(),
            body: claims
                .iter()
                .map(|c| format!("{}: {}", c.id, c.evidence))
                .collect::<Vec<_>>()
                .join("\n"),
        },
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
pub fn render(
    out: &Path,
    ctx: &ReportContext,
    runs: &[StoredRun],
    wall_seconds: f64,
) -> Result<PathBuf> {
    let cmd = regenerate_command(ctx.quick, ctx.data_dir.as_deref());
    let sections = sections(ctx, runs);
    let claims: Vec<Claim> = sections.iter().flat_map(|s| s.claims.clone()).collect();
    let computation: f64 = runs.iter().map(|s| s.seconds).sum();
    let mut blocks = vec![
        Block::Heading(
            1,
            format!(
                "Reproduction of Xie, Liang & Song (AISTATS 2017){}",
                if ctx.quick { " — quick run" } else { "" }
            ),
        ),
        Block::Paragraph(format!(
            "Every number, verdict and plot below was computed by diversenet {} from {} stored runs ({:.0} s of \
             computation; {:.0} s of wall time over the invocations that ran them). Regenerate with the command \
             below; finished runs are reused.",
            env!("CARGO_PKG_VERSION"),
            runs.len(),
            computation,
            wall_seconds,
        )),
        Block::Code(cmd),
    ];
    blocks.extend(claims_blocks(&claims));
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
        "plan": crate::experiments::plan::summary(ctx.quick),
        "claims": claims,
        "numbers": numbers,
        "wall_seconds": wall_seconds,
        "runs": runs.iter().map(|s| serde_json::json!({"spec": s.spec, "outcome": s.outcome, "seconds": s.seconds})).collect::<Vec<_>>(),
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

#[cfg(test)]
mod tests {
    use super::regenerate_command;
    use std::path::Path;

    /// The report's "Regenerate with" command keeps MNIST's directory when one was given
    /// (it used to drop it), quoted for the shell.
    #[test]
    fn the_regenerate_command_names_the_data_directory() {
        assert_eq!(
            regenerate_command(true, None),
            "diversenet reproduce --out DIR --quick"
        );
        assert_eq!(
            regenerate_command(false, Some(Path::new("/data/my mnist"))),
            "diversenet reproduce --out DIR --data-dir '/data/my mnist'"
        );
    }
}
