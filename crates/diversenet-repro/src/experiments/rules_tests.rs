//! The shared verdict rules on numbers whose right answer is known.

use super::*;

#[test]
fn select_lambda_flags_edges_and_no_regulariser() {
    let v = |x: f64| vec![x, x + 0.01, x - 0.01];
    let sel =
        select_lambda(&[(0.0, v(0.5)), (0.1, v(0.9)), (1.0, v(0.7)), (10.0, v(0.8))]).unwrap();
    assert_eq!(
        (sel.chosen, sel.edge, sel.validation_prefers_none),
        (1.0, Edge::Inside, true)
    );
    let sel = select_lambda(&[(0.0, v(1.0)), (0.1, v(0.6)), (1.0, v(0.7))]).unwrap();
    assert_eq!(
        (sel.chosen, sel.edge, sel.validation_prefers_none),
        (0.1, Edge::Lowest, false)
    );
    assert!(select_lambda(&[(0.0, v(1.0))]).is_none());
}

#[test]
fn gains_are_judged_after_holm() {
    // Five cells each with exact Wilcoxon p = 2/2^6 = 0.03125 (six seeds, all improved):
    // significant alone, not after Holm (5 x 0.03125 = 0.156).
    let cells: Vec<(String, Vec<f64>)> = (0..5)
        .map(|i| (format!("c{i}"), vec![-0.1, -0.2, -0.3, -0.4, -0.5, -0.6]))
        .collect();
    let cells = paired_cells(cells, wilcoxon_p);
    assert!((cells[0].p - 0.03125).abs() < 1e-12);
    assert!((cells[0].p_holm - 0.15625).abs() < 1e-12);
    assert!(!cells.iter().any(PairedCell::gain));
    assert_eq!(gain_verdict(&cells, |_| true), Verdict::NotReproduced);
    let one = paired_cells(
        vec![("c".into(), vec![-0.1, -0.2, -0.3, -0.4, -0.5, -0.6])],
        wilcoxon_p,
    );
    assert_eq!(gain_verdict(&one, |_| true), Verdict::Reproduced);
    assert_eq!(gain_verdict(&[], |_| true), Verdict::NotRun);
    // One cell gains, another is harmed: mixed.
    let both = paired_cells(
        vec![
            ("a".into(), vec![-0.1, -0.2, -0.3, -0.4, -0.5, -0.6]),
            ("b".into(), vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
        ],
        paired_t_p,
    );
    assert_eq!(gain_verdict(&both, |_| true), Verdict::Mixed);
}

#[test]
fn paired_t_matches_scipy() {
    // scipy.stats.ttest_1samp([-0.8, -0.3, -1.1, 0.2, -0.5, -0.9, -0.4], 0).pvalue
    let p = paired_t_p(&[-0.8, -0.3, -1.1, 0.2, -0.5, -0.9, -0.4]);
    assert!((p - 0.016_425_173_395_074_138).abs() < 1e-9, "{p}");
    assert_eq!(paired_t_p(&[0.0, 0.0, 0.0]), 1.0);
}

#[test]
fn the_effect_rule_separates_every_verdict() {
    let j = |gain, harm, equivalent, excluded| Judgement {
        gain,
        harm,
        equivalent,
        paper_effect_excluded: excluded,
    };
    let gain = j(true, false, false, false);
    let harm = j(false, true, false, true);
    let null = j(false, false, true, true);
    let small = j(false, false, false, true);
    let open = j(false, false, false, false);
    assert_eq!(
        effect_verdict(&[gain, gain], &[true, true]),
        Verdict::Reproduced
    );
    // Significant everywhere but smaller than the paper's effect somewhere: partly.
    assert_eq!(
        effect_verdict(&[gain, gain], &[true, false]),
        Verdict::Partly
    );
    assert_eq!(
        effect_verdict(&[gain, null], &[true, true]),
        Verdict::Partly
    );
    assert_eq!(effect_verdict(&[gain, harm], &[true, true]), Verdict::Mixed);
    assert_eq!(
        effect_verdict(&[null, null], &[true, true]),
        Verdict::EquivalentNull
    );
    assert_eq!(
        effect_verdict(&[null, harm], &[true, true]),
        Verdict::NotReproduced
    );
    assert_eq!(
        effect_verdict(&[null, small], &[true, true]),
        Verdict::NotReproduced
    );
    // A large p alone never makes a null: without equivalence or exclusion, undecided.
    assert_eq!(
        effect_verdict(&[null, open], &[true, true]),
        Verdict::Undecided
    );
    assert_eq!(effect_verdict(&[], &[]), Verdict::NotRun);
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
