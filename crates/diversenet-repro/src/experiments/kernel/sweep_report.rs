//! RQ3's sweeps of n at several m: the rate of ‖E_W‖₂ in n at each m, the crossing n*(m)
//! of the fitted rate with λ_min(K) (where the lower bound would turn positive), and the
//! growth of n*(m) with m.

use crate::experiments::stats::log_log_fit;
use crate::report::plot::{PlotSpec, Series};
use crate::report::section::{ClaimText, Section};

use super::report::{informative_verdict, sweeps, Cells};
use super::Plan;

pub fn sweep_section(s: &mut Section, plan: &Plan, by: &Cells) {
    let sw = sweeps(plan, by);
    let n_max = sw
        .iter()
        .filter_map(|x| x.crossing)
        .fold(*plan.sweep_widths.last().unwrap_or(&1) as f64, f64::max)
        .min(1e9);
    let n_min = *plan.sweep_widths.first().unwrap_or(&1) as f64;
    let mut series = Vec::new();
    for x in &sw {
        series.push(
            Series::line(
                format!("m = {}: ‖E_W‖₂ (mean ± sd)", x.points),
                x.e_w.iter().map(|p| (p.0, p.1)).collect(),
            )
            .with_markers()
            .with_intervals(x.e_w.iter().map(|p| (p.0, p.2, p.3)).collect()),
        );
        if let Some(f) = &x.fit {
            let end = x.crossing.unwrap_or(n_max).min(n_max);
            series.push(
                Series::line(
                    format!("m = {}: fitted n^{:.2}, extrapolated", x.points, f.slope),
                    vec![(n_min, f.at(n_min)), (end, f.at(end))],
                )
                .dashed(),
            );
        }
        series.push(
            Series::line(
                format!("m = {}: λ_min(K)", x.points),
                vec![(n_min, x.lambda_min_k), (n_max, x.lambda_min_k)],
            )
            .dotted(),
        );
    }
    let diverse: Vec<(f64, f64)> = by
        .iter()
        .filter(|((d, m, _, div), _)| *d == plan.sweep_dim && *m == plan.diverse_points && *div)
        .map(|((_, _, n, _), v)| {
            let e: Vec<f64> = v.values().map(|o| o.e_w_norm).collect();
            (*n as f64, crate::experiments::stats::mean_sd(&e).0)
        })
        .collect();
    if !diverse.is_empty() {
        series.push(
            Series::line(
                format!("m = {}: diverse units", plan.diverse_points),
                diverse,
            )
            .with_markers(),
        );
    }
    s.plot(
        "rq3_e_w_over_n.svg",
        &format!(
            "RQ3: ‖E_W‖₂ against the number of units n (d = {}) at each m, with λ_min(K) (dotted) and the fitted rates \
             extrapolated to their crossing (dashed)",
            plan.sweep_dim
        ),
        PlotSpec::log_log("‖E_W‖₂ against n", "units n", "‖E_W‖₂"),
        &series,
    );
    let crossings: Vec<(f64, f64)> = sw
        .iter()
        .filter_map(|x| x.crossing.map(|n| (x.points as f64, n)))
        .collect();
    let growth = log_log_fit(&crossings);
    let mut fig = vec![Series::dots(
        "n*(m), from each m's fitted rate",
        crossings.clone(),
    )];
    if let Some(g) = &growth {
        let (lo, hi) = (
            crossings.first().map_or(1.0, |c| c.0),
            crossings.last().map_or(1.0, |c| c.0),
        );
        fig.push(
            Series::line(
                format!("fit n* ∝ m^{:.2}", g.slope),
                vec![(lo, g.at(lo)), (hi, g.at(hi))],
            )
            .dashed(),
        );
    }
    s.plot(
        "rq3_crossing_over_m.svg",
        "RQ3: the extrapolated number of random units n*(m) at which λ_min(K) − ‖E_W‖₂ would turn positive, against m",
        PlotSpec::log_log("n*(m)", "points m", "n*")
            .with_x_ticks(plan.sweep_points.iter().map(|&m| m as f64).collect()),
        &fig,
    );
    let rows = sw
        .iter()
        .map(|x| {
            vec![
                x.points.to_string(),
                format!("{:.3e}", x.lambda_min_k),
                x.fit.map_or("—".into(), |f| {
                    format!("{:.2} ± {:.2}", f.slope, f.slope_se)
                }),
                x.crossing.map_or("never".into(), |n| format!("{n:.2e}")),
                if x.measured_positive { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    s.table(
        &[
            "m",
            "λ_min(K)",
            "exponent b of ‖E_W‖₂ ∝ n^b (± se)",
            "n*(m) (extrapolated)",
            "bound positive at a measured n",
        ],
        rows,
    );
    let growth_text = growth.map_or("no fit".into(), |g| {
        format!("n*(m) ∝ m^{:.2} (± {:.2})", g.slope, g.slope_se)
    });
    let measured = if sw.iter().any(|x| x.measured_positive) {
        "positive at some measured n".to_string()
    } else {
        format!(
            "never positive where measured (n ≤ {})",
            plan.sweep_widths.last().unwrap_or(&0)
        )
    };
    s.claim(
        ClaimText {
            id: "rq3-informative",
            claim: "The lower bound λ_min(K) − ‖E_W‖₂ on s_m(D)²/n becomes positive (informative) for enough units",
            scope: &format!(
                "random Gaussian units, points uniform on the sphere, d = {}, m ∈ {:?}, n ∈ {:?}, {} seeds",
                plan.sweep_dim, plan.sweep_points, plan.sweep_widths, plan.sweep_seeds
            ),
            rule: "reproduced if the bound is positive at a measured n at every m; partly if at every m it is, or the \
                   fitted rate (extrapolated) reaches λ_min(K) by n = 1e7; not reproduced otherwise",
        },
        informative_verdict(&sw),
        format!(
            "{growth_text}; {}; {measured}",
            sw.iter()
                .map(|x| format!("n*({}) ≈ {}", x.points, x.crossing.map_or("never".into(), |n| format!("{n:.1e}"))))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    );
    s.number(
        "rq3_sweeps",
        serde_json::json!({"sweeps": sw, "crossing_growth": growth}),
    );
}
