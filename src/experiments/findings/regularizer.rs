//! RQ5: the diversity regulariser, on synthetic data and on MNIST, paired by seed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::document::Block;
use crate::report::plot::{PlotSpec, Series};

use super::super::stats::{mean_sd, wilcoxon_signed_rank};
use super::super::{Experiment, Plan, RunSpec, StoredRun};
use super::{csv_fields, fmt_mean_sd, num, of, Claim, Report, Verdict};

/// Values by seed.
type BySeed<T> = BTreeMap<u64, T>;
/// Validation, test and training loss of one synthetic run.
type Losses = (f64, f64, f64);
/// Width, mean change in points, seeds improved, seeds, p-value.
type WidthChange = (usize, f64, usize, usize, f64);
/// Per width: the chosen lambda and the paired test and training comparisons.
type WidthResult = (usize, f64, Paired, Paired);

/// Paired comparison of a treatment against the baseline across seeds.
struct Paired {
    changes: Vec<f64>,
    improved: usize,
    p: f64,
}

fn paired(base: &BTreeMap<u64, f64>, treat: &BTreeMap<u64, f64>, relative: bool) -> Paired {
    let changes: Vec<f64> = treat
        .iter()
        .filter_map(|(s, t)| {
            base.get(s)
                .map(|b| if relative { (t - b) / b } else { t - b })
        })
        .collect();
    Paired {
        improved: changes.iter().filter(|c| **c < 0.0).count(),
        p: wilcoxon_signed_rank(&changes).p_value,
        changes,
    }
}

pub(super) fn synthetic_reg_section(
    r: &mut Report,
    plan: &Plan,
    runs: &[(Experiment, StoredRun)],
    cmd: &str,
) {
    r.blocks.push(Block::Heading(
        2,
        Experiment::SyntheticRegularizer.title().into(),
    ));
    r.blocks.push(Block::Paragraph(
        "For each width, the discrepancy regulariser's lambda is chosen by the mean validation loss over seeds (validation \
         samples held out of the training set, never the test set), then compared with lambda = 0 seed by seed: the runs \
         share initial weights, data and batch order, so the difference is the regulariser's. Errors are test mean squared \
         errors; changes are relative; p is the two-sided Wilcoxon signed-rank p-value."
            .into(),
    ));
    r.config(serde_json::json!({"data": plan.rq5_data, "validation": plan.rq5_validation, "widths": plan.rq5_widths, "lambdas": plan.rq5_lambdas, "epochs": plan.rq5_epochs, "seeds": plan.synthetic_seeds, "optimizer": "adam, lr 0.01, batch 32", "loss": "squared", "output_layer": "fixed +/-1"}));
    // (width, lambda bits) -> seed -> (validation, test, train)
    let mut table: BTreeMap<(usize, u64), BySeed<Losses>> = BTreeMap::new();
    let mut csv =
        String::from("seed,width,lambda,train_loss,validation_loss,test_loss,l2_discrepancy_sq\n");
    for run in of(runs, Experiment::SyntheticRegularizer) {
        let RunSpec::SyntheticReg {
            seed,
            width,
            lambda,
            ..
        } = run.spec
        else {
            continue;
        };
        let v = &run.result;
        let _ = writeln!(
            csv,
            "{seed},{width},{lambda},{}",
            csv_fields(
                v,
                &[
                    "train_loss",
                    "validation_loss",
                    "test_loss",
                    "l2_discrepancy_sq"
                ]
            )
        );
        table.entry((width, lambda.to_bits())).or_default().insert(
            seed,
            (
                num(v, "validation_loss"),
                num(v, "test_loss"),
                num(v, "train_loss"),
            ),
        );
    }
    let mut rows = Vec::new();
    let mut results = Vec::new();
    let (mut mean_points, mut seed_points) = (Vec::new(), Vec::new());
    for &width in &plan.rq5_widths {
        let Some(base) = table.get(&(width, 0f64.to_bits())) else {
            continue;
        };
        let best = plan
            .rq5_lambdas
            .iter()
            .filter_map(|l| {
                table
                    .get(&(width, l.to_bits()))
                    .map(|t| (*l, mean_sd(&t.values().map(|v| v.0).collect::<Vec<_>>()).0))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((lambda, _)) = best else { continue };
        let treat = &table[&(width, lambda.to_bits())];
        let pick = |t: &BTreeMap<u64, (f64, f64, f64)>, f: fn(&(f64, f64, f64)) -> f64| {
            t.iter()
                .map(|(s, v)| (*s, f(v)))
                .collect::<BTreeMap<_, _>>()
        };
        let test = paired(&pick(base, |v| v.1), &pick(treat, |v| v.1), true);
        let train = paired(&pick(base, |v| v.2), &pick(treat, |v| v.2), true);
        rows.push(vec![
            width.to_string(),
            format!("{lambda}"),
            fmt_mean_sd(&base.values().map(|v| v.1).collect::<Vec<_>>(), 1.0, 4),
            fmt_mean_sd(&treat.values().map(|v| v.1).collect::<Vec<_>>(), 1.0, 4),
            format!("{}%", fmt_mean_sd(&test.changes, 100.0, 1)),
            format!("{}/{}", test.improved, test.changes.len()),
            format!("{:.3}", test.p),
            format!("{}%", fmt_mean_sd(&train.changes, 100.0, 1)),
            format!("{:.3}", train.p),
        ]);
        let (m, _) = mean_sd(&test.changes);
        mean_points.push((width as f64, 100.0 * m));
        seed_points.extend(test.changes.iter().map(|c| (width as f64, 100.0 * c)));
        results.push((width, lambda, test, train));
    }
    r.blocks.push(Block::Table {
        header: vec![
            "width".into(),
            "lambda (by validation)".into(),
            "test MSE, none".into(),
            "test MSE, regularised".into(),
            "test change".into(),
            "seeds improved".into(),
            "p".into(),
            "train change".into(),
            "p (train)".into(),
        ],
        rows,
    });
    r.plot("rq5_synthetic_change.svg", &format!("RQ5 synthetic: relative test-error change with the regulariser, per seed and mean ({cmd})"), PlotSpec { title: "test error change (%) vs width", x_label: "width n", y_label: "change (%)", log_x: true, log_y: false }, &[Series { name: "mean".into(), points: mean_points, scatter: false }, Series { name: "seeds".into(), points: seed_points, scatter: true }]);
    r.csv.push(("rq5_synthetic.csv".into(), csv));
    let significant = |p: &Paired| mean_sd(&p.changes).0 < 0.0 && p.p < 0.05;
    let small: Vec<&(usize, f64, Paired, Paired)> = results.iter().take(2).collect();
    let describe = |i: usize| {
        results.get(i).map_or("n/a".to_string(), |(w, l, t, _)| {
            format!(
                "width {w} (λ = {l}): {}% ({}/{} seeds improved, p = {:.3})",
                fmt_mean_sd(&t.changes, 100.0, 1),
                t.improved,
                t.changes.len(),
                t.p
            )
        })
    };
    let verdict = |f: &dyn Fn(&WidthResult) -> bool| {
        if results.is_empty() {
            Verdict::NotRun
        } else if small.iter().all(|x| f(x)) {
            Verdict::Reproduced
        } else if results.iter().any(f) {
            Verdict::Partly
        } else {
            Verdict::NotReproduced
        }
    };
    r.claims.push(Claim {
        finding: "RQ5 synthetic: the regulariser lowers test error, most for small networks".into(),
        paper: "up to 25% (relative) for small networks".into(),
        ours: format!("{}; {}", describe(0), describe(1)),
        verdict: verdict(&|x| significant(&x.2)),
        rule: "reproduced if the mean change is negative with p < 0.05 at the two smallest widths; partly if at some width".into(),
    });
    r.claims.push(Claim {
        finding: "RQ5 synthetic: the regulariser lowers training error".into(),
        paper: "lower".into(),
        ours: results
            .iter()
            .take(2)
            .map(|(w, _, _, tr)| {
                format!(
                    "width {w}: {}% (p = {:.3})",
                    fmt_mean_sd(&tr.changes, 100.0, 1),
                    tr.p
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        verdict: verdict(&|x| significant(&x.3)),
        rule: "as above, on the training loss".into(),
    });
}

pub(super) fn mnist_section(
    r: &mut Report,
    plan: &Plan,
    runs: &[(Experiment, StoredRun)],
    mnist_note: Option<&str>,
    cmd: &str,
) {
    r.blocks.push(Block::Heading(
        2,
        Experiment::MnistRegularizer.title().into(),
    ));
    if let Some(note) = mnist_note {
        r.blocks.push(Block::Paragraph(format!("Not run: {note}.")));
        for finding in [
            "RQ5 MNIST: the regulariser lowers test error at every width",
            "RQ5 MNIST: the gain exceeds plain weight decay's",
        ] {
            r.claims.push(Claim {
                finding: finding.into(),
                paper: "0.2 to 0.7 points".into(),
                ours: "MNIST unavailable".into(),
                verdict: Verdict::NotRun,
                rule: "needs MNIST".into(),
            });
        }
        return;
    }
    r.blocks.push(Block::Paragraph(
        "Softmax cross-entropy (the default for classes; squared loss was not run), Adam (lr 0.01, batch 128), inputs on the unit \
         sphere, trained output layer. Validation samples are carved from the 60,000 training images; each regulariser's \
         lambda is chosen per width by mean validation error; test error changes are in percentage points, paired by seed \
         against the unregularised run with the same initial weights and batch order. Widths >= 500 apply the pairwise \
         regularisers every 10 steps (scaled by 10; see `diversenet bench reg`)."
            .into(),
    ));
    let seeds = plan.mnist_seeds as i32;
    r.blocks.push(Block::Paragraph(format!(
        "With {seeds} seeds the smallest possible two-sided Wilcoxon p-value is {:.3}, so the verdicts rest on the sign and \
         size of the changes and on the seeds that improved.",
        2.0 / 2f64.powi(seeds)
    )));
    r.config(serde_json::json!({"widths": plan.mnist_widths, "epochs": plan.mnist_epochs, "train_samples": plan.mnist_train, "validation": plan.mnist_validation, "regularizers_and_lambdas": plan.mnist_regs.iter().map(|(k, l)| (k.to_string(), l.clone())).collect::<Vec<_>>(), "seeds": plan.mnist_seeds}));
    // (width, regulariser, lambda bits) -> seed -> (validation error, test error)
    let mut table: BTreeMap<(usize, String, u64), BySeed<(f64, f64)>> = BTreeMap::new();
    let mut csv = String::from(
        "seed,width,regularizer,lambda,validation_error,test_error,test_loss,l2_discrepancy_sq\n",
    );
    for run in of(runs, Experiment::MnistRegularizer) {
        let RunSpec::MnistReg {
            seed,
            width,
            reg,
            lambda,
            ..
        } = &run.spec
        else {
            continue;
        };
        let name = reg.map_or("none".to_string(), |k| k.to_string());
        let v = &run.result;
        let _ = writeln!(
            csv,
            "{seed},{width},{name},{lambda},{}",
            csv_fields(
                v,
                &[
                    "validation_error",
                    "test_error",
                    "test_loss",
                    "l2_discrepancy_sq"
                ]
            )
        );
        table
            .entry((*width, name, lambda.to_bits()))
            .or_default()
            .insert(*seed, (num(v, "validation_error"), num(v, "test_error")));
    }
    let mut rows = Vec::new();
    // regulariser -> (width, mean change in points, seeds improved, seeds, p)
    let mut by_reg: BTreeMap<String, Vec<WidthChange>> = BTreeMap::new();
    let mut plot_series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for &width in &plan.mnist_widths {
        let Some(base) = table.get(&(width, "none".into(), 0f64.to_bits())) else {
            continue;
        };
        let base_test: BTreeMap<u64, f64> = base.iter().map(|(s, v)| (*s, v.1)).collect();
        rows.push(vec![
            width.to_string(),
            "none".into(),
            "-".into(),
            format!(
                "{}%",
                fmt_mean_sd(&base_test.values().copied().collect::<Vec<_>>(), 100.0, 2)
            ),
            "-".into(),
            "-".into(),
            "-".into(),
        ]);
        for (kind, lambdas) in &plan.mnist_regs {
            let name = kind.to_string();
            let best = lambdas
                .iter()
                .filter_map(|l| {
                    table
                        .get(&(width, name.clone(), l.to_bits()))
                        .map(|t| (*l, mean_sd(&t.values().map(|v| v.0).collect::<Vec<_>>()).0))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((lambda, _)) = best else { continue };
            let treat: BTreeMap<u64, f64> = table[&(width, name.clone(), lambda.to_bits())]
                .iter()
                .map(|(s, v)| (*s, v.1))
                .collect();
            let p = paired(&base_test, &treat, false);
            let (m, _) = mean_sd(&p.changes);
            rows.push(vec![
                width.to_string(),
                name.clone(),
                format!("{lambda}"),
                format!(
                    "{}%",
                    fmt_mean_sd(&treat.values().copied().collect::<Vec<_>>(), 100.0, 2)
                ),
                format!("{} pts", fmt_mean_sd(&p.changes, 100.0, 2)),
                format!("{}/{}", p.improved, p.changes.len()),
                format!("{:.3}", p.p),
            ]);
            by_reg.entry(name.clone()).or_default().push((
                width,
                100.0 * m,
                p.improved,
                p.changes.len(),
                p.p,
            ));
            plot_series
                .entry(name)
                .or_default()
                .push((width as f64, 100.0 * m));
        }
    }
    r.blocks.push(Block::Table {
        header: vec![
            "width".into(),
            "regulariser".into(),
            "lambda (by validation)".into(),
            "test error".into(),
            "change".into(),
            "seeds improved".into(),
            "p".into(),
        ],
        rows,
    });
    let series: Vec<Series> = plot_series
        .into_iter()
        .map(|(name, points)| Series {
            name,
            points,
            scatter: false,
        })
        .collect();
    r.plot("rq5_mnist_change.svg", &format!("RQ5 MNIST: mean test-error change (percentage points) per regulariser and width ({cmd})"), PlotSpec { title: "MNIST test error change (points) vs width", x_label: "width n", y_label: "change (points)", log_x: true, log_y: false }, &series);
    r.csv.push(("rq5_mnist.csv".into(), csv));
    let disc = by_reg.get("discrepancy").cloned().unwrap_or_default();
    let wd = by_reg.get("weight-decay").cloned().unwrap_or_default();
    let improved_all =
        !disc.is_empty() && disc.iter().all(|(_, m, imp, n, _)| *m <= -0.2 && imp == n);
    let improved_some = disc.iter().any(|(_, m, _, _, _)| *m < 0.0);
    r.claims.push(Claim {
        finding: "RQ5 MNIST: the regulariser lowers test error at every width".into(),
        paper: "-0.2 to -0.7 points at every width".into(),
        ours: disc.iter().map(|(w, m, imp, n, _)| format!("n={w}: {m:+.2} pts ({imp}/{n})")).collect::<Vec<_>>().join("; "),
        verdict: if disc.is_empty() { Verdict::NotRun } else if improved_all { Verdict::Reproduced } else if improved_some { Verdict::Partly } else { Verdict::NotReproduced },
        rule: "reproduced if at every width the mean change is <= -0.2 points and every seed improved; partly if the mean change is negative at some width".into(),
    });
    let beats: Vec<(usize, bool)> = disc
        .iter()
        .filter_map(|(w, m, ..)| wd.iter().find(|x| x.0 == *w).map(|x| (*w, *m < x.1)))
        .collect();
    r.claims.push(Claim {
        finding: "RQ5 MNIST: the gain exceeds plain weight decay's (credit to diversity)".into(),
        paper: "not compared in the paper".into(),
        ours: format!("discrepancy better than weight decay at {} of {} widths", beats.iter().filter(|b| b.1).count(), beats.len()),
        verdict: if beats.is_empty() { Verdict::NotRun } else if beats.iter().all(|b| b.1) { Verdict::Reproduced } else if beats.iter().any(|b| b.1) { Verdict::Partly } else { Verdict::NotReproduced },
        rule: "reproduced if the discrepancy regulariser's mean change is below weight decay's at every width".into(),
    });
}
