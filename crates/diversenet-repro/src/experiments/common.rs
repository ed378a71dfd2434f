//! Pieces shared by the experiments' runs: seeded synthetic data on the sphere, training to
//! chosen epochs with an observer, held-out validation splits, and the theory's
//! measurements of a network.

use diversenet::data::{Dataset, InputTransform, SyntheticConfig, Targets};
use diversenet::error::Result;
use diversenet::linalg::{Cancel, Matrix};
use diversenet::model::train::{train, EpochMetrics, TrainObserver, TrainState};
use diversenet::model::{Network, TrainConfig, TrainSettings};
use diversenet::regularizer::{RegTerm, RegularizerKind};
use diversenet::rng::{SeededRng, Stream};
use diversenet::theory::discrepancy::discrepancies;
use diversenet::theory::feature_matrix::{
    loss_bound, smallest_singular_value, squared_loss_and_gradient_norm,
};

/// An observer that evaluates only at the `wanted` epochs and hands them to `each`.
pub(crate) struct Collect<F> {
    pub wanted: Vec<usize>,
    pub each: F,
}

impl<T: diversenet::linalg::Real, F: FnMut(&EpochMetrics, &TrainState<T>) -> Result<()>>
    TrainObserver<T> for Collect<F>
{
    /// The experiments read the L2 discrepancy of W at every recorded epoch.
    fn discrepancy(&mut self, w: &diversenet::linalg::Matrix<T>) -> Option<f64> {
        diversenet::geometry::l2_slice_discrepancy_sq(w)
    }
    fn wants_epoch(&self, epoch: usize) -> bool {
        self.wanted.contains(&epoch)
    }
    fn on_epoch(&mut self, m: &EpochMetrics, s: &TrainState<T>) -> Result<()> {
        if self.wanted.contains(&m.epoch) {
            (self.each)(m, s)?;
        }
        Ok(())
    }
}

/// Teacher-student data with its inputs on the unit sphere.
pub(crate) fn scaled_synthetic(cfg: &SyntheticConfig, seed: u64) -> Result<(Dataset, Dataset)> {
    let (mut train, mut test) = cfg.generate(seed)?;
    let t = InputTransform::unit_sphere();
    t.apply(&mut train.x);
    t.apply(&mut test.x);
    Ok((train, test))
}

/// Real targets as an m x 1 matrix.
pub(crate) fn targets_matrix(d: &Dataset) -> Matrix<f64> {
    match &d.targets {
        Targets::Scalar(y) => Matrix::from_vec(y.len(), 1, y.clone()),
        Targets::Classes { labels, .. } => {
            Matrix::from_vec(labels.len(), 1, labels.iter().map(|&l| l as f64).collect())
        }
    }
}

/// The theory's quantities of a network on its training data (PAPER.md section 2).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Measurement {
    /// L(W) = ||y - f(X)||^2 / (2m).
    pub loss: f64,
    /// ||grad_W L||.
    pub grad_norm: f64,
    /// s_m(D).
    pub s_min: f64,
    /// m ||grad_W L||^2 / (2 s_m(D)^2); None when s_m(D) = 0.
    pub bound: Option<f64>,
    /// The L2 slice discrepancy L2(W)^2 (NaN when W has no direction).
    pub l2_discrepancy_sq: f64,
}

/// The theory's measurements at one logged step of a training run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub step: usize,
    #[serde(flatten)]
    pub m: Measurement,
}

/// Trains (f64) from `state` to the configuration's last epoch, measuring the network on
/// `train_data` after every `log_every` epochs (steps, for full-batch training) and at 0.
pub(crate) fn logged_training(
    cfg: &TrainConfig,
    train_data: &Dataset,
    test_data: &Dataset,
    state: TrainState<f64>,
    log_every: usize,
) -> Result<Vec<Point>> {
    let mut trajectory = Vec::new();
    let mut obs = Collect {
        wanted: (0..=cfg.epochs()).filter(|e| e % log_every == 0).collect(),
        each: |m: &EpochMetrics, s: &TrainState<f64>| {
            trajectory.push(Point {
                step: m.epoch,
                m: measure(&s.net, train_data),
            });
            Ok(())
        },
    };
    train::<f64>(cfg, train_data, test_data, state, &mut obs)?;
    Ok(trajectory)
}

/// `points` points uniform on the sphere S^(dim-1), drawn from `rng`, as rows.
pub(crate) fn sphere_points(rng: &mut SeededRng, points: usize, dim: usize) -> Matrix<f64> {
    Matrix::from_vec(
        points,
        dim,
        (0..points).flat_map(|_| rng.unit_vector(dim)).collect(),
    )
}

pub(crate) fn measure(net: &Network<f64>, train: &Dataset) -> Measurement {
    let s = smallest_singular_value(net, &train.x, Cancel::NEVER).expect("never cancelled");
    let (loss, grad_norm) = squared_loss_and_gradient_norm(net, &train.x, &targets_matrix(train));
    Measurement {
        loss,
        grad_norm,
        s_min: s.value,
        bound: (s.value > 0.0).then(|| loss_bound(train.len(), grad_norm, s.value)),
        l2_discrepancy_sq: discrepancies(&net.w)
            .map(|d| d.l2_slice_sq)
            .unwrap_or(f64::NAN),
    }
}

/// Trains (f32) from the configuration's initial state, evaluating only after the last
/// epoch; returns the final state and its metrics.
pub(crate) fn train_to_end(
    cfg: &TrainConfig,
    train_data: &Dataset,
    test_data: &Dataset,
) -> Result<(TrainState<f32>, EpochMetrics)> {
    let mut last = None;
    let mut obs = Collect {
        wanted: vec![cfg.epochs()],
        each: |m: &EpochMetrics, _: &TrainState<f32>| {
            last = Some(m.clone());
            Ok(())
        },
    };
    let state = train::<f32>(
        cfg,
        train_data,
        test_data,
        TrainState::initial(cfg),
        &mut obs,
    )?;
    Ok((state, last.expect("the last epoch is always reported")))
}

/// The first `len - validation` samples and the last `validation` ones.
pub(crate) fn split_last(d: &Dataset, validation: usize) -> (Dataset, Dataset) {
    let m = d.len();
    let cut = m - validation.min(m - 1);
    let first: Vec<usize> = (0..cut).collect();
    let rest: Vec<usize> = (cut..m).collect();
    (
        d.select(&first, format!("{} (training part)", d.name)),
        d.select(&rest, format!("{} (validation part)", d.name)),
    )
}

/// `count` items of `full` spread evenly, first and last included (all if fewer).
pub(crate) fn spread<T: Clone>(full: &[T], count: usize) -> Vec<T> {
    if full.len() <= count || count == 0 {
        return full.to_vec();
    }
    if count == 1 {
        return vec![full[0].clone()];
    }
    (0..count)
        .map(|i| full[i * (full.len() - 1) / (count - 1)].clone())
        .collect()
}

/// lambda on the half-decade grid: 10^(k/2).
pub fn half_decade(k: i32) -> f64 {
    10f64.powf(k as f64 / 2.0)
}

/// lambda on the decade grid: 10^k (exact for the integers the plans use).
pub fn decade(k: i32) -> f64 {
    if k >= 0 {
        10f64.powi(k)
    } else {
        1.0 / 10f64.powi(-k)
    }
}

/// The reference teacher of the synthetic experiments: d = 10, 5 units, 200 training points.
pub(crate) fn reference_teacher(test_samples: usize, noise: f64) -> SyntheticConfig {
    SyntheticConfig {
        dim: 10,
        teacher_width: 5,
        train_samples: 200,
        test_samples,
        noise,
    }
}

/// Adam with minibatches of 32 and exact metrics, with the discrepancy regulariser when
/// `lambda` > 0: the synthetic experiments' training.
pub(crate) fn minibatch_settings(
    width: usize,
    epochs: usize,
    seed: u64,
    lambda: f64,
) -> Result<TrainSettings> {
    Ok(TrainSettings {
        width,
        epochs,
        seed,
        // The reproduction measures exact metrics, never running averages.
        exact_metrics_every: 1,
        batch_size: 32,
        regularizers: if lambda > 0.0 {
            vec![RegTerm::new(RegularizerKind::Discrepancy, lambda)?]
        } else {
            vec![]
        },
        ..TrainSettings::default()
    })
}

/// MNIST split and scaled for the runs: the training part, the validation part and the
/// test set (or its first images), inputs on the unit sphere (prepared once; every run of a
/// plan shares it).
pub struct MnistSplit {
    /// (training, validation, test) images.
    pub sizes: (usize, usize, usize),
    pub train: Dataset,
    pub validation: Dataset,
    pub test: Dataset,
}

impl MnistSplit {
    /// A fixed seeded permutation of the 60,000 (the same for every run): the first
    /// `train_samples` train, the next `validation` validate; the first `test` of the
    /// 10,000 test images test.
    pub fn new(
        mnist_train: &Dataset,
        mnist_test: &Dataset,
        train_samples: usize,
        validation: usize,
        test: usize,
    ) -> Self {
        let mut order: Vec<usize> = (0..mnist_train.len()).collect();
        SeededRng::new(0, Stream::Split).shuffle(&mut order);
        let n_train = train_samples.min(mnist_train.len() - validation);
        let mut train = mnist_train.select(&order[..n_train], "MNIST training part");
        let mut val = mnist_train.select(
            &order[n_train..n_train + validation],
            "MNIST validation part",
        );
        let first: Vec<usize> = (0..test.min(mnist_test.len())).collect();
        let mut test_part = mnist_test.select(&first, "MNIST test set");
        let t = InputTransform::unit_sphere();
        for d in [&mut train, &mut val, &mut test_part] {
            t.apply(&mut d.x);
        }
        Self {
            sizes: (train_samples, validation, test),
            train,
            validation: val,
            test: test_part,
        }
    }
}
