//! Weights given from outside (Python's arrays, another program's file, a model file to be
//! measured): [`Weights`], a network W (n x d), V (c x n), and [`HiddenUnits`], a first
//! layer W alone, each built by one constructor that does every check, so that what is
//! computed from them is never a silent NaN or inf.

use std::ops::Deref;

use crate::error::{Error, Result};
use crate::linalg::Matrix;

use super::network::{Network, OutputLayer};

/// A network whose weights are checked: at least one unit, input and output; V with one
/// column per unit; every entry finite; sizes whose row norms, squares of V and output
/// bound stay within f64's range. Dereferences to the [`Network`].
#[derive(Clone, Debug, PartialEq)]
pub struct Weights(Network<f64>);

impl Weights {
    /// W (n x d) and V (c x n) as a network whose V is taken as it is
    /// ([`OutputLayer::Trained`]); `source` names them in errors.
    pub fn new(w: Matrix<f64>, v: Matrix<f64>, source: &str) -> Result<Self> {
        Self::of(
            Network {
                w,
                v,
                output_layer: OutputLayer::Trained,
            },
            source,
        )
    }

    /// `net`, checked; `source` names it in errors (a model file, `the weights W, V`).
    pub fn of(net: Network<f64>, source: &str) -> Result<Self> {
        let (w, v) = (&net.w, &net.v);
        if w.rows() == 0 || w.cols() == 0 || v.rows() == 0 {
            return Err(Error::data(
                source,
                format!(
                    "W is {}x{} and V {}x{}: a network needs at least one unit, input and output",
                    w.rows(),
                    w.cols(),
                    v.rows(),
                    v.cols()
                ),
            ));
        }
        if v.cols() != w.rows() {
            return Err(Error::data(
                source,
                format!(
                    "W is {}x{} (n x d), so V must have n = {} columns (c x n); it is {}x{}",
                    w.rows(),
                    w.cols(),
                    w.rows(),
                    v.rows(),
                    v.cols()
                ),
            ));
        }
        check_weights_finite(w, v, source)?;
        check_magnitudes(&net, source)?;
        Ok(Self(net))
    }

    /// The network.
    pub fn into_network(self) -> Network<f64> {
        self.0
    }
}

impl Deref for Weights {
    type Target = Network<f64>;
    fn deref(&self) -> &Network<f64> {
        &self.0
    }
}

/// A first layer W (n x d) alone, checked: at least one unit and one input, every entry
/// finite (the discrepancies and the regularisers depend on its rows' directions only, so
/// no size overflows them). Dereferences to W.
#[derive(Clone, Debug, PartialEq)]
pub struct HiddenUnits {
    w: Matrix<f64>,
    name: String,
}

impl HiddenUnits {
    /// W; `name` names it in errors.
    pub fn new(w: Matrix<f64>, name: &str) -> Result<Self> {
        if w.rows() == 0 || w.cols() == 0 {
            return Err(Error::data(
                name,
                format!(
                    "W is {}x{}: at least one unit (row) and one input (column) are needed",
                    w.rows(),
                    w.cols()
                ),
            ));
        }
        crate::data::check_finite(&w, "weight", name)?;
        Ok(Self {
            w,
            name: name.to_string(),
        })
    }

    /// What W is called in errors.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Deref for HiddenUnits {
    type Target = Matrix<f64>;
    fn deref(&self) -> &Matrix<f64> {
        &self.w
    }
}

/// Refuses a NaN or infinite entry of W or V, naming the matrix, its value and where it
/// is; `source` names the network in the error.
fn check_weights_finite(w: &Matrix<f64>, v: &Matrix<f64>, source: &str) -> Result<()> {
    for (name, m) in [("W", w), ("V", v)] {
        if let Some(i) = m.as_slice().iter().position(|x| !x.is_finite()) {
            return Err(Error::data(
                source,
                format!(
                    "{name} holds {} at row {}, column {}, which is not finite: weights must be \
                     finite",
                    m.as_slice()[i],
                    i / m.cols(),
                    i % m.cols()
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses weights so large that what is computed from them overflows f64: a row norm
/// ||w_k||^2 (the units' directions, the pre-activations), v^2 (D^T D and the output), or
/// an output bound sum_k |v_jk| ||w_k|| squared (the loss). `source` names the network.
fn check_magnitudes(net: &Network<f64>, source: &str) -> Result<()> {
    let largest = crate::geometry::largest_abs;
    let row_norms: Vec<f64> = (0..net.w.rows())
        .map(|k| net.w.row(k).iter().map(|v| v * v).sum::<f64>())
        .collect();
    if row_norms.iter().any(|s| !s.is_finite()) {
        return Err(Error::data(
            source,
            format!(
                "W overflows: its largest entry is {:.3e}, and ||w_k||^2 exceeds f64's range \
                 (about 1.8e308), so the units' directions and pre-activations cannot be \
                 computed; rescale W",
                largest(&net.w)
            ),
        ));
    }
    let v_sq: f64 = net.v.as_slice().iter().map(|v| v * v).sum();
    if !v_sq.is_finite() {
        return Err(Error::data(
            source,
            format!(
                "V overflows: its largest entry is {:.3e}, and v^2 (which enters D^T D and the \
                 loss) exceeds f64's range (about 1.8e308); rescale V",
                largest(&net.v)
            ),
        ));
    }
    let output_bound = (0..net.v.rows())
        .map(|j| {
            net.v
                .row(j)
                .iter()
                .zip(&row_norms)
                .map(|(v, s)| v.abs() * s.sqrt())
                .sum::<f64>()
        })
        .fold(0.0f64, f64::max);
    if !(output_bound * output_bound).is_finite() {
        return Err(Error::data(
            source,
            format!(
                "the outputs overflow: sum_k |v_k| ||w_k|| = {output_bound:.3e} per unit input, whose \
                 square (the loss) exceeds f64's range; rescale W or V"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(w_scale: f64, v_scale: f64) -> Network<f64> {
        Network {
            w: Matrix::from_vec(2, 2, vec![w_scale, 0.0, 0.0, w_scale]),
            v: Matrix::from_vec(1, 2, vec![v_scale, -v_scale]),
            output_layer: OutputLayer::Fixed,
        }
    }

    #[test]
    fn overflowing_weights_are_named() {
        let check = |net: Network<f64>| Weights::of(net, "net").map(|_| ());
        assert!(check(net(1.0, 1.0)).is_ok());
        assert!(check(net(1e150, 1.0)).is_ok());
        let e = check(net(1e160, 1.0)).unwrap_err().to_string();
        assert!(
            e.contains("net: W overflows") && e.contains("1.000e160"),
            "{e}"
        );
        let e = check(net(1.0, 1e160)).unwrap_err().to_string();
        assert!(e.contains("V overflows") && e.contains("1.000e160"), "{e}");
        let e = check(net(1e100, 1e100)).unwrap_err().to_string();
        assert!(e.contains("outputs overflow"), "{e}");
        let e = check(net(f64::NAN, 1.0)).unwrap_err().to_string();
        assert!(e.contains("not finite"), "{e}");
    }

    #[test]
    fn refuses_mismatched_empty_and_non_finite_weights() {
        let w = Matrix::from_vec(2, 1, vec![1.0, 2.0]);
        let e = Weights::new(w.clone(), Matrix::zeros(1, 3), "s")
            .unwrap_err()
            .to_string();
        assert!(e.contains("V must have n = 2 columns"), "{e}");
        let e = Weights::new(w, Matrix::from_vec(1, 2, vec![1.0, f64::NAN]), "s")
            .unwrap_err()
            .to_string();
        assert!(e.contains("V holds NaN at row 0, column 1"), "{e}");
        let e = Weights::new(Matrix::zeros(0, 3), Matrix::zeros(1, 0), "s").unwrap_err();
        assert!(
            matches!(&e, Error::Data { source_name, .. } if source_name == "s"),
            "{e:?}"
        );
        let e = HiddenUnits::new(Matrix::zeros(3, 0), "W")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("W: W is 3x0"), "{e}");
        let e = HiddenUnits::new(Matrix::from_vec(1, 2, vec![1.0, f64::INFINITY]), "W")
            .unwrap_err()
            .to_string();
        assert!(e.contains("weight value inf at sample 0, feature 1"), "{e}");
        assert!(HiddenUnits::new(Matrix::zeros(3, 2), "W").is_ok());
    }
}
