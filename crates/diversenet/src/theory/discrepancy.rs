//! Geometric discrepancy of the hidden units' directions u_k = w_k / ||w_k||
//! (PAPER.md section 4): the L2 slice discrepancy in closed form,
//! L2(W)^2 = (1/n^2) sum_{k,l} ((pi - theta_kl)/(2 pi))^2 - c_d, its Monte Carlo estimate,
//! the constant c_d for any d, and the hemisphere and wedge discrepancies.

use std::f64::consts::PI;

use crate::error::{Error, Result};
use crate::geometry::{
    angle_second_moment, l2_slice_discrepancy_from_angles, slice_volume_of_cosine,
};
pub use crate::geometry::{
    pairwise_angles, slice_constant, slice_volume, unit_directions, UnitDirections,
};
use crate::linalg::{gemm, Cancel, Matrix, Op};
use crate::rng::{SeededRng, Stream};

/// Sum of f(theta_kl) over all ordered pairs (k, l), k = l included, divided by n^2.
fn pair_mean(angles: &Matrix<f64>, f: impl Fn(f64) -> f64) -> f64 {
    let n = angles.rows() as f64;
    angles.as_slice().iter().map(|&t| f(t)).sum::<f64>() / (n * n)
}

/// The three discrepancies of a set of unit directions.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Discrepancies {
    /// L2(W)^2 with respect to slices S(x, y) = {u : u.x >= 0, u.y >= 0}.
    pub l2_slice_sq: f64,
    /// The constant c_d subtracted in the closed form.
    pub c_d: f64,
    /// With respect to hemispheres: 1/4 - (1/(2 pi n^2)) sum theta_kl.
    pub hemisphere_sq: f64,
    /// With respect to wedges {u : sign(u.x) != sign(u.y)}.
    pub wedge_sq: f64,
    /// Units that entered (rows of W with a direction).
    pub units: usize,
}

/// Closed-form discrepancies of the rows of `w` (zero rows skipped: see [`unit_directions`]).
pub fn discrepancies(w: &Matrix<f64>) -> Result<Discrepancies> {
    let dirs = unit_directions(w);
    if dirs.u.rows() == 0 {
        return Err(Error::config(
            "weights",
            "every row of W is zero or non-finite: the units have no direction",
        ));
    }
    let d = w.cols();
    let second = angle_second_moment(d)?;
    let c_d = second / (4.0 * PI * PI);
    let angles = pairwise_angles(&dirs.u);
    let hemisphere = 0.25 - pair_mean(&angles, |t| t) / (2.0 * PI);
    let wedge = pair_mean(&angles, |t| (0.5 - t / PI).powi(2)) - (second / (PI * PI) - 0.25);
    Ok(Discrepancies {
        l2_slice_sq: l2_slice_discrepancy_from_angles(&angles, c_d),
        c_d,
        hemisphere_sq: hemisphere,
        wedge_sq: wedge,
        units: dirs.u.rows(),
    })
}

/// A Monte Carlo estimate with its standard error.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MonteCarloEstimate {
    pub estimate: f64,
    pub std_error: f64,
    pub samples: usize,
}

/// Monte Carlo estimate of L2(W)^2: the mean over `samples` uniform pairs (x, y) of
/// ((1/n) #{k : u_k in S(x, y)} - (pi - theta_xy)/(2 pi))^2, from the seeded stream.
/// `cancel` is asked after every chunk of samples; it stops the estimate with
/// [`Error::Interrupted`] (the samples done).
pub fn monte_carlo_l2_slice_sq(
    w: &Matrix<f64>,
    samples: usize,
    seed: u64,
    cancel: Cancel<'_>,
) -> Result<MonteCarloEstimate> {
    let dirs = unit_directions(w);
    let (n, d) = (dirs.u.rows(), w.cols());
    if n == 0 || samples < 2 {
        return Err(Error::config(
            "monte_carlo",
            "needs at least one unit with a direction and 2 samples",
        ));
    }
    let mut rng = SeededRng::new(seed, Stream::Sample);
    let chunk = crate::limits::MONTE_CARLO_CHUNK;
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    let mut done = 0;
    while done < samples {
        let s = chunk.min(samples - done);
        let xs = Matrix::from_vec(s, d, (0..s).flat_map(|_| rng.unit_vector(d)).collect());
        let ys = Matrix::from_vec(s, d, (0..s).flat_map(|_| rng.unit_vector(d)).collect());
        let mut px = Matrix::zeros(n, s);
        let mut py = Matrix::zeros(n, s);
        gemm(&mut px, false, dirs.u.view(), Op::N, xs.view(), Op::T, 1.0);
        gemm(&mut py, false, dirs.u.view(), Op::N, ys.view(), Op::T, 1.0);
        let mut inside = vec![0usize; s];
        for k in 0..n {
            for ((c, a), b) in inside.iter_mut().zip(px.row(k)).zip(py.row(k)) {
                if *a >= 0.0 && *b >= 0.0 {
                    *c += 1;
                }
            }
        }
        for (j, &c) in inside.iter().enumerate() {
            let cos: f64 = xs.row(j).iter().zip(ys.row(j)).map(|(a, b)| a * b).sum();
            let volume = slice_volume_of_cosine(cos);
            let e = (c as f64 / n as f64 - volume).powi(2);
            sum += e;
            sum_sq += e * e;
        }
        done += s;
        if done < samples && cancel.requested() {
            return Err(Error::Interrupted { steps: done as u64 });
        }
    }
    let mean = sum / samples as f64;
    let var =
        (sum_sq / samples as f64 - mean * mean).max(0.0) * samples as f64 / (samples - 1) as f64;
    Ok(MonteCarloEstimate {
        estimate: mean,
        std_error: (var / samples as f64).sqrt(),
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn random_w(n: usize, d: usize, seed: u64) -> Matrix<f64> {
        let mut rng = SeededRng::new(seed, Stream::Init);
        Matrix::from_vec(n, d, (0..n * d).map(|_| rng.normal()).collect())
    }

    /// The estimate stops after the chunk in which the caller asks it to (Python's Ctrl-C),
    /// and runs to the end, with the uninterrupted result, while it does not.
    #[test]
    fn monte_carlo_stops_when_the_caller_interrupts() {
        let w = random_w(8, 3, 2);
        let calls = Cell::new(0);
        let stop_at_second = || {
            calls.set(calls.get() + 1);
            calls.get() == 2
        };
        match monte_carlo_l2_slice_sq(&w, 10_000, 4, Cancel::when(&stop_at_second)) {
            Err(Error::Interrupted { steps }) => assert_eq!(steps, 4096),
            other => panic!("expected an interruption, got {other:?}"),
        }
        let chunks = Cell::new(0);
        let count = || {
            chunks.set(chunks.get() + 1);
            false
        };
        let counted = monte_carlo_l2_slice_sq(&w, 10_000, 4, Cancel::when(&count)).unwrap();
        assert_eq!(chunks.get(), 4); // asked between the five chunks of 2048
        assert_eq!(
            counted,
            monte_carlo_l2_slice_sq(&w, 10_000, 4, Cancel::NEVER).unwrap()
        );
    }

    #[test]
    fn huge_and_tiny_rows_keep_their_directions() {
        // The discrepancies and the discrepancy regulariser depend on directions only:
        // R(c W) = R(W), dR/dW(c W) = dR/dW(W) / c. Before, ||w_k||^2 overflowed at
        // c = 1e160 and underflowed at c = 1e-170: every row was dropped (R = 0, grad 0).
        use crate::regularizer::{value_and_gradient, RegularizerKind};
        let w = random_w(20, 5, 11);
        let reference = discrepancies(&w).unwrap();
        let kind = RegularizerKind::Discrepancy;
        let mut g = Matrix::zeros(20, 5);
        let r = value_and_gradient(kind, &w, Some((&mut g, 1.0)));
        for c in [1e160, 1e-170, 1e300, 1e-300] {
            let wc = w.map(|v| v * c);
            let got = discrepancies(&wc).unwrap();
            assert_eq!(got.units, 20);
            assert!(
                (got.l2_slice_sq - reference.l2_slice_sq).abs() < 1e-14,
                "c = {c}"
            );
            let mut gc = Matrix::zeros(20, 5);
            let rc = value_and_gradient(kind, &wc, Some((&mut gc, 1.0)));
            assert!((rc - r).abs() < 1e-14 * r, "c = {c}: {rc} vs {r}");
            for (a, b) in gc.as_slice().iter().zip(g.as_slice()) {
                assert!((a * c - b).abs() < 1e-10 * b.abs().max(1e-3), "c = {c}");
            }
        }
        // A row at the top of f64's range: its direction, not zero (1/sqrt(2) each).
        let big = crate::geometry::unit_directions(&Matrix::from_vec(1, 2, vec![1e308, 1e308]));
        assert_eq!(big.kept, vec![0]);
        for v in big.u.as_slice() {
            assert!((v - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
        }
    }

    #[test]
    fn the_per_epoch_l2_discrepancy_is_the_closed_form_of_every_precision() {
        use crate::geometry::l2_slice_discrepancy_sq;
        let w = random_w(30, 7, 3);
        let closed = discrepancies(&w).unwrap().l2_slice_sq;
        assert_eq!(l2_slice_discrepancy_sq(&w), Some(closed));
        let w32 = w.map(|&v| v as f32);
        let from_f32 = l2_slice_discrepancy_sq(&w32).unwrap();
        assert!(
            (from_f32 - closed).abs() < 1e-6 * closed.abs().max(1e-3),
            "{from_f32} vs {closed}"
        );
        // Undefined: no unit with a direction, or d = 1.
        assert_eq!(l2_slice_discrepancy_sq(&Matrix::<f64>::zeros(4, 3)), None);
        assert_eq!(
            l2_slice_discrepancy_sq(&Matrix::from_vec(2, 1, vec![1.0, -1.0])),
            None
        );
    }

    #[test]
    fn closed_form_agrees_with_monte_carlo() {
        for (n, d) in [(4, 3), (20, 5), (50, 10)] {
            let w = random_w(n, d, n as u64);
            let closed = discrepancies(&w).unwrap().l2_slice_sq;
            let mc = monte_carlo_l2_slice_sq(&w, 200_000, 1, Cancel::NEVER).unwrap();
            assert!(
                (closed - mc.estimate).abs() < 4.0 * mc.std_error,
                "n={n} d={d}: {closed} vs {mc:?}"
            );
        }
    }

    #[test]
    fn identical_units_are_maximally_discrepant_and_spread_units_less() {
        let d = 3;
        let same = Matrix::from_vec(4, d, [1.0, 0.0, 0.0].repeat(4));
        let spread = Matrix::from_vec(
            6,
            d,
            vec![
                1., 0., 0., -1., 0., 0., 0., 1., 0., 0., -1., 0., 0., 0., 1., 0., 0., -1.,
            ],
        );
        let a = discrepancies(&same).unwrap();
        let b = discrepancies(&spread).unwrap();
        // All units equal: (1/4) - c_d; the hemisphere discrepancy is 1/4.
        assert!((a.l2_slice_sq - (0.25 - a.c_d)).abs() < 1e-12);
        assert!((a.hemisphere_sq - 0.25).abs() < 1e-12);
        assert!(b.l2_slice_sq < a.l2_slice_sq && b.hemisphere_sq.abs() < 1e-12);
        assert!(b.l2_slice_sq >= 0.0 && b.wedge_sq >= -1e-12);
    }

    #[test]
    fn zero_rows_are_skipped_and_reported() {
        let w = Matrix::from_vec(3, 2, vec![1.0, 0.0, 0.0, 0.0, 0.0, 2.0]);
        let dirs = unit_directions(&w);
        assert_eq!(dirs.skipped_rows, vec![1]);
        assert_eq!(discrepancies(&w).unwrap().units, 2);
        assert!(discrepancies(&Matrix::zeros(2, 3)).is_err());
    }
}
