//! RQ1's report section: the bound as a consistency check (it is an identity), and the
//! convergence claim against the collapsed controls.

use std::fmt::Write as _;

use crate::experiments::findings::rules::{convergence_verdict, Trajectory, Verdict};
use crate::experiments::findings::Section;
use crate::experiments::{Experiment, Results};
use crate::report::plot::{PlotSpec, Series};

use super::{Arm, Plan};

const E: Experiment = Experiment::LossBound;

fn arm_name(a: Arm) -> &'static str {
    match a {
        Arm::Diverse => "diverse (Gaussian rows)",
        Arm::Collapsed => "control: collapsed units",
        Arm::Narrow => "control: n·d < m",
    }
}

pub fn section(plan: &Plan, results: &Results) -> Section {
    let mut s = Section::new(E);
    s.paragraph(format!(
        "Full-batch gradient descent (f64) on noise-free teacher-student data; at every {}th step the squared loss L, \
         ‖∇_W L‖, s_m(D) and the bound m‖∇_W L‖²/(2 s_m(D)²) are measured on the whole training set. Beside the \
         diverse networks, two negative controls have s_m(D) = 0 throughout, the case the theorem excludes: units \
         collapsed onto one direction per output sign (equal units get equal gradients and stay equal), and a network \
         with n·d < m units ({} units, d = {}, m = {}).",
        plan.log_every, plan.narrow_width, plan.data.dim, plan.data.train_samples
    ));
    s.config(plan);
    let mut csv = String::from("seed,arm,step,loss,grad_norm,s_min,bound\n");
    let (mut treated, mut controls) = (Vec::new(), Vec::new());
    let (mut max_ratio, mut points) = (0f64, 0usize);
    let mut rows = Vec::new();
    let mut plots: Vec<(Arm, Vec<Series>, Vec<Series>)> = Vec::new();
    for (spec, out) in results.loss_bound() {
        let t = &out.trajectory;
        let (Some(first), Some(last)) = (t.first(), t.last()) else {
            continue;
        };
        let mut seed_ratio = 0f64;
        for p in t {
            if let Some(b) = p.m.bound.filter(|b| *b > 0.0) {
                seed_ratio = seed_ratio.max(p.m.loss / b);
                points += 1;
            }
            let _ = writeln!(
                csv,
                "{},{:?},{},{},{},{},{}",
                spec.seed,
                spec.arm,
                p.step,
                p.m.loss,
                p.m.grad_norm,
                p.m.s_min,
                p.m.bound.unwrap_or(f64::NAN)
            );
        }
        max_ratio = max_ratio.max(seed_ratio);
        let min_s = t.iter().map(|p| p.m.s_min).fold(f64::INFINITY, f64::min);
        let max_s = t.iter().map(|p| p.m.s_min).fold(0.0, f64::max);
        let summary = Trajectory {
            min_s_relative: if first.m.s_min > 0.0 {
                min_s / first.m.s_min
            } else {
                0.0
            },
            max_s,
            loss_ratio: last.m.loss / first.m.loss,
        };
        match spec.arm {
            Arm::Diverse => treated.push(summary),
            _ => controls.push(summary),
        }
        rows.push(vec![
            arm_name(spec.arm).into(),
            spec.seed.to_string(),
            format!("{:.3e}", first.m.loss),
            format!("{:.3e}", last.m.loss),
            format!("{:.3e}", min_s),
            format!("{:.3e}", max_s),
            if seed_ratio > 0.0 {
                format!("{seed_ratio:.3}")
            } else {
                "— (s_m(D) = 0)".into()
            },
        ]);
        if spec.seed == 0 {
            let pts = |f: &dyn Fn(&super::Point) -> Option<f64>| {
                t.iter()
                    .filter_map(|p| f(p).map(|v| ((p.step as f64).max(1.0), v)))
                    .collect::<Vec<_>>()
            };
            plots.push((
                spec.arm,
                vec![
                    Series::line("loss L", pts(&|p| Some(p.m.loss))),
                    Series::line("bound m‖∇L‖²/(2 s_m(D)²)", pts(&|p| p.m.bound)),
                ],
                vec![Series::line("s_m(D)", pts(&|p| Some(p.m.s_min)))],
            ));
        }
    }
    s.table(
        &[
            "networks",
            "seed",
            "initial L",
            "final L",
            "min s_m(D)",
            "max s_m(D)",
            "max L / bound",
        ],
        rows,
    );
    for (arm, loss, smin) in &plots {
        let slug = format!("{arm:?}").to_lowercase();
        s.plot(
            &format!("rq1_loss_{slug}.svg"),
            &format!(
                "RQ1, {}, seed 0: the loss and its bound along gradient descent",
                arm_name(*arm)
            ),
            PlotSpec::log_log("RQ1: loss and bound", "step", "value"),
            loss,
        );
        s.plot(
            &format!("rq1_smin_{slug}.svg"),
            &format!(
                "RQ1, {}, seed 0: s_m(D) along gradient descent (not drawn where it is 0)",
                arm_name(*arm)
            ),
            PlotSpec::log_log("RQ1: s_m(D)", "step", "s_m(D)"),
            smin,
        );
    }
    s.csv.push(("rq1_trajectories.csv".into(), csv));
    s.numbers
        .insert("rq1_max_loss_over_bound".into(), max_ratio.into());
    s.claim(
        E,
        "rq1-bound",
        "L(W) ≤ m‖∇_W L‖²/(2 s_m(D)²) at every W (the gradient identity)",
        if points == 0 {
            Verdict::NotRun
        } else {
            Verdict::ConsistencyCheck
        },
        format!("max L/bound = {max_ratio:.3} over {points} measured points"),
        if max_ratio <= 1.0 + 1e-9 {
            "holds at every point (an exact inequality: a violation would be a bug)".to_string()
        } else {
            "VIOLATED: the implementation of s_m(D) or of the gradient is wrong".to_string()
        },
    );
    let verdict = convergence_verdict(&treated, &controls);
    let converged = |v: &[Trajectory]| {
        v.iter()
            .filter(|t| t.loss_ratio < crate::experiments::findings::rules::CONVERGED)
            .count()
    };
    let eligible = treated
        .iter()
        .filter(|t| t.min_s_relative >= crate::experiments::findings::rules::AWAY_FROM_ZERO)
        .count();
    s.claim(
        E,
        "rq1-convergence",
        "With s_m(D) away from 0, gradient descent drives the training loss to 0 (no spurious local minima)",
        verdict,
        format!(
            "{} of {eligible} diverse runs with s_m(D) ≥ 1% of its start reached L < 1% of L₀; controls with s_m(D) = 0: {} of {} did",
            converged(&treated),
            converged(&controls),
            controls.len()
        ),
        "reproduced if every diverse run whose s_m(D) stayed ≥ 1% of its start converged (final/initial loss < 1e-2) and \
         some control (s_m(D) ≤ 1e-8 throughout) did not; partly if the controls converged too (the condition does not \
         discriminate) or only some diverse runs converged; not reproduced if none did",
    );
    s
}
