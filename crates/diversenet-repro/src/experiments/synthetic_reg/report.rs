//! RQ5 synthetic's report section: per cell, lambda chosen on validation, the paired test
//! change against lambda = 0 with Holm's correction over the cells; gains and harms in the
//! claims; every validation curve plotted; a chosen lambda at the edge of its grid flagged.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::experiments::findings::rules::{
    gain_verdict, paired_cells, select_lambda, wilcoxon_p, Edge, PairedCell, Selection, Verdict,
};
use crate::experiments::findings::{fmt_value, Section};
use crate::experiments::{Experiment, Results};
use crate::report::plot::{PlotSpec, Series};

use super::{Outcome, Plan, Setting};

const E: Experiment = Experiment::SyntheticRegularizer;

/// One cell's results: lambda bits -> seed -> outcome.
pub type CellRuns = BTreeMap<u64, BTreeMap<u64, Outcome>>;

/// The analysis of one cell.
pub struct CellResult {
    pub setting: Setting,
    pub width: usize,
    pub selection: Selection,
    pub test: PairedCell,
    pub train: PairedCell,
    pub baseline_test_mse: f64,
}

fn relative_changes(runs: &CellRuns, lambda: f64, f: fn(&Outcome) -> f64) -> Vec<f64> {
    let (Some(base), Some(treat)) = (runs.get(&0f64.to_bits()), runs.get(&lambda.to_bits())) else {
        return Vec::new();
    };
    treat
        .iter()
        .filter_map(|(seed, t)| base.get(seed).map(|b| (f(t) - f(b)) / f(b)))
        .collect()
}

/// Chooses each cell's lambda from validation numbers only, then compares test (and train)
/// losses seed by seed; Holm's correction runs over all cells.
pub fn analyse(cells: &BTreeMap<(String, usize), (Setting, CellRuns)>) -> Vec<CellResult> {
    let mut chosen = Vec::new();
    for ((_, width), (setting, runs)) in cells {
        let validation: Vec<(f64, Vec<f64>)> = runs
            .iter()
            .map(|(bits, by_seed)| {
                (
                    f64::from_bits(*bits),
                    by_seed.values().map(|o| o.validation_mse).collect(),
                )
            })
            .collect();
        if let Some(selection) = select_lambda(&validation) {
            chosen.push((setting.clone(), *width, selection, runs));
        }
    }
    let label = |s: &Setting, w: usize| format!("{}, n={w}", s.label());
    let test = paired_cells(
        chosen
            .iter()
            .map(|(s, w, sel, runs)| {
                (
                    label(s, *w),
                    relative_changes(runs, sel.chosen, |o| o.test_mse),
                )
            })
            .collect(),
        wilcoxon_p,
    );
    let train = paired_cells(
        chosen
            .iter()
            .map(|(s, w, sel, runs)| {
                (
                    label(s, *w),
                    relative_changes(runs, sel.chosen, |o| o.train_loss),
                )
            })
            .collect(),
        wilcoxon_p,
    );
    chosen
        .into_iter()
        .zip(test.into_iter().zip(train))
        .map(
            |((setting, width, selection, runs), (test, train))| CellResult {
                baseline_test_mse: runs
                    .get(&0f64.to_bits())
                    .map(|b| b.values().map(|o| o.test_mse).sum::<f64>() / b.len().max(1) as f64)
                    .unwrap_or(f64::NAN),
                setting,
                width,
                selection,
                test,
                train,
            },
        )
        .collect()
}

fn edge_note(e: Edge) -> &'static str {
    match e {
        Edge::Inside => "",
        Edge::Lowest => " (lowest of grid)",
        Edge::Highest => " (highest of grid)",
    }
}

pub fn section(plan: &Plan, results: &Results) -> Section {
    let mut s = Section::new(E);
    s.paragraph(
        "For each cell (teacher, label noise, training-set size, student width), the discrepancy regulariser's lambda is \
         chosen on the half-decade grid by the mean validation MSE over seeds (a validation set apart from train and \
         test; the choice never reads a test number), then compared seed by seed with lambda = 0: the runs share data, \
         initial weights and batch order. Test error is the plain mean squared error against the noise-free teacher \
         outputs (so label noise does not dilute relative effects). Changes are relative; p is the two-sided Wilcoxon \
         signed-rank p-value, Holm-corrected over all cells. Small networks are those no wider than the teacher.",
    );
    s.config(plan);
    let mut csv = String::from(
        "seed,setting,width,lambda,train_loss,validation_mse,test_mse,l2_discrepancy_sq\n",
    );
    let mut cells: BTreeMap<(String, usize), (Setting, CellRuns)> = BTreeMap::new();
    for (spec, o) in results.synthetic_reg() {
        let _ = writeln!(
            csv,
            "{},\"{}\",{},{},{},{},{},{}",
            spec.seed,
            spec.setting.label(),
            spec.width,
            spec.lambda,
            o.train_loss,
            o.validation_mse,
            o.test_mse,
            o.l2_discrepancy_sq
        );
        cells
            .entry((spec.setting.label(), spec.width))
            .or_insert_with(|| (spec.setting.clone(), BTreeMap::new()))
            .1
            .entry(spec.lambda.to_bits())
            .or_default()
            .insert(spec.seed, o.clone());
    }
    let analysed = analyse(&cells);
    let rows = analysed
        .iter()
        .map(|c| {
            vec![
                c.setting.label(),
                format!(
                    "{}{}",
                    c.width,
                    match c.width.cmp(&c.setting.teacher_width) {
                        std::cmp::Ordering::Less => " (below)",
                        std::cmp::Ordering::Equal => " (at)",
                        std::cmp::Ordering::Greater => " (above)",
                    }
                ),
                format!(
                    "{}{}",
                    fmt_value(c.selection.chosen),
                    edge_note(c.selection.edge)
                ),
                format!("{:.4}", c.baseline_test_mse),
                format!(
                    "{:+.1}% [{:+.1}, {:+.1}]",
                    100.0 * c.test.interval.mean,
                    100.0 * c.test.interval.low,
                    100.0 * c.test.interval.high
                ),
                format!("{}/{}", c.test.improved(), c.test.changes.len()),
                format!("{:.3}", c.test.p),
                format!("{:.3}", c.test.p_holm),
                format!("{:+.1}%", 100.0 * c.train.interval.mean),
            ]
        })
        .collect();
    s.table(
        &[
            "setting",
            "width",
            "λ (by validation)",
            "test MSE, λ = 0",
            "test change [95% CI]",
            "seeds improved",
            "p",
            "p (Holm)",
            "train change",
        ],
        rows,
    );
    let edges = analysed
        .iter()
        .filter(|c| c.selection.edge != Edge::Inside)
        .count();
    let prefers_none = analysed
        .iter()
        .filter(|c| c.selection.validation_prefers_none)
        .count();
    s.paragraph(format!(
        "The chosen lambda sits at an edge of its grid in {edges} of {} cells (flagged in the table); in {prefers_none} cells \
         the validation error is lower with no regulariser than at the best lambda.",
        analysed.len()
    ));
    // Validation curves, relative to lambda = 0, one plot per setting.
    let mut by_setting: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    for c in &analysed {
        let base = c
            .selection
            .curve
            .iter()
            .find(|p| p.0 == 0.0)
            .map(|p| p.1.mean)
            .unwrap_or(f64::NAN);
        let pts: Vec<&(f64, crate::experiments::stats::MeanInterval)> =
            c.selection.curve.iter().filter(|p| p.0 > 0.0).collect();
        by_setting.entry(c.setting.label()).or_default().push(
            Series::line(
                format!("n = {}", c.width),
                pts.iter().map(|p| (p.0, p.1.mean / base)).collect(),
            )
            .with_intervals(
                pts.iter()
                    .map(|p| (p.0, p.1.low / base, p.1.high / base))
                    .collect(),
            ),
        );
    }
    for (i, (label, series)) in by_setting.iter().enumerate() {
        s.plot(
            &format!("rq5_synthetic_validation_{i}.svg"),
            &format!("RQ5 synthetic, {label}: validation MSE over seeds relative to λ = 0 (mean and 95% interval) against λ"),
            PlotSpec::new("validation MSE / validation MSE at λ = 0", "λ", "relative validation MSE", true, false),
            series,
        );
    }
    let change_series: Vec<Series> = by_setting
        .keys()
        .map(|label| {
            let cs: Vec<&CellResult> = analysed
                .iter()
                .filter(|c| &c.setting.label() == label)
                .collect();
            Series::line(
                label.clone(),
                cs.iter()
                    .map(|c| (c.width as f64, 100.0 * c.test.interval.mean))
                    .collect(),
            )
            .with_intervals(
                cs.iter()
                    .map(|c| {
                        (
                            c.width as f64,
                            100.0 * c.test.interval.low,
                            100.0 * c.test.interval.high,
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    let mut widths: Vec<f64> = analysed.iter().map(|c| c.width as f64).collect();
    widths.sort_by(f64::total_cmp);
    widths.dedup();
    s.plot(
        "rq5_synthetic_change.svg",
        "RQ5 synthetic: relative change of the noise-free test MSE at the chosen λ (mean and 95% interval over seeds)",
        PlotSpec::new("test MSE change (%) against width", "width n", "change (%)", true, false).with_x_ticks(widths),
        &change_series,
    );
    let tests: Vec<PairedCell> = analysed.iter().map(|c| c.test.clone()).collect();
    let small = |c: &PairedCell| {
        analysed
            .iter()
            .any(|a| a.test.label == c.label && a.width <= a.setting.teacher_width)
    };
    let best = tests
        .iter()
        .min_by(|a, b| a.interval.mean.total_cmp(&b.interval.mean));
    s.claim(
        E,
        "rq5-synthetic-gain",
        "The regulariser lowers test error, most for small networks (up to 25% relative)",
        gain_verdict(&tests, small),
        format!(
            "significant gains (Holm) in {} of {} cells, {} of {} small-network cells; largest mean change {}",
            tests.iter().filter(|c| c.gain()).count(),
            tests.len(),
            tests.iter().filter(|c| small(c) && c.gain()).count(),
            tests.iter().filter(|c| small(c)).count(),
            best.map_or("n/a".into(), |b| format!("{:+.1}% ({})", 100.0 * b.interval.mean, b.label))
        ),
        "reproduced if every cell with width ≤ the teacher's shows a significant decrease (Holm-corrected Wilcoxon p < 0.05); \
         partly if some cell does; not reproduced otherwise",
    );
    let trains: Vec<PairedCell> = analysed.iter().map(|c| c.train.clone()).collect();
    s.claim(
        E,
        "rq5-synthetic-train",
        "The regulariser lowers training error",
        gain_verdict(&trains, |_| true),
        format!(
            "significant decreases (Holm) in {} of {} cells, increases in {}",
            trains.iter().filter(|c| c.gain()).count(),
            trains.len(),
            trains.iter().filter(|c| c.harm()).count()
        ),
        "as rq5-synthetic-gain, on the training loss, over every cell",
    );
    for (i, h) in tests.iter().filter(|c| c.harm()).enumerate() {
        s.claim(
            E,
            &format!("rq5-synthetic-harm-{}", i + 1),
            format!("The regulariser does not raise test error ({})", h.label),
            Verdict::NotReproduced,
            format!("significant harm: {:+.1}% [{:+.1}, {:+.1}], {}/{} seeds improved, Holm p = {:.3}", 100.0 * h.interval.mean, 100.0 * h.interval.low, 100.0 * h.interval.high, h.improved(), h.changes.len(), h.p_holm),
            "a cell whose test error rises significantly (Holm-corrected p < 0.05) is listed as a harm",
        );
    }
    s.csv.push(("rq5_synthetic.csv".into(), csv));
    s
}
