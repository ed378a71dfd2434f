//! RQ1 on random labels: the rule on planted trajectories, and the data it trains on.

use super::report::{summarise, verdict, Summary, CONVERGED};
use super::*;
use crate::experiments::common::Measurement;
use crate::report::section::Verdict;

fn run(width: usize, losses: &[f64]) -> Summary {
    let spec = Spec {
        width,
        ..Plan::full().runs(&|_| None)[0].clone()
    };
    let trajectory: Vec<Point> = losses
        .iter()
        .enumerate()
        .map(|(i, &loss)| Point {
            step: i * 100,
            m: Measurement {
                loss,
                grad_norm: 0.0,
                s_min: 0.1,
                bound: None,
                l2_discrepancy_sq: 0.0,
            },
        })
        .collect();
    summarise(&spec, &trajectory).unwrap()
}

#[test]
fn convergence_against_the_rank_control() {
    let converged = run(30, &[0.5, 0.1, 0.01, 1e-4, 1e-5]);
    let control = run(10, &[0.5, 0.3, 0.2, 0.2, 0.2]);
    let stuck = run(30, &[0.5, 0.1, 0.05, 0.05, 0.05]);
    let descending = run(30, &[0.5, 0.1, 0.05, 0.03, 0.02]);
    assert!(converged.converged() && !stuck.descending && descending.descending);
    assert_eq!(verdict(&[converged, control]), Verdict::Reproduced);
    assert_eq!(verdict(&[converged, stuck, control]), Verdict::Partly);
    assert_eq!(verdict(&[converged, descending, control]), Verdict::Partly);
    assert_eq!(verdict(&[stuck, descending, control]), Verdict::Undecided);
    assert_eq!(verdict(&[stuck, control]), Verdict::NotReproduced);
    let control_converged = run(10, &[0.5, 1e-4]);
    assert_eq!(verdict(&[converged, control_converged]), Verdict::Partly);
    assert_eq!(verdict(&[control]), Verdict::NotRun);
    assert!(run(30, &[0.5, CONVERGED * 0.99]).converged());
}

#[test]
fn labels_are_seeded_and_inputs_on_the_sphere() {
    let a = random_label_data(3, 10, 50).unwrap();
    let b = random_label_data(3, 10, 50).unwrap();
    assert_eq!(a.x.as_slice(), b.x.as_slice());
    for i in 0..50 {
        let norm: f64 = a.x.row(i).iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-12);
    }
    assert_ne!(
        random_label_data(4, 10, 50).unwrap().x.as_slice(),
        a.x.as_slice()
    );
}
