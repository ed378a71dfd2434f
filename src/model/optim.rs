//! Optimisers (full-batch gradient descent, SGD with momentum, Adam) and learning-rate
//! schedules. The state is plain tensors so that checkpoints can store and restore it.

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::linalg::{par_zip4, Real};

/// Which optimiser updates the parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Full-batch gradient descent: one step per epoch on the whole training set.
    Gd,
    /// Minibatch SGD with (heavy-ball) momentum.
    Sgd { momentum: f64 },
    /// Adam (Kingma & Ba) on minibatches.
    Adam { beta1: f64, beta2: f64, eps: f64 },
}

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
            _ => Err(Error::config(
                "optimizer",
                format!("`{name}`: expected gd, sgd or adam"),
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
#[serde(tag = "name", rename_all = "lowercase")]
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
            Error::config(
                "lr-schedule",
                format!("`{s}`: expected constant, cosine or step:EVERY_EPOCHS:FACTOR (e.g. step:10:0.5)"),
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

    /// Updates parameter tensor number `tensor` with its gradient (element-wise,
    /// vectorised, split over threads for large tensors).
    pub fn update(&mut self, tensor: usize, params: &mut [T], grad: &[T], lr: f64) {
        match self.kind {
            OptimizerKind::Gd | OptimizerKind::Sgd { momentum: 0.0 } => {
                let lr = T::from_f64(lr);
                par_zip4(params, grad, &mut [], &mut [], |p, g, _, _| {
                    for (p, g) in p.iter_mut().zip(g) {
                        *p -= lr * *g;
                    }
                });
            }
            OptimizerKind::Sgd { momentum } => {
                let (lr, mu) = (T::from_f64(lr), T::from_f64(momentum));
                let vel = &mut self.buffers[tensor];
                par_zip4(params, grad, vel, &mut [], |p, g, vel, _| {
                    for ((p, g), v) in p.iter_mut().zip(g).zip(vel.iter_mut()) {
                        *v = mu * *v + *g;
                        *p -= lr * *v;
                    }
                });
            }
            OptimizerKind::Adam { beta1, beta2, eps } => {
                let t = self.steps.max(1) as i32;
                let step = lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
                let (b1, b2) = (T::from_f64(beta1), T::from_f64(beta2));
                let (c1, c2) = (T::from_f64(1.0 - beta1), T::from_f64(1.0 - beta2));
                let (step, eps) = (T::from_f64(step), T::from_f64(eps));
                let (first, second) = self.buffers.split_at_mut(2 * tensor + 1);
                par_zip4(
                    params,
                    grad,
                    &mut first[2 * tensor],
                    &mut second[0],
                    |p, g, m, v| {
                        for (((p, g), m), v) in
                            p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut())
                        {
                            *m = b1 * *m + c1 * *g;
                            *v = b2 * *v + c2 * *g * *g;
                            *p -= step * *m / (v.sqrt() + eps);
                        }
                    },
                );
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
        s.update(0, &mut p, &[3.0, -0.5], 0.1);
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
            s.update(0, &mut p, &[1.0], 1.0);
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
                s.update(0, &mut p, &g, 0.01);
            }
            assert!((p[0] - 1.0).abs() < 1e-3, "{kind:?}: {}", p[0]);
        }
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
