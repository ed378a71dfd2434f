//! Planted results for RQ1 and RQ2/RQ4: stratified correlations decide over pooled ones, a
//! sign change over training is reported, and RQ1's rule needs its negative control.

use super::super::rules::*;
use super::super::*;
use super::find;
use crate::experiments::stats::Stratified;
use crate::experiments::{diversity, loss_bound, RunOutcome, RunSpec};

// ---------- RQ2/RQ4 ----------

fn diversity_results(
    plan: &diversity::Plan,
    point: impl Fn(usize, usize, u64, usize) -> (f64, f64),
) -> Results {
    let mut pairs = Vec::new();
    for spec in plan.runs() {
        let t = plan
            .treatments
            .iter()
            .position(|t| *t == spec.treatment)
            .unwrap();
        let checkpoints = spec
            .checkpoints
            .iter()
            .map(|&epoch| {
                let (disc, train) = point(spec.width, t, spec.seed, epoch);
                diversity::Checkpoint {
                    epoch,
                    m: crate::experiments::common::Measurement {
                        loss: train,
                        grad_norm: 0.1,
                        s_min: 1.0 / disc,
                        bound: None,
                        l2_discrepancy_sq: disc,
                    },
                    train_loss: train,
                    test_loss: train,
                }
            })
            .collect();
        pairs.push((
            RunSpec::Diversity(spec),
            RunOutcome::Diversity(diversity::Outcome { checkpoints }),
        ));
    }
    Results::from_pairs(pairs)
}

#[test]
fn stratified_correlation_decides_not_the_pooled_one() {
    let plan = diversity::Plan::full();
    // Simpson's paradox: within each width, loss falls as the discrepancy rises (rho < 0);
    // the wide networks have both lower discrepancy and lower loss, so pooled rho > 0.
    let results = diversity_results(&plan, |width, t, seed, _| {
        let offset = if width == 20 { 10.0 } else { 0.0 };
        let disc = offset + t as f64 + seed as f64 * 0.1;
        (disc, 100.0 + 2.0 * offset - disc + (seed % 3) as f64 * 0.01)
    });
    let s = diversity::report::section(&plan, &results);
    let c = find(&s, "rq2-train");
    assert_eq!(c.verdict, Verdict::NotReproduced, "{c:?}");
    assert!(
        c.evidence.contains("Pooled over widths (not used): ρ = 0."),
        "{}",
        c.evidence
    );
}

#[test]
fn a_sign_change_over_training_gives_partly() {
    let plan = diversity::Plan::full();
    // Positive within widths at the end, negative early in training.
    let results = diversity_results(&plan, |width, t, seed, epoch| {
        let disc = t as f64 + seed as f64 * 0.1 + width as f64;
        let sign = if epoch <= 20 { -1.0 } else { 1.0 };
        (disc, 50.0 + sign * disc)
    });
    let s = diversity::report::section(&plan, &results);
    let c = find(&s, "rq2-train");
    assert_eq!(c.verdict, Verdict::Partly, "{c:?}");
    assert!(c.statistic.contains("the sign changes over training"));
    // Without the early reversal: reproduced.
    let results = diversity_results(&plan, |width, t, seed, _| {
        let disc = t as f64 + seed as f64 * 0.1 + width as f64;
        (disc, 50.0 + disc)
    });
    let s = diversity::report::section(&plan, &results);
    assert_eq!(find(&s, "rq2-train").verdict, Verdict::Reproduced);
}

#[test]
fn correlation_rule_on_stratified_values() {
    let st = |rho: f64, lo: f64, hi: f64| Stratified {
        rho,
        ci_low: lo,
        ci_high: hi,
        p_value: 0.0,
        groups: 2,
        n: 20,
    };
    assert_eq!(
        correlation_verdict(&st(0.5, 0.2, 0.7), &[], 1.0),
        (Verdict::Reproduced, false)
    );
    assert_eq!(
        correlation_verdict(&st(0.5, -0.1, 0.7), &[], 1.0),
        (Verdict::Partly, false)
    );
    assert_eq!(
        correlation_verdict(&st(-0.5, -0.7, -0.2), &[], 1.0),
        (Verdict::NotReproduced, false)
    );
    assert_eq!(
        correlation_verdict(&st(-0.5, -0.7, -0.2), &[], -1.0),
        (Verdict::Reproduced, false)
    );
}

// ---------- RQ1 ----------

fn trajectory(arm: loss_bound::Arm, seed: u64, s: f64, final_loss: f64) -> (RunSpec, RunOutcome) {
    let plan = loss_bound::Plan::full();
    let point = |step, loss: f64| loss_bound::Point {
        step,
        m: crate::experiments::common::Measurement {
            loss,
            grad_norm: 0.1,
            s_min: s,
            bound: (s > 0.0).then(|| 200.0 * 0.01 / (2.0 * s * s)),
            l2_discrepancy_sq: 0.01,
        },
    };
    (
        RunSpec::LossBound(loss_bound::Spec {
            seed,
            arm,
            data: plan.data,
            width: 40,
            steps: 100,
            lr: 0.5,
            log_every: 50,
        }),
        RunOutcome::LossBound(loss_bound::Outcome {
            trajectory: vec![point(0, 1.0), point(50, 0.5), point(100, final_loss)],
        }),
    )
}

#[test]
fn rq1_needs_its_negative_control() {
    use loss_bound::Arm::*;
    let plan = loss_bound::Plan::full();
    let verdict = |pairs| {
        find(
            &loss_bound::report::section(&plan, &Results::from_pairs(pairs)),
            "rq1-convergence",
        )
        .verdict
    };
    // Diverse runs converge, collapsed controls do not: reproduced.
    assert_eq!(
        verdict(vec![
            trajectory(Diverse, 0, 1.0, 1e-4),
            trajectory(Collapsed, 0, 0.0, 0.5)
        ]),
        Verdict::Reproduced
    );
    // The controls converge too: the condition does not discriminate.
    assert_eq!(
        verdict(vec![
            trajectory(Diverse, 0, 1.0, 1e-4),
            trajectory(Collapsed, 0, 0.0, 1e-4)
        ]),
        Verdict::Partly
    );
    // A diverse run with s_m(D) away from 0 that does not converge: not reproduced.
    assert_eq!(
        verdict(vec![
            trajectory(Diverse, 0, 1.0, 0.5),
            trajectory(Collapsed, 0, 0.0, 0.5)
        ]),
        Verdict::NotReproduced
    );
    // The bound is a consistency check, never a finding.
    let s = loss_bound::report::section(
        &plan,
        &Results::from_pairs(vec![trajectory(Diverse, 0, 1.0, 1e-4)]),
    );
    assert_eq!(find(&s, "rq1-bound").verdict, Verdict::ConsistencyCheck);
}
