//! RQ1 (teacher data) on planted trajectories: the convergence rule needs its negative
//! control, and the bound is a consistency check.

use super::*;
use crate::experiments::common::Measurement;
use crate::experiments::registry::Runs;
use crate::report::section::Verdict;

fn trajectory(arm: Arm, seed: u64, s: f64, final_loss: f64) -> (Spec, Outcome) {
    let plan = Plan::full();
    let point = |step, loss: f64| Point {
        step,
        m: Measurement {
            loss,
            grad_norm: 0.1,
            s_min: s,
            bound: (s > 0.0).then(|| 200.0 * 0.01 / (2.0 * s * s)),
            l2_discrepancy_sq: 0.01,
        },
    };
    (
        Spec {
            seed,
            arm,
            data: plan.data,
            width: 40,
            steps: 100,
            lr: 0.5,
            log_every: 50,
        },
        Outcome {
            trajectory: vec![point(0, 1.0), point(50, 0.5), point(100, final_loss)],
        },
    )
}

fn verdict(pairs: Vec<(Spec, Outcome)>, id: &str) -> Verdict {
    let s = report::section(&Plan::full(), &Runs::new(pairs));
    s.claims.iter().find(|c| c.id == id).unwrap().verdict
}

#[test]
fn convergence_needs_its_negative_control() {
    use Arm::*;
    let id = "rq1-convergence";
    // Diverse runs converge, collapsed controls do not: reproduced.
    let ok = vec![
        trajectory(Diverse, 0, 1.0, 1e-4),
        trajectory(Collapsed, 0, 0.0, 0.5),
    ];
    assert_eq!(verdict(ok, id), Verdict::Reproduced);
    // The controls converge too: the condition does not discriminate.
    let both = vec![
        trajectory(Diverse, 0, 1.0, 1e-4),
        trajectory(Collapsed, 0, 0.0, 1e-4),
    ];
    assert_eq!(verdict(both, id), Verdict::Partly);
    // A diverse run with s_m(D) away from 0 that does not converge: not reproduced.
    let stuck = vec![
        trajectory(Diverse, 0, 1.0, 0.5),
        trajectory(Collapsed, 0, 0.0, 0.5),
    ];
    assert_eq!(verdict(stuck, id), Verdict::NotReproduced);
    // Convergence is an absolute threshold: 0.5% of the start (5e-3) is not converged.
    let relative = vec![
        trajectory(Diverse, 0, 1.0, 5e-3),
        trajectory(Collapsed, 0, 0.0, 0.5),
    ];
    assert_eq!(verdict(relative, id), Verdict::NotReproduced);
}

#[test]
fn the_bound_is_a_consistency_check() {
    let pairs = vec![trajectory(Arm::Diverse, 0, 1.0, 1e-4)];
    assert_eq!(verdict(pairs, "rq1-bound"), Verdict::ConsistencyCheck);
}
