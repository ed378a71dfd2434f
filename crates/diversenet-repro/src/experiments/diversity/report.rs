//! RQ2/RQ4's report section: correlations within each width and treatment, stratified
//! statistics (the verdicts rest on them), their course over training, and scatter plots
//! coloured by group.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::experiments::findings::rules::correlation_verdict;
use crate::experiments::findings::Section;
use crate::experiments::stats::{
    mean_sd, spearman, spearman_with_bootstrap, stratified_spearman, Stratified,
};
use crate::experiments::{Experiment, Results};
use crate::report::plot::{PlotSpec, Series};

use super::{Checkpoint, Plan};

const E: Experiment = Experiment::Diversity;

/// The relations examined: (id, claim, y label, value, expected sign of rho with the discrepancy).
type Relation = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Checkpoint) -> f64,
    f64,
);

const RELATIONS: [Relation; 3] = [
    (
        "rq2-smin",
        "RQ2: lower discrepancy goes with larger s_m(D)",
        "s_m(D)",
        |c| c.m.s_min,
        -1.0,
    ),
    (
        "rq2-train",
        "RQ2: lower discrepancy goes with lower training loss",
        "training loss",
        |c| c.train_loss,
        1.0,
    ),
    (
        "rq4-test",
        "RQ4: the discrepancy predicts generalisation (lower discrepancy, lower test loss)",
        "test loss",
        |c| c.test_loss,
        1.0,
    ),
];

fn fmt_strat(s: &Stratified) -> String {
    format!(
        "ρ_strat = {:.2} [{:.2}, {:.2}], p = {:.3} ({} groups, n = {})",
        s.rho, s.ci_low, s.ci_high, s.p_value, s.groups, s.n
    )
}

/// (width, treatment label) -> checkpoints of every seed, by epoch.
type Cells = BTreeMap<(usize, String), BTreeMap<usize, Vec<Checkpoint>>>;

/// Stratified statistic at `epoch` over strata made by `stratum`.
fn stratified_at(
    cells: &Cells,
    epoch: usize,
    f: fn(&Checkpoint) -> f64,
    by_width: bool,
) -> Stratified {
    let mut strata: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for ((width, label), by_epoch) in cells {
        let key = if by_width {
            width.to_string()
        } else {
            format!("{width} {label}")
        };
        let entry = strata.entry(key).or_default();
        for c in by_epoch.get(&epoch).into_iter().flatten() {
            entry.0.push(c.m.l2_discrepancy_sq);
            entry.1.push(f(c));
        }
    }
    stratified_spearman(&strata.into_values().collect::<Vec<_>>())
}

pub fn section(plan: &Plan, results: &Results) -> Section {
    let mut s = Section::new(E);
    s.paragraph(
        "Networks of varied diversity (random or clustered initial directions, or trained with the discrepancy \
         regulariser) are trained the same way (Adam, batch 32, f64). At each checkpoint the L2 slice discrepancy, \
         s_m(D) on the training points, and the exact training and test losses are measured. Widths differ in s_m(D) by \
         orders of magnitude, so pooled correlations mix widths: the verdicts rest on the stratified statistic (Spearman \
         ρ within each width, Fisher-z pooled, weights n − 3), and say when its sign changes over training. The tables \
         give ρ within each width and treatment (over seeds) as well.",
    );
    s.config(plan);
    let mut csv =
        String::from("seed,width,treatment,epoch,l2_discrepancy_sq,s_min,train_loss,test_loss\n");
    let mut cells: Cells = BTreeMap::new();
    for (spec, out) in results.diversity() {
        let label = spec.treatment.label();
        for c in &out.checkpoints {
            let _ = writeln!(
                csv,
                "{},{},\"{label}\",{},{},{},{},{}",
                spec.seed,
                spec.width,
                c.epoch,
                c.m.l2_discrepancy_sq,
                c.m.s_min,
                c.train_loss,
                c.test_loss
            );
            cells
                .entry((spec.width, label.clone()))
                .or_default()
                .entry(c.epoch)
                .or_default()
                .push(c.clone());
        }
    }
    let last = plan.epochs;
    let rows = cells
        .iter()
        .map(|((w, label), by_epoch)| {
            let cs = by_epoch.get(&last).cloned().unwrap_or_default();
            let col = |f: fn(&Checkpoint) -> f64| {
                let (m, sd) = mean_sd(&cs.iter().map(f).collect::<Vec<_>>());
                format!("{m:.4} ± {sd:.4}")
            };
            let rho = |f: fn(&Checkpoint) -> f64| {
                let x: Vec<f64> = cs.iter().map(|c| c.m.l2_discrepancy_sq).collect();
                format!("{:.2}", spearman(&x, &cs.iter().map(f).collect::<Vec<_>>()))
            };
            vec![
                w.to_string(),
                label.clone(),
                col(|c| c.m.l2_discrepancy_sq),
                col(|c| c.m.s_min),
                col(|c| c.train_loss),
                col(|c| c.test_loss),
                rho(|c| c.train_loss),
                rho(|c| c.test_loss),
            ]
        })
        .collect();
    s.table(
        &[
            "n",
            "treatment",
            "L2 discrepancy²",
            "s_m(D)",
            "train loss",
            "test loss",
            "ρ(disc, train) in cell",
            "ρ(disc, test) in cell",
        ],
        rows,
    );
    let checkpoints = plan.checkpoints();
    let mut strat_rows = Vec::new();
    let mut over_training_series = Vec::new();
    for (id, claim, y_label, f, sign) in RELATIONS {
        let final_by_width = stratified_at(&cells, last, f, true);
        let final_by_cell = stratified_at(&cells, last, f, false);
        let over: Vec<(usize, Stratified)> = checkpoints
            .iter()
            .filter(|&&e| e > 0)
            .map(|&e| (e, stratified_at(&cells, e, f, true)))
            .collect();
        let finals: Vec<&Checkpoint> = cells
            .values()
            .flat_map(|b| b.get(&last).into_iter().flatten())
            .collect();
        let pooled = spearman_with_bootstrap(
            &finals
                .iter()
                .map(|c| c.m.l2_discrepancy_sq)
                .collect::<Vec<_>>(),
            &finals.iter().map(|c| f(c)).collect::<Vec<_>>(),
            1000,
            1,
        );
        let (verdict, sign_changes) = correlation_verdict(&final_by_width, &over, sign);
        strat_rows.push(vec![
            y_label.to_string(),
            fmt_strat(&final_by_width),
            fmt_strat(&final_by_cell),
            format!(
                "ρ = {:.2} [{:.2}, {:.2}]",
                pooled.rho, pooled.ci_low, pooled.ci_high
            ),
            over.iter()
                .map(|(e, st)| format!("{e}: {:+.2}", st.rho))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
        over_training_series.push(
            Series::line(
                format!("ρ(discrepancy, {y_label})"),
                over.iter().map(|(e, st)| (*e as f64, st.rho)).collect(),
            )
            .with_intervals(
                over.iter()
                    .map(|(e, st)| (*e as f64, st.ci_low, st.ci_high))
                    .collect(),
            ),
        );
        s.numbers.insert(
            format!("{id}_stratified_by_width"),
            serde_json::to_value(&final_by_width).expect("serialises"),
        );
        s.claim(
            E,
            id,
            claim,
            verdict,
            format!(
                "{} at epoch {last}{}",
                fmt_strat(&final_by_width),
                if sign_changes { "; the sign changes over training" } else { "" }
            ),
            format!(
                "expected sign {}; reproduced if the within-width stratified ρ has it with its 95% interval excluding 0 and no \
                 checkpoint shows the opposite sign significantly; partly if only ρ has the sign or the sign changes over \
                 training. Pooled over widths (not used): ρ = {:.2}",
                if sign < 0.0 { "negative" } else { "positive" },
                pooled.rho
            ),
        );
        // Scatter of the final checkpoints, coloured by width and treatment.
        let groups: Vec<Series> = cells
            .iter()
            .map(|((w, label), b)| {
                Series::dots(
                    format!("n={w}, {label}"),
                    b.get(&last)
                        .into_iter()
                        .flatten()
                        .map(|c| (c.m.l2_discrepancy_sq, f(c)))
                        .collect(),
                )
            })
            .collect();
        s.plot(
            &format!("{}_scatter.svg", id.replace('-', "_")),
            &format!("{claim}: final checkpoints, one colour per width and treatment"),
            PlotSpec::new(
                "discrepancy at the end of training",
                "L2 discrepancy²",
                y_label,
                false,
                true,
            ),
            &groups,
        );
    }
    s.table(
        &[
            "relation with the discrepancy",
            "stratified by width (verdict)",
            "stratified by width × treatment",
            "pooled (for comparison)",
            "stratified ρ by epoch",
        ],
        strat_rows,
    );
    s.plot(
        "rq2_rho_over_training.svg",
        "RQ2/RQ4: the within-width stratified ρ with its 95% interval at every checkpoint",
        PlotSpec::new("stratified ρ over training", "epoch", "ρ", false, false),
        &over_training_series,
    );
    s.csv.push(("rq2_points.csv".into(), csv));
    s
}
