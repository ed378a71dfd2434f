//! RQ1: the training-loss bound along gradient descent.

use std::fmt::Write as _;

use crate::report::document::Block;
use crate::report::plot::{PlotSpec, Series};

use super::super::{Experiment, Plan, RunSpec, StoredRun};
use super::{num, of, Claim, Report, Verdict};

pub(super) fn loss_bound_section(
    r: &mut Report,
    plan: &Plan,
    runs: &[(Experiment, StoredRun)],
    cmd: &str,
) {
    r.blocks
        .push(Block::Heading(2, Experiment::LossBound.title().into()));
    r.blocks.push(Block::Paragraph(
        "Full-batch gradient descent (f64) on teacher-student data; at every logged step the squared loss L, ||grad_W L||, \
         s_m(D) and the bound m ||grad_W L||^2 / (2 s_m(D)^2) are measured on the whole training set."
            .into(),
    ));
    r.config(serde_json::json!({"data": plan.rq1_data, "width": plan.rq1_width, "steps": plan.rq1_steps, "lr": plan.rq1_lr, "log_every": plan.rq1_log_every, "seeds": plan.synthetic_seeds, "output_layer": "fixed +/-1"}));
    let mut max_ratio: f64 = 0.0;
    let mut points = 0;
    let mut rows = Vec::new();
    let mut csv = String::from("seed,step,loss,grad_norm,s_min,bound\n");
    let (mut converged, mut eligible) = (0, 0);
    let mut series = Vec::new();
    for run in of(runs, Experiment::LossBound) {
        let RunSpec::LossBound { seed, .. } = run.spec else {
            continue;
        };
        let traj = run.result["trajectory"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for p in &traj {
            let (l, b) = (num(p, "loss"), num(p, "bound"));
            if b.is_finite() && b > 0.0 {
                max_ratio = max_ratio.max(l / b);
                points += 1;
            }
            let _ = writeln!(
                csv,
                "{seed},{},{},{},{},{}",
                num(p, "step"),
                l,
                num(p, "grad_norm"),
                num(p, "s_min"),
                b
            );
        }
        let (Some(first), Some(last)) = (traj.first(), traj.last()) else {
            continue;
        };
        let s0 = num(first, "s_min");
        let min_s = traj
            .iter()
            .map(|p| num(p, "s_min"))
            .fold(f64::INFINITY, f64::min);
        let ratio = num(last, "loss") / num(first, "loss");
        if min_s >= 0.01 * s0 && s0 > 0.0 {
            eligible += 1;
            if ratio < 1e-2 {
                converged += 1;
            }
        }
        rows.push(vec![
            seed.to_string(),
            format!("{:.3e}", num(first, "loss")),
            format!("{:.3e}", num(last, "loss")),
            format!("{:.3e}", min_s),
            format!("{:.3e}", num(last, "s_min")),
        ]);
        if seed == 0 {
            let pts = |k: &str| {
                traj.iter()
                    .map(|p| (num(p, "step").max(1.0), num(p, k)))
                    .collect::<Vec<_>>()
            };
            series = vec![
                Series {
                    name: "loss L".into(),
                    points: pts("loss"),
                    scatter: false,
                },
                Series {
                    name: "bound".into(),
                    points: pts("bound"),
                    scatter: false,
                },
                Series {
                    name: "s_m(D)".into(),
                    points: pts("s_min"),
                    scatter: false,
                },
            ];
        }
    }
    r.blocks.push(Block::Table {
        header: vec![
            "seed".into(),
            "initial L".into(),
            "final L".into(),
            "min s_m(D)".into(),
            "final s_m(D)".into(),
        ],
        rows,
    });
    r.blocks.push(Block::Paragraph(format!("Largest L / bound over {points} measured points: {max_ratio:.3e} (the inequality is exact: at most 1 up to rounding).")));
    r.plot(
        "rq1_trajectory.svg",
        &format!("RQ1, seed 0: loss, bound and s_m(D) along gradient descent ({cmd})"),
        PlotSpec {
            title: "RQ1: loss bound along gradient descent (seed 0)",
            x_label: "step",
            y_label: "value",
            log_x: true,
            log_y: true,
        },
        &series,
    );
    r.csv.push(("rq1_trajectories.csv".into(), csv));
    r.numbers
        .insert("rq1_max_loss_over_bound".into(), max_ratio.into());
    r.claims.push(Claim {
        finding: "RQ1: L(W) <= m ||grad L||^2 / (2 s_m(D)^2) at every W".into(),
        paper: "holds (theorem)".into(),
        ours: format!("max L/bound = {max_ratio:.2e} over {points} points"),
        verdict: if points == 0 {
            Verdict::NotRun
        } else if max_ratio <= 1.0 + 1e-9 {
            Verdict::Reproduced
        } else {
            Verdict::NotReproduced
        },
        rule: "reproduced if L/bound <= 1 + 1e-9 at every logged step".into(),
    });
    r.claims.push(Claim {
        finding: "RQ1: with s_m(D) away from 0, gradient descent drives the loss to 0".into(),
        paper: "no spurious local minima".into(),
        ours: format!("{converged} of {eligible} runs whose s_m(D) stayed >= 1% of its start fell below 1% of their initial loss"),
        verdict: if eligible == 0 { Verdict::NotRun } else if converged == eligible { Verdict::Reproduced } else if converged > 0 { Verdict::Partly } else { Verdict::NotReproduced },
        rule: "among runs with min s_m(D) >= 1% of its initial value: all reach final/initial loss < 1e-2 = reproduced, some = partly".into(),
    });
}
