//! RQ2/RQ4: diversity against s_m(D), training loss and generalisation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::document::Block;
use crate::report::plot::{PlotSpec, Series};

use super::super::stats::spearman_with_bootstrap;
use super::super::{Experiment, Plan, RunSpec, StoredRun};
use super::{correlation_verdict, fmt_corr};
use super::{fmt_mean_sd, num, of, Claim, Report};

pub(super) fn diversity_section(
    r: &mut Report,
    plan: &Plan,
    runs: &[(Experiment, StoredRun)],
    cmd: &str,
) {
    r.blocks
        .push(Block::Heading(2, Experiment::Diversity.title().into()));
    r.blocks.push(Block::Paragraph(
        "Networks of varied diversity (random or clustered initial directions, or trained with the discrepancy regulariser) are \
         trained the same way (Adam, batch 32, f64); at each checkpoint the L2 slice discrepancy, s_m(D) on the training points, \
         the training loss and the test loss are measured. Rank correlations are over the final checkpoints, with 95% bootstrap intervals (1000 resamples)."
            .into(),
    ));
    r.config(serde_json::json!({"data": plan.rq2_data, "widths": plan.rq2_widths, "epochs": plan.rq2_epochs, "inits_and_lambda": plan.rq2_inits, "seeds": plan.synthetic_seeds}));
    let mut csv =
        String::from("seed,width,init,lambda,epoch,l2_discrepancy_sq,s_min,train_loss,test_loss\n");
    let (mut disc, mut smin, mut train, mut test) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut widths = Vec::new();
    let mut groups: BTreeMap<String, Vec<(f64, f64, f64, f64)>> = BTreeMap::new();
    for run in of(runs, Experiment::Diversity) {
        let RunSpec::Diversity {
            seed,
            width,
            init,
            lambda,
            epochs,
            ..
        } = &run.spec
        else {
            continue;
        };
        let label = format!(
            "n={width} {} λ={lambda}",
            serde_json::to_string(init).unwrap_or_default()
        );
        for p in run.result["checkpoints"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let row = (
                num(&p, "l2_discrepancy_sq"),
                num(&p, "s_min"),
                num(&p, "train_loss"),
                num(&p, "test_loss"),
            );
            let _ = writeln!(
                csv,
                "{seed},{width},\"{}\",{lambda},{},{},{},{},{}",
                serde_json::to_string(init)
                    .unwrap_or_default()
                    .replace('"', "'"),
                num(&p, "epoch"),
                row.0,
                row.1,
                row.2,
                row.3
            );
            if num(&p, "epoch") as usize == *epochs {
                widths.push(*width);
                disc.push(row.0);
                smin.push(row.1);
                train.push(row.2);
                test.push(row.3);
                groups.entry(label.clone()).or_default().push(row);
            }
        }
    }
    let rows = groups
        .iter()
        .map(|(k, v)| {
            let col = |f: fn(&(f64, f64, f64, f64)) -> f64| {
                fmt_mean_sd(&v.iter().map(f).collect::<Vec<_>>(), 1.0, 4)
            };
            vec![
                k.clone(),
                col(|p| p.0),
                col(|p| p.1),
                col(|p| p.2),
                col(|p| p.3),
            ]
        })
        .collect();
    r.blocks.push(Block::Table {
        header: vec![
            "networks".into(),
            "L2 discrepancy^2".into(),
            "s_m(D)".into(),
            "train loss".into(),
            "test loss".into(),
        ],
        rows,
    });
    let c_s = spearman_with_bootstrap(&disc, &smin, 1000, 1);
    let c_train = spearman_with_bootstrap(&disc, &train, 1000, 2);
    let c_test = spearman_with_bootstrap(&disc, &test, 1000, 3);
    let mut distinct = widths.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let scatter = |y: &[f64], _: &str| -> Vec<Series> {
        distinct
            .iter()
            .map(|&w| Series {
                name: format!("width {w}"),
                points: (0..disc.len())
                    .filter(|&i| widths[i] == w)
                    .map(|i| (disc[i], y[i]))
                    .collect(),
                scatter: true,
            })
            .collect()
    };
    r.plot(
        "rq2_discrepancy_vs_smin.svg",
        &format!("RQ2: discrepancy vs s_m(D), {} ({cmd})", fmt_corr(&c_s)),
        PlotSpec {
            title: "discrepancy vs s_m(D)",
            x_label: "L2 discrepancy^2",
            y_label: "s_m(D)",
            log_x: false,
            log_y: true,
        },
        &scatter(&smin, "final checkpoints"),
    );
    r.plot(
        "rq2_discrepancy_vs_train_loss.svg",
        &format!(
            "RQ2: discrepancy vs training loss, {} ({cmd})",
            fmt_corr(&c_train)
        ),
        PlotSpec {
            title: "discrepancy vs training loss",
            x_label: "L2 discrepancy^2",
            y_label: "training loss",
            log_x: false,
            log_y: true,
        },
        &scatter(&train, "final checkpoints"),
    );
    r.plot(
        "rq2_discrepancy_vs_test_loss.svg",
        &format!(
            "RQ4: discrepancy vs test loss, {} ({cmd})",
            fmt_corr(&c_test)
        ),
        PlotSpec {
            title: "discrepancy vs test loss",
            x_label: "L2 discrepancy^2",
            y_label: "test loss",
            log_x: false,
            log_y: true,
        },
        &scatter(&test, "final checkpoints"),
    );
    r.csv.push(("rq2_points.csv".into(), csv));
    r.numbers.insert(
        "rq2_spearman_discrepancy_smin".into(),
        serde_json::to_value(&c_s).expect("serialises"),
    );
    r.numbers.insert(
        "rq2_spearman_discrepancy_train_loss".into(),
        serde_json::to_value(&c_train).expect("serialises"),
    );
    r.numbers.insert(
        "rq2_spearman_discrepancy_test_loss".into(),
        serde_json::to_value(&c_test).expect("serialises"),
    );
    let rule = |s: &str| {
        format!("reproduced if Spearman ρ is {s} with its 95% bootstrap interval excluding 0; partly if only ρ has that sign")
    };
    for (finding, c, sign) in [
        ("RQ2: lower discrepancy goes with larger s_m(D)", &c_s, -1.0),
        (
            "RQ2: lower discrepancy goes with lower training loss",
            &c_train,
            1.0,
        ),
        (
            "RQ4: discrepancy predicts generalisation (test loss)",
            &c_test,
            1.0,
        ),
    ] {
        r.claims.push(Claim {
            finding: finding.into(),
            paper: "qualitative".into(),
            ours: fmt_corr(c),
            verdict: correlation_verdict(c, sign),
            rule: rule(if sign < 0.0 { "negative" } else { "positive" }),
        });
    }
}
