//! Tests of the regularisers: gradients against finite differences, scale freedom, the
//! closed form, and the sampled estimates' unbiasedness, also at tiny and huge rows.

use super::*;
use crate::rng::{SeededRng, Stream};
use crate::theory::discrepancy::discrepancies;

fn random_w(n: usize, d: usize, seed: u64) -> Matrix<f64> {
    let mut rng = SeededRng::new(seed, Stream::Init);
    Matrix::from_vec(n, d, (0..n * d).map(|_| rng.normal()).collect())
}

fn all_kinds() -> Vec<RegularizerKind> {
    registry::all_kinds().collect()
}

/// The registry lists every kind once, under a name that parses back to it; its pair sums
/// are the kinds with a pair term; what `bench` times is listed.
#[test]
fn the_registry_lists_every_kind_once_and_its_pair_sums() {
    let kinds = all_kinds();
    assert_eq!(kinds.len(), 10);
    for (i, kind) in kinds.iter().enumerate() {
        assert!(!kinds[..i].contains(kind), "{kind} listed twice");
        assert_eq!(kind.to_string().parse::<RegularizerKind>().unwrap(), *kind);
        assert_eq!(kind.is_pair_sum(), pairwise::has_pair_term(*kind), "{kind}");
    }
    let every = [
        RegularizerKind::Discrepancy,
        RegularizerKind::Mma,
        RegularizerKind::Orthogonal,
        RegularizerKind::WeightDecay,
    ]
    .into_iter()
    .chain(
        (0..=2)
            .flat_map(|power| [false, true].map(|angular| RegularizerKind::Mhe { power, angular })),
    );
    for kind in every {
        assert!(kinds.contains(&kind), "{kind} missing");
    }
    assert_eq!(registry::benched_kinds().count(), 6);
    assert_eq!(
        registry::names(),
        "discrepancy, mhe[0|1|2][-angular], mma, orthogonal or weight-decay"
    );
    assert_eq!(
        "mhe".parse::<RegularizerKind>().unwrap(),
        RegularizerKind::Mhe {
            power: 2,
            angular: false
        }
    );
    let e = "mhe3".parse::<RegularizerKind>().unwrap_err().to_string();
    assert!(e.contains("MHE power must be 0, 1 or 2"), "{e}");
    let e = "dropout"
        .parse::<RegularizerKind>()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("expected discrepancy, mhe[0|1|2][-angular]"),
        "{e}"
    );
}

fn gradient(kind: RegularizerKind, w: &Matrix<f64>) -> Matrix<f64> {
    let mut g = Matrix::zeros(w.rows(), w.cols());
    value_and_gradient(kind, w, Some((&mut g, 1.0)));
    g
}

#[test]
fn gradients_match_finite_differences() {
    let w = random_w(7, 4, 1);
    for kind in all_kinds() {
        let g = gradient(kind, &w);
        let h = 1e-6;
        for i in 0..w.as_slice().len() {
            let mut plus = w.clone();
            plus.as_mut_slice()[i] += h;
            let mut minus = w.clone();
            minus.as_mut_slice()[i] -= h;
            let fd = (value(kind, &plus) - value(kind, &minus)) / (2.0 * h);
            let an = g.as_slice()[i];
            assert!(
                (fd - an).abs() < 1e-6 * (1.0 + fd.abs()),
                "{kind}: entry {i}: analytic {an}, finite difference {fd}"
            );
        }
    }
}

#[test]
fn directional_ones_are_scale_free_with_gradients_orthogonal_to_rows() {
    let w = random_w(6, 5, 2);
    for kind in all_kinds()
        .into_iter()
        .filter(|k| *k != RegularizerKind::WeightDecay)
    {
        let scaled = w.map(|v| v * 3.7);
        let (a, b) = (value(kind, &w), value(kind, &scaled));
        assert!(
            (a - b).abs() < 1e-12 * (1.0 + a.abs()),
            "{kind}: {a} vs {b}"
        );
        let g = gradient(kind, &w);
        for k in 0..6 {
            let dot: f64 = g.row(k).iter().zip(w.row(k)).map(|(x, y)| x * y).sum();
            assert!(dot.abs() < 1e-12, "{kind}: row {k}: {dot}");
        }
    }
}

#[test]
fn discrepancy_value_is_the_closed_form_plus_c_d() {
    let w = random_w(9, 5, 3);
    let d = discrepancies(&w).unwrap();
    assert!((value(RegularizerKind::Discrepancy, &w) - (d.l2_slice_sq + d.c_d)).abs() < 1e-12);
}

#[test]
fn zero_and_identical_rows_give_finite_values_and_gradients() {
    let mut w = random_w(5, 3, 4);
    w.row_mut(0).fill(0.0);
    let copy = w.row(1).to_vec();
    w.row_mut(2).copy_from_slice(&copy);
    for kind in all_kinds() {
        let v = value(kind, &w);
        let g = gradient(kind, &w);
        assert!(
            v.is_finite() && g.as_slice().iter().all(|x| x.is_finite()),
            "{kind}"
        );
        if kind != RegularizerKind::WeightDecay {
            assert!(
                g.row(0).iter().all(|x| *x == 0.0),
                "{kind}: the zero row gets no gradient"
            );
        }
    }
}

#[test]
fn gradient_descent_on_discrepancy_lowers_the_l2_discrepancy() {
    let mut w = random_w(30, 5, 5);
    let before = discrepancies(&w).unwrap().l2_slice_sq;
    for _ in 0..300 {
        let g = gradient(RegularizerKind::Discrepancy, &w);
        for (wv, gv) in w.as_mut_slice().iter_mut().zip(g.as_slice()) {
            *wv -= 50.0 * gv;
        }
    }
    let after = discrepancies(&w).unwrap().l2_slice_sq;
    assert!(after < 0.5 * before, "{before} -> {after}");
}

#[test]
fn f32_matches_f64() {
    let w = random_w(8, 6, 6);
    let w32 = w.map(|v| *v as f32);
    for kind in all_kinds() {
        let a = value(kind, &w);
        let b = value(kind, &w32);
        assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()), "{kind}: {a} vs {b}");
    }
}

/// The mean of many sampled values and gradients of `kind` at `w` against `exact`
/// (value, gradient), entry by entry, within 5 standard errors of the mean (K = 4
/// partners); row k of each sampled gradient is multiplied by `row_scale[k]` first.
fn assert_unbiased(
    kind: RegularizerKind,
    w: &Matrix<f64>,
    exact: (f64, &Matrix<f64>),
    row_scale: &[f64],
) {
    let ((n, d), draws) = ((w.rows(), w.cols()), 20_000);
    let sampling = RegSampling::new(4).unwrap();
    let mut rng = RegSampling::rng(3, 0);
    let (mut sum, mut sum_sq) = (vec![0.0; n * d + 1], vec![0.0; n * d + 1]);
    for _ in 0..draws {
        let mut g = Matrix::zeros(n, d);
        let v = value_and_gradient_sampled(kind, w, Some((&mut g, 1.0)), sampling, &mut rng);
        for (k, s) in row_scale.iter().enumerate() {
            g.row_mut(k).iter_mut().for_each(|x| *x *= s);
        }
        for (i, x) in g.as_slice().iter().chain([&v]).enumerate() {
            sum[i] += x;
            sum_sq[i] += x * x;
        }
    }
    let (exact_v, exact_g) = exact;
    for (i, want) in exact_g.as_slice().iter().chain([&exact_v]).enumerate() {
        let mean = sum[i] / draws as f64;
        let var = (sum_sq[i] / draws as f64 - mean * mean).max(0.0);
        let std_error = (var / draws as f64).sqrt();
        assert!(
            (mean - want).abs() <= 5.0 * std_error + 1e-12 * (1.0 + want.abs()),
            "{kind}: entry {i}: mean {mean} vs exact {want} (standard error {std_error})"
        );
    }
    // Not a constant: the estimate varies from draw to draw.
    assert!(
        sum_sq[0] / draws as f64 > (sum[0] / draws as f64).powi(2) * (1.0 + 1e-9)
            || exact_g.as_slice()[0] == 0.0
    );
}

#[test]
fn sampled_estimates_are_unbiased() {
    // n = 12 units, one without a direction, which takes no part.
    let mut w = random_w(12, 5, 8);
    w.row_mut(5).fill(0.0);
    for kind in all_kinds().into_iter().filter(|k| k.is_pair_sum()) {
        assert_unbiased(kind, &w, (value(kind, &w), &gradient(kind, &w)), &[1.0; 12]);
    }
}

/// Unit rows, and the same rows times 2^-600 (1e-181: 1/||w||^2 overflowed f64 and the
/// sampled gradient became inf), 2^600, 2^-1000 and 2^1000 (their squares overflow).
fn unit_rows_and_extreme_multiples() -> (Matrix<f64>, Matrix<f64>, Vec<f64>) {
    let mut u = random_w(12, 5, 10);
    for k in 0..12 {
        let norm = u.row(k).iter().map(|v| v * v).sum::<f64>().sqrt();
        u.row_mut(k).iter_mut().for_each(|v| *v /= norm);
    }
    let mut scales = vec![1.0; 12];
    scales[..4].copy_from_slice(&[
        2f64.powi(-600),
        2f64.powi(600),
        2f64.powi(-1000),
        2f64.powi(1000),
    ]);
    let mut w = u.clone();
    for (k, s) in scales.iter().enumerate() {
        w.row_mut(k).iter_mut().for_each(|v| *v *= s);
    }
    (u, w, scales)
}

/// The regularisers depend on the directions u_k = w_k / ||w_k|| only (PAPER.md), so
/// R(W) = R(U) and dR/dw_k = (dR/du_k) / ||w_k|| (tangential): the sampled estimate at
/// tiny and huge rows is that at their unit rows (the same draw), in f64 and f32, and
/// the exact value is the theory's closed form at U.
#[test]
fn sampled_estimates_see_only_the_directions_of_tiny_and_huge_rows() {
    let (u, w, scales) = unit_rows_and_extreme_multiples();
    let d = discrepancies(&u).unwrap();
    let closed_form = d.l2_slice_sq + d.c_d;
    assert!((value(RegularizerKind::Discrepancy, &w) - closed_form).abs() < 1e-12);
    // f32: 2^-70 (1/||w||^2 = 2^140 overflowed f32), 2^70, 2^-100 and 2^100.
    let f32_scales = [
        2f32.powi(-70),
        2f32.powi(70),
        2f32.powi(-100),
        2f32.powi(100),
    ];
    let (u32, mut w32) = (u.map(|v| *v as f32), u.map(|v| *v as f32));
    for (k, s) in f32_scales.iter().enumerate() {
        w32.row_mut(k).iter_mut().for_each(|v| *v *= s);
    }
    let sampling = RegSampling::new(4).unwrap();
    for kind in all_kinds().into_iter().filter(|k| k.is_pair_sum()) {
        let run = |w: &Matrix<f64>| {
            let mut g = Matrix::zeros(12, 5);
            let mut rng = RegSampling::rng(1, 2);
            let v = value_and_gradient_sampled(kind, w, Some((&mut g, 1.0)), sampling, &mut rng);
            (v, g)
        };
        let ((vu, gu), (vw, mut gw)) = (run(&u), run(&w));
        for (k, s) in scales.iter().enumerate() {
            gw.row_mut(k).iter_mut().for_each(|x| *x *= s);
        }
        let top = gu.as_slice().iter().fold(1e-300f64, |a, x| a.max(x.abs()));
        assert!(
            (vu - vw).abs() <= 1e-12 * (1.0 + vu.abs()),
            "{kind}: {vu} vs {vw}"
        );
        for (i, (a, b)) in gu.as_slice().iter().zip(gw.as_slice()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-12 * top,
                "{kind}: entry {i}: {a} vs {b}"
            );
        }
        let run32 = |w: &Matrix<f32>| {
            let mut g = Matrix::zeros(12, 5);
            let mut rng = RegSampling::rng(1, 2);
            let v = value_and_gradient_sampled(kind, w, Some((&mut g, 1.0)), sampling, &mut rng);
            (v, g)
        };
        let ((vu, gu), (vw, mut gw)) = (run32(&u32), run32(&w32));
        for (k, s) in f32_scales.iter().enumerate() {
            gw.row_mut(k).iter_mut().for_each(|x| *x *= s);
        }
        let top = gu.as_slice().iter().fold(1e-30f32, |a, x| a.max(x.abs()));
        assert!(
            (vu - vw).abs() <= 1e-5 * (1.0 + vu.abs()),
            "{kind}: f32 {vu} vs {vw}"
        );
        for (i, (a, b)) in gu.as_slice().iter().zip(gw.as_slice()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * top,
                "{kind}: f32 entry {i}: {a} vs {b}"
            );
        }
    }
}

/// At tiny and huge rows the sampled estimate is still unbiased: its mean over draws is
/// the exact value and gradient at the unit rows (gradient rows times ||w_k||).
#[test]
fn sampled_estimates_of_tiny_and_huge_rows_are_unbiased() {
    let (u, w, scales) = unit_rows_and_extreme_multiples();
    for kind in all_kinds().into_iter().filter(|k| k.is_pair_sum()) {
        assert_unbiased(kind, &w, (value(kind, &u), &gradient(kind, &u)), &scales);
    }
}

#[test]
fn sampling_is_exact_where_it_cannot_sample() {
    let w = random_w(6, 3, 9);
    let mut rng = RegSampling::rng(0, 7);
    for kind in all_kinds() {
        // K >= n: all partners, exactly; mma and weight decay: always exact.
        for k in [6, 50] {
            let mut g = Matrix::zeros(6, 3);
            let v = value_and_gradient_sampled(
                kind,
                &w,
                Some((&mut g, 1.0)),
                RegSampling::new(k).unwrap(),
                &mut rng,
            );
            assert_eq!((v, g), (value(kind, &w), gradient(kind, &w)), "{kind}");
        }
        if !kind.is_pair_sum() {
            let mut g = Matrix::zeros(6, 3);
            let v = value_and_gradient_sampled(
                kind,
                &w,
                Some((&mut g, 1.0)),
                RegSampling::new(2).unwrap(),
                &mut rng,
            );
            assert_eq!((v, g), (value(kind, &w), gradient(kind, &w)), "{kind}");
        }
    }
    assert!(RegSampling::new(0).is_err());
    // The stream of a step repeats; the next step's differs.
    let draw = |step| draw_partners(100, 10, &mut RegSampling::rng(1, step));
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
    let mut p = draw(5);
    p.sort_unstable();
    p.dedup();
    assert_eq!(p.len(), 10);
}

#[test]
fn parses_names() {
    assert_eq!(
        "mhe0-angular".parse::<RegularizerKind>().unwrap(),
        RegularizerKind::Mhe {
            power: 0,
            angular: true
        }
    );
    assert_eq!(
        "mhe".parse::<RegularizerKind>().unwrap().to_string(),
        "mhe2"
    );
    assert!("mhe3".parse::<RegularizerKind>().is_err());
    assert!("dropout".parse::<RegularizerKind>().is_err());
    assert!(RegTerm::new(RegularizerKind::Mma, -1.0).is_err());
}
