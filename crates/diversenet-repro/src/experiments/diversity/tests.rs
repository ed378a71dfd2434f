//! RQ2/RQ4 on planted results: stratified correlations decide over pooled ones, a sign
//! change over training is reported, and families of opposite sign make a relation mixed.

use super::report::families_verdict;
use super::*;
use crate::experiments::registry::Runs;
use crate::experiments::stats::Stratified;
use crate::report::section::{Section, Verdict};

/// Every run of the plan with (discrepancy, loss) = `point(width, treatment, seed, epoch)`
/// (epoch None: the plateau).
fn planted(
    plan: &Plan,
    point: impl Fn(usize, &Treatment, u64, Option<usize>) -> (f64, f64),
) -> Runs<Diversity> {
    let make = |spec: &Spec, epoch: Option<usize>| {
        let (disc, loss) = point(spec.width, &spec.treatment, spec.seed, epoch);
        Checkpoint {
            epoch: epoch.unwrap_or(200),
            m: Measurement {
                loss,
                grad_norm: 0.1,
                s_min: 1.0 / disc,
                bound: None,
                l2_discrepancy_sq: disc,
            },
            train_loss: loss,
            test_loss: loss,
        }
    };
    Runs::new(
        plan.runs(&|_| None)
            .into_iter()
            .map(|spec| {
                let outcome = Outcome {
                    checkpoints: spec
                        .checkpoints
                        .iter()
                        .map(|&e| make(&spec, Some(e)))
                        .collect(),
                    plateau: make(&spec, None),
                    plateau_reached: true,
                };
                (spec, outcome)
            })
            .collect(),
    )
}

fn verdict(s: &Section, id: &str) -> (Verdict, String) {
    let c = s.claims.iter().find(|c| c.id == id).unwrap();
    (c.verdict, c.statistic.clone())
}

/// A distinct level per treatment and seed.
fn level(t: &Treatment, seed: u64) -> f64 {
    let base = match t.init {
        InitKind::Random => 1.0,
        InitKind::Clustered { spread } => 2.0 + 1.0 / spread,
    };
    base + t.lambda + seed as f64 * 0.1
}

#[test]
fn stratified_correlation_decides_not_the_pooled_one() {
    let plan = Plan::full();
    // Simpson's paradox: within each width, loss falls as the discrepancy rises (rho < 0);
    // the narrow networks have both higher discrepancy and higher loss, so pooled rho > 0.
    let runs = planted(&plan, |width, t, seed, _| {
        let offset = if width == 20 { 100.0 } else { 0.0 };
        let disc = offset + level(t, seed);
        (disc, 1000.0 + 2.0 * offset - disc)
    });
    let (v, _) = verdict(&report::section(&plan, &runs), "rq2-train");
    assert_eq!(v, Verdict::NotReproduced);
}

#[test]
fn a_sign_change_over_training_gives_partly() {
    let plan = Plan::full();
    let runs = planted(&plan, |_, t, seed, epoch| {
        let disc = level(t, seed);
        let sign = if epoch.is_some_and(|e| e <= 20) {
            -1.0
        } else {
            1.0
        };
        (disc, 50.0 + sign * disc)
    });
    let (v, stat) = verdict(&report::section(&plan, &runs), "rq2-train");
    assert_eq!(v, Verdict::Partly);
    assert!(stat.contains("the sign changes over training"), "{stat}");
    let runs = planted(&plan, |_, t, seed, _| {
        (level(t, seed), 50.0 + level(t, seed))
    });
    assert_eq!(
        verdict(&report::section(&plan, &runs), "rq2-train").0,
        Verdict::Reproduced
    );
}

#[test]
fn families_of_opposite_sign_are_mixed_with_both_numbers() {
    let plan = Plan::full();
    // Initial diversity: loss rises with the discrepancy; the regulariser: it falls (the
    // shared random control sits in the middle of both).
    let runs = planted(&plan, |_, t, seed, _| {
        let disc = level(t, seed);
        let loss = if t.lambda > 0.0 {
            100.0 - disc
        } else {
            50.0 + disc
        };
        (disc, loss)
    });
    let (v, stat) = verdict(&report::section(&plan, &runs), "rq2-train");
    assert_eq!(v, Verdict::Mixed, "{stat}");
    assert!(
        stat.contains("initial diversity ρ = +") && stat.contains("regulariser ρ = -"),
        "{stat}"
    );
}

#[test]
fn families_rule() {
    let st = |rho: f64, lo: f64, hi: f64| Stratified {
        rho,
        ci_low: lo,
        ci_high: hi,
        p_value: 0.0,
        groups: 2,
        n: 20,
    };
    let (yes, no) = (Verdict::Reproduced, Verdict::NotReproduced);
    assert_eq!(
        families_verdict((yes, &st(0.5, 0.2, 0.7)), (yes, &st(0.4, 0.1, 0.6))),
        yes
    );
    assert_eq!(
        families_verdict((yes, &st(0.5, 0.2, 0.7)), (no, &st(-0.3, -0.5, -0.1))),
        Verdict::Mixed
    );
    assert_eq!(
        families_verdict(
            (yes, &st(0.5, 0.2, 0.7)),
            (Verdict::Partly, &st(0.1, -0.1, 0.3))
        ),
        Verdict::Partly
    );
    assert_eq!(
        families_verdict((no, &st(-0.05, -0.2, 0.1)), (no, &st(-0.02, -0.2, 0.15))),
        no
    );
}
