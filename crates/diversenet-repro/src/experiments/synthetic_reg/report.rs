//! RQ5 synthetic's report section. The sweep: per cell, lambda chosen on validation, the
//! per-seed log-ratios of test MSE and training loss against lambda = 0 summarised by their
//! median with its distribution-free interval, the sign test with Holm's correction over
//! the cells, harms listed before and after the correction, every validation curve
//! plotted, a chosen lambda at the edge of its grid flagged. The confirmation on fresh
//! seeds follows (`confirm`).

use std::fmt::Write as _;

use crate::experiments::registry::{Runs, Study};
use crate::experiments::rules::{effect_verdict, Edge, Judgement, Selection, ALPHA};
use crate::experiments::stats::{holm, median_interval, sign_test, MedianInterval};
use crate::report::section::{fmt_p, fmt_ratio_pct, fmt_value, ClaimText, Section};

use super::{Outcome, Plan, Setting, Spec, SyntheticReg};

/// The pre-registered equivalence margin of a test-MSE ratio: within ±10%.
pub const MARGIN: f64 = 0.10;

/// How one cell's test-MSE log-ratios are judged (the verdict rules say how the cells
/// combine).
pub const CELL_RULE: &str = "per cell, the median log-ratio of test MSE: a gain or harm is a sign-test p < 0.05 \
    after Holm over the cells; equivalence: the 90% interval of the median within ±10%; the paper's effect is excluded \
    where the 95% interval excludes a fall of 10%.";

/// A paired comparison by log-ratios (treatment over baseline, per seed).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogRatios {
    pub values: Vec<f64>,
    pub median: MedianInterval,
    /// The 90% interval (equivalence within the margin when inside ±ln(1 + margin)).
    pub median90: MedianInterval,
    /// Two-sided sign test, and after Holm's correction over the family.
    pub p: f64,
    pub p_holm: f64,
}

impl LogRatios {
    pub fn new(values: Vec<f64>) -> Self {
        Self {
            median: median_interval(&values, 0.95),
            median90: median_interval(&values, 0.90),
            p: sign_test(&values),
            p_holm: f64::NAN,
            values,
        }
    }
    pub fn improved(&self) -> usize {
        self.values.iter().filter(|v| **v < 0.0).count()
    }
    /// Gain, harm, equivalence within ±`margin` and exclusion of a fall by `margin`.
    pub fn judgement(&self, margin: f64) -> Judgement {
        let (up, down) = ((1.0 + margin).ln(), (1.0 - margin).ln());
        Judgement {
            gain: self.median.median < 0.0 && self.p_holm < ALPHA,
            harm: self.median.median > 0.0 && self.p_holm < ALPHA,
            equivalent: self.median90.low > -up && self.median90.high < up,
            paper_effect_excluded: self.median.low > down,
        }
    }
    /// "-12.3% [-20.1%, +1.0%]".
    pub fn fmt(&self) -> String {
        format!(
            "{} [{}, {}]",
            fmt_ratio_pct(self.median.median),
            fmt_ratio_pct(self.median.low),
            fmt_ratio_pct(self.median.high)
        )
    }
}

/// Holm's correction over a family of comparisons.
pub fn correct(cells: &mut [&mut LogRatios]) {
    let p: Vec<f64> = cells.iter().map(|c| c.p).collect();
    for (c, adj) in cells.iter_mut().zip(holm(&p)) {
        c.p_holm = adj;
    }
}

/// The log-ratios of `f` between `lambda` and lambda = 0 over the seeds both have.
pub fn log_ratios(
    runs: &Runs<SyntheticReg>,
    spec: impl Fn(u64, f64) -> Spec,
    seeds: std::ops::Range<u64>,
    lambda: f64,
    f: fn(&Outcome) -> f64,
) -> Vec<f64> {
    seeds
        .filter_map(|seed| {
            let t = runs.get(&spec(seed, lambda))?;
            let b = runs.get(&spec(seed, 0.0))?;
            Some((f(t) / f(b)).ln())
        })
        .filter(|v| v.is_finite())
        .collect()
}

/// One cell of the sweep.
pub struct SweepCell {
    pub setting: Setting,
    pub width: usize,
    pub selection: Selection,
    pub test: LogRatios,
    pub train: LogRatios,
    pub baseline_test_mse: f64,
}

impl SweepCell {
    pub fn small(&self) -> bool {
        self.width <= self.setting.teacher_width
    }
    pub fn label(&self) -> String {
        format!("{}, n={}", self.setting.label(), self.width)
    }
}

/// The sweep's cells: lambda from validation numbers only, then test and training
/// log-ratios on the same seeds, Holm over all cells.
pub fn sweep(plan: &Plan, runs: &Runs<SyntheticReg>) -> Vec<SweepCell> {
    let mut cells: Vec<SweepCell> = Vec::new();
    for (setting, width) in plan.cells() {
        let Some(selection) =
            plan.selection(&setting, width, |s| runs.get(s).map(|o| o.validation_mse))
        else {
            continue;
        };
        let spec = |seed, l| plan.spec(seed, &setting, width, l);
        let ratios = |f| LogRatios::new(log_ratios(runs, spec, 0..plan.seeds, selection.chosen, f));
        let base: Vec<f64> = (0..plan.seeds)
            .filter_map(|seed| runs.get(&spec(seed, 0.0)).map(|o| o.test_mse))
            .collect();
        cells.push(SweepCell {
            test: ratios(|o| o.test_mse),
            train: ratios(|o| o.train_loss),
            baseline_test_mse: median_interval(&base, 0.95).median,
            setting,
            width,
            selection,
        });
    }
    correct(&mut cells.iter_mut().map(|c| &mut c.test).collect::<Vec<_>>());
    correct(&mut cells.iter_mut().map(|c| &mut c.train).collect::<Vec<_>>());
    cells
}

fn edge_note(e: Edge) -> &'static str {
    match e {
        Edge::Inside => "",
        Edge::Lowest => " (lowest of grid)",
        Edge::Highest => " (highest of grid)",
    }
}

pub fn section(plan: &Plan, runs: &Runs<SyntheticReg>) -> Section {
    let mut s = Section::new(SyntheticReg::TITLE);
    s.paragraph(format!(
        "The sweep: for each cell (teacher, label noise, training-set size, student width), the discrepancy \
         regulariser's λ is chosen on the half-decade grid by the mean validation MSE over seeds 0–{} (a validation \
         set apart from train and test; the choice never reads a test number), then compared seed by seed with λ = 0: \
         the runs share data, initial weights and batch order (Adam lr 0.01, batch 32, {} epochs). Test error is the \
         plain mean squared error against the noise-free teacher outputs. Each seed gives a log-ratio ln(MSE_λ / \
         MSE_0); a cell is summarised by the median log-ratio, shown as a change of the ratio, with its \
         distribution-free 95% interval (order statistics), and tested with the sign test, Holm-corrected over all \
         cells (no mean of relative changes: where the baseline is near 0 such a mean is dominated by one seed). \
         Small networks are those no wider than the teacher.",
        plan.seeds - 1,
        plan.epochs
    ));
    s.config(plan);
    let mut csv = String::from("seed,dim,teacher_width,train_samples,noise,width,lambda,train_loss,validation_mse,test_mse,l2_discrepancy_sq\n");
    for (spec, o) in runs.iter() {
        let st = &spec.setting;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{}",
            spec.seed,
            st.dim,
            st.teacher_width,
            st.train_samples,
            st.noise,
            spec.width,
            spec.lambda,
            o.train_loss,
            o.validation_mse,
            o.test_mse,
            o.l2_discrepancy_sq
        );
    }
    let cells = sweep(plan, runs);
    let rows = cells
        .iter()
        .map(|c| {
            vec![
                c.setting.label(),
                format!(
                    "{} ({})",
                    c.width,
                    match c.width.cmp(&c.setting.teacher_width) {
                        std::cmp::Ordering::Less => "below",
                        std::cmp::Ordering::Equal => "at",
                        std::cmp::Ordering::Greater => "above",
                    }
                ),
                format!(
                    "{}{}",
                    fmt_value(c.selection.chosen),
                    edge_note(c.selection.edge)
                ),
                format!("{:.2e}", c.baseline_test_mse),
                c.test.fmt(),
                format!("{}/{}", c.test.improved(), c.test.values.len()),
                fmt_p(c.test.p),
                fmt_p(c.test.p_holm),
                c.train.fmt(),
            ]
        })
        .collect();
    s.table(
        &[
            "setting",
            "width",
            "λ (by validation)",
            "median test MSE, λ = 0",
            "test MSE ratio, median [95% CI]",
            "seeds improved",
            "p (sign)",
            "p (Holm)",
            "training loss ratio, median [95% CI]",
        ],
        rows,
    );
    let edges = cells
        .iter()
        .filter(|c| c.selection.edge != Edge::Inside)
        .count();
    let prefers_none = cells
        .iter()
        .filter(|c| c.selection.validation_prefers_none)
        .count();
    let harms_raw: Vec<String> = cells
        .iter()
        .filter(|c| c.test.median.median > 0.0 && c.test.p < ALPHA)
        .map(|c| {
            format!(
                "{} ({}, p = {})",
                c.label(),
                fmt_ratio_pct(c.test.median.median),
                fmt_p(c.test.p)
            )
        })
        .collect();
    let harms_holm = cells
        .iter()
        .filter(|c| c.test.judgement(MARGIN).harm)
        .count();
    s.paragraph(format!(
        "The chosen λ sits at an edge of its grid in {edges} of {} cells (flagged); in {prefers_none} cells the \
         validation error is lower with no regulariser than at the best λ. Harms (test MSE up) before correction: {}; \
         after Holm's correction: {harms_holm}.",
        cells.len(),
        if harms_raw.is_empty() { "none".to_string() } else { harms_raw.join("; ") }
    ));
    super::confirm::plots(&mut s, plan, runs, &cells);
    let small: Vec<&SweepCell> = cells.iter().filter(|c| c.small()).collect();
    let judgements: Vec<Judgement> = small.iter().map(|c| c.test.judgement(MARGIN)).collect();
    let best = cells
        .iter()
        .min_by(|a, b| a.test.median.median.total_cmp(&b.test.median.median));
    s.claim(
        ClaimText {
            id: "rq5-synthetic-sweep",
            claim: "The regulariser lowers test error, most for small networks (up to 25% relative), across regimes",
            scope: &format!(
                "Adam, teacher-student data: teachers (d, width) {:?}, noise {:?}, m {:?}, widths ½, 1 and 4 times the \
                 teacher's, λ by validation, {} seeds; the verdict on the {} cells with width ≤ the teacher's",
                plan.teachers, plan.noises, plan.train_sizes, plan.seeds, small.len()
            ),
            rule: &format!(
                "{CELL_RULE} Over the small-network cells: reproduced if all gain, partly if some do, mixed if \
                 another is harmed, not reproduced if one is harmed and none gains, equivalent-null if all are equivalent, not reproduced if all exclude a 10% fall, \
                 undecided otherwise"
            ),
        },
        effect_verdict(&judgements, &vec![true; judgements.len()]),
        format!(
            "{} of {} small-network cells gain after Holm, {} equivalent within ±10%; best median {} ({})",
            judgements.iter().filter(|j| j.gain).count(),
            small.len(),
            judgements.iter().filter(|j| j.equivalent).count(),
            best.map_or("—".into(), |c| c.test.fmt()),
            best.map_or("—".into(), |c| c.label())
        ),
    );
    super::confirm::section(&mut s, plan, runs);
    s.csv("rq5_synthetic.csv", csv);
    s
}
