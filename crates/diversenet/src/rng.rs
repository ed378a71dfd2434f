//! Seeded randomness: a ChaCha20 stream (stable across crate versions and platforms)
//! with the few draws the crate needs, and a position that can be saved and restored so
//! that a resumed run continues the exact same stream.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Independent streams drawn from one user seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Synthetic data generation (teacher, inputs, noise).
    Data = 1,
    /// Train/test split of user data.
    Split = 2,
    /// Initial weights.
    Init = 3,
    /// Minibatch order.
    Batches = 4,
    /// Sub-sampling for diagnostics.
    Sample = 5,
    /// Partner units of the sampled regulariser (one window per optimisation step).
    Regularizer = 6,
    /// Random tangential directions of a regulariser's null control (one window per step).
    NullControl = 7,
}

/// A seeded random stream.
#[derive(Clone, Debug)]
pub struct SeededRng {
    inner: ChaCha20Rng,
}

impl SeededRng {
    /// The stream `stream` of seed `seed`.
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut inner = ChaCha20Rng::seed_from_u64(seed);
        inner.set_stream(stream as u64);
        Self { inner }
    }

    /// Position in the stream, in 32-bit words (save it to resume).
    pub fn position(&self) -> u128 {
        self.inner.get_word_pos()
    }

    /// Moves to a position returned by [`SeededRng::position`].
    pub fn set_position(&mut self, position: u128) {
        self.inner.set_word_pos(position);
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box-Muller (one value per two uniforms; no cached state).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform integer in `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// A point uniform on the unit sphere S^{d-1}.
    pub fn unit_vector(&mut self, d: usize) -> Vec<f64> {
        loop {
            let v: Vec<f64> = (0..d).map(|_| self.normal()).collect();
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if n > 1e-300 {
                return v.into_iter().map(|x| x / n).collect();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let a: Vec<u64> = {
            let mut r = SeededRng::new(7, Stream::Init);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let mut r = SeededRng::new(7, Stream::Init);
        assert_eq!(a, (0..4).map(|_| r.next_u64()).collect::<Vec<_>>());
        let mut other = SeededRng::new(7, Stream::Batches);
        assert_ne!(a[0], other.next_u64());
    }

    #[test]
    fn position_restores_the_stream() {
        let mut r = SeededRng::new(3, Stream::Batches);
        r.normal();
        let pos = r.position();
        let expect: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        let mut s = SeededRng::new(3, Stream::Batches);
        s.set_position(pos);
        assert_eq!(expect, (0..5).map(|_| s.next_u64()).collect::<Vec<_>>());
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = SeededRng::new(1, Stream::Data);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard errors: 1/sqrt(n) = 0.0022 for the mean, sqrt(2/n) = 0.0032 for the variance.
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.015, "var {var}");
    }

    #[test]
    fn below_is_uniform() {
        let mut r = SeededRng::new(5, Stream::Split);
        let mut counts = [0usize; 6];
        for _ in 0..60_000 {
            counts[r.below(6)] += 1;
        }
        // Expected 10000 each, sd about 91.
        assert!(
            counts.iter().all(|&c| (c as i64 - 10_000).abs() < 500),
            "{counts:?}"
        );
    }
}
