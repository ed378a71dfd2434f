//! Tests of the fused, blocked training step: against the plain step composed from
//! `loss_and_gradient`, the regularisers and the optimiser, and across kinds of workers.

use super::*;
use crate::model::loss::{loss_and_gradient, Gradient, Workspace};
use crate::model::{Loss, OptimizerKind, TrainSettings};
use crate::regularizer::{RegSampling, RegTerm, RegularizerKind};
use crate::rng::{SeededRng, Stream};

/// The fused, blocked step against the plain one: full gradient by
/// `loss_and_gradient`, regulariser added, then the optimiser on whole tensors.
fn check(settings: TrainSettings, classes: bool, blocks: usize) {
    let (m, d) = (40, 6);
    let mut rng = SeededRng::new(3, Stream::Data);
    let x = Matrix::from_vec(m, d, (0..m * d).map(|_| rng.normal()).collect());
    let targets = if classes {
        Targets::Classes {
            labels: (0..m).map(|_| rng.below(4) as u32).collect(),
            num_classes: 4,
        }
    } else {
        Targets::Scalar((0..m).map(|_| rng.normal()).collect())
    };
    let data = Dataset::new("step test", x, targets).unwrap();
    let cfg = settings.resolve(&data).unwrap();
    let mut fused = TrainState::<f64>::initial(&cfg);
    let mut plain = fused.clone();
    let mut stepper = MinibatchStep::<f64>::with_blocks(&cfg, &data, blocks);
    assert_eq!(stepper.blocks(), blocks);
    let y = OwnedTargets::<f64>::new(&data.targets);
    let mut batch_x = Matrix::zeros(0, d);
    let mut grad = Gradient::zeros_like(&plain.net);
    for k in 0..4 {
        let batch: Vec<usize> = (0..cfg.batch_size()).map(|i| (7 * i + 3 * k) % m).collect();
        let totals = stepper.step(&mut fused, &batch, 0.05).unwrap();
        batch_x.gather_rows(stepper.inputs(), &batch);
        let (scalar, labels): (Vec<f64>, Vec<u32>) = match &y {
            OwnedTargets::Scalar(v) => (batch.iter().map(|&i| v[i]).collect(), vec![]),
            OwnedTargets::Classes(l) => (vec![], batch.iter().map(|&i| l[i]).collect()),
        };
        let t = if classes {
            BatchTargets::Classes(&labels)
        } else {
            BatchTargets::Real(&scalar)
        };
        grad.clear();
        let expect = loss_and_gradient(
            &plain.net,
            batch_x.view(),
            t,
            cfg.loss(),
            Some((&mut grad, 1.0 / batch.len() as f64)),
            &mut Workspace::default(),
        );
        assert!((totals.loss_sum - expect.loss_sum).abs() < 1e-10 * expect.loss_sum.abs().max(1.0));
        assert_eq!(totals.errors, expect.errors);
        for term in cfg.regularizers() {
            crate::regularizer::value_and_gradient(
                term.kind,
                &plain.net.w,
                Some((&mut grad.w, term.lambda)),
            );
        }
        plain.optimizer.begin_step();
        let rule = plain.optimizer.rule(0.05);
        let w_before = plain.net.w.clone();
        plain
            .optimizer
            .update(0, plain.net.w.as_mut_slice(), grad.w.as_slice(), rule);
        // Decoupled decay, composed separately: W -= lr wd W_before.
        for (w, w0) in plain
            .net
            .w
            .as_mut_slice()
            .iter_mut()
            .zip(w_before.as_slice())
        {
            *w -= 0.05 * cfg.weight_decay() * w0;
        }
        if plain.net.output_layer == OutputLayer::Trained {
            plain
                .optimizer
                .update(1, plain.net.v.as_mut_slice(), grad.v.as_slice(), rule);
        }
        for (a, b) in fused
            .net
            .w
            .as_slice()
            .iter()
            .chain(fused.net.v.as_slice())
            .zip(plain.net.w.as_slice().iter().chain(plain.net.v.as_slice()))
        {
            assert!(
                (a - b).abs() < 1e-10,
                "step {k}, {blocks} blocks: {a} vs {b}"
            );
        }
    }
    assert_eq!(fused.optimizer.steps, 4);
}

/// `m` Gaussian points in R^d with random labels of three classes.
fn three_classes(m: usize, d: usize, seed: u64) -> Dataset {
    let mut rng = SeededRng::new(seed, Stream::Data);
    let x = Matrix::from_vec(m, d, (0..m * d).map(|_| rng.normal()).collect());
    let labels = (0..m).map(|_| rng.below(3) as u32).collect();
    let targets = Targets::Classes {
        labels,
        num_classes: 3,
    };
    Dataset::new("step test", x, targets).unwrap()
}

/// The blocks on a team (a step built outside rayon) and as rayon tasks (built inside a
/// rayon worker, as in the reproduction's parallel runs) give the same bits.
#[test]
fn team_and_rayon_blocks_give_the_same_bits() {
    let (m, d) = (300, 50);
    let data = three_classes(m, d, 5);
    let cfg = TrainSettings {
        width: 64,
        batch_size: 32,
        ..TrainSettings::default()
    }
    .resolve(&data)
    .unwrap();
    let run = |stepper: &mut MinibatchStep<f32>| {
        let mut state = TrainState::<f32>::initial(&cfg);
        for k in 0..6 {
            let batch: Vec<usize> = (0..32).map(|i| (11 * i + 5 * k) % m).collect();
            stepper.step(&mut state, &batch, 0.01).unwrap();
        }
        state.net
    };
    // Two blocks: a team needs a core per member (CI machines have two).
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let mut on_team = MinibatchStep::<f32>::with_blocks(&cfg, &data, 2);
    assert_eq!(matches!(on_team.workers, Workers::Team(_)), cores >= 2);
    let team_net = run(&mut on_team);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let rayon_net = pool.install(|| {
        let mut on_rayon = MinibatchStep::<f32>::with_blocks(&cfg, &data, 2);
        assert!(matches!(on_rayon.workers, Workers::Rayon));
        run(&mut on_rayon)
    });
    let mut inline = MinibatchStep::<f32>::with_blocks(&cfg, &data, 1);
    assert!(matches!(inline.workers, Workers::Inline));
    let inline_net = run(&mut inline);
    let bits = |n: &crate::model::Network<f32>| -> Vec<u32> {
        n.w.as_slice()
            .iter()
            .chain(n.v.as_slice())
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&team_net), bits(&rayon_net));
    // One block sums the output layer's shares in another order: equal to rounding only.
    let mut pairs = team_net.w.as_slice().iter().zip(inline_net.w.as_slice());
    assert!(pairs.all(|(a, b)| (a - b).abs() <= 1e-5 * (1.0 + a.abs())));
}

#[test]
fn blocked_fused_step_matches_the_plain_step() {
    let reg = vec![RegTerm::new(RegularizerKind::WeightDecay, 0.1).unwrap()];
    for blocks in [1, 2, 3] {
        check(
            TrainSettings {
                width: 37,
                batch_size: 16,
                weight_decay: 0.3,
                ..TrainSettings::default()
            },
            true,
            blocks,
        );
        check(
            TrainSettings {
                width: 20,
                batch_size: 9,
                loss: Some(Loss::Squared),
                optimizer: OptimizerKind::Sgd { momentum: 0.9 },
                regularizers: reg.clone(),
                ..TrainSettings::default()
            },
            false,
            blocks,
        );
        check(
            TrainSettings {
                width: 12,
                batch_size: 40,
                loss: Some(Loss::Squared),
                regularizers: reg.clone(),
                ..TrainSettings::default()
            },
            true,
            blocks,
        );
    }
}

/// A sampled regulariser added chunk by chunk during the update gives the step that adding
/// `value_and_gradient_sampled`'s whole gradient through the buffer gives (the same
/// partners; the same products up to rounding), over several blocks and chunks, with one
/// term or three; where a term is not sampled both take the buffer.
#[test]
fn sampled_regulariser_added_by_chunks_matches_the_buffered_one() {
    let (m, d, width) = (60, 7, 40);
    let data = three_classes(m, d, 8);
    let term = |kind, lambda| RegTerm::new(kind, lambda).unwrap();
    let mhe = RegularizerKind::Mhe {
        power: 1,
        angular: true,
    };
    let cases = [
        (vec![term(RegularizerKind::Discrepancy, 3.0)], true),
        (
            vec![
                term(RegularizerKind::Discrepancy, 3.0),
                term(mhe, 0.5),
                term(RegularizerKind::Orthogonal, 0.2),
            ],
            true,
        ),
        (
            vec![
                term(RegularizerKind::Discrepancy, 3.0),
                term(RegularizerKind::WeightDecay, 0.1),
            ],
            false,
        ),
    ];
    for (regularizers, fused_path) in cases {
        let settings = TrainSettings {
            width,
            batch_size: 12,
            regularizers,
            reg_every: 2,
            reg_sampling: Some(RegSampling::new(5).unwrap()),
            ..TrainSettings::default()
        };
        let cfg = settings.clone().resolve(&data).unwrap();
        let plain_cfg = TrainSettings {
            regularizers: Vec::new(),
            reg_sampling: None,
            ..settings
        }
        .resolve(&data)
        .unwrap();
        for blocks in [1, 2, 3] {
            let run = |cfg: &TrainConfig, fuse: bool| {
                let mut stepper = MinibatchStep::<f64>::with_blocks(cfg, &data, blocks);
                stepper.fuse_sampled = fuse;
                stepper.chunk_rows = 4;
                let mut state = TrainState::<f64>::initial(cfg);
                for k in 0..5 {
                    let batch: Vec<usize> = (0..12).map(|i| (7 * i + 5 * k) % m).collect();
                    stepper.step(&mut state, &batch, 0.05).unwrap();
                    assert_eq!(
                        stepper.last_reg,
                        match (k % 2, cfg.regularizers().is_empty(), fuse && fused_path) {
                            (0, false, true) => "sampled",
                            (0, false, false) => "buffered",
                            _ => "off",
                        },
                        "step {k}"
                    );
                }
                state.net.w
            };
            let (by_chunks, buffered) = (run(&cfg, true), run(&cfg, false));
            let unregularised = run(&plain_cfg, true);
            let mut largest_effect: f64 = 0.0;
            for ((a, b), u) in by_chunks
                .as_slice()
                .iter()
                .zip(buffered.as_slice())
                .zip(unregularised.as_slice())
            {
                assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
                largest_effect = largest_effect.max((b - u).abs());
            }
            // The regularisers moved W: the comparison is not between two plain steps.
            assert!(largest_effect > 1e-3, "effect {largest_effect}");
        }
    }
}

/// The block count follows the step's size: the MNIST step (b d = 128 x 784 multiply-adds per
/// unit) splits from n = 21 on, a low-dimensional one stays whole, 16 threads give n = 100
/// nine blocks of at least 2^20 multiply-adds, and more threads never give fewer blocks.
#[test]
fn blocks_follow_the_step_size_and_never_fall_with_threads() {
    let mnist = 128 * 784;
    assert_eq!(unit_blocks(mnist, 20, 2), 1);
    assert_eq!(unit_blocks(mnist, 21, 2), 2);
    assert_eq!(unit_blocks(mnist, 100, 1), 1);
    assert_eq!(unit_blocks(mnist, 100, 16), 9);
    assert_eq!(unit_blocks(mnist, 1000, 16), 16);
    assert_eq!(unit_blocks(128 * 10, 1000, 16), 1);
    assert_eq!(unit_blocks(usize::MAX, 3, 16), 3);
    assert_eq!(unit_blocks(mnist, 0, 16), 1);
    for units in [1, 5, 21, 42, 100, 333, 1000, 5000] {
        for threads in 1..64 {
            let (fewer, more) = (
                unit_blocks(mnist, units, threads),
                unit_blocks(mnist, units, threads + 1),
            );
            assert!(fewer <= more && more <= (threads + 1).min(units.max(1)));
            if more > 1 {
                // The smallest block (units / blocks, rounded down) keeps about 2^20.
                assert!(
                    mnist * (units / more) * 11 >= MIN_BLOCK_MACS * 10,
                    "{units} {more}"
                );
            }
        }
    }
}
