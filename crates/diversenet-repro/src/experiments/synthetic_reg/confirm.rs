//! RQ5 synthetic: the confirmation on fresh seeds (the cells with a student as wide as the
//! teacher and noise-free targets, at the lambda the sweep chose): the fraction of runs
//! stuck above a training-loss threshold (McNemar's exact test, paired by seed) and the
//! median log-ratio of test MSE with its interval; and the sweep's plots.

use crate::experiments::registry::Runs;
use crate::experiments::rules::{effect_verdict, Judgement, ALPHA};
use crate::experiments::stats::{holm, mcnemar_exact, median_interval, paired_difference_interval};
use crate::report::plot::{PlotSpec, Series};
use crate::report::section::{fmt_p, fmt_value, ClaimText, Section};

use super::report::{correct, log_ratios, LogRatios, SweepCell, CELL_RULE, MARGIN};
use super::{Plan, SyntheticReg};

/// A run is stuck when its training loss (1/2m)||y - f||^2 on noise-free targets stays
/// above this (a student as wide as the teacher can reach 0).
pub const STUCK: f64 = 1e-3;
/// The pre-registered equivalence margin of the stuck fraction: ±10 percentage points.
pub const STUCK_MARGIN: f64 = 0.10;

/// One confirmation cell.
struct Cell {
    label: String,
    lambda: f64,
    test: LogRatios,
    /// Pairs with only the baseline stuck (b), only the regularised run stuck (c), and all.
    b: usize,
    c: usize,
    base_stuck: usize,
    reg_stuck: usize,
    pairs: usize,
    p_stuck: f64,
    p_stuck_holm: f64,
}

impl Cell {
    fn stuck_judgement(&self) -> Judgement {
        let (_, lo90, hi90) = paired_difference_interval(self.b, self.c, self.pairs, 0.90);
        let (_, lo95, _) = paired_difference_interval(self.b, self.c, self.pairs, 0.95);
        Judgement {
            gain: self.c < self.b && self.p_stuck_holm < ALPHA,
            harm: self.c > self.b && self.p_stuck_holm < ALPHA,
            equivalent: lo90 > -STUCK_MARGIN && hi90 < STUCK_MARGIN,
            paper_effect_excluded: lo95 > -STUCK_MARGIN,
        }
    }
}

pub fn section(s: &mut Section, plan: &Plan, runs: &Runs<SyntheticReg>) {
    let seeds = plan.seeds..plan.seeds + plan.confirm_seeds;
    let mut cells = Vec::new();
    for (setting, width) in plan.confirm_cells() {
        let Some(sel) = plan.selection(&setting, width, |s| runs.get(s).map(|o| o.validation_mse))
        else {
            continue;
        };
        let spec = |seed, l| plan.spec(seed, &setting, width, l);
        let test = LogRatios::new(log_ratios(runs, spec, seeds.clone(), sel.chosen, |o| {
            o.test_mse
        }));
        let (mut b, mut c, mut base_stuck, mut reg_stuck, mut pairs) = (0, 0, 0, 0, 0);
        for seed in seeds.clone() {
            let (Some(base), Some(reg)) = (
                runs.get(&spec(seed, 0.0)),
                runs.get(&spec(seed, sel.chosen)),
            ) else {
                continue;
            };
            let (bs, rs) = (base.train_loss > STUCK, reg.train_loss > STUCK);
            pairs += 1;
            base_stuck += usize::from(bs);
            reg_stuck += usize::from(rs);
            b += usize::from(bs && !rs);
            c += usize::from(rs && !bs);
        }
        cells.push(Cell {
            label: format!("{}, n={width}", setting.label()),
            lambda: sel.chosen,
            test,
            b,
            c,
            base_stuck,
            reg_stuck,
            pairs,
            p_stuck: mcnemar_exact(b, c),
            p_stuck_holm: f64::NAN,
        });
    }
    correct(&mut cells.iter_mut().map(|c| &mut c.test).collect::<Vec<_>>());
    let p: Vec<f64> = cells.iter().map(|c| c.p_stuck).collect();
    for (c, adj) in cells.iter_mut().zip(holm(&p)) {
        c.p_stuck_holm = adj;
    }
    s.heading("Confirmation on fresh seeds");
    s.paragraph(format!(
        "The cells where the paper's effect should show most — a student as wide as the teacher, noise-free targets — \
         run again on {} fresh seeds ({}–{}) at the λ the sweep chose, against λ = 0 with the same data, initial weights \
         and batch order. Two endpoints, both paired by seed and Holm-corrected over the {} cells: the fraction of runs \
         stuck with a training loss above {STUCK:e} (McNemar's exact test on the pairs where only one run is stuck; \
         the difference of the fractions with its exact conditional interval; equivalence within ±{} points, \
         pre-registered) and the median log-ratio of test MSE with its 95% interval (sign test; equivalence within \
         ±{}%, pre-registered).",
        plan.confirm_seeds,
        plan.seeds,
        plan.seeds + plan.confirm_seeds - 1,
        cells.len(),
        100.0 * STUCK_MARGIN,
        100.0 * MARGIN
    ));
    let rows = cells
        .iter()
        .map(|c| {
            let (d, lo, hi) = paired_difference_interval(c.b, c.c, c.pairs, 0.95);
            vec![
                c.label.clone(),
                fmt_value(c.lambda),
                format!("{}/{} → {}/{}", c.base_stuck, c.pairs, c.reg_stuck, c.pairs),
                format!(
                    "{:+.0} [{:+.0}, {:+.0}] pts",
                    100.0 * d,
                    100.0 * lo,
                    100.0 * hi
                ),
                format!("{} / {}", fmt_p(c.p_stuck), fmt_p(c.p_stuck_holm)),
                c.test.fmt(),
                format!("{}/{}", c.test.improved(), c.test.values.len()),
                format!("{} / {}", fmt_p(c.test.p), fmt_p(c.test.p_holm)),
            ]
        })
        .collect();
    s.table(
        &[
            "cell",
            "λ (from the sweep)",
            "stuck: λ = 0 → λ",
            "stuck difference [95% CI]",
            "McNemar p / Holm",
            "test MSE ratio, median [95% CI]",
            "seeds improved",
            "sign p / Holm",
        ],
        rows,
    );
    let scope = format!(
        "Adam, noise-free teacher-student data, student as wide as the teacher ({}), {} fresh seeds, λ chosen by the \
         sweep's validation",
        cells.iter().map(|c| c.label.clone()).collect::<Vec<_>>().join("; "),
        plan.confirm_seeds
    );
    let test: Vec<Judgement> = cells.iter().map(|c| c.test.judgement(MARGIN)).collect();
    let best = cells
        .iter()
        .min_by(|a, b| a.test.median.median.total_cmp(&b.test.median.median));
    s.claim(
        ClaimText {
            id: "rq5-synthetic-gain",
            claim: "The regulariser lowers test error for small networks (by up to 25% relative)",
            scope: &scope,
            rule: &format!(
                "{CELL_RULE} Reproduced if every cell gains, partly if some do, mixed if another is harmed, \
                 not reproduced if one is harmed and none gains, equivalent-null if all are equivalent, not reproduced if all exclude a 10% fall, undecided otherwise"
            ),
        },
        effect_verdict(&test, &vec![true; test.len()]),
        format!(
            "best median ratio {} ({}); {} of {} cells gain, {} harmed, {} equivalent within ±10%",
            best.map_or("—".into(), |c| c.test.fmt()),
            best.map_or("—".into(), |c| c.label.clone()),
            test.iter().filter(|j| j.gain).count(),
            cells.len(),
            test.iter().filter(|j| j.harm).count(),
            test.iter().filter(|j| j.equivalent).count()
        ),
    );
    let stuck: Vec<Judgement> = cells.iter().map(Cell::stuck_judgement).collect();
    s.claim(
        ClaimText {
            id: "rq5-synthetic-train",
            claim: "The regulariser lowers training error: fewer runs stay stuck above the loss threshold",
            scope: &scope,
            rule: "per cell, McNemar's exact test of the paired stuck outcomes (training loss > 1e-3), Holm over the \
                   cells; equivalence: the 90% exact interval of the difference of the stuck fractions within ±10 \
                   points; the paper's effect is excluded where the 95% interval excludes a fall of 10 points. \
                   Reproduced if every cell has fewer stuck runs significantly, partly if some do, mixed if another has \
                   more, not reproduced if one has more and none fewer, equivalent-null if all are equivalent, not reproduced if all exclude a 10-point fall, \
                   undecided otherwise",
        },
        effect_verdict(&stuck, &vec![true; stuck.len()]),
        format!(
            "stuck runs λ = 0 → λ: {}",
            cells
                .iter()
                .map(|c| format!("{}/{} → {}/{} (Holm {})", c.base_stuck, c.pairs, c.reg_stuck, c.pairs, fmt_p(c.p_stuck_holm)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
}

/// The sweep's plots: validation curves (median ratio to λ = 0, log axis) per setting, and
/// the chosen λ's test MSE ratio per cell.
pub fn plots(s: &mut Section, plan: &Plan, runs: &Runs<SyntheticReg>, cells: &[SweepCell]) {
    let mut settings: Vec<super::Setting> = Vec::new();
    for (st, _) in plan.cells() {
        if !settings.contains(&st) {
            settings.push(st);
        }
    }
    for (i, setting) in settings.iter().enumerate() {
        let mut series = Vec::new();
        for (st, width) in plan.cells().into_iter().filter(|(st, _)| st == setting) {
            let spec = |seed, l| plan.spec(seed, &st, width, l);
            let pts: Vec<(f64, f64, f64, f64)> = plan
                .lambdas()
                .into_iter()
                .filter(|l| *l > 0.0)
                .map(|l| {
                    let m = median_interval(
                        &log_ratios(runs, spec, 0..plan.seeds, l, |o| o.validation_mse),
                        0.95,
                    );
                    (l, m.median.exp(), m.low.exp(), m.high.exp())
                })
                .collect();
            series.push(
                Series::line(
                    format!("n = {width}"),
                    pts.iter().map(|p| (p.0, p.1)).collect(),
                )
                .with_markers()
                .with_intervals(pts.iter().map(|p| (p.0, p.2, p.3)).collect()),
            );
        }
        s.plot(
            &format!("rq5_synthetic_validation_{i}.svg"),
            &format!(
                "RQ5 synthetic, {}: validation MSE relative to λ = 0 (median ratio over seeds with its 95% interval, \
                 log axis) against λ",
                setting.label()
            ),
            PlotSpec::log_log("validation MSE / its value at λ = 0", "λ", "ratio (log axis)").with_dodge(0.06),
            &series,
        );
    }
    let series: Vec<Series> = settings
        .iter()
        .map(|st| {
            let cs: Vec<&SweepCell> = cells.iter().filter(|c| &c.setting == st).collect();
            Series::dots(
                st.label(),
                cs.iter()
                    .map(|c| (c.width as f64, c.test.median.median.exp()))
                    .collect(),
            )
            .with_intervals(
                cs.iter()
                    .map(|c| {
                        (
                            c.width as f64,
                            c.test.median.low.exp(),
                            c.test.median.high.exp(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    s.plot(
        "rq5_synthetic_change.svg",
        "RQ5 synthetic: test MSE at the chosen λ relative to λ = 0 (median ratio over seeds with its 95% interval, log \
         axis) against the student's width, one colour per setting",
        PlotSpec::log_log("test MSE ratio at the chosen λ", "student width n", "ratio (log axis)")
            .with_dodge(0.08)
            .with_x_ticks({
                let mut w: Vec<f64> = plan.cells().iter().map(|c| c.1 as f64).collect();
                w.sort_by(f64::total_cmp);
                w.dedup();
                w
            }),
        &series,
    );
}
