//! Points to measure the theory's quantities on: [`Points`], the rows of X, checked once by
//! their constructor (at least one point, every value finite, sizes whose Gram entries
//! stay within f64's range).

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::linalg::Matrix;

use super::{check_finite, InputScaling, InputTransform};

/// The rows x_i of X (m x d), checked: m >= 1, every value finite, and m max ||x_i||^2
/// (which bounds X X^T, the kernel matrix K and D^T D) within f64's range. Borrows or owns
/// X; dereferences to it.
#[derive(Clone, Debug)]
pub struct Points<'a> {
    x: Cow<'a, Matrix<f64>>,
    name: String,
}

impl<'a> Points<'a> {
    /// The rows of `x` as given; `name` names them in errors (`X`, a data set).
    pub fn new(x: Matrix<f64>, name: impl Into<String>) -> Result<Points<'static>> {
        Points::checked(Cow::Owned(x), name.into())
    }

    /// The rows of `x`, borrowed (a data set's inputs), as [`Points::new`] takes them.
    pub fn borrowed(x: &'a Matrix<f64>, name: impl Into<String>) -> Result<Self> {
        Self::checked(Cow::Borrowed(x), name.into())
    }

    fn checked(x: Cow<'a, Matrix<f64>>, name: String) -> Result<Self> {
        check_rows_and_values(&x, &name)?;
        check_input_magnitude(&x, &name)?;
        Ok(Self { x, name })
    }

    /// The rows of `x` scaled as `scaling` says, with statistics of `x` itself (its mean and
    /// standard deviation for `standardise`); the magnitude is checked after scaling.
    pub fn scaled(
        mut x: Matrix<f64>,
        scaling: InputScaling,
        name: impl Into<String>,
    ) -> Result<Points<'static>> {
        let name = name.into();
        check_rows_and_values(&x, &name)?;
        InputTransform::fit_checked(scaling, &x, &name, None)?.apply(&mut x);
        check_input_magnitude(&x, &name)?;
        Ok(Points {
            x: Cow::Owned(x),
            name,
        })
    }

    /// What the points are called in errors.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::ops::Deref for Points<'_> {
    type Target = Matrix<f64>;
    fn deref(&self) -> &Matrix<f64> {
        &self.x
    }
}

/// At least one point, every value finite: the theory of no points is undefined.
fn check_rows_and_values(x: &Matrix<f64>, name: &str) -> Result<()> {
    if x.rows() == 0 {
        return Err(Error::data(
            name,
            format!(
                "no points (shape ({}, {})): at least one point (row) is needed",
                x.rows(),
                x.cols()
            ),
        ));
    }
    check_finite(x, "input", name)
}

/// Refuses inputs so large that what is computed from them overflows f64: the Gram
/// entries <x_i, x_j> (up to ||x_i||^2) summed over the m rows, which bound the norms of
/// X X^T, of the kernel matrix K and of D^T D. Without this, s_m(D) and K come out NaN
/// and lambda_min(K) 0, silently. `name` names the input (`X`).
fn check_input_magnitude(x: &Matrix<f64>, name: &str) -> Result<()> {
    let largest_sq = crate::geometry::largest_row_norm_sq(x);
    if !(largest_sq * x.rows() as f64).is_finite() {
        let largest = crate::geometry::largest_abs(x);
        return Err(Error::data(
            name,
            format!(
                "the values overflow: the largest is {largest:.3e}, and m max ||x_i||^2 \
                 (m = {} rows; it bounds X X^T, K and D^T D) exceeds f64's range (about \
                 1.8e308); rescale {name}",
                x.rows()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_inputs_are_named() {
        // 10 rows of (s, 0, 0): m max ||x||^2 = 10 s^2 is finite for s = 1e150 (1e301),
        // not for s = 1e160 (1e321) or 4.3e153 (1.85e308 > f64::MAX).
        let rows = |s: f64| {
            Matrix::from_vec(
                10,
                3,
                (0..30).map(|k| if k % 3 == 0 { s } else { 0.0 }).collect(),
            )
        };
        assert!(Points::new(rows(1e150), "X").is_ok());
        assert!(Points::new(rows(4.2e153), "X").is_ok());
        for s in [1e160, 4.3e153, -1e200] {
            let e = Points::new(rows(s), "X").unwrap_err().to_string();
            assert!(
                e.starts_with("X: the values overflow") && e.contains("rescale X"),
                "{e}"
            );
        }
    }

    #[test]
    fn empty_and_non_finite_points_are_refused_naming_them() {
        let e = Points::new(Matrix::zeros(0, 3), "X")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("X: no points (shape (0, 3))"), "{e}");
        let x = Matrix::from_vec(2, 2, vec![1.0, 0.0, f64::NAN, 1.0]);
        let e = Points::borrowed(&x, "X").unwrap_err().to_string();
        assert!(
            e.starts_with("X: input value NaN at sample 1, feature 0"),
            "{e}"
        );
        // Scaling comes before the magnitude check: rows of 1e200 fit on the sphere.
        let big = Matrix::from_vec(10, 2, vec![1e200; 20]);
        assert!(Points::borrowed(&big, "X").is_err());
        let on_sphere = Points::scaled(big, InputScaling::Sphere, "X").unwrap();
        assert!((on_sphere.row(0)[0] - 0.5f64.sqrt()).abs() < 1e-15);
    }
}
