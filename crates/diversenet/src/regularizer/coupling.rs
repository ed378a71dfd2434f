//! How a regulariser term's gradient enters training ([`Coupling`]): through the optimiser
//! (the objective L + lambda R, the default), outside it like AdamW's decoupled decay, or as
//! a null control that keeps the term's per-unit step size and throws away its direction.
//! The default is what every configuration written before the other modes existed meant,
//! and it is not written into stored configurations, so they stay byte-identical.

use crate::linalg::{Matrix, Real};
use crate::rng::{SeededRng, Stream};

/// Where a regulariser term's gradient lambda dR/dW acts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coupling {
    /// Added to the data gradient before the optimiser, which rescales it (Adam's
    /// per-coordinate normalisation, SGD's momentum): the objective L(W) + lambda R(W).
    #[default]
    Coupled,
    /// Applied outside the optimiser after its step, like AdamW's decoupled weight decay:
    /// W <- W - lr_t lambda dR/dW (the gradient taken at the W the step started from), never
    /// entering the moments.
    Decoupled,
    /// A null control, coupled like [`Coupling::Coupled`]: each unit's lambda dR/dw_k is
    /// replaced by a random direction orthogonal to w_k with the same norm (fresh every
    /// step, seeded), so that an effect of the regulariser can be told apart from an effect
    /// of perturbing the units' directions by the same amount.
    NullControl,
}

impl Coupling {
    /// The default (what serde leaves out).
    pub fn is_coupled(&self) -> bool {
        *self == Self::Coupled
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Coupled => "coupled",
            Self::Decoupled => "decoupled",
            Self::NullControl => "null-control",
        }
    }
}

impl std::fmt::Display for Coupling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The null control's random stream at optimisation step `step` of a run with seed `seed`
/// (its own window of 2^32 words of [`Stream::NullControl`]).
pub(crate) fn null_control_rng(seed: u64, step: u64) -> SeededRng {
    let mut rng = SeededRng::new(seed, Stream::NullControl);
    rng.set_position(u128::from(step) << 32);
    rng
}

/// SplitMix64 (Steele, Lea & Flood 2014): a fast generator for the n d normal values the
/// null control draws at every step, seeded from the step's ChaCha20 stream (ChaCha20
/// itself would cost more than the training step at width 50).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in (-1, 1) with 53 random bits.
    fn symmetric(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0
    }
}

/// Fills `out` with independent standard normal values: Marsaglia's polar method, both
/// values of each accepted pair used.
fn fill_normal(rng: &mut SplitMix64, out: &mut [f64]) {
    for pair in out.chunks_mut(2) {
        let (x, y, s) = loop {
            let (x, y) = (rng.symmetric(), rng.symmetric());
            let s = x * x + y * y;
            if s > 0.0 && s < 1.0 {
                break (x, y, s);
            }
        };
        let f = (-2.0 * s.ln() / s).sqrt();
        pair[0] = x * f;
        if let Some(second) = pair.get_mut(1) {
            *second = y * f;
        }
    }
}

/// Replaces each row g_k of `grad` by a uniformly random direction orthogonal to the row
/// w_k of `w` (an isotropic Gaussian vector with its component along w_k removed), scaled
/// to ||g_k|| (a zero row of `grad` stays zero; a zero row of `w` has no tangent space, so
/// its direction is any).
pub fn randomize_tangential<T: Real>(w: &Matrix<T>, grad: &mut Matrix<T>, rng: &mut SeededRng) {
    let d = w.cols();
    let mut t = vec![0.0; d];
    let mut fast = SplitMix64(rng.next_u64());
    for k in 0..w.rows() {
        let norm = crate::linalg::norm(grad.row(k));
        fill_normal(&mut fast, &mut t);
        if norm == 0.0 {
            continue;
        }
        let row = w.row(k);
        let row_sq: f64 = row.iter().map(|v| v.to_f64() * v.to_f64()).sum();
        if row_sq > 0.0 {
            let along = t.iter().zip(row).map(|(a, b)| a * b.to_f64()).sum::<f64>() / row_sq;
            t.iter_mut()
                .zip(row)
                .for_each(|(a, b)| *a -= along * b.to_f64());
        }
        let t_norm = t.iter().map(|v| v * v).sum::<f64>().sqrt();
        if t_norm == 0.0 {
            continue;
        }
        for (g, v) in grad.row_mut(k).iter_mut().zip(&t) {
            *g = T::from_f64(v * norm / t_norm);
        }
    }
}

/// W <- W - lr `grad` (a decoupled term's step).
pub(crate) fn apply_decoupled<T: Real>(w: &mut Matrix<T>, grad: &Matrix<T>, lr: f64) {
    let lr = T::from_f64(lr);
    for (w, g) in w.as_mut_slice().iter_mut().zip(grad.as_slice()) {
        *w -= lr * *g;
    }
}

#[cfg(test)]
#[path = "coupling_tests.rs"]
mod tests;
