//! The network f(x) = V relu(W x) of PAPER.md section 1: W is n x d (one row w_k per hidden
//! unit), V is c x n; no biases. In the theory's setting V is fixed to +1/-1 and c = 1.

use std::str::FromStr;

use crate::error::{Error, Expected};
use crate::linalg::{gemm, Matrix, MatrixView, Op, Real};
use crate::rng::SeededRng;

/// Whether the output layer V is trained or fixed to signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputLayer {
    /// v_k = +1 for even k, -1 for odd k (half of each; the theory's setting). With c > 1
    /// outputs, V holds seeded random signs.
    Fixed,
    /// V is a parameter, initialised N(0, 1/n).
    Trained,
}

impl FromStr for OutputLayer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "fixed" => Ok(Self::Fixed),
            "trained" => Ok(Self::Trained),
            _ => Err(Error::setting(
                "output_layer",
                s,
                Expected::OneOf("fixed or trained"),
            )),
        }
    }
}

impl std::fmt::Display for OutputLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fixed => "fixed",
            Self::Trained => "trained",
        })
    }
}

/// A one-hidden-layer ReLU network without biases.
#[derive(Clone, Debug, PartialEq)]
pub struct Network<T> {
    /// First layer W, n x d: row k is the hidden unit w_k.
    pub w: Matrix<T>,
    /// Output layer V, c x n.
    pub v: Matrix<T>,
    pub output_layer: OutputLayer,
}

impl<T: Real> Network<T> {
    /// Random initialisation: W entries N(0, init_scale^2) (so that w_k . x has variance
    /// init_scale^2 ||x||^2), V as [`OutputLayer`] says.
    pub fn init(
        dim: usize,
        width: usize,
        outputs: usize,
        output_layer: OutputLayer,
        init_scale: f64,
        rng: &mut SeededRng,
    ) -> Self {
        let w = (0..width * dim)
            .map(|_| T::from_f64(init_scale * rng.normal()))
            .collect();
        let v = match (output_layer, outputs) {
            (OutputLayer::Fixed, 1) => (0..width)
                .map(|k| T::from_f64(if k % 2 == 0 { 1.0 } else { -1.0 }))
                .collect(),
            (OutputLayer::Fixed, _) => (0..outputs * width)
                .map(|_| T::from_f64(if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 }))
                .collect(),
            (OutputLayer::Trained, _) => {
                let s = 1.0 / (width as f64).sqrt();
                (0..outputs * width)
                    .map(|_| T::from_f64(s * rng.normal()))
                    .collect()
            }
        };
        Self {
            w: Matrix::from_vec(width, dim, w),
            v: Matrix::from_vec(outputs, width, v),
            output_layer,
        }
    }

    /// Hidden units n.
    pub fn width(&self) -> usize {
        self.w.rows()
    }
    /// Input dimension d.
    pub fn dim(&self) -> usize {
        self.w.cols()
    }
    /// Outputs c.
    pub fn outputs(&self) -> usize {
        self.v.rows()
    }

    /// Forward pass on the rows of `x`: `hidden` = relu(X W^T) (b x n), `out` = hidden V^T
    /// (b x c). Both buffers are resized as needed.
    pub fn forward(&self, x: MatrixView<'_, T>, hidden: &mut Matrix<T>, out: &mut Matrix<T>) {
        let b = x.rows();
        set_shape(hidden, b, self.width());
        gemm(
            hidden,
            false,
            x,
            Op::N,
            self.w.view(),
            Op::T,
            T::from_f64(1.0),
        );
        relu(hidden.as_mut_slice());
        set_shape(out, b, self.outputs());
        gemm(
            out,
            false,
            hidden.view(),
            Op::N,
            self.v.view(),
            Op::T,
            T::from_f64(1.0),
        );
    }

    /// Outputs for every row of `x` (allocates; for evaluation).
    pub fn predict(&self, x: MatrixView<'_, T>) -> Matrix<T> {
        let mut hidden = Matrix::zeros(0, 0);
        let mut out = Matrix::zeros(0, 0);
        self.forward(x, &mut hidden, &mut out);
        out
    }

    /// The same network in another precision.
    pub fn convert<U: Real>(&self) -> Network<U> {
        Network {
            w: self.w.map(|x| U::from_f64(x.to_f64())),
            v: self.v.map(|x| U::from_f64(x.to_f64())),
            output_layer: self.output_layer,
        }
    }
}

/// Reshapes `m` in place to `rows x cols`, reusing its allocation (contents unspecified).
pub(crate) fn set_shape<T: Copy + Default>(m: &mut Matrix<T>, rows: usize, cols: usize) {
    if m.rows() == rows && m.cols() == cols {
        return;
    }
    let mut data = std::mem::replace(m, Matrix::zeros(0, 0)).into_vec();
    data.resize(rows * cols, T::default());
    *m = Matrix::from_vec(rows, cols, data);
}

/// h = max(h, 0), vectorised.
pub(crate) fn relu<T: Real>(h: &mut [T]) {
    let zero = T::from_f64(0.0);
    crate::linalg::vectorized(|| {
        for v in h {
            *v = if *v > zero { *v } else { zero };
        }
    });
}

/// dh = dh where h > 0, else 0 (the ReLU's derivative), vectorised.
pub(crate) fn relu_mask<T: Real>(dh: &mut [T], h: &[T]) {
    let zero = T::from_f64(0.0);
    crate::linalg::vectorized(|| {
        for (d, h) in dh.iter_mut().zip(h) {
            *d = if *h > zero { *d } else { zero };
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    #[test]
    fn forward_matches_the_definition() {
        let mut rng = SeededRng::new(1, Stream::Init);
        let net: Network<f64> = Network::init(3, 4, 2, OutputLayer::Trained, 1.0, &mut rng);
        let x = Matrix::from_vec(2, 3, vec![0.3, -0.2, 0.9, -1.0, 0.5, 0.1]);
        let out = net.predict(x.view());
        for i in 0..2 {
            for j in 0..2 {
                let f: f64 = (0..4)
                    .map(|k| {
                        let pre: f64 = net.w.row(k).iter().zip(x.row(i)).map(|(a, b)| a * b).sum();
                        net.v.row(j)[k] * pre.max(0.0)
                    })
                    .sum();
                assert!((out.row(i)[j] - f).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn fixed_output_layer_has_half_plus_half_minus() {
        let mut rng = SeededRng::new(1, Stream::Init);
        let net: Network<f32> = Network::init(3, 6, 1, OutputLayer::Fixed, 1.0, &mut rng);
        assert_eq!(net.v.as_slice(), &[1.0, -1.0, 1.0, -1.0, 1.0, -1.0]);
    }
}
