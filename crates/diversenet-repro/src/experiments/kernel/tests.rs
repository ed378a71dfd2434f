//! RQ3 on planted results: the diverse-units claims (a planted rise of s_m(D) is
//! reproduced, no change is an equivalent null), and the sweeps' crossing n*(m) recovers a
//! planted growth law.

use super::report::{informative_verdict, section, sweeps, Cells};
use super::*;
use crate::experiments::registry::Runs;
use crate::report::section::Verdict;

fn small_plan() -> Plan {
    Plan {
        seeds: 8,
        dims: vec![10],
        points: vec![100],
        width: 1000,
        sweep_points: vec![100, 400],
        sweep_widths: vec![30, 100, 1000],
        sweep_seeds: 8,
        diverse_points: 100,
        diverse_max_width: 1000,
        ..Plan::full()
    }
}

/// Every run of the plan: ‖E_W‖₂ = m n^(-1/2) / 10 (halved for diverse units), λ_min(K) =
/// 0.05, s_m(D)²/n = 0.04 times `s_factor` for diverse units, with a per-seed jitter.
fn planted(plan: &Plan, s_factor: f64) -> Runs<Kernel> {
    Runs::new(
        plan.runs(&|_| None)
            .into_iter()
            .map(|spec| {
                let jitter = 1.0 + 0.002 * (spec.seed as f64 - 3.5);
                let diverse = spec.units == Units::Diverse;
                let e = spec.points as f64 / (spec.width as f64).sqrt() / 10.0;
                let o = Outcome {
                    lambda_min_k: 0.05,
                    e_w_norm: e * jitter * if diverse { 0.5 } else { 1.0 },
                    hadamard_norm: 0.0,
                    l2_discrepancy_sq: 0.01,
                    s_min_sq_over_n: 0.04 * jitter * if diverse { s_factor * jitter } else { 1.0 },
                };
                (spec, o)
            })
            .collect(),
    )
}

fn verdict(runs: &Runs<Kernel>, id: &str) -> Verdict {
    let s = section(&small_plan(), runs);
    s.claims.iter().find(|c| c.id == id).unwrap().verdict
}

#[test]
fn diverse_units_claims_on_planted_effects() {
    let plan = small_plan();
    let raised = planted(&plan, 1.10);
    assert_eq!(verdict(&raised, "rq3-diverse-smin"), Verdict::Reproduced);
    assert_eq!(verdict(&raised, "rq3-diverse-units"), Verdict::Reproduced);
    let same = planted(&plan, 1.0);
    assert_eq!(verdict(&same, "rq3-diverse-smin"), Verdict::EquivalentNull);
    assert_eq!(
        verdict(&same, "rq3-decomposition"),
        Verdict::ConsistencyCheck
    );
}

#[test]
fn the_crossing_follows_a_planted_growth_law() {
    let plan = small_plan();
    let runs = planted(&plan, 1.0);
    let mut by: Cells = Default::default();
    for (spec, o) in runs.iter() {
        by.entry((
            spec.dim,
            spec.points,
            spec.width,
            spec.units == Units::Diverse,
        ))
        .or_default()
        .insert(spec.seed, o.clone());
    }
    let sw = sweeps(&plan, &by);
    // m n^(-1/2) / 10 = 0.05 at n = (2 m)^2 = 4e4 (m = 100), 6.4e5 (m = 400).
    for (x, want) in sw.iter().zip([4e4, 6.4e5]) {
        let f = x.fit.unwrap();
        assert!((f.slope + 0.5).abs() < 1e-3, "{}", f.slope);
        let n = x.crossing.unwrap();
        assert!((n / want - 1.0).abs() < 0.01, "{n} vs {want}");
        assert!(!x.measured_positive);
    }
    assert_eq!(informative_verdict(&sw), Verdict::Partly);
}
