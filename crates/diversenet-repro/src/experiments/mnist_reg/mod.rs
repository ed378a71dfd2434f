//! RQ5 on MNIST: the discrepancy regulariser and its peers (MHE, MMA, soft orthogonality,
//! AdamW's decoupled weight decay) against none, across widths, with cross-entropy and a squared-loss arm.
//! Lambda is chosen per (arm, width, regulariser) by mean validation error over the
//! selection seeds on a half-decade grid that is widened while the choice sits at its
//! edge; the chosen lambda is then evaluated on every seed. The plan therefore grows as
//! results arrive: [`Plan::runs`] takes the results so far.

pub mod report;

use diversenet::data::{Dataset, InputTransform};
use diversenet::error::Result;
use diversenet::model::train::score;
use diversenet::model::{Loss, LrSchedule, TrainSettings};
use diversenet::regularizer::{RegTerm, RegularizerKind};
use diversenet::rng::{SeededRng, Stream};

use super::common::{half_decade, spread, train_to_end};
use super::findings::rules::{select_lambda, Edge, Selection};

/// What a regularised run adds to the baseline: a regulariser lambda R(W) in the loss, or
/// decoupled weight decay (AdamW's; lambda is its coefficient, see
/// [`TrainSettings::weight_decay`]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Treatment {
    Regularizer(RegularizerKind),
    DecoupledWeightDecay,
}

impl std::fmt::Display for Treatment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Regularizer(kind) => kind.fmt(f),
            Self::DecoupledWeightDecay => f.write_str("decoupled-weight-decay"),
        }
    }
}

/// One loss with the treatments compared under it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Arm {
    pub loss: Loss,
    /// Each treatment with its initial grid of half-decade exponents k (lambda = 10^(k/2)).
    pub regs: Vec<(Treatment, Vec<i32>)>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub widths: Vec<usize>,
    pub epochs: usize,
    pub lr: f64,
    pub schedule: LrSchedule,
    pub train_samples: usize,
    pub validation: usize,
    /// Seeds 0..selection_seeds choose lambda; seeds 0..seeds evaluate it.
    pub selection_seeds: u64,
    pub seeds: u64,
    /// Steps (of the grid's own spacing) a grid may be extended by, on each side.
    pub max_widening: usize,
    /// Widths from which the regularisers act every 10 steps (decoupled weight decay, O(n d),
    /// acts at every step).
    pub sparse_from_width: usize,
    pub arms: Vec<Arm>,
}

impl Plan {
    pub fn full() -> Self {
        use RegularizerKind::*;
        use Treatment::{DecoupledWeightDecay, Regularizer as R};
        Self {
            widths: vec![50, 100, 200, 500],
            epochs: 8,
            lr: 0.01,
            schedule: LrSchedule::Cosine,
            train_samples: 50_000,
            validation: 10_000,
            selection_seeds: 2,
            seeds: 5,
            max_widening: 2,
            sparse_from_width: 500,
            arms: vec![
                Arm {
                    loss: Loss::CrossEntropy,
                    regs: vec![
                        (R(Discrepancy), vec![-2, 0, 2]),
                        (
                            R(Mhe {
                                power: 0,
                                angular: false,
                            }),
                            vec![-4, -2, 0],
                        ),
                        (R(Mma), vec![-6, -4, -2]),
                        (R(Orthogonal), vec![-10, -8, -6]),
                        (DecoupledWeightDecay, vec![-6, -4, -2]),
                    ],
                },
                Arm {
                    loss: Loss::Squared,
                    regs: vec![(R(Discrepancy), vec![-2, 0, 2])],
                },
            ],
        }
    }
    pub fn quick(&self) -> Self {
        Self {
            widths: self.widths[..2].to_vec(),
            epochs: 1,
            train_samples: 6_000,
            validation: 1_000,
            selection_seeds: 1,
            seeds: 2,
            max_widening: 0,
            arms: vec![Arm {
                loss: self.arms[0].loss,
                regs: [self.arms[0].regs.first(), self.arms[0].regs.last()]
                    .into_iter()
                    .flatten()
                    .map(|(k, g)| (*k, spread(g, 2)))
                    .collect(),
            }],
            ..self.clone()
        }
    }

    fn spec(
        &self,
        seed: u64,
        width: usize,
        loss: Loss,
        reg: Option<Treatment>,
        k: Option<i32>,
    ) -> Spec {
        Spec {
            seed,
            width,
            loss,
            reg,
            lambda: k.map_or(0.0, half_decade),
            epochs: self.epochs,
            lr: self.lr,
            schedule: self.schedule,
            train_samples: self.train_samples,
            validation: self.validation,
            reg_every: if width >= self.sparse_from_width
                && matches!(reg, Some(Treatment::Regularizer(_)))
            {
                10
            } else {
                1
            },
        }
    }

    /// The grid of one (arm, width, regulariser) given the validation errors known so far
    /// (`validation(k)`: one per selection seed, or None while incomplete), and the
    /// selection once the whole grid is known.
    pub fn grid(
        &self,
        initial: &[i32],
        validation: impl Fn(i32) -> Option<Vec<f64>>,
    ) -> (Vec<i32>, Option<Selection>) {
        let mut grid = initial.to_vec();
        // Widened by the initial grid's own spacing.
        let step = if grid.len() >= 2 {
            grid[1] - grid[0]
        } else {
            1
        };
        let (mut below, mut above) = (0, 0);
        loop {
            let curve: Option<Vec<(f64, Vec<f64>)>> = grid
                .iter()
                .map(|&k| validation(k).map(|v| (half_decade(k), v)))
                .collect();
            let Some(curve) = curve else {
                return (grid, None);
            };
            let selection = select_lambda(&curve);
            match selection.as_ref().map(|s| s.edge) {
                Some(Edge::Lowest) if below < self.max_widening => {
                    below += 1;
                    grid.insert(0, grid[0] - step);
                }
                Some(Edge::Highest) if above < self.max_widening => {
                    above += 1;
                    grid.push(grid[grid.len() - 1] + step);
                }
                _ => return (grid, selection),
            }
        }
    }

    /// The runs known to be needed given the results so far: baselines on every seed, each
    /// grid on the selection seeds, and the chosen lambdas on every seed once chosen.
    pub fn runs(&self, known: &dyn Fn(&Spec) -> Option<f64>) -> Vec<Spec> {
        let mut out = Vec::new();
        for arm in &self.arms {
            for &width in &self.widths {
                for seed in 0..self.seeds {
                    out.push(self.spec(seed, width, arm.loss, None, None));
                }
                for (kind, initial) in &arm.regs {
                    let validation = |k: i32| {
                        (0..self.selection_seeds)
                            .map(|seed| {
                                known(&self.spec(seed, width, arm.loss, Some(*kind), Some(k)))
                            })
                            .collect::<Option<Vec<f64>>>()
                    };
                    let (grid, selection) = self.grid(initial, validation);
                    for &k in &grid {
                        for seed in 0..self.selection_seeds {
                            out.push(self.spec(seed, width, arm.loss, Some(*kind), Some(k)));
                        }
                    }
                    if let Some(sel) = selection {
                        let k = (2.0 * sel.chosen.log10()).round() as i32;
                        for seed in self.selection_seeds..self.seeds {
                            out.push(self.spec(seed, width, arm.loss, Some(*kind), Some(k)));
                        }
                    }
                }
            }
        }
        out
    }

    /// Runs a plan will need at most: every grid widened fully on one side.
    pub fn most_runs(&self) -> usize {
        self.arms
            .iter()
            .map(|a| {
                self.widths.len()
                    * (self.seeds as usize
                        + a.regs
                            .iter()
                            .map(|(_, g)| {
                                (g.len() + self.max_widening) * self.selection_seeds as usize
                                    + (self.seeds - self.selection_seeds) as usize
                            })
                            .sum::<usize>())
            })
            .sum()
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub seed: u64,
    pub width: usize,
    pub loss: Loss,
    pub reg: Option<Treatment>,
    pub lambda: f64,
    pub epochs: usize,
    pub lr: f64,
    pub schedule: LrSchedule,
    pub train_samples: usize,
    pub validation: usize,
    pub reg_every: usize,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub train_loss: f64,
    pub validation_error: f64,
    pub test_error: f64,
    pub test_loss: f64,
    pub l2_discrepancy_sq: f64,
}

/// MNIST split and scaled for the runs: the training part, the validation part and the
/// test set, inputs on the unit sphere (prepared once; every run of a plan shares it).
pub struct Prepared {
    pub sizes: (usize, usize),
    pub train: Dataset,
    pub validation: Dataset,
    pub test: Dataset,
}

impl Prepared {
    /// A fixed seeded permutation of the 60,000 (the same for every run): the first
    /// `train_samples` train, the next `validation` validate.
    pub fn new(
        mnist_train: &Dataset,
        mnist_test: &Dataset,
        train_samples: usize,
        validation: usize,
    ) -> Self {
        let mut order: Vec<usize> = (0..mnist_train.len()).collect();
        SeededRng::new(0, Stream::Split).shuffle(&mut order);
        let n_train = train_samples.min(mnist_train.len() - validation);
        let mut train = mnist_train.select(&order[..n_train], "MNIST training part");
        let mut val = mnist_train.select(
            &order[n_train..n_train + validation],
            "MNIST validation part",
        );
        let mut test = mnist_test.clone();
        let t = InputTransform::unit_sphere();
        for d in [&mut train, &mut val, &mut test] {
            t.apply(&mut d.x);
        }
        Self {
            sizes: (train_samples, validation),
            train,
            validation: val,
            test,
        }
    }
}

/// Executes an MNIST run on the prepared data (whose sizes must be the spec's).
pub fn execute(spec: &Spec, data: &Prepared) -> Result<Outcome> {
    assert_eq!(
        data.sizes,
        (spec.train_samples, spec.validation),
        "MNIST prepared for other sizes"
    );
    let (train_data, val_data, test_data) = (&data.train, &data.validation, &data.test);
    let settings = TrainSettings {
        width: spec.width,
        epochs: spec.epochs,
        seed: spec.seed,
        // The reproduction measures exact metrics, never running averages.
        exact_metrics_every: 1,
        lr: spec.lr,
        schedule: spec.schedule,
        loss: Some(spec.loss),
        regularizers: match spec.reg {
            Some(Treatment::Regularizer(kind)) if spec.lambda > 0.0 => {
                vec![RegTerm::new(kind, spec.lambda)?]
            }
            _ => vec![],
        },
        weight_decay: match spec.reg {
            Some(Treatment::DecoupledWeightDecay) => spec.lambda,
            _ => 0.0,
        },
        reg_every: spec.reg_every,
        ..TrainSettings::default()
    };
    let cfg = settings.resolve(train_data)?;
    let (state, m) = train_to_end(&cfg, train_data, test_data)?;
    let (_, validation_error) = score(&state.net, cfg.loss(), val_data);
    let (test_loss, test_error) = score(&state.net, cfg.loss(), test_data);
    Ok(Outcome {
        train_loss: score(&state.net, cfg.loss(), train_data).0,
        validation_error: validation_error.unwrap_or(f64::NAN),
        test_error: test_error.unwrap_or(f64::NAN),
        test_loss,
        l2_discrepancy_sq: m.l2_discrepancy_sq.unwrap_or(f64::NAN),
    })
}
