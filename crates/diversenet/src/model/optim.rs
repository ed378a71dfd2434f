//! Optimisers (full-batch gradient descent, SGD with momentum, Adam), decoupled weight decay
//! (AdamW's, Loshchilov & Hutter 2019) and learning-rate schedules. The state is plain
//! tensors so that checkpoints can store and restore it.

use std::str::FromStr;

use crate::error::{Error, Expected, Result};
use crate::linalg::{par_zip4, Real};

/// Which optimiser updates the parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerKind {
    /// Full-batch gradient descent: one step per epoch on the whole training set.
    Gd,
    /// Minibatch SGD with (heavy-ball) momentum.
    Sgd { momentum: f64 },
    /// Adam (Kingma & Ba) on minibatches.
    Adam { beta1: f64, beta2: f64, eps: f64 },
}

/// sgd's momentum when none is given (the CLI's and the Python package's default).
pub const DEFAULT_MOMENTUM: f64 = 0.9;

impl OptimizerKind {
    /// Parses `gd`, `sgd` or `adam`, with the momentum for SGD.
    pub fn parse(name: &str, momentum: f64) -> Result<Self> {
        match name {
            "gd" => Ok(Self::Gd),
            "sgd" => {
                let kind = Self::Sgd { momentum };
                super::config::check_optimizer(kind)?;
                Ok(kind)
            }
            "adam" => Ok(Self::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            }),
            _ => Err(Error::setting(
                "optimizer",
                name,
                Expected::OneOf("gd, sgd or adam"),
            )),
        }
    }

    /// Number of state buffers kept per parameter tensor.
    pub fn buffers_per_tensor(&self) -> usize {
        match self {
            Self::Gd => 0,
            Self::Sgd { momentum } if *momentum == 0.0 => 0,
            Self::Sgd { .. } => 1,
            Self::Adam { .. } => 2,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Gd => "gd",
            Self::Sgd { .. } => "sgd",
            Self::Adam { .. } => "adam",
        }
    }
}

/// How the learning rate changes over training.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum LrSchedule {
    Constant,
    /// lr * (1 + cos(pi * step / total_steps)) / 2, step by step.
    Cosine,
    /// lr * factor^(floor(epoch / every)).
    Step {
        every: usize,
        factor: f64,
    },
}

impl FromStr for LrSchedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::setting(
                "lr_schedule",
                s,
                Expected::OneOf("constant, cosine or step:EVERY_EPOCHS:FACTOR (e.g. step:10:0.5)"),
            )
        };
        match s {
            "constant" => Ok(Self::Constant),
            "cosine" => Ok(Self::Cosine),
            _ => {
                let rest = s.strip_prefix("step:").ok_or_else(bad)?;
                let (every, factor) = rest.split_once(':').ok_or_else(bad)?;
                let every: usize = every.parse().map_err(|_| bad())?;
                let factor: f64 = factor.parse().map_err(|_| bad())?;
                if every == 0 || !(factor > 0.0 && factor.is_finite()) {
                    return Err(bad());
                }
                Ok(Self::Step { every, factor })
            }
        }
    }
}

impl LrSchedule {
    /// The learning rate at `step` (0-based, of `total_steps`) in `epoch` (0-based). Only
    /// a validated [`super::TrainConfig`]'s schedule reaches it (a step period of at least 1).
    pub(crate) fn lr(&self, base: f64, epoch: usize, step: usize, total_steps: usize) -> f64 {
        match *self {
            Self::Constant => base,
            Self::Cosine => {
                let p = step as f64 / total_steps.max(1) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
            Self::Step { every, factor } => base * factor.powi((epoch / every) as i32),
        }
    }

    /// The largest learning rate over `epochs` epochs (a step schedule's factor may exceed 1).
    pub(crate) fn max_lr(&self, base: f64, epochs: usize) -> f64 {
        match *self {
            Self::Constant | Self::Cosine => base,
            Self::Step { every, factor } => {
                base * factor
                    .max(1.0)
                    .powi((epochs.saturating_sub(1) / every.max(1)) as i32)
            }
        }
    }
}

/// Optimiser state: the step count and per-tensor buffers (SGD velocity; Adam moments).
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T> {
    pub kind: OptimizerKind,
    /// Updates taken so far.
    pub steps: u64,
    /// `buffers_per_tensor` buffers for each parameter tensor, tensor-major.
    pub buffers: Vec<Vec<T>>,
}

impl<T: Real> OptimizerState<T> {
    /// Fresh state for tensors of the given lengths.
    pub fn new(kind: OptimizerKind, tensor_lengths: &[usize]) -> Self {
        let per = kind.buffers_per_tensor();
        let buffers = tensor_lengths
            .iter()
            .flat_map(|&len| (0..per).map(move |_| vec![T::from_f64(0.0); len]))
            .collect();
        Self {
            kind,
            steps: 0,
            buffers,
        }
    }

    /// Counts one optimisation step (call once before updating the tensors of that step).
    pub fn begin_step(&mut self) {
        self.steps += 1;
    }

    /// The element-wise rule of the current step (call after [`Self::begin_step`]), without
    /// weight decay (see [`UpdateRule::decaying`]).
    pub fn rule(&self, lr: f64) -> UpdateRule<T> {
        let step_rule = match self.kind {
            OptimizerKind::Gd | OptimizerKind::Sgd { momentum: 0.0 } => StepRule::Plain {
                lr: T::from_f64(lr),
            },
            OptimizerKind::Sgd { momentum } => StepRule::Momentum {
                lr: T::from_f64(lr),
                mu: T::from_f64(momentum),
            },
            OptimizerKind::Adam { beta1, beta2, eps } => {
                let t = self.steps.max(1) as i32;
                let step = lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
                StepRule::Adam {
                    b1: T::from_f64(beta1),
                    b2: T::from_f64(beta2),
                    c1: T::from_f64(1.0 - beta1),
                    c2: T::from_f64(1.0 - beta2),
                    step: T::from_f64(step),
                    eps: T::from_f64(eps),
                }
            }
        };
        UpdateRule {
            step: step_rule,
            keep: T::from_f64(1.0),
        }
    }

    /// The state buffers of parameter tensor number `tensor` (SGD velocity; Adam's first and
    /// second moments), empty where the optimiser keeps none.
    pub fn buffers_mut(&mut self, tensor: usize) -> (&mut [T], &mut [T]) {
        let per = self.kind.buffers_per_tensor();
        let mine = &mut self.buffers[per * tensor..per * (tensor + 1)];
        match mine {
            [] => (&mut [], &mut []),
            [a] => (a, &mut []),
            [a, b, ..] => (a, b),
        }
    }

    /// Updates parameter tensor number `tensor` with its gradient by `rule` (element-wise,
    /// vectorised, split over threads for large tensors).
    pub fn update(&mut self, tensor: usize, params: &mut [T], grad: &[T], rule: UpdateRule<T>) {
        let (first, second) = self.buffers_mut(tensor);
        par_zip4(params, grad, first, second, |p, g, a, b| {
            rule.apply(p, g, a, b)
        });
    }
}

/// One step's element-wise update, applicable to any part of a tensor (with the matching
/// parts of its state buffers), so that it can run chunk by chunk right after the gradient:
/// p <- keep p - (the optimiser's step), where keep = 1 - lr_t weight_decay is decoupled
/// weight decay (AdamW), apart from the gradient and the optimiser's moments.
#[derive(Clone, Copy, Debug)]
pub struct UpdateRule<T> {
    step: StepRule<T>,
    keep: T,
}

/// The optimiser's part of an [`UpdateRule`].
#[derive(Clone, Copy, Debug)]
enum StepRule<T> {
    /// p -= lr g
    Plain { lr: T },
    /// u = mu u + g; p -= lr u
    Momentum { lr: T, mu: T },
    /// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= step m / (sqrt(v) + eps), with the
    /// bias corrections folded into `step`.
    Adam {
        b1: T,
        b2: T,
        c1: T,
        c2: T,
        step: T,
        eps: T,
    },
}

impl<T: Real> UpdateRule<T> {
    /// The same rule with decoupled weight decay: the parameters shrink by the factor
    /// `1 - lr * weight_decay` (in (0, 1], as validated by the configuration) before the
    /// optimiser's step, as PyTorch's AdamW does.
    pub fn decaying(self, lr: f64, weight_decay: f64) -> Self {
        Self {
            keep: T::from_f64(1.0 - lr * weight_decay),
            ..self
        }
    }

    /// Applies the rule to `params` with `grad` and the state buffers `first`, `second` (of
    /// the same length where the rule uses them), in one pass compiled for the processor's
    /// vector unit.
    pub fn apply(&self, params: &mut [T], grad: &[T], first: &mut [T], second: &mut [T]) {
        struct Apply<'a, T> {
            rule: &'a UpdateRule<T>,
            params: &'a mut [T],
            grad: &'a [T],
            first: &'a mut [T],
            second: &'a mut [T],
        }
        impl<T: Real> pulp::WithSimd for Apply<'_, T> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) {
                self.rule
                    .apply_scalar(self.params, self.grad, self.first, self.second)
            }
        }
        pulp::Arch::new().dispatch(Apply {
            rule: self,
            params,
            grad,
            first,
            second,
        });
    }

    #[inline(always)]
    fn apply_scalar(&self, params: &mut [T], grad: &[T], first: &mut [T], second: &mut [T]) {
        // keep = 1 leaves p bit-identical to a step without decay (1 * p == p).
        let keep = self.keep;
        match self.step {
            StepRule::Plain { lr } => {
                for (p, g) in params.iter_mut().zip(grad) {
                    *p = keep * *p - lr * *g;
                }
            }
            StepRule::Momentum { lr, mu } => {
                for ((p, g), u) in params.iter_mut().zip(grad).zip(first.iter_mut()) {
                    *u = mu * *u + *g;
                    *p = keep * *p - lr * *u;
                }
            }
            StepRule::Adam {
                b1,
                b2,
                c1,
                c2,
                step,
                eps,
            } => {
                for (((p, g), m), v) in params
                    .iter_mut()
                    .zip(grad)
                    .zip(first.iter_mut())
                    .zip(second.iter_mut())
                {
                    *m = b1 * *m + c1 * *g;
                    *v = b2 * *v + c2 * *g * *g;
                    *p = keep * *p - step * *m / (v.sqrt() + eps);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_first_step_moves_by_lr_in_the_sign_of_the_gradient() {
        let mut s = OptimizerState::<f64>::new(OptimizerKind::parse("adam", 0.0).unwrap(), &[2]);
        let mut p = vec![1.0, 1.0];
        s.begin_step();
        let rule = s.rule(0.1);
        s.update(0, &mut p, &[3.0, -0.5], rule);
        assert!(
            (p[0] - 0.9).abs() < 1e-6 && (p[1] - 1.1).abs() < 1e-6,
            "{p:?}"
        );
    }

    #[test]
    fn sgd_momentum_matches_the_recurrence() {
        let mut s = OptimizerState::<f64>::new(OptimizerKind::Sgd { momentum: 0.5 }, &[1]);
        let mut p = vec![0.0];
        for _ in 0..3 {
            s.begin_step();
            let rule = s.rule(1.0);
            s.update(0, &mut p, &[1.0], rule);
        }
        // velocities 1, 1.5, 1.75
        assert_eq!(p[0], -4.25);
    }

    #[test]
    fn minimises_a_quadratic() {
        for kind in [
            OptimizerKind::Gd,
            OptimizerKind::Sgd { momentum: 0.9 },
            OptimizerKind::parse("adam", 0.0).unwrap(),
        ] {
            let mut s = OptimizerState::<f64>::new(kind, &[1]);
            let mut p = vec![5.0];
            for _ in 0..2000 {
                let g = [2.0 * (p[0] - 1.0)];
                s.begin_step();
                let rule = s.rule(0.01);
                s.update(0, &mut p, &g, rule);
            }
            assert!((p[0] - 1.0).abs() < 1e-3, "{kind:?}: {}", p[0]);
        }
    }

    #[test]
    fn decoupled_decay_alone_shrinks_geometrically() {
        // No gradient: Adam's moments stay 0, so only the decay moves p: p_t = (1 - lr wd)^t p_0.
        let mut s = OptimizerState::<f64>::new(OptimizerKind::parse("adam", 0.0).unwrap(), &[1]);
        let mut p = vec![2.0];
        for _ in 0..10 {
            s.begin_step();
            let rule = s.rule(0.1).decaying(0.1, 0.5);
            s.update(0, &mut p, &[0.0], rule);
        }
        assert!((p[0] - 2.0 * 0.95f64.powi(10)).abs() < 1e-14, "{}", p[0]);
    }

    #[test]
    fn decoupled_decay_settles_where_decay_balances_the_gradient() {
        // SGD on (p - 1)^2 with decay wd: the fixed point of p <- p - lr (wd p + 2 (p - 1))
        // is p* = 2 / (2 + wd).
        let wd = 0.5;
        let mut s = OptimizerState::<f64>::new(OptimizerKind::Gd, &[1]);
        let mut p = vec![5.0];
        for _ in 0..5000 {
            let g = [2.0 * (p[0] - 1.0)];
            s.begin_step();
            let rule = s.rule(0.01).decaying(0.01, wd);
            s.update(0, &mut p, &g, rule);
        }
        assert!((p[0] - 2.0 / (2.0 + wd)).abs() < 1e-9, "{}", p[0]);
    }

    #[test]
    fn adamw_decay_does_not_scale_with_the_gradient() {
        // Adam's step is invariant to the gradient's scale (up to eps); decoupled decay keeps
        // it so, whereas L2 added to the gradient (coupled) would weigh 1000x less against a
        // gradient 1000x larger.
        let run = |scale: f64, wd: f64| {
            let mut s =
                OptimizerState::<f64>::new(OptimizerKind::parse("adam", 0.0).unwrap(), &[1]);
            let mut p = vec![3.0];
            for _ in 0..300 {
                let g = [scale * 2.0 * (p[0] - 1.0)];
                s.begin_step();
                let rule = s.rule(0.01).decaying(0.01, wd);
                s.update(0, &mut p, &g, rule);
            }
            p[0]
        };
        let (small, large, plain) = (run(1.0, 2.0), run(1000.0, 2.0), run(1.0, 0.0));
        assert!((small - large).abs() < 1e-6, "{small} vs {large}");
        assert!((small - plain).abs() > 1e-2, "{small} vs {plain}");
    }

    #[test]
    fn max_lr_over_a_schedule() {
        let s = LrSchedule::Step {
            every: 2,
            factor: 2.0,
        };
        assert_eq!(s.max_lr(1.0, 5), 4.0); // epochs 0..5: factors 1, 1, 2, 2, 4
        let down = LrSchedule::Step {
            every: 1,
            factor: 0.5,
        };
        assert_eq!(down.max_lr(1.0, 5), 1.0);
        assert_eq!(LrSchedule::Cosine.max_lr(0.3, 9), 0.3);
    }

    #[test]
    fn schedules() {
        let c: LrSchedule = "cosine".parse().unwrap();
        assert_eq!(c.lr(1.0, 0, 0, 10), 1.0);
        assert!((c.lr(1.0, 0, 5, 10) - 0.5).abs() < 1e-12);
        let s: LrSchedule = "step:2:0.5".parse().unwrap();
        assert_eq!(s.lr(1.0, 5, 0, 0), 0.25);
        assert!("step:0:0.5".parse::<LrSchedule>().is_err());
        assert!("warm".parse::<LrSchedule>().is_err());
    }
}
