//! RQ5 MNIST's report section: lambda chosen on validation with the selection seeds, test
//! error changes on every seed (paired t-test, Holm over width × regulariser cells), the
//! pooled paired effect per regulariser with its interval, harms, and the comparison with
//! decoupled weight decay.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::experiments::findings::rules::{
    paired_cells, paired_t_p, Edge, PairedCell, Selection, Verdict,
};
use crate::experiments::findings::{fmt_value, Section};
use crate::experiments::stats::{mean_interval, MeanInterval};
use crate::experiments::{Experiment, Results};
use crate::report::plot::{PlotSpec, Series};
use diversenet::model::Loss;
use diversenet::regularizer::RegularizerKind;

use super::{Outcome, Plan, Spec, Treatment};

const E: Experiment = Experiment::MnistRegularizer;

/// One (width, regulariser) cell of an arm.
pub struct Cell {
    pub width: usize,
    pub reg: String,
    pub selection: Selection,
    /// Test error change in percentage points, per seed, against the baseline.
    pub change: PairedCell,
    /// seed -> change, for pooling and pairing across regularisers.
    pub by_seed: BTreeMap<u64, f64>,
}

fn lookup<'a>(runs: &'a [(&Spec, &Outcome)]) -> impl Fn(&Spec) -> Option<&'a Outcome> + 'a {
    move |spec: &Spec| runs.iter().find(|(s, _)| *s == spec).map(|(_, o)| *o)
}

/// The cells of one arm: selection from validation errors only, then paired test changes
/// with Holm's correction over the arm's cells.
pub fn analyse(plan: &Plan, arm: usize, runs: &[(&Spec, &Outcome)]) -> Vec<Cell> {
    let find = lookup(runs);
    let a = &plan.arms[arm];
    let mut raw = Vec::new();
    for &width in &plan.widths {
        let base: BTreeMap<u64, f64> = (0..plan.seeds)
            .filter_map(|seed| {
                find(&plan.spec(seed, width, a.loss, None, None)).map(|o| (seed, o.test_error))
            })
            .collect();
        for (kind, initial) in &a.regs {
            let (_, selection) = plan.grid(initial, |k| {
                (0..plan.selection_seeds)
                    .map(|seed| {
                        find(&plan.spec(seed, width, a.loss, Some(*kind), Some(k)))
                            .map(|o| o.validation_error)
                    })
                    .collect()
            });
            let Some(selection) = selection else { continue };
            let k = (2.0 * selection.chosen.log10()).round() as i32;
            let by_seed: BTreeMap<u64, f64> = (0..plan.seeds)
                .filter_map(|seed| {
                    let t = find(&plan.spec(seed, width, a.loss, Some(*kind), Some(k)))?;
                    base.get(&seed).map(|b| (seed, 100.0 * (t.test_error - b)))
                })
                .collect();
            raw.push((width, kind.to_string(), selection, by_seed));
        }
    }
    let cells = paired_cells(
        raw.iter()
            .map(|(w, r, _, b)| (format!("n={w}, {r}"), b.values().copied().collect()))
            .collect(),
        paired_t_p,
    );
    raw.into_iter()
        .zip(cells)
        .map(|((width, reg, selection, by_seed), change)| Cell {
            width,
            reg,
            selection,
            change,
            by_seed,
        })
        .collect()
}

fn fmt_ci(m: &MeanInterval) -> String {
    format!("{:+.2} [{:+.2}, {:+.2}]", m.mean, m.low, m.high)
}

/// Pooled paired effect of a regulariser over all widths and seeds.
pub fn pooled(cells: &[Cell], reg: &str) -> MeanInterval {
    mean_interval(
        &cells
            .iter()
            .filter(|c| c.reg == reg)
            .flat_map(|c| c.change.changes.clone())
            .collect::<Vec<_>>(),
    )
}

/// The gain rule at MNIST: reproduced if at every width the discrepancy regulariser's
/// change is a significant gain (Holm) of at least 0.2 points; partly if the pooled
/// interval lies below 0 or some width gains significantly; not reproduced otherwise.
pub fn gain_verdict(cells: &[Cell], reg: &str) -> Verdict {
    let mine: Vec<&Cell> = cells.iter().filter(|c| c.reg == reg).collect();
    if mine.is_empty() {
        return Verdict::NotRun;
    }
    let pooled = pooled(cells, reg);
    if mine
        .iter()
        .all(|c| c.change.gain() && c.change.interval.mean <= -0.2)
    {
        Verdict::Reproduced
    } else if pooled.high < 0.0 || mine.iter().any(|c| c.change.gain()) {
        Verdict::Partly
    } else {
        Verdict::NotReproduced
    }
}

pub fn section(plan: &Plan, results: &Results, mnist_note: Option<&str>) -> Section {
    let mut s = Section::new(E);
    if let Some(note) = mnist_note {
        s.paragraph(format!("Not run: {note}."));
        for (id, claim) in [
            (
                "rq5-mnist-gain",
                "The regulariser lowers MNIST test error at every width, by 0.2 to 0.7 points",
            ),
            (
                "rq5-mnist-vs-weight-decay",
                "The regulariser's gain exceeds weight decay's",
            ),
        ] {
            s.claim(
                E,
                id,
                claim,
                Verdict::NotRun,
                "MNIST unavailable",
                "needs MNIST",
            );
        }
        return s;
    }
    s.paragraph(format!(
        "Adam (lr {}, {:?} schedule, batch 128) for {} epochs, inputs on the unit sphere, trained output layer; {} training \
         and {} validation images from the 60,000 (a fixed permutation), the 10,000 test images for testing. Lambda is \
         chosen per (loss, width, regulariser) by mean validation error over seeds 0..{} on a half-decade grid, widened \
         by up to {} steps while the choice sits at its edge; the chosen lambda is then run on all {} seeds and compared \
         with the unregularised run of the same seed (same initial weights and batch order). Changes are in percentage \
         points; p is a paired t-test (with {} seeds Wilcoxon cannot go below {:.3}), Holm-corrected over the width × \
         regulariser cells of each loss. From width {} the regularisers act every 10 steps (scaled by 10). Weight decay is \
         AdamW's decoupled decay of W (each step W ← (1 − lr_t·λ) W, apart from the gradient and Adam's moments), at \
         every step and every width.",
        plan.lr, plan.schedule, plan.epochs, plan.train_samples, plan.validation, plan.selection_seeds, plan.max_widening,
        plan.seeds, plan.seeds, 2.0 / 2f64.powi(plan.seeds as i32), plan.sparse_from_width
    ));
    s.config(plan);
    let runs = results.mnist_reg();
    let mut csv = String::from("seed,width,loss,regularizer,lambda,validation_error,test_error,test_loss,l2_discrepancy_sq\n");
    for (spec, o) in &runs {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{}",
            spec.seed,
            spec.width,
            spec.loss,
            spec.reg.map_or("none".into(), |k| k.to_string()),
            spec.lambda,
            o.validation_error,
            o.test_error,
            o.test_loss,
            o.l2_discrepancy_sq
        );
    }
    let disc = RegularizerKind::Discrepancy.to_string();
    let wd = Treatment::DecoupledWeightDecay.to_string();
    for (i, arm) in plan.arms.iter().enumerate() {
        let cells = analyse(plan, i, &runs);
        let base_means: Vec<(usize, MeanInterval)> = plan
            .widths
            .iter()
            .map(|&w| {
                let v: Vec<f64> = (0..plan.seeds)
                    .filter_map(|seed| {
                        runs.iter()
                            .find(|(sp, _)| **sp == plan.spec(seed, w, arm.loss, None, None))
                    })
                    .map(|(_, o)| 100.0 * o.test_error)
                    .collect();
                (w, mean_interval(&v))
            })
            .collect();
        let monotone = base_means.windows(2).all(|p| p[1].1.mean <= p[0].1.mean);
        s.paragraph(format!(
            "{} loss. Baseline test error by width: {}; it {} with width.",
            arm.loss,
            base_means
                .iter()
                .map(|(w, m)| format!("n={w}: {:.2}%", m.mean))
                .collect::<Vec<_>>()
                .join(", "),
            if monotone {
                "falls"
            } else {
                "does not fall monotonically"
            }
        ));
        let rows = cells
            .iter()
            .map(|c| {
                vec![
                    c.width.to_string(),
                    c.reg.clone(),
                    format!(
                        "{}{}",
                        fmt_value(c.selection.chosen),
                        match c.selection.edge {
                            Edge::Inside => "",
                            Edge::Lowest => " (edge: lowest)",
                            Edge::Highest => " (edge: highest)",
                        }
                    ),
                    format!("{} pts", fmt_ci(&c.change.interval)),
                    format!("{}/{}", c.change.improved(), c.change.changes.len()),
                    format!("{:.3}", c.change.p),
                    format!("{:.3}", c.change.p_holm),
                ]
            })
            .collect();
        s.table(
            &[
                "width",
                "regulariser",
                "λ (by validation)",
                "test error change [95% CI]",
                "seeds improved",
                "p",
                "p (Holm)",
            ],
            rows,
        );
        let regs: Vec<String> = arm.regs.iter().map(|(k, _)| k.to_string()).collect();
        s.table(
            &[
                "regulariser",
                "pooled change over widths and seeds [95% CI]",
            ],
            regs.iter()
                .map(|r| vec![r.clone(), format!("{} pts", fmt_ci(&pooled(&cells, r)))])
                .collect(),
        );
        let slug = arm.loss.to_string();
        let mut series = vec![Series::line(
            "none",
            base_means
                .iter()
                .map(|(w, m)| (*w as f64, m.mean))
                .collect(),
        )
        .with_intervals(
            base_means
                .iter()
                .map(|(w, m)| (*w as f64, m.low, m.high))
                .collect(),
        )];
        for r in &regs {
            let cs: Vec<&Cell> = cells.iter().filter(|c| &c.reg == r).collect();
            series.push(
                Series::line(
                    format!("{r} (change)"),
                    cs.iter()
                        .map(|c| (c.width as f64, c.change.interval.mean))
                        .collect(),
                )
                .with_intervals(
                    cs.iter()
                        .map(|c| {
                            (
                                c.width as f64,
                                c.change.interval.low,
                                c.change.interval.high,
                            )
                        })
                        .collect(),
                ),
            );
        }
        let change_series: Vec<Series> = series[1..].to_vec();
        s.plot(
            &format!("rq5_mnist_baseline_{slug}.svg"),
            &format!("RQ5 MNIST, {slug}: baseline test error (%) against width, mean and 95% interval over seeds"),
            PlotSpec::new("baseline test error (%)", "width n", "test error (%)", true, false)
                .with_x_ticks(plan.widths.iter().map(|&w| w as f64).collect()),
            &series[..1],
        );
        s.plot(
            &format!("rq5_mnist_change_{slug}.svg"),
            &format!("RQ5 MNIST, {slug}: test error change (points) at the chosen λ per regulariser, mean and 95% interval over seeds"),
            PlotSpec::new("test error change (points)", "width n", "change (points)", true, false)
                .with_x_ticks(plan.widths.iter().map(|&w| w as f64).collect()),
            &change_series,
        );
        let is_ce = arm.loss == Loss::CrossEntropy;
        let id = if is_ce {
            "rq5-mnist-gain".to_string()
        } else {
            format!("rq5-mnist-gain-{slug}")
        };
        let mine: Vec<&Cell> = cells.iter().filter(|c| c.reg == disc).collect();
        s.claim(
            E,
            &id,
            format!("The regulariser lowers MNIST test error at every width, by 0.2 to 0.7 points ({slug} loss)"),
            gain_verdict(&cells, &disc),
            format!(
                "{}; pooled {} pts",
                mine.iter().map(|c| format!("n={}: {:+.2} (Holm p = {:.3})", c.width, c.change.interval.mean, c.change.p_holm)).collect::<Vec<_>>().join("; "),
                fmt_ci(&pooled(&cells, &disc))
            ),
            "reproduced if every width gains significantly (Holm-corrected paired t, p < 0.05) by at least 0.2 points; \
             partly if the pooled 95% interval lies below 0 or some width gains significantly",
        );
        if is_ce {
            let diff: Vec<f64> = cells
                .iter()
                .filter(|c| c.reg == disc)
                .flat_map(|c| {
                    let w = cells.iter().find(|x| x.reg == wd && x.width == c.width);
                    c.by_seed.iter().filter_map(move |(seed, v)| {
                        w.and_then(|w| w.by_seed.get(seed)).map(|b| v - b)
                    })
                })
                .collect();
            let d = mean_interval(&diff);
            s.claim(
                E,
                "rq5-mnist-vs-weight-decay",
                "The regulariser's gain exceeds weight decay's (credit to diversity; not compared in the paper)",
                if diff.is_empty() { Verdict::NotRun } else if d.high < 0.0 { Verdict::Reproduced } else if d.mean < 0.0 { Verdict::Partly } else { Verdict::NotReproduced },
                format!("discrepancy minus weight decay, paired by width and seed: {} pts (n = {})", fmt_ci(&d), d.n),
                "reproduced if the 95% interval of the paired difference lies below 0; partly if only its mean does",
            );
        }
        let mut harm = 0;
        for c in cells.iter().filter(|c| c.change.harm()) {
            harm += 1;
            s.claim(
                E,
                &format!("rq5-mnist-harm-{slug}-{harm}"),
                format!("The regulariser {} does not raise MNIST test error (n = {}, {slug})", c.reg, c.width),
                Verdict::NotReproduced,
                format!("significant harm: {} pts, Holm p = {:.3}", fmt_ci(&c.change.interval), c.change.p_holm),
                "a cell whose test error rises significantly (Holm-corrected p < 0.05) is listed as a harm",
            );
        }
    }
    s.csv.push(("rq5_mnist.csv".into(), csv));
    s
}
