//! RQ2/RQ4's report section: the two families (initial diversity, regulariser strength)
//! reported apart, each with its within-width stratified correlations at the plateau (the
//! verdicts rest on them) and over the checkpoints; a relation whose sign differs between
//! the families is mixed, with both numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::experiments::registry::{Runs, Study};
use crate::experiments::rules::correlation_verdict;
use crate::experiments::stats::{
    mean_sd, spearman_with_bootstrap, stratified_spearman, Stratified,
};
use crate::report::plot::{PlotSpec, Series};
use crate::report::section::{p_eq, ClaimText, Section, Verdict};

use super::{Checkpoint, Diversity, Family, Plan, Treatment};

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
        "ρ = {:+.2} [{:+.2}, {:+.2}], {} (n = {})",
        s.rho,
        s.ci_low,
        s.ci_high,
        p_eq(s.p_value),
        s.n
    )
}

/// When a point was taken: at a checkpoint epoch, or at the plateau.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Epoch(usize),
    Plateau,
}

/// (width, treatment) -> stage -> the seeds' points.
type Cells = BTreeMap<(usize, String), (Treatment, BTreeMap<Stage, Vec<Checkpoint>>)>;

/// Stratified statistic over the family's cells at `stage`, strata by width (or by width
/// and treatment).
fn stratified(
    cells: &Cells,
    family: Family,
    stage: Stage,
    f: fn(&Checkpoint) -> f64,
    by_width: bool,
) -> Stratified {
    let mut strata: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for ((width, label), (t, by_stage)) in cells {
        if !t.in_family(family) {
            continue;
        }
        let key = if by_width {
            width.to_string()
        } else {
            format!("{width} {label}")
        };
        let entry = strata.entry(key).or_default();
        for c in by_stage.get(&stage).into_iter().flatten() {
            entry.0.push(c.m.l2_discrepancy_sq);
            entry.1.push(f(c));
        }
    }
    stratified_spearman(&strata.into_values().collect::<Vec<_>>())
}

/// Both families' verdicts into one: mixed where their signs differ and one of them
/// excludes 0; reproduced (not reproduced) where both are; partly otherwise.
pub fn families_verdict(a: (Verdict, &Stratified), b: (Verdict, &Stratified)) -> Verdict {
    let significant = |s: &Stratified| s.ci_low * s.ci_high > 0.0;
    if a.0 == Verdict::NotRun || b.0 == Verdict::NotRun {
        Verdict::NotRun
    } else if a.1.rho * b.1.rho < 0.0 && (significant(a.1) || significant(b.1)) {
        Verdict::Mixed
    } else if a.0 == b.0 && matches!(a.0, Verdict::Reproduced | Verdict::NotReproduced) {
        a.0
    } else {
        Verdict::Partly
    }
}

pub fn section(plan: &Plan, runs: &Runs<Diversity>) -> Section {
    let mut s = Section::new(Diversity::TITLE);
    s.paragraph(format!(
        "Networks of varied diversity are trained the same way (Adam lr 0.01, batch 32, f64) in two families: the \
         initial directions (random, or clustered around 3 directions with spreads from 1 to 0.03; no regulariser) and \
         the discrepancy regulariser's strength λ (random directions; the unregularised random networks are in both \
         families). At each checkpoint, and once more where the training loss stops moving (every {} epochs the exact \
         training loss is compared with the one {} epochs before; the plateau is where it fell by less than {}%, at most \
         {} epochs), the L2 slice discrepancy, s_m(D) and the exact training and test losses are measured. The verdicts \
         rest on the within-width stratified Spearman ρ at the plateau (Fisher-z pooled, weights n − 3) of each family; \
         a relation whose sign differs between the families is mixed. The course over the checkpoints shows how the \
         answer depends on when training stops.",
        plan.plateau.window,
        plan.plateau.window,
        100.0 * plan.plateau.tolerance,
        plan.plateau.max_epochs
    ));
    s.config(plan);
    let mut csv = String::from(
        "seed,width,treatment,stage,epoch,l2_discrepancy_sq,s_min,train_loss,test_loss\n",
    );
    let mut cells: Cells = BTreeMap::new();
    let mut plateau_epochs = Vec::new();
    let mut not_reached = 0;
    for (spec, out) in runs.iter() {
        let label = spec.treatment.label();
        let entry = cells
            .entry((spec.width, label.clone()))
            .or_insert_with(|| (spec.treatment, BTreeMap::new()));
        let staged = out
            .checkpoints
            .iter()
            .map(|c| (Stage::Epoch(c.epoch), c))
            .chain([(Stage::Plateau, &out.plateau)]);
        for (stage, c) in staged {
            let _ = writeln!(
                csv,
                "{},{},\"{label}\",{},{},{},{},{},{}",
                spec.seed,
                spec.width,
                if stage == Stage::Plateau {
                    "plateau"
                } else {
                    "checkpoint"
                },
                c.epoch,
                c.m.l2_discrepancy_sq,
                c.m.s_min,
                c.train_loss,
                c.test_loss
            );
            entry.1.entry(stage).or_default().push(c.clone());
        }
        plateau_epochs.push(out.plateau.epoch as f64);
        not_reached += usize::from(!out.plateau_reached);
    }
    let rows = cells
        .iter()
        .map(|((w, label), (_, by_stage))| {
            let cs = by_stage.get(&Stage::Plateau).cloned().unwrap_or_default();
            let col = |f: fn(&Checkpoint) -> f64| {
                let (m, sd) = mean_sd(&cs.iter().map(f).collect::<Vec<_>>());
                format!("{m:.4} ± {sd:.4}")
            };
            vec![
                w.to_string(),
                label.clone(),
                format!(
                    "{:.0}",
                    mean_sd(&cs.iter().map(|c| c.epoch as f64).collect::<Vec<_>>()).0
                ),
                col(|c| c.m.l2_discrepancy_sq),
                col(|c| c.m.s_min),
                col(|c| c.train_loss),
                col(|c| c.test_loss),
            ]
        })
        .collect();
    s.paragraph(format!(
        "At the plateau (mean and sd over seeds). The plateau came at epoch {:.0} on average; {not_reached} runs were \
         still improving at {} epochs and are measured there.",
        mean_sd(&plateau_epochs).0,
        plan.plateau.max_epochs
    ));
    s.table(
        &[
            "n",
            "treatment",
            "plateau epoch",
            "L2 discrepancy²",
            "s_m(D)",
            "train loss",
            "test loss",
        ],
        rows,
    );
    let checkpoints: Vec<usize> = plan.checkpoints().into_iter().filter(|&e| e > 0).collect();
    let mut strat_rows = Vec::new();
    for (id, claim, y_label, f, sign) in RELATIONS {
        let mut per_family = Vec::new();
        let mut series = Vec::new();
        for family in Family::BOTH {
            let at_plateau = stratified(&cells, family, Stage::Plateau, f, true);
            let by_cell = stratified(&cells, family, Stage::Plateau, f, false);
            let at_last = stratified(&cells, family, Stage::Epoch(plan.epochs), f, true);
            let over: Vec<(usize, Stratified)> = checkpoints
                .iter()
                .map(|&e| (e, stratified(&cells, family, Stage::Epoch(e), f, true)))
                .collect();
            let finals: Vec<&Checkpoint> = cells
                .values()
                .filter(|(t, _)| t.in_family(family))
                .flat_map(|(_, b)| b.get(&Stage::Plateau).into_iter().flatten())
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
            let (verdict, sign_changes) = correlation_verdict(&at_plateau, &over, sign);
            strat_rows.push(vec![
                y_label.to_string(),
                family.name().into(),
                fmt_strat(&at_plateau),
                fmt_strat(&at_last),
                fmt_strat(&by_cell),
                format!(
                    "ρ = {:+.2} [{:+.2}, {:+.2}]",
                    pooled.rho, pooled.ci_low, pooled.ci_high
                ),
                over.iter()
                    .map(|(e, st)| format!("{e}: {:+.2}", st.rho))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
            series.push(
                Series::line(
                    format!("{}: over checkpoints", family.name()),
                    over.iter().map(|(e, st)| (*e as f64, st.rho)).collect(),
                )
                .with_intervals(
                    over.iter()
                        .map(|(e, st)| (*e as f64, st.ci_low, st.ci_high))
                        .collect(),
                ),
            );
            let x = mean_sd(&plateau_epochs).0;
            series.push(
                Series::dots(
                    format!("{}: at the plateau", family.name()),
                    vec![(x, at_plateau.rho)],
                )
                .with_intervals(vec![(x, at_plateau.ci_low, at_plateau.ci_high)]),
            );
            s.number(
                &format!("{id}_{}_plateau", family.name().replace(' ', "_")),
                serde_json::to_value(&at_plateau).expect("serialises"),
            );
            per_family.push((verdict, at_plateau, sign_changes));
        }
        let (a, b) = (&per_family[0], &per_family[1]);
        let verdict = families_verdict((a.0, &a.1), (b.0, &b.1));
        let changes: Vec<&str> = Family::BOTH
            .iter()
            .zip(&per_family)
            .filter(|(_, p)| p.2)
            .map(|(f, _)| f.name())
            .collect();
        s.claim(
            ClaimText {
                id,
                claim,
                scope: &format!(
                    "Adam (lr 0.01, batch 32), teacher-student d = {}, teacher {}, m = {}, noise {}, n = {:?}, {} seeds; \
                     at the plateau",
                    plan.data.dim, plan.data.teacher_width, plan.data.train_samples, plan.data.noise, plan.widths,
                    plan.seeds
                ),
                rule: &format!(
                    "expected sign {}; per family, reproduced if the within-width stratified ρ at the plateau has it with \
                     its 95% interval excluding 0 and no checkpoint shows the opposite sign significantly, partly if only \
                     ρ has the sign or the sign changes over training, not reproduced otherwise; over both families, \
                     mixed if their ρ have opposite signs and one interval excludes 0, the shared verdict if both are \
                     reproduced (not reproduced), partly otherwise",
                    if sign < 0.0 { "negative" } else { "positive" }
                ),
            },
            verdict,
            format!(
                "initial diversity ρ = {:+.2} [{:+.2}, {:+.2}]; regulariser ρ = {:+.2} [{:+.2}, {:+.2}]{}",
                a.1.rho,
                a.1.ci_low,
                a.1.ci_high,
                b.1.rho,
                b.1.ci_low,
                b.1.ci_high,
                if changes.is_empty() {
                    String::new()
                } else {
                    format!("; the sign changes over training ({})", changes.join(", "))
                }
            ),
        );
        s.plot(
            &format!("{}_rho_over_training.svg", id.replace('-', "_")),
            &format!("{claim}: within-width stratified ρ with its 95% interval per family, over the checkpoints and at the plateau"),
            PlotSpec::new("stratified ρ over training", "epoch", "ρ", false, false),
            &series,
        );
        let groups: Vec<Series> = cells
            .iter()
            .map(|((w, label), (_, b))| {
                Series::dots(
                    format!("n={w}, {label}"),
                    b.get(&Stage::Plateau)
                        .into_iter()
                        .flatten()
                        .map(|c| (c.m.l2_discrepancy_sq, f(c)))
                        .collect(),
                )
            })
            .collect();
        s.plot(
            &format!("{}_scatter.svg", id.replace('-', "_")),
            &format!("{claim}: every run at its plateau, one colour per width and treatment"),
            PlotSpec::new(
                "discrepancy at the plateau",
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
            "family",
            "stratified by width, at the plateau (verdict)",
            &format!("stratified by width, epoch {}", plan.epochs),
            "stratified by width × treatment, plateau",
            "pooled over widths, plateau (not used)",
            "stratified ρ by epoch",
        ],
        strat_rows,
    );
    s.csv("rq2_points.csv", csv);
    s
}
