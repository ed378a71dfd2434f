//! Benchmarks that print figures: `diversenet bench train` (training samples per second for
//! MNIST-shaped networks, 784 -> n -> 10, beside `bench/numpy_train_step.py`) and
//! `diversenet bench theory` (s_m(D) through the Gram form and the kernel spectrum, beside
//! `bench/numpy_gram_eig.py`), on the same machine and thread count.

use diversenet::data::synthetic::random_classification;
use diversenet::data::{Dataset, Targets};
use diversenet::error::{Advice, Error, Expected, Result};
use diversenet::limits::{check_analyze, check_largest_fitting, check_training, TrainingSizes};
use diversenet::linalg::{Cancel, Matrix, Real};
use diversenet::model::step::MinibatchStep;
use diversenet::model::train::TrainState;
use diversenet::model::{Network, OutputLayer};
use diversenet::model::{OptimizerKind, Precision, TrainConfig, TrainSettings};
use diversenet::regularizer::{RegSampling, RegTerm, RegularizerKind};
use diversenet::rng::{SeededRng, Stream};
use diversenet::theory::feature_matrix::feature_gram;
use std::time::Instant;

/// One benchmark measurement.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainBenchResult {
    pub width: usize,
    pub dim: usize,
    pub classes: usize,
    pub batch_size: usize,
    pub optimizer: String,
    pub precision: String,
    pub threads: usize,
    /// Blocks of hidden units the step was split into (threads used by the step).
    pub unit_blocks: usize,
    pub steps: usize,
    pub repeats: usize,
    /// Seconds of each repeat of `steps` steps.
    pub seconds: Vec<f64>,
    /// From the median repeat.
    pub samples_per_second: f64,
    /// From the fastest repeat.
    pub best_samples_per_second: f64,
    pub ms_per_step: f64,
}

/// What [`bench_train`] times: `steps` minibatch steps (cross-entropy, trained V) of a
/// `dim -> width -> classes` network, `repeats` times.
#[derive(Clone, Debug)]
pub struct TrainBenchSpec {
    pub width: usize,
    pub dim: usize,
    pub classes: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
    pub precision: Precision,
    pub steps: usize,
    pub repeats: usize,
    /// Unit blocks of the step; `None`: chosen from the size, as training does.
    pub blocks: Option<usize>,
    /// A regulariser applied every step (lambda 1e-3), exact or sampled; `None`: none.
    pub regularizer: Option<(RegularizerKind, Option<RegSampling>)>,
}

/// Times `steps` training steps (gather, forward, backward, optimiser update: the step
/// that training takes) on consecutive minibatches of `data`, after `warmup` untimed steps,
/// from the configuration's initial state; returns seconds and the step's unit blocks.
fn time_training_steps<T: Real>(
    cfg: &TrainConfig,
    data: &Dataset,
    warmup: usize,
    steps: usize,
    blocks: Option<usize>,
) -> Result<(f64, usize)> {
    let mut state = TrainState::<T>::initial(cfg);
    let mut stepper = match blocks {
        Some(blocks) => MinibatchStep::<T>::with_blocks(cfg, data, blocks),
        None => MinibatchStep::<T>::new(cfg, data),
    };
    let order: Vec<usize> = (0..data.len()).collect();
    let batches: Vec<&[usize]> = order
        .chunks(cfg.batch_size())
        .filter(|b| b.len() == cfg.batch_size())
        .collect();
    for k in 0..warmup {
        stepper.step(&mut state, batches[k % batches.len()], cfg.lr())?;
    }
    let t = Instant::now();
    for k in 0..steps {
        stepper.step(&mut state, batches[k % batches.len()], cfg.lr())?;
    }
    Ok((t.elapsed().as_secs_f64(), stepper.blocks()))
}

/// Refuses a size below `least` (`field` the flag), as `train` and `analyze` do: zero units,
/// points or steps have nothing to time, and no unit vector has dimension 0.
fn at_least(field: &'static str, value: usize, least: usize) -> Result<()> {
    if value < least {
        return Err(Error::setting(
            field,
            value,
            Expected::AtLeast {
                min: least as u64,
                unit: "",
            },
        ));
    }
    Ok(())
}

/// Checks a training benchmark's sizes and memory (its data are 16 minibatches) before
/// anything is built; `bench train` checks every width first.
pub fn check_train_spec(spec: &TrainBenchSpec) -> Result<()> {
    at_least("width", spec.width, 1)?;
    at_least("dim", spec.dim, 1)?;
    at_least("batch_size", spec.batch_size, 1)?;
    at_least("steps", spec.steps, 1)?;
    check_training(&TrainingSizes {
        train_samples: spec.batch_size.saturating_mul(16),
        test_samples: 0,
        dim: spec.dim,
        width: spec.width,
        outputs: spec.classes,
        batch_size: spec.batch_size,
        value_bytes: spec.precision.value_bytes(),
        optimizer_buffers: spec.optimizer.buffers_per_tensor(),
    })
}

/// Checks `bench theory`'s sizes (m points, n units, dimension d) and the memory of
/// s_m(D) on them, as `analyze` does.
pub fn check_gram_sizes(points: usize, width: usize, dim: usize) -> Result<()> {
    at_least("points", points, 1)?;
    at_least("width", width, 1)?;
    at_least("dim", dim, 1)?;
    check_analyze(points, dim, width, 1)
}

/// Checks `bench reg`'s sizes: W is n x d (f32) with a gradient, and the pair sums
/// build the n x n unit angles.
pub fn check_regularizer_sizes(width: usize, dim: usize) -> Result<()> {
    at_least("width", width, 1)?;
    at_least("dim", dim, 1)?;
    check_largest_fitting(
        &format!("the regularisers on a {width} x {dim} W"),
        1,
        width,
        |n| diversenet::limits::unit_angles_estimate(n, dim),
        |fits| Advice::largest("width", fits, "even width 1 does not fit", None),
    )
}

/// Times minibatch training steps as `spec` says.
pub fn bench_train(spec: &TrainBenchSpec) -> Result<TrainBenchResult> {
    check_train_spec(spec)?;
    let TrainBenchSpec {
        width,
        dim,
        classes,
        batch_size,
        optimizer,
        precision,
        steps,
        repeats,
        blocks,
        regularizer,
    } = spec.clone();
    let batches = 16;
    let data = random_classification(batch_size * batches, dim, classes, 0)?;
    let settings = TrainSettings {
        width,
        batch_size,
        optimizer,
        precision,
        regularizers: match regularizer {
            Some((kind, _)) => vec![RegTerm::new(kind, 1e-3)?],
            None => Vec::new(),
        },
        reg_sampling: regularizer.and_then(|(_, sampling)| sampling),
        ..TrainSettings::default()
    };
    let cfg = settings.resolve(&data)?;
    let warmup = (steps / 10).max(3);
    let repeats = repeats.max(1);
    let runs = (0..repeats)
        .map(|_| match precision {
            Precision::F32 => time_training_steps::<f32>(&cfg, &data, warmup, steps, blocks),
            Precision::F64 => time_training_steps::<f64>(&cfg, &data, warmup, steps, blocks),
        })
        .collect::<Result<Vec<_>>>()?;
    let seconds: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let unit_blocks = runs[0].1;
    let median = median(&seconds);
    let best = seconds.iter().cloned().fold(f64::INFINITY, f64::min);
    Ok(TrainBenchResult {
        width,
        dim,
        classes,
        batch_size,
        optimizer: optimizer.name().into(),
        precision: match precision {
            Precision::F32 => f32::NAME,
            Precision::F64 => f64::NAME,
        }
        .into(),
        threads: diversenet::linalg::threads(),
        unit_blocks,
        steps,
        repeats,
        samples_per_second: (steps * batch_size) as f64 / median,
        best_samples_per_second: (steps * batch_size) as f64 / best,
        ms_per_step: 1e3 * median / steps as f64,
        seconds,
    })
}

/// A regularised training step beside an unregularised one ([`bench_regularised_step`]).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RegularisedStepTiming {
    /// Medians over the pairs.
    pub ms_per_step: f64,
    pub unregularised_ms_per_step: f64,
    /// The median of the pairs' ratios (regularised over unregularised).
    pub ratio: f64,
    pub ratios: Vec<f64>,
}

/// Times the step of `plain` with `regularizer` added against `plain` itself, in `pairs`
/// alternating pairs of `plain.steps` steps each: the machine's speed drifts from minute to
/// minute, and the two halves of a pair see the same speed.
pub fn bench_regularised_step(
    plain: &TrainBenchSpec,
    regularizer: (RegularizerKind, Option<RegSampling>),
    pairs: usize,
) -> Result<RegularisedStepTiming> {
    let plain = TrainBenchSpec {
        repeats: 1,
        regularizer: None,
        ..plain.clone()
    };
    let regularised = TrainBenchSpec {
        regularizer: Some(regularizer),
        ..plain.clone()
    };
    let (mut with, mut without, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..pairs.max(1) {
        let base = bench_train(&plain)?.ms_per_step;
        let reg = bench_train(&regularised)?.ms_per_step;
        with.push(reg);
        without.push(base);
        ratios.push(reg / base);
    }
    Ok(RegularisedStepTiming {
        ms_per_step: median(&with),
        unregularised_ms_per_step: median(&without),
        ratio: median(&ratios),
        ratios,
    })
}

/// Timings of s_m(D) for one size.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GramBenchResult {
    pub points: usize,
    pub width: usize,
    pub dim: usize,
    /// Whether the network was trained first (else random units).
    pub trained: bool,
    pub threads: usize,
    /// Timed repeats; the seconds below are medians.
    pub repeats: usize,
    /// Building D^T D = (X X^T) o (A^T diag(v^2) A).
    pub build_seconds: f64,
    /// lambda_min by Cholesky shift-and-invert block Krylov (with the dense fallback).
    pub smallest_eigenvalue_seconds: f64,
    /// `cholesky-shift-invert` or `dense` (the fallback).
    pub method: &'static str,
    /// Where the solver's time went.
    pub solver: diversenet::linalg::SolverStats,
    /// The full symmetric eigendecomposition (the reference), if timed.
    pub full_eigen_seconds: Option<f64>,
    pub s_min: f64,
    /// s_m(D) from the full eigendecomposition, if computed.
    pub s_min_full: Option<f64>,
}

/// Times s_m(D) for a network (n units, fixed +/-1 outputs) on m random points of
/// S^{d-1}; with `full`, also the full eigendecomposition. `trained`: the network is
/// first trained for 20 epochs on teacher-student targets, so that its Gram is that of a
/// trained network rather than of random units (whose smallest eigenvalues form a dense band).
pub fn bench_gram(
    points: usize,
    width: usize,
    dim: usize,
    full: bool,
    trained: bool,
    repeats: usize,
) -> Result<GramBenchResult> {
    check_gram_sizes(points, width, dim)?;
    let mut rng = SeededRng::new(0, Stream::Data);
    let x = Matrix::from_vec(
        points,
        dim,
        (0..points).flat_map(|_| rng.unit_vector(dim)).collect(),
    );
    let mut net: Network<f64> = Network::init(dim, width, 1, OutputLayer::Fixed, 1.0, &mut rng);
    if trained {
        let (teacher_w, teacher_v) = diversenet::data::SyntheticConfig {
            dim,
            teacher_width: 5,
            train_samples: 1,
            test_samples: 1,
            noise: 0.0,
        }
        .teacher(0);
        let teacher = Network {
            w: teacher_w,
            v: Matrix::from_vec(1, teacher_v.len(), teacher_v),
            output_layer: OutputLayer::Fixed,
        };
        let y = teacher.predict(x.view()).into_vec();
        let data = Dataset::new(
            "benchmark teacher-student data",
            x.clone(),
            Targets::Scalar(y),
        )?;
        let settings = TrainSettings {
            width,
            epochs: 20,
            precision: Precision::F64,
            ..TrainSettings::default()
        };
        let cfg = settings.resolve(&data)?;
        check_training(&diversenet::model::fit::training_sizes(&cfg, &data, &data))?;
        let state = diversenet::model::train::train::<f64>(
            &cfg,
            &data,
            &data,
            diversenet::model::train::TrainState::initial(&cfg),
            &mut NoObserver,
        )?;
        net = state.net;
    }
    // Each repeat builds the Gram afresh (the solver takes it by value and factorises in
    // place); the figures are medians, the solver's breakdown that of the median run.
    let mut runs = Vec::new();
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let g = feature_gram(&net, &x, Cancel::NEVER)?;
        let build = t.elapsed().as_secs_f64();
        let reference = full.then(|| g.clone());
        let t = Instant::now();
        let (result, solver) =
            diversenet::linalg::smallest_eigenvalue_psd_with_stats(g, Cancel::NEVER)?;
        let solve = t.elapsed().as_secs_f64();
        let dense = reference.map(|g| {
            let t = Instant::now();
            let v = diversenet::linalg::symmetric_eigenvalues(&g).map(|v| v[0].max(0.0).sqrt());
            (t.elapsed().as_secs_f64(), v)
        });
        runs.push((build, solve, result, solver, dense));
    }
    let build_seconds = median(&runs.iter().map(|r| r.0).collect::<Vec<_>>());
    let smallest_eigenvalue_seconds = median(&runs.iter().map(|r| r.1).collect::<Vec<_>>());
    let full_eigen_seconds = full.then(|| {
        median(
            &runs
                .iter()
                .filter_map(|r| r.4.map(|d| d.0))
                .collect::<Vec<_>>(),
        )
    });
    let (_, _, result, solver, dense) = runs
        .into_iter()
        .find(|r| r.1 == smallest_eigenvalue_seconds)
        .expect("the median is one of the runs");
    let s_min = result.value().unwrap_or(0.0).max(0.0).sqrt();
    let s_min_full = dense.and_then(|d| d.1);
    Ok(GramBenchResult {
        points,
        width,
        dim,
        trained,
        repeats: repeats.max(1),
        threads: diversenet::linalg::threads(),
        build_seconds,
        smallest_eigenvalue_seconds,
        method: result.method(),
        solver,
        full_eigen_seconds,
        s_min,
        s_min_full,
    })
}

/// The median of a non-empty list (the upper one of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

struct NoObserver;
impl<T> diversenet::model::train::TrainObserver<T> for NoObserver {
    fn on_epoch(
        &mut self,
        _: &diversenet::model::EpochMetrics,
        _: &diversenet::model::train::TrainState<T>,
    ) -> Result<()> {
        Ok(())
    }
}

/// Seconds to compute the spectrum up to `max_degree` at dimension `dim`, and the degree
/// up to which it is trusted.
pub fn bench_spectrum(dim: usize, max_degree: usize) -> Result<(f64, Option<usize>)> {
    let t = Instant::now();
    let s = diversenet::theory::spectrum::spectrum(dim, max_degree)?;
    Ok((t.elapsed().as_secs_f64(), s.trusted_up_to))
}

/// Seconds for value + gradient of each regulariser on an n x d matrix (precision f32, as
/// in training), the median of `repeats` runs: exact, and for the pair sums also sampled
/// with each K of `sampled` partner units (`None` in the second field: exact).
pub fn bench_regularizers(
    width: usize,
    dim: usize,
    repeats: usize,
    sampled: &[usize],
) -> Result<Vec<(RegularizerKind, Option<usize>, f64)>> {
    use diversenet::regularizer::value_and_gradient_sampled;
    check_regularizer_sizes(width, dim)?;
    let mut rng = SeededRng::new(0, Stream::Init);
    let w = Matrix::from_vec(
        width,
        dim,
        (0..width * dim).map(|_| rng.normal() as f32).collect(),
    );
    let mut g = Matrix::zeros(width, dim);
    let mut out = Vec::new();
    for kind in diversenet::regularizer::registry::benched_kinds() {
        let pair_sum = kind.is_pair_sum();
        let mut ks = vec![None];
        if pair_sum {
            for &k in sampled {
                ks.push(Some(RegSampling::new(k)?));
            }
        }
        for sampling in ks {
            let times: Vec<f64> = (0..repeats.max(1) as u64)
                .map(|step| {
                    let t = Instant::now();
                    match sampling {
                        Some(s) => value_and_gradient_sampled(
                            kind,
                            &w,
                            Some((&mut g, 1.0)),
                            s,
                            &mut RegSampling::rng(0, step),
                        ),
                        None => diversenet::regularizer::value_and_gradient(
                            kind,
                            &w,
                            Some((&mut g, 1.0)),
                        ),
                    };
                    t.elapsed().as_secs_f64()
                })
                .collect();
            out.push((kind, sampling.map(|s| s.units_per_step), median(&times)));
        }
    }
    Ok(out)
}

/// Final metrics of one training run of [`sampled_vs_exact`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct RegRunResult {
    /// `none`, `exact` or `sampled K`.
    pub regularizer: String,
    pub seed: u64,
    pub l2_discrepancy_sq: Option<f64>,
    pub test_loss: f64,
    pub seconds: f64,
}

/// Trains a width-`width` network on synthetic teacher-student data (d = 20, 2000
/// training and 2000 test samples, 30 epochs) for each seed: without the regulariser,
/// with the exact discrepancy regulariser every step (lambda 1) and with its estimate from
/// `units_per_step` sampled partners.
pub fn sampled_vs_exact(
    width: usize,
    units_per_step: usize,
    seeds: &[u64],
) -> Result<Vec<RegRunResult>> {
    use diversenet::regularizer::{RegSampling, RegTerm, RegularizerKind};
    let mut out = Vec::new();
    for &seed in seeds {
        let cfg = diversenet::data::SyntheticConfig {
            dim: 20,
            teacher_width: 10,
            train_samples: 2000,
            test_samples: 2000,
            noise: 0.0,
        };
        let (mut train, mut test) = cfg.generate(seed)?;
        let transform = diversenet::data::InputTransform::unit_sphere();
        transform.apply(&mut train.x);
        transform.apply(&mut test.x);
        let variants = [
            ("none".to_string(), 0.0, None),
            ("exact".to_string(), 1.0, None),
            (
                format!("sampled {units_per_step}"),
                1.0,
                Some(RegSampling::new(units_per_step)?),
            ),
        ];
        for (name, lambda, reg_sampling) in variants {
            let settings = TrainSettings {
                width,
                epochs: 30,
                seed,
                regularizers: vec![RegTerm::new(RegularizerKind::Discrepancy, lambda)?],
                reg_sampling,
                ..TrainSettings::default()
            };
            let config = settings.resolve(&train)?;
            check_training(&diversenet::model::fit::training_sizes(
                &config, &train, &test,
            ))?;
            let t = Instant::now();
            let mut last = LastMetrics(None);
            diversenet::model::train::train::<f32>(
                &config,
                &train,
                &test,
                diversenet::model::train::TrainState::initial(&config),
                &mut last,
            )?;
            let m = last.0.expect("epochs ran");
            out.push(RegRunResult {
                regularizer: name,
                seed,
                l2_discrepancy_sq: m.l2_discrepancy_sq,
                test_loss: m.test_loss,
                seconds: t.elapsed().as_secs_f64(),
            });
        }
    }
    Ok(out)
}

struct LastMetrics(Option<diversenet::model::EpochMetrics>);
impl<T: Real> diversenet::model::train::TrainObserver<T> for LastMetrics {
    fn discrepancy(&mut self, w: &Matrix<T>) -> Option<f64> {
        diversenet::geometry::l2_slice_discrepancy_sq(w)
    }
    fn on_epoch(
        &mut self,
        m: &diversenet::model::EpochMetrics,
        _: &diversenet::model::train::TrainState<T>,
    ) -> Result<()> {
        self.0 = Some(m.clone());
        Ok(())
    }
}
